"""The candidate union every fusion method scores: runs' top-``depth`` rows matched per query.

Work goes a block of queries at a time (about ``hybrid.fusion.BLOCK_ROWS`` input rows, which bounds
memory on MS MARCO-sized runs): each run's rows in the block are matched by one hash pass per query
(compiled code) into union rows, a method scores the union rows, and the fused run is ordered as
trec_eval orders it (score descending, ties by document id descending), so ties break the same way
in every process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybrid import _fusion_kernels, columns
from hybrid._threads import ordered_map
from hybrid.formats.runs import Run, read_runs
from hybrid.fusion.normalization import side_scores

RunLike = Run | str | os.PathLike


@dataclass
class Side:
    """One run's rows for a block of queries: joint query code (ascending), the run's own doc code,
    score; ``doc_map`` gives the joint code of each of the run's doc codes."""

    queries: np.ndarray
    docs: np.ndarray
    scores: np.ndarray
    doc_map: np.ndarray


@dataclass
class Union:
    """A block's union rows (joint query and doc codes, grouped by query) and, per input run
    (``sides``), the union row of each of its rows (``rows``)."""

    qids: np.ndarray
    docs: np.ndarray
    sides: list[Side]
    rows: list[np.ndarray]

    @classmethod
    def of(cls, sides: list[Side]) -> Union:
        queries, docs, rows = _fusion_kernels.union(
            [
                (s.queries, s.docs.astype(np.int32, copy=False), s.doc_map.astype(np.int32, copy=False))
                for s in sides
            ]
        )
        return cls(
            np.frombuffer(queries, np.int32),
            np.frombuffer(docs, np.int32),
            sides,
            [np.frombuffer(r, np.int64) for r in rows],
        )

    def scores(self, normalization: str = "none", missing: str | None = "zero") -> list[np.ndarray]:
        """Each run's score for every union row, normalised per query (see
        :mod:`hybrid.fusion.normalization`); a row a run lacks gets that run's lowest score for the
        query (``missing="min"``), 0 (``"zero"``) or NaN (None)."""
        return [
            side_scores(side.queries, side.scores, rows, self.qids, normalization, missing)
            for side, rows in zip(self.sides, self.rows, strict=True)
        ]

    def ranks(self) -> list[np.ndarray]:
        """Each run's 1-based rank of its rows (aligned with ``rows``)."""
        return [ranks(side.queries) for side in self.sides]

    def hits(self) -> np.ndarray:
        """How many runs retrieved each union row."""
        return np.bincount(np.concatenate(self.rows), minlength=len(self.qids)).astype(np.float64)


def as_runs(runs: Sequence[RunLike]) -> list[Run]:
    """Runs themselves, the ones given as paths read side by side."""
    paths = [r for r in runs if not isinstance(r, Run)]
    read = iter(read_runs(paths))
    return [r if isinstance(r, Run) else next(read) for r in runs]


def query_blocks(runs: Sequence[Run]) -> tuple[pa.Array, pa.Array | np.ndarray, Iterator[list[Side]]]:
    """Joint query vocabulary (byte order), joint doc vocabulary, and per block of queries each run's rows."""
    from hybrid import fusion  # the package holds BLOCK_ROWS, so callers (and tests) can change it

    query_ids = _sorted_unique(pa.concat_arrays([r.query_ids.cast(pa.string()) for r in runs]))
    doc_vocabulary, doc_maps = columns.joint_doc_vocabulary([r.doc_vocabulary for r in runs])
    joint_queries = [
        columns.numbers(pc.index_in(r.query_ids.cast(pa.string()), value_set=query_ids)).astype(np.int32)
        for r in runs
    ]
    row_queries = [joint[r.qids] for r, joint in zip(runs, joint_queries, strict=True)]
    rows_per_query = np.zeros(len(query_ids), dtype=np.int64)
    for run, joint in zip(runs, joint_queries, strict=True):
        rows_per_query[joint] += np.diff(run.offsets)
    cumulative = np.cumsum(rows_per_query)
    total = int(cumulative[-1]) if len(cumulative) else 0
    step = fusion.BLOCK_ROWS
    cuts = np.searchsorted(cumulative, np.arange(step, total, step), side="right")
    edges = np.unique(np.concatenate([[0], cuts, [len(query_ids)]]).astype(np.int64))

    def blocks():
        for first, last in zip(edges[:-1], edges[1:], strict=True):
            block = []
            for run, queries, doc_map in zip(runs, row_queries, doc_maps, strict=True):
                lo, hi = np.searchsorted(queries, np.array([first, last], dtype=queries.dtype))
                block.append(Side(queries[lo:hi], run.docs[lo:hi], run.scores[lo:hi], doc_map))
            yield block

    return query_ids, doc_vocabulary, blocks()


def fuse_union(
    runs: Sequence[RunLike], depth: int, hits: int, tag: str, score: Callable[[Union], np.ndarray]
) -> Run:
    """The fused run: ``score`` gives every union row of a block its fused score; each query keeps
    its top ``hits`` rows in trec_eval order."""
    depth, hits = positive("depth", depth), positive("hits", hits)
    query_ids, doc_vocabulary, blocks = query_blocks([r.top(depth) for r in as_runs(runs)])

    def ranked(block: list[Side]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        union = Union.of(block)
        return rank_rows(union.qids, union.docs, score(union), doc_vocabulary, hits)

    return run_from_blocks(query_ids, doc_vocabulary, list(ordered_map(ranked, blocks)), tag)


def ranks(queries: np.ndarray) -> np.ndarray:
    """1-based position of every row within its query (rows grouped by query)."""
    index = np.arange(len(queries))
    starts = np.ones(len(queries), dtype=bool)
    starts[1:] = queries[1:] != queries[:-1]
    return index - np.maximum.accumulate(np.where(starts, index, 0)) + 1


def _sorted_unique(values: pa.Array) -> pa.Array:
    unique = pc.unique(values)
    return unique.take(pc.sort_indices(unique))


def rank_rows(
    qids: np.ndarray, docs: np.ndarray, scores: np.ndarray, doc_vocabulary: pa.Array | np.ndarray, hits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (grouped by ascending query) in trec_eval order (query, score desc, docid desc), ``hits`` per query."""
    if not len(scores):
        return qids, docs, scores
    if np.isnan(scores).any():
        raise ValueError("fused scores are not numbers (an infinite input score?)")
    offsets = np.searchsorted(qids, np.arange(qids[0], qids[-1] + 2, dtype=qids.dtype)).astype(np.int64)
    order, extra = _fusion_kernels.rank(offsets, scores, hits)
    order = np.frombuffer(order, np.int64)
    qids, docs, scores = qids[order], docs[order], scores[order]
    ties = columns.trec_order(qids, scores, docs, doc_vocabulary, by_score=True)
    if ties is not None:
        qids, docs, scores = qids[ties], docs[ties], scores[ties]
    if not extra:  # no tie ran past the cut
        return qids, docs, scores
    keep = ranks(qids) <= hits
    return qids[keep], docs[keep], scores[keep]


def run_from_blocks(query_ids: pa.Array, doc_vocabulary, ranked: list[tuple], tag: str) -> Run:
    """One run from the ranked (qids, docs, scores) of consecutive query blocks."""
    if not ranked:
        return Run(query_ids, doc_vocabulary, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0), tag)
    qids, docs, scores = (np.concatenate(column) for column in zip(*ranked, strict=True))
    return Run(query_ids, doc_vocabulary, qids, docs, scores, tag)


def positive(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)
