"""``hybrid train triples|teacher|student``: the commands end to end on a tiny BERT, and their errors."""

from __future__ import annotations

import json

import pytest
import torch

from hybrid import iter_corpus
from hybrid.cli import main
from hybrid.distill.teacher import ColBERT
from hybrid.distill.training import load_student

TINY = ["--steps", "2", "--batch-size", "4", "--learning-rate", "1e-3", "--doc-length", "24"]


def test_teacher_then_student_commands(tiny_bert_dir, triples_file, tmp_path, capsys):
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    argv = ["train", "teacher", "--init", str(tiny_bert_dir), "--train", str(triples_file)]
    assert main([*argv, "--output", str(teacher_dir), "--dim", "8", *TINY, "--checkpoint-every", "1"]) == 0
    teacher = ColBERT.from_pretrained(teacher_dir)
    assert teacher.config.dim == 8 and teacher.config.doc_length == 24
    initial = ColBERT.from_pretrained(tiny_bert_dir, seed=42)
    assert not torch.equal(
        teacher.bert.embeddings.word_embeddings.weight, initial.bert.embeddings.word_embeddings.weight
    )
    log = [json.loads(x) for x in (teacher_dir / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and "pair_accuracy" in log[0]

    argv = ["train", "student", "--teacher", str(teacher_dir), "--train", str(triples_file), "--gamma", "0.5"]
    assert main([*argv, "--output", str(student_dir), *TINY]) == 0
    assert "wrote student" in capsys.readouterr().out
    log = [json.loads(x) for x in (student_dir / "training_log.jsonl").read_text().splitlines()]
    assert {"kd", "ce", "loss", "lr"} <= set(log[0])
    assert main([*argv, "--output", str(student_dir), *TINY]) == 2  # exists

    # The student is a dense encoder for `hybrid index dense --encoder-class tct_colbert`.
    corpus, index = tmp_path / "corpus.jsonl", tmp_path / "index"
    docs = {"d1": "the virus cause cancer", "d2": "a heart study with patients", "d3": "blood protein"}
    corpus.write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in docs.items()))
    argv = ["index", "dense", "--corpus", str(corpus), "--index", str(index), "--encoder", str(student_dir)]
    assert main([*argv, "--encoder-class", "tct_colbert"]) == 0
    import faiss

    stored = faiss.read_index(str(index / "index"))
    docids = (index / "docid").read_text().split()
    student = load_student(student_dir).eval()
    with torch.no_grad():
        expected = student.encode_docs([docs[d] for d in docids]).numpy()
    assert stored.reconstruct_n(0, stored.ntotal) == pytest.approx(expected, abs=1e-5)


