"""The compiled pieces: the run file reader/writer and fusion's inner loops (the rest is in setup.cfg)."""

from setuptools import Extension, setup

OPTIONS = {
    "depends": ["hybrid/_keyset.h"],
    "extra_compile_args": ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
    "extra_link_args": ["-pthread"],
}

setup(
    ext_modules=[
        Extension("hybrid.formats._runio", ["hybrid/formats/_runio.c"], **OPTIONS),
        Extension("hybrid._fusion_kernels", ["hybrid/_fusion_kernels.c"], **OPTIONS),
    ]
)
