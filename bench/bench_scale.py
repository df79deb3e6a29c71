"""Scale-out benchmark on a local Ray (record the output in docs/scale.md, with ``uptime`` beside it).

(c) Ray start-up: ``ray.init`` of a fresh local Ray, then the first task and the first actor.
(a) A synthetic flat index (``--passages`` random ``--dim``-d vectors, seeded, made block by block inside
    Ray tasks, never in the driver), searched as 1 shard and as ``--shards`` shards, one actor per shard:
    the merged runs must be identical (else exit 1), the resident memory of every shard actor, the
    search time per query and the time of the merge.
(b) SciFact (first ``--encode-docs`` passages) encoded by today's single process and by ``--workers``
    Ray Data actors: throughput ratio; the indexes must hold the same vectors to 1e-5 (else exit 1).
(d) Per-core encode rates (one torch thread) of all-MiniLM-L6-v2 and of a randomly initialised
    BERT-base, and index bytes per passage of flat / HNSW / PQ for 768-d vectors.

  PYTHONPATH=. .venv/bin/python bench/bench_scale.py [--passages 1000000 --dim 384 --shards 4]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 20_000  # synthetic vectors are drawn per block: the same vectors whatever the sharding


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def peak_memory(pid: int) -> int:
    """Peak resident bytes of a local process (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) * 1024


def report(line: str) -> None:
    print(line, flush=True)


def synthetic_block(seed: int, block: int, dim: int, stop: int) -> tuple[list[str], np.ndarray]:
    rows = range(block * BLOCK, min(stop, (block + 1) * BLOCK))
    vectors = np.random.default_rng([seed, block]).standard_normal((len(rows), dim), dtype=np.float32)
    return [f"d{row}" for row in rows], vectors


def write_synthetic_shard(
    folder: str, first_block: int, last_block: int, seed: int, dim: int, stop: int
) -> str:
    from hybrid.dense.indexing import write_index

    blocks = (synthetic_block(seed, b, dim, stop) for b in range(first_block, last_block))
    write_index(Path(folder), blocks, dim, "flat", True, 0, 0, None)
    return folder


def synthetic_index(ray, folder: Path, shards: int, passages: int, dim: int, seed: int) -> Path:
    import json

    from hybrid.dense.sharded import LAYOUT_FILE

    blocks = -(-passages // BLOCK)
    bounds = np.linspace(0, blocks, shards + 1).round().astype(int)
    names = [f"shard-{s:03d}" for s in range(shards)]
    folder.mkdir(parents=True, exist_ok=True)
    task = ray.remote(num_cpus=1)(write_synthetic_shard)
    ray.get(
        [
            task.remote(str(folder / n), int(lo), int(hi), seed, dim, passages)
            for n, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True)
        ]
    )
    (folder / LAYOUT_FILE).write_text(json.dumps({"shards": names, "dim": dim, "index_type": "flat"}))
    return folder


def search_shards(ray, options, index: Path, queries: np.ndarray, k: int, batch: int) -> dict:
    from hybrid.cluster import local_actor_processes
    from hybrid.dense.ray_searching import shard_actors
    from hybrid.dense.sharded import merge_top_k, shard_folders

    started = time.perf_counter()
    search = shard_actors(shard_folders(index), None, 1, options)
    search(queries[:1], k)  # every actor has loaded its shard
    loaded = time.perf_counter() - started
    scores, docids, searching, merging = [], [], 0.0, 0.0
    for start in range(0, len(queries), batch):
        t0 = time.perf_counter()
        per_shard = search(queries[start : start + batch], k)
        t1 = time.perf_counter()
        s, d = merge_top_k(per_shard, k)
        merging += time.perf_counter() - t1
        searching += t1 - t0
        scores += s
        docids += d
    rss = [peak_memory(pid) for pid in local_actor_processes("DenseSearcher")]
    del search
    return {
        "load": loaded,
        "search": searching,
        "merge": merging,
        "rss": rss,
        "scores": scores,
        "docids": docids,
    }


def part_a(ray, options, args, work: Path) -> None:
    from hybrid.formats import Run

    rng = np.random.default_rng([args.seed, 10**9])
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    results = {}
    for shards in (1, args.shards):
        started = time.perf_counter()
        index = synthetic_index(ray, work / f"synthetic-{shards}", shards, args.passages, args.dim, args.seed)
        built = time.perf_counter() - started
        results[shards] = search_shards(ray, options, index, queries, args.hits, args.batch_size)
        time.sleep(3)  # the actors of this layout exit before the next one starts
        r = results[shards]
        report(
            f"(a) {args.passages:,} x {args.dim}-d flat, {shards} shard(s): built {built:.1f} s, actors ready "
            f"{r['load']:.1f} s, search {1000 * r['search'] / args.queries:.2f} ms/query, merge "
            f"{1000 * r['merge'] / args.queries:.3f} ms/query ({100 * r['merge'] / r['search']:.1f}% of search), "
            f"actor peak RSS {', '.join(f'{b / 2**20:.0f}' for b in r['rss'])} MiB  [{uptime()}]"
        )
        shutil.rmtree(index)
    # Compared as runs (what `search dense` writes): equal scores are ordered by docid, as trec_eval does.
    runs = {}
    for shards, result in results.items():
        qids = [f"q{i}" for i, found in enumerate(result["docids"]) for _ in found]
        docids = np.concatenate(result["docids"]).tolist()
        scores = np.concatenate(result["scores"]).astype(np.float64)
        runs[shards] = Run.from_columns(qids, docids, scores).write(work / f"run-{shards}.trec")
    if runs[1].read_bytes() != runs[args.shards].read_bytes():
        raise SystemExit(f"PARITY FAILED: {runs[args.shards]} differs from {runs[1]}")
    report(
        f"(a) parity: the {args.queries} x {args.hits}-hit run files are byte-identical; "
        f"largest shard actor / single actor RSS = {max(results[args.shards]['rss']) / max(results[1]['rss']):.2f}"
    )


