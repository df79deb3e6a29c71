"""Arguments shared by several commands, spelled as Pyserini spells them."""

from __future__ import annotations

import argparse


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def add_threads(parser: argparse.ArgumentParser, default: int = 1) -> None:
    parser.add_argument("--threads", type=int, default=default, help=f"worker threads (default {default})")


def add_run_output(parser: argparse.ArgumentParser, tag: str) -> None:
    """--output, --output-format, --run-tag and --overwrite for commands that write a run."""
    parser.add_argument("--output", required=True, help="run file to write (TREC format by default)")
    parser.add_argument(
        "--output-format",
        choices=("trec", "msmarco"),
        default="trec",
        help="trec: qid Q0 docid rank score tag; msmarco: qid<TAB>docid<TAB>rank (no score: cannot be fused)",
    )
    parser.add_argument("--run-tag", default=tag, help=f"run tag written in column 6 (default {tag})")
    add_overwrite(parser)


def done(message: str) -> None:
    """Report where a command wrote its output."""
    print(message, flush=True)
