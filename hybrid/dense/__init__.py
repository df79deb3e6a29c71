"""Dense retrieval: TCT-ColBERT / mean / CLS encoders, corpus encoding into FAISS, dense search.

Names load lazily, so ``import hybrid.dense`` stays light until an encoder or index is used.
"""

from __future__ import annotations

from hybrid._lazy import lazy_attributes

# How an encoder runs its model (hybrid.dense.backends); here so the CLI lists them without torch.
BACKENDS = ("torch", "torch-bf16", "torch-int8", "onnx", "onnx-int8", "onnx-int8-token")
_LAZY = {
    "load_encoder": "hybrid.dense.encoders",
    "Encoder": "hybrid.dense.encoders",
    "build_index": "hybrid.dense.indexing",
    "merge_shards": "hybrid.dense.indexing",
    "read_index": "hybrid.dense.indexing",
    "search": "hybrid.dense.searching",
    "DenseSearcher": "hybrid.dense.searching",
    "read_encoded_queries": "hybrid.dense.searching",
    "write_encoded_queries": "hybrid.dense.searching",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = sorted(["BACKENDS", *_LAZY])
