"""``Run.doc_ids``: the one public name for document ids, the id of every row in trec_eval order."""

from __future__ import annotations

from hybrid import Run


def test_doc_ids_are_the_rows_ids_for_string_and_integer_vocabularies():
    for run in (
        Run.from_dict({"2": {"b": 1.0, "a": 1.0}, "1": {"c": 0.5, "d": 2.0}}),
        Run.from_dict({"2": {"7": 1.0, "12": 1.0}, "1": {"3": 0.5, "40": 2.0}}),
    ):
        expected = [d for _, docs, _ in run for d in docs]
        assert run.doc_ids.to_pylist() == expected
        assert list(run.to_frame()["docid"]) == expected
    assert run.doc_ids.to_pylist() == ["40", "3", "7", "12"]  # score desc, ties by doc id desc (bytes)
