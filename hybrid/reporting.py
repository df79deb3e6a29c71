"""Several evaluated runs side by side: paired significance tests against a baseline and text tables."""

from __future__ import annotations

import numpy as np

from hybrid.evaluation import Evaluator, Result
from hybrid.significance import paired_t_test, randomisation_test

UNTESTED = ("num_q", "gm_map")  # no per-query values to pair


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
) -> dict[str, dict[str, dict[str, float]]]:
    """``{run: {"p_t": {measure: p}, "p_rand": {measure: p}}}`` for every run but the baseline: paired
    t-test and randomisation-test p-values of each measure with per-query values (not num_q, gm_map)."""
    tested = [n for n in evaluator.names if n not in UNTESTED]
    report: dict = {}
    for path in dict.fromkeys(runs):
        if path == baseline:
            continue
        pairs = {name: paired_values(evaluator, results[path], results[baseline], name) for name in tested}
        report[path] = {
            "p_t": {name: paired_t_test(a, b) for name, (a, b) in pairs.items()},
            "p_rand": {name: randomisation_test(a, b) for name, (a, b) in pairs.items()},
        }
    return report


def summary_table(names: list[str], results: dict[str, Result], p_values: dict | None = None) -> str:
    """One row per run, one column per measure (4 decimals), p-values in brackets when given."""
    p_values = p_values or {}
    rows = [["run", *names]]
    for path, result in results.items():
        tests = p_values.get(path, {})
        cells = [path]
        for name, value in result.to_dict().items():
            cell = _cell(value)
            if name in tests.get("p_t", {}):
                cell += f" ({tests['p_t'][name]:.3f}/{tests['p_rand'][name]:.3f})"
            cells.append(cell)
        rows.append(cells)
    text = _columns(rows)
    if p_values:
        text += "\n(in brackets: p-values against the baseline, paired t-test / randomisation test with 10,000 trials)"
    return text


def per_query_tables(results: dict[str, Result]) -> str:
    """For each measure with per-query values, a table headed by its name: one row per query (in
    trec_eval's byte order), one column per run, '-' where a run has no value for the query."""
    values = {path: result.per_query_dict() for path, result in results.items()}
    queries = sorted(set().union(*values.values()), key=str.encode)
    names = [n for n in next(iter(results.values())).names if n not in UNTESTED]
    tables = []
    for name in names:
        rows = [[name, *results]]
        for qid in queries:
            rows.append([qid, *(_cell(v[qid][name]) if qid in v else "-" for v in values.values())])
        tables.append(_columns(rows))
    return "\n\n".join(tables)


def _cell(value: float | int) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _columns(rows: list[list[str]]) -> str:
    """Rows as aligned columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
