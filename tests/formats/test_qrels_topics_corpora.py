"""Qrels, topics and corpora: bundled names, both layouts of each, and bad-input errors."""

from __future__ import annotations

import gzip
import json

import pytest

from hybrid import InputError, Qrels, iter_corpus, read_topics
from hybrid.datasets import TOPIC_SETS
from hybrid.formats import count_documents


def test_bundled_qrels_counts_match_provenance():
    expected = {
        "scifact-test": (300, 339), "scifact-train": (809, 919), "nfcorpus-test": (323, 12334),
        "nfcorpus-dev": (324, 11385), "nfcorpus-train": (2590, 110575),
        "msmarco-passage-dev-subset": (6980, 7437), "dl19-passage": (43, 9260), "dl20-passage": (54, 11386),
    }  # fmt: skip
    for name, (queries, judgments) in expected.items():
        qrels = Qrels.read(name)
        assert (len(qrels), sum(len(d) for d in qrels.values())) == (queries, judgments), name


def test_bundled_topics_cover_their_qrels():
    sizes = {
        "scifact-test": 300,
        "nfcorpus-dev": 324,
        "msmarco-passage-dev-subset": 6980,
        "dl19-passage": 43,
        "dl20-passage": 200,
    }
    for name in TOPIC_SETS:
        topics = read_topics(name)
        assert set(Qrels.read(name)) <= set(topics), name
        if name in sizes:
            assert len(topics) == sizes[name]
    assert read_topics("dl20-passage")["1030303"] == "who is aziz hashim"  # CRLF file, stripped


def test_corpora_stream_lazily_with_title_and_text():
    docs = iter_corpus("scifact")
    first = next(docs)
    assert first.docid == "4983" and first.contents.startswith(first.title + " ")
    assert count_documents("scifact") == 5183 and sum(1 for _ in iter_corpus("nfcorpus")) == 3633


def test_corpus_layouts(tmp_path):
    beir = tmp_path / "beir.jsonl.gz"
    with gzip.open(beir, "wt") as out:
        out.write(json.dumps({"_id": "d1", "title": "T", "text": "body"}) + "\n")
    folder = tmp_path / "jsoncollection"
    folder.mkdir()
    (folder / "part0.jsonl").write_text(json.dumps({"id": "d2", "contents": "all of it"}) + "\n")
    tsv = tmp_path / "collection.tsv"
    tsv.write_text("0\tfirst passage\n1\tsecond\n")
    assert [d.contents for d in iter_corpus(beir)] == ["T body"]
    assert [(d.docid, d.contents) for d in iter_corpus(folder)] == [("d2", "all of it")]
    assert [d.docid for d in iter_corpus(tsv)] == ["0", "1"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"_id": "a", "text": "x"}\n{"title": "no id", "text": "y"}\n', 2, "document has no id"),
        ('{"_id": "a", "text": "x"}\n{"_id": "b"\n', 2, "not valid JSON"),
        ('{"_id": "a", "body": "x"}\n', 1, "neither"),
    ],
)
def test_bad_corpus_lines(tmp_path, text, line, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        list(iter_corpus(path))
    assert err.value.line == line and str(err.value).startswith(f"{path}:{line}:")


def test_unknown_names_say_what_is_known(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a known topics name.*scifact-test"):
        read_topics("scifact-tset")
    with pytest.raises(FileNotFoundError, match="not a known corpus name"):
        list(iter_corpus(tmp_path / "missing.jsonl"))
    with pytest.raises(FileNotFoundError, match="not a known qrels name"):
        Qrels.read("nope")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1 0 a 1\n1 0 b\n", 2, "expected 4 columns"),
        ("1 0 a 1\n1 0 b x\n", 2, "relevance 'x' is not an integer"),
        ("1 0 a 1\n1 0 a 0\n", 2, "duplicate judgment"),
        ("query-id\tcorpus-id\tscore\r\n1\ta\r\n", 2, "expected 3 columns"),
        ("query-id\tcorpus-id\tscore\r\n", None, "no judgments"),
        ("", None, "empty file"),
    ],
)
def test_bad_qrels(tmp_path, text, line, message):
    path = tmp_path / "qrels.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        Qrels.read(path)
    assert err.value.line == line and str(err.value).startswith(str(path))


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("topics.tsv", "1\tfine\n2\n", 2, "expected 2 tab-separated columns"),
        ("topics.tsv", "1\tfine\n1\tagain\n", 2, "duplicate query id"),
        ("queries.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "2"}\n', 2, 'needs "_id"'),
    ],
)
def test_bad_topics(tmp_path, name, text, line, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_topics(path)
    assert err.value.line == line
