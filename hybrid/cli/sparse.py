"""``hybrid expand``, ``hybrid index sparse`` and ``hybrid search sparse``: doc2query expansion and BM25."""

from __future__ import annotations

from hybrid.cli._common import (
    add_overwrite,
    add_ray,
    add_run_output,
    add_threads,
    done,
    non_negative_float,
    positive_int,
    ray_options,
)


def register(groups) -> None:
    _register_expand(groups.top)
    _register_index(groups.index)
    _register_search(groups.search)


def _register_expand(top) -> None:
    parser = top.add_parser(
        "expand",
        help="expand documents with predicted queries (doc2query-T5)",
        description="Predict queries for every document with a seq2seq model (doc2query-T5: top-k sampling), "
        "or convert castorini's published predictions (--predictions). Writes JSON lines "
        '{"id": ..., "predicted_queries": [...]}. Generation resumes where an earlier run stopped.',
    )
    parser.add_argument(
        "--corpus", required=True, help="corpus file or folder, or a bundled name (scifact, nfcorpus)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model name or folder, e.g. castorini/doc2query-t5-base-msmarco")
    source.add_argument(
        "--predictions",
        nargs="+",
        help="castorini's prediction files: one line per document in corpus order (one file per sample, "
        "or all samples of a document pasted on one line)",
    )
    parser.add_argument("--output", required=True, help="expansions JSONL to write (resumed if it exists)")
    parser.add_argument(
        "--num-samples", type=positive_int, default=40, help="queries sampled per document (default 40)"
    )
    parser.add_argument("--top-k", type=positive_int, default=10, help="top-k sampling cut-off (default 10)")
    parser.add_argument(
        "--batch-size", type=positive_int, default=8, help="documents per generation batch (default 8)"
    )
    parser.add_argument(
        "--max-input-tokens", type=positive_int, default=512, help="document truncation (default 512)"
    )
    parser.add_argument(
        "--max-query-tokens", type=positive_int, default=64, help="longest predicted query (default 64)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--overwrite", action="store_true", help="start afresh instead of resuming an existing output"
    )
    parser.set_defaults(handler=run_expand)


def _register_index(index) -> None:
    parser = index.add_parser(
        "sparse",
        help="build a Lucene BM25 index (Anserini IndexCollection)",
        description='Index a corpus with Lucene: contents = title + " " + text (Anserini\'s BEIR flat '
        "convention) plus the predicted queries when --expansions is given; raw documents are stored.",
    )
    parser.add_argument(
        "--corpus", required=True, help="corpus file or folder, or a bundled name (scifact, nfcorpus)"
    )
    parser.add_argument("--expansions", help="expansions JSONL from `hybrid expand`")
    parser.add_argument("--index", required=True, help="index folder to create")
    add_threads(parser)
    add_overwrite(parser)
    parser.set_defaults(handler=run_index)


def _register_search(search) -> None:
    parser = search.add_parser(
        "sparse",
        help="BM25 search of a Lucene index",
        description="Search a Lucene index with BM25 (Pyserini's defaults k1=0.9, b=0.4), optionally with RM3.",
    )
    parser.add_argument("--index", required=True, help="index folder built by `hybrid index sparse`")
    parser.add_argument("--topics", required=True, help="topics file or bundled name (e.g. scifact-test)")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query (default 1000)")
    parser.add_argument("--k1", type=non_negative_float, default=0.9, help="BM25 k1 (default 0.9)")
    parser.add_argument("--b", type=non_negative_float, default=0.4, help="BM25 b (default 0.4)")
    parser.add_argument(
        "--rm3", action="store_true", help="RM3 pseudo-relevance feedback (10 terms, 10 docs, 0.5)"
    )
    parser.add_argument(
        "--remove-query",
        action="store_true",
        help="drop hits whose docid equals the query id (as Anserini's BEIR runs)",
    )
    add_threads(parser)
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=256,
        help="queries per block written to the run (default 256)",
    )
    add_ray(parser, "split the topics across --workers Lucene searchers")
    add_run_output(parser, tag="bm25")
    parser.set_defaults(handler=run_search)


def run_expand(args) -> int:
    from hybrid.sparse import expand, import_predictions

    if args.predictions:
        path = import_predictions(args.corpus, args.predictions, args.output, overwrite=args.overwrite)
    else:
        path = expand(
            args.corpus,
            args.model,
            args.output,
            num_samples=args.num_samples,
            top_k=args.top_k,
            batch_size=args.batch_size,
            max_input_tokens=args.max_input_tokens,
            max_query_tokens=args.max_query_tokens,
            device=args.device,
            seed=args.seed,
            overwrite=args.overwrite,
        )
    done(f"wrote {path}")
    return 0


def run_index(args) -> int:
    from hybrid.sparse import build_index

    path = build_index(
        args.corpus, args.index, expansions=args.expansions, threads=args.threads, overwrite=args.overwrite
    )
    done(f"wrote {path}")
    return 0


def run_search(args) -> int:
    from hybrid.io import check_writable

    check_writable(args.output, args.overwrite)
    if not args.run_tag or any(c.isspace() for c in args.run_tag):
        raise ValueError(f"run tag {args.run_tag!r} must be one word")
    options = dict(
        hits=args.hits,
        k1=args.k1,
        b=args.b,
        rm3=args.rm3,
        threads=args.threads,
        batch_size=args.batch_size,
        tag=args.run_tag,
        remove_query=args.remove_query,
    )
    ray = ray_options(args)
    if ray is not None:
        from hybrid.sparse.ray_searching import search_on_ray

        run = search_on_ray(args.index, args.topics, options=ray, **options)
        path = run.write(args.output, format=args.output_format, overwrite=args.overwrite)
        queries = run.num_queries
    else:
        from hybrid.sparse import search_to_file

        path, queries = search_to_file(
            args.index,
            args.topics,
            args.output,
            format=args.output_format,
            overwrite=args.overwrite,
            **options,
        )
    done(f"wrote {path} ({queries} queries)")
    return 0
