"""Dense search of a sharded index on Ray: one actor per shard loads its shard once; each batch of query
vectors is put in the object store once and searched by every actor (:class:`hybrid.dense.sharded.ShardedSearcher`
merges the answers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from hybrid.cluster import RayOptions, connect


def shard_actors(
    folders: list[Path], ef_search: int | None, threads: int, options: RayOptions
) -> Callable[[np.ndarray, int], list]:
    """Start one searcher actor per shard folder; returns ``search(vectors, k)`` giving each shard's answer."""
    ray = connect(options)
    from hybrid.dense.searching import DenseSearcher

    # Ray's default actor holds no CPU once placed (shards need memory more than cores), and SPREAD puts
    # the shards on as many nodes as there are.
    remote = ray.remote(scheduling_strategy="SPREAD")(DenseSearcher)
    actors = [remote.remote(str(folder.resolve()), None, ef_search, threads) for folder in folders]

    def search(vectors: np.ndarray, k: int) -> list:
        shared = ray.put(vectors)
        return ray.get([actor.search_vectors.remote(shared, k) for actor in actors])

    return search
