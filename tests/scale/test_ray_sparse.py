"""Parallel BM25 on a real local Ray writes the single-process run byte for byte."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_topics_split_across_ray_searchers_give_the_same_run(
    scifact_slice_sparse_index, ray_options, tmp_path
):
    from hybrid.sparse import search
    from hybrid.sparse.ray_searching import search_on_ray

    single = search(scifact_slice_sparse_index, "scifact-test", hits=100)
    parallel = search_on_ray(scifact_slice_sparse_index, "scifact-test", ray_options, hits=100)
    assert parallel.num_queries == single.num_queries == 300
    single.write(tmp_path / "single.trec")
    parallel.write(tmp_path / "parallel.trec")
    assert (tmp_path / "parallel.trec").read_bytes() == (tmp_path / "single.trec").read_bytes()
