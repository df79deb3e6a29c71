"""Fusion of runs: the paper's linear interpolation (Pyserini ``HybridSearcher`` semantics) and RRF.

Everything is vectorised over the columnar :class:`~hybrid.Run`, a block of queries at a time (about
``BLOCK_ROWS`` input rows, which bounds memory on MS MARCO-sized runs): the runs' rows are matched by
one sort of ``(query, document)`` keys, each side's per-query statistics come from its sorted rows,
and the fused run is ordered as trec_eval orders it (score descending, ties by document id
descending), so ties break the same way in every process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybrid import _fusion_kernels
from hybrid._threads import ordered_map
from hybrid.formats import _arrow as arrow
from hybrid.formats.runs import Run, joint_doc_vocabulary, read_runs, require_scores, trec_order

NORMALIZATIONS = ("none", "minmax", "pyserini", "zscore")
MISSING = ("min", "zero")
RunLike = Run | str | os.PathLike


@dataclass
class Candidates:
    """The union of two runs' top-``depth`` lists, one row per (query, document).

    Rows are grouped by query (``query_ids`` in byte order). ``other`` and ``weighted`` hold each
    side's score per row after filling and normalisation; the fused score is
    ``other + alpha * weighted`` (``(1 - alpha) * other + alpha * weighted`` when convex).
    """

    query_ids: pa.Array
    doc_vocabulary: pa.Array | np.ndarray
    qids: np.ndarray
    docs: np.ndarray
    other: np.ndarray
    weighted: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        """Row range of query ``i`` is ``offsets[i]:offsets[i+1]``."""
        return np.searchsorted(self.qids, np.arange(len(self.query_ids) + 1, dtype=self.qids.dtype)).astype(
            np.int64
        )

    def combine(self, alpha: float, convex: bool = False) -> np.ndarray:
        """The fused score of every row for one ``alpha``."""
        return interpolate(self.other, self.weighted, alpha, convex)

    def rank(self, scores: np.ndarray, hits: int, tag: str) -> Run:
        """A run of the rows under ``scores``, in trec_eval order, cut to ``hits`` per query."""
        ranked = _rank_rows(self.qids, self.docs, scores, self.doc_vocabulary, hits)
        return Run(self.query_ids, self.doc_vocabulary, *ranked, tag)


def interpolate(other: np.ndarray, weighted: np.ndarray, alpha: float, convex: bool = False) -> np.ndarray:
    """``other + alpha * weighted``, or ``(1 - alpha) * other + alpha * weighted`` when convex.

    The one expression every fused score comes from, so tuning reproduces fusion bit for bit.
    """
    if convex:
        return (1.0 - alpha) * other + alpha * weighted
    return other + alpha * weighted


def fuse(
    dense: RunLike,
    sparse: RunLike,
    alpha: float = 0.1,
    weight_on_dense: bool = False,
    normalization: str = "none",
    depth: int = 1000,
    hits: int = 1000,
    missing: str = "min",
    convex: bool = False,
    tag: str = "hybrid",
) -> Run:
    """Interpolate a dense and a sparse run, per query, over the union of their top ``depth`` hits.

    The default is the paper's and Pyserini ``HybridSearcher``'s rule: score = dense + alpha * sparse
    (sparse + alpha * dense with ``weight_on_dense``), and a document missing from one side takes
    that side's lowest retrieved score for the query (``missing="min"``). ``missing="zero"`` makes
    a missing side contribute 0 instead. ``convex`` uses (1 - alpha) * other + alpha * weighted;
    with ``missing="zero"`` and ``weight_on_dense`` it reproduces ``pyserini.fusion``'s
    interpolation of the runs (dense, sparse).

    ``normalization`` maps each side's scores per query before combining: ``minmax`` to [0, 1]
    (a constant list maps to 1), ``pyserini`` to Pyserini's centred (s - (min + max) / 2) / (max - min)
    (a constant list maps to 0), ``zscore`` to (s - mean) / std (population std; constant list -> 0).
    A query that one side did not retrieve at all is ranked by the other side alone (the absent
    side contributes 0). Returns the top ``hits`` per query as a new run tagged ``tag``.
    """
    _check_alpha(alpha)
    hits = _positive("hits", hits)
    query_ids, doc_vocabulary, blocks, candidates = _candidate_blocks(
        dense, sparse, weight_on_dense, normalization, depth, missing
    )

    def ranked(block: list[_Side]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = candidates(block)
        return _rank_rows(c.qids, c.docs, c.combine(alpha, convex), c.doc_vocabulary, hits)

    return _run_from_blocks(query_ids, doc_vocabulary, list(ordered_map(ranked, blocks)), tag)


def prepare(
    dense: RunLike,
    sparse: RunLike,
    weight_on_dense: bool = False,
    normalization: str = "none",
    depth: int = 1000,
    missing: str = "min",
) -> Candidates:
    """Match two runs' top-``depth`` rows and fill/normalise both sides (independent of alpha)."""
    query_ids, doc_vocabulary, blocks, candidates = _candidate_blocks(
        dense, sparse, weight_on_dense, normalization, depth, missing
    )
    parts = list(ordered_map(candidates, blocks))
    columns = [np.concatenate([getattr(c, name) for c in parts]) if parts else np.zeros(0, dtype)
               for name, dtype in (("qids", np.int32), ("docs", np.int32), ("other", float), ("weighted", float))]  # fmt: skip
    return Candidates(query_ids, doc_vocabulary, *columns)


