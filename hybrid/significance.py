"""Paired significance tests over per-query values: Student's t-test and a randomisation test."""

from __future__ import annotations

import numpy as np


def paired_t_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the paired t-test of ``a`` against ``b`` (1.0 when they never differ)."""
    from scipy import stats

    diff = np.asarray(a, float) - np.asarray(b, float)
    if len(diff) < 2 or not diff.any():
        return 1.0
    if np.allclose(diff, diff[0]):
        return 0.0
    return float(stats.ttest_rel(a, b).pvalue)


def randomisation_test(a: np.ndarray, b: np.ndarray, trials: int = 10_000, seed: int = 42) -> float:
    """Two-sided p-value of Fisher's paired randomisation test: the share of random sign flips of
    the per-query differences whose mean is at least as far from zero as the observed mean
    (with the +1 correction, so it never reports 0)."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    if len(diff) == 0 or not diff.any():
        return 1.0
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    extreme, done = 0, 0
    while done < trials:
        batch = min(1000, trials - done)
        signs = rng.integers(0, 2, size=(batch, len(diff)), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ diff) / len(diff)
        extreme += int((means >= observed - 1e-12).sum())
        done += batch
    return (extreme + 1) / (trials + 1)
