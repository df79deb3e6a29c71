"""trec_eval-exact evaluation, vectorised over columnar runs.

Every measure follows trec_eval 9.0.4 to the bit where it can (same summation order, same
discounts from the C library's ``log2``, the same rank-cutoff rounding), so printed values agree
to the last digit; ``tests/evaluation`` checks that against the real trec_eval binary.

Measures are named as in trec_eval (``map``, ``ndcg_cut.10,100``, ``P.10``, ``recall.1000``,
``recip_rank``, ``Rprec``, ``bpref``, ``success.1,10``, ``num_rel_ret`` ...) or by readable alias
(``MAP``, ``nDCG@10``, ``R@1000``, ``P@10``, ``MRR@10`` = recip_rank over the top 10).

Each measure family is one :class:`Family` subclass registered in :data:`FAMILIES`: it declares its
trec_eval name, parameters, aliases and what it depends on, and scores a :class:`JudgedBlock` (the
judged rows of a set of ranked lists). The parser, the output names, the summary and tuning read
only that metadata; adding a family is one class here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybrid import columns
from hybrid.formats.qrels import Qrels
from hybrid.formats.runs import Run

MIN_GEO_MEAN = 0.00001
RANK_CUTOFFS = (5, 10, 15, 20, 30, 100, 200, 500, 1000)


# --------------------------------------------------------------------------- what measures score
@dataclass
class JudgedBlock:
    """The judged rows of ``num_queries`` ranked lists: every trec_eval measure depends on these and
    on each list's length alone.

    ``lengths``: each list's length (after -M); per judged row (sorted by query, then rank): its
    query's index ``seg``, its 1-based ``rank`` and its ``grades``. ``num_rel`` is each query's
    number of relevant documents; ``evaluator`` supplies qrels-wide facts (ideal DCG, non-relevant
    counts) for the queries at qrels indices ``qrels_index``.
    """

    evaluator: Evaluator
    qrels_index: np.ndarray
    lengths: np.ndarray
    seg: np.ndarray
    rank: np.ndarray
    grades: np.ndarray

    @property
    def num_queries(self) -> int:
        return len(self.qrels_index)

    @cached_property
    def num_rel(self) -> np.ndarray:
        return self.evaluator._num_rel[self.qrels_index].astype(np.float64)

    @cached_property
    def starts(self) -> np.ndarray:
        """Judged rows of query ``i`` are ``starts[i]:starts[i+1]``."""
        return np.searchsorted(self.seg, np.arange(self.num_queries + 1, dtype=self.seg.dtype))

    @cached_property
    def relevant(self) -> np.ndarray:
        return self.grades >= self.evaluator.relevance_level

    @cached_property
    def relevant_so_far(self) -> np.ndarray:
        """Relevant rows at or above each row of its query."""
        return _segment_cumsum(self.relevant.astype(np.int64), self.starts)

    def per_query(self, weights: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``weights`` over each query's rows (those in ``where``)."""
        seg = self.seg if where is None else self.seg[where]
        weights = weights if where is None else weights[where]
        return np.bincount(seg, weights=weights, minlength=self.num_queries).astype(np.float64)

    def over_num_rel(self, values: np.ndarray) -> np.ndarray:
        """``values / num_rel`` per query (0 for a query with no relevant document)."""
        return np.divide(values, self.num_rel, out=np.zeros(self.num_queries), where=self.num_rel > 0)

    def first_relevant(self, where: np.ndarray) -> np.ndarray:
        """1/rank of each query's first row in ``where`` (0 when none)."""
        rows = np.flatnonzero(where)
        queries, first = np.unique(self.seg[rows], return_index=True)
        out = np.zeros(self.num_queries)
        out[queries] = 1.0 / self.rank[rows[first]]
        return out


# --------------------------------------------------------------------------- the measure families
class Family:
    """One trec_eval measure family: its metadata and how it scores a judged block.

    ``params``: ``"cutoffs"`` (positive rank cutoffs), ``"levels"`` (recall levels) or ``""`` (none),
    with ``defaults`` when a spec gives none. ``cutoff``: only rows within the deepest cutoff count.
    ``length_dependent``: the value depends on a list's length, not only on where its judged rows
    are. ``reads_grades``: uses graded relevance (beyond relevant or not). ``summary``: ``"mean"``,
    ``"sum"`` (counts, printed as integers) or ``"geometric"``. ``aliases``: readable names (case
    insensitive) taking ``@k``; ``bare_aliases``: names meaning the family itself.
    """

    name: ClassVar[str]
    params: ClassVar[str] = ""
    defaults: ClassVar[tuple] = ()
    cutoff: ClassVar[bool] = False
    length_dependent: ClassVar[bool] = False
    reads_grades: ClassVar[bool] = False
    summary: ClassVar[str] = "mean"
    aliases: ClassVar[tuple[str, ...]] = ()
    bare_aliases: ClassVar[tuple[str, ...]] = ()
    trec_eval: ClassVar[bool] = True  # spelled as a trec_eval measure (``name.params``)

    def output_name(self, param) -> str:
        return f"{self.name}_{param}" if param is not None else self.name

    def output_names(self, params: tuple) -> list[str]:
        return [self.output_name(p) for p in params] if params else [self.output_name(None)]

    def score(self, block: JudgedBlock, params: tuple) -> dict[str, np.ndarray]:
        """Per-query values of each output name."""
        raise NotImplementedError


