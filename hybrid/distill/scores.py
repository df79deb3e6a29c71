"""Teacher scores computed once and stored beside the training lists: a (queries x documents) MaxSim
matrix, optionally plus beta * BM25 (the hybrid teacher).

For a small collection (SciFact: 1,109 queries x 5,183 passages) the frozen teacher's MaxSim of every
(query, passage) pair costs one teacher pass over the corpus. Every later use is a look-up: the
false-negative filter of :func:`hybrid.distill.triples.mine_lists`, the listwise targets over each
query's own candidates, the in-batch targets (the same values the frozen teacher would compute on the
fly, since it is in eval mode), and the teacher as a reranker. A collection too large for the matrix
trains with the teacher on the fly instead (``train student --teacher DIR``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np

from hybrid.formats import Run, iter_corpus, read_topics
from hybrid.io import atomic_write

QUERY_CHUNK = 64  # queries scored against a batch of documents at once


class TeacherScores(Mapping):
    """MaxSim of ``qids`` x ``docids`` (``scores[i, j]``), plus ``beta`` times a BM25 run (a query's
    documents missing from its BM25 hits take that query's lowest BM25 score, as in fusion)."""

    def __init__(self, qids: Sequence[str], docids: Sequence[str], scores: np.ndarray, bm25=None, beta=0.0):
        self.qids, self.docids, self.scores = list(qids), list(docids), np.asarray(scores, dtype=np.float32)
        if self.scores.shape != (len(self.qids), len(self.docids)):
            raise ValueError(
                f"score matrix {self.scores.shape} does not match {len(qids)} x {len(docids)} ids"
            )
        self._row = {q: i for i, q in enumerate(self.qids)}
        self._column = {d: j for j, d in enumerate(self.docids)}
        self.beta = beta
        self._bm25: dict[str, dict[str, float]] = {}
        if beta:
            if bm25 is None:
                raise ValueError("a hybrid teacher (beta != 0) needs a BM25 run")
            self._bm25 = (bm25 if isinstance(bm25, Run) else Run.read(bm25)).to_dict()

    def with_bm25(self, bm25, beta: float) -> TeacherScores:
        """The hybrid teacher: MaxSim + ``beta`` * BM25 over the same matrix."""
        return TeacherScores(self.qids, self.docids, self.scores, bm25, beta)

    def lookup(self, qids: Sequence[str], docids: Sequence[str]) -> np.ndarray:
        """``[len(qids), len(docids)]`` teacher scores; every id must be in the matrix."""
        try:
            rows = [self._row[q] for q in qids]
            columns = [self._column[d] for d in docids]
        except KeyError as err:
            raise KeyError(f"the teacher score matrix has no row or column for {err.args[0]!r}") from None
        values = self.scores[np.ix_(rows, columns)].astype(np.float64)
        if self.beta:
            for i, qid in enumerate(qids):
                hits = self._bm25.get(qid, {})
                floor = min(hits.values()) if hits else 0.0
                values[i] += self.beta * np.array([hits.get(d, floor) for d in docids])
        return values

    # Mapping {qid: {docid: score}} view, for the false-negative filter
    def __getitem__(self, qid: str) -> dict[str, float]:
        return dict(zip(self.docids, self.lookup([qid], self.docids)[0].tolist(), strict=True))

    def __iter__(self):
        return iter(self.qids)

    def __len__(self) -> int:
        return len(self.qids)

    def rerank(self, run: Run, depth: int = 100, tag: str = "teacher") -> Run:
        """Each query's top-``depth`` hits of ``run`` rescored by the teacher."""
        qids, docids, values = [], [], []
        for qid, hits, _ in run.top(depth):
            qids.extend([qid] * len(hits))
            docids.extend(hits)
            values.append(self.lookup([qid], list(hits))[0])
        return Run.from_columns(qids, docids, np.concatenate(values), tag)

    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """An ``.npz`` of the MaxSim matrix and its ids (BM25 and beta are given at load time)."""
        with atomic_write(path, overwrite=overwrite, mode="wb") as out:
            np.savez(out, qids=np.array(self.qids), docids=np.array(self.docids), scores=self.scores)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], bm25=None, beta: float = 0.0) -> TeacherScores:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such teacher score file")
        with np.load(path) as data:
            return cls(data["qids"].tolist(), data["docids"].tolist(), data["scores"], bm25, beta)


