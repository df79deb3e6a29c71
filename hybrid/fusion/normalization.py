"""Per-query score normalisations, applied to each run before a score-based method combines them.

Conventions (each over one run's retrieved scores for one query, before any filling):

- ``none``: scores as they are;
- ``minmax``: (s - min) / (max - min), in [0, 1]; a constant list maps to 1 (Pyserini's
  ``normalize``; ranx's ``min-max`` maps it to 0);
- ``pyserini``: (s - (min + max) / 2) / (max - min), Pyserini ``HybridSearcher``'s centring; a
  constant list maps to 0;
- ``zscore``: (s - mean) / std with the population std; a constant list maps to 0.

A document a run did not retrieve gets, when filled with the run's minimum, the normalised minimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORMALIZATIONS = ("none", "minmax", "pyserini", "zscore")
MISSING = ("min", "zero")


def side_scores(
    queries: np.ndarray,
    scores: np.ndarray,
    rows: np.ndarray,
    union_qids: np.ndarray,
    normalization: str,
    missing: str | None,
) -> np.ndarray:
    """One run's score for every union row: filled (``missing="min"``), normalised, and where it
    has none 0 (``"min"``, ``"zero"``) or NaN (None). ``queries``/``scores``: the run's rows (joint
    query codes, grouped); ``rows``: the union row of each."""
    first_query = int(union_qids[0]) if len(union_qids) else 0
    local = union_qids - first_query
    values = np.full(len(union_qids), np.nan)
    values[rows] = scores
    stats = _query_stats(
        queries, scores, first_query, int(local[-1]) + 1 if len(local) else 0, normalization == "zscore"
    )
    if missing == "min":
        absent = np.isnan(values)
        values[absent] = stats.low[local[absent]]
    if normalization != "none":
        shift, width, constant = _normalizer(stats, normalization)
        scored = ~np.isnan(values)
        values = (values - shift[local]) / width[local]
        values[scored & np.isnan(width)[local]] = constant
    if missing is not None:
        values[np.isnan(values)] = 0.0
    return values


def check(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; expected one of {NORMALIZATIONS}")


@dataclass
class _Stats:
    """Per query of a block: lowest, highest, mean and std of one run's retrieved scores (NaN if absent)."""

    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def _query_stats(
    queries: np.ndarray, scores: np.ndarray, first_query: int, num_queries: int, moments: bool
) -> _Stats:
    low, high, mean, std = (np.full(num_queries, np.nan) for _ in range(4))
    if len(scores):
        starts = np.flatnonzero(np.concatenate([[True], queries[1:] != queries[:-1]]))
        ends = np.append(starts[1:], len(scores))
        local = queries[starts] - first_query
        high[local] = scores[starts]
        low[local] = scores[ends - 1]
        if moments:
            counts = ends - starts
            mean[local] = np.add.reduceat(scores, starts) / counts
            centred = scores - np.repeat(mean[local], counts)
            std[local] = np.sqrt(np.add.reduceat(centred * centred, starts) / counts)
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
