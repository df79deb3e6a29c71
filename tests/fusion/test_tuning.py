"""Tuning: every sweep point scores exactly what fusing at that alpha and evaluating gives."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybrid import Qrels, Run
from hybrid.evaluation import Evaluator
from hybrid.fusion import NORMALIZATIONS, fuse
from hybrid.tuning import parse_alphas, tune

QIDS = ["1", "2", "10", "q"]
DOCIDS = ["1", "2", "3", "10", "11", "20", "100", "d0", "d1", "x"]
MEASURES = ["ndcg_cut.10", "recall.5", "map", "P.3", "bpref", "recip_rank", "Rprec", "num_ret",
            "iprec_at_recall.0.00", "success.1", "ndcg"]  # fmt: skip

scores = st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0, 3.0, 10.0]) | st.floats(-20, 20, allow_nan=False)
runs = st.dictionaries(
    st.sampled_from(QIDS), st.dictionaries(st.sampled_from(DOCIDS), scores, min_size=1), min_size=1
)
qrels = st.dictionaries(
    st.sampled_from(QIDS), st.dictionaries(st.sampled_from(DOCIDS), st.integers(0, 2), min_size=1), min_size=1
)
alphas = st.lists(
    st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0]) | st.floats(-3, 30), min_size=1, max_size=6
)


@settings(max_examples=200, deadline=None)
@given(
    runs,
    runs,
    qrels,
    st.sampled_from(MEASURES),
    alphas | st.none(),
    st.sampled_from(NORMALIZATIONS),
    st.fixed_dictionaries(
        {
            "weight_on_dense": st.booleans(),
            "depth": st.integers(1, 10),
            "hits": st.integers(1, 12),
            "missing": st.sampled_from(["min", "zero"]),
            "convex": st.booleans(),
        }
    ),
)
def test_sweep_equals_fuse_then_evaluate(dense, sparse, judgments, measure, grid, normalization, opts):
    qrels_ = Qrels(judgments)
    d, s = Run.from_dict(dense), Run.from_dict(sparse)
    try:
        result = tune(qrels_, d, s, metric=measure, alphas=grid, normalizations=[normalization], **opts)
    except ValueError as err:
        assert "judged" in str(err)
        return
    evaluator = Evaluator(qrels_, [measure])
    for point in result.sweep[:: max(1, len(result.sweep) // 10)]:  # the default grid has 101 points
        fused = fuse(d, s, alpha=point["alpha"], normalization=normalization, **opts)
        assert point["score"] == evaluator.evaluate(fused).summary[result.metric], point
    assert result.best["score"] == max(p["score"] for p in result.sweep)


def test_single_runs_and_folds(tmp_path):
    dense = Run.from_dict({q: {f"d{i}": 1.0 - i / 10 for i in range(8)} for q in "abcdef"})
    sparse = Run.from_dict({q: {f"d{7 - i}": 20.0 - i for i in range(8)} for q in "abcdef"})
    judgments = Qrels({q: {"d7": 1} for q in "abc"} | {q: {"d0": 1} for q in "def"})
    result = tune(judgments, dense, sparse, metric="recip_rank", alphas="0:0.2:0.05", folds=3)
    assert [p["alpha"] for p in result.sweep] == [0.0, 0.05, 0.1, 0.15, 0.2]
    assert result.dense == pytest.approx((1 / 8 * 3 + 3) / 6)
    assert result.sparse == pytest.approx((3 + 1 / 8 * 3) / 6)
    assert len(result.folds) == 3 and sum(f["queries"] for f in result.folds) == 6
    path = result.write_json(tmp_path / "tuning.json")
    data = json.loads(path.read_text())
    assert data["metric"] == "recip_rank" and data["best"]["alpha"] == result.best["alpha"]
    assert {"alpha", "score", "normalization"} <= set(data["sweep"][0]) and len(data["folds"]) == 3
    png = result.plot(tmp_path / "alpha.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        result.plot(png)


def test_default_grid_centres_on_the_score_scales():
    dense = Run.from_dict({q: {f"d{i}": 0.9 - i / 100 for i in range(20)} for q in "ab"})
    sparse = Run.from_dict({q: {f"d{i}": 40.0 - i * 2 for i in range(5, 25)} for q in "ab"})
    grid = [p["alpha"] for p in tune(Qrels({"a": {"d3": 1}}), dense, sparse).sweep]
    assert grid[0] == 0 and len(grid) == 101
    # dense spread 0.19, sparse spread 38: balance at 0.005, the geometric middle of the grid
    assert grid[1] == pytest.approx(0.00005, rel=0.01) and grid[-1] == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize(
    "spec, expected",
    [("0:1:0.25", [0, 0.25, 0.5, 0.75, 1]), ("0.3,0.1, 0.2", [0.1, 0.2, 0.3]), ([2, 1, 1], [1, 2])],
)
def test_parse_alphas(spec, expected):
    assert parse_alphas(spec).tolist() == expected


@pytest.mark.parametrize("spec", ["1:0:0.1", "0:1:0", "a,b", "0:1", ""])
def test_bad_alphas_are_named(spec):
    with pytest.raises(ValueError, match="alphas"):
        parse_alphas(spec)


def test_unjudged_runs_and_bad_measures_are_errors():
    run = Run.from_dict({"1": {"a": 1.0}})
    with pytest.raises(ValueError, match="judged"):
        tune(Qrels({"2": {"a": 1}}), run, run)
    with pytest.raises(ValueError, match="one measure"):
        tune(Qrels({"1": {"a": 1}}), run, run, metric="ndcg_cut")