def part_b(ray, options, args, work: Path) -> None:
    from hybrid.dense import build_index, load_encoder
    from hybrid.dense.indexing import read_index, stored_vectors
    from hybrid.dense.ray_indexing import build_index_on_ray

    corpus = work / "scifact.jsonl"
    with gzip.open(ROOT / "data/scifact/corpus.jsonl.gz", "rt", encoding="utf-8") as src:
        corpus.write_text("".join(itertools.islice(src, args.encode_docs)), encoding="utf-8")
    started = time.perf_counter()
    build_index(corpus, load_encoder("minilm"), work / "single", chunk_size=256, progress=False)
    single = time.perf_counter() - started
    started = time.perf_counter()
    build_index_on_ray(
        corpus, {"name_or_path": "minilm"}, work / "ray", options, chunk_size=256, progress=False
    )
    on_ray = time.perf_counter() - started
    (a, ids_a), (b, ids_b) = read_index(work / "single"), read_index(work / "ray")
    if ids_a != ids_b or not np.allclose(stored_vectors(a), stored_vectors(b), atol=1e-5):
        raise SystemExit("PARITY FAILED: the Ray index differs from the single-process index")
    report(
        f"(b) SciFact {args.encode_docs} passages, MiniLM: single process {args.encode_docs / single:.1f} "
        f"passages/s ({single:.1f} s, incl. model load), Ray {options.workers} actors "
        f"{args.encode_docs / on_ray:.1f} passages/s ({on_ray:.1f} s, incl. actor start and model loads); "
        f"ratio Ray/single {single / on_ray:.2f}; identical index  [{uptime()}]"
    )


def part_c() -> tuple[object, object]:
    started = time.perf_counter()
    from hybrid.cluster import RayOptions, connect

    options = RayOptions(workers=2)
    ray = connect(options)
    init = time.perf_counter() - started
    t0 = time.perf_counter()
    ray.get(ray.remote(lambda: 1).remote())
    task = time.perf_counter() - t0

    class Probe:
        def ready(self) -> bool:
            return True

    t0 = time.perf_counter()
    probe = ray.remote(Probe).remote()
    ray.get(probe.ready.remote())
    actor = time.perf_counter() - t0
    del probe
    report(
        f"(c) Ray start-up: import + ray.init {init:.1f} s, first task {task:.2f} s, first actor {actor:.2f} s  "
        f"[{uptime()}]"
    )
    return ray, options


def part_d(args, work: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from hybrid.dense import load_encoder
    from hybrid.dense.indexing import index_size, write_index
    from hybrid.formats import iter_corpus

    torch.set_num_threads(1)
    texts = [d.contents for d in itertools.islice(iter_corpus("scifact"), args.rate_docs)]
    minilm = load_encoder("minilm", max_length=args.rate_max_length)
    bert_dir = work / "bert-base-random"
    torch.manual_seed(0)
    BertModel(BertConfig(), add_pooling_layer=False).save_pretrained(bert_dir)
    BertTokenizerFast.from_pretrained(minilm.tokenizer.name_or_path).save_pretrained(bert_dir)
    bert = load_encoder(str(bert_dir), "mean", max_length=args.rate_max_length or 512)
    for name, encoder in (
        (f"MiniLM-L6 (384-d, max {minilm.max_length} tokens)", minilm),
        (f"BERT-base random (768-d, max {bert.max_length} tokens)", bert),
    ):
        started, cpu = time.perf_counter(), time.process_time()
        encoder.encode_docs(texts, batch_size=32)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        report(
            f"(d) encode {name}, one torch thread, {len(texts)} SciFact abstracts: {len(texts) / cpu:.1f} "
            f"passages per CPU-second ({len(texts) / wall:.1f}/s wall on this shared machine)  [{uptime()}]"
        )
    n, dim = 2000, 768
    vectors = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
    ids = [f"d{i}" for i in range(n)]
    for kind in ("flat", "hnsw", "pq"):
        folder = write_index(work / f"bytes-{kind}", [(ids, vectors)], dim, kind, True, 256, 64, None)
        report(f"(d) index bytes/passage, {dim}-d {kind}: {index_size(folder) / n:.0f}")
    report(f"(d) index bytes/passage, {dim}-d flat fp16 (2 bytes a dimension): {2 * dim}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--encode-docs", type=int, default=1000)
    parser.add_argument("--rate-docs", type=int, default=96)
    parser.add_argument(
        "--rate-max-length", type=int, help="truncate to this many tokens in (d) (128: MS MARCO-length)"
    )
    parser.add_argument("--parts", default="cabd", help="which parts to run (default cabd)")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        report(f"bench_scale {' '.join(sys.argv[1:])}  [{uptime()}]")
        if "d" in args.parts:
            part_d(args, work)
        if not set(args.parts) & set("abc"):
            return
        ray, options = part_c()
        if "a" in args.parts:
            part_a(ray, options, args, work)
        if "b" in args.parts:
            part_b(ray, options, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
