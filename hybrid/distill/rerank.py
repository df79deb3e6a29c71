"""The ColBERT teacher as a reranker: MaxSim over each query's top-k candidates of a run.

Each candidate document is encoded once (whatever number of queries retrieved it), in batches, and
scored against exactly the queries that retrieved it.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from hybrid.distill.teacher import ColBERT, maxsim_pairs
from hybrid.formats import Run, iter_corpus, read_topics

PAIR_CHUNK = 2048  # (query, document) pairs scored at once


def rerank(
    teacher: ColBERT,
    run: str | os.PathLike[str] | Run,
    topics: str | os.PathLike[str] | dict[str, str],
    corpus: str | os.PathLike[str],
    depth: int = 100,
    batch_size: int = 32,
    tag: str = "colbert",
) -> Run:
    """Rescore each query's top-``depth`` hits with MaxSim; hits below ``depth`` are dropped."""
    from tqdm.auto import tqdm

    run = (run if isinstance(run, Run) else Run.read(run)).top(depth)
    if len(run) == 0:
        raise ValueError("the run to rerank has no hits")
    topics = topics if isinstance(topics, dict) else read_topics(topics)
    row_qids, row_docids = [], []
    for qid, docids, _ in run:
        if qid not in topics:
            raise ValueError(f"run query {qid!r} has no topic text")
        row_qids.extend([qid] * len(docids))
        row_docids.extend(docids)
    rows_of_doc: dict[str, list[int]] = {}
    for row, docid in enumerate(row_docids):
        rows_of_doc.setdefault(docid, []).append(row)
    texts = {doc.docid: doc.contents for doc in iter_corpus(corpus) if doc.docid in rows_of_doc}
    absent = rows_of_doc.keys() - texts.keys()
    if absent:
        raise ValueError(
            f"{len(absent)} run documents are not in corpus {corpus} (first: {sorted(absent)[0]!r})"
        )

    teacher.eval()
    qids = list(dict.fromkeys(row_qids))
    query_code = {qid: i for i, qid in enumerate(qids)}
    row_query = torch.tensor([query_code[q] for q in row_qids])
    scores = np.empty(len(row_qids), dtype=np.float64)
    doc_order = sorted(rows_of_doc, key=lambda d: len(texts[d]))
    with torch.inference_mode():
        query_vectors = torch.cat(
            [teacher.encode_queries([topics[q] for q in qids[i : i + 256]]) for i in range(0, len(qids), 256)]
        )
        for start in tqdm(range(0, len(doc_order), batch_size), desc="reranking", unit="batch"):
            batch = doc_order[start : start + batch_size]
            doc_vectors, doc_mask = teacher.encode_docs([texts[d] for d in batch])
            rows = np.concatenate([rows_of_doc[d] for d in batch])
            local = np.concatenate([np.full(len(rows_of_doc[d]), i) for i, d in enumerate(batch)])
            for lo in range(0, len(rows), PAIR_CHUNK):
                chunk, at = rows[lo : lo + PAIR_CHUNK], torch.from_numpy(local[lo : lo + PAIR_CHUNK])
                queries = query_vectors[row_query[torch.from_numpy(chunk)]]
                scores[chunk] = maxsim_pairs(queries, doc_vectors[at], doc_mask[at]).double().cpu().numpy()
    return Run.from_columns(row_qids, row_docids, scores, tag)
