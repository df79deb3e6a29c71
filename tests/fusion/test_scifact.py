"""Fusion, tuning and hybrid search on real BM25 and MiniLM runs over the SciFact slice."""

from __future__ import annotations

import fusion_reference as reference
import pytest

from hybrid import Qrels, Run
from hybrid.evaluation import Evaluator, evaluate
from hybrid.fusion import fuse, rrf

pytestmark = pytest.mark.slow

OPTIONS = [
    {},
    {"alpha": 0.02},
    {"normalization": "minmax", "alpha": 1.0},
    {"normalization": "pyserini", "alpha": 0.7},
    {"normalization": "zscore", "alpha": 0.5},
    {"missing": "zero", "alpha": 0.03},
    {"weight_on_dense": True, "alpha": 20.0},
    {"convex": True, "missing": "zero", "weight_on_dense": True, "alpha": 0.5},
    {"depth": 100, "hits": 50, "alpha": 0.05},
]


def as_lists(run: Run) -> dict[str, list[tuple[str, float]]]:
    return {qid: list(zip(docids, scores.tolist(), strict=True)) for qid, docids, scores in run}


@pytest.fixture(scope="module")
def test_runs(scifact_slice_runs):
    dense, sparse = scifact_slice_runs["dense-test"], scifact_slice_runs["bm25-test"]
    return dense, sparse, dense.to_dict(), sparse.to_dict()


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
def test_fusion_equals_the_formula_on_scifact(test_runs, options):
    dense, sparse, dense_dict, sparse_dict = test_runs
    ours = as_lists(fuse(dense, sparse, **options))
    expected = reference.fuse(dense_dict, sparse_dict, **options)
    assert list(ours) == list(expected)
    for qid, hits in ours.items():
        if options.get("normalization") == "zscore":  # summation order may differ in the last bit
            assert [d for d, _ in hits] == [d for d, _ in expected[qid]]
            assert [s for _, s in hits] == pytest.approx([s for _, s in expected[qid]], rel=1e-12, abs=1e-12)
        else:
            assert hits == expected[qid], qid


def test_rrf_equals_the_formula_on_scifact(test_runs):
    dense, sparse, dense_dict, sparse_dict = test_runs
    assert as_lists(rrf([dense, sparse])) == reference.rrf([dense_dict, sparse_dict])


def test_alpha_tuned_on_train_beats_both_runs_on_test(scifact_slice_runs):
    from hybrid.demo import tune_and_test

    runs = scifact_slice_runs
    comparison = tune_and_test(
        "scifact-train",
        "scifact-test",
        runs["bm25-train"],
        runs["dense-train"],
        runs["bm25-test"],
        runs["dense-test"],
    )
    ndcg = {label: scores["ndcg_cut_10"] for label, scores in comparison.scores.items()}
    print(f"\nSciFact slice test nDCG@10: {ndcg}, alpha {comparison.alpha} (tuned on train)")
    assert ndcg["hybrid"] > ndcg["bm25"] and ndcg["hybrid"] > ndcg["dense"]
    # the tuned point scores on train what fusing there and evaluating gives
    fused_train = fuse(runs["dense-train"], runs["bm25-train"], alpha=comparison.alpha)
    train = (
        Evaluator(Qrels.read("scifact-train"), ["ndcg_cut.10"]).evaluate(fused_train).summary["ndcg_cut_10"]
    )
    assert comparison.tuning.best["score"] == train
    assert (
        comparison.tuning.dense
        == evaluate("scifact-train", runs["dense-train"], ["ndcg_cut.10"])["ndcg_cut_10"]
    )
