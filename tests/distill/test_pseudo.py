"""Last-sentence pseudo-queries (inverse cloze) over a real collection."""

import json

from hybrid import iter_corpus
from hybrid.distill.pseudo import last_sentence_queries, split_last_sentence


def test_split_last_sentence_needs_four_sentences_and_a_long_last_one():
    text = "One is here. Two is here. Three is here. The fourth sentence says what was found."
    assert split_last_sentence(text) == (
        "One is here. Two is here. Three is here.",
        "The fourth sentence says what was found.",
    )
    assert split_last_sentence("One is here. Two is here. The third one says what was found.") is None
    assert split_last_sentence("One is here. Two is here. Three is here. Too short here.") is None


def test_queries_are_removed_from_their_sources_on_scifact(tmp_path):
    shortened = tmp_path / "corpus.jsonl"
    topics, qrels = last_sentence_queries("scifact", shortened, count=50, seed=3)
    assert len(topics) == 50 and set(qrels) == set(topics)
    original = {d.docid: d for d in iter_corpus("scifact")}
    rows = {r["_id"]: r for r in map(json.loads, shortened.read_text().splitlines())}
    assert list(rows) == list(original)  # same documents, same order
    for qid, sentence in topics.items():
        (source,) = qrels[qid]
        assert sentence in original[source].text and sentence not in rows[source]["text"]
        assert rows[source]["title"] == original[source].title
    again, _ = last_sentence_queries("scifact", tmp_path / "again.jsonl", count=50, seed=3)
    assert again == topics
