"""The compiled pieces (the run file reader/writer and fusion's inner loops) and the bundled
collections (the rest is in setup.cfg)."""

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

OPTIONS = {
    "depends": ["hybrid/_keyset.h"],
    "extra_compile_args": ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
    "extra_link_args": ["-pthread"],
}
# Top-level folders of the repository that installed packages carry as hybrid/_bundled/<folder>.
BUNDLED = ("data", "qrels")


class BuildWithBundledData(build_py):
    """Copies data/ and qrels/ into the built package, so a wheel resolves every bundled name (an
    editable install reads them from the checkout)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder in BUNDLED:
            target = Path(self.build_lib) / "hybrid" / "_bundled" / folder
            shutil.copytree(folder, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))


setup(
    cmdclass={"build_py": BuildWithBundledData},
    ext_modules=[
        Extension("hybrid.formats._runio", ["hybrid/formats/_runio.c"], **OPTIONS),
        Extension("hybrid._fusion_kernels", ["hybrid/_fusion_kernels.c"], **OPTIONS),
    ],
)
