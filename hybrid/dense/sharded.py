"""A dense index split into shards: ``shards.json`` plus ``shard-000/``, ``shard-001/`` ... (each an ordinary
index folder, ``index`` + ``docid``), in corpus order. A shard is searched on its own and the shards' top-k
lists are merged into the exact global top-k, so no process needs more than one shard in memory when the
shards live on Ray actors (:mod:`hybrid.dense.ray_searching`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hybrid.dense.indexing import EncodingJob, saved_chunks, write_index
from hybrid.io import atomic_directory

LAYOUT_FILE = "shards.json"


def is_sharded(index: str | os.PathLike[str]) -> bool:
    """Whether ``index`` is a sharded index folder."""
    return (Path(index) / LAYOUT_FILE).is_file()


def shard_folders(index: str | os.PathLike[str]) -> list[Path]:
    """The shard folders of a sharded index, in corpus order."""
    index = Path(index)
    layout = json.loads((index / LAYOUT_FILE).read_text())
    folders = [index / name for name in layout["shards"]]
    missing = [f for f in folders if not f.is_dir()]
    if missing:
        raise FileNotFoundError(f"{index}: {LAYOUT_FILE} names shard {missing[0].name}, which is missing")
    return folders


def write_index_layout(
    job: EncodingJob,
    index: str | os.PathLike[str],
    dim: int,
    index_type: str,
    overwrite: bool,
    shards: int,
    hnsw_m: int,
    ef_construction: int,
    pq_m: int | None,
    record: dict | None = None,
    map_shards: Callable[[Callable, list[tuple]], list] | None = None,
) -> Path:
    """Turn the saved chunks of ``job`` into one index (``shards`` 1) or ``shards`` sub-indexes of
    contiguous chunks (each recording the encoder ``record``), then delete the work folder. ``map_shards(write, arguments)`` runs the per-shard
    writes (default: one after another here; :mod:`hybrid.dense.ray_indexing` runs them as Ray tasks)."""
    index = Path(index)
    options = (dim, index_type, overwrite, hnsw_m, ef_construction, pq_m, record)
    run = map_shards or (lambda write, arguments: [write(*a) for a in arguments])
    if shards == 1:
        run(_write_shard, [(index, job.work, range(job.chunks), *options)])
    else:
        with atomic_directory(index, overwrite) as folder:
            bounds = np.linspace(0, job.chunks, shards + 1).round().astype(int)
            names = [f"shard-{s:03d}" for s in range(shards)]
            run(
                _write_shard,
                [
                    (folder / name, job.work, range(lo, hi), *options)
                    for name, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True)
                ],
            )
            layout = {"shards": names, "dim": dim, "index_type": index_type}
            (folder / LAYOUT_FILE).write_text(json.dumps(layout, indent=1) + "\n")
    shutil.rmtree(job.work)
    return index


def _write_shard(folder: Path, work: Path, numbers: range, *options) -> Path:
    return write_index(folder, saved_chunks(work, numbers), *options)


class ShardedSearcher:
    """Searches every shard of a sharded index and merges their top-k lists; the shards are
    :class:`~hybrid.dense.searching.DenseSearcher` objects here or Ray actors (``ray_options``)."""

    def __init__(self, index, encoder=None, ef_search: int | None = None, threads: int = 1, ray_options=None):
        from hybrid.dense.encoders import load_encoder
        from hybrid.dense.searching import DenseSearcher

        self.path = Path(index)
        self.encoder = load_encoder(encoder) if isinstance(encoder, str | os.PathLike) else encoder
        self.dim = json.loads((self.path / LAYOUT_FILE).read_text())["dim"]
        folders = shard_folders(index)
        if ray_options is None:
            shards = [DenseSearcher(f, None, ef_search, threads) for f in folders]
            self._search_shards = lambda vectors, k: [s.search_vectors(vectors, k) for s in shards]
        else:
            from hybrid.dense.ray_searching import shard_actors

            self._search_shards = shard_actors(folders, ef_search, threads, ray_options)
        if self.encoder is not None:
            self.check_dim(self.encoder.dim, f"encoder {self.encoder.name!r}")

    def check_dim(self, dim: int, source: str) -> None:
        if dim != self.dim:
            raise ValueError(
                f"dimension mismatch: {self.path} holds {self.dim}-dimensional vectors but {source} "
                f"produces {dim}-dimensional ones (was the index built with another encoder?)"
            )

    def search_vectors(self, vectors: np.ndarray, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per query vector, the scores and docids of its global top ``k``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.check_dim(vectors.shape[1], "the query vectors")
        return merge_top_k(self._search_shards(vectors, k), k)


def merge_top_k(
    per_shard: Sequence[tuple[list[np.ndarray], list[np.ndarray]]], k: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Merge the shards' ``(scores, docids)`` lists (shards in corpus order) into each query's top ``k``.

    Equal scores keep corpus order (earlier shard first, then the shard's own order), as FAISS keeps the
    lower row of a single index on a tie, so a flat sharded index gives the single index's run.
    """
    scores, docids = [], []
    for query in range(len(per_shard[0][0])):
        values = np.concatenate([shard[0][query] for shard in per_shard])
        names = np.concatenate([shard[1][query] for shard in per_shard])
        best = np.argsort(-values, kind="stable")[:k]
        scores.append(values[best])
        docids.append(names[best])
    return scores, docids