FAMILIES: dict[str, Family] = {}  # trec_eval's measure table order, which fixes the output order


def _register(family: type[Family]) -> type[Family]:
    FAMILIES[family.name] = family()
    return family


class _Count(Family):
    summary = "sum"


@_register
class NumQ(_Count):
    name = "num_q"

    def score(self, block, params):
        return {"num_q": np.ones(block.num_queries)}


@_register
class NumRet(_Count):
    name = "num_ret"
    length_dependent = True

    def score(self, block, params):
        return {"num_ret": np.asarray(block.lengths).astype(np.float64)}


@_register
class NumRel(_Count):
    name = "num_rel"

    def score(self, block, params):
        return {"num_rel": block.num_rel}


@_register
class NumRelRet(_Count):
    name = "num_rel_ret"

    def score(self, block, params):
        return {"num_rel_ret": block.per_query(block.relevant.astype(np.float64))}


@_register
class AveragePrecision(Family):
    name = "map"
    bare_aliases = ("map", "ap")

    def score(self, block, params):
        terms = block.relevant_so_far / block.rank
        return {self.name: block.over_num_rel(block.per_query(terms, block.relevant))}


@_register
class GeometricMAP(AveragePrecision):
    name = "gm_map"
    summary = "geometric"
    bare_aliases = ()


@_register
class RPrecision(Family):
    name = "Rprec"

    def score(self, block, params):
        top_r = block.relevant & (block.rank <= block.num_rel[block.seg])
        return {"Rprec": block.over_num_rel(block.per_query(top_r.astype(np.float64)))}


@_register
class Bpref(Family):
    name = "bpref"

    def score(self, block, params):
        rel, seg = block.relevant, block.seg
        nonrel = ~rel
        nonrel_before = _segment_cumsum(nonrel.astype(np.int64), block.starts) - nonrel
        num_nonrel = block.evaluator._num_nonrel[block.qrels_index].astype(np.float64)
        num_rel = block.num_rel
        r = num_rel[seg]
        denominator = np.minimum(num_nonrel[seg], r)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(nonrel_before > 0, 1.0 - np.minimum(nonrel_before, r) / denominator, 1.0)
        total = np.bincount(seg[rel], weights=terms[rel], minlength=block.num_queries).astype(np.float64)
        return {"bpref": np.divide(total, num_rel, out=total.copy(), where=num_rel > 0)}


@_register
class ReciprocalRank(Family):
    name = "recip_rank"

    def score(self, block, params):
        return {"recip_rank": block.first_relevant(block.relevant)}


@_register
class InterpolatedPrecision(Family):
    """Interpolated precision at recall levels, trec_eval 9.0.4's rank cutoffs ((long)(p*R + 0.9))."""

    name = "iprec_at_recall"
    params = "levels"
    defaults = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    length_dependent = True

    def output_name(self, param) -> str:
        return f"iprec_at_recall_{param:.2f}"

    def score(self, block, params):
        starts, rank, rel, num_rel, counts = (
            block.starts, block.rank, block.relevant, block.num_rel, block.lengths
        )  # fmt: skip
        values = np.zeros((len(params), len(counts)))
        for q in range(len(counts)):
            lo, hi = starts[q], starts[q + 1]
            positions = rank[lo:hi][rel[lo:hi]]
            if not len(positions):
                continue
            precision = np.arange(1, len(positions) + 1) / positions
            best_from = np.maximum.accumulate(precision[::-1])[::-1]  # max precision at >= m-th relevant
            overall = max(best_from[0], len(positions) / counts[q])
            for li, level in enumerate(params):
                cut = int(level * num_rel[q] + 0.9)
                if cut == 0:
                    values[li, q] = overall
                elif cut <= len(positions):
                    values[li, q] = best_from[cut - 1]
        return {self.output_name(p): values[i] for i, p in enumerate(params)}


