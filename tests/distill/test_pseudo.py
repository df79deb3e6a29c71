"""Last-sentence pseudo-queries (inverse cloze) over a real collection."""

import itertools
import json

import pytest

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


def test_pseudo_queries_command_feeds_bm25_and_list_mining(tmp_path, capsys):
    """`train pseudo-queries` -> Lucene over the shortened corpus -> BM25 run -> `train lists`."""
    from hybrid.cli import main
    from hybrid.distill.triples import read_examples
    from hybrid.formats import Qrels, read_topics

    corpus = tmp_path / "slice.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"_id": d.docid, "title": d.title, "text": d.text}) + "\n"
            for d in itertools.islice(iter_corpus("scifact"), 300)
        )
    )
    folder = tmp_path / "pseudo"
    argv = [*_pseudo_queries(corpus, 40, folder), "--seed", "5"]
    assert main(argv) == 0
    assert "wrote 40 pseudo-queries" in capsys.readouterr().out
    topics, qrels = read_topics(folder / "queries.jsonl"), Qrels.read(folder / "qrels.txt")
    assert len(topics) == 40 and set(qrels) == set(topics)
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err  # nothing replaced silently
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pseudo", "slice.jsonl"]  # no temporary left

    index, run, lists = tmp_path / "index", tmp_path / "bm25.trec", tmp_path / "lists.jsonl"
    shortened = str(folder / "corpus.jsonl")
    assert main(["index", "sparse", "--corpus", shortened, "--index", str(index)]) == 0
    topics_file = str(folder / "queries.jsonl")
    assert (
        main(["search", "sparse", "--index", str(index), "--topics", topics_file, "--output", str(run)]) == 0
    )
    base = ["--topics", topics_file, "--qrels", str(folder / "qrels.txt"), "--corpus", shortened]
    assert main(["train", "lists", *base, "--run", str(run), "--output", str(lists)]) == 0
    examples = list(read_examples(lists))
    assert {e.qid for e in examples} == set(topics)
    for example in examples:  # the source is the positive, its copied sentence gone from it
        assert example.docids[0] == next(iter(qrels[example.qid]))
        assert topics[example.qid] not in example.passages[0] and len(example.docids) == 4


def test_pseudo_queries_command_refuses_a_corpus_of_short_documents(tmp_path, capsys):
    from hybrid.cli import main

    corpus = tmp_path / "short.jsonl"
    corpus.write_text(json.dumps({"_id": "d1", "text": "One sentence only."}) + "\n")
    assert main(_pseudo_queries(corpus, 5, tmp_path / "out")) != 0
    assert "no document of" in capsys.readouterr().err and not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as refused:
        main(_pseudo_queries(corpus, 0, tmp_path / "out"))
    assert refused.value.code == 2 and "--count: must be a positive integer" in capsys.readouterr().err


def _pseudo_queries(corpus, count: int, output) -> list[str]:
    return [
        "train",
        "pseudo-queries",
        "--corpus",
        str(corpus),
        "--count",
        str(count),
        "--output",
        str(output),
    ]
