"""In-batch KD on tiny random BERTs: the loss, learning on a fixed batch, checkpoints and resume."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hybrid.distill.loop import TrainingOptions
from hybrid.distill.teacher import ColBERT, TeacherConfig
from hybrid.distill.training import (
    LossWeights,
    false_negatives,
    hard_label_loss,
    kd_loss,
    load_student,
    student_loss,
    train_student,
)
from hybrid.distill.triples import Triple, read_triples


def test_kd_loss_equals_a_hand_computed_kl():
    tau = 0.25
    # Row 1: teacher [0, 0] -> p = (1/2, 1/2); student [ln 3, 0] -> q = (3/4, 1/4);
    #        KL = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3).
    # Row 2: teacher [0, tau ln 3] -> p = (1/4, 3/4); student [0, 0] -> q = (1/2, 1/2);
    #        KL = 1/4 ln(1/2) + 3/4 ln(3/2).
    teacher = torch.tensor([[0.0, 0.0], [0.0, tau * math.log(3)]])
    student = torch.tensor([[math.log(3), 0.0], [0.0, 0.0]])
    expected = (0.5 * math.log(4 / 3) + 0.25 * math.log(0.5) + 0.75 * math.log(1.5)) / 2
    assert expected == pytest.approx(0.1373265, abs=1e-7)
    assert kd_loss(student, teacher, tau).item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_is_zero_when_the_distributions_agree():
    teacher = torch.tensor([[3.0, 1.0, -2.0, 0.5], [0.0, 4.0, 4.0, -1.0]])
    student = teacher / 0.25 + torch.tensor([[7.0], [-3.0]])  # same softmax: a per-row shift
    assert kd_loss(student, teacher, 0.25).item() == pytest.approx(0.0, abs=1e-6)
    assert (
        kd_loss(teacher, teacher, 0.25).item() > 0.01
    )  # a different temperature is a different distribution


def test_hard_label_loss_leaves_out_other_positives_of_the_same_query():
    batch = [Triple("q1", "p1", "n1"), Triple("q1", "p2", "n2"), Triple("q2", "p3", "n3")]
    mask = false_negatives(batch)
    assert mask.tolist() == [
        [False, True, False, False, False, False],
        [True, False, False, False, False, False],
        [False, False, False, False, False, False],
    ]
    scores = torch.tensor([[2.0, 5.0, 0.0, 1.0, 0.0, 0.0]] * 3)
    kept = torch.tensor([2.0, 0.0, 1.0, 0.0, 0.0])  # row 0 without column 1
    expected = -torch.log_softmax(kept, 0)[0]
    assert hard_label_loss(scores[:1], mask[:1]).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.fixture
def tiny_teacher(tiny_bert_dir) -> ColBERT:
    return ColBERT.from_pretrained(tiny_bert_dir, TeacherConfig(dim=16, doc_length=24), seed=1).eval()


def _fixed_batch_loss(student, teacher, batch, gamma=0.0) -> float:
    student.eval()
    with torch.no_grad():
        return student_loss(student, teacher, batch, LossWeights(gamma=gamma))[0].item()


@pytest.mark.parametrize("with_teacher", [True, False], ids=["kd", "no-teacher"])
def test_ten_steps_on_a_fixed_batch_lower_the_loss(
    tiny_teacher, tiny_bert_dir, triples_file, tmp_path, with_teacher
):
    batch = list(read_triples(triples_file))
    teacher = tiny_teacher if with_teacher else None
    before = _fixed_batch_loss(load_student(tiny_bert_dir, doc_length=24), teacher, batch)
    options = TrainingOptions(steps=10, batch_size=len(batch), learning_rate=2e-3, seed=0)
    output = train_student(
        triples_file,
        tmp_path / "student",
        teacher=teacher,
        init=tiny_bert_dir,
        options=options,
        weights=LossWeights(gamma=0.0),
        doc_length=24,
    )
    after = _fixed_batch_loss(load_student(output, doc_length=24), teacher, batch)
    assert after < 0.7 * before
    log = [json.loads(line) for line in (output / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 11))
    assert ("kd" in log[0]) == with_teacher and ("ce" in log[0]) != with_teacher


def test_student_starts_from_the_teachers_bert(tiny_teacher):
    student = load_student(tiny_teacher)
    for (name, a), (_, b) in zip(
        student.bert.state_dict().items(), tiny_teacher.bert.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert student.bert is not tiny_teacher.bert


def test_checkpoint_resume_and_load_give_identical_vectors(tiny_teacher, triples_file, tmp_path):
    from hybrid.dense import load_encoder
    from hybrid.formats import Document

    options = TrainingOptions(steps=4, batch_size=3, learning_rate=1e-3, checkpoint_every=2, seed=5)
    straight = train_student(
        triples_file, tmp_path / "straight", teacher=tiny_teacher, options=options, doc_length=24
    )
    checkpoints = tmp_path / "straight.checkpoints"
    assert [p.name for p in checkpoints.glob("step-*")] == ["step-0000002"]
    log = [json.loads(line) for line in (checkpoints / "log.jsonl").read_text().splitlines()]
    # as if steps 1-2 had taken 1000 s longer: the resumed log counts on from there
    log[1]["seconds"] += 1000.0
    (checkpoints / "log.jsonl").write_text("".join(json.dumps(record) + "\n" for record in log))
    resumed = train_student(
        triples_file,
        tmp_path / "resumed",
        teacher=tiny_teacher,
        options=options,
        doc_length=24,
        resume=True,
        checkpoint_dir=checkpoints,
    )
    queries = ["what does the virus cause", "heart study"]
    docs = [Document("d1", "virus", "the virus cause cancer in cells"), Document("d2", "", "a heart study")]
    vectors = {}
    for name, folder in (("straight", straight), ("resumed", resumed)):
        student = load_student(folder, doc_length=512).eval()
        with torch.no_grad():
            vectors[name] = (
                student.encode_queries(queries).numpy(),
                student.encode_docs([d.contents for d in docs]).numpy(),
            )
    assert (vectors["straight"][0] == vectors["resumed"][0]).all()
    assert (vectors["straight"][1] == vectors["resumed"][1]).all()
    initial = load_student(tiny_teacher).eval()
    with torch.no_grad():
        assert not torch.equal(initial.encode_queries(queries), torch.from_numpy(vectors["straight"][0]))
    encoder = load_encoder(str(resumed), encoder_class="tct_colbert")
    assert encoder.encode_queries(queries) == pytest.approx(vectors["resumed"][0], abs=1e-5)
    assert encoder.encode_docs(docs) == pytest.approx(vectors["resumed"][1], abs=1e-5)
    log = [json.loads(line) for line in (resumed / "training_log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [1, 2, 3, 4]
    assert 1000.0 < log[1]["seconds"] < log[2]["seconds"] < log[3]["seconds"]


def test_resume_refuses_a_different_batch_size(tiny_teacher, triples_file, tmp_path):
    options = TrainingOptions(steps=3, batch_size=2, checkpoint_every=1)
    train_student(triples_file, tmp_path / "a", teacher=tiny_teacher, options=options, doc_length=24)
    other = TrainingOptions(steps=3, batch_size=4, checkpoint_every=1)
    with pytest.raises(ValueError, match="batch_size"):
        train_student(
            triples_file,
            tmp_path / "b",
            teacher=tiny_teacher,
            options=other,
            doc_length=24,
            resume=True,
            checkpoint_dir=tmp_path / "a.checkpoints",
        )


def test_an_earlier_training_is_not_silently_replaced(tiny_teacher, triples_file, tmp_path):
    options = TrainingOptions(steps=1, batch_size=2)
    train_student(triples_file, tmp_path / "s", teacher=tiny_teacher, options=options, doc_length=24)
    with pytest.raises(FileExistsError):
        train_student(triples_file, tmp_path / "s", teacher=tiny_teacher, options=options, doc_length=24)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_student(
            triples_file, tmp_path / "t", teacher=tiny_teacher, options=options, doc_length=24, resume=True
        )


def test_half_precision_needs_a_gpu(tiny_teacher, triples_file, tmp_path):
    options = TrainingOptions(steps=1, batch_size=2, precision="bf16")
    with pytest.raises(ValueError, match="CUDA"):
        train_student(triples_file, tmp_path / "s", teacher=tiny_teacher, options=options)


def test_a_run_stopped_before_its_first_checkpoint_starts_afresh(tiny_teacher, triples_file, tmp_path):
    checkpoints = tmp_path / "s.checkpoints"
    checkpoints.mkdir()
    (checkpoints / "log.jsonl").write_text('{"step": 1, "loss": 9.0}\n')  # killed at step 1, no checkpoint
    options = TrainingOptions(steps=2, batch_size=2)
    output = train_student(triples_file, tmp_path / "s", teacher=tiny_teacher, options=options, doc_length=24)
    steps = [json.loads(line)["step"] for line in (output / "training_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
