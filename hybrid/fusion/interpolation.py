"""The paper's linear interpolation of a dense and a sparse run (Pyserini ``HybridSearcher`` semantics).

:func:`prepare` gives tuning the alpha-independent :class:`Candidates`; :func:`interpolate` is the
one expression every fused score comes from, so tuning reproduces fusion bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from hybrid._threads import ordered_map
from hybrid.formats.runs import Run, require_scores
from hybrid.fusion.normalization import MISSING, check
from hybrid.fusion.union import RunLike, Side, Union, as_runs, fuse_union, positive, query_blocks, rank_rows


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
        ranked = rank_rows(self.qids, self.docs, scores, self.doc_vocabulary, hits)
        return Run(self.query_ids, self.doc_vocabulary, *ranked, tag)


def interpolate(other: np.ndarray, weighted: np.ndarray, alpha: float, convex: bool = False) -> np.ndarray:
    """``other + alpha * weighted``, or ``(1 - alpha) * other + alpha * weighted`` when convex."""
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

    ``normalization`` maps each side's scores per query before combining (``minmax``, ``pyserini``,
    ``zscore``: see :mod:`hybrid.fusion.normalization`). A query that one side did not retrieve at
    all is ranked by the other side alone (the absent side contributes 0). Returns the top ``hits``
    per query as a new run tagged ``tag``.
    """
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, not {alpha!r}")
    _check(normalization, missing)
    runs = [require_scores(run, "score interpolation") for run in as_runs([dense, sparse])]
    return fuse_union(
        runs, depth, hits, tag,
        lambda union: interpolate(*_sides(union, weight_on_dense, normalization, missing), alpha, convex),
    )  # fmt: skip


def prepare(
    dense: RunLike,
    sparse: RunLike,
    weight_on_dense: bool = False,
    normalization: str = "none",
    depth: int = 1000,
    missing: str = "min",
) -> Candidates:
    """Match two runs' top-``depth`` rows and fill/normalise both sides (independent of alpha)."""
    _check(normalization, missing)
    depth = positive("depth", depth)
    runs = [require_scores(r, "score interpolation").top(depth) for r in as_runs([dense, sparse])]
    query_ids, doc_vocabulary, blocks = query_blocks(runs)

    def block_rows(block: list[Side]) -> tuple[np.ndarray, ...]:
        union = Union.of(block)
        return union.qids, union.docs, *_sides(union, weight_on_dense, normalization, missing)

    # Filled block by block into columns sized for the worst case (no document shared), so the
    # blocks are never held all at once beside their concatenation.
    bound = sum(len(run) for run in runs)
    qids, docs = np.empty(bound, np.int32), np.empty(bound, np.int32)
    other, weighted = np.empty(bound), np.empty(bound)
    filled = 0
    for part in ordered_map(block_rows, blocks):
        end = filled + len(part[0])
        for column, values in zip((qids, docs, other, weighted), part, strict=True):
            column[filled:end] = values
        filled = end
    return Candidates(
        query_ids, doc_vocabulary, qids[:filled], docs[:filled], other[:filled], weighted[:filled]
    )


def _sides(
    union: Union, weight_on_dense: bool, normalization: str, missing: str
) -> tuple[np.ndarray, np.ndarray]:
    """(other, weighted): both runs' scores for a block's union rows, filled and normalised."""
    dense, sparse = union.scores(normalization, missing)
    return (sparse, dense) if weight_on_dense else (dense, sparse)


def _check(normalization: str, missing: str) -> None:
    check(normalization)
    if missing not in MISSING:
        raise ValueError(f"unknown missing-document rule {missing!r}; expected one of {MISSING}")
