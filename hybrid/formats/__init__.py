"""File formats: runs, qrels, topics and corpora (no torch, no JVM)."""

from hybrid.formats.corpora import Document, count_documents, iter_corpus
from hybrid.formats.qrels import Qrels
from hybrid.formats.runs import Run, convert_run
from hybrid.formats.topics import read_topics

__all__ = ["Document", "Qrels", "Run", "convert_run", "count_documents", "iter_corpus", "read_topics"]
