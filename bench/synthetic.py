"""A deterministic synthetic run pair at MS MARCO dev scale: 6,980 queries x 1,000 hits per run,
written in topic order as Anserini and Pyserini write runs: each query's lines together, the
queries in random order.

Query ids and qrels are the bundled MS MARCO passage dev-subset; doc ids are random integers from
the 8.8M-passage id space (distinct within a query). The dense run scores like a normalised encoder
(0.3-0.9), the sparse run like BM25 (5-40); 30% of each query's documents appear in both runs, and
the judged passage is planted in each run for about 60% of the queries.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hybrid import Qrels, Run
from hybrid.datasets import TOPIC_SETS

NUM_PASSAGES = 8_841_823
HITS = 1000
SHARED = 300  # documents of a query in both runs
QRELS = TOPIC_SETS["msmarco-passage-dev-subset"].qrels


def _run(
    qids: list[str], docs: np.ndarray, relevant: np.ndarray, scale: tuple[float, float], seed: int, tag: str
):
    """A run of ``docs`` (one row per query, random order) with falling random scores and the
    relevant passage planted for ~60% of the queries."""
    rng = np.random.default_rng(seed)
    nq = len(qids)
    docs = rng.permuted(docs, axis=1)
    plant = (rng.random(nq) < 0.6) & ~(docs == relevant[:, None]).any(axis=1)
    slots = rng.integers(0, HITS, nq)
    docs[plant, slots[plant]] = relevant[plant]
    low, high = scale
    scores = np.sort(np.round(rng.uniform(low, high, (nq, HITS)), 6), axis=1)[:, ::-1]
    return Run.from_columns(
        np.repeat(qids, HITS).tolist(), docs.ravel().astype(str).tolist(), scores.ravel(), tag
    )


def _write_in_topic_order(run: Run, path: Path, seed: int) -> None:
    """Write ``run`` with its queries' blocks of lines in a random order."""
    sorted_path = path.with_name(path.name + ".sorted")
    run.write(sorted_path, overwrite=True)
    data = sorted_path.read_bytes()
    sorted_path.unlink()
    line_starts = np.concatenate([[0], np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n")) + 1])
    block_starts = line_starts[run.offsets]
    order = np.random.default_rng(seed).permutation(run.num_queries)
    view = memoryview(data)
    with open(path, "wb") as out:
        for q in order:
            out.write(view[block_starts[q] : block_starts[q + 1]])


def make_run_pair(folder: str | Path) -> tuple[Path, Path, Path]:
    """Write (once) and return ``(dense_path, sparse_path, qrels_path)`` in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dense_path, sparse_path = (
        folder / "synthetic.topic-order.dense.trec",
        folder / "synthetic.topic-order.sparse.trec",
    )
    if not (dense_path.exists() and sparse_path.exists()):
        qrels = Qrels.read(QRELS)
        qids = qrels.query_ids
        relevant = np.array([int(next(iter(qrels[q]))) for q in qids], dtype=np.int64)
        rng = np.random.default_rng(0)
        pool = np.stack([rng.choice(NUM_PASSAGES, 2 * HITS - SHARED, replace=False) for _ in qids])
        dense = _run(qids, pool[:, :HITS], relevant, (0.3, 0.9), 1, "dense")
        sparse = _run(qids, pool[:, HITS - SHARED :], relevant, (5.0, 40.0), 2, "sparse")
        _write_in_topic_order(dense, dense_path, 3)
        _write_in_topic_order(sparse, sparse_path, 4)
    return dense_path, sparse_path, QRELS


if __name__ == "__main__":
    print(*make_run_pair(sys.argv[1] if len(sys.argv) > 1 else "bench/data"), sep="\n")
