"""The ``hybrid`` command line: one sub-command per verb, each thin over a library function.

Command modules register their parsers here; they import heavy libraries (torch, faiss, the JVM)
only inside their handlers, so ``hybrid eval`` and ``hybrid --help`` stay light.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from dataclasses import dataclass

from hybrid import __version__
from hybrid.errors import USER_ERRORS

# Each module has ``register(groups: Groups) -> None``.
COMMAND_MODULES = (
    "evaluate",
    "convert",
    "sparse",
    "dense",
    "fusion",
    "search_hybrid",
    "distill",
    "demo",
    "compare",
    "serve",
)


@dataclass
class Groups:
    """Where command modules add their parsers: top-level verbs and the ``index``/``search``/``train`` families."""

    top: argparse._SubParsersAction
    index: argparse._SubParsersAction
    search: argparse._SubParsersAction
    train: argparse._SubParsersAction


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybrid",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Hybrid sparse-dense retrieval: BM25 (Lucene) + TCT-ColBERT (FAISS), fusion, tuning, evaluation.",
        epilog="examples:\n"
        "  hybrid demo                      # the whole pipeline on the bundled SciFact, one results table\n"
        "  hybrid fuse --dense dense.trec --sparse bm25.trec --alpha 0.1 --output hybrid.trec\n"
        "  hybrid eval -m nDCG@10 -m R@1000 scifact-test bm25.trec hybrid.trec\n"
        "\n"
        "`hybrid COMMAND --help` lists a command's flags; README.md walks through every step.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    families = {}
    for name, help_text in (
        ("index", "build a sparse (Lucene) or dense (FAISS) index"),
        ("search", "search an index with a topic set and write a run"),
        ("train", "train a ColBERT teacher or distil a TCT student"),
    ):
        family = top.add_parser(name, help=help_text, description=help_text)
        families[name] = family.add_subparsers(dest="kind", required=True, metavar="KIND")
    groups = Groups(top=top, **families)
    for module in COMMAND_MODULES:
        importlib.import_module(f"hybrid.cli.{module}").register(groups)
    return parser


def _tune_memory() -> None:
    """Memory settings for the command-line process, which churns through large arrays.

    - numpy asks for transparent huge pages on big arrays; under the common ``defrag=madvise``
      kernel setting each such fault may compact memory synchronously, which cost more system time
      than parsing a 7M-line run. numpy's own switch (``NUMPY_MADVISE_HUGEPAGE``) is read only at
      import, before this runs, so it is applied here unless the user has set it.
    - glibc hands large freed blocks back to the kernel and maps new ones afresh, so every block
      is page-faulted in again; keeping freed memory for reuse (and two arenas for the worker
      threads) halved the system time of ``hybrid fuse`` on MS MARCO-sized runs without raising
      its peak memory. Skipped when the user sets ``MALLOC_*`` variables or the C library is not glibc.
    """
    if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
        try:
            from numpy._core import multiarray
        except ImportError:  # NumPy 1.x (setup.cfg allows 1.24)
            from numpy.core import multiarray

        multiarray._set_madvise_hugepage(False)
    if any(name.startswith("MALLOC_") for name in os.environ) or platform.libc_ver()[0] != "glibc":
        return
    import ctypes

    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, (1 << 31) - 1)
    libc.mallopt(m_arena_max, 2)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader left early (`hybrid eval ... | head`): stop quietly, as Unix tools do, with the
        # shell's code for SIGPIPE; stdout goes to /dev/null so the exit-time flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _tune_memory()
    try:
        code = args.handler(args) or 0
        sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
        return code
    except USER_ERRORS as err:
        print(f"hybrid {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hybrid {args.command}: interrupted", file=sys.stderr)
        return 130
