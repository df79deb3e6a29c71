"""Direct, slow re-implementations of the fusion formulas, one document at a time, on plain dicts."""

from __future__ import annotations

import numpy as np


def ranked(hits: dict[str, float]) -> list[tuple[str, float]]:
    """trec_eval order: score descending, ties by document id descending."""
    by_docid = sorted(hits.items(), key=lambda item: item[0].encode(), reverse=True)
    return sorted(by_docid, key=lambda item: -item[1])


def top(hits: dict[str, float], depth: int) -> dict[str, float]:
    return dict(ranked(hits)[:depth])


class Side:
    """One run's top list for one query, with the statistics the normalisations use."""

    def __init__(self, hits: dict[str, float]):
        self.hits = hits
        values = [score for _, score in ranked(hits)]
        self.low, self.high = (min(values), max(values)) if values else (None, None)
        if values:
            array = np.array(values)
            self.mean = array.sum() / len(array)
            self.std = np.sqrt(((array - self.mean) ** 2).sum() / len(array))

    def value(self, docid: str, normalization: str, missing: str) -> float:
        """This side's contribution for one document, as the issue states the rules."""
        if not self.hits:
            return 0.0
        if docid in self.hits:
            value = self.hits[docid]
        elif missing == "min":
            value = self.low
        else:
            return 0.0
        low, high = self.low, self.high
        if normalization == "minmax":
            return 1.0 if high == low else (value - low) / (high - low)
        if normalization == "pyserini":
            return 0.0 if high == low else (value - (low + high) / 2) / (high - low)
        if normalization == "zscore":
            return 0.0 if self.std == 0 else (value - self.mean) / self.std
        return value


def fuse(
    dense: dict[str, dict[str, float]],
    sparse: dict[str, dict[str, float]],
    alpha: float = 0.1,
    weight_on_dense: bool = False,
    normalization: str = "none",
    depth: int = 1000,
    hits: int = 1000,
    missing: str = "min",
    convex: bool = False,
) -> dict[str, list[tuple[str, float]]]:
    """``{qid: [(docid, score), ...]}`` in rank order."""
    fused = {}
    for qid in sorted(set(dense) | set(sparse), key=str.encode):
        dense_top, sparse_top = Side(top(dense.get(qid, {}), depth)), Side(top(sparse.get(qid, {}), depth))
        scores = {}
        for docid in set(dense_top.hits) | set(sparse_top.hits):
            d = dense_top.value(docid, normalization, missing)
            s = sparse_top.value(docid, normalization, missing)
            other, weighted = (s, d) if weight_on_dense else (d, s)
            scores[docid] = (1.0 - alpha) * other + alpha * weighted if convex else other + alpha * weighted
        fused[qid] = ranked(scores)[:hits]
    return fused


def rrf(runs: list[dict[str, dict[str, float]]], k: float = 60, depth: int = 1000, hits: int = 1000):
    fused = {}
    for qid in sorted({q for run in runs for q in run}, key=str.encode):
        scores: dict[str, float] = {}
        for run in runs:
            for rank, (docid, _) in enumerate(ranked(run.get(qid, {}))[:depth], start=1):
                scores[docid] = scores.get(docid, 0.0) + 1.0 / (k + rank)
        fused[qid] = ranked(scores)[:hits]
    return fused
