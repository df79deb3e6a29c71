"""The compiled pieces: the run file reader/writer and fusion's inner loops (the rest is in setup.cfg)."""

from setuptools import Extension, setup

FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
SHARED = ["hybrid/_keyset.h"]

setup(
    ext_modules=[
        Extension(
            "hybrid.formats._runio", ["hybrid/formats/_runio.c"], depends=SHARED, extra_compile_args=FLAGS
        ),
        Extension(
            "hybrid._fusion_kernels", ["hybrid/_fusion_kernels.c"], depends=SHARED, extra_compile_args=FLAGS
        ),
    ]
)
