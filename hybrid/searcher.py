"""Hybrid search: BM25 (Lucene) and a dense index (FAISS) searched together and fused.

:class:`HybridSearcher` is the notebook entry point (one query at a time, with both sides' scores
on every hit); :func:`search` runs a whole topic set and returns the fused run and the two single
runs, which the ``hybrid search hybrid`` command writes side by side for later tuning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple

from hybrid.formats.runs import Run
from hybrid.fusion import fuse


@dataclass(frozen=True)
class Hit:
    """One fused hit. ``sparse`` / ``dense`` are that side's raw scores, None where it missed the doc."""

    rank: int
    docid: str
    score: float
    sparse: float | None
    dense: float | None


class HybridRuns(NamedTuple):
    fused: Run
    sparse: Run
    dense: Run


class HybridSearcher:
    """Search a Lucene BM25 index and a dense index together.

    ``encoder`` is a loaded encoder or a name/path for :func:`hybrid.dense.load_encoder`
    (``"minilm"``, ``"castorini/tct_colbert-v2-hnp-msmarco"``, a local folder).
    """

    def __init__(
        self,
        sparse_index: str | os.PathLike[str],
        dense_index: str | os.PathLike[str],
        encoder: Any,
        k1: float = 0.9,
        b: float = 0.4,
    ):
        from hybrid.dense import DenseSearcher, load_encoder
        from hybrid.sparse import BM25Searcher

        self.encoder = load_encoder(encoder) if isinstance(encoder, str | os.PathLike) else encoder
        self.sparse = BM25Searcher(sparse_index, k1=k1, b=b)
        self.dense = DenseSearcher(dense_index, self.encoder)

    def search(
        self,
        query: str,
        k: int = 10,
        alpha: float = 0.1,
        depth: int = 1000,
        weight_on_dense: bool = False,
        normalization: str = "none",
        missing: str = "min",
        convex: bool = False,
    ) -> list[Hit]:
        """The top ``k`` of the fused union of both sides' top ``depth`` hits (rules of :func:`hybrid.fuse`)."""
        sparse_hits = dict(self.sparse.search(query, k=depth))
        dense_hits = dict(self.dense.search(query, k=depth))
        fused = fuse(
            Run.from_dict({"q": dense_hits}),
            Run.from_dict({"q": sparse_hits}),
            alpha=alpha,
            weight_on_dense=weight_on_dense,
            normalization=normalization,
            depth=depth,
            hits=k,
            missing=missing,
            convex=convex,
        )
        hits = []
        for _, docids, scores in fused:
            for rank, (docid, score) in enumerate(zip(docids, scores.tolist(), strict=True), start=1):
                hits.append(Hit(rank, docid, score, sparse_hits.get(docid), dense_hits.get(docid)))
        return hits

    def doc(self, docid: str) -> str | None:
        """The stored text of a document (title and text, from the Lucene index), or None if unknown.

        ``searcher.sparse.doc(docid)`` gives the raw stored JSON, expansions included.
        """
        return self.sparse.document_text(docid)


def search(
    sparse_index: str | os.PathLike[str],
    dense_index: str | os.PathLike[str],
    encoder: Any,
    topics: Any,
    alpha: float = 0.1,
    hits: int = 1000,
    depth: int = 1000,
    threads: int = 1,
    k1: float = 0.9,
    b: float = 0.4,
    weight_on_dense: bool = False,
    normalization: str = "none",
    missing: str = "min",
    convex: bool = False,
    tag: str = "hybrid",
    ray=None,
) -> HybridRuns:
    """Search a topic set (name, path or ``{qid: text}``) on both indexes and fuse.

    Returns the fused run (``hits`` per query) and the sparse and dense runs (``depth`` per query).
    With ``ray`` (:class:`hybrid.cluster.RayOptions`) the topics are split across Ray BM25 searchers and
    a sharded dense index is searched by one actor per shard.
    """
    from hybrid import dense as dense_retrieval
    from hybrid import sparse as sparse_retrieval

    encoder = dense_retrieval.load_encoder(encoder) if isinstance(encoder, str | os.PathLike) else encoder
    sparse_options = {"hits": depth, "k1": k1, "b": b, "threads": threads}
    if ray is None:
        sparse_run = sparse_retrieval.search(sparse_index, topics, **sparse_options)
    else:
        from hybrid.sparse.ray_searching import search_on_ray

        sparse_run = search_on_ray(sparse_index, topics, ray, **sparse_options)
    dense_run = dense_retrieval.search(dense_index, topics, encoder, hits=depth, threads=threads, ray=ray)
    fused = fuse(
        dense_run,
        sparse_run,
        alpha=alpha,
        weight_on_dense=weight_on_dense,
        normalization=normalization,
        depth=depth,
        hits=hits,
        missing=missing,
        convex=convex,
        tag=tag,
    )
    return HybridRuns(fused, sparse_run, dense_run)
