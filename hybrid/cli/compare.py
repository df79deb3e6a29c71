"""``hybrid compare``: runs side by side in one self-contained HTML report."""

from __future__ import annotations

import argparse

from hybrid.cli._common import add_overwrite, done
from hybrid.web import DEFAULT_MEASURES


def register(groups) -> None:
    parser = groups.top.add_parser(
        "compare",
        help="compare runs in one HTML report (per-query differences, rankings side by side)",
        description="Write one self-contained HTML file (opens offline) comparing RUN_A with the other runs: "
        "hybrid eval's summary table with paired p-values against RUN_A, a sorted per-query difference "
        "chart with wins/ties/losses, and per query the top --k of each run side by side with relevance "
        "grades and passages (query terms highlighted), filters and keyboard navigation.",
        epilog="example: hybrid compare --qrels scifact-test --topics scifact-test --corpus scifact "
        "runs/bm25.trec runs/hybrid.trec --output report.html",
    )
    parser.add_argument("runs", metavar="RUN", nargs="+", help="two or more runs; the first is the baseline")
    parser.add_argument("--qrels", required=True, help="qrels file or bundled name")
    parser.add_argument("--topics", required=True, help="topics file or bundled name (query texts)")
    parser.add_argument(
        "--corpus", help="corpus for the passages (streamed; only the shown documents are kept)"
    )
    parser.add_argument("--output", required=True, help="HTML file to write")
    parser.add_argument(
        "-m",
        dest="measures",
        action="append",
        metavar="MEASURE",
        help=f"measure as in hybrid eval, repeatable (default {' '.join(DEFAULT_MEASURES)})",
    )
    parser.add_argument("--k", type=int, default=10, help="documents shown per run and query (default 10)")
    parser.add_argument(
        "-c", dest="complete", action="store_true", help="all judged queries (missing count 0)"
    )
    parser.add_argument("-l", dest="level", type=int, default=1, help="minimum relevant grade (default 1)")
    add_overwrite(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from hybrid.web.report import write_report

    if len(args.runs) < 2:
        raise ValueError("give at least two runs (the first is the baseline)")
    if args.k < 1:
        raise ValueError(f"--k must be a positive integer, not {args.k}")
    path = write_report(
        args.output,
        args.qrels,
        args.topics,
        args.runs,
        args.corpus,
        overwrite=args.overwrite,
        measures=args.measures or DEFAULT_MEASURES,
        k=args.k,
        relevance_level=args.level,
        complete=args.complete,
    )
    done(f"wrote {path}")
    return 0