def cross_fitted(fold_scores: Sequence[TeacherScores], folds: Sequence[Collection[str]]) -> TeacherScores:
    """One matrix from K teachers, ``fold_scores[k]`` trained without the queries of ``folds[k]``: each
    query of fold k takes teacher k's scores (a teacher never scores a query it was trained on, so its
    targets are no more confident there than on new queries); every other query (dev, test) the mean
    of the K teachers. The matrices must share their ids (one :func:`score_matrix` call each)."""
    first = fold_scores[0]
    if len(fold_scores) != len(folds) or any(
        s.qids != first.qids or s.docids != first.docids for s in fold_scores
    ):
        raise ValueError("cross-fitting needs one score matrix per fold, all over the same ids")
    scores = np.mean([s.scores for s in fold_scores], axis=0, dtype=np.float64).astype(np.float32)
    row = {q: i for i, q in enumerate(first.qids)}
    for teacher, fold in zip(fold_scores, folds, strict=True):
        rows = [row[q] for q in fold if q in row]
        scores[rows] = teacher.scores[rows]
    return TeacherScores(first.qids, first.docids, scores)


def stacked(matrices: Sequence[TeacherScores]) -> TeacherScores:
    """One matrix holding the rows of several over the same documents (say, the labelled queries'
    and pseudo-queries' scores, each against its own version of the corpus); query ids must differ."""
    first = matrices[0]
    if any(m.docids != first.docids for m in matrices):
        raise ValueError("stacked score matrices must share their documents, in the same order")
    qids = [q for m in matrices for q in m.qids]
    if len(set(qids)) != len(qids):
        raise ValueError("stacked score matrices must not share a query id")
    return TeacherScores(qids, first.docids, np.concatenate([m.scores for m in matrices]))


def score_matrix(
    teacher,
    topics: str | os.PathLike[str] | Mapping[str, str] | Sequence,
    corpus: str | os.PathLike[str],
    batch_size: int = 32,
) -> TeacherScores:
    """The frozen teacher's MaxSim of every topic against every corpus passage (topics: names, files or
    dicts, merged), with one pass of the teacher over the corpus."""
    import torch
    from tqdm.auto import tqdm

    from hybrid.distill.teacher import maxsim

    merged: dict[str, str] = {}
    for source in topics if isinstance(topics, list | tuple) else [topics]:
        merged.update(source if isinstance(source, Mapping) else read_topics(source))
    documents = list(iter_corpus(corpus))
    order = sorted(range(len(documents)), key=lambda i: len(documents[i].contents))
    qids = list(merged)
    scores = np.empty((len(qids), len(documents)), dtype=np.float32)
    teacher.eval()
    with torch.inference_mode():
        queries = torch.cat(
            [teacher.encode_queries([merged[q] for q in qids[i : i + 256]]) for i in range(0, len(qids), 256)]
        )
        for start in tqdm(range(0, len(order), batch_size), desc="teacher scores", unit="batch"):
            rows = order[start : start + batch_size]
            vectors, mask = teacher.encode_docs([documents[i].contents for i in rows])
            for lo in range(0, len(qids), QUERY_CHUNK):
                block = maxsim(queries[lo : lo + QUERY_CHUNK], vectors, mask).float().cpu().numpy()
                scores[lo : lo + QUERY_CHUNK, rows] = block
    return TeacherScores(qids, [d.docid for d in documents], scores)
