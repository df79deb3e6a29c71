"""Score-based fusion of any number of runs (Fox & Shaw's CombSUM, CombMNZ, CombMAX; Pyserini's
``average``), each over the per-query normalised scores of the runs that retrieved a document.

Definitions follow ranx (``ranx.fuse(..., method="sum" | "mnz" | "max")``) and
``pyserini.fusion --method average``; a document a run did not retrieve adds nothing. The default
normalisation is ranx's ``min-max`` (ours maps a constant list to 1, ranx's to 0: see
:mod:`hybrid.fusion.normalization`), none for ``average`` as in Pyserini.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hybrid.formats.runs import Run, require_scores
from hybrid.fusion.normalization import check
from hybrid.fusion.union import RunLike, as_runs, fuse_union


def combsum(runs: Sequence[RunLike], normalization: str = "minmax", depth: int = 1000, hits: int = 1000,
            tag: str = "combsum") -> Run:  # fmt: skip
    """CombSUM: the sum of a document's normalised scores."""
    return _combine(runs, normalization, depth, hits, tag, lambda union, scores: sum(scores))


def combmnz(runs: Sequence[RunLike], normalization: str = "minmax", depth: int = 1000, hits: int = 1000,
            tag: str = "combmnz") -> Run:  # fmt: skip
    """CombMNZ: CombSUM times the number of runs that retrieved the document."""
    return _combine(runs, normalization, depth, hits, tag, lambda union, scores: sum(scores) * union.hits())


def combmax(runs: Sequence[RunLike], normalization: str = "minmax", depth: int = 1000, hits: int = 1000,
            tag: str = "combmax") -> Run:  # fmt: skip
    """CombMAX: a document's highest normalised score."""
    return _combine(runs, normalization, depth, hits, tag, lambda union, scores: np.fmax.reduce(scores), None)


def average(runs: Sequence[RunLike], normalization: str = "none", depth: int = 1000, hits: int = 1000,
            tag: str = "average") -> Run:  # fmt: skip
    """Pyserini's ``average``: the sum of a document's scores, each scaled by 1 / (number of runs)."""
    scale = 1 / len(runs) if runs else 0.0
    return _combine(
        runs, normalization, depth, hits, tag, lambda union, scores: sum(s * scale for s in scores)
    )


def _combine(runs, normalization, depth, hits, tag, combine, missing: str | None = "zero") -> Run:
    """Fuse with ``combine(union, scores)``, ``scores`` holding each run's normalised score per union
    row (0 where it has none, or NaN with ``missing=None``)."""
    if not runs:
        raise ValueError(f"{tag} needs at least one run")
    check(normalization)
    runs = [require_scores(run, tag) for run in as_runs(runs)]
    return fuse_union(
        runs, depth, hits, tag, lambda union: combine(union, union.scores(normalization, missing))
    )
