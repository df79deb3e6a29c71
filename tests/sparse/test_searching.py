"""BM25Searcher and batch search: parameters reach Lucene, single and batch search agree, stored docs."""

from __future__ import annotations

import json
import math

import pytest
from sparse_toys import write_jsonl

from hybrid import read_topics
from hybrid.sparse import BM25Searcher, build_index, search, search_blocks, search_to_file
from hybrid.sparse.lucene import DOCID_TABLE

pytestmark = pytest.mark.slow  # every test here runs Lucene in the JVM


@pytest.fixture(scope="module")
def scifact_searcher(scifact_index) -> BM25Searcher:
    return BM25Searcher(scifact_index)


@pytest.fixture(scope="module")
def some_topics() -> dict[str, str]:
    return dict(list(read_topics("scifact-test").items())[:20])


@pytest.mark.parametrize(("k1", "b"), [(0.9, 0.4), (1.2, 0.75)])
def test_scores_are_lucene_bm25_with_the_given_k1_and_b(tmp_path, k1, b):
    """Hand-computed BM25 (Lucene's formula, no (k1+1) factor) on documents short enough that
    Lucene's length norm is exact. Anserini rounds scores to 4 decimals."""
    docs = ["apple banana", "apple apple cherry date", "banana cherry date elderberry fig grape"]
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"_id": f"d{i}", "text": t} for i, t in enumerate(docs)])
    searcher = BM25Searcher(build_index(corpus, tmp_path / "index"), k1=k1, b=b)
    lengths = [len(text.split()) for text in docs]
    average = sum(lengths) / len(lengths)
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))  # "apple" is in 2 of 3 documents

    def bm25(tf: int, length: int) -> float:
        return idf * tf / (tf + k1 * (1 - b + b * length / average))

    expected = {"d1": bm25(2, lengths[1]), "d0": bm25(1, lengths[0])}
    found = dict(searcher.search("apple", k=10))
    assert found.keys() == expected.keys()
    for docid, score in expected.items():
        assert found[docid] == pytest.approx(score, abs=1.5e-4)


def test_single_and_batch_search_agree(scifact_searcher, some_topics):
    qids = list(some_topics)
    batch = scifact_searcher.batch_search([some_topics[q] for q in qids], qids, k=50, threads=2)
    assert batch.keys() == set(qids)
    for qid in qids[:5]:
        assert scifact_searcher.search(some_topics[qid], k=50) == batch[qid]


def test_run_holds_the_searcher_hits_in_trec_eval_order(scifact_index, scifact_searcher, some_topics):
    run = search(scifact_index, some_topics, hits=100, threads=2, batch_size=7, tag="mine")
    assert run.name == "mine" and run.num_queries == len(some_topics)
    as_dict = run.to_dict()
    for qid, text in list(some_topics.items())[:5]:
        assert as_dict[qid] == pytest.approx(dict(scifact_searcher.search(text, k=100)))
    for _, _, scores in run:
        assert (scores[:-1] >= scores[1:]).all()


@pytest.mark.parametrize("rm3", [False, True])
def test_hits_equal_anserini_simple_searcher_in_order(scifact_index, some_topics, rm3):
    """Doc numbers + the doc-number table + Anserini's tie adjuster give SimpleSearcher's hits exactly."""
    from hybrid.sparse.java import java_class

    reference = java_class("io.anserini.search.SimpleSearcher")(str(scifact_index))
    reference.set_bm25(0.9, 0.4)
    if rm3:
        reference.set_rm3(None, 10, 10, 0.5, False, True)
    ours = BM25Searcher(scifact_index, rm3=rm3)
    for text in list(some_topics.values())[: 4 if rm3 else 20]:
        expected = [(hit.docid, round(float(hit.score), 6)) for hit in reference.search(text, 1000)]
        assert ours.search(text, k=1000) == expected


