"""``hybrid convert``: TREC <-> MS MARCO run formats."""

from __future__ import annotations

from hybrid.cli._common import add_overwrite, done


def register(groups) -> None:
    parser = groups.top.add_parser(
        "convert",
        help="convert a run between TREC and MS MARCO formats",
        description="Convert a run between TREC and MS MARCO formats. MS MARCO runs carry no score; "
        "converted to TREC each hit gets score 1/rank (as Pyserini does), which ranks correctly "
        "but cannot be fused by score.",
    )
    parser.add_argument("--input", required=True, help="run to read (format detected from its first line)")
    parser.add_argument("--output", required=True, help="run to write")
    parser.add_argument(
        "--to", choices=("trec", "msmarco"), default="trec", help="output format (default trec)"
    )
    parser.add_argument("--run-tag", default=None, help="tag for TREC output (default the input's tag)")
    add_overwrite(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from hybrid.formats.runs import convert_run

    path = convert_run(args.input, args.output, to=args.to, tag=args.run_tag, overwrite=args.overwrite)
    done(f"wrote {path}")
    return 0
