"""Corpus encoding on Ray Data: the same chunks, chunk files and index layout as
:func:`hybrid.dense.indexing.build_index`, encoded by a pool of actors (one model load each).

Reader tasks stream the corpus and emit the chunks still missing from the work folder; encoder actors
encode and save each chunk with :func:`~hybrid.dense.indexing.encode_chunk`; Ray tasks then write the index
(or each shard of it) from the saved chunks. The driver holds neither documents nor vectors. A killed
actor is restarted and its chunk redone; a killed driver leaves the saved chunks, which the next run skips.
The corpus, the work folder and the index must be on storage every Ray node sees (one machine, or NFS).
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path

from hybrid.cluster import RayOptions, connect
from hybrid.dense.indexing import (
    CHUNK_SIZE,
    EF_CONSTRUCTION,
    HNSW_M,
    encode_chunk,
    start_encoding,
)


def build_index_on_ray(
    corpus: str | os.PathLike[str],
    encoder_spec: dict,
    index: str | os.PathLike[str],
    options: RayOptions,
    index_type: str = "flat",
    batch_size: int = 32,
    overwrite: bool = False,
    *,
    chunk_size: int = CHUNK_SIZE,
    shards: int = 1,
    hnsw_m: int = HNSW_M,
    ef_construction: int = EF_CONSTRUCTION,
    pq_m: int | None = None,
    progress: bool = True,
) -> Path:
    """Encode ``corpus`` on Ray with ``options.workers`` encoder actors, each loading
    ``load_encoder(**encoder_spec)``; writes the index (``shards`` > 1: the sharded layout) at ``index``."""
    from hybrid.dense.sharded import write_index_layout

    ray = connect(options)
    from ray.data import ActorPoolStrategy, DataContext, from_items

    spec = {**encoder_spec, **({"device": options.device} if options.device else {})}
    settings = ray.get(ray.remote(num_gpus=options.gpus_per_worker)(_settings).remote(spec))
    corpus = str(Path(corpus).resolve()) if Path(corpus).exists() else str(corpus)
    job = start_encoding(
        corpus, settings, index, index_type, overwrite, 0, 1, chunk_size, hnsw_m, pq_m, shards
    )
    missing = [number for number in range(job.chunks) if number not in job.done]
    readers = [missing[i :: options.workers] for i in range(options.workers) if missing[i :: options.workers]]
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.verbose_progress = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    chunks = from_items(
        [{"corpus": corpus, "first": job.first, "chunk_size": chunk_size, "numbers": r} for r in readers]
        or [{"corpus": corpus, "first": 0, "chunk_size": chunk_size, "numbers": []}]
    ).flat_map(_read_chunks, num_cpus=0)
    encoded = chunks.map_batches(
        _ChunkEncoder,
        fn_constructor_kwargs={"spec": spec, "work": str(job.work), "batch_size": batch_size},
        batch_size=1,
        compute=ActorPoolStrategy(size=options.workers),
        num_cpus=1,
        num_gpus=options.gpus_per_worker,
    )
    with job.progress_bar(progress) as bar:
        for row in encoded.iter_rows():
            bar.update(int(row["documents"]))
    write = ray.remote(num_cpus=1)(_call)
    return write_index_layout(
        job,
        Path(index).resolve(),
        settings["dim"],
        index_type,
        overwrite,
        shards,
        hnsw_m,
        ef_construction,
        pq_m,
        dict(settings),
        map_shards=lambda fn, arguments: ray.get([write.remote(fn, *a) for a in arguments]),
    )


def _call(fn, *arguments):
    return fn(*arguments)


def _settings(spec: dict) -> dict:
    from hybrid.dense.encoders import load_encoder

    return load_encoder(**spec).settings()


def _read_chunks(task: dict):
    """The chunks ``task["numbers"]`` of the corpus, one row each, read in one pass."""
    from hybrid.formats import iter_corpus

    wanted = set(task["numbers"])
    if not wanted:
        return
    size, last = task["chunk_size"], max(wanted)
    docs = itertools.islice(iter_corpus(task["corpus"]), task["first"], task["first"] + (last + 1) * size)
    for number in range(last + 1):
        chunk = list(itertools.islice(docs, size))
        if number in wanted:
            yield {"number": number, "docids": [d.docid for d in chunk], "texts": [d.contents for d in chunk]}


class _ChunkEncoder:
    """A Ray Data actor: loads the encoder once, then encodes and saves one chunk per call."""

    def __init__(self, spec: dict, work: str, batch_size: int):
        from hybrid.dense.encoders import load_encoder

        self.encoder = load_encoder(**spec)
        self.work, self.batch_size = Path(work), batch_size

    def __call__(self, batch: dict) -> dict:
        number = int(batch["number"][0])
        docids, texts = list(batch["docids"][0]), list(batch["texts"][0])
        count = encode_chunk(self.encoder, self.work, number, docids, texts, self.batch_size)
        return {"number": [number], "documents": [count]}
