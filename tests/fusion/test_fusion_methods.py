"""CombSUM / CombMNZ / CombMAX against ranx's fuse and ``average`` against Pyserini's, on real
BM25 and MiniLM runs over the SciFact slice; the --runs methods through the CLI on toy runs."""

from __future__ import annotations

import math

import pytest

from hybrid import Run
from hybrid.cli import main
from hybrid.fusion import RUN_LIST_METHODS, average, combmax, combmnz, combsum

UNION = 3000  # more than the union of two 1000-hit runs: keep every fused document


def scores_of(run: Run) -> dict[str, dict[str, float]]:
    return {qid: dict(zip(docs, scores.tolist(), strict=True)) for qid, docs, scores in run}


def assert_close(ours: dict, theirs: dict) -> None:
    assert set(ours) == set(theirs)
    for qid, hits in theirs.items():
        assert set(ours[qid]) == set(hits), qid
        for doc, score in hits.items():
            assert math.isclose(ours[qid][doc], score, rel_tol=0, abs_tol=1e-6), (qid, doc)


@pytest.fixture(scope="module")
def runs(scifact_slice_runs):
    return [scifact_slice_runs["dense-test"], scifact_slice_runs["bm25-test"]]


@pytest.mark.slow
@pytest.mark.parametrize(("ours", "method"), [(combsum, "sum"), (combmnz, "mnz"), (combmax, "max")])
@pytest.mark.parametrize(("normalization", "norm"), [("minmax", "min-max"), ("none", None)])
def test_comb_methods_equal_ranx(runs, ours, method, normalization, norm):
    import ranx

    theirs = ranx.fuse([ranx.Run(r.to_dict()) for r in runs], norm=norm, method=method)
    fused = ours(runs, normalization=normalization, hits=UNION)
    assert_close(scores_of(fused), {q: dict(hits) for q, hits in theirs.to_dict().items()})


@pytest.mark.slow
def test_average_equals_pyserini(runs, tmp_path):
    from pyserini.fusion import average as pyserini_average
    from pyserini.trectools import TrecRun

    paths = [r.write(tmp_path / f"{i}.trec") for i, r in enumerate(runs)]
    theirs = pyserini_average([TrecRun(str(p)) for p in paths], depth=1000, k=UNION).run_data
    expected: dict[str, dict[str, float]] = {}
    for qid, docid, score in zip(theirs["topic"], theirs["docid"], theirs["score"], strict=True):
        expected.setdefault(str(qid), {})[str(docid)] = float(score)
    # Pyserini reads the runs as written (6 decimals), so ours fuses the same files.
    assert_close(scores_of(average([str(p) for p in paths], hits=UNION)), expected)


def test_run_list_methods_through_the_cli(tmp_path, capsys):
    a = Run.from_dict({"1": {"x": 3.0, "y": 2.0, "z": 1.0}, "2": {"x": 1.0}}, "a")
    b = Run.from_dict({"1": {"y": 10.0, "w": 5.0}, "2": {"v": 4.0, "x": 2.0}}, "b")
    paths = [str(a.write(tmp_path / "a.trec")), str(b.write(tmp_path / "b.trec"))]
    for method, function in RUN_LIST_METHODS.items():
        out = tmp_path / f"{method}.trec"
        assert main(["fuse", "--method", method, "--runs", *paths, "--output", str(out)]) == 0
        written = Run.read(out)
        assert written.name == method
        expected = scores_of(function([a, b]))
        assert {q: {d: round(s, 6) for d, s in h.items()} for q, h in scores_of(written).items()} == {
            q: {d: round(s, 6) for d, s in h.items()} for q, h in expected.items()
        }
    out = str(tmp_path / "raw.trec")
    assert (
        main(["fuse", "--method", "combsum", "--normalization", "none", "--runs", *paths, "--output", out])
        == 0
    )
    assert scores_of(Run.read(out))["1"] == {"y": 12.0, "w": 5.0, "x": 3.0, "z": 1.0}
    assert (
        main(
            ["fuse", "--method", "rrf", "--normalization", "minmax", "--runs", *paths, "--output", out + "2"]
        )
        == 2
    )
    assert "does not apply to rrf" in capsys.readouterr().err
    # Query 1 by hand: min-max puts y at 0.5 (a) and 1 (b), so CombSUM 1.5 and CombMNZ 3.
    assert scores_of(combsum([a, b]))["1"]["y"] == 1.5
    assert scores_of(combmnz([a, b]))["1"]["y"] == 3.0
    assert scores_of(combmax([a, b]))["1"] == {"y": 1.0, "x": 1.0, "w": 0.0, "z": 0.0}
    assert scores_of(average([a, b]))["1"] == {"y": 6.0, "w": 2.5, "x": 1.5, "z": 0.5}