def rrf(runs: Sequence[RunLike], k: float = 60, depth: int = 1000, hits: int = 1000, tag: str = "rrf") -> Run:
    """Reciprocal rank fusion: the sum over runs of 1 / (k + rank), a missing document adding 0.

    Ranks follow each run's score order (trec_eval's order; ``pyserini.fusion --resort``).
    """
    if not runs:
        raise ValueError("rrf needs at least one run")
    if not np.isfinite(k) or k < 0:
        raise ValueError(f"rrf k must be a non-negative number, not {k!r}")
    depth, hits = _positive("depth", depth), _positive("hits", hits)
    query_ids, doc_vocabulary, blocks = _blocks([r.top(depth) for r in as_runs(runs)])

    def ranked(block: list[_Side]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        qids, docs, rows = _union(block)
        scores = np.zeros(len(qids))
        for side, row in zip(block, rows, strict=True):
            scores[row] += 1.0 / (k + _ranks(side.queries))
        return _rank_rows(qids, docs, scores, doc_vocabulary, hits)

    return _run_from_blocks(query_ids, doc_vocabulary, list(ordered_map(ranked, blocks)), tag)


def as_runs(runs: Sequence[RunLike]) -> list[Run]:
    """Runs themselves, the ones given as paths read side by side."""
    paths = [r for r in runs if not isinstance(r, Run)]
    read = iter(read_runs(paths))
    return [r if isinstance(r, Run) else next(read) for r in runs]


# --------------------------------------------------------------------------- internals
BLOCK_ROWS = 1 << 20  # input rows handled at once: bounds memory on MS MARCO-sized runs


@dataclass
class _Side:
    """One run's rows for a block of queries: joint query code (ascending), the run's own doc code,
    score; ``doc_map`` gives the joint code of each of the run's doc codes."""

    queries: np.ndarray
    docs: np.ndarray
    scores: np.ndarray
    doc_map: np.ndarray


def _candidate_blocks(dense, sparse, weight_on_dense, normalization, depth, missing):
    """Joint vocabularies, the blocks of queries (each run's rows in them), and the function that
    makes a block's :class:`Candidates`."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; expected one of {NORMALIZATIONS}")
    if missing not in MISSING:
        raise ValueError(f"unknown missing-document rule {missing!r}; expected one of {MISSING}")
    depth = _positive("depth", depth)
    runs = [require_scores(r, "score interpolation") for r in as_runs([dense, sparse])]
    query_ids, doc_vocabulary, blocks = _blocks([r.top(depth) for r in runs])

    def candidates(block: list[_Side]) -> Candidates:
        qids, docs, rows = _union(block)
        sides = [
            _side_scores(side, row, qids, normalization, missing)
            for side, row in zip(block, rows, strict=True)
        ]
        other, weighted = (sides[1], sides[0]) if weight_on_dense else (sides[0], sides[1])
        return Candidates(query_ids, doc_vocabulary, qids, docs, other, weighted)

    return query_ids, doc_vocabulary, blocks, candidates


def _blocks(runs: Sequence[Run]):
    """Joint query vocabulary (byte order), joint doc vocabulary, and per block of queries each run's rows."""
    query_ids = _sorted_unique(pa.concat_arrays([r.query_ids.cast(pa.string()) for r in runs]))
    doc_vocabulary, doc_maps = joint_doc_vocabulary([r.doc_vocabulary for r in runs])
    joint_queries = [
        arrow.numbers(pc.index_in(r.query_ids.cast(pa.string()), value_set=query_ids)).astype(np.int32)
        for r in runs
    ]
    row_queries = [joint[r.qids] for r, joint in zip(runs, joint_queries, strict=True)]
    rows_per_query = np.zeros(len(query_ids), dtype=np.int64)
    for run, joint in zip(runs, joint_queries, strict=True):
        rows_per_query[joint] += np.diff(run.offsets)
    cumulative = np.cumsum(rows_per_query)
    total = int(cumulative[-1]) if len(cumulative) else 0
    cuts = np.searchsorted(cumulative, np.arange(BLOCK_ROWS, total, BLOCK_ROWS), side="right")
    edges = np.unique(np.concatenate([[0], cuts, [len(query_ids)]]).astype(np.int64))

    def blocks():
        for first, last in zip(edges[:-1], edges[1:], strict=True):
            block = []
            for run, queries, doc_map in zip(runs, row_queries, doc_maps, strict=True):
                lo, hi = np.searchsorted(queries, np.array([first, last], dtype=queries.dtype))
                block.append(_Side(queries[lo:hi], run.docs[lo:hi], run.scores[lo:hi], doc_map))
            yield block

    return query_ids, doc_vocabulary, blocks()


def _union(sides: Sequence[_Side]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The union rows of a block (query codes, doc codes; grouped by query) and, per side, the union
    row of each of its rows (one hash pass per query, in compiled code)."""
    queries, docs, rows = _fusion_kernels.union(
        [
            (s.queries, s.docs.astype(np.int32, copy=False), s.doc_map.astype(np.int64, copy=False))
            for s in sides
        ]
    )
    union_docs = np.frombuffer(docs, np.int64).astype(np.int32)
    return np.frombuffer(queries, np.int32), union_docs, [np.frombuffer(r, np.int64) for r in rows]


def _ranks(queries: np.ndarray) -> np.ndarray:
    """1-based position of every row within its query (rows grouped by query)."""
    index = np.arange(len(queries))
    starts = np.ones(len(queries), dtype=bool)
    starts[1:] = queries[1:] != queries[:-1]
    return index - np.maximum.accumulate(np.where(starts, index, 0)) + 1


def _sorted_unique(values: pa.Array) -> pa.Array:
    unique = pc.unique(values)
    return unique.take(pc.sort_indices(unique))


def _side_scores(
    side: _Side, rows: np.ndarray, union_qids: np.ndarray, normalization: str, missing: str
) -> np.ndarray:
    """One side's score for every union row: filled (min rule), normalised, 0 where it has none."""
    first_query = int(union_qids[0]) if len(union_qids) else 0
    local = union_qids - first_query
    values = np.full(len(union_qids), np.nan)
    values[rows] = side.scores
    stats = _query_stats(
        side, first_query, int(local[-1]) + 1 if len(local) else 0, normalization == "zscore"
    )
    if missing == "min":
        absent = np.isnan(values)
        values[absent] = stats.low[local[absent]]
    if normalization != "none":
        shift, width, constant = _normalizer(stats, normalization)
        scored = ~np.isnan(values)
        values = (values - shift[local]) / width[local]
        values[scored & np.isnan(width)[local]] = constant
    values[np.isnan(values)] = 0.0
    return values


@dataclass
class _Stats:
    """Per query of a block: lowest, highest, mean and std of one side's retrieved scores (NaN if absent)."""

    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def _query_stats(side: _Side, first_query: int, num_queries: int, moments: bool) -> _Stats:
    low, high, mean, std = (np.full(num_queries, np.nan) for _ in range(4))
    if len(side.scores):
        starts = np.flatnonzero(np.concatenate([[True], side.queries[1:] != side.queries[:-1]]))
        ends = np.append(starts[1:], len(side.scores))
        queries = side.queries[starts] - first_query
        high[queries] = side.scores[starts]
        low[queries] = side.scores[ends - 1]
        if moments:
            counts = ends - starts
            mean[queries] = np.add.reduceat(side.scores, starts) / counts
            centred = side.scores - np.repeat(mean[queries], counts)
            std[queries] = np.sqrt(np.add.reduceat(centred * centred, starts) / counts)
    return _Stats(low, high, mean, std)


def _normalizer(stats: _Stats, normalization: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Per query shift and width (NaN width where the list is constant) and the constant's value."""
    if normalization == "zscore":
        shift, width, constant = stats.mean, stats.std.copy(), 0.0
    else:
        width = stats.high - stats.low
        if normalization == "minmax":
            shift, constant = stats.low, 1.0
        else:
            shift, constant = (stats.low + stats.high) / 2, 0.0
    width[width == 0] = np.nan
    return shift, width, constant


def _rank_rows(
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
    ties = trec_order(qids, scores, docs, doc_vocabulary, by_score=True)
    if ties is not None:
        qids, docs, scores = qids[ties], docs[ties], scores[ties]
    if not extra:  # no tie ran past the cut
        return qids, docs, scores
    keep = _ranks(qids) <= hits
    return qids[keep], docs[keep], scores[keep]


def _run_from_blocks(query_ids: pa.Array, doc_vocabulary, ranked: list[tuple], tag: str) -> Run:
    """One run from the ranked (qids, docs, scores) of consecutive query blocks."""
    if not ranked:
        return Run(query_ids, doc_vocabulary, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0), tag)
    qids, docs, scores = (np.concatenate(column) for column in zip(*ranked, strict=True))
    return Run(query_ids, doc_vocabulary, qids, docs, scores, tag)


def _check_alpha(alpha: float) -> None:
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, not {alpha!r}")


def _positive(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)
