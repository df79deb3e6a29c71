"""HybridSearcher and `hybrid search hybrid` on the real SciFact slice indexes (BM25 + MiniLM)."""

from __future__ import annotations

import pytest

from hybrid import Run, iter_corpus, read_topics
from hybrid.cli import main
from hybrid.fusion import fuse
from hybrid.searcher import HybridSearcher

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searcher(scifact_slice_sparse_index, scifact_slice_dense_index, minilm):
    return HybridSearcher(scifact_slice_sparse_index, scifact_slice_dense_index, minilm)


@pytest.fixture(scope="module")
def queries():
    return dict(list(read_topics("scifact-test").items())[:3])


def test_hits_carry_both_sides_and_the_fused_score(searcher, queries):
    query = next(iter(queries.values()))
    depth, alpha = 30, 0.03
    hits = searcher.search(query, k=25, alpha=alpha, depth=depth)
    sparse, dense = dict(searcher.sparse.search(query, depth)), dict(searcher.dense.search(query, depth))
    assert [h.rank for h in hits] == list(range(1, 26))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for hit in hits:
        assert hit.sparse == sparse.get(hit.docid) and hit.dense == dense.get(hit.docid)
        d = hit.dense if hit.dense is not None else min(dense.values())
        s = hit.sparse if hit.sparse is not None else min(sparse.values())
        assert hit.score == d + alpha * s
    assert any(h.sparse is None or h.dense is None for h in hits)  # 25 of a 30+30 union: some one-sided


def test_doc_returns_the_stored_text(searcher, scifact_slice):
    first = next(iter(iter_corpus(scifact_slice)))
    assert searcher.doc(first.docid) == first.contents
    assert searcher.doc("no-such-document") is None


def test_search_hybrid_writes_fused_and_single_runs(
    tmp_path, searcher, queries, scifact_slice_sparse_index, scifact_slice_dense_index, capsys
):
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in queries.items()))
    out = tmp_path / "runs" / "x.trec"
    args = ["search", "hybrid", "--sparse-index", str(scifact_slice_sparse_index),
            "--dense-index", str(scifact_slice_dense_index), "--encoder", "minilm", "--alpha", "0.05"]  # fmt: skip
    assert main([*args, "--topics", str(topics), "--output", str(out), "--hits", "100"]) == 0
    fused, sparse, dense = (
        Run.read(tmp_path / "runs" / name) for name in ("x.trec", "x.sparse.trec", "x.dense.trec")
    )
    assert fused.query_list() == sparse.query_list() == sorted(queries, key=str.encode) and len(dense) == 3000
    expected = fuse(dense, sparse, alpha=0.05, hits=100)
    for (q1, d1, s1), (q2, d2, s2) in zip(fused, expected, strict=True):
        assert (q1, d1) == (q2, d2) and s1 == pytest.approx(s2, abs=2e-6)
    for qid, docids, _ in fused:  # the notebook searcher agrees with the batch command
        assert [h.docid for h in searcher.search(queries[qid], k=10, alpha=0.05)] == docids[:10]
    assert main([*args, "--topics", str(topics), "--output", str(out)]) == 2  # no --overwrite
    assert "exists" in capsys.readouterr().err

    query = next(iter(queries.values()))
    assert main([*args, "--query", query, "--k", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "fused" in lines[0] and len(lines) == 7
    assert [line.split()[1] for line in lines[2:]] == [
        h.docid for h in searcher.search(query, k=5, alpha=0.05)
    ]
