"""The bundled dev split of the training queries is what split_qrels writes, and splits the queries;
folds of the fit queries for cross-fitted teachers."""

from __future__ import annotations

import json

import pytest

from hybrid import Qrels, read_topics
from hybrid.datasets import QRELS
from hybrid.distill.splits import fold_queries, split_qrels, split_queries, write_lists_without


def test_bundled_scifact_split_is_reproducible_and_partitions_the_train_queries(tmp_path):
    fit, dev = split_qrels(QRELS / "scifact/train.tsv", tmp_path / "fit.tsv", tmp_path / "dev.tsv")
    assert fit.read_bytes() == (QRELS / "scifact/train-fit.tsv").read_bytes()
    assert dev.read_bytes() == (QRELS / "scifact/train-dev.tsv").read_bytes()
    train, fit_topics, dev_topics = (read_topics(f"scifact-train{s}") for s in ("", "-fit", "-dev"))
    assert set(fit_topics) | set(dev_topics) == set(train) and not set(fit_topics) & set(dev_topics)
    assert len(dev_topics) == round(0.2 * len(train))
    judged = Qrels.read("scifact-train")
    assert {q: judged[q] for q in dev_topics} == dict(Qrels.read("scifact-train-dev").items())


def test_split_depends_on_the_seed_only():
    qids = [str(i) for i in range(50)]
    assert split_queries(qids, 0.2, 1) == split_queries(list(reversed(qids)), 0.2, 1)
    assert split_queries(qids, 0.2, 1) != split_queries(qids, 0.2, 2)


def test_folds_partition_the_fit_queries_in_near_equal_parts():
    qids = list(read_topics("scifact-train-fit"))
    folds = fold_queries(qids, 3)
    assert sorted(q for fold in folds for q in fold) == sorted(qids)
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    assert fold_queries(list(reversed(qids)), 3) == folds != fold_queries(qids, 3, seed=1)
    with pytest.raises(ValueError, match="folds"):
        fold_queries(qids, 1)


def test_lists_without_a_fold_keep_every_other_querys_lines(tmp_path):
    lines = [
        json.dumps({"qid": qid, "query": f"q{qid}", "passages": ["p", "n"], "docids": ["a", "b"]})
        for qid in ("1", "2", "1", "3")
    ]
    source = tmp_path / "lists.jsonl"
    source.write_text("\n".join(lines) + "\n")
    kept = write_lists_without(source, {"1"}, tmp_path / "without-1.jsonl")
    assert kept.read_text().splitlines() == [lines[1], lines[3]]
