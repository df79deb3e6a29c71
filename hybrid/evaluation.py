"""trec_eval-exact evaluation, vectorised over columnar runs.

Every measure follows trec_eval 9.0.4 to the bit where it can (same summation order, same
discounts from the C library's ``log2``, the same rank-cutoff rounding), so printed values agree
to the last digit; ``tests/evaluation`` checks that against the real trec_eval binary.

Measures are named as in trec_eval (``map``, ``ndcg_cut.10,100``, ``P.10``, ``recall.1000``,
``recip_rank``, ``Rprec``, ``bpref``, ``success.1,10``, ``num_rel_ret`` ...) or by readable alias
(``MAP``, ``nDCG@10``, ``R@1000``, ``P@10``, ``MRR@10`` = recip_rank over the top 10).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybrid.formats import _arrow as arrow
from hybrid.formats.qrels import Qrels
from hybrid.formats.runs import Run

# trec_eval's measure table order, which fixes the output order.
FAMILIES = (
    "num_q",
    "num_ret",
    "num_rel",
    "num_rel_ret",
    "map",
    "gm_map",
    "Rprec",
    "bpref",
    "recip_rank",
    "iprec_at_recall",
    "P",
    "recall",
    "ndcg",
    "ndcg_cut",
    "map_cut",
    "success",
    "num_nonrel_judged_ret",
    "MRR",
)
DEFAULT_CUTOFFS = {
    "P": (5, 10, 15, 20, 30, 100, 200, 500, 1000),
    "recall": (5, 10, 15, 20, 30, 100, 200, 500, 1000),
    "ndcg_cut": (5, 10, 15, 20, 30, 100, 200, 500, 1000),
    "map_cut": (5, 10, 15, 20, 30, 100, 200, 500, 1000),
    "success": (1, 5, 10),
    "iprec_at_recall": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
}
COUNTS = frozenset({"num_q", "num_ret", "num_rel", "num_rel_ret", "num_nonrel_judged_ret"})
OFFICIAL = ["num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref", "recip_rank",
            "iprec_at_recall", "P"]  # fmt: skip
ALIASES = {
    "map": "map",
    "ap": "map",
    "ndcg": "ndcg_cut",
    "r": "recall",
    "recall": "recall",
    "p": "P",
    "precision": "P",
    "success": "success",
    "mrr": "MRR",
    "rr": "MRR",
}
MIN_GEO_MEAN = 0.00001


@dataclass(frozen=True)
class Measure:
    """One trec_eval measure family with its parameters (rank cutoffs or recall levels)."""

    family: str
    params: tuple = ()

    def output_names(self) -> list[str]:
        if self.family == "iprec_at_recall":
            return [f"iprec_at_recall_{p:.2f}" for p in self.params]
        if self.family == "MRR":
            return [f"MRR@{k}" for k in self.params]
        if self.params:
            return [f"{self.family}_{k}" for k in self.params]
        return [self.family]


def parse_measures(specs: Iterable[str]) -> list[Measure]:
    """Parse trec_eval specs (``ndcg_cut.10,100``) and aliases (``nDCG@10``) into measures in
    trec_eval's order; cutoffs given for one family in several specs are merged."""
    params: dict[str, set] = {}
    for spec in specs:
        family, values = _parse_one(spec)
        params.setdefault(family, set()).update(values)
    for family, values in params.items():
        if not values and family in DEFAULT_CUTOFFS:
            values.update(DEFAULT_CUTOFFS[family])
    return [Measure(f, tuple(sorted(params[f]))) for f in FAMILIES if f in params]


