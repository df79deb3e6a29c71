"""Encoding and sharded dense search on a real local Ray give what the single process gives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scale_support import CHUNK, ROOT, SLICE_DOCS

pytestmark = pytest.mark.slow


def _vectors(index: Path) -> tuple[list[str], np.ndarray]:
    from hybrid.dense.indexing import read_index, stored_vectors
    from hybrid.dense.sharded import is_sharded, shard_folders

    folders = shard_folders(index) if is_sharded(index) else [index]
    loaded = [read_index(folder) for folder in folders]
    docids = [d for _, ids in loaded for d in ids]
    return docids, np.concatenate([stored_vectors(faiss_index) for faiss_index, _ in loaded])


def test_ray_encoding_equals_the_single_process(single_index, ray_sharded_index):
    from hybrid.dense.sharded import shard_folders

    assert len(shard_folders(ray_sharded_index)) == 3
    single_ids, single = _vectors(single_index)
    ray_ids, ray_vectors = _vectors(ray_sharded_index)
    assert ray_ids == single_ids and len(set(ray_ids)) == SLICE_DOCS
    np.testing.assert_allclose(ray_vectors, single, atol=1e-5)


@pytest.mark.parametrize("on_ray", [False, True], ids=["local", "ray"])
def test_sharded_flat_search_equals_the_single_index(
    single_index, ray_sharded_index, minilm, ray_options, on_ray, tmp_path
):
    from hybrid.dense import search

    single = search(single_index, "scifact-test", minilm, hits=50, progress=False)
    sharded = search(
        ray_sharded_index,
        "scifact-test",
        minilm,
        hits=50,
        progress=False,
        ray=ray_options if on_ray else None,
    )
    assert sharded.query_list() == single.query_list()
    for (qid, docs, scores), (_, want_docs, want_scores) in zip(sharded, single, strict=True):
        assert docs == want_docs, qid
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    single.write(tmp_path / "single.trec")
    sharded.write(tmp_path / "sharded.trec")
    assert (tmp_path / "sharded.trec").read_bytes() == (tmp_path / "single.trec").read_bytes()


def test_killed_actor_is_replaced_and_every_chunk_lands_once(
    corpus_slice, single_index, ray_session, ray_options, tmp_path
):
    """SIGKILL one encoder actor once the first chunks are saved: Ray restarts it, the run finishes."""
    from hybrid.cluster import local_actor_processes
    from hybrid.dense.indexing import work_folder
    from hybrid.dense.ray_indexing import build_index_on_ray

    index = tmp_path / "index"
    work = work_folder(index)
    killed = []

    def kill_one_encoder():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and len(list(work.glob("chunk-*.npy"))) < 2:
            time.sleep(0.2)
        for pid in local_actor_processes("_ChunkEncoder")[:1]:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_one_encoder)
    killer.start()
    build_index_on_ray(
        corpus_slice, {"name_or_path": "minilm"}, index, ray_options, chunk_size=CHUNK, progress=False
    )
    killer.join()
    assert killed, "no encoder actor was found to kill"
    assert not work.exists()
    docids, vectors = _vectors(index)
    want_ids, want = _vectors(single_index)
    assert docids == want_ids
    np.testing.assert_allclose(vectors, want, atol=1e-5)


def test_killed_driver_resumes_without_recomputing_saved_chunks(
    corpus_slice, single_index, ray_session, ray_options, tmp_path
):
    """A driver joined to the session's Ray (``--ray ADDRESS``) is SIGKILLed mid-encode; the rerun keeps
    every chunk file it had saved (same inode and time) and finishes the index."""
    from hybrid.dense.indexing import work_folder
    from hybrid.dense.ray_indexing import build_index_on_ray

    index = tmp_path / "index"
    work = work_folder(index)
    address = ray_session.get_runtime_context().gcs_address
    command = [
        sys.executable, "-m", "hybrid", "index", "dense", "--corpus", str(corpus_slice), "--index", str(index),
        "--encoder", "minilm", "--chunk-size", str(CHUNK), "--ray", address, "--workers", "2",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and len(list(work.glob("chunk-*.npy"))) < 2 and driver.poll() is None:
        time.sleep(0.2)
    driver.kill()
    driver.wait()
    saved = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in work.glob("chunk-*.npy")}
    assert 2 <= len(saved) < SLICE_DOCS // CHUNK, "the driver was not killed mid-encode"
    time.sleep(2)  # let Ray reap the dead job's actors before the rerun
    build_index_on_ray(
        corpus_slice, {"name_or_path": "minilm"}, index, ray_options, chunk_size=CHUNK, progress=False
    )
    docids, vectors = _vectors(index)
    want_ids, want = _vectors(single_index)
    assert docids == want_ids
    np.testing.assert_allclose(vectors, want, atol=1e-5)


def test_sharded_search_on_a_two_node_cluster(ray_sharded_index, single_index, minilm, tmp_path):
    """A two-node ``ray.cluster_utils.Cluster`` (one CPU each), in its own process so it never meets the
    session's Ray: the 3 shard actors are spread over both nodes and the run equals the single index's."""
    from hybrid.dense import search, write_encoded_queries

    queries = write_encoded_queries("scifact-test", minilm, tmp_path / "queries.jsonl")
    search(single_index, "scifact-test", encoded_queries=queries, hits=50, progress=False).write(
        tmp_path / "want.trec"
    )
    script = f"""
import ray
from ray.cluster_utils import Cluster
from hybrid.cluster import RayOptions
from hybrid.dense import search
cluster = Cluster(initialize_head=True, head_node_args={{"num_cpus": 1}})
cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
assert len([n for n in ray.nodes() if n["Alive"]]) == 2
run = search({str(ray_sharded_index)!r}, "scifact-test", encoded_queries={str(queries)!r}, hits=50,
             progress=False, ray=RayOptions("auto", workers=2))
run.write({str(tmp_path / "cluster.trec")!r})
ray.shutdown()
cluster.shutdown()
"""
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}
    env.pop("RAY_ADDRESS", None)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=900)
    assert (tmp_path / "cluster.trec").read_bytes() == (tmp_path / "want.trec").read_bytes()
