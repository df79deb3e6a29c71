"""Sparse retrieval: BM25 in Lucene (Anserini, from pyserini's fatjar) over documents expanded with predicted queries.

Importing this package is light: the JVM starts (once per process, see :mod:`hybrid.sparse.java`) when
an index is built or searched, and torch loads only for :func:`expand`.
"""

from hybrid.sparse.expansion import expand, import_predictions, read_expansions
from hybrid.sparse.indexing import build_index
from hybrid.sparse.searching import BM25Searcher, search, search_blocks, search_to_file

__all__ = [
    "BM25Searcher",
    "build_index",
    "expand",
    "import_predictions",
    "read_expansions",
    "search",
    "search_blocks",
    "search_to_file",
]
