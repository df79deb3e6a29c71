"""The bundled dev split of the training queries is what split_qrels writes, and splits the queries."""

from __future__ import annotations

from hybrid import Qrels, read_topics
from hybrid.datasets import QRELS
from hybrid.distill.splits import split_qrels, split_queries


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
