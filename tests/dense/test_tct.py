"""TCT-ColBERT parity with Pyserini's own encoders and searcher, on a tiny random BERT."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hybrid.formats import Document

QUERIES = [
    "does the protein increase cancer risk in patients",
    "DNA expression, (reduced) in mouse-brain cells.",
    "",
    "gene " * 50,  # longer than 36 wordpieces: truncated, no [MASK] left
    "héllo wörld unknownword 42",
]
DOCS = [
    "the cell",
    "Increased expression of the gene in tumor cells was associated with high risk.",
    "blood " * 700,  # longer than 512 wordpieces
    "immune response to the virus in human and mouse",
    "",
    "heart disease: a study of patients (treatment effects on blood levels)",
]


@pytest.fixture(scope="module")
def pyserini_encode():
    from hybrid.sparse.java import start_jvm

    start_jvm()  # importing pyserini.encode loads Anserini classes
    import pyserini.encode

    return pyserini.encode


@pytest.fixture(scope="module")
def tct_encoder(tiny_bert):
    from hybrid.dense import load_encoder

    return load_encoder(tiny_bert, encoder_class="tct_colbert", batch_size=4)


def test_query_vectors_equal_pyserini(pyserini_encode, tct_encoder, tiny_bert):
    theirs = pyserini_encode.TctColBertQueryEncoder(encoder_dir=str(tiny_bert), device="cpu")
    expected = np.stack([theirs.encode(q) for q in QUERIES])
    ours = tct_encoder.encode_queries(QUERIES)
    assert ours.shape == (len(QUERIES), 32) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)


def test_doc_vectors_equal_pyserini(pyserini_encode, tct_encoder, tiny_bert):
    theirs = pyserini_encode.TctColBertDocumentEncoder(str(tiny_bert), device="cpu")
    np.testing.assert_allclose(tct_encoder.encode_docs(DOCS), theirs.encode(DOCS), atol=1e-5, rtol=0)
    titles = ["a study", "", "gene", "virus", "cells", "heart"]
    with_titles = [
        Document(str(i), title, text) for i, (title, text) in enumerate(zip(titles, DOCS, strict=True))
    ]
    np.testing.assert_allclose(
        tct_encoder.encode_docs(with_titles), theirs.encode(DOCS, titles=titles), atol=1e-5, rtol=0
    )


def test_pyserini_faiss_searcher_reads_our_index(
    pyserini_encode, tct_encoder, tiny_bert, small_corpus, tmp_path
):
    """Our index + docid layout is Pyserini's: its FaissSearcher returns our hits and scores."""
    from pyserini.search.faiss import FaissSearcher

    from hybrid.dense import DenseSearcher, build_index

    index = build_index(small_corpus, tct_encoder, tmp_path / "index", progress=False)
    theirs = FaissSearcher(str(index), pyserini_encode.TctColBertQueryEncoder(encoder_dir=str(tiny_bert)))
    ours = DenseSearcher(index, tct_encoder)
    for query in QUERIES[:2]:
        hits = theirs.search(query, k=10)
        expected = [(hit.docid, float(hit.score)) for hit in hits]
        got = ours.search(query, k=10)
        assert [d for d, _ in got] == [d for d, _ in expected]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-4)


def test_query_inputs_fill_36_positions_with_mask_augmentation(tiny_bert):
    from transformers import AutoTokenizer

    from hybrid.dense import tct

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    inputs = tct.query_inputs(tokenizer, ["the cell", "gene " * 50])
    assert tuple(inputs["input_ids"].shape) == (2, 36)
    first = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    assert first[:6] == ["[CLS]", "[", "q", "]", "the", "cell"]
    assert first[6:] == ["[MASK]"] * 30
    assert inputs["attention_mask"].all()


def test_class_follows_a_name_containing_tct_colbert(tiny_bert, tmp_path):
    from hybrid.dense import load_encoder

    named = shutil.copytree(tiny_bert, tmp_path / "my_tct_colbert-student")
    assert load_encoder(named).encoder_class == "tct_colbert"
    assert load_encoder(tiny_bert).encoder_class == "mean"