class _AtCutoffs(Family):
    """A family over the top k rows, one output per cutoff k."""

    params = "cutoffs"
    defaults = RANK_CUTOFFS
    cutoff = True

    def score(self, block, params):
        return {self.output_name(k): self.at(block, k) for k in params}

    def at(self, block: JudgedBlock, k: int) -> np.ndarray:
        raise NotImplementedError


def _hits(block: JudgedBlock, k: int) -> np.ndarray:
    return block.per_query((block.relevant & (block.rank <= k)).astype(np.float64))


@_register
class Precision(_AtCutoffs):
    name = "P"
    aliases = ("p", "precision")

    def at(self, block, k):
        return _hits(block, k) / k


@_register
class Recall(_AtCutoffs):
    name = "recall"
    aliases = ("r", "recall")

    def at(self, block, k):
        return block.over_num_rel(_hits(block, k))


@_register
class NDCG(Family):
    """nDCG with trec_eval's gains (the grades) and ``log2(rank + 1)`` discounts; over the whole
    list (``ndcg``) or the top k (``ndcg_cut``)."""

    name = "ndcg"
    reads_grades = True
    bare_aliases = ("ndcg",)

    def score(self, block, params):
        return {self.output_name(k): self.at(block, k) for k in params or (None,)}

    def at(self, block: JudgedBlock, k: int | None) -> np.ndarray:
        gain = np.where(block.grades > 0, block.grades, 0.0)
        terms = gain / _discount(block.rank) if len(block.rank) else gain
        dcg = block.per_query(terms, None if k is None else block.rank <= k)
        ideal = block.evaluator._ideal_dcg(k)[block.qrels_index]
        return np.divide(dcg, ideal, out=np.zeros(block.num_queries), where=ideal > 0)


@_register
class NDCGCut(NDCG, _AtCutoffs):
    name = "ndcg_cut"
    aliases = ("ndcg",)
    bare_aliases = ()


@_register
class MAPCut(_AtCutoffs):
    name = "map_cut"
    aliases = ("map", "ap")

    def at(self, block, k):
        terms = block.relevant_so_far / block.rank
        return block.over_num_rel(block.per_query(terms, block.relevant & (block.rank <= k)))


@_register
class Success(_AtCutoffs):
    name = "success"
    defaults = (1, 5, 10)
    aliases = ("success",)

    def at(self, block, k):
        return (_hits(block, k) > 0).astype(np.float64)


@_register
class NumNonrelJudgedRet(_Count):
    name = "num_nonrel_judged_ret"

    def score(self, block, params):
        return {self.name: block.per_query((~block.relevant).astype(np.float64))}


@_register
class MRR(_AtCutoffs):
    """recip_rank over the top k (``MRR@10``); not a trec_eval name."""

    name = "MRR"
    defaults = ()
    aliases = ("mrr", "rr")
    trec_eval = False

    def output_name(self, param) -> str:
        return f"MRR@{param}"

    def at(self, block, k):
        return block.first_relevant(block.relevant & (block.rank <= k))


OFFICIAL = ["num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref", "recip_rank",
            "iprec_at_recall", "P"]  # fmt: skip
ALIASES = {alias: f.name for f in FAMILIES.values() for alias in f.aliases}


@dataclass(frozen=True)
class Measure:
    """One measure family with its parameters (rank cutoffs or recall levels)."""

    family: str
    params: tuple = ()

    @property
    def kind(self) -> Family:
        return FAMILIES[self.family]

    @property
    def cutoff(self) -> int | None:
        """The deepest rank this measure reads, or None when it reads the whole list."""
        return max(self.params) if self.kind.cutoff else None

    def output_names(self) -> list[str]:
        return self.kind.output_names(self.params)


def parse_measures(specs: Iterable[str]) -> list[Measure]:
    """Parse trec_eval specs (``ndcg_cut.10,100``) and aliases (``nDCG@10``) into measures in
    trec_eval's order; cutoffs given for one family in several specs are merged."""
    params: dict[str, set] = {}
    for spec in specs:
        family, values = _parse_one(spec)
        params.setdefault(family, set()).update(values)
    for family, values in params.items():
        if not values:
            values.update(FAMILIES[family].defaults)
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
    for family in FAMILIES.values():
        if spec.lower() in family.bare_aliases:
            return family.name, ()
    name, _, raw = spec.partition(".")
    family = FAMILIES.get(name)
    if family is None or not family.trec_eval:
        trec_names = ", ".join(f.name for f in FAMILIES.values() if f.trec_eval)
        raise ValueError(f"unknown measure {spec!r} (trec_eval names: {trec_names}; or aliases like nDCG@10)")
    if not raw:
        return name, ()
    if not family.params:
        raise ValueError(f"measure {name!r} takes no parameters (got {spec!r})")
    number = float if family.params == "levels" else int
    try:
        values = tuple(number(v) for v in raw.split(","))
    except ValueError:
        raise ValueError(f"bad parameters in {spec!r}: expected comma-separated numbers") from None
    if family.params == "cutoffs" and min(values) <= 0:
        raise ValueError(f"cutoffs in {spec!r} must be positive")
    return name, values


