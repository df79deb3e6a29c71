"""Run files: reading, trec_eval ordering, writing, conversion and every bad-input error."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybrid import InputError, Run, columns
from hybrid.cli import main


def write(tmp_path, text: str, name: str = "run.trec"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rows_follow_trec_eval_order(tmp_path):
    path = write(
        tmp_path, "q2 Q0 a 1 1.0 t\nq1 Q0 b 1 2.0 t\nq1 Q0 c 2 2.0 t\nq1 Q0 a 3 3.5 t\n10 Q0 z 1 0.1 t\n"
    )
    run = Run.read(path)
    assert run.query_list() == ["10", "q1", "q2"]  # byte order, as trec_eval sorts qids
    assert run.to_dict()["q1"] == {"a": 3.5, "c": 2.0, "b": 2.0}  # tie: docid descending
    assert run.name == "t"


def test_fast_and_checked_readers_agree_on_awkward_whitespace(tmp_path):
    clean = write(tmp_path, "1 Q0 d1 1 2.5 t\n1 Q0 d2 2 1.5 t\n2 Q0 d1 1 0.5 t\n", "clean.trec")
    messy = write(tmp_path, "1\tQ0  d1 1 2.5 t\r\n\n1 Q0 d2 2 1.5   t\n2 Q0 d1 1 0.5 t", "messy.trec")
    assert Run.read(clean).to_dict() == Run.read(messy).to_dict()


def test_write_read_round_trip_keeps_six_decimals(tmp_path):
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0, 30, 500), [0.0, -0.0000004, 2.5e-7, 1234567.1234565, -3.0000005]])
    docids = [f"d{i}" for i in range(len(scores))]
    run = Run.from_columns(["q"] * len(scores), docids, scores)
    path = run.write(tmp_path / "out.trec", tag="mine")
    lines = path.read_text().splitlines()
    assert len(lines) == len(scores)
    for line in lines:
        qid, q0, docid, rank, score, tag = line.split(" ")
        original = scores[int(docid[1:])]
        assert score == f"{original:.6f}" and tag == "mine" and q0 == "Q0"
    assert [int(line.split()[3]) for line in lines] == list(range(1, len(scores) + 1))


def test_a_gz_name_writes_gzip_that_reads_back(tmp_path):
    import gzip

    run = Run.from_dict({"q1": {"d1": 2.5, "d2": 1.0}, "q2": {"d3": 0.5}}, name="t")
    path = run.write(tmp_path / "run.trec.gz")
    assert gzip.decompress(path.read_bytes()) == run.write(tmp_path / "run.trec").read_bytes()
    assert Run.read(path).to_dict() == run.to_dict()
    assert run.write(tmp_path / "again.trec.gz").read_bytes() == path.read_bytes()  # no timestamp


def test_msmarco_runs_read_as_one_over_rank_and_convert(tmp_path, capsys):
    path = write(tmp_path, "7\td3\t1\n7\td1\t2\n8\td9\t1\n", "run.tsv")
    run = Run.read(path)
    assert run.to_dict() == {"7": {"d3": 1.0, "d1": 0.5}, "8": {"d9": 1.0}}
    out = tmp_path / "converted.trec"
    assert main(["convert", "--input", str(path), "--output", str(out)]) == 0
    assert out.read_text().splitlines()[1] == "7 Q0 d1 2 0.500000 msmarco"
    back = tmp_path / "back.tsv"
    assert main(["convert", "--input", str(out), "--output", str(back), "--to", "msmarco"]) == 0
    assert back.read_text() == path.read_text()


def test_large_random_run_sorted_like_a_direct_sort():
    rng = random.Random(3)
    rows = {(f"q{rng.randint(0, 50)}", f"doc{rng.randint(0, 400)}") for _ in range(5000)}
    qids, docids = zip(*sorted(rows), strict=True)
    scores = [round(rng.random(), 2) for _ in qids]
    run = Run.from_columns(list(qids), list(docids), scores)
    by_docid_desc = sorted(zip(qids, docids, scores, strict=True), key=lambda r: r[1].encode(), reverse=True)
    expected = sorted(by_docid_desc, key=lambda r: (r[0].encode(), -r[2]))  # stable: ties keep docid desc
    got = [(q, d, s) for q, docs, ss in run for d, s in zip(docs, ss.tolist(), strict=True)]
    assert [(q, d) for q, d, _ in got] == [(q, d) for q, d, _ in expected]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1 Q0 a 1 1.0 t\n1 Q0 b 2 0.5\n", 2, "expected 6 columns"),
        ("1 Q0 a 1 1.0 t\n1 Q0 b 2 high t\n", 2, "score 'high' is not a number"),
        ("1 Q0 a 1 1.0 t\n1 Q0 b 2 nan t\n", 2, "not a finite number"),
        ("1 Q0 a 1 1.0 t\n1 Q0 b 2 0.5 t\n1 Q0 a 3 0.2 t\n", 3, "duplicate document 'a' for query '1'"),
        ("1 a b c\n", 1, "unknown run format"),
    ],
)
def test_bad_trec_runs_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        Run.read(path)
    assert err.value.path == str(path) and err.value.line == line
    assert message in str(err.value) and str(err.value).startswith(f"{path}:{line}:")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1\ta\t1\n1\tb\ttwo\n", 2, "rank 'two' is not an integer"),
        ("1\ta\t1\n1\ta\t2\n", 2, "duplicate document"),
    ],
)
def test_bad_msmarco_runs_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text, "run.tsv")
    with pytest.raises(InputError, match=message) as err:
        Run.read(path)
    assert err.value.line == line


def test_empty_run_is_an_error(tmp_path):
    path = write(tmp_path, "\n\n")
    with pytest.raises(InputError, match="empty file") as err:
        Run.read(path)
    assert str(err.value).startswith(str(path))


def test_existing_output_is_kept_without_overwrite(tmp_path, capsys):
    run = Run.from_dict({"1": {"a": 1.0}})
    path = run.write(tmp_path / "x.trec")
    path.write_text("keep me\n")
    with pytest.raises(FileExistsError, match="--overwrite"):
        run.write(path)
    assert path.read_text() == "keep me\n"
    source = write(tmp_path, "1\ta\t1\n", "in.tsv")
    assert main(["convert", "--input", str(source), "--output", str(path)]) == 2
    assert "exists" in capsys.readouterr().err and path.read_text() == "keep me\n"
    run.write(path, overwrite=True)
    assert path.read_text().startswith("1 Q0 a 1 1.000000")


def test_failed_write_leaves_no_partial_file(tmp_path):
    run = Run.from_dict({"1": {"a": 1.0}})
    with pytest.raises(ValueError, match="one word"):
        run.write(tmp_path / "bad.trec", tag="two words")
    assert list(tmp_path.iterdir()) == []


def test_top_and_subset():
    run = Run.from_dict({"1": {"a": 3.0, "b": 2.0, "c": 1.0}, "2": {"d": 1.0}})
    assert run.top(2).to_dict() == {"1": {"a": 3.0, "b": 2.0}, "2": {"d": 1.0}}
    assert run.subset(["2", "9"]).to_dict() == {"2": {"d": 1.0}}


def test_integer_and_string_doc_ids_behave_alike(tmp_path):
    """Plain integer ids take the int64 path; padded or signed ones stay strings, so '007' != '7'."""
    numeric = Run.from_dict({"1": {"7": 1.0, "10": 1.0, "9": 0.5}, "2": {"7": 2.0}})
    assert isinstance(numeric.doc_vocabulary, np.ndarray)
    assert numeric.to_dict() == {"1": {"7": 1.0, "10": 1.0, "9": 0.5}, "2": {"7": 2.0}}
    assert list(numeric.to_dict()["1"]) == ["7", "10", "9"]  # tie 7/10: docid descending as strings
    padded = Run.from_dict({"1": {"007": 1.0, "7": 1.0}})
    assert not isinstance(padded.doc_vocabulary, np.ndarray)
    assert list(padded.to_dict()["1"]) == ["7", "007"]
    path = numeric.write(tmp_path / "n.trec")
    assert Run.read(path).to_dict() == numeric.to_dict()


@pytest.mark.parametrize("uneven", [False, True])
def test_duplicates_found_whatever_the_query_lengths(uneven):
    """Even lengths are checked with a 2-D sort, very uneven ones with one global sort."""
    qids = ["a"] * 10 + ([f"q{i}" for i in range(20)] if uneven else ["b"] * 10)
    docids = [f"d{i}" for i in range(10)] + (
        [f"d{i}" for i in range(20)] if uneven else [f"d{i}" for i in range(10)]
    )
    assert len(Run.from_columns(qids, docids, np.arange(len(qids), dtype=float))) == len(qids)
    with pytest.raises(ValueError, match="duplicate document 'd3' for query 'a'"):
        Run.from_columns([*qids, "a"], [*docids, "d3"], np.arange(len(qids) + 1, dtype=float))


def _columns(**changes):
    """A valid one-query run's constructor arguments, with some replaced."""
    import pyarrow as pa

    columns = {
        "query_ids": pa.array(["q1", "q2"]),
        "doc_vocabulary": pa.array(["a", "b"]),
        "qids": np.array([0, 0, 1], np.int32),
        "docs": np.array([0, 1, 1], np.int32),
        "scores": np.array([2.0, 1.0, 0.5]),
    }
    return {**columns, **changes}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"docs": [0, 1, 10**8]}, "outside doc_vocabulary"),
        ({"docs": [0, -1, 1]}, "outside doc_vocabulary"),
        ({"docs": np.array([0, 1, 2**40])}, "outside its vocabulary"),
        ({"qids": [0, 0, 2]}, "ascending codes"),
        ({"qids": [1, 0, 0]}, "ascending codes"),
        ({"qids": [-1, 0, 0]}, "ascending codes"),
        ({"scores": [1.0, 2.0]}, "same length"),
        ({"scores": [1.0, np.nan, 0.0]}, "finite"),
        ({"scores": [1.0, np.inf, 0.0]}, "finite"),
        ({"docs": [0.0, 1.0, 1.0]}, "integer array"),
        ({"doc_vocabulary": np.array([7, 3])}, "sorted, distinct"),
        ({"doc_vocabulary": np.array([-1, 3])}, "non-negative"),
        ({"doc_vocabulary": ["a", "b"]}, "Arrow string array"),
    ],
)
def test_run_refuses_columns_pointing_outside_its_vocabularies(changes, message):
    """Once a crash (codes past the vocabulary reached the compiled writer and fusion kernels)."""
    import hybrid

    with pytest.raises(ValueError, match=message):
        Run(**_columns(**changes))
    good = Run(**_columns())
    with pytest.raises(ValueError, match=message):
        hybrid.fuse(Run(**_columns(**changes)), good)


