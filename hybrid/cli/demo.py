"""``hybrid demo``: BM25 + MiniLM on bundled SciFact, alpha tuned on train, one table on test."""

from __future__ import annotations

from hybrid.cli._common import add_threads, positive_int


def register(groups) -> None:
    parser = groups.top.add_parser(
        "demo",
        help="end-to-end demo: BM25 + dense on SciFact, tune alpha on train, evaluate on test",
        description="Build (or reuse) a BM25 and a dense index of a bundled collection, search its tuning "
        "and test queries, tune the fusion weight on the first, fuse the second with it and print "
        "BM25, dense and hybrid x nDCG@10, R@100, R@1000 beside published values. Indexes go to "
        "--cache, runs, the alpha plot and the tuning JSON to --runs; indexes and single runs are "
        "reused on later runs.",
    )
    parser.add_argument("--collection", choices=("scifact", "nfcorpus"), default="scifact",
                        help="scifact (tune on train, test on test) or nfcorpus (tune on dev) (default scifact)")  # fmt: skip
    parser.add_argument("--cache", default="indexes", help="folder for the indexes (default indexes/)")
    parser.add_argument(
        "--runs", default="runs", help="folder for runs, plot and tuning JSON (default runs/)"
    )
    parser.add_argument(
        "--encoder", default="minilm", help="dense encoder (default minilm: all-MiniLM-L6-v2)"
    )
    parser.add_argument(
        "--expansion-model", help="doc2query model (name or folder) to expand documents first"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=32, help="encoding batch size (default 32)"
    )
    add_threads(parser, default=2)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from hybrid.demo import report, run_demo

    comparison = run_demo(
        args.collection,
        cache=args.cache,
        runs=args.runs,
        encoder=args.encoder,
        expansion_model=args.expansion_model,
        threads=args.threads,
        batch_size=args.batch_size,
    )
    sparse_name = "BM25 + doc2query" if args.expansion_model else "BM25 (flat)"
    dense_name = "MiniLM (all-MiniLM-L6-v2)" if args.encoder == "minilm" else args.encoder
    print()
    print(report(comparison, args.collection, sparse_name=sparse_name, dense_name=dense_name))
    return 0