def _parse_one(spec: str) -> tuple[str, tuple]:
    spec = spec.strip()
    if spec == "official":
        raise ValueError("'official' is a set: pass no -m to get it")
    alias = re.fullmatch(r"([A-Za-z]+)@(\d+)", spec)
    if alias:
        family = ALIASES.get(alias.group(1).lower())
        if family is None:
            raise ValueError(f"unknown measure alias {spec!r} (known: {', '.join(sorted(ALIASES))} with @k)")
        return family, (int(alias.group(2)),)
    if spec.lower() in ("map", "ap"):
        return "map", ()
    if spec == "nDCG":
        return "ndcg", ()
    family, _, raw = spec.partition(".")
    if family not in FAMILIES or family == "MRR":
        raise ValueError(
            f"unknown measure {spec!r} (trec_eval names: {', '.join(FAMILIES[:-1])}; or aliases like nDCG@10)"
        )
    if not raw:
        return family, ()
    if family not in DEFAULT_CUTOFFS:
        raise ValueError(f"measure {family!r} takes no parameters (got {spec!r})")
    try:
        if family == "iprec_at_recall":
            values = tuple(float(v) for v in raw.split(","))
        else:
            values = tuple(int(v) for v in raw.split(","))
    except ValueError:
        raise ValueError(f"bad parameters in {spec!r}: expected comma-separated numbers") from None
    if family != "iprec_at_recall" and min(values) <= 0:
        raise ValueError(f"cutoffs in {spec!r} must be positive")
    return family, values


def output_names(measures: Sequence[Measure]) -> list[str]:
    return [name for m in measures for name in m.output_names()]


@cache
def _discounts(n: int) -> np.ndarray:
    """``log2(rank + 1)`` for ranks 1..n, from the C library as trec_eval computes it."""
    return np.array([math.log2(r + 1) for r in range(1, n + 1)], dtype=np.float64)


def _discount(ranks: np.ndarray) -> np.ndarray:
    size = 1 << max(int(ranks.max()).bit_length(), 10) if len(ranks) else 1
    return _discounts(size)[ranks - 1]


@dataclass
class _Judgments:
    """Qrels as sorted arrays for vectorised lookup."""

    query_ids: list[str]  # byte order
    doc_ids: pa.Array
    keys: np.ndarray  # query index * num_docs + doc index, sorted
    grades: np.ndarray  # aligned with keys
    index_of: dict[str, int] = field(default_factory=dict)
    numeric: tuple[np.ndarray, np.ndarray] | None = None  # integer doc ids and their indices


def _judgments(qrels: Qrels) -> _Judgments:
    query_ids = qrels.query_ids
    docs = sorted({d for q in query_ids for d in qrels[q]})
    doc_index = {d: i for i, d in enumerate(docs)}
    width = max(len(docs), 1)
    keys, grades = [], []
    for qi, qid in enumerate(query_ids):
        for docid, grade in qrels[qid].items():
            keys.append(qi * width + doc_index[docid])
            grades.append(grade)
    keys_arr = np.array(keys, dtype=np.int64)
    order = np.argsort(keys_arr)
    integer = [
        (int(d), i) for i, d in enumerate(docs) if d.isascii() and d.isdigit() and (d == "0" or d[0] != "0")
    ]
    numbers = np.array([n for n, _ in integer], dtype=np.int64)
    index = np.array([i for _, i in integer], dtype=np.float64)
    return _Judgments(
        query_ids,
        arrow.strings(docs),
        keys_arr[order],
        np.array(grades, dtype=np.float64)[order],
        {q: i for i, q in enumerate(query_ids)},
        (numbers, index),
    )


