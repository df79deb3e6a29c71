"""``hybrid index dense``, ``hybrid index dense-merge`` and ``hybrid search dense``: FAISS indexes and search."""

from __future__ import annotations

import argparse

from hybrid.cli._common import (
    add_overwrite,
    add_ray,
    add_run_output,
    add_threads,
    done,
    non_negative_int,
    positive_int,
    ray_options,
)
from hybrid.dense import BACKENDS
from hybrid.dense.encoders import ENCODER_CLASSES
from hybrid.dense.indexing import INDEX_TYPES


def register(groups) -> None:
    _register_index(groups.index)
    _register_merge(groups.index)
    _register_search(groups.search)


def _add_encoder(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("encoder")
    group.add_argument(
        "--encoder",
        required=required,
        help="'minilm' (embedded all-MiniLM-L6-v2), a model folder, or a hub name such as castorini/tct_colbert-v2-hnp-msmarco",
    )
    group.add_argument(
        "--encoder-class",
        choices=ENCODER_CLASSES,
        help="pooling convention (default the one the folder records, as `hybrid train student` writes it, else its "
        "sentence-transformers pooling, else tct_colbert if the name contains it, else mean); an index remembers "
        "its encoder's convention and search refuses another",
    )
    group.add_argument("--tokenizer", help="tokenizer name or folder (default the encoder's)")
    group.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    group.add_argument(
        "--fp16", action="store_true", help="fp16 autocast (CUDA only; on CPU see --backend torch-bf16)"
    )
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default="torch",
        help="how to run the model (default torch): torch fp32; torch-bf16 autocast; torch-int8 dynamic "
        "quantisation; onnx (ONNX Runtime fp32); onnx-int8 (ONNX Runtime, dynamic int8); onnx-int8-token "
        "(as onnx-int8 with per-token activation scales in the feed-forward layers: closer to fp32)",
    )
    group.add_argument(
        "--max-length", type=positive_int, help="document max length in wordpieces (tct_colbert: 512)"
    )
    norm = group.add_mutually_exclusive_group()
    norm.add_argument(
        "--l2-norm", dest="l2_norm", action="store_true", default=None, help="L2-normalise vectors"
    )
    norm.add_argument(
        "--no-l2-norm", dest="l2_norm", action="store_false", help="do not L2-normalise vectors"
    )
    group.add_argument("--query-prefix", default="", help="text put before every query (mean/cls classes)")
    group.add_argument("--doc-prefix", default="", help="text put before every document (mean/cls classes)")


def _add_index_structure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--index-type",
        choices=INDEX_TYPES,
        default="flat",
        help="flat: IndexFlatIP, exact (the paper's setting); hnsw: IndexHNSWFlat; pq: IndexPQ (8 bits) (default flat)",
    )
    parser.add_argument(
        "--hnsw-m", type=positive_int, default=256, help="HNSW neighbours per node (default 256, as Pyserini)"
    )
    parser.add_argument(
        "--ef-construction", type=positive_int, default=256, help="HNSW efConstruction (default 256)"
    )
    parser.add_argument(
        "--pq-m", type=positive_int, help="PQ sub-quantisers (default dimension / 4, e.g. 192 for 768)"
    )


def _encoder_spec(args) -> dict:
    """The keyword arguments of :func:`hybrid.dense.load_encoder` given on the command line."""
    return {
        "name_or_path": args.encoder,
        "encoder_class": args.encoder_class,
        "device": args.device,
        "backend": args.backend,
        "fp16": args.fp16,
        "max_length": args.max_length,
        "l2_norm": args.l2_norm,
        "query_prefix": args.query_prefix,
        "doc_prefix": args.doc_prefix,
        "tokenizer": args.tokenizer,
        "batch_size": args.batch_size,
    }


def _load_encoder(args):
    from hybrid.dense import load_encoder

    return load_encoder(**_encoder_spec(args))


