"""Triples: reading, deterministic batching with resume positions, and mining from a real BM25 run."""

from __future__ import annotations

import itertools

import pytest

from hybrid import InputError, Qrels, iter_corpus, read_topics
from hybrid.distill.triples import Triple, iter_batches, mine_triples, read_triples


def test_a_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("q\tpos\tneg\nq only\tpos\n")
    with pytest.raises(InputError, match=r"bad\.tsv:2: expected 3 non-empty"):
        list(read_triples(path))


def test_shuffled_epochs_are_permutations_and_resume_continues_the_stream(triples_file):
    everything = list(read_triples(triples_file))
    stream = list(itertools.islice(iter_batches(triples_file, 4, seed=1), 6))  # 3 epochs of 8
    flat = [t for batch in stream for t in batch]
    for epoch in range(3):
        assert sorted(flat[8 * epoch : 8 * epoch + 8]) == sorted(everything)
    assert flat[:8] != everything and flat[:8] != flat[8:16]  # shuffled, and differently per epoch
    again = list(itertools.islice(iter_batches(triples_file, 4, seed=1), 6))
    assert again == stream
    resumed = list(itertools.islice(iter_batches(triples_file, 4, seed=1, start=10), 3))
    assert [t for batch in resumed for t in batch] == flat[10:22]
    other_seed = [t for b in itertools.islice(iter_batches(triples_file, 4, seed=2), 2) for t in b]
    assert other_seed != flat[:8]


def test_streaming_keeps_file_order_and_cycles(triples_file):
    everything = list(read_triples(triples_file))
    batches = list(itertools.islice(iter_batches(triples_file, 3, shuffle=False, start=2), 4))
    assert [t for batch in batches for t in batch] == (everything * 3)[2:14]


@pytest.fixture(scope="module")
def train_sample_run(scifact_slice_sparse_index):
    """A real BM25 run (top 100) for 25 scifact-train queries over the SciFact slice."""
    from hybrid import sparse

    topics = dict(itertools.islice(read_topics("scifact-train").items(), 25))
    return topics, sparse.search(scifact_slice_sparse_index, topics, hits=100)


def test_mined_negatives_come_from_the_run_and_are_never_positives(train_sample_run, scifact_slice, tmp_path):
    topics, run = train_sample_run
    qrels = Qrels.read("scifact-train")
    path, count = mine_triples(
        topics, qrels, run, scifact_slice, tmp_path / "t.tsv", depth=20, negatives_per_positive=3
    )
    text_of = {d.docid: " ".join(d.contents.split()) for d in iter_corpus(scifact_slice)}
    doc_of_text = {text: docid for docid, text in text_of.items()}
    query_of_text = {" ".join(text.split()): qid for qid, text in topics.items()}
    top20 = {qid: set(docs[:20]) for qid, docs, _ in run}
    triples = list(read_triples(path))
    assert len(triples) == count
    expected = 0
    for qid in topics:
        positives = [d for d, g in qrels.get(qid, {}).items() if g > 0 and d in text_of]
        pool = [d for d in top20.get(qid, ()) if qrels[qid].get(d, 0) <= 0]
        expected += len(positives) * min(3, len(pool)) if pool else 0
    assert count == expected > 25
    for triple in triples:
        qid = query_of_text[triple.query]
        positive, negative = doc_of_text[triple.positive], doc_of_text[triple.negative]
        assert qrels[qid][positive] > 0
        assert negative in top20[qid] and qrels[qid].get(negative, 0) <= 0


def test_mining_is_reproducible_from_the_seed(train_sample_run, scifact_slice, tmp_path):
    topics, run = train_sample_run
    first, _ = mine_triples(topics, "scifact-train", run, scifact_slice, tmp_path / "a.tsv", seed=7)
    second, _ = mine_triples(topics, "scifact-train", run, scifact_slice, tmp_path / "b.tsv", seed=7)
    third, _ = mine_triples(topics, "scifact-train", run, scifact_slice, tmp_path / "c.tsv", seed=8)
    assert first.read_bytes() == second.read_bytes() != third.read_bytes()
    with pytest.raises(FileExistsError):
        mine_triples(topics, "scifact-train", run, scifact_slice, first, seed=7)
    assert all("\t" not in field for t in read_triples(first) for field in t) and isinstance(
        next(read_triples(first)), Triple
    )
