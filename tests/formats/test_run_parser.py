"""The compiled run reader and writer against plain Python: the line-by-line reader and f"{s:.6f}"."""

from __future__ import annotations

import gzip
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybrid import InputError, Run
from hybrid.formats.runs import _read_checked, _read_fast

# Every ASCII control byte, and the non-ASCII characters str.split also splits on.
CONTROLS = [chr(c) for c in range(32)] + ["\x7f", "\x85", "\xa0", "\u2028", "\u3000", "\ufeff"]
SPACES = st.one_of(
    st.sampled_from([" ", "  ", "\t", " \t "]),
    st.text(st.sampled_from(CONTROLS + [" "]), min_size=1, max_size=3),
)


def with_controls(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values, and values with a control byte (or an odd space) put in somewhere."""
    odd = st.builds(
        lambda v, c, at: v[:at] + c + v[at:], values, st.sampled_from(CONTROLS), st.integers(0, 8)
    )
    return st.one_of(values, odd)


QIDS = with_controls(st.sampled_from(["1", "2", "10", "q7", "300674"]))
DOCIDS = with_controls(
    st.one_of(
        st.integers(0, 10**12).map(str),
        st.sampled_from(["MED-10", "007", "d1", "0", "+5", "9" * 19]),
    )
)
SCORES = with_controls(
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False).map(repr),
        st.integers(-50, 50).map(str),
        st.sampled_from(
            ["1e3", "2.5E-2", "-0.0", ".5", "7.", "1_0", "1" * 25 + ".5", "0.1000000000000000055511"]
        ),
    )
)


def parse_both(path, format="trec"):
    """What each reader makes of a file: ``(dict, order, tag)`` or the error text."""
    results = []
    for reader in (_read_fast, _read_checked):
        try:
            run = reader(path, format)
        except (ValueError, InputError) as err:
            results.append(("error", type(err).__name__))
            continue
        results.append((run.to_dict(), [(q, list(d)) for q, d, _ in run], run.name))
    return results


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(QIDS, DOCIDS, SCORES, SPACES), min_size=1, max_size=40),
    blank=st.booleans(),
    crlf=st.booleans(),
)
def test_compiled_reader_equals_checked_reader(tmp_path, rows, blank, crlf):
    """Scattered queries, ties, repeats, integer and string ids, odd spacing and score spellings."""
    end = "\r\n" if crlf else "\n"
    lines = [f"{q}{gap}Q0 {d} {i + 1}{gap}{s} tag{end}" for i, (q, d, s, gap) in enumerate(rows)]
    if blank:
        lines.insert(len(lines) // 2, "  " + end)
    path = tmp_path / "run.trec"
    path.write_bytes("".join(lines).encode())
    assert_agree(*parse_both(path))


def assert_agree(fast, checked):
    """The compiled reader may defer (Run.read then uses the checked one), never differ."""
    if fast[0] != "error":
        assert fast == checked
    if checked[0] == "error":
        assert fast[0] == "error"


def test_compiled_reader_takes_the_usual_spellings(tmp_path):
    """Tabs, CRLF, blank lines, exponents, signs, scattered queries, ties and string ids: no deferral."""
    path = tmp_path / "run.trec"
    path.write_text(
        "q2\tQ0 MED-1 1 1e3 t\r\n\n q1 Q0 MED-2 1 +2.5 t\nq2 Q0 MED-3 2 1000 t\nq1 Q0 MED-1 2 -.5E1 t\n"
    )
    fast, checked = parse_both(path)
    assert fast == checked and fast[0] == {
        "q1": {"MED-2": 2.5, "MED-1": -5.0},
        "q2": {"MED-3": 1e3, "MED-1": 1e3},
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(QIDS, DOCIDS, with_controls(st.integers(-2, 2000).map(str)), SPACES),
        min_size=1,
        max_size=30,
    )
)
def test_compiled_reader_equals_checked_reader_on_msmarco_runs(tmp_path, rows):
    path = tmp_path / "run.tsv"
    path.write_bytes("".join(f"{q}\t{d}{gap}\t{r}\n" for q, d, r, gap in rows).encode())
    assert_agree(*parse_both(path, "msmarco"))


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("byte", [chr(c) for c in range(32) if c != 10] + ["\x7f"])
def test_every_control_byte_is_read_as_str_split_reads_it(tmp_path, byte, padded):
    """Once 0x1C-0x1F were part of an id in the compiled reader and whitespace in the checked one.
    ``padded``: a long last line follows, so the line is split from 16-byte masks, not byte by byte."""
    pad = f"9 Q0 pad 1 0.5 t{' ' * 64}\n" if padded else ""
    padding = {"9": {"pad": 0.5}} if padded else {}
    separates = len(f"a{byte}b".split()) == 2
    inside_id, as_separator = tmp_path / "id.trec", tmp_path / "gap.trec"
    inside_id.write_bytes(f"1 Q0 a{byte}b 1 2.0 t\n{pad}".encode())
    as_separator.write_bytes(f"1{byte}Q0 c 1 1.0 t{byte}\n{pad}".encode())
    id_fast, id_checked = parse_both(inside_id)
    gap_fast, gap_checked = parse_both(as_separator)
    assert_agree(id_fast, id_checked)
    assert_agree(gap_fast, gap_checked)
    if byte == "\r":  # a lone carriage return ends the line for Python: the compiled reader defers
        assert id_fast[0] == id_checked[0] == gap_fast[0] == gap_checked[0] == "error"
    elif separates:
        assert id_checked[0] == "error"  # seven columns
        assert gap_fast == gap_checked and gap_fast[0] == {"1": {"c": 1.0}, **padding}
    else:  # an ordinary id byte: both readers keep it, without deferring
        assert id_fast == id_checked and id_fast[0] == {"1": {f"a{byte}b": 2.0}, **padding}
        assert gap_checked[0] == "error"


def test_repeat_across_separated_lines_of_a_query_is_found(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text("1 Q0 7 1 3.0 t\n2 Q0 7 1 2.0 t\n1 Q0 8 2 1.0 t\n1 Q0 7 3 0.5 t\n")
    with pytest.raises(InputError, match="duplicate document '7' for query '1'") as err:
        Run.read(path)
    assert err.value.line == 4


def test_non_ascii_ids_and_gzip_are_read(tmp_path):
    text = "q1 Q0 café 1 2.0 t\nq1 Q0 b 2 1.0 t\n"
    plain, packed = tmp_path / "run.trec", tmp_path / "run.trec.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode()))
    assert Run.read(plain).to_dict() == Run.read(packed).to_dict() == {"q1": {"café": 2.0, "b": 1.0}}


def halfway_cases() -> list[float]:
    """Doubles next to x.xxxxxx5 (where %.6f rounding is decided by the last bits)."""
    values = []
    for micros in (0, 1, 12345, 999999, 1234567890123, 3):
        exact = (micros + 0.5) / 1e6
        bits = struct.unpack("<q", struct.pack("<d", exact))[0]
        values += [struct.unpack("<d", struct.pack("<q", bits + step))[0] for step in (-2, -1, 0, 1, 2)]
    return values


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=50))
def test_written_scores_equal_python_formatting(tmp_path, scores):
    # exactly halfway (k / 128 ends in ...5 at the seventh decimal): Python rounds these half to even
    exact_ties = [1 / 128, 3 / 128, -5 / 128, 12345 + 7 / 128, 2**-1074, -(2**-80), 2.0**39 + 1 / 128]
    scores = scores + halfway_cases() + exact_ties + [-0.0, 0.0, 5e-7, -5e-7, 1e12, -1e300, 0.0000005, 2.675]
    run = Run.from_columns(["q"] * len(scores), [str(i) for i in range(len(scores))], scores)
    path = run.write(tmp_path / "out.trec", overwrite=True)
    written = {line.split()[2]: line.split()[4] for line in path.read_text().splitlines()}
    assert written == {str(i): f"{s:.6f}" for i, s in enumerate(scores)}
    assert all(math.isfinite(float(v)) for v in written.values())


def test_written_lines_equal_python_formatting_for_string_ids(tmp_path):
    rng = np.random.default_rng(3)
    qids = [f"q{i % 7}" for i in range(300)]
    docids = [f"MED-{i}" for i in range(300)]
    run = Run.from_columns(qids, docids, rng.normal(size=300))
    path = run.write(tmp_path / "out.trec", tag="x")
    expected = [
        f"{q} Q0 {d} {rank} {s:.6f} x"
        for q, docs, scores in run
        for rank, (d, s) in enumerate(zip(docs, scores.tolist(), strict=True), start=1)
    ]
    assert path.read_text().splitlines() == expected


def big_run(tmp_path, lines: list[str]):
    """A run file past the size (4 MB) at which integer-id runs are parsed in two halves."""
    path = tmp_path / "big.trec"
    path.write_text("".join(lines))
    assert path.stat().st_size > 4 << 20
    return path


@pytest.mark.parametrize("layout", ["one query", "scattered", "rising at the cut"])
def test_two_halves_equal_the_checked_reader(tmp_path, layout):
    n = 250_000
    if layout == "one query":
        rows = [("7", i, n - i) for i in range(n)]
    elif layout == "scattered":  # query 1 on both sides of the cut, query 2 around it
        rows = [("1", i, n - i) for i in range(100)] + [("2", i, n - i) for i in range(n)]
        rows += [("1", n + i, 50 - i) for i in range(100)]
    else:
        rows = [("7", i, float(i % 1000)) for i in range(n)]
    path = big_run(tmp_path, [f"{q} Q0 {d} 1 {s} t\n" for q, d, s in rows])
    fast, checked = parse_both(path)
    assert fast == checked


@pytest.mark.parametrize("scattered", [False, True])
def test_two_halves_find_a_repeat_across_the_cut(tmp_path, scattered):
    n = 250_000
    middle = [("2", i, 1.0) for i in range(n)] if scattered else [("1", i, 1.0) for i in range(10, n)]
    rows = [("1", 5, 9.0), *middle, ("1", 5, 0.5)]
    path = big_run(tmp_path, [f"{q} Q0 {d} 1 {s} t\n" for q, d, s in rows])
    with pytest.raises(ValueError):
        _read_fast(path, "trec")
    with pytest.raises(InputError, match="duplicate document '5' for query '1'") as err:
        Run.read(path)
    assert err.value.line == len(rows)


@pytest.mark.parametrize("integer_ids", [True, False])
def test_runs_in_topic_order_take_the_fast_path_without_a_full_sort(tmp_path, monkeypatch, integer_ids):
    """Anserini and Pyserini write each query's lines together, queries unsorted: the blocks are
    moved into place, rows are not sorted (ties within a query are still ordered by doc id)."""
    rng = np.random.default_rng(5)
    queries = [str(q) for q in rng.permutation(400) * 7]
    lines = []
    for q in queries:
        docs = rng.choice(10**6, size=int(rng.integers(1, 30)), replace=False)
        scores = np.sort(rng.choice(50, size=len(docs)))[::-1] / 4  # falling, with ties
        lines += [
            f"{q} Q0 {d if integer_ids else f'D{d}'} {i + 1} {s} t\n"
            for i, (d, s) in enumerate(zip(docs, scores, strict=True))
        ]
    path = tmp_path / "run.trec"
    path.write_text("".join(lines))
    checked = _read_checked(path, "trec")

    lexsort = np.lexsort

    def lexsort_of_part(keys, *args, **kwargs):  # ties are sorted, never every row of the run
        assert len(keys[0]) < len(checked), "the rows of a run in topic order were sorted"
        return lexsort(keys, *args, **kwargs)

    monkeypatch.setattr(np, "lexsort", lexsort_of_part)
    fast = _read_fast(path, "trec")
    monkeypatch.undo()
    assert fast.to_dict() == checked.to_dict()
    assert [(q, d) for q, d, _ in fast] == [(q, d) for q, d, _ in checked]
