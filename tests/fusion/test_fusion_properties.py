"""Property tests of fusion on random runs, against the slow reference and the rules themselves."""

from __future__ import annotations

import contextlib
import math

import fusion_reference as reference
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybrid import Run, fusion
from hybrid.fusion import NORMALIZATIONS, fuse, rrf

QIDS = ["1", "10", "2", "q3"]
# Numeric ids (integer vocabularies, compared as strings on ties) mixed with other ids.
DOCIDS = ["1", "2", "3", "10", "11", "20", "100", "101", "d0", "d1", "d10", "x"]
# Few distinct values, so ties (inside a run and in the fused scores) are common.
SCORES = st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 1.5, 3.0, 7.0, 12.5])

runs = st.dictionaries(
    st.sampled_from(QIDS),
    st.dictionaries(st.sampled_from(DOCIDS), SCORES | st.floats(-50, 50, allow_nan=False), min_size=1),
    max_size=len(QIDS),
)
tie_prone_runs = st.dictionaries(
    st.sampled_from(QIDS), st.dictionaries(st.sampled_from(DOCIDS), SCORES, min_size=1), max_size=len(QIDS)
)
options = st.fixed_dictionaries(
    {
        "alpha": st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0]) | st.floats(0, 10),
        "weight_on_dense": st.booleans(),
        "normalization": st.sampled_from(NORMALIZATIONS),
        "depth": st.integers(1, 12),
        "hits": st.integers(1, 30),
        "missing": st.sampled_from(["min", "zero"]),
        "convex": st.booleans(),
    }
)


def as_lists(run: Run) -> dict[str, list[tuple[str, float]]]:
    return {qid: list(zip(docids, scores.tolist(), strict=True)) for qid, docids, scores in run}


def assert_same(ours: dict, expected: dict, exact: bool) -> None:
    assert list(ours) == [q for q, hits in expected.items() if hits]
    for qid, hits in ours.items():
        if exact:
            assert hits == expected[qid], qid
        else:
            assert [d for d, _ in hits] == [d for d, _ in expected[qid]] or _tied(expected[qid]), qid
            for (_, a), (_, b) in zip(hits, expected[qid], strict=True):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _tied(hits: list[tuple[str, float]]) -> bool:
    return any(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        for (_, a), (_, b) in zip(hits, hits[1:], strict=False)
    )


# Fusion works through blocks of queries of about BLOCK_ROWS input rows; small blocks split these runs.
block_rows = st.sampled_from([1, 3, 8, 1 << 20])


@contextlib.contextmanager
def blocks_of(rows: int):
    saved, fusion.BLOCK_ROWS = fusion.BLOCK_ROWS, rows
    try:
        yield
    finally:
        fusion.BLOCK_ROWS = saved


@settings(max_examples=300, deadline=None)
@given(runs, runs, options, block_rows)
def test_matches_reference(dense, sparse, opts, rows):
    with blocks_of(rows):
        ours = as_lists(fuse(Run.from_dict(dense), Run.from_dict(sparse), **opts))
    assert_same(ours, reference.fuse(dense, sparse, **opts), exact=opts["normalization"] != "zscore")


@settings(max_examples=200, deadline=None)
@given(st.lists(runs, min_size=1, max_size=3), st.sampled_from([0, 1, 60]), st.integers(1, 12), block_rows)
def test_rrf_matches_reference(many, k, depth, rows):
    with blocks_of(rows):
        ours = as_lists(rrf([Run.from_dict(r) for r in many], k=k, depth=depth, hits=20))
    assert_same(ours, reference.rrf(many, k=k, depth=depth, hits=20), exact=True)


@settings(max_examples=200, deadline=None)
@given(runs, runs, st.integers(1, 12))
def test_union_and_min_fill(dense, sparse, depth):
    fused = fuse(Run.from_dict(dense), Run.from_dict(sparse), alpha=0.0, depth=depth, hits=100).to_dict()
    for qid in set(dense) | set(sparse):
        dense_top = reference.top(dense.get(qid, {}), depth)
        sparse_top = reference.top(sparse.get(qid, {}), depth)
        assert set(fused[qid]) == set(dense_top) | set(sparse_top)
        for docid, score in fused[qid].items():
            # alpha = 0: the score is the dense side alone, the dense minimum when dense missed it
            expected = dense_top.get(docid, min(dense_top.values(), default=0.0))
            assert score == expected