def _register_index(index_group) -> None:
    parser = index_group.add_parser(
        "dense",
        help="encode a corpus into a FAISS index (index + docid, Pyserini's layout)",
        description="Encode a corpus into a FAISS index in Pyserini's layout (files index and docid). Documents "
        "are encoded in length-sorted batches and saved chunk by chunk beside the index, so rerunning a "
        "killed command resumes without re-encoding saved chunks. --shard-id/--shard-num encode one "
        "contiguous part of the corpus; join the parts with 'hybrid index dense-merge'.",
    )
    parser.add_argument(
        "--corpus", required=True, help="corpus file or folder, or a bundled name (scifact, nfcorpus)"
    )
    parser.add_argument("--index", required=True, help="index folder to write")
    _add_index_structure(parser)
    parser.add_argument(
        "--batch-size", type=positive_int, default=32, help="passages per forward pass (default 32)"
    )
    parser.add_argument(
        "--shard-id", type=non_negative_int, default=0, help="which part of the corpus to encode (default 0)"
    )
    parser.add_argument(
        "--shard-num",
        type=positive_int,
        default=1,
        help="into how many parts the corpus is split (default 1)",
    )
    parser.add_argument(
        "--chunk-size",
        type=positive_int,
        default=4096,
        help="passages saved together; the unit of resumption (default 4096)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help="write S sub-indexes of contiguous chunks (a sharded index, searched shard by shard; "
        "`search dense` recognises it) instead of one index (default 1)",
    )
    _add_encoder(parser)
    add_ray(parser, "encode with --workers encoder actors (Ray Data)")
    add_overwrite(parser)
    parser.set_defaults(handler=run_index)


def _register_merge(index_group) -> None:
    parser = index_group.add_parser(
        "dense-merge",
        help="join dense index shards (or convert an index to another type)",
        description="Join flat or HNSW dense indexes, in the order given, into one index of --index-type. "
        "With a single input this converts an index (e.g. flat to hnsw or pq) without re-encoding.",
    )
    parser.add_argument("--shards", nargs="+", required=True, help="index folders, in corpus order")
    parser.add_argument("--index", required=True, help="index folder to write")
    _add_index_structure(parser)
    add_overwrite(parser)
    parser.set_defaults(handler=run_merge)


def _register_search(search_group) -> None:
    parser = search_group.add_parser(
        "dense",
        help="search a FAISS index with a topic set",
        description="Search a dense index: queries are encoded in batches (or read with --encoded-queries) and "
        "each batch is searched with one FAISS call.",
    )
    parser.add_argument("--index", required=True, help="index folder (index + docid)")
    parser.add_argument("--topics", required=True, help="topics file or bundled name (e.g. scifact-test)")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query (default 1000)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="queries per batch (default 64)")
    parser.add_argument(
        "--encoded-queries",
        help="pre-encoded queries: JSON lines {id, vector} or Pyserini's embedding.pkl folder (then no --encoder)",
    )
    parser.add_argument("--ef-search", type=positive_int, help="HNSW efSearch (HNSW indexes only)")
    add_threads(parser)
    _add_encoder(parser, required=False)
    add_ray(parser, "search each shard of a sharded index in its own actor")
    add_run_output(parser, tag="dense")
    parser.set_defaults(handler=run_search)


def run_index(args) -> int:
    ray = ray_options(args)
    structure = {
        "index_type": args.index_type,
        "batch_size": args.batch_size,
        "overwrite": args.overwrite,
        "chunk_size": args.chunk_size,
        "shards": args.shards,
        "hnsw_m": args.hnsw_m,
        "ef_construction": args.ef_construction,
        "pq_m": args.pq_m,
    }
    if ray is not None:
        if args.shard_num != 1:
            raise ValueError("--ray encodes the whole corpus; drop --shard-id/--shard-num (or drop --ray)")
        from hybrid.dense.ray_indexing import build_index_on_ray

        path = build_index_on_ray(args.corpus, _encoder_spec(args), args.index, ray, **structure)
    else:
        from hybrid.dense import build_index

        path = build_index(
            args.corpus,
            _load_encoder(args),
            args.index,
            shard_id=args.shard_id,
            shard_num=args.shard_num,
            **structure,
        )
    done(f"wrote {path}")
    return 0


def run_merge(args) -> int:
    from hybrid.dense import merge_shards

    path = merge_shards(
        args.shards,
        args.index,
        index_type=args.index_type,
        overwrite=args.overwrite,
        hnsw_m=args.hnsw_m,
        ef_construction=args.ef_construction,
        pq_m=args.pq_m,
    )
    done(f"wrote {path}")
    return 0


def run_search(args) -> int:
    from hybrid.dense import search

    if (args.encoder is None) == (args.encoded_queries is None):
        raise ValueError("give exactly one of --encoder and --encoded-queries")
    run = search(
        args.index,
        args.topics,
        _load_encoder(args) if args.encoder else None,
        hits=args.hits,
        threads=args.threads,
        batch_size=args.batch_size,
        tag=args.run_tag,
        encoded_queries=args.encoded_queries,
        ef_search=args.ef_search,
        ray=ray_options(args),
    )
    path = run.write(args.output, format=args.output_format, overwrite=args.overwrite)
    done(f"wrote {path} ({run.num_queries} queries, {len(run)} hits)")
    return 0
