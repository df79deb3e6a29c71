"""Bad input fails early with errors naming the file, the line and what is wrong; nothing half-built is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sparse_toys import TOY_DOCS, write_jsonl

from hybrid.cli import main
from hybrid.errors import InputError
from hybrid.sparse import BM25Searcher, build_index, search


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_missing_corpus(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="no-such-corpus.jsonl: no such file, and not a known corpus name"
    ):
        build_index(tmp_path / "no-such-corpus.jsonl", tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_corpus_line_without_id(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [TOY_DOCS[0], {"title": "t", "text": "no id here"}])
    with pytest.raises(InputError, match="no id") as err:
        build_index(corpus, tmp_path / "index")
    assert (err.value.path, err.value.line) == (str(corpus), 2)
    assert not (tmp_path / "index").exists() and leftovers(tmp_path) == []


def test_duplicate_corpus_id_names_file_and_lines(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [TOY_DOCS[0], TOY_DOCS[1], TOY_DOCS[0]])
    with pytest.raises(InputError, match=r"duplicate document id 'd1' \(first at .*corpus.jsonl:1\)") as err:
        build_index(corpus, tmp_path / "index")
    assert (err.value.path, err.value.line) == (str(corpus), 3)
    assert leftovers(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_index_build_says_so_and_leaves_the_folder_as_before(tmp_path, signum):
    """Stopped while Anserini indexes (SciFact, 8 collection files), the command exits 130 and the
    output folder's parent holds exactly what it held before; Lucene's INFO line never shows."""
    parent = tmp_path / "out"
    parent.mkdir()
    (parent / "keep.txt").write_text("mine")
    before = sorted(p.name for p in parent.iterdir())
    command = [sys.executable, "-m", "hybrid", "index", "sparse", "--corpus", "scifact", "--index"]
    env = {name: value for name, value in os.environ.items() if name != "TQDM_DISABLE"}
    process = subprocess.Popen([*command, str(parent / "index")], stderr=subprocess.PIPE, text=True, env=env)
    seen = ""
    while "indexing:" not in seen:  # tqdm's bar of the Java stage
        character = process.stderr.read(1)
        assert character, f"ended before indexing: {seen}"
        seen += character
    time.sleep(1.5)
    process.send_signal(signum)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130
    assert "hybrid index: interrupted" in rest
    assert "MemorySegmentIndexInput" not in seen + rest
    assert sorted(p.name for p in parent.iterdir()) == before


def test_existing_index_needs_overwrite(toy_corpus, tmp_path):
    index = build_index(toy_corpus, tmp_path / "index")
    with pytest.raises(FileExistsError, match="exists; pass --overwrite"):
        build_index(toy_corpus, index)
    bigger = write_jsonl(tmp_path / "bigger.jsonl", [*TOY_DOCS, {"_id": "d5", "title": "", "text": "more"}])
    build_index(bigger, index, overwrite=True)
    assert BM25Searcher(index).num_docs == 5
    assert leftovers(tmp_path) == []


def test_unknown_topics(toy_corpus, tmp_path):
    index = build_index(toy_corpus, tmp_path / "index")
    with pytest.raises(FileNotFoundError, match="scifact-tset: no such file, and not a known topics name"):
        search(index, "scifact-tset")


def test_expansion_ids_must_be_in_the_corpus(toy_corpus, tmp_path):
    expansions = write_jsonl(
        tmp_path / "expansions.jsonl",
        [
            {"id": "d1", "predicted_queries": ["a"]},
            {"id": "d9", "predicted_queries": ["b"]},
            {"id": "d8", "predicted_queries": ["c"]},
        ],
    )
    with pytest.raises(
        InputError, match=r"document id 'd9' is not in the corpus .* \(1 more unknown ids\)"
    ) as err:
        build_index(toy_corpus, tmp_path / "index", expansions=expansions)
    assert (err.value.path, err.value.line) == (str(expansions), 2)
    assert not (tmp_path / "index").exists() and leftovers(tmp_path) == []


def test_missing_or_invalid_index(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such index folder"):
        BM25Searcher(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a Lucene index"):
        search(tmp_path / "empty", {"q": "text"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["index", "sparse", "--corpus", "{tmp}/missing.jsonl", "--index", "{tmp}/i"],
            "missing.jsonl: no such file",
        ),
        (
            ["index", "sparse", "--corpus", "{tmp}/bad.jsonl", "--index", "{tmp}/i"],
            "bad.jsonl:2: document has no id",
        ),
        (
            ["search", "sparse", "--index", "{tmp}/i", "--topics", "x", "--output", "{tmp}/r"],
            "no such index folder",
        ),
        (
            ["expand", "--corpus", "{tmp}/bad.jsonl", "--predictions", "{tmp}/p", "--output", "{tmp}/e"],
            "bad.jsonl:2",
        ),
    ],
)
def test_cli_reports_errors_and_exits_2(tmp_path, capsys, argv, message):
    write_jsonl(tmp_path / "bad.jsonl", [TOY_DOCS[0], {"text": "no id"}])
    (tmp_path / "p").write_text("q\nq\n")
    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert f"hybrid {argv[0]}: error: " in err and message in err


def test_empty_documents_are_skipped_with_a_warning(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [TOY_DOCS[0], {"_id": "blank", "title": "", "text": ""}])
    with pytest.warns(UserWarning, match="1 documents with empty contents were not indexed"):
        index = build_index(corpus, tmp_path / "index")
    searcher = BM25Searcher(index)
    assert searcher.num_docs == 1 and searcher.doc("blank") is None
