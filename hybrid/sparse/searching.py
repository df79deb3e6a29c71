"""BM25 search over a Lucene index (Anserini, from pyserini's fatjar), one query or a whole topic set."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from hybrid.formats import Run, read_topics
from hybrid.sparse.java import java_class

# Pyserini's BM25 defaults, and Anserini's RM3 defaults (feedback terms, feedback docs, original query weight).
DEFAULT_K1, DEFAULT_B = 0.9, 0.4
RM3_FB_TERMS, RM3_FB_DOCS, RM3_ORIGINAL_QUERY_WEIGHT = 10, 10, 0.5


def check_index(index: str | os.PathLike[str]) -> Path:
    """The path of an existing Lucene index folder; a clear error otherwise."""
    path = Path(index)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such index folder (build one with `hybrid index sparse`)")
    if not any(path.glob("segments_*")):
        raise ValueError(f"{path}: not a Lucene index (no segments_* file)")
    return path


class BM25Searcher:
    """BM25 (optionally with RM3 feedback) over a Lucene index built by :func:`hybrid.sparse.build_index`.

    Scores are Lucene's float32 BM25, which Anserini rounds to 4 decimals and nudges down by 1e-6 per
    tie so that score order is rank order. They are returned rounded to 6 decimals, the values a TREC
    run file holds, so a run evaluated in memory and the same run read back from disk agree.
    """

    def __init__(
        self, index: str | os.PathLike[str], k1: float = DEFAULT_K1, b: float = DEFAULT_B, rm3: bool = False
    ):
        self.index = check_index(index)
        self._searcher = java_class("io.anserini.search.SimpleSearcher")(str(self.index))
        self._searcher.set_bm25(float(k1), float(b))
        if rm3:
            # No collection class: feedback reads the document vectors stored in the index.
            self._searcher.set_rm3(None, RM3_FB_TERMS, RM3_FB_DOCS, RM3_ORIGINAL_QUERY_WEIGHT, False, True)
        self.k1, self.b, self.rm3 = float(k1), float(b), rm3

    @property
    def num_docs(self) -> int:
        return int(self._searcher.get_total_num_docs())

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """The top ``k`` ``(docid, score)`` pairs for one query, best first."""
        return _pairs(self._searcher.search(query, int(k)))

    def batch_search(
        self, queries: Sequence[str], qids: Sequence[str], k: int = 10, threads: int = 1
    ) -> dict[str, list[tuple[str, float]]]:
        """Search many queries on ``threads`` Java threads: ``{qid: [(docid, score), ...]}``."""
        if len(queries) != len(qids):
            raise ValueError("queries and qids must have the same length")
        if not queries:
            return {}
        results = self._searcher.batch_search(_java_list(queries), _java_list(qids), int(k), int(threads))
        return {str(entry.getKey()): _pairs(entry.getValue()) for entry in results.entrySet().toArray()}

    def doc(self, docid: str) -> str | None:
        """The stored raw document (a JSON object with ``id``, ``title``, ``text``, ``contents``), or None."""
        return self._searcher.doc_raw(str(docid))

    def document_text(self, docid: str) -> str | None:
        """Title and text of a stored document, without expansions; None if the id is unknown."""
        raw = self.doc(docid)
        if raw is None:
            return None
        stored = json.loads(raw)
        title, text = stored.get("title") or "", stored.get("text", stored.get("contents", ""))
        return f"{title} {text}" if title else text


def _java_list(values: Sequence[str]):
    array = java_class("java.util.ArrayList")()
    for value in values:
        array.add(str(value))
    return array


def _pairs(hits) -> list[tuple[str, float]]:
    return [(hit.docid, round(float(hit.score), 6)) for hit in hits]


def search(
    index: str | os.PathLike[str],
    topics: str | os.PathLike[str] | Mapping[str, str],
    hits: int = 1000,
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
    rm3: bool = False,
    threads: int = 1,
    batch_size: int = 256,
    tag: str = "bm25",
    remove_query: bool = False,
) -> Run:
    """Search every topic and return a :class:`~hybrid.Run` (trec_eval order).

    ``topics`` is a bundled name (``scifact-test``), a topics file, or ``{qid: text}``.
    ``remove_query`` drops a hit whose docid equals its query id (Anserini's ``-removeQuery``,
    used by its BEIR regressions for corpora that contain the queries). Queries with no hit
    are absent from the run, as in a TREC run file.
    """
    if hits < 1 or batch_size < 1 or threads < 1:
        raise ValueError("hits, batch_size and threads must be positive")
    check_index(index)
    queries = dict(topics) if isinstance(topics, Mapping) else read_topics(topics)
    searcher = BM25Searcher(index, k1=k1, b=b, rm3=rm3)
    from tqdm.auto import tqdm

    qids_column: list[str] = []
    docids_column: list[str] = []
    scores_column: list[float] = []
    qids = list(queries)
    with tqdm(total=len(qids), desc="bm25 search", unit="q") as progress:
        for start in range(0, len(qids), batch_size):
            batch = qids[start : start + batch_size]
            results = searcher.batch_search([queries[q] for q in batch], batch, k=hits, threads=threads)
            for qid in batch:
                for docid, score in results.get(qid, []):
                    if remove_query and docid == qid:
                        continue
                    qids_column.append(qid)
                    docids_column.append(docid)
                    scores_column.append(score)
            progress.update(len(batch))
    return Run.from_columns(qids_column, docids_column, scores_column, name=tag)
