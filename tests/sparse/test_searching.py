"""BM25Searcher and batch search: parameters reach Lucene, single and batch search agree, stored docs."""

from __future__ import annotations

import json
import math

import pytest
from sparse_toys import write_jsonl

from hybrid import read_topics
from hybrid.sparse import BM25Searcher, build_index, search


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


def test_threads_and_batch_size_do_not_change_the_run(scifact_index, some_topics):
    one = search(scifact_index, some_topics, hits=200, threads=1, batch_size=1000)
    two = search(scifact_index, some_topics, hits=200, threads=2, batch_size=3)
    assert one.to_dict() == two.to_dict()


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
