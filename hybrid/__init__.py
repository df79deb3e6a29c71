"""hybrid: hybrid sparse-dense retrieval (TCT-ColBERT + BM25), fusion, tuning and evaluation.

Light at import: formats and evaluation need only numpy/pyarrow; torch, faiss and the JVM
load on first use of the dense, distillation or sparse parts.
"""

from hybrid._lazy import lazy_attributes
from hybrid.errors import InputError
from hybrid.formats import Document, Qrels, Run, convert_run, iter_corpus, read_topics

__version__ = "0.1.0"

_LAZY = {
    "evaluate": "hybrid.evaluation",
    "fuse": "hybrid.fusion",
    "tune": "hybrid.tuning",
    "HybridSearcher": "hybrid.searcher",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = ["Document", "InputError", "Qrels", "Run", "convert_run", "iter_corpus", "read_topics", *_LAZY]
