"""Fusion of runs, every method scoring one shared candidate union (:mod:`hybrid.fusion.union`).

- interpolation (:mod:`~hybrid.fusion.interpolation`): the paper's dense + alpha * sparse, with
  the per-query normalisations of :mod:`~hybrid.fusion.normalization`; tuning sweeps its alpha;
- rank-based (:mod:`~hybrid.fusion.rank_based`): RRF;
- score-based (:mod:`~hybrid.fusion.score_based`): CombSUM, CombMNZ, CombMAX, Pyserini's average.

Everything is vectorised over the columnar :class:`~hybrid.Run`, a block of queries of about
``BLOCK_ROWS`` input rows at a time.
"""

from hybrid.fusion.interpolation import Candidates, fuse, interpolate, prepare
from hybrid.fusion.normalization import MISSING, NORMALIZATIONS
from hybrid.fusion.rank_based import rrf
from hybrid.fusion.score_based import average, combmax, combmnz, combsum
from hybrid.fusion.union import RunLike, as_runs

BLOCK_ROWS = 1 << 19  # input rows handled at once: bounds memory on MS MARCO-sized runs
# Methods that fuse a list of runs (``hybrid fuse --method NAME --runs ...``).
RUN_LIST_METHODS = {
    "rrf": rrf,
    "combsum": combsum,
    "combmnz": combmnz,
    "combmax": combmax,
    "average": average,
}

__all__ = ["BLOCK_ROWS", "MISSING", "NORMALIZATIONS", "RUN_LIST_METHODS", "Candidates", "RunLike", "as_runs",
           "average", "combmax", "combmnz", "combsum", "fuse", "interpolate", "prepare", "rrf"]  # fmt: skip