def test_bad_triples_file_is_reported_with_its_line(tiny_bert_dir, tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("virus\tthe virus cause cancer\tthe heart\nno negative here\tthe heart\n")
    argv = [
        "train",
        "student",
        "--init",
        str(tiny_bert_dir),
        "--train",
        str(bad),
        "--output",
        str(tmp_path / "s"),
    ]
    assert main([*argv, *TINY]) == 2
    assert "bad.tsv:2: expected 3 non-empty" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_student_needs_a_teacher_or_an_init(triples_file, tmp_path, capsys):
    assert main(["train", "student", "--train", str(triples_file), "--output", str(tmp_path / "s")]) == 2
    assert "--teacher" in capsys.readouterr().err


def test_triples_command(scifact_slice, tmp_path, capsys):
    run = tmp_path / "run.trec"
    # A hand-made first stage for two train queries: their positives are excluded, the rest are negatives.
    run.write_text(
        "0 Q0 31715818 1 9 x\n0 Q0 4983 2 8 x\n0 Q0 5836 3 7 x\n2 Q0 13734012 1 3 x\n2 Q0 4983 2 2 x\n"
    )
    topics = tmp_path / "topics.tsv"
    topics.write_text("0\tbiomaterials claim\n2\tprion claim\n")
    out = tmp_path / "triples.tsv"
    argv = ["train", "triples", "--topics", str(topics), "--qrels", "scifact-train", "--run", str(run)]
    assert main([*argv, "--corpus", str(scifact_slice), "--output", str(out), "--negatives", "5"]) == 0
    assert "wrote" in capsys.readouterr().out
    text = {d.docid: " ".join(d.contents.split()) for d in iter_corpus(scifact_slice)}
    triples = sorted(tuple(line.split("\t")) for line in out.read_text().splitlines())
    expected = [
        ("biomaterials claim", text["31715818"], text["4983"]),
        ("biomaterials claim", text["31715818"], text["5836"]),
        ("prion claim", text["13734012"], text["4983"]),
    ]
    assert triples == sorted(expected)


@pytest.mark.slow
def test_lists_teacher_scores_and_distillation_from_stored_scores(tiny_bert_dir, tmp_path, capsys):
    """`train lists` -> `train teacher` -> `train teacher-scores` -> `train student --teacher X.npz` (hybrid)."""
    from hybrid.distill.scores import TeacherScores
    from hybrid.distill.triples import read_examples

    words = ["virus", "cancer", "heart", "blood", "protein", "gene", "brain", "drug", "dose", "vaccine"]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"_id": f"d{i}", "text": f"the {w} study"}) + "\n" for i, w in enumerate(words))
    )
    topics = tmp_path / "topics.tsv"
    topics.write_text("1\twhat does the virus cause\n2\thow does the drug work\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("1 0 d0 1\n2 0 d7 1\n2 0 d8 1\n")
    run = tmp_path / "run.trec"
    run.write_text("".join(f"{q} Q0 d{i} {i + 1} {10 - i} bm25\n" for q in "12" for i in range(10)))
    lists, teacher, scores = tmp_path / "lists.jsonl", tmp_path / "teacher", tmp_path / "t.npz"
    base = ["--topics", str(topics), "--qrels", str(qrels), "--corpus", str(corpus)]
    assert (
        main(
            [
                "train",
                "lists",
                *base,
                "--run",
                str(run),
                "--run",
                str(run),
                "--output",
                str(lists),
                "--negatives",
                "2",
            ]
        )
        == 0
    )
    examples = list(read_examples(lists))
    assert len(examples) == 3 and all(len(e.docids) == 3 for e in examples)
    assert (
        main(
            [
                "train",
                "teacher",
                "--init",
                str(tiny_bert_dir),
                "--train",
                str(lists),
                "--output",
                str(teacher),
                "--dim",
                "8",
                *TINY,
            ]
        )
        == 0
    )
    argv = [
        "train",
        "teacher-scores",
        "--teacher",
        str(teacher),
        "--topics",
        str(topics),
        "--corpus",
        str(corpus),
    ]
    assert main([*argv, "--output", str(scores)]) == 0
    matrix = TeacherScores.load(scores)
    assert matrix.scores.shape == (2, 10) and matrix.qids == ["1", "2"]
    expected = ColBERT.from_pretrained(teacher)(["what does the virus cause"], ["the virus study"]).item()
    assert matrix.lookup(["1"], ["d0"])[0, 0] == pytest.approx(expected, rel=1e-4)
    argv = ["train", "student", "--init", str(tiny_bert_dir), "--teacher", str(scores), "--train", str(lists)]
    hybrid = [
        "--teacher-bm25",
        str(run),
        "--teacher-bm25-weight",
        "0.5",
        "--tau",
        "2",
        "--loss",
        "margin-mse",
    ]
    assert main([*argv, *hybrid, "--output", str(tmp_path / "student"), *TINY]) == 0
    log = [json.loads(x) for x in (tmp_path / "student" / "training_log.jsonl").read_text().splitlines()]
    assert {"ce", "kd", "margin-mse"} <= set(log[0])
    assert json.loads((tmp_path / "student" / "loss.json").read_text())["loss"] == "margin-mse"
    assert main([*argv, "--output", str(tmp_path / "s2"), "--teacher-bm25-weight", "1", *TINY]) == 2
    assert "--teacher-bm25" in capsys.readouterr().err
