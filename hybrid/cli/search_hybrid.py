"""``hybrid search hybrid``: BM25 and dense search in one command, fused; or one query as a table."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path

from hybrid.cli._common import (
    add_overwrite,
    add_ray,
    add_threads,
    done,
    finite_float,
    non_negative_float,
    positive_int,
    ray_options,
)
from hybrid.cli.fusion import NORMALIZATIONS, add_fusion_options


def register(groups) -> None:
    parser = groups.search.add_parser(
        "hybrid",
        help="search a BM25 and a dense index and fuse the runs",
        description="Search --sparse-index (BM25) and --dense-index with --topics, fuse per query "
        "(score = dense + alpha * sparse over the union of both top --depth lists, a missed document "
        "taking that side's minimum), and write the fused run to --output plus the two single runs "
        "beside it (runs/x.trec -> runs/x.sparse.trec, runs/x.dense.trec) for `hybrid tune`. "
        'With --query "..." print the top hits of one query as a table instead.',
    )
    parser.add_argument("--sparse-index", required=True, help="Lucene index folder (hybrid index sparse)")
    parser.add_argument("--dense-index", required=True, help="dense index folder (hybrid index dense)")
    parser.add_argument(
        "--encoder", required=True, help="query encoder: minilm, a hub name or a local folder"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--topics", help="topics file or bundled name (e.g. scifact-test)")
    source.add_argument("--query", help="one query: print a table of its top --k hits with snippets")
    parser.add_argument("--k", type=positive_int, default=10, help="hits shown for --query (default 10)")
    parser.add_argument("--alpha", type=finite_float, default=0.1, help="fusion weight (default 0.1)")
    add_fusion_options(parser, alpha=False)
    parser.add_argument("--normalization", choices=NORMALIZATIONS, default="none",
                        help="per-query score normalisation before combining (default none)")  # fmt: skip
    parser.add_argument(
        "--hits", type=positive_int, default=1000, help="hits per query in the fused run (default 1000)"
    )
    parser.add_argument("--k1", type=non_negative_float, default=0.9, help="BM25 k1 (default 0.9)")
    parser.add_argument("--b", type=non_negative_float, default=0.4, help="BM25 b (default 0.4)")
    add_threads(parser)
    parser.add_argument("--output", help="fused run to write (with --topics)")
    parser.add_argument("--output-format", choices=("trec", "msmarco"), default="trec",
                        help="format of the fused run; the single runs are always TREC")  # fmt: skip
    parser.add_argument("--run-tag", default="hybrid", help="tag of the fused run (default hybrid)")
    add_ray(parser, "split the BM25 topics across --workers searchers and search dense shards in actors")
    add_overwrite(parser)
    parser.set_defaults(handler=run)


def side_paths(output: str | Path) -> tuple[Path, Path]:
    """``runs/x.trec`` -> ``runs/x.sparse.trec``, ``runs/x.dense.trec``."""
    output = Path(output)
    suffix = output.suffix or ".trec"
    stem = output.with_suffix("") if output.suffix else output
    return stem.parent / f"{stem.name}.sparse{suffix}", stem.parent / f"{stem.name}.dense{suffix}"


def fusion_options(args: argparse.Namespace) -> dict:
    return {
        "alpha": args.alpha,
        "weight_on_dense": args.weight_on_dense,
        "normalization": args.normalization,
        "depth": args.depth,
        "missing": args.missing,
        "convex": args.convex,
    }


def run(args) -> int:
    if args.query is not None:
        if args.output:
            raise ValueError("--query prints its hits as a table; --output is for --topics")
        return show_query(args)
    if not args.output:
        raise ValueError("--topics needs --output RUN")
    from hybrid.io import check_writable
    from hybrid.searcher import search

    sparse_path, dense_path = side_paths(args.output)
    for path in (args.output, sparse_path, dense_path):
        check_writable(path, args.overwrite)
    runs = search(
        args.sparse_index,
        args.dense_index,
        args.encoder,
        args.topics,
        hits=args.hits,
        threads=args.threads,
        k1=args.k1,
        b=args.b,
        tag=args.run_tag,
        ray=ray_options(args),
        **fusion_options(args),
    )
    runs.sparse.write(sparse_path, tag="bm25", overwrite=args.overwrite)
    runs.dense.write(dense_path, tag="dense", overwrite=args.overwrite)
    runs.fused.write(args.output, format=args.output_format, overwrite=args.overwrite)
    done(f"wrote {args.output} ({runs.fused.num_queries} queries), {sparse_path} and {dense_path}")
    return 0


def show_query(args) -> int:
    from hybrid.searcher import HybridSearcher

    searcher = HybridSearcher(args.sparse_index, args.dense_index, args.encoder, k1=args.k1, b=args.b)
    hits = searcher.search(args.query, k=args.k, **fusion_options(args))
    print(format_hits(hits, searcher.doc))
    return 0


def format_hits(hits, doc_text, width: int | None = None) -> str:
    """A readable table: rank, docid, fused / sparse / dense scores ('-' where a side missed) and a snippet."""
    width = width or shutil.get_terminal_size((110, 20)).columns
    header = f"{'rank':>4}  {'docid':<12} {'fused':>9} {'sparse':>9} {'dense':>9}  text"
    lines = [header, "-" * min(len(header) + 40, width)]
    room = max(width - len(header) + 4, 30)
    for hit in hits:
        text = " ".join((doc_text(hit.docid) or "").split())
        snippet = textwrap.shorten(text, room, placeholder=" ...") if text else "(no stored text)"
        sides = [f"{v:9.4f}" if v is not None else f"{'-':>9}" for v in (hit.sparse, hit.dense)]
        lines.append(f"{hit.rank:>4}  {hit.docid:<12} {hit.score:9.4f} {sides[0]} {sides[1]}  {snippet}")
    if not hits:
        lines.append("(no hits)")
    return "\n".join(lines)
