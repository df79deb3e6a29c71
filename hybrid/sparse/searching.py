"""BM25 search over a Lucene index (Anserini, from pyserini's fatjar), one query or a whole topic set.

Lucene hands back doc numbers and scores as arrays (:mod:`hybrid.sparse.lucene`); ids come from the
index's doc-number table. Topic sets are searched in query-id order, a block of queries at a time on
``threads`` threads, and each block is a small :class:`~hybrid.Run`: written to the run file as it
comes (:func:`search_to_file`, memory independent of the number of queries) or gathered
(:func:`search`). The runs are exactly Anserini's ``SimpleSearcher`` results.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa

from hybrid.formats import Run, read_topics
from hybrid.formats.runs import RunWriter
from hybrid.io import check_writable
from hybrid.sparse.java import java_class, java_threads

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
        from hybrid.sparse.lucene import LuceneBM25

        self.index = check_index(index)
        feedback = (RM3_FB_TERMS, RM3_FB_DOCS, RM3_ORIGINAL_QUERY_WEIGHT) if rm3 else None
        self._lucene = LuceneBM25(self.index, float(k1), float(b), rm3=feedback)
        self._documents = None
        self.k1, self.b, self.rm3 = float(k1), float(b), rm3

    @property
    def num_docs(self) -> int:
        return self._lucene.num_docs

    def top(self, query: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Lucene doc numbers (``int32``) and scores (``float64``, 6 decimals) of the top ``k``, best first."""
        docs, scores = self._lucene.top(query, int(k))
        return docs, np.round(scores.astype(np.float64), 6)

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """The top ``k`` ``(docid, score)`` pairs for one query, best first."""
        docs, scores = self.top(query, k)
        return list(zip(self.docids(docs).to_pylist(), scores.tolist(), strict=True))

    def docids(self, docs: np.ndarray) -> pa.Array:
        """External ids of Lucene doc numbers."""
        return self._lucene.ids.take(pa.array(docs, pa.int32()))

    def batch_search(
        self, queries: list[str], qids: list[str], k: int = 10, threads: int = 1
    ) -> dict[str, list[tuple[str, float]]]:
        """Search many queries on ``threads`` threads: ``{qid: [(docid, score), ...]}``."""
        if len(queries) != len(qids):
            raise ValueError("queries and qids must have the same length")
        found = _map_on_threads(lambda text: self.search(text, k), list(queries), threads)
        return dict(zip(map(str, qids), found, strict=True))

    def doc(self, docid: str) -> str | None:
        """The stored raw document (a JSON object with ``id``, ``title``, ``text``, ``contents``), or None."""
        if self._documents is None:
            self._documents = java_class("io.anserini.search.SimpleSearcher")(str(self.index.resolve()))
        return self._documents.doc_raw(str(docid))

    def document_text(self, docid: str) -> str | None:
        """Title and text of a stored document, without expansions; None if the id is unknown."""
        raw = self.doc(docid)
        if raw is None:
            return None
        stored = json.loads(raw)
        title, text = stored.get("title") or "", stored.get("text", stored.get("contents", ""))
        return f"{title} {text}" if title else text


def _map_on_threads(function, items: list, threads: int) -> list:
    """``[function(item) ...]`` on ``threads`` Java-capable threads."""
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with java_threads(threads) as pool:
        return list(pool.map(function, items))


def _topics(topics: str | os.PathLike[str] | Mapping[str, str]) -> dict[str, str]:
    return {str(q): str(t) for q, t in topics.items()} if isinstance(topics, Mapping) else read_topics(topics)


