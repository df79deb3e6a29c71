"""``hybrid serve``: a local search page and JSON API over a BM25 and a dense index."""

from __future__ import annotations

import argparse
import sys

from hybrid.cli._common import add_threads


def register(groups) -> None:
    parser = groups.top.add_parser(
        "serve",
        help="serve a local search page (BM25, dense and hybrid side by side) and a JSON API",
        description="Load the indexes and the encoder once and serve http://HOST:PORT/: a search box, the "
        "BM25, dense and hybrid lists side by side with passages, an alpha slider that re-fuses without "
        "searching again, and GET /search?q=...&k=...&alpha=... returning HybridSearcher.search's hits "
        "as JSON. Binds to 127.0.0.1 unless --host says otherwise.",
        epilog="example: hybrid serve --sparse-index indexes/scifact.bm25 --dense-index indexes/scifact.minilm "
        "--encoder minilm --corpus scifact",
    )
    parser.add_argument("--sparse-index", required=True, help="Lucene index folder (hybrid index sparse)")
    parser.add_argument("--dense-index", required=True, help="dense index folder (hybrid index dense)")
    parser.add_argument(
        "--encoder", required=True, help="query encoder: minilm, a hub name or a local folder"
    )
    parser.add_argument(
        "--corpus",
        help="corpus whose passages are shown (read once at start-up; default the Lucene index's stored text)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (default 0.9)")
    parser.add_argument("--b", type=float, default=0.4, help="BM25 b (default 0.4)")
    add_threads(parser, default=2)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, not {args.port}")
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, not {args.threads}")
    import uvicorn

    from hybrid.formats import iter_corpus
    from hybrid.searcher import HybridSearcher
    from hybrid.web.app import create_app

    searcher = HybridSearcher(args.sparse_index, args.dense_index, args.encoder, k1=args.k1, b=args.b)
    passages = {doc.docid: doc.contents for doc in iter_corpus(args.corpus)} if args.corpus else None
    app = create_app(searcher, passages, threads=args.threads)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"hybrid serve: warning: listening on {args.host}, reachable from other machines", file=sys.stderr
        )
    print(f"serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
