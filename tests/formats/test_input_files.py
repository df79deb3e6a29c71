"""Every reader on files as users have them: a byte-order mark, gzip, bytes that are not UTF-8, a
folder where a file belongs, and an output path that is a folder."""

from __future__ import annotations

import gzip

import pytest

from hybrid import InputError, Qrels, Run, iter_corpus, read_topics
from hybrid.cli import main

BOM = b"\xef\xbb\xbf"
RUN = b"1 Q0 a 1 2.0 t\n1 Q0 b 2 1.0 t\n2 Q0 a 1 0.5 t\n"
MSMARCO_RUN = b"1\ta\t1\n1\tb\t2\n2\ta\t1\n"
TREC_QRELS = b"1 0 a 1\n2 0 b 2\n"
BEIR_QRELS = b"query-id\tcorpus-id\tscore\r\n1\ta\t1\r\n2\tb\t2\r\n"
TSV_TOPICS = b"1\tfirst query\n2\tsecond\n"
JSONL_TOPICS = b'{"_id": "1", "text": "first query"}\n{"_id": "2", "text": "second"}\n'
JSONL_CORPUS = b'{"_id": "a", "title": "T", "text": "x"}\n{"_id": "b", "text": "y"}\n'
TSV_CORPUS = b"a\tx\nb\ty\n"


def read_run(path):
    return Run.read(path).to_dict()


def read_msmarco_run(path):
    return Run.read(path, format="msmarco").to_dict()


def read_trec_run(path):  # the compiled reader first, without looking at the first line
    return Run.read(path, format="trec").to_dict()


def read_qrels(path):
    return dict(Qrels.read(path))


def read_corpus(path):
    return list(iter_corpus(path))


CASES = [
    ("run.trec", RUN, read_run),
    ("run.trec", RUN, read_trec_run),
    ("run.tsv", MSMARCO_RUN, read_run),
    ("run.tsv", MSMARCO_RUN, read_msmarco_run),
    ("qrels.txt", TREC_QRELS, read_qrels),
    ("test.tsv", BEIR_QRELS, read_qrels),
    ("topics.tsv", TSV_TOPICS, read_topics),
    ("queries.jsonl", JSONL_TOPICS, read_topics),
    ("corpus.jsonl", JSONL_CORPUS, read_corpus),
    ("collection.tsv", TSV_CORPUS, read_corpus),
]
IDS = [f"{name}-{reader.__name__}" for name, _, reader in CASES]


@pytest.mark.parametrize("name, content, reader", CASES, ids=IDS)
def test_byte_order_mark_and_gzip_read_like_the_plain_file(tmp_path, name, content, reader):
    """A leading BOM once became part of the first query id (a silently wrong score)."""
    plain = tmp_path / name
    plain.write_bytes(content)
    expected = reader(plain)
    for variant, data in [("bom", BOM + content), ("gz", gzip.compress(content))]:
        path = tmp_path / variant / (name + (".gz" if variant == "gz" else ""))
        path.parent.mkdir()
        path.write_bytes(data)
        assert reader(path) == expected, variant
    both = tmp_path / "both" / (name + ".gz")
    both.parent.mkdir()
    both.write_bytes(gzip.compress(BOM + content))
    assert reader(both) == expected


@pytest.mark.parametrize("name, content, reader", CASES, ids=IDS)
def test_bytes_that_are_not_utf8_name_file_and_line(tmp_path, name, content, reader):
    lines = content.splitlines(keepends=True)
    path = tmp_path / name
    path.write_bytes(b"".join(lines[:-1]) + b"\x89\xff" + lines[-1])
    with pytest.raises(InputError, match="not UTF-8 text") as err:
        reader(path)
    assert err.value.path == str(path) and err.value.line == len(lines)


def test_binary_file_and_damaged_gzip_are_named(tmp_path, capsys):
    image = tmp_path / "image.trec"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    bad_gzip = tmp_path / "run.trec.gz"
    bad_gzip.write_bytes(b"1 Q0 a 1 2.0 t\n")  # named .gz, not compressed
    truncated = tmp_path / "cut.trec.gz"
    truncated.write_bytes(gzip.compress(RUN)[:-12])
    qrels = tmp_path / "qrels.txt"
    qrels.write_bytes(TREC_QRELS)
    for path, message in [
        (image, f"{image}:1: not UTF-8 text"),
        (bad_gzip, f"{bad_gzip}: not a readable gzip"),
        (truncated, f"{truncated}: not a readable gzip"),
    ]:
        assert main(["eval", "-m", "map", str(qrels), str(path)]) == 2
        assert message in capsys.readouterr().err
    for path in (image, bad_gzip):  # as qrels
        assert main(["eval", "-m", "map", str(path), str(path)]) == 2
        assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize("reader", [read_run, read_trec_run, read_qrels, read_topics])
def test_a_folder_given_as_a_file_says_so(tmp_path, reader):
    with pytest.raises(InputError, match="is a folder, not a file"):
        reader(tmp_path)


def test_output_that_is_a_folder_is_refused_even_with_overwrite(tmp_path, capsys):
    source = tmp_path / "in.trec"
    source.write_bytes(RUN)
    folder = tmp_path / "out"
    folder.mkdir()
    for extra in ([], ["--overwrite"]):
        assert main(["convert", "--input", str(source), "--output", str(folder), *extra]) == 2
        assert "is a folder" in capsys.readouterr().err
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert sorted(tmp_path.iterdir()) == sorted([folder, source])  # no temporary file left behind


def test_cli_memory_settings_work_without_numpy_2_module_names(monkeypatch):
    """``numpy._core`` exists from NumPy 2 only; setup.cfg allows NumPy 1.24, whose name is ``numpy.core``."""
    import sys
    import warnings

    from hybrid import cli

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    monkeypatch.setitem(sys.modules, "numpy._core", None)  # as on NumPy 1.x: the import fails
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy 2's numpy.core shim
        cli._tune_memory()