class Evaluator:
    """Scores runs against one qrels with fixed measures and trec_eval flags (``-l``, ``-M``, ``-c``)."""

    def __init__(
        self,
        qrels: Qrels,
        measures: Iterable[str] | None = None,
        relevance_level: int = 1,
        max_docs: int | None = None,
        complete: bool = False,
    ):
        if relevance_level < 0:
            raise ValueError("relevance level (-l) must be >= 0")
        if max_docs is not None and max_docs <= 0:
            raise ValueError("-M must be positive")
        self.qrels = qrels
        self.official = measures is None or not list(measures)
        self.measures = parse_measures(OFFICIAL if self.official else measures)
        self.relevance_level = relevance_level
        self.max_docs = max_docs
        self.complete = complete
        self._j = _judgments(qrels)
        level = relevance_level
        self._num_rel = np.array(
            [sum(g >= level for g in qrels[q].values()) for q in self._j.query_ids], dtype=np.int64
        )
        self._num_nonrel = np.array(
            [sum(0 <= g < level for g in qrels[q].values()) for q in self._j.query_ids], dtype=np.int64
        )
        self._ideal_gains = [
            np.sort(np.array([g for g in qrels[q].values() if g > 0], dtype=np.float64))[::-1]
            for q in self._j.query_ids
        ]
        self._ideal_cache: dict[int | None, np.ndarray] = {}
        self._last_queries: tuple[Sequence[str] | None, np.ndarray] = (None, np.zeros(0, np.int64))

    @property
    def names(self) -> list[str]:
        """Output names of the measures, in trec_eval's order."""
        return output_names(self.measures)

    # ------------------------------------------------------------------ lookup
    def lookup(self, qids: Sequence[str] | pa.Array, docids: Sequence[str] | pa.Array) -> np.ndarray:
        """Grade of each (qid, docid) row; NaN when not judged (or judged negative: unjudged in pool)."""
        qids = qids if isinstance(qids, pa.Array) else arrow.strings(list(qids))
        docids = docids if isinstance(docids, pa.Array) else arrow.strings(list(docids))
        q = pc.index_in(qids, value_set=arrow.strings(self._j.query_ids))
        d = pc.index_in(docids, value_set=self._j.doc_ids)
        return self._grades(arrow.positions(q), arrow.positions(d))

    def _grades(self, q: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Grades for float index arrays (NaN = absent) into qrels queries and docs."""
        grades = np.full(len(q), np.nan)
        valid = ~(np.isnan(q) | np.isnan(d))
        width = max(len(self._j.doc_ids), 1)
        keys = q[valid].astype(np.int64) * width + d[valid].astype(np.int64)
        pos = np.searchsorted(self._j.keys, keys)
        pos_clipped = np.minimum(pos, len(self._j.keys) - 1)
        found = self._j.keys[pos_clipped] == keys
        sub = np.full(len(keys), np.nan)
        sub[found] = self._j.grades[pos_clipped[found]]
        grades[valid] = sub
        grades[grades < 0] = np.nan
        return grades

    def doc_map(self, vocabulary: pa.Array | np.ndarray) -> np.ndarray:
        """For each entry of a run's doc vocabulary, its index among the judged docs (NaN if unjudged)."""
        if not isinstance(vocabulary, np.ndarray):
            return arrow.positions(pc.index_in(vocabulary, value_set=self._j.doc_ids))
        mapping = np.full(len(vocabulary), np.nan)
        if self._j.numeric is not None and len(vocabulary):
            numbers, index = self._j.numeric
            pos = np.minimum(np.searchsorted(vocabulary, numbers), len(vocabulary) - 1)
            found = vocabulary[pos] == numbers
            mapping[pos[found]] = index[found]
        return mapping

    def run_grades(self, run: Run) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What every measure needs of a run: its judged queries (byte order) and their lengths after
        -M, and for each row with a grade (in query, then rank order) its query's index, rank and grade."""
        qmap = arrow.positions(pc.index_in(run.query_ids, value_set=arrow.strings(self._j.query_ids)))
        kept = np.flatnonzero(~np.isnan(qmap))
        counts = np.diff(run.offsets)[kept]
        if self.max_docs is not None:
            counts = np.minimum(counts, self.max_docs)
        index_of_query = np.full(run.num_queries, -1, dtype=np.int64)
        index_of_query[kept] = np.arange(len(kept))
        # Only rows whose document is judged for some query need a (query, doc) lookup.
        doc_map = self.doc_map(run.doc_vocabulary)
        rows = np.flatnonzero((~np.isnan(doc_map))[run.docs])  # a byte table: cheaper to gather from
        queries = run.qids[rows]
        seg = index_of_query[queries]
        rank = rows - run.offsets[queries] + 1
        inside = seg >= 0
        inside[inside] = rank[inside] <= counts[seg[inside]]
        rows, queries, seg, rank = rows[inside], queries[inside], seg[inside], rank[inside]
        grades = self._grades(qmap[queries], doc_map[run.docs[rows]])
        judged = ~np.isnan(grades)
        query_ids = run.query_ids.take(arrow.integers(kept)).to_pylist()
        return query_ids, counts, seg[judged], rank[judged], grades[judged]

    # ------------------------------------------------------------------ scoring
    def _qrels_indices(self, query_ids: Sequence[str]) -> np.ndarray:
        """Each query's index in the qrels (remembered for the last list: a sweep passes the same one)."""
        if self._last_queries[0] is not query_ids:
            self._last_queries = (
                query_ids,
                np.array([self._j.index_of[q] for q in query_ids], dtype=np.int64),
            )
        return self._last_queries[1]

    def score_judged(
        self,
        query_ids: Sequence[str],
        counts: np.ndarray,
        seg: np.ndarray,
        rank: np.ndarray,
        grades: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Per-query values of every measure, from the judged rows alone (every trec_eval measure
        depends on those and on each query's length).

        ``query_ids`` must be judged queries and ``counts`` their ranked lengths (already cut by -M);
        each judged row has its query's index ``seg``, its 1-based ``rank`` and its ``grade`` (rows
        sorted by query, then rank).
        """
        n = len(query_ids)
        qi = self._qrels_indices(query_ids)
        num_rel = self._num_rel[qi].astype(np.float64)
        counts = np.asarray(counts)
        starts = np.searchsorted(seg, np.arange(n + 1, dtype=seg.dtype))
        rel = grades >= self.relevance_level
        cum_rel = _segment_cumsum(rel.astype(np.int64), starts)
        has_rel = num_rel > 0
        out: dict[str, np.ndarray] = {}

        def per_query(weights: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
            if where is None:
                return np.bincount(seg, weights=weights, minlength=n).astype(np.float64)
            return np.bincount(seg[where], weights=weights[where], minlength=n).astype(np.float64)

        def over_num_rel(values: np.ndarray) -> np.ndarray:
            return np.divide(values, num_rel, out=np.zeros(n), where=has_rel)

        for measure in self.measures:
            family, params = measure.family, measure.params
            if family == "num_q":
                out["num_q"] = np.ones(n)
            elif family == "num_ret":
                out["num_ret"] = counts.astype(np.float64)
            elif family == "num_rel":
                out["num_rel"] = num_rel
            elif family == "num_rel_ret":
                out["num_rel_ret"] = per_query(rel.astype(np.float64))
            elif family == "num_nonrel_judged_ret":
                out[family] = per_query((~rel).astype(np.float64))
            elif family in ("map", "gm_map"):
                out[family] = over_num_rel(per_query(cum_rel / rank, rel))
            elif family == "map_cut":
                for k in params:
                    out[f"map_cut_{k}"] = over_num_rel(per_query(cum_rel / rank, rel & (rank <= k)))
            elif family == "Rprec":
                top_r = rel & (rank <= num_rel[seg])
                out["Rprec"] = over_num_rel(per_query(top_r.astype(np.float64)))
            elif family == "bpref":
                out["bpref"] = self._bpref(qi, seg, starts, rel, num_rel, n)
            elif family == "recip_rank":
                out["recip_rank"] = _first_relevant(seg, rank, rel, n)
            elif family == "MRR":
                for k in params:
                    out[f"MRR@{k}"] = _first_relevant(seg, rank, rel & (rank <= k), n)
            elif family in ("P", "recall", "success"):
                for k in params:
                    hits = per_query((rel & (rank <= k)).astype(np.float64))
                    if family == "P":
                        out[f"P_{k}"] = hits / k
                    elif family == "recall":
                        out[f"recall_{k}"] = over_num_rel(hits)
                    else:
                        out[f"success_{k}"] = (hits > 0).astype(np.float64)
            elif family in ("ndcg", "ndcg_cut"):
                gain = np.where(grades > 0, grades, 0.0)
                dcg_terms = gain / _discount(rank) if len(rank) else gain
                for k in params or (None,):
                    cut = np.ones(len(rank), bool) if k is None else rank <= k
                    dcg = per_query(dcg_terms, cut)
                    ideal = self._ideal_dcg(k)[qi]
                    name = "ndcg" if k is None else f"ndcg_cut_{k}"
                    out[name] = np.divide(dcg, ideal, out=np.zeros(n), where=ideal > 0)
            elif family == "iprec_at_recall":
                out.update(self._iprec(params, starts, rank, rel, num_rel, counts))
        return {name: out[name] for name in self.names}

    def _ideal_dcg(self, cutoff: int | None) -> np.ndarray:
        """Ideal DCG at ``cutoff`` of every judged query (computed once per cutoff)."""
        if cutoff not in self._ideal_cache:
            self._ideal_cache[cutoff] = np.array([_ideal_dcg(g, cutoff) for g in self._ideal_gains])
        return self._ideal_cache[cutoff]

    def _bpref(self, qi, seg, starts, rel, num_rel, n) -> np.ndarray:
        nonrel = ~rel
        nonrel_before = _segment_cumsum(nonrel.astype(np.int64), starts) - nonrel
        num_nonrel = self._num_nonrel[qi].astype(np.float64)
        r = num_rel[seg]
        denominator = np.minimum(num_nonrel[seg], r)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(nonrel_before > 0, 1.0 - np.minimum(nonrel_before, r) / denominator, 1.0)
        total = np.bincount(seg[rel], weights=terms[rel], minlength=n).astype(np.float64)
        return np.divide(total, num_rel, out=total.copy(), where=num_rel > 0)

    @staticmethod
    def _iprec(levels, starts, rank, rel, num_rel, counts) -> dict[str, np.ndarray]:
        """Interpolated precision at recall levels, trec_eval 9.0.4's rank cutoffs ((long)(p*R + 0.9))."""
        values = np.zeros((len(levels), len(counts)))
        for q in range(len(counts)):
            lo, hi = starts[q], starts[q + 1]
            positions = rank[lo:hi][rel[lo:hi]]
            if not len(positions):
                continue
            precision = np.arange(1, len(positions) + 1) / positions
            best_from = np.maximum.accumulate(precision[::-1])[::-1]  # max precision at >= m-th relevant
            overall = max(best_from[0], len(positions) / counts[q])
            for li, level in enumerate(levels):
                cut = int(level * num_rel[q] + 0.9)
                if cut == 0:
                    values[li, q] = overall
                elif cut <= len(positions):
                    values[li, q] = best_from[cut - 1]
        return {f"iprec_at_recall_{p:.2f}": values[i] for i, p in enumerate(levels)}

    # ------------------------------------------------------------------ summary
    def aggregate(self, per_query: Mapping[str, np.ndarray]) -> dict[str, float]:
        """trec_eval's summary: means over the evaluated queries (over all judged queries with -c);
        counts are summed; gm_map is a geometric mean. Sums run in query order as trec_eval's do."""
        if not per_query:
            return {}
        evaluated = len(next(iter(per_query.values())))
        num_q = len(self._j.query_ids) if self.complete else evaluated
        summary: dict[str, float] = {}
        for name, values in per_query.items():
            if name == "num_q":
                summary[name] = float(num_q)
            elif name in COUNTS:
                summary[name] = float(sum(values.tolist()))
            elif name == "gm_map":
                logs = [math.log(max(v, MIN_GEO_MEAN)) for v in values.tolist()]
                logs += [math.log(MIN_GEO_MEAN)] * (num_q - evaluated)
                summary[name] = math.exp(sum(logs) / num_q) if num_q else 0.0
            else:
                summary[name] = sum(values.tolist()) / num_q if num_q else 0.0
        return summary

    def evaluate(self, run: Run) -> Result:
        """Evaluate one run: per-query values and the summary."""
        query_ids, *judged = self.run_grades(run)
        per_query = self.score_judged(query_ids, *judged)
        summary = self.aggregate(per_query)
        if self.complete and "num_rel" in summary:
            # trec_eval -c recounts num_rel over every judged query as grades > 0, whatever -l says.
            summary["num_rel"] = float(sum(g > 0 for q in self.qrels.values() for g in q.values()))
        return Result(run.name, query_ids, per_query, summary, self.names, self.official)


@dataclass
class Result:
    """Per-query values (aligned with ``query_ids``) and the summary of one evaluated run."""

    run_name: str
    query_ids: list[str]
    per_query: dict[str, np.ndarray]
    summary: dict[str, float]
    names: list[str]
    official: bool = False

    def per_query_dict(self) -> dict[str, dict[str, float]]:
        """``{qid: {measure: value}}`` (trec_eval prints no per-query num_q or gm_map)."""
        shown = [n for n in self.names if n not in ("num_q", "gm_map")]
        return {
            qid: {n: _plain(n, self.per_query[n][i]) for n in shown} for i, qid in enumerate(self.query_ids)
        }

    def to_dict(self, per_query: bool = False) -> dict:
        data: dict = {n: _plain(n, self.summary[n]) for n in self.names}
        if per_query:
            data["per_query"] = self.per_query_dict()
        return data

    def trec_eval_text(self, per_query: bool = False) -> str:
        """trec_eval's layout: ``name<pad to 22>\\tqid\\tvalue``, per-query lines first with -q."""
        lines = []
        if per_query:
            for qid, values in self.per_query_dict().items():
                lines += [_line(n, qid, v) for n, v in values.items()]
        if self.official:
            lines.append(_line("runid", "all", self.run_name))
        lines += [_line(n, "all", _plain(n, self.summary[n])) for n in self.names]
        return "\n".join(lines) + "\n"


def _plain(name: str, value: float) -> float | int:
    return int(value) if name in COUNTS else float(value)


def _line(name: str, qid: str, value) -> str:
    shown = f"{value:.4f}" if isinstance(value, float) else str(value)
    return f"{name:<22}\t{qid}\t{shown}"


def _segment_cumsum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum restarting at every segment (``offsets``: segment boundaries)."""
    total = np.cumsum(values)
    before = np.concatenate([[0], total])[offsets[:-1]]
    return total - np.repeat(before, np.diff(offsets))


def _first_relevant(seg: np.ndarray, rank: np.ndarray, rel: np.ndarray, n: int) -> np.ndarray:
    """1/rank of the first relevant row per query (0 when none)."""
    rows = np.flatnonzero(rel)
    queries, first = np.unique(seg[rows], return_index=True)
    out = np.zeros(n)
    out[queries] = 1.0 / rank[rows[first]]
    return out


def _ideal_dcg(gains: np.ndarray, k: int | None) -> float:
    top = gains if k is None else gains[:k]
    total = 0.0
    for gain, discount in zip(top.tolist(), _discounts(max(len(top), 1)).tolist(), strict=False):
        total += gain / discount
    return total


def evaluate(
    qrels: Qrels | str,
    run: Run | str,
    measures: Iterable[str] | None = ("map", "ndcg_cut.10", "recall.1000"),
    relevance_level: int = 1,
    max_docs: int | None = None,
    complete: bool = False,
    per_query: bool = False,
) -> dict:
    """Evaluate a run: ``{"ndcg_cut_10": 0.67, ...}`` keyed by trec_eval output names (plus
    ``"per_query": {qid: {...}}`` when ``per_query``). Paths and bundled names are accepted."""
    qrels = qrels if isinstance(qrels, Qrels) else Qrels.read(qrels)
    run = run if isinstance(run, Run) else Run.read(run)
    evaluator = Evaluator(qrels, measures, relevance_level, max_docs, complete)
    return evaluator.evaluate(run).to_dict(per_query)


def msmarco_mrr(qrels: Qrels, run: Run, cutoff: int = 10, relevance_level: int = 1) -> tuple[float, int]:
    """The official MS MARCO passage MRR@10: the first relevant hit in the top ``cutoff``, summed and
    divided by the number of judged queries (missing queries count 0); and QueriesRanked, the
    number of queries in the run."""
    evaluator = Evaluator(qrels, [f"MRR@{cutoff}"], relevance_level, complete=True)
    return evaluator.evaluate(run).summary[f"MRR@{cutoff}"], run.num_queries
