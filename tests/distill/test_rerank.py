"""The teacher as a reranker: MaxSim of exactly the top-k candidates, resorted; and the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from hybrid import Run
from hybrid.cli import main
from hybrid.distill.rerank import rerank
from hybrid.distill.teacher import ColBERT, TeacherConfig

DOCS = {
    "d1": ("Virus", "the virus cause cancer in cells"),
    "d2": ("", "high dose increase cancer risk"),
    "d3": ("Heart", "a heart study with patients"),
    "d4": ("", "the gene effect on protein is low"),
    "d5": ("Brain", "brain cells are low in patients"),
}
TOPICS = {"q1": "what does the virus cause", "q2": "heart study patients"}


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        "".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, (t, x) in DOCS.items())
    )
    return path


@pytest.fixture
def teacher_dir(tiny_bert_dir, tmp_path):
    teacher = ColBERT.from_pretrained(tiny_bert_dir, TeacherConfig(dim=8, doc_length=16), seed=2)
    return teacher.save(tmp_path / "teacher")


def first_stage() -> Run:
    return Run.from_dict(
        {
            "q1": {"d2": 9.0, "d1": 8.0, "d3": 7.0, "d5": 1.0, "d9": 0.5},
            "q2": {"d4": 5.0, "d3": 4.0, "d1": 3.0},
        },
        "bm25",
    )


def test_rerank_scores_the_top_k_with_maxsim(teacher_dir, corpus):
    teacher = ColBERT.from_pretrained(teacher_dir).eval()
    reranked = rerank(teacher, first_stage(), TOPICS, corpus, depth=3, batch_size=2)
    contents = {d: f"{t} {x}" if t else x for d, (t, x) in DOCS.items()}
    got = reranked.to_dict()
    assert set(got["q1"]) == {"d1", "d2", "d3"} and set(got["q2"]) == {"d1", "d3", "d4"}
    with torch.no_grad():
        for qid, hits in got.items():
            direct = teacher([TOPICS[qid]], [contents[d] for d in hits])[0]
            assert list(hits.values()) == pytest.approx(direct.tolist(), rel=1e-5)
            assert list(hits.values()) == sorted(hits.values(), reverse=True)
    assert reranked.name == "colbert"


def test_rerank_names_what_is_missing(teacher_dir, corpus):
    teacher = ColBERT.from_pretrained(teacher_dir)
    with pytest.raises(ValueError, match="run query .* has no topic text"):
        rerank(teacher, first_stage(), {"q1": "virus"}, corpus)
    run = Run.from_dict({"q1": {"d9": 1.0}})
    with pytest.raises(ValueError, match="not in corpus.*'d9'"):
        rerank(teacher, run, TOPICS, corpus)


def test_rerank_command_writes_the_reranked_run(teacher_dir, corpus, tmp_path):
    run_path, topics_path, output = tmp_path / "bm25.trec", tmp_path / "topics.tsv", tmp_path / "colbert.trec"
    first_stage().write(run_path)
    topics_path.write_text("".join(f"{q}\t{t}\n" for q, t in TOPICS.items()))
    argv = ["rerank", "--teacher", str(teacher_dir), "--run", str(run_path), "--topics", str(topics_path)]
    argv += ["--corpus", str(corpus), "--output", str(output), "--depth", "3"]
    assert main(argv) == 0
    teacher = ColBERT.from_pretrained(teacher_dir).eval()
    expected = rerank(teacher, first_stage(), TOPICS, corpus, depth=3)
    written = Run.read(output).to_dict()
    for qid, hits in expected.to_dict().items():
        assert list(written[qid]) == list(hits)
        assert list(written[qid].values()) == pytest.approx(list(hits.values()), abs=1e-6)
    assert main(argv) == 2  # exists: refuses without --overwrite