def test_threads_and_batch_size_do_not_change_the_written_run(scifact_index, some_topics, tmp_path):
    one = search_to_file(
        scifact_index, some_topics, tmp_path / "one.trec", hits=1000, threads=1, batch_size=256
    )
    two = search_to_file(
        scifact_index, some_topics, tmp_path / "two.trec", hits=1000, threads=2, batch_size=1
    )
    assert one[1] == two[1] == len(some_topics)
    assert (tmp_path / "one.trec").read_bytes() == (tmp_path / "two.trec").read_bytes()
    in_memory = search(scifact_index, some_topics, hits=1000, threads=2, batch_size=7)
    assert in_memory.write(tmp_path / "memory.trec").read_bytes() == (tmp_path / "one.trec").read_bytes()


def test_blocks_come_in_query_id_order(scifact_index, some_topics):
    blocks = list(search_blocks(scifact_index, some_topics, hits=5, batch_size=6, progress=False))
    assert [block.num_queries for block in blocks] == [6, 6, 6, 2]
    assert sum((block.query_list() for block in blocks), []) == sorted(some_topics)


def test_doc_number_table_is_cached_and_rebuilt_with_the_index(tmp_path):
    """The table lives in the index folder, keyed on the commit: a stale one (an index rebuilt in place,
    here another index's table copied in) is replaced, a current one is reused."""
    first = write_jsonl(tmp_path / "a.jsonl", [{"_id": f"a{i}", "text": "apple pie"} for i in range(3)])
    second = write_jsonl(tmp_path / "b.jsonl", [{"_id": f"b{i}", "text": "apple tart"} for i in range(5)])
    index = build_index(first, tmp_path / "index")
    assert {d for d, _ in BM25Searcher(index).search("apple")} == {"a0", "a1", "a2"}
    table = index / DOCID_TABLE
    stale = table.read_bytes()
    built = table.stat().st_mtime_ns
    BM25Searcher(index)
    assert table.stat().st_mtime_ns == built  # reused

    build_index(second, index, overwrite=True)
    assert {d for d, _ in BM25Searcher(index).search("apple")} == {f"b{i}" for i in range(5)}
    table.write_bytes(stale)  # the first index's table, as an in-place rebuild would leave it
    assert {d for d, _ in BM25Searcher(index).search("apple")} == {f"b{i}" for i in range(5)}
    assert table.read_bytes() != stale


def test_rm3_expands_queries_and_changes_the_ranking(scifact_index, some_topics):
    plain = search(scifact_index, some_topics, hits=100, threads=2).to_dict()
    rm3 = search(scifact_index, some_topics, hits=100, rm3=True, threads=2).to_dict()
    assert rm3.keys() == plain.keys()
    assert sum(rm3[q] != plain[q] for q in plain) > len(plain) // 2


def test_remove_query_drops_the_document_named_like_the_query(scifact_index):
    topics = {"4983": "Microstructural development of human newborn cerebral white matter"}
    kept = search(scifact_index, topics, hits=10).to_dict()["4983"]
    removed = search(scifact_index, topics, hits=10, remove_query=True).to_dict()["4983"]
    assert "4983" in kept and "4983" not in removed
    assert set(removed) == set(kept) - {"4983"}


def test_stored_raw_document_and_text(scifact_searcher):
    raw = json.loads(scifact_searcher.doc("4983"))
    assert raw["id"] == "4983" and raw["title"].startswith("Microstructural development of human newborn")
    assert raw["contents"] == f"{raw['title']} {raw['text']}"
    assert scifact_searcher.document_text("4983") == raw["contents"]
    assert scifact_searcher.doc("no-such-doc") is None
    assert scifact_searcher.num_docs == 5183


def test_query_without_matches_is_absent_from_the_run(scifact_index):
    run = search(scifact_index, {"q1": "zxqvw", "q2": "cerebral white matter"}, hits=5)
    assert run.query_list() == ["q2"]
