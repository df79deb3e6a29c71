"""``hybrid fuse`` (interpolation, RRF or CombSUM-style fusion of run files) and ``hybrid tune`` (the fusion weight)."""

from __future__ import annotations

import argparse

from hybrid.cli._common import (
    add_overwrite,
    add_run_output,
    done,
    finite_float,
    non_negative_float,
    non_negative_int,
    positive_int,
)

NORMALIZATIONS = ("none", "minmax", "pyserini", "zscore")
# interpolation fuses --dense and --sparse; the others fuse --runs (hybrid.fusion.RUN_LIST_METHODS).
METHODS = ("interpolation", "rrf", "combsum", "combmnz", "combmax", "average")


def add_fusion_options(parser: argparse.ArgumentParser, alpha: bool = True) -> None:
    """The interpolation options shared by ``fuse``, ``tune`` and ``search hybrid``."""
    if alpha:
        parser.add_argument("--alpha", type=finite_float, default=0.1, help="fusion weight (default 0.1)")
    parser.add_argument(
        "--weight-on-dense",
        action="store_true",
        help="score = sparse + alpha * dense (default dense + alpha * sparse)",
    )
    parser.add_argument(
        "--depth", type=positive_int, default=1000, help="hits taken from each run per query (default 1000)"
    )
    parser.add_argument(
        "--missing",
        choices=("min", "zero"),
        default="min",
        help="a document one run missed takes that run's lowest score for the query (min, the paper's "
        "and Pyserini HybridSearcher's rule) or contributes 0 (zero, pyserini.fusion's rule)",
    )
    parser.add_argument(
        "--convex",
        action="store_true",
        help="(1 - alpha) * other + alpha * weighted; with --missing zero --weight-on-dense this is "
        "`python -m pyserini.fusion --method interpolation --runs DENSE SPARSE`",
    )


def alpha_grid(spec: str):
    """argparse type of ``tune --alphas``: the grid, or the library's message on a bad or oversized one."""
    from hybrid.tuning import parse_alphas

    try:
        return parse_alphas(spec)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(groups) -> None:
    fuse = groups.top.add_parser(
        "fuse",
        help="fuse a dense and a sparse run (or several runs with RRF, CombSUM, ...)",
        description="Fuse runs per query over the union of their top --depth hits. Default: the "
        "TCT-ColBERT paper's and Pyserini HybridSearcher's interpolation, score = dense + alpha * sparse, "
        "a document missing from one run taking that run's minimum score. Ties break by doc id "
        "descending, as trec_eval does.",
    )
    fuse.add_argument("--method", choices=METHODS, default="interpolation",
                      help="interpolation of --dense and --sparse; rrf, combsum, combmnz, combmax (ranx's "
                      "definitions) or average (pyserini.fusion's) of --runs (default interpolation)")  # fmt: skip
    fuse.add_argument("--dense", help="dense run (TREC format)")
    fuse.add_argument("--sparse", help="sparse run (TREC format)")
    fuse.add_argument("--runs", nargs="+", help="runs to fuse with every method but interpolation")
    add_fusion_options(fuse)
    fuse.add_argument(
        "--normalization",
        choices=NORMALIZATIONS,
        help="per-query score normalisation before combining: minmax (s - min) / (max - min), pyserini "
        "(s - (min + max) / 2) / (max - min), zscore (s - mean) / std (default minmax for combsum, combmnz "
        "and combmax, none otherwise)",
    )
    fuse.add_argument(
        "--rrf-k", type=non_negative_float, default=60, help="RRF constant k in 1 / (k + rank) (default 60)"
    )
    fuse.add_argument("--hits", type=positive_int, default=1000, help="hits kept per query (default 1000)")
    add_run_output(fuse, tag="hybrid")
    fuse.set_defaults(handler=run_fuse)

    tune = groups.top.add_parser(
        "tune",
        help="tune the fusion weight alpha on judged queries",
        description="Score a grid of alpha values (and normalisations) for fusing --dense and --sparse, "
        "trec_eval-exactly, without writing a run per point; print the best alpha beside the two "
        "single runs. Default grid: 0 plus 100 log-spaced points from 1/100 to 100 times the ratio "
        "of the two runs' score spreads, since the balanced alpha depends on the score scales "
        "(about 0.02 for a cosine encoder against BM25, about 1 after normalisation); 0:1:0.01 with --convex.",
    )
    tune.add_argument("--qrels", required=True, help="qrels file or bundled name (e.g. scifact-train)")
    tune.add_argument("--dense", required=True, help="dense run")
    tune.add_argument("--sparse", required=True, help="sparse run")
    tune.add_argument(
        "--metric", default="ndcg_cut.10", help="trec_eval measure or alias (default ndcg_cut.10)"
    )
    tune.add_argument(
        "--alphas",
        type=alpha_grid,
        help="START:STOP:STEP (inclusive) or a comma list, at most 1,001 points (default see above)",
    )
    tune.add_argument("--normalization", nargs="+", choices=NORMALIZATIONS, default=["none"],
                      help="normalisation(s) to try; the best combination wins (default none)")  # fmt: skip
    add_fusion_options(tune, alpha=False)
    tune.add_argument(
        "--hits", type=positive_int, default=1000, help="hits per query of the fused run (default 1000)"
    )
    tune.add_argument("--folds", type=int, help="K-fold cross-validation over queries")
    tune.add_argument("--seed", type=int, default=0, help="seed of the fold split (default 0)")
    tune.add_argument(
        "-l", "--relevance-level", type=non_negative_int, default=1, help="lowest relevant grade (default 1)"
    )
    tune.add_argument("--output", help="write the sweep, best point and folds as JSON")
    tune.add_argument("--plot", help="write a PNG of the metric against alpha")
    add_overwrite(tune)
    tune.set_defaults(handler=run_tune)


