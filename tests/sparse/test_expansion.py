"""doc2query expansion end to end with a tiny random T5, resuming, and castorini's prediction files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sparse_toys import NONCE_WORDS, TOY_DOCS, write_jsonl

from hybrid.errors import InputError
from hybrid.sparse import BM25Searcher, build_index, expand, import_predictions, read_expansions

SAMPLES = 5


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def expansions(tiny_t5, toy_corpus, tmp_path) -> Path:
    return expand(toy_corpus, tiny_t5, tmp_path / "expansions.jsonl", num_samples=SAMPLES, max_query_tokens=6)


def test_expansion_output_has_every_document_in_corpus_order(expansions):
    rows = lines(expansions)
    assert [row["id"] for row in rows] == [doc["_id"] for doc in TOY_DOCS]
    assert all(len(row["predicted_queries"]) == SAMPLES for row in rows)
    words = {w for row in rows for query in row["predicted_queries"] for w in query.split()}
    assert words and words <= set(NONCE_WORDS)  # decoded text: vocabulary words, no special tokens


def test_query_matching_only_an_expansion_term_finds_the_expanded_document(expansions, toy_corpus, tmp_path):
    predicted = {docid: queries for docid, (_, queries) in read_expansions(expansions).items()}
    owners = Counter(w for queries in predicted.values() for w in {w for q in queries for w in q.split()})
    target, term = next(
        (docid, w)
        for docid, queries in predicted.items()
        for q in queries
        for w in q.split()
        if owners[w] == 1
    )
    expanded = BM25Searcher(build_index(toy_corpus, tmp_path / "expanded", expansions=expansions))
    plain = BM25Searcher(build_index(toy_corpus, tmp_path / "plain"))

    assert [docid for docid, _ in expanded.search(term)] == [target]
    assert plain.search(term) == []
    # The expansion is searchable but not part of the stored document text.
    assert term not in expanded.document_text(target)
    assert term in json.loads(expanded.doc(target))["contents"]


def test_same_seed_gives_the_same_expansions(tiny_t5, toy_corpus, tmp_path, expansions):
    again = expand(toy_corpus, tiny_t5, tmp_path / "again.jsonl", num_samples=SAMPLES, max_query_tokens=6)
    assert again.read_text() == expansions.read_text()


def test_rerun_resumes_and_repairs_a_torn_last_line(tiny_t5, toy_corpus, expansions):
    rows = lines(expansions)
    rows[0]["predicted_queries"] = ["sentinel written before the interruption"]
    text = "".join(json.dumps(row) + "\n" for row in rows[:2]) + '{"id": "d3", "predicted_qu'
    expansions.write_text(text)

    expand(toy_corpus, tiny_t5, expansions, num_samples=SAMPLES, max_query_tokens=6)

    resumed = lines(expansions)
    assert [row["id"] for row in resumed] == ["d1", "d2", "d3", "d4"]
    assert resumed[:2] == rows[:2]  # kept, not regenerated
    assert all(len(row["predicted_queries"]) == SAMPLES for row in resumed[2:])


def test_overwrite_starts_afresh(tiny_t5, toy_corpus, expansions):
    original = expansions.read_text()
    expansions.write_text('{"id": "d1", "predicted_queries": ["stale"]}\n')
    expand(toy_corpus, tiny_t5, expansions, num_samples=SAMPLES, max_query_tokens=6, overwrite=True)
    assert expansions.read_text() == original


def test_long_documents_are_truncated_to_the_input_limit(tiny_t5, tmp_path):
    """A 2,000-word document cut at 512 tokens is generated from exactly its first 511 words (+ </s>).
    Past word 511 it changes completely, so without the cut the (random) model sees a different input."""
    words = [NONCE_WORDS[0]] * 511 + [NONCE_WORDS[1]] * 1489
    long = write_jsonl(tmp_path / "long.jsonl", [{"_id": "x", "title": "", "text": " ".join(words)}])
    head = write_jsonl(tmp_path / "head.jsonl", [{"_id": "x", "title": "", "text": " ".join(words[:511])}])

    def queries(corpus, name, limit):
        out = expand(
            corpus, tiny_t5, tmp_path / name, num_samples=8, max_query_tokens=8, max_input_tokens=limit
        )
        return lines(out)[0]["predicted_queries"]

    assert queries(long, "long512.jsonl", 512) == queries(head, "head512.jsonl", 512)
    assert queries(long, "long4096.jsonl", 4096) != queries(head, "head4096.jsonl", 4096)


def test_unknown_model_is_a_clear_error(toy_corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot load a seq2seq model"):
        expand(toy_corpus, tmp_path / "no-model", tmp_path / "out.jsonl")


def test_pasted_predictions_file_one_line_per_document(toy_corpus, tmp_path):
    pasted = tmp_path / "predicted_queries_topk.txt"
    pasted.write_text("".join(f"query for {doc['_id']} another query\n" for doc in TOY_DOCS))
    out = import_predictions(toy_corpus, [pasted], tmp_path / "expansions.jsonl")
    assert lines(out) == [
        {"id": doc["_id"], "predicted_queries": [f"query for {doc['_id']} another query"]} for doc in TOY_DOCS
    ]


def test_one_predictions_file_per_sample(toy_corpus, tmp_path):
    samples = []
    for s in range(3):
        path = tmp_path / f"predicted_queries_topk_sample{s:03d}.txt"
        path.write_text("".join(f"q{s} {doc['_id']}\n" for doc in TOY_DOCS))
        samples.append(path)
    out = import_predictions(toy_corpus, samples, tmp_path / "expansions.jsonl")
    assert lines(out)[1] == {"id": "d2", "predicted_queries": ["q0 d2", "q1 d2", "q2 d2"]}


@pytest.mark.parametrize(
    ("count", "line", "message"), [(3, 4, "ends before document 'd4'"), (5, 5, "more lines than the corpus")]
)
def test_predictions_must_have_one_line_per_document(toy_corpus, tmp_path, count, line, message):
    predictions = tmp_path / "predictions.txt"
    predictions.write_text("a query\n" * count)
    with pytest.raises(InputError, match=message) as err:
        import_predictions(toy_corpus, [predictions], tmp_path / "expansions.jsonl")
    assert (err.value.path, err.value.line) == (str(predictions), line)
    assert not (tmp_path / "expansions.jsonl").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"predicted_queries": ["q"]}, "no document id"),
        ({"id": "d1", "predicted_queries": "q"}, "list of strings"),
    ],
)
def test_bad_expansion_lines_are_named(tmp_path, row, message):
    path = write_jsonl(tmp_path / "expansions.jsonl", [{"id": "d0", "predicted_queries": []}, row])
    with pytest.raises(InputError, match=message) as err:
        read_expansions(path)
    assert err.value.line == 2


def test_expand_from_the_command_line(tiny_t5, toy_corpus, tmp_path, capsys):
    from hybrid.cli import main

    out = tmp_path / "expansions.jsonl"
    argv = ["expand", "--corpus", str(toy_corpus), "--model", str(tiny_t5), "--output", str(out)]
    assert (
        main([*argv, "--num-samples", "3", "--max-query-tokens", "4", "--batch-size", "3", "--seed", "7"])
        == 0
    )
    assert f"wrote {out}" in capsys.readouterr().out
    assert [len(row["predicted_queries"]) for row in lines(out)] == [3, 3, 3, 3]


def test_documents_without_expansion_are_indexed_plain_with_a_warning(toy_corpus, tmp_path):
    partial = write_jsonl(tmp_path / "partial.jsonl", [{"id": "d2", "predicted_queries": ["zxab zxeb"]}])
    with pytest.warns(UserWarning, match="3 of 4 documents have no expansion"):
        index = build_index(toy_corpus, tmp_path / "index", expansions=partial)
    searcher = BM25Searcher(index)
    assert [docid for docid, _ in searcher.search("zxeb")] == ["d2"]
    assert [docid for docid, _ in searcher.search("platelet aggregation")] == ["d1"]
