"""One local Ray (2 CPUs) per test session, shared by every test here, and a real SciFact corpus slice."""

from __future__ import annotations

import gzip
import itertools
import os
from pathlib import Path

import pytest
from scale_support import CHUNK, ROOT, SLICE_DOCS
from tiny_models import save_tiny_bert

from hybrid.cluster import init_ray


@pytest.fixture(scope="session")
def ray_session():
    """``ray.init(num_cpus=2)`` once; workers import this checkout's ``hybrid``."""
    ray = pytest.importorskip("ray")
    env = {"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}}
    init_ray(ray, address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=env)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def ray_options(ray_session):
    from hybrid.cluster import RayOptions

    return RayOptions(workers=2)


@pytest.fixture(scope="session")
def corpus_slice(tmp_path_factory) -> Path:
    """The first SLICE_DOCS SciFact documents (BEIR corpus.jsonl)."""
    path = tmp_path_factory.mktemp("scale-corpus") / "corpus.jsonl"
    with gzip.open(ROOT / "data/scifact/corpus.jsonl.gz", "rt", encoding="utf-8") as src:
        path.write_text("".join(itertools.islice(src, SLICE_DOCS)), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def single_index(corpus_slice, minilm, tmp_path_factory) -> Path:
    """The slice encoded in this process, as today."""
    from hybrid.dense import build_index

    return build_index(corpus_slice, minilm, tmp_path_factory.mktemp("single") / "index", chunk_size=CHUNK)


@pytest.fixture(scope="session")
def ray_sharded_index(corpus_slice, ray_options, tmp_path_factory) -> Path:
    """The slice encoded by two Ray Data actors into a 3-shard index."""
    from hybrid.dense.ray_indexing import build_index_on_ray

    return build_index_on_ray(
        corpus_slice,
        {"name_or_path": "minilm"},
        tmp_path_factory.mktemp("ray") / "index",
        ray_options,
        chunk_size=CHUNK,
        shards=3,
        progress=False,
    )


@pytest.fixture(scope="session")
def tiny_bert_without_dropout(tmp_path_factory) -> Path:
    """The tiny random BERT without dropout, so that runs with different worker counts see the same forward pass."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), dropout=0.0)
