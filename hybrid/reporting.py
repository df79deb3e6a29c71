"""Comparing several evaluated runs against a baseline with paired significance tests."""

from __future__ import annotations

import numpy as np

from hybrid.evaluation import Evaluator, Result
from hybrid.significance import paired_t_test, randomisation_test


def paired_values(evaluator: Evaluator, a: Result, b: Result, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-query values of two runs on the same queries: all judged queries with -c, else the
    judged queries either run answered; a query a run did not answer counts 0."""
    if evaluator.complete:
        queries = evaluator.qrels.query_ids
    else:
        queries = sorted(set(a.query_ids) | set(b.query_ids), key=str.encode)

    def aligned(result: Result) -> np.ndarray:
        index = {q: i for i, q in enumerate(result.query_ids)}
        values = result.per_query[name]
        return np.array([values[index[q]] if q in index else 0.0 for q in queries])

    return aligned(a), aligned(b)


def significance_table(
    evaluator: Evaluator, results: dict[str, Result], runs: list[str], baseline: str
) -> dict:
    """``{run: {"measures": {...}, "p_t": {...}, "p_rand": {...}}}``; the baseline has no p-values."""
    report: dict = {}
    tested = [n for n in evaluator.names if n not in ("num_q", "gm_map")]
    for path in dict.fromkeys([baseline, *runs]):
        entry: dict = {"measures": results[path].to_dict()}
        if path != baseline:
            entry["p_t"], entry["p_rand"] = {}, {}
            for name in tested:
                a, b = paired_values(evaluator, results[path], results[baseline], name)
                entry["p_t"][name] = paired_t_test(a, b)
                entry["p_rand"][name] = randomisation_test(a, b)
            for name in set(evaluator.names) - set(tested):
                entry["p_t"][name] = entry["p_rand"][name] = float("nan")
        report[path] = entry
    return report
