"""Two Ray Train workers (gloo, CPU) follow the one-process loss curve of the same global batch, and resume;
the student's in-batch KD is gathered across workers (or per worker with --in-batch local)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import TRIPLES, write_triples

pytestmark = pytest.mark.slow


def _train(kind: str, output: Path, *argv: str) -> list[dict]:
    from hybrid.cli import main

    assert main(["train", kind, "--output", str(output), "--overwrite", *argv]) == 0
    return [json.loads(line) for line in (output / "training_log.jsonl").read_text().splitlines()]


def _teacher_weights(folder) -> dict[str, torch.Tensor]:
    from hybrid.distill.teacher import ColBERT

    return ColBERT.from_pretrained(str(folder)).state_dict()


def _bert_weights(folder) -> dict[str, torch.Tensor]:
    from transformers import AutoModel

    return AutoModel.from_pretrained(folder, add_pooling_layer=False).state_dict()


def _assert_same_weights(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for name, value in got.items():
        torch.testing.assert_close(value, want[name], rtol=1e-4, atol=1e-5)


def test_two_workers_follow_one_worker_and_resume(tiny_bert_without_dropout, ray_options, tmp_path):
    triples = write_triples(tmp_path / "triples.tsv")
    argv = ["--init", str(tiny_bert_without_dropout), "--train", str(triples)]
    argv += ["--steps", "4", "--batch-size", "4", "--checkpoint-every", "2"]
    one = _train("teacher", tmp_path / "one", *argv)
    two = _train("teacher", tmp_path / "two", *argv, "--ray", "--workers", "2")
    losses = np.array([r["loss"] for r in one])
    assert [r["step"] for r in two] == [1, 2, 3, 4]
    # Tolerance: the two halves' gradients are summed by gloo in another order than one batch's.
    np.testing.assert_allclose([r["loss"] for r in two], losses, rtol=1e-4, atol=1e-6)
    _assert_same_weights(_teacher_weights(tmp_path / "two"), _teacher_weights(tmp_path / "one"))
    # Resume the two-worker run from its step-2 checkpoint: the same steps 3 and 4, the same model.
    resumed = _train("teacher", tmp_path / "two", *argv, "--ray", "--workers", "2", "--resume")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["loss"] for r in resumed], [r["loss"] for r in two], rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def student_setup(
    tiny_bert_without_dropout, tmp_path_factory
) -> tuple[Path, list[str], dict[str, list[str]]]:
    """A tiny ColBERT teacher, candidate lists (with ids) of 2 to 4 passages (so the workers' parts hold
    different numbers of passages, and some passages occur twice in a batch), the student options every
    run below shares, and the teacher options of each kind of teacher: the ColBERT on the fly, or its
    stored score matrix plus 0.5 x a word-overlap run as BM25 (a hybrid teacher; paths relative to the
    folder, as a user in it would give them)."""
    from hybrid.distill.scores import score_matrix
    from hybrid.distill.teacher import ColBERT, TeacherConfig

    folder = tmp_path_factory.mktemp("student")
    config = TeacherConfig(dim=16, doc_length=24)
    teacher = ColBERT.from_pretrained(tiny_bert_without_dropout, config, seed=1).save(folder / "teacher")
    texts = {p: f"p{i}" for i, (_, p, _) in enumerate(TRIPLES)} | {
        n: f"n{i}" for i, (_, _, n) in enumerate(TRIPLES)
    }
    queries = {f"q{i}": query for i, (query, _, _) in enumerate(TRIPLES)}
    negatives = [negative for _, _, negative in TRIPLES]
    with open(folder / "lists.jsonl", "w") as out:
        for i, (query, positive, negative) in enumerate(TRIPLES):
            passages = [positive, negative, *[n for n in negatives if n != negative][: i % 3]]
            example = {
                "qid": f"q{i}",
                "query": query,
                "passages": passages,
                "docids": [texts[p] for p in passages],
            }
            out.write(json.dumps(example) + "\n")
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": docid, "text": text}) + "\n" for text, docid in texts.items())
    )
    score_matrix(ColBERT.from_pretrained(teacher), queries, folder / "corpus.jsonl").save(
        folder / "teacher.npz"
    )
    with open(folder / "bm25.trec", "w") as out:
        for qid, query in queries.items():
            overlap = {d: len(set(query.split()) & set(t.split())) for t, d in texts.items()}
            hits = sorted((d for d in overlap if overlap[d]), key=lambda d: (-overlap[d], d))
            out.writelines(f"{qid} Q0 {d} {r} {overlap[d]} overlap\n" for r, d in enumerate(hits, 1))
    argv = ["--train", str(folder / "lists.jsonl"), "--no-shuffle", "--doc-length", "24"]
    argv += ["--learning-rate", "1e-3", "--checkpoint-every", "2"]
    stored = ["--init", str(tiny_bert_without_dropout), "--teacher", "teacher.npz"]
    stored += ["--teacher-bm25", "bm25.trec", "--teacher-bm25-weight", "0.5"]
    return folder, argv, {"model": ["--teacher", str(teacher)], "stored": stored}


_STUDENT_TERMS = ("loss", "kd", "listwise", "ce", "student_top1", "teacher_top1")


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("teacher", ["model", "stored"])
def test_student_in_batch_kd_gathered_across_workers_is_the_one_process_loss_and_resumes(
    teacher, student_setup, ray_options, monkeypatch
):
    """`train student --ray --workers 2`, with the teacher on the fly or a stored (hybrid) score matrix:
    each query is scored against the passages of the whole global batch, so the loss curve and the model
    are those of one process; the output folder, checkpoints and log have the layout of a run without Ray,
    and the student loads as a dense encoder. Stopped after its checkpoint and resumed, the two-worker run
    ends with the same log and model."""
    from hybrid.dense import load_encoder

    folder, argv, teachers = student_setup
    monkeypatch.chdir(folder)  # Ray workers run elsewhere: relative paths must reach them resolved
    argv = [*argv, *teachers[teacher], "--steps", "3", "--batch-size", "4"]
    one = _train("student", folder / f"{teacher}-one", *argv)
    two = _train("student", folder / f"{teacher}-two", *argv, "--ray", "--workers", "2")
    assert [r["step"] for r in two] == [1, 2, 3]
    # Tolerance: as for the teacher (gloo sums the gradients in another order; the per-worker padding
    # of passages changes the matrix shapes, hence the float rounding, not the values).
    for name in _STUDENT_TERMS:
        np.testing.assert_allclose([r[name] for r in two], [r[name] for r in one], rtol=1e-4, atol=1e-6)
    _assert_same_weights(_bert_weights(folder / f"{teacher}-two"), _bert_weights(folder / f"{teacher}-one"))
    assert _tree(folder / f"{teacher}-two") == _tree(folder / f"{teacher}-one")
    assert (
        _tree(folder / f"{teacher}-two.checkpoints")
        == _tree(folder / f"{teacher}-one.checkpoints")
        == [
            "log.jsonl",
            "step-0000002",
            "step-0000002/state.pt",
        ]
    )
    texts = [query for query, _, _ in TRIPLES]
    vectors = load_encoder(folder / f"{teacher}-two").encode_queries(texts)
    assert vectors.shape == (len(texts), 32)
    np.testing.assert_allclose(
        vectors, load_encoder(folder / f"{teacher}-one").encode_queries(texts), rtol=1e-4, atol=1e-5
    )
    if teacher == "stored":
        return  # resumed once (the student's state is the same with either teacher), to save ~15 s
    # A run stopped after its step-2 checkpoint (its log has step 3 or not): resumed, step 3 again.
    shutil.copytree(folder / f"{teacher}-two.checkpoints", folder / f"{teacher}-resumed.checkpoints")
    resumed = _train("student", folder / f"{teacher}-resumed", *argv, "--ray", "--workers", "2", "--resume")
    assert [r["step"] for r in resumed] == [1, 2, 3]
    for name in _STUDENT_TERMS:
        np.testing.assert_allclose([r[name] for r in resumed], [r[name] for r in two], rtol=1e-5, atol=1e-7)
    _assert_same_weights(
        _bert_weights(folder / f"{teacher}-resumed"), _bert_weights(folder / f"{teacher}-two")
    )


def test_student_in_batch_kd_per_worker_is_one_process_with_accumulation(student_setup, ray_options):
    """`--in-batch local`: each worker's queries against its own passages only; the same loss as one
    process taking the two halves as accumulated batches, not the gathered loss."""
    folder, argv, teachers = student_setup
    argv = [*argv, *teachers["model"]]
    local = _train(
        "student",
        folder / "local",
        *argv,
        "--steps",
        "1",
        "--batch-size",
        "4",
        "--ray",
        "--in-batch",
        "local",
    )
    halves = _train(
        "student", folder / "halves", *argv, "--steps", "1", "--batch-size", "2", "--accumulation", "2"
    )
    whole = _train("student", folder / "whole", *argv, "--steps", "1", "--batch-size", "4")
    np.testing.assert_allclose(local[0]["loss"], halves[0]["loss"], rtol=1e-4)
    assert abs(local[0]["kd"] - whole[0]["kd"]) > 1e-2 * whole[0]["kd"]


def test_bad_input_on_a_worker_is_reported_as_without_ray(student_setup, ray_options, capsys, monkeypatch):
    """A missing file found by the Ray workers ends the command with the same one-line error as
    without Ray (exit 2), not a Ray traceback."""
    from hybrid.cli import main

    folder, argv, teachers = student_setup
    monkeypatch.chdir(folder)
    stored = [a if a != "bm25.trec" else str(folder / "missing.trec") for a in teachers["stored"]]
    argv = [*argv, *stored, "--steps", "1", "--batch-size", "4", "--output", str(folder / "bad")]
    assert main(["train", "student", *argv]) == 2
    without_ray = capsys.readouterr().err
    assert main(["train", "student", *argv, "--ray", "--workers", "2"]) == 2
    with_ray = capsys.readouterr().err
    assert "missing.trec" in without_ray
    assert with_ray.splitlines()[-1] == without_ray.strip()
    assert "Traceback" not in with_ray
    assert not (folder / "bad").exists()
