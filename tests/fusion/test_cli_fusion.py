"""`hybrid fuse` and `hybrid tune` on small run files, in process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybrid import Qrels, Run, fusion
from hybrid.cli import main
from hybrid.fusion import fuse, rrf

DENSE = {"1": {"a": 0.9, "b": 0.7, "c": 0.2}, "2": {"a": 0.5, "d": 0.4}}
SPARSE = {"1": {"c": 14.0, "e": 9.5, "a": 3.0}, "3": {"f": 2.0}}


def rows(run: Run) -> list[tuple[str, str, float]]:
    """(qid, docid, score to 6 decimals) in rank order: what a run file holds."""
    return [
        (q, d, round(s, 6)) for q, docs, scores in run for d, s in zip(docs, scores.tolist(), strict=True)
    ]


@pytest.fixture
def files(tmp_path):
    dense, sparse = tmp_path / "x.dense.trec", tmp_path / "x.sparse.trec"
    Run.from_dict(DENSE, "dense").write(dense)
    Run.from_dict(SPARSE, "bm25").write(sparse)
    Qrels({"1": {"c": 1, "e": 2}, "2": {"d": 1}}).write(tmp_path / "qrels.txt")
    return tmp_path


def test_fuse_writes_the_fused_run(files):
    out = files / "fused.trec"
    args = ["fuse", "--dense", str(files / "x.dense.trec"), "--sparse", str(files / "x.sparse.trec")]
    assert main([*args, "--output", str(out), "--alpha", "0.05", "--normalization", "minmax"]) == 0
    expected = fuse(Run.from_dict(DENSE), Run.from_dict(SPARSE), alpha=0.05, normalization="minmax")
    assert rows(Run.read(out)) == rows(expected)
    assert out.read_text().split("\n")[0].endswith(" hybrid")
    assert main([*args, "--output", str(out)]) == 2  # exists, no --overwrite
    assert main([*args, "--output", str(out), "--overwrite", "--missing", "zero", "--convex"]) == 0


def test_fused_file_is_the_same_from_topic_order_runs(tmp_path, monkeypatch):
    """Runs whose queries come in any order (each query's lines together, as Anserini and Pyserini
    write them) fuse to the same bytes as the same runs sorted by query id, in several blocks."""
    rng = np.random.default_rng(5)
    for side in ("dense", "sparse"):
        docs = [rng.choice(500, 40, replace=False).astype(str) for _ in range(30)]
        scores = np.round(rng.normal(size=(30, 40)), 2).tolist()  # ties within queries
        qids = rng.choice(1000, 30, replace=False).astype(str)
        run = {q: dict(zip(d, s, strict=True)) for q, d, s in zip(qids, docs, scores, strict=True)}
        sorted_path = Run.from_dict(run, side).write(tmp_path / f"{side}.sorted.trec")
        blocks: dict[str, list[str]] = {}
        for line in sorted_path.read_text().splitlines(keepends=True):
            blocks.setdefault(line.split()[0], []).append(line)
        order = rng.permutation(list(blocks))
        (tmp_path / f"{side}.topic.trec").write_text("".join(line for q in order for line in blocks[q]))
    monkeypatch.setattr(fusion, "BLOCK_ROWS", 100)  # several blocks
    written = []
    for layout in ("sorted", "topic"):
        out = tmp_path / f"fused.{layout}.trec"
        runs = [
            "--dense",
            str(tmp_path / f"dense.{layout}.trec"),
            "--sparse",
            str(tmp_path / f"sparse.{layout}.trec"),
        ]
        assert main(["fuse", *runs, "--output", str(out), "--alpha", "0.3"]) == 0
        written.append(out.read_bytes())
    whole = fuse(str(tmp_path / "dense.topic.trec"), str(tmp_path / "sparse.topic.trec"), alpha=0.3)
    assert written[0] == written[1] == whole.write(tmp_path / "whole.trec").read_bytes()


def test_fuse_rrf(files, capsys):
    out = files / "rrf.trec"
    runs = [str(files / "x.dense.trec"), str(files / "x.sparse.trec")]
    assert main(["fuse", "--method", "rrf", "--runs", *runs, "--rrf-k", "10", "--output", str(out)]) == 0
    expected = rrf([Run.from_dict(DENSE), Run.from_dict(SPARSE)], k=10)
    assert rows(Run.read(out)) == rows(expected)
    assert main(["fuse", "--method", "rrf", "--dense", runs[0], "--output", str(files / "r2.trec")]) == 2
    assert "--runs" in capsys.readouterr().err


def test_fuse_names_the_bad_line(files, capsys):
    bad = files / "bad.trec"
    bad.write_text("1 Q0 a 1 0.5 x\n1 Q0 b 2 high x\n")
    code = main(
        ["fuse", "--dense", str(bad), "--sparse", str(files / "x.sparse.trec"), "--output", str(files / "o")]
    )
    assert code == 2
    assert f"{bad}:2" in capsys.readouterr().err
    assert not (files / "o").exists()


def test_tune_prints_and_writes(files, capsys):
    out, plot = files / "tuning.json", files / "alpha.png"
    code = main(["tune", "--qrels", str(files / "qrels.txt"), "--dense", str(files / "x.dense.trec"),
                 "--sparse", str(files / "x.sparse.trec"), "--alphas", "0:1:0.1", "--folds", "2",
                 "--output", str(out), "--plot", str(plot), "--normalization", "none", "zscore"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "dense only" in printed and "sparse only" in printed and "2-fold held-out" in printed
    data = json.loads(out.read_text())
    assert data["metric"] == "ndcg_cut_10" and len(data["sweep"]) == 22 and len(data["folds"]) == 2
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_tune_rejects_bad_grid(files, capsys):
    with pytest.raises(SystemExit) as stop:  # at argument parsing, before the runs are read
        main(["tune", "--qrels", str(files / "qrels.txt"), "--dense", str(files / "x.dense.trec"),
              "--sparse", str(files / "x.sparse.trec"), "--alphas", "1:0:0.1"])  # fmt: skip
    assert stop.value.code == 2 and "alphas" in capsys.readouterr().err


def test_msmarco_runs_are_not_fused_by_score(files, capsys):
    """An MS MARCO run has ranks, no scores: interpolation and tuning refuse it by name; RRF takes it."""
    msmarco = Run.read(files / "x.dense.trec").write(files / "x.dense.tsv", format="msmarco")
    sparse = str(files / "x.sparse.trec")
    out = files / "fused.trec"
    for command in (
        ["fuse", "--dense", str(msmarco), "--sparse", sparse, "--output", str(out)],
        [
            "fuse",
            "--dense",
            sparse,
            "--sparse",
            str(msmarco),
            "--output",
            str(out),
            "--normalization",
            "minmax",
        ],
        ["tune", "--qrels", str(files / "qrels.txt"), "--dense", str(msmarco), "--sparse", sparse],
    ):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{msmarco}: an MS MARCO run has no scores" in err and "--method rrf" in err
        assert "Traceback" not in err and not out.exists()
    for run in (Run.read(msmarco), Run.read(msmarco).top(1), Run.read(msmarco).subset(["1"])):
        with pytest.raises(ValueError, match="x.dense.tsv: an MS MARCO run has no scores"):
            fuse(run, Run.from_dict(SPARSE))
    assert Run.read(msmarco).to_dict() == {
        q: {d: 1 / r for r, d in enumerate(docs, 1)} for q, docs in DENSE.items()
    }
    assert main(["fuse", "--method", "rrf", "--runs", str(msmarco), sparse, "--output", str(out)]) == 0
    expected = rrf([Run.from_dict(DENSE), Run.from_dict(SPARSE)])
    assert rows(Run.read(out)) == rows(expected)