def run_fuse(args) -> int:
    from hybrid.fusion import RUN_LIST_METHODS, fuse
    from hybrid.io import check_writable

    if args.method != "interpolation":
        if not args.runs or args.dense or args.sparse:
            raise ValueError(f"--method {args.method} takes --runs RUN [RUN ...] (not --dense/--sparse)")
        check_writable(args.output, args.overwrite)
        if args.method == "rrf" and args.normalization is not None:
            raise ValueError("--normalization does not apply to rrf, which fuses ranks")
        options = {"k": args.rrf_k} if args.method == "rrf" else {"normalization": args.normalization}
        options = {name: value for name, value in options.items() if value is not None}
        tag = args.method if args.run_tag == "hybrid" else args.run_tag
        fused = RUN_LIST_METHODS[args.method](args.runs, depth=args.depth, hits=args.hits, tag=tag, **options)
    else:
        if not (args.dense and args.sparse) or args.runs:
            raise ValueError(
                "interpolation takes --dense RUN and --sparse RUN (--runs is for the other methods)"
            )
        check_writable(args.output, args.overwrite)
        fused = fuse(
            args.dense,
            args.sparse,
            alpha=args.alpha,
            weight_on_dense=args.weight_on_dense,
            normalization=args.normalization or "none",
            depth=args.depth,
            hits=args.hits,
            missing=args.missing,
            convex=args.convex,
            tag=args.run_tag,
        )
    path = fused.write(args.output, format=args.output_format, overwrite=args.overwrite)
    done(f"wrote {path} ({fused.num_queries} queries, {len(fused)} hits)")
    return 0


def run_tune(args) -> int:
    from hybrid.io import check_writable
    from hybrid.tuning import tune

    for path in (args.output, args.plot):
        if path:
            check_writable(path, args.overwrite)
    result = tune(
        args.qrels,
        args.dense,
        args.sparse,
        metric=args.metric,
        alphas=args.alphas,
        normalizations=args.normalization,
        folds=args.folds,
        weight_on_dense=args.weight_on_dense,
        depth=args.depth,
        hits=args.hits,
        missing=args.missing,
        convex=args.convex,
        relevance_level=args.relevance_level,
        seed=args.seed,
    )
    print(result.summary(), flush=True)
    if args.output:
        done(f"wrote {result.write_json(args.output, overwrite=args.overwrite)}")
    if args.plot:
        done(f"wrote {result.plot(args.plot, overwrite=args.overwrite)}")
    return 0
