"""Dense search: queries encoded in batches (or read pre-encoded), one FAISS search per batch, a Run out."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hybrid.dense.indexing import check_encoder, read_index
from hybrid.errors import InputError
from hybrid.formats import Run, read_topics
from hybrid.formats.text import json_lines
from hybrid.io import atomic_write


class DenseSearcher:
    """A FAISS index in Pyserini's layout plus the encoder that made it (or None, for pre-encoded queries).

    ``encoder`` may be a loaded encoder or a name/path for :func:`hybrid.dense.load_encoder`.
    ``ef_search`` sets HNSW's efSearch; ``threads`` is FAISS's OpenMP thread count.
    """

    def __init__(
        self, index: str | os.PathLike[str], encoder=None, ef_search: int | None = None, threads: int = 1
    ):
        import faiss

        from hybrid.dense.encoders import load_encoder

        self.path = Path(index)
        self.index, self.docids = read_index(index)
        self._docids = np.array(self.docids, dtype=object)
        self.encoder = load_encoder(encoder) if isinstance(encoder, str | os.PathLike) else encoder
        if self.encoder is not None:
            self.check_dim(self.encoder.dim, f"encoder {self.encoder.name!r}")
            check_encoder(index, self.encoder)
        if ef_search is not None:
            hnsw = faiss.downcast_index(self.index)
            if not isinstance(hnsw, faiss.IndexHNSW):
                raise ValueError(
                    f"{self.path}: --ef-search applies to HNSW indexes; this is a {type(hnsw).__name__}"
                )
            hnsw.hnsw.efSearch = ef_search
        self.threads = threads

    def check_dim(self, dim: int, source: str) -> None:
        if dim != self.index.d:
            raise ValueError(
                f"dimension mismatch: {self.path} holds {self.index.d}-dimensional vectors but {source} "
                f"produces {dim}-dimensional ones (was the index built with another encoder?)"
            )

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """The top ``k`` ``(docid, score)`` pairs for one query."""
        return self.batch_search([query], k)[0]

    def batch_search(self, queries: Sequence[str], k: int = 10) -> list[list[tuple[str, float]]]:
        """The top ``k`` ``(docid, score)`` pairs for each query, encoded and searched as one batch."""
        if self.encoder is None:
            raise ValueError("this searcher has no encoder; search with pre-encoded vectors (search_vectors)")
        scores, docids = self.search_vectors(self.encoder.encode_queries(queries), k)
        return [list(zip(d.tolist(), s.tolist(), strict=True)) for d, s in zip(docids, scores, strict=True)]

    def search_vectors(self, vectors: np.ndarray, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per query vector, the scores and docids of its top ``k`` (FAISS's empty slots dropped)."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.check_dim(vectors.shape[1], "the query vectors")
        faiss.omp_set_num_threads(self.threads)
        scores, rows = self.index.search(vectors, min(k, self.index.ntotal))
        found = rows >= 0
        return (
            [s[f] for s, f in zip(scores, found, strict=True)],
            [self._docids[r[f]] for r, f in zip(rows, found, strict=True)],
        )


def open_searcher(index, encoder=None, ef_search: int | None = None, threads: int = 1, ray=None):
    """A :class:`DenseSearcher`, or for a sharded index a :class:`~hybrid.dense.sharded.ShardedSearcher`."""
    from hybrid.dense.sharded import ShardedSearcher, is_sharded

    if is_sharded(index):
        return ShardedSearcher(index, encoder, ef_search, threads, ray)
    return DenseSearcher(index, encoder, ef_search=ef_search, threads=threads)


def search(
    index: str | os.PathLike[str],
    topics: str | os.PathLike[str] | Mapping[str, str],
    encoder=None,
    hits: int = 1000,
    threads: int = 1,
    batch_size: int = 64,
    tag: str = "dense",
    *,
    encoded_queries: str | os.PathLike[str] | None = None,
    ef_search: int | None = None,
    progress: bool = True,
    ray=None,
) -> Run:
    """Search ``index`` with every topic (a name, a file or ``{qid: text}``) and return the run.

    Queries are encoded ``batch_size`` at a time by ``encoder``, or read from ``encoded_queries``
    (see :func:`read_encoded_queries`). A sharded index is searched shard by shard, on Ray actors
    when ``ray`` (:class:`hybrid.cluster.RayOptions`) is given.
    """
    from tqdm import tqdm

    if encoder is None and encoded_queries is None:
        raise ValueError("dense search needs an encoder or pre-encoded queries (--encoded-queries)")
    topics = dict(topics) if isinstance(topics, Mapping) else read_topics(topics)
    searcher = open_searcher(index, None if encoded_queries else encoder, ef_search, threads, ray)
    qids, texts = list(topics), list(topics.values())
    given = read_encoded_queries(encoded_queries, topics) if encoded_queries else None
    columns: tuple[list, list, list] = ([], [], [])
    with tqdm(total=len(qids), unit=" queries", desc="searching", disable=not progress) as bar:
        for start in range(0, len(qids), batch_size):
            stop = start + batch_size
            vectors = (
                given[start:stop] if given is not None else searcher.encoder.encode_queries(texts[start:stop])
            )
            scores, docids = searcher.search_vectors(vectors, hits)
            for qid, found, values in zip(qids[start:stop], docids, scores, strict=True):
                columns[0].extend([qid] * len(found))
                columns[1].extend(found.tolist())
                columns[2].append(values.astype(np.float64))
            bar.update(len(vectors))
    scores = np.concatenate(columns[2]) if columns[2] else np.empty(0)
    return Run.from_columns(columns[0], columns[1], scores, name=tag)


def read_encoded_queries(path: str | os.PathLike[str], topics: Mapping[str, str]) -> np.ndarray:
    """Pre-encoded query vectors, one row per topic in order.

    Reads JSON lines ``{"id": qid, "vector": [...]}`` (as :func:`write_encoded_queries` writes), or
    Pyserini's encoded-queries folder/file ``embedding.pkl`` (a pickled DataFrame of ``text`` and
    ``embedding``, matched by query text; only open pickles you trust).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "embedding.pkl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such encoded-queries file")
    if path.suffix == ".pkl":
        import pandas as pd

        frame = pd.read_pickle(path)
        by_text = dict(zip(frame["text"], frame["embedding"], strict=True))
        missing = [qid for qid, text in topics.items() if text not in by_text]
        if missing:
            raise InputError(
                path, None, f"no vector for the text of query {missing[0]!r} ({len(missing)} missing)"
            )
        return np.stack([np.asarray(by_text[text], dtype=np.float32) for text in topics.values()])
    vectors: dict[str, tuple[int, list[float]]] = {}
    for number, obj in json_lines(path):
        qid = obj.get("id", obj.get("qid", obj.get("_id")))
        if qid is None or not isinstance(obj.get("vector"), list):
            raise InputError(path, number, 'expected {"id": ..., "vector": [...]}')
        vectors[str(qid)] = (number, obj["vector"])
    missing = [qid for qid in topics if qid not in vectors]
    if missing:
        raise InputError(
            path, None, f"no vector for query {missing[0]!r} ({len(missing)} of {len(topics)} missing)"
        )
    dims = {len(vectors[qid][1]) for qid in topics}
    if len(dims) > 1:
        odd = next(qid for qid in topics if len(vectors[qid][1]) != len(vectors[next(iter(topics))][1]))
        raise InputError(path, vectors[odd][0], f"vector of query {odd!r} differs in length from the first")
    return np.array([vectors[qid][1] for qid in topics], dtype=np.float32)


def write_encoded_queries(
    topics: str | os.PathLike[str] | Mapping[str, str],
    encoder,
    output: str | os.PathLike[str],
    batch_size: int = 64,
    overwrite: bool = False,
) -> Path:
    """Encode topics once and save them as JSON lines ``{"id", "text", "vector"}`` for ``--encoded-queries``."""
    topics = dict(topics) if isinstance(topics, Mapping) else read_topics(topics)
    vectors = encoder.encode_queries(list(topics.values()), batch_size=batch_size)
    with atomic_write(output, overwrite) as out:
        for (qid, text), vector in zip(topics.items(), vectors, strict=True):
            out.write(json.dumps({"id": qid, "text": text, "vector": vector.tolist()}) + "\n")
    return Path(output)