def search_blocks(
    index: str | os.PathLike[str] | BM25Searcher,
    topics: str | os.PathLike[str] | Mapping[str, str],
    hits: int = 1000,
    *,
    threads: int = 1,
    batch_size: int = 256,
    remove_query: bool = False,
    tag: str = "bm25",
    progress: bool = True,
    **bm25,
) -> Iterator[Run]:
    """Search every topic and yield one :class:`~hybrid.Run` per block of ``batch_size`` queries.

    Queries are searched in query-id (byte) order, so the blocks follow one another as in one run
    file; the next block is searched while the current one is consumed. ``bm25`` holds
    :class:`BM25Searcher`'s ``k1``, ``b`` and ``rm3``; ``index`` may instead be an open searcher.
    Other arguments as :func:`search`.
    """
    if hits < 1 or batch_size < 1 or threads < 1:
        raise ValueError("hits, batch_size and threads must be positive")
    if not isinstance(index, BM25Searcher):
        check_index(index)
    queries = _topics(topics)
    searcher = index if isinstance(index, BM25Searcher) else BM25Searcher(index, **bm25)
    from tqdm.auto import tqdm

    qids = sorted(queries)
    batches = [qids[start : start + batch_size] for start in range(0, len(qids), batch_size)]
    with (
        java_threads(threads) as pool,
        tqdm(total=len(qids), desc="bm25 search", unit="q", **({} if progress else {"disable": True})) as bar,
    ):
        pending: deque = deque()
        for number in range(len(batches) + 1):
            if number < len(batches):
                pending.append([pool.submit(searcher.top, queries[q], hits) for q in batches[number]])
            if number == 0:
                continue
            batch, found = batches[number - 1], [future.result() for future in pending.popleft()]
            bar.update(len(batch))
            yield _block(searcher, batch, found, tag, remove_query)


def _block(searcher: BM25Searcher, qids: list[str], found: list, tag: str, remove_query: bool) -> Run:
    """One block's hits as a run (rows already in query, then score order)."""
    counts = [len(docs) for docs, _ in found]
    docs = np.concatenate([docs for docs, _ in found]) if found else np.zeros(0, np.int32)
    scores = np.concatenate([scores for _, scores in found]) if found else np.zeros(0)
    qid_column = pa.array(qids, pa.string()).take(pa.array(np.repeat(np.arange(len(qids)), counts)))
    docids = searcher.docids(docs)
    if remove_query:
        import pyarrow.compute as pc

        keep = pc.not_equal(docids, qid_column)
        qid_column, docids, scores = (
            qid_column.filter(keep),
            docids.filter(keep),
            scores[keep.to_numpy(False)],
        )
    return Run.from_columns(qid_column, docids, scores, name=tag)


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
    columns: list[tuple] = []
    blocks = search_blocks(
        index, topics, hits, threads=threads, batch_size=batch_size, remove_query=remove_query, tag=tag,
        k1=k1, b=b, rm3=rm3,
    )  # fmt: skip
    with contextlib.closing(blocks):  # on error, release the Java threads now, not from the garbage collector
        for block in blocks:
            columns.append((block.query_ids.take(pa.array(block.qids)), block.doc_ids, block.scores))
    if not columns:
        return Run.from_columns([], [], np.zeros(0), name=tag)
    return Run.from_columns(
        pa.concat_arrays([c[0] for c in columns]),
        pa.concat_arrays([c[1] for c in columns]),
        np.concatenate([c[2] for c in columns]),
        name=tag,
    )


def search_to_file(
    index: str | os.PathLike[str],
    topics: str | os.PathLike[str] | Mapping[str, str],
    output: str | os.PathLike[str],
    format: str = "trec",
    overwrite: bool = False,
    **options,
) -> tuple[Path, int]:
    """Search every topic and write the run block by block (memory does not grow with the number of
    queries). ``options`` are those of :func:`search`. Returns the path and the number of queries with hits.
    """
    check_writable(output, overwrite)
    queries = 0
    blocks = search_blocks(index, topics, **options)
    with (
        RunWriter(output, format, options.get("tag", "bm25"), overwrite) as writer,
        contextlib.closing(blocks),
    ):
        for block in blocks:
            writer.write(block)
            queries += block.num_queries
    return Path(output), queries