@settings(max_examples=100, deadline=None)
@given(runs, runs, st.integers(1, 6), st.floats(0, 5), st.floats(0, 5))
def test_monotone_in_alpha(dense, sparse, k, a1, a2):
    """Raising alpha never lowers the weighted side's total over the top k (exchange argument)."""
    low, high = sorted((a1, a2))
    d, s = Run.from_dict(dense), Run.from_dict(sparse)
    for qid in set(dense) | set(sparse):
        sparse_top = reference.top(sparse.get(qid, {}), 1000)
        floor = min(sparse_top.values(), default=0.0)

        def weighted_total(alpha, qid=qid, sparse_top=sparse_top, floor=floor):
            hits = fuse(d, s, alpha=alpha, hits=k).to_dict()[qid]
            return sum(sparse_top.get(docid, floor) for docid in hits)

        assert weighted_total(high) >= weighted_total(low) - 1e-9


@settings(max_examples=100, deadline=None)
@given(tie_prone_runs, st.booleans(), st.sampled_from(NORMALIZATIONS), st.floats(0.01, 3))
def test_empty_side_keeps_the_other_ranking(run, empty_is_sparse, normalization, alpha):
    single, empty = Run.from_dict(run), Run.from_dict({})
    dense, sparse = (single, empty) if empty_is_sparse else (empty, single)
    fused = fuse(dense, sparse, alpha=alpha, weight_on_dense=True, normalization=normalization)
    assert [(q, docs) for q, docs, _ in fused] == [(q, docs) for q, docs, _ in single]


def test_one_sided_query_is_fused_by_the_present_side():
    dense = Run.from_dict({"1": {"a": 0.9, "b": 0.5}, "2": {"a": 0.3, "c": 0.8}})
    sparse = Run.from_dict({"1": {"b": 12.0, "c": 4.0}, "3": {"d": 7.0, "e": 9.0}})
    fused = fuse(dense, sparse, alpha=0.5).to_dict()
    assert fused["2"] == {"c": 0.8, "a": 0.3}
    assert fused["3"] == {"e": 4.5, "d": 3.5}
    assert fused["1"] == {"b": 0.5 + 6.0, "c": 0.5 + 2.0, "a": 0.9 + 2.0}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(SCORES | st.sampled_from([-0.0, 1e300, -1e-300]) | st.floats(-1e6, 1e6), max_size=300),
        max_size=4,
    ),
    st.integers(1, 200),
)
def test_rank_kernel_orders_by_score_then_row(queries, hits):
    """The compiled per-query ranking (a radix sort past a few dozen rows): score descending, then row;
    cut after ``hits`` rows, keeping the rows tied with the last kept score."""
    from hybrid import _fusion_kernels

    scores = np.array([s for query in queries for s in query], dtype=np.float64)
    offsets = np.cumsum([0] + [len(query) for query in queries]).astype(np.int64)
    order, extra = _fusion_kernels.rank(offsets, scores, hits)
    expected, expected_extra = [], 0
    for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        rows = sorted(range(lo, hi), key=lambda row: (-scores[row], row))
        keep = min(hits, len(rows))
        while 0 < keep < len(rows) and scores[rows[keep]] == scores[rows[keep - 1]]:
            keep += 1
            expected_extra += 1
        expected += rows[:keep]
    assert np.frombuffer(order, np.int64).tolist() == expected and extra == expected_extra


def test_ties_break_by_docid_descending():
    dense = Run.from_dict({"1": {"a": 1.0, "b": 1.0, "c": 1.0}})
    sparse = Run.from_dict({"1": {"a": 2.0, "b": 2.0, "c": 2.0}})
    assert next(iter(fuse(dense, sparse)))[1] == ["c", "b", "a"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"normalization": "max"}, "normalization"),
        ({"missing": "drop"}, "missing"),
        ({"depth": 0}, "depth"),
        ({"hits": 1.5}, "hits"),
        ({"alpha": float("nan")}, "alpha"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    run = Run.from_dict({"1": {"a": 1.0}})
    with pytest.raises(ValueError, match=message):
        fuse(run, run, **kwargs)