def test_compiled_kernels_refuse_codes_outside_their_arrays():
    """The C entry points check bounds themselves, whatever the Python side passes."""
    from hybrid import _fusion_kernels
    from hybrid.formats import _runio

    codes, offsets = np.array([0], np.int32), np.array([0, 1], np.int64)

    def format_row(qcodes, docs, doc_offsets=offsets, row_offsets=offsets):
        return _runio.format(
            qcodes,
            b"q",
            offsets,
            docs,
            None,
            b"d",
            doc_offsets,
            np.ones(len(qcodes)),
            row_offsets,
            0,
            b"t",
            True,
        )

    assert format_row(codes, codes) == b"q Q0 d 1 1.000000 t\n"
    for bad in ([5], [-1], [10**8]):
        with pytest.raises(ValueError, match="outside"):
            format_row(np.array(bad, np.int32), codes)
        with pytest.raises(ValueError, match="outside"):
            format_row(codes, np.array(bad, np.int32))
    with pytest.raises(ValueError, match="outside"):
        format_row(codes, codes, doc_offsets=np.array([0, 99], np.int64))
    with pytest.raises(ValueError, match="outside"):
        format_row(codes, codes, row_offsets=np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="outside"):
        _fusion_kernels.union([(codes, np.array([10**8], np.int32), np.zeros(1, np.int32))])
    for bad in ([0, 5], [3, 1], [-1, 1], [0, 2, 1]):
        with pytest.raises(ValueError, match="offsets"):
            _fusion_kernels.rank(np.array(bad, np.int64), np.ones(2), 1)
    for values, top in (([5], 4), ([-1], 4), ([0], -1)):
        with pytest.raises(ValueError, match="top"):
            _runio.intern(np.array(values, np.int64), top)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.integers(0, 300) | st.sampled_from([0, 63, 64, 65, 127, 128, 10**12]), min_size=1, max_size=400
    )
)
def test_integer_doc_ids_intern_into_their_sorted_distinct_values(values):
    """Integer ids get codes into their sorted distinct values (a bitmap of a dense id space, or a sort)."""
    numbers = np.array(values, np.int64)
    vocabulary, codes = columns.intern_numbers(numbers)
    assert vocabulary.tolist() == sorted(set(values)) and codes.dtype == np.int32
    assert vocabulary[codes].tolist() == values
