"""Rank-based fusion: reciprocal rank fusion (Cormack et al., SIGIR 2009)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hybrid.formats.runs import Run
from hybrid.fusion.union import RunLike, Union, fuse_union


def rrf(runs: Sequence[RunLike], k: float = 60, depth: int = 1000, hits: int = 1000, tag: str = "rrf") -> Run:
    """Reciprocal rank fusion: the sum over runs of 1 / (k + rank), a missing document adding 0.

    Ranks follow each run's score order (trec_eval's order; ``pyserini.fusion --resort``).
    """
    if not runs:
        raise ValueError("rrf needs at least one run")
    if not np.isfinite(k) or k < 0:
        raise ValueError(f"rrf k must be a non-negative number, not {k!r}")

    def score(union: Union) -> np.ndarray:
        scores = np.zeros(len(union.qids))
        for rows, ranks in zip(union.rows, union.ranks(), strict=True):
            scores[rows] += 1.0 / (k + ranks)
        return scores

    return fuse_union(runs, depth, hits, tag, score)
