"""The ``hybrid`` command line: one sub-command per verb, each thin over a library function.

Command modules register their parsers here; they import heavy libraries (torch, faiss, the JVM)
only inside their handlers, so ``hybrid eval`` and ``hybrid --help`` stay light.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from hybrid.errors import InputError

# Each module has ``register(groups: Groups) -> None``.
COMMAND_MODULES = ("evaluate", "convert", "sparse", "dense", "fusion", "search_hybrid", "distill", "demo")


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
        description="Hybrid sparse-dense retrieval: BM25 (Lucene) + TCT-ColBERT (FAISS), fusion, tuning, evaluation.",
    )
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except (InputError, FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"hybrid {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hybrid {args.command}: interrupted", file=sys.stderr)
        return 130
