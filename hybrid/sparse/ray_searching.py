"""BM25 search of a topic set split across Ray tasks: each runs :func:`hybrid.sparse.search` (one Lucene
searcher) on a contiguous part of the topics over the same index; the parts join into the run the single
process would write, byte for byte. The index must be on storage every Ray node sees (or replicated at the
same path)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from hybrid.cluster import RayOptions, connect
from hybrid.formats import Run, read_topics


def search_on_ray(
    index: str | os.PathLike[str],
    topics: str | os.PathLike[str] | Mapping[str, str],
    options: RayOptions,
    tag: str = "bm25",
    **search_options,
) -> Run:
    """:func:`hybrid.sparse.search` of ``topics`` on ``options.workers`` Ray tasks; ``search_options`` are its
    keyword arguments (hits, k1, b, rm3, threads, batch_size, remove_query)."""
    from hybrid.sparse.searching import check_index

    index = str(check_index(index).resolve())
    queries = dict(topics) if isinstance(topics, Mapping) else read_topics(topics)
    ray = connect(options)
    qids = list(queries)
    size = -(-len(qids) // options.workers) or 1
    parts = [{qid: queries[qid] for qid in qids[start : start + size]} for start in range(0, len(qids), size)]
    task = ray.remote(num_cpus=1)(_search_part)
    runs = ray.get([task.remote(index, part, tag, search_options) for part in parts])
    columns: tuple[list, list, list] = ([], [], [])
    for run in runs:
        for qid, docids, scores in run:
            columns[0].extend([qid] * len(docids))
            columns[1].extend(docids)
            columns[2].extend(scores.tolist())
    return Run.from_columns(*columns, name=tag)


def _search_part(index: str, topics: dict[str, str], tag: str, search_options: dict) -> Run:
    from hybrid.sparse.searching import search

    return search(Path(index), topics, tag=tag, **search_options)
