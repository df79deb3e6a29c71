"""The exported ONNX model is made once per model and recipe, then reused (a second load, each Ray actor)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_second_load_reuses_the_exported_model(monkeypatch, tmp_path):
    from hybrid.dense import load_encoder

    monkeypatch.setenv("HYBRID_ONNX_CACHE", str(tmp_path))
    first = load_encoder("minilm", backend="onnx-int8")
    models = list(tmp_path.glob("*/model.onnx"))
    assert len(models) == 1
    stamp = models[0].stat().st_mtime_ns
    second = load_encoder("minilm", backend="onnx-int8")
    assert list(tmp_path.glob("*/model.onnx")) == models and models[0].stat().st_mtime_ns == stamp
    texts = ["a passage about protein folding", "cancer risk"]
    np.testing.assert_array_equal(first.encode_docs(texts), second.encode_docs(texts))
    load_encoder("minilm", backend="onnx")  # another recipe, another file
    assert len(list(tmp_path.glob("*/model.onnx"))) == 2