def output_names(measures: Sequence[Measure]) -> list[str]:
    return [name for m in measures for name in m.output_names()]


@cache
def _discounts(n: int) -> np.ndarray:
    """``log2(rank + 1)`` for ranks 1..n, from the C library as trec_eval computes it."""
    return np.array([math.log2(r + 1) for r in range(1, n + 1)], dtype=np.float64)


def _discount(ranks: np.ndarray) -> np.ndarray:
    size = 1 << max(int(ranks.max()).bit_length(), 10) if len(ranks) else 1
    return _discounts(size)[ranks - 1]


# --------------------------------------------------------------------------- the evaluator
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
        columns.strings(docs),
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
        self._summaries = {n: m.kind.summary for m in self.measures for n in m.output_names()}

    @property
    def names(self) -> list[str]:
        """Output names of the measures, in trec_eval's order."""
        return output_names(self.measures)

    # ------------------------------------------------------------------ lookup
    def lookup(self, qids: Sequence[str] | pa.Array, docids: Sequence[str] | pa.Array) -> np.ndarray:
        """Grade of each (qid, docid) row; NaN when not judged (or judged negative: unjudged in pool)."""
        qids = qids if isinstance(qids, pa.Array) else columns.strings(list(qids))
        docids = docids if isinstance(docids, pa.Array) else columns.strings(list(docids))
        q = pc.index_in(qids, value_set=columns.strings(self._j.query_ids))
        d = pc.index_in(docids, value_set=self._j.doc_ids)
        return self._grades(columns.positions(q), columns.positions(d))

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

    def _doc_map(self, vocabulary: pa.Array | np.ndarray) -> np.ndarray:
        """For each entry of a doc vocabulary, its index among the judged docs (NaN if unjudged)."""
        if not isinstance(vocabulary, np.ndarray):
            return columns.positions(pc.index_in(vocabulary, value_set=self._j.doc_ids))
        mapping = np.full(len(vocabulary), np.nan)
        if self._j.numeric is not None and len(vocabulary):
            numbers, index = self._j.numeric
            pos = np.minimum(np.searchsorted(vocabulary, numbers), len(vocabulary) - 1)
            found = vocabulary[pos] == numbers
            mapping[pos[found]] = index[found]
        return mapping

    def judged_rows(
        self, query_ids: pa.Array, doc_vocabulary: pa.Array | np.ndarray, qids: np.ndarray, docs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows with a grade among interned (query, document) rows, and their grades.

        ``qids``/``docs`` are codes into ``query_ids``/``doc_vocabulary`` (as in a :class:`Run`).
        Only rows whose document is judged for some query need a (query, doc) lookup.
        """
        doc_map = self._doc_map(doc_vocabulary)
        rows = np.flatnonzero((~np.isnan(doc_map))[docs])  # a byte table: cheaper to gather from
        qmap = columns.positions(pc.index_in(query_ids, value_set=columns.strings(self._j.query_ids)))
        grades = self._grades(qmap[qids[rows]], doc_map[docs[rows]])
        judged = ~np.isnan(grades)
        return rows[judged], grades[judged]

    def run_grades(self, run: Run) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What every measure needs of a run: its judged queries (byte order) and their lengths after
        -M, and for each row with a grade (in query, then rank order) its query's index, rank and grade."""
        judged_query = columns.positions(
            pc.index_in(run.query_ids, value_set=columns.strings(self._j.query_ids))
        )
        kept = np.flatnonzero(~np.isnan(judged_query))
        counts = np.diff(run.offsets)[kept]
        if self.max_docs is not None:
            counts = np.minimum(counts, self.max_docs)
        index_of_query = np.full(run.num_queries, -1, dtype=np.int64)
        index_of_query[kept] = np.arange(len(kept))
        rows, grades = self.judged_rows(run.query_ids, run.doc_vocabulary, run.qids, run.docs)
        queries = run.qids[rows]
        seg = index_of_query[queries]
        rank = rows - run.offsets[queries] + 1
        inside = seg >= 0
        inside[inside] = rank[inside] <= counts[seg[inside]]
        query_ids = run.query_ids.take(columns.integers(kept)).to_pylist()
        return query_ids, counts, seg[inside], rank[inside], grades[inside]

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
        block = JudgedBlock(self, self._qrels_indices(query_ids), np.asarray(counts), seg, rank, grades)
        out: dict[str, np.ndarray] = {}
        for measure in self.measures:
            out.update(measure.kind.score(block, measure.params))
        return out

    def score_orderings(
        self,
        query_ids: Sequence[str],
        lengths: np.ndarray,
        row_query: np.ndarray,
        grades: np.ndarray,
        ranks: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Per-query values of every measure under many orderings of the same judged rows (what a
        tuning sweep scores): ``{name: array of shape (orderings, queries)}``.

        ``query_ids`` are judged queries and ``lengths`` their list lengths; each judged row has its
        query's index ``row_query`` and ``grades``; ``ranks[:, k]`` is every row's 1-based rank in
        its query under ordering k (rows ranked below a list's length, or -M, are left out).
        """
        lengths = np.asarray(lengths)
        if self.max_docs is not None:
            lengths = np.minimum(lengths, self.max_docs)
        cutoffs = [m.cutoff for m in self.measures]
        deepest = None if None in cutoffs else max(cutoffs)
        position_only = not any(m.kind.length_dependent for m in self.measures)
        limit_of_row = lengths[row_query] if deepest is None else np.minimum(lengths[row_query], deepest)
        values = {name: np.zeros((ranks.shape[1], len(query_ids))) for name in self.names}
        for k in range(ranks.shape[1]):
            rank = ranks[:, k]
            kept = np.flatnonzero(rank <= limit_of_row)
            kept = kept[np.lexsort((rank[kept], row_query[kept]))]
            if position_only:
                # Rows below the last judged one within the cut change no position-based measure.
                size = np.zeros(len(query_ids), dtype=np.int64)
                np.maximum.at(size, row_query[kept], rank[kept])
            else:
                size = lengths
            per_query = self.score_judged(query_ids, size, row_query[kept], rank[kept], grades[kept])
            for name, row in values.items():
                row[k] = per_query[name]
        return values

    def _ideal_dcg(self, cutoff: int | None) -> np.ndarray:
        """Ideal DCG at ``cutoff`` of every judged query (computed once per cutoff)."""
        if cutoff not in self._ideal_cache:
            self._ideal_cache[cutoff] = np.array([_ideal_dcg(g, cutoff) for g in self._ideal_gains])
        return self._ideal_cache[cutoff]

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
            kind = self._summaries[name]
            if name == "num_q":
                summary[name] = float(num_q)
            elif kind == "sum":
                summary[name] = float(sum(values.tolist()))
            elif kind == "geometric":
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
        counts = {n for n, kind in self._summaries.items() if kind == "sum"}
        return Result(run.name, query_ids, per_query, summary, self.names, self.official, counts)


@dataclass
class Result:
    """Per-query values (aligned with ``query_ids``) and the summary of one evaluated run."""

    run_name: str
    query_ids: list[str]
    per_query: dict[str, np.ndarray]
    summary: dict[str, float]
    names: list[str]
    official: bool = False
    counts: set[str] = field(default_factory=set)  # names printed as integers

    def _plain(self, name: str, value: float) -> float | int:
        return int(value) if name in self.counts else float(value)

    def per_query_dict(self) -> dict[str, dict[str, float]]:
        """``{qid: {measure: value}}`` (trec_eval prints no per-query num_q or gm_map)."""
        shown = [n for n in self.names if n not in ("num_q", "gm_map")]
        return {
            qid: {n: self._plain(n, self.per_query[n][i]) for n in shown}
            for i, qid in enumerate(self.query_ids)
        }

    def to_dict(self, per_query: bool = False) -> dict:
        data: dict = {n: self._plain(n, self.summary[n]) for n in self.names}
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
        lines += [_line(n, "all", self._plain(n, self.summary[n])) for n in self.names]
        return "\n".join(lines) + "\n"


def _line(name: str, qid: str, value) -> str:
    shown = f"{value:.4f}" if isinstance(value, float) else str(value)
    return f"{name:<22}\t{qid}\t{shown}"


def _segment_cumsum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum restarting at every segment (``offsets``: segment boundaries)."""
    total = np.cumsum(values)
    before = np.concatenate([[0], total])[offsets[:-1]]
    return total - np.repeat(before, np.diff(offsets))


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
