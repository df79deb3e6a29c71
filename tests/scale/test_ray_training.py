"""Two Ray Train workers (gloo, CPU) follow the one-process loss curve of the same global batch, and resume;
the student's in-batch KD is gathered across workers (or per worker with --in-batch local)."""

from __future__ import annotations

import json
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
def student_setup(tiny_bert_without_dropout, tmp_path_factory) -> tuple[Path, list[str]]:
    """A tiny ColBERT teacher, candidate lists of 2 to 4 passages (so the workers' parts hold different
    numbers of passages), and the student options every run below shares."""
    from hybrid.distill.teacher import ColBERT, TeacherConfig

    folder = tmp_path_factory.mktemp("student")
    config = TeacherConfig(dim=16, doc_length=24)
    teacher = ColBERT.from_pretrained(tiny_bert_without_dropout, config, seed=1).save(folder / "teacher")
    negatives = [negative for _, _, negative in TRIPLES]
    with open(folder / "lists.jsonl", "w") as out:
        for i, (query, positive, negative) in enumerate(TRIPLES):
            extra = [n for n in negatives if n != negative][: i % 3]
            out.write(json.dumps({"query": query, "passages": [positive, negative, *extra]}) + "\n")
    argv = ["--teacher", str(teacher), "--train", str(folder / "lists.jsonl"), "--no-shuffle"]
    argv += ["--doc-length", "24", "--learning-rate", "1e-3", "--checkpoint-every", "2"]
    return folder, argv


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_student_in_batch_kd_gathered_across_workers_is_the_one_process_loss(student_setup, ray_options):
    """`train student --ray --workers 2`: each query is scored against the passages of the whole global
    batch, so the loss curve and the model are those of one process; the output folder, checkpoints and
    log have the layout of a run without Ray, and the student loads as a dense encoder."""
    from hybrid.dense import load_encoder

    folder, argv = student_setup
    argv = [*argv, "--steps", "3", "--batch-size", "4"]
    one = _train("student", folder / "one", *argv)
    two = _train("student", folder / "two", *argv, "--ray", "--workers", "2")
    assert [r["step"] for r in two] == [1, 2, 3]
    # Tolerance: as for the teacher (gloo sums the gradients in another order; the per-worker padding
    # of passages changes the matrix shapes, hence the float rounding, not the values).
    for name in ("loss", "kd", "listwise", "ce", "student_top1", "teacher_top1"):
        np.testing.assert_allclose([r[name] for r in two], [r[name] for r in one], rtol=1e-4, atol=1e-6)
    _assert_same_weights(_bert_weights(folder / "two"), _bert_weights(folder / "one"))
    assert _tree(folder / "two") == _tree(folder / "one")
    assert (
        _tree(folder / "two.checkpoints")
        == _tree(folder / "one.checkpoints")
        == [
            "log.jsonl",
            "step-0000002",
            "step-0000002/state.pt",
        ]
    )
    texts = [query for query, _, _ in TRIPLES]
    vectors = load_encoder(folder / "two").encode_queries(texts)
    assert vectors.shape == (len(texts), 32)
    np.testing.assert_allclose(
        vectors, load_encoder(folder / "one").encode_queries(texts), rtol=1e-4, atol=1e-5
    )


def test_student_in_batch_kd_per_worker_is_one_process_with_accumulation(student_setup, ray_options):
    """`--in-batch local`: each worker's queries against its own passages only; the same loss as one
    process taking the two halves as accumulated batches, not the gathered loss."""
    folder, argv = student_setup
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
