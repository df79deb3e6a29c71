"""Dense retrieval: TCT-ColBERT / mean / CLS encoders, corpus encoding into FAISS, dense search.

Names load lazily, so ``import hybrid.dense`` stays light until an encoder or index is used.
"""

from __future__ import annotations

from hybrid._lazy import lazy_attributes

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


__all__ = sorted(_LAZY)
