"""A deterministic synthetic run pair at MS MARCO dev scale: 6,980 queries x 1,000 hits per run.

Query ids and qrels are the bundled MS MARCO passage dev-subset; doc ids are drawn from the
8.8M-passage id space. The dense run scores like a normalised encoder (0.3-0.9), the sparse
run like BM25 (5-40); 30% of each query's documents appear in both runs, and the judged
passage is planted in each run for about 60% of the queries.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hybrid import Qrels, Run
from hybrid.datasets import TOPIC_SETS

NUM_PASSAGES = 8_841_823
HITS = 1000
QRELS = TOPIC_SETS["msmarco-passage-dev-subset"].qrels


def _run(
    qids: list[str], relevant: list[str], first: int, scale: tuple[float, float], seed: int, tag: str
) -> Run:
    rng = np.random.default_rng(seed)
    nq = len(qids)
    offsets = (np.arange(nq, dtype=np.int64) * 1_000_003)[:, None]
    docs = (offsets + (np.arange(first, first + HITS) * 7919)[None, :]) % NUM_PASSAGES
    docids = docs.astype(str).astype(object)
    plant = rng.random(nq) < 0.6
    slots = rng.integers(0, HITS, nq)
    docids[plant, slots[plant]] = np.array(relevant, dtype=object)[plant]
    low, high = scale
    scores = np.sort(np.round(rng.uniform(low, high, (nq, HITS)), 6), axis=1)[:, ::-1]
    return Run.from_columns(np.repeat(qids, HITS).tolist(), docids.ravel().tolist(), scores.ravel(), tag)


def make_run_pair(folder: str | Path) -> tuple[Path, Path, Path]:
    """Write (once) and return ``(dense_path, sparse_path, qrels_path)`` in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dense_path, sparse_path = folder / "synthetic.dense.trec", folder / "synthetic.sparse.trec"
    if not (dense_path.exists() and sparse_path.exists()):
        qrels = Qrels.read(QRELS)
        qids = qrels.query_ids
        relevant = [next(iter(qrels[q])) for q in qids]
        _run(qids, relevant, 0, (0.3, 0.9), 1, "dense").write(dense_path, overwrite=True)
        _run(qids, relevant, 700, (5.0, 40.0), 2, "sparse").write(sparse_path, overwrite=True)
    return dense_path, sparse_path, QRELS


if __name__ == "__main__":
    print(*make_run_pair(sys.argv[1] if len(sys.argv) > 1 else "bench/data"), sep="\n")
