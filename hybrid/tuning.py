"""Tuning the fusion weight: a grid over alpha (and normalisations), scored trec_eval-exactly.

The sweep never fuses, writes and evaluates per grid point. The union of the two runs does not
depend on alpha, so it is built once; every measure depends only on where the *judged* rows land
(and, for ``num_ret`` and ``iprec_at_recall``, on list lengths). For a judged row j and any other
row i of its query, "i ranks above j" switches at most once along alpha, at the crossing of two
straight lines: one pass over these pairs gives every judged row's rank at every grid point.
Grid points next to a crossing are decided by the very float expression that :func:`hybrid.fuse`
computes (ties by doc id, as trec_eval), so each point scores exactly what fusing would.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybrid._threads import ordered_map
from hybrid.columns import vocabulary_strings
from hybrid.evaluation import Evaluator
from hybrid.formats.qrels import Qrels
from hybrid.fusion import NORMALIZATIONS, Candidates, RunLike, as_runs, interpolate, prepare
from hybrid.io import atomic_write

PAIRS_PER_CHUNK = 1 << 19
# Largest alpha grid (0:1:0.001): the sweep keeps one value per query and point, ~56 MB on MS MARCO dev.
MAX_GRID_POINTS = 1001
_TOLERANCE = 1e-12


@dataclass
class TuningResult:
    """The sweep, its best point, the two single runs' scores and (with folds) cross-validation."""

    metric: str
    best: dict
    sweep: list[dict]
    dense: float
    sparse: float
    settings: dict
    folds: list[dict] = field(default_factory=list)
    cross_validated: float | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        if not self.folds:
            del data["folds"], data["cross_validated"]
        return data

    def write_json(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        with atomic_write(path, overwrite) as out:
            json.dump(self.to_dict(), out, indent=2)
            out.write("\n")
        return Path(path)

    def summary(self) -> str:
        """A short table: the two single runs, the best point and, with folds, the held-out score."""
        best = self.best
        rows = [
            ("dense only", "", self.dense),
            ("sparse only", "", self.sparse),
            (f"hybrid ({best['normalization']})", f"{best['alpha']:.6g}", best["score"]),
        ]
        if self.cross_validated is not None:
            alphas = ", ".join(f"{f['alpha']:.4g}" for f in self.folds)
            rows.append((f"{len(self.folds)}-fold held-out", alphas, self.cross_validated))
        width, alpha_width = max(len(r[0]) for r in rows), max(10, *(len(r[1]) for r in rows))
        lines = [f"{'run':<{width}}  {'alpha':<{alpha_width}}  {self.metric}"]
        lines += [f"{name:<{width}}  {alpha:<{alpha_width}}  {score:.4f}" for name, alpha, score in rows]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """PNG of the metric against alpha (one line per normalisation), single runs as reference lines."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(7, 4.2))
        for normalization in dict.fromkeys(p["normalization"] for p in self.sweep):
            points = [p for p in self.sweep if p["normalization"] == normalization]
            axes.plot(
                [p["alpha"] for p in points], [p["score"] for p in points], label=f"hybrid ({normalization})"
            )
        axes.axhline(self.dense, color="tab:gray", linestyle="--", label=f"dense only ({self.dense:.4f})")
        axes.axhline(self.sparse, color="tab:brown", linestyle=":", label=f"sparse only ({self.sparse:.4f})")
        axes.plot([self.best["alpha"]], [self.best["score"]], "k*", markersize=10,
                  label=f"best: alpha={self.best['alpha']:.4g} ({self.best['score']:.4f})")  # fmt: skip
        positive = [p["alpha"] for p in self.sweep if p["alpha"] > 0]
        if positive and max(positive) / min(positive) > 50:
            axes.set_xscale("symlog", linthresh=min(positive))
        axes.set_xlabel(
            "alpha (weight of the " + ("dense" if self.settings["weight_on_dense"] else "sparse") + " side)"
        )
        axes.set_ylabel(self.metric)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        with atomic_write(path, overwrite, mode="wb") as out:
            figure.savefig(out, format="png", dpi=120)
        plt.close(figure)
        return Path(path)


def tune(
    qrels: Qrels | str | os.PathLike,
    dense: RunLike,
    sparse: RunLike,
    metric: str = "ndcg_cut.10",
    alphas: Sequence[float] | str | None = None,
    normalizations: Sequence[str] = ("none",),
    folds: int | None = None,
    weight_on_dense: bool = False,
    depth: int = 1000,
    hits: int = 1000,
    missing: str = "min",
    convex: bool = False,
    relevance_level: int = 1,
    seed: int = 0,
) -> TuningResult:
    """Score every (normalisation, alpha) of the grid on ``metric`` and pick the best.

    ``alphas``: a list, a ``"START:STOP:STEP"`` (inclusive) or comma string, or None for the default
    grid: 0 to 1 by 0.01 when ``convex``; otherwise 0 plus 100 log-spaced points from 1/100 to 100
    times the score-scale ratio r of the two sides (median over queries of the other side's score
    spread divided by the weighted side's), because the balanced alpha is about r: near 0.02 for
    cosine encoders (scores within [-1, 1]) against BM25 (scores in the tens), near 1 after
    normalisation. ``folds`` = K adds K-fold cross-validation over queries (seeded split): alpha is
    chosen on K-1 folds and scored on the held-out one. Ties between grid points go to the first.
    """
    qrels = qrels if isinstance(qrels, Qrels) else Qrels.read(qrels)
    evaluator = Evaluator(qrels, [metric], relevance_level)
    if len(evaluator.names) != 1:
        raise ValueError(f"tune needs exactly one measure; {metric!r} gives {evaluator.names}")
    name = evaluator.names[0]
    normalizations = [str(n) for n in dict.fromkeys(normalizations)]
    if not normalizations:
        raise ValueError("tune needs at least one normalization")
    for normalization in normalizations:
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalization!r}; expected one of {NORMALIZATIONS}")
    if folds is not None and folds < 2:
        raise ValueError(f"folds must be at least 2, not {folds}")
    runs = as_runs([dense, sparse])
    grid = parse_alphas(alphas) if alphas is not None else None
    dense_score, sparse_score = (_single_run_score(evaluator, run, hits, name) for run in runs)

    sweep, matrices = [], []
    for number, normalization in enumerate(normalizations, start=1):
        candidates = prepare(*runs, weight_on_dense, normalization, depth, missing)
        if number == len(normalizations):
            runs.clear()  # the last sweep needs only the candidates: free the runs before it
        points = grid if grid is not None else default_alphas(candidates, convex)
        query_ids, values = _sweep(evaluator, candidates, points, convex, hits)
        if not query_ids:
            raise ValueError("no query of the runs is judged in the qrels")
        matrices.append(values)
        sweep += [
            {"normalization": normalization, "alpha": float(a), "score": _summary(evaluator, v)}
            for a, v in zip(points, values, strict=True)
        ]
    per_query = np.concatenate(matrices)
    best_index = int(np.argmax([p["score"] for p in sweep]))
    result = TuningResult(
        metric=name,
        best=dict(sweep[best_index]),
        sweep=sweep,
        dense=dense_score,
        sparse=sparse_score,
        settings={
            "weight_on_dense": weight_on_dense,
            "depth": depth,
            "hits": hits,
            "missing": missing,
            "convex": convex,
            "relevance_level": relevance_level,
            "queries": len(query_ids),
        },
    )
    if folds:
        result.folds, result.cross_validated = _cross_validate(evaluator, sweep, per_query, folds, seed)
    return result


def parse_alphas(spec: Sequence[float] | str) -> np.ndarray:
    """Grid points from ``"START:STOP:STEP"`` (inclusive of STOP), ``"a,b,c"`` or a list; sorted, unique."""
    if isinstance(spec, str):
        try:
            if ":" in spec:
                start, stop, step = (float(v) for v in spec.split(":"))
                if not (step > 0 and stop >= start and math.isfinite(stop - start)):
                    raise ValueError
                count = int(math.floor((stop - start) / step + 1e-9)) + 1
            else:
                values = [float(v) for v in spec.split(",") if v.strip()]
        except ValueError:
            raise ValueError(
                f"bad alphas {spec!r}: expected START:STOP:STEP (STEP > 0, STOP >= START) or a comma list"
            ) from None
        if ":" in spec:
            _check_grid_size(count, spec)
            values = [round(start + i * step, 12) for i in range(count)]
    else:
        values = [float(v) for v in spec]
    grid = np.unique(np.array(values, dtype=np.float64))
    if not len(grid) or not np.isfinite(grid).all():
        raise ValueError(f"alphas must be finite numbers, got {spec!r}")
    _check_grid_size(len(grid), spec)
    return grid


def _check_grid_size(count: int, spec) -> None:
    if count > MAX_GRID_POINTS:
        raise ValueError(f"alphas {spec!r} give {count:,} points; at most {MAX_GRID_POINTS:,} are allowed")


def default_alphas(candidates: Candidates, convex: bool = False) -> np.ndarray:
    """0 to 1 by 0.01 if convex; else 0 and 100 log-spaced points over [r/100, 100 r] (3 significant digits)."""
    if convex:
        return np.round(np.linspace(0.0, 1.0, 101), 2)
    ratio = scale_ratio(candidates)
    points = [float(f"{a:.3g}") for a in np.geomspace(ratio / 100, ratio * 100, 100)]
    return np.unique(np.array([0.0, *points]))


def scale_ratio(candidates: Candidates) -> float:
    """Median over queries of (spread of the other side) / (spread of the weighted side); 1 if undefined."""
    if not len(candidates.qids):
        return 1.0
    starts = candidates.offsets[:-1]
    spreads = [
        np.maximum.reduceat(values, starts) - np.minimum.reduceat(values, starts)
        for values in (candidates.other, candidates.weighted)
    ]
    usable = (spreads[0] > 0) & (spreads[1] > 0)
    return float(np.median(spreads[0][usable] / spreads[1][usable])) if usable.any() else 1.0


# --------------------------------------------------------------------------- the sweep
def _sweep(
    evaluator: Evaluator, candidates: Candidates, alphas: np.ndarray, convex: bool, hits: int
) -> tuple[list[str], np.ndarray]:
    """Judged query ids and the per-query metric at every alpha (shape: alphas x queries)."""
    offsets = candidates.offsets
    all_queries = candidates.query_ids.to_pylist()
    judged_query = np.array([q in evaluator.qrels for q in all_queries], dtype=bool)
    query_ids = [q for q, judged in zip(all_queries, judged_query, strict=True) if judged]
    rows, grades = evaluator.judged_rows(
        candidates.query_ids, candidates.doc_vocabulary, candidates.qids, candidates.docs
    )
    order = np.argsort(alphas, kind="stable")
    ranks = np.empty((len(rows), len(alphas)), dtype=np.int64)
    ranks[:, order] = _judged_ranks(candidates, offsets, rows, alphas[order], convex)
    lengths = np.minimum(np.diff(offsets), hits)[judged_query]
    evaluated = np.cumsum(judged_query) - 1  # union query index -> evaluated query index
    row_query = evaluated[candidates.qids[rows]]
    values = evaluator.score_orderings(query_ids, lengths, row_query, grades, ranks)
    return query_ids, values[evaluator.names[0]]


def _judged_ranks(
    candidates: Candidates, offsets: np.ndarray, rows: np.ndarray, alphas: np.ndarray, convex: bool
) -> np.ndarray:
    """1-based rank within its query of every judged row at every (ascending) alpha."""
    num_alphas = len(alphas)
    above = np.zeros((len(rows), num_alphas + 1), dtype=np.int64)  # difference array along alpha
    queries = candidates.qids[rows]
    sizes = offsets[queries + 1] - offsets[queries]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    chunk_starts = np.searchsorted(bounds, np.arange(0, bounds[-1] + 1, PAIRS_PER_CHUNK), side="right") - 1
    edges = np.unique(np.concatenate([chunk_starts, [len(rows)]]))
    # Chunks own disjoint row ranges of ``above``, so they can run side by side.
    for _ in ordered_map(
        lambda bounds: _count_pairs(
            candidates, offsets, rows, *bounds, alphas, convex, above[bounds[0] : bounds[1]]
        ),
        zip(edges[:-1], edges[1:], strict=True),
    ):
        pass
    return 1 + np.cumsum(above[:, :-1], axis=1)


def _count_pairs(
    candidates: Candidates,
    offsets: np.ndarray,
    rows: np.ndarray,
    lo: int,
    hi: int,
    alphas: np.ndarray,
    convex: bool,
    above: np.ndarray,
) -> None:
    """Add, for judged rows ``lo:hi``, how many rows of their query rank above them along alpha
    (``above`` holds those rows' difference arrays)."""
    num_alphas = len(alphas)
    judged = rows[lo:hi]
    starts = offsets[candidates.qids[judged]]
    sizes = offsets[candidates.qids[judged] + 1] - starts
    local = np.repeat(np.arange(hi - lo), sizes)  # index into above
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    i = np.repeat(starts, sizes) + np.arange(len(local)) - first
    j = rows[lo + local]
    distinct = i != j
    i, j, local = i[distinct], j[distinct], local[distinct]

    other, weighted = candidates.other, candidates.weighted
    intercept = other[i] - other[j]
    slope = weighted[i] - weighted[j]
    if convex:
        slope = slope - intercept
    reach = max(1.0, float(np.abs(alphas).max()))
    scale = (1.0 + reach) * (np.abs(other[i]) + np.abs(other[j]) + np.abs(weighted[i]) + np.abs(weighted[j]))
    gap = float(np.diff(alphas).min()) if num_alphas > 1 else math.inf
    flat = slope == 0
    identical = flat & (intercept == 0)
    with np.errstate(invalid="ignore"):  # 0 * inf for flat pairs with a single grid point
        steep_enough = np.abs(slope) * gap > _TOLERANCE * scale
    unsure = np.where(flat, ~identical & (np.abs(intercept) <= _TOLERANCE * scale), ~steep_enough)

    def ranks_above(pairs: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Whether row i ranks above row j at grid point k, from fuse's own float expression."""
        a = alphas[k]
        fused_i = interpolate(other[i[pairs]], weighted[i[pairs]], a, convex)
        fused_j = interpolate(other[j[pairs]], weighted[j[pairs]], a, convex)
        result = fused_i > fused_j
        tied = np.flatnonzero(fused_i == fused_j)
        if len(tied):
            result[tied] = _docid_greater(candidates, i[pairs[tied]], j[pairs[tied]])
        return result

    # Constant order: strictly above (or below) at every alpha, or identical scores (doc id decides).
    always = flat & ~unsure & (intercept > 0)
    if identical.any():
        same = np.flatnonzero(identical)
        always[same] = _docid_greater(candidates, i[same], j[same])
    above[:, 0] += np.bincount(local[always], minlength=len(above))

    # One crossing: the exact lines fix every grid point but the two around the crossing, and
    # those two are decided by fuse's own float expression.
    crossing = np.flatnonzero(~flat & ~unsure)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        point = -intercept[crossing] / slope[crossing]
    c = np.searchsorted(alphas, point, side="left")
    rising = slope[crossing] > 0
    has_prev, has_next = c >= 1, c <= num_alphas - 1
    prev, next_ = np.zeros(len(c), bool), np.zeros(len(c), bool)
    prev[has_prev] = ranks_above(crossing[has_prev], c[has_prev] - 1)
    next_[has_next] = ranks_above(crossing[has_next], c[has_next])
    # Rising pairs are above from their switch point on, falling pairs up to it.
    switch = np.where(has_prev & (prev == rising), c - 1, np.where(has_next & (next_ == rising), c, c + 1))
    switch = np.clip(switch, 0, num_alphas)
    width = num_alphas + 1
    owner = local[crossing]
    flips = np.bincount(owner[rising] * width + switch[rising], minlength=above.size)
    flips -= np.bincount(owner[~rising] * width + switch[~rising], minlength=above.size)
    above += flips.reshape(above.shape)
    above[:, 0] += np.bincount(owner[~rising], minlength=len(above))

    # Pairs too close to call from the lines: evaluate every grid point.
    for pair in np.flatnonzero(unsure):
        state = ranks_above(np.full(num_alphas, pair), np.arange(num_alphas)).astype(np.int64)
        above[local[pair]] += np.diff(np.concatenate([[0], state, [0]]))


def _docid_greater(candidates: Candidates, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Whether row i's doc id sorts after row j's (byte order): i ranks first on a score tie."""
    left = vocabulary_strings(candidates.doc_vocabulary, candidates.docs[i])
    right = vocabulary_strings(candidates.doc_vocabulary, candidates.docs[j])
    return pc.greater(left.cast(pa.binary()), right.cast(pa.binary())).to_numpy(zero_copy_only=False)


# --------------------------------------------------------------------------- summaries
def _summary(evaluator: Evaluator, values: np.ndarray) -> float:
    """trec_eval's summary of per-query values (a mean; a sum for counts such as num_ret)."""
    return evaluator.aggregate({evaluator.names[0]: values})[evaluator.names[0]]


def _single_run_score(evaluator: Evaluator, run, hits: int, name: str) -> float:
    return evaluator.evaluate(run.top(hits)).summary[name]


def _cross_validate(
    evaluator: Evaluator, sweep: list[dict], per_query: np.ndarray, folds: int, seed: int
) -> tuple[list[dict], float]:
    """K-fold over queries: pick the grid point on K-1 folds, score it on the held-out fold."""
    num_queries = per_query.shape[1]
    if folds > num_queries:
        raise ValueError(f"{folds} folds need at least {folds} judged queries; the runs have {num_queries}")
    permutation = np.random.default_rng(seed).permutation(num_queries)
    held_out = np.zeros(num_queries)
    report = []
    for number, test in enumerate(np.array_split(permutation, folds), start=1):
        train = np.setdiff1d(permutation, test)
        train_scores = per_query[:, train].mean(axis=1)
        pick = int(np.argmax(train_scores))
        held_out[test] = per_query[pick, test]
        report.append(
            {
                "fold": number,
                "queries": len(test),
                "normalization": sweep[pick]["normalization"],
                "alpha": sweep[pick]["alpha"],
                "train_score": float(train_scores[pick]),
                "test_score": _summary(evaluator, per_query[pick, np.sort(test)]),
            }
        )
    return report, _summary(evaluator, held_out)
