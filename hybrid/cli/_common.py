"""Arguments shared by several commands, spelled as Pyserini spells them."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1, refused before any work starts."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer of at least 0."""
    return _int_at_least(text, 0, "an integer >= 0")


def finite_float(text: str) -> float:
    """argparse type: a finite number (not nan or inf)."""
    value = _number(text, float, "a finite number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number of at least 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text!r}")
    return value


def _int_at_least(text: str, lowest: int, what: str) -> int:
    value = _number(text, int, what)
    if value < lowest:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
    return value


def _number(text: str, kind: type, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def add_threads(parser: argparse.ArgumentParser, default: int = 1) -> None:
    parser.add_argument(
        "--threads", type=positive_int, default=default, help=f"worker threads (default {default})"
    )


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


def add_ray(parser: argparse.ArgumentParser, what: str) -> None:
    """--ray [ADDRESS], --workers and --gpus-per-worker: run ``what`` on Ray instead of in this process."""
    group = parser.add_argument_group("ray (optional: pip install 'hybrid[ray]')")
    group.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help=f"{what} on Ray: no value starts or joins a Ray on this machine; 'auto' or ray://HOST:PORT joins "
        "a running cluster (default no Ray, one process)",
    )
    group.add_argument("--workers", type=int, help="Ray workers (actors) to run (default 2)")
    group.add_argument(
        "--gpus-per-worker",
        type=float,
        help="GPUs each Ray worker reserves; fractions share a GPU (default 0: CPU)",
    )


def ray_options(args: argparse.Namespace):
    """The :class:`hybrid.cluster.RayOptions` of ``--ray``, or None when the command runs without Ray."""
    if args.ray is None:
        if args.workers is not None or args.gpus_per_worker is not None:
            raise ValueError("--workers and --gpus-per-worker need --ray")
        return None
    from hybrid.cluster import RayOptions

    workers = 2 if args.workers is None else args.workers
    return RayOptions(args.ray, workers, args.gpus_per_worker or 0.0)
