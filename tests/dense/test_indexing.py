"""Index building: layout, shards and merge, index types, resuming a killed run, refusing to clobber."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hybrid import iter_corpus

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_encoder(tiny_bert):
    from hybrid.dense import load_encoder

    return load_encoder(tiny_bert, encoder_class="tct_colbert", max_length=128)


def test_layout_is_index_plus_docid_in_corpus_order(tiny_encoder, small_corpus, tmp_path):
    import faiss

    from hybrid.dense import build_index

    docs = list(iter_corpus(small_corpus))
    index = build_index(
        small_corpus, tiny_encoder, tmp_path / "index", batch_size=16, chunk_size=50, progress=False
    )
    assert sorted(p.name for p in index.iterdir()) == ["docid", "encoder.json", "index"]
    assert (index / "docid").read_text().splitlines() == [d.docid for d in docs]
    stored = faiss.read_index(str(index / "index"))
    assert isinstance(stored, faiss.IndexFlatIP)
    np.testing.assert_allclose(
        stored.reconstruct_n(0, stored.ntotal), tiny_encoder.encode_docs(docs), atol=1e-5
    )
    assert not (tmp_path / ".index.encoding").exists()


def test_shards_merge_into_the_single_build(tiny_encoder, small_corpus, tmp_path):
    from hybrid.dense import build_index, merge_shards, read_index
    from hybrid.dense.indexing import stored_vectors

    whole = build_index(small_corpus, tiny_encoder, tmp_path / "whole", progress=False)
    shards = [
        build_index(
            small_corpus, tiny_encoder, tmp_path / f"shard{i}", shard_id=i, shard_num=3, progress=False
        )
        for i in range(3)
    ]
    assert [len(read_index(s)[1]) for s in shards] == [40, 40, 40]
    merged = merge_shards(shards, tmp_path / "merged")
    (whole_index, whole_ids), (merged_index, merged_ids) = read_index(whole), read_index(merged)
    assert merged_ids == whole_ids
    np.testing.assert_allclose(stored_vectors(merged_index), stored_vectors(whole_index), atol=1e-5)
    with pytest.raises(ValueError, match="shard id 3 is not in 0..2"):
        build_index(small_corpus, tiny_encoder, tmp_path / "bad", shard_id=3, shard_num=3)
    assert (merged / "encoder.json").read_text() == (shards[0] / "encoder.json").read_text()
    from hybrid.errors import InputError

    with pytest.raises(InputError, match=r"shard1/docid:1: duplicate document id .*shard1/docid:1\)"):
        merge_shards([shards[1], shards[1]], tmp_path / "twice")
    (shards[2] / "encoder.json").write_text('{"encoder_class": "cls"}')
    with pytest.raises(ValueError, match="shards were encoded differently"):
        merge_shards(shards, tmp_path / "mixed")


def test_hnsw_and_pq_from_the_flat_slice_index(scifact_slice_dense_index, minilm, tmp_path):
    """HNSW finds nearly the exact top 10; PQ is smaller and approximate; both keep the layout."""
    from hybrid import read_topics
    from hybrid.dense import DenseSearcher, merge_shards
    from hybrid.dense.indexing import index_size

    queries = list(read_topics("scifact-test").values())[:40]
    vectors = minilm.encode_queries(queries)
    flat = DenseSearcher(scifact_slice_dense_index, minilm)
    _, exact = flat.search_vectors(vectors, 10)
    hnsw_path = merge_shards(
        [scifact_slice_dense_index], tmp_path / "hnsw", "hnsw", hnsw_m=32, ef_construction=100
    )
    pq_path = merge_shards([scifact_slice_dense_index], tmp_path / "pq", "pq")
    overlap = {}
    for name, path in (("hnsw", hnsw_path), ("pq", pq_path)):
        _, found = DenseSearcher(path, minilm, ef_search=200 if name == "hnsw" else None).search_vectors(
            vectors, 10
        )
        overlap[name] = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=True)])
        assert (path / "docid").read_text() == (scifact_slice_dense_index / "docid").read_text()
    assert overlap["hnsw"] >= 0.95
    assert overlap["pq"] >= 0.5
    assert index_size(pq_path) < index_size(scifact_slice_dense_index) / 3
    with pytest.raises(ValueError, match="does not keep exact vectors"):
        merge_shards([pq_path], tmp_path / "from-pq")
    with pytest.raises(ValueError, match="ef-search applies to HNSW"):
        DenseSearcher(scifact_slice_dense_index, minilm, ef_search=100)


def test_pq_needs_enough_vectors(tiny_encoder, small_corpus, tmp_path):
    from hybrid.dense import build_index

    with pytest.raises(ValueError, match="PQ index needs at least 256 vectors"):
        build_index(small_corpus, tiny_encoder, tmp_path / "pq", index_type="pq", progress=False)
    with pytest.raises(ValueError, match="unknown index type 'ivf'"):
        build_index(small_corpus, tiny_encoder, tmp_path / "ivf", index_type="ivf")


def test_existing_index_is_kept_without_overwrite(tiny_encoder, small_corpus, tmp_path):
    from hybrid.dense import build_index

    index = build_index(small_corpus, tiny_encoder, tmp_path / "index", progress=False)
    before = (index / "index").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_index(small_corpus, tiny_encoder, index, progress=False)
    assert (index / "index").stat().st_mtime_ns == before
    build_index(small_corpus, tiny_encoder, index, overwrite=True, progress=False)


def test_work_left_by_other_settings_is_not_mixed_in(tiny_encoder, tiny_bert, small_corpus, tmp_path):
    from hybrid.dense import build_index, load_encoder
    from hybrid.dense.indexing import _prepare_work, _save_chunk, work_folder

    index = tmp_path / "index"
    other = {"corpus": "elsewhere", **load_encoder(tiny_bert).settings()}
    _prepare_work(work_folder(index), other, overwrite=False)
    _save_chunk(work_folder(index), 0, ["elsewhere-1"], np.zeros((1, tiny_encoder.dim), np.float32))
    with pytest.raises(FileExistsError, match="interrupted run with other settings"):
        build_index(small_corpus, tiny_encoder, index, progress=False)
    build_index(small_corpus, tiny_encoder, index, overwrite=True, progress=False)


@pytest.mark.slow
def test_a_failed_first_attempt_leaves_nothing_that_blocks_the_next(tiny_encoder, small_corpus, tmp_path):
    """A first attempt that fails before a chunk is saved (bad flag, crash in the first batch) must not
    make the corrected command fail with 'an interrupted run with other settings'."""
    from hybrid.dense import build_index
    from hybrid.dense.indexing import work_folder

    index = tmp_path / "index"
    with pytest.raises(ValueError, match="batch size must be positive"):
        build_index(small_corpus, tiny_encoder, index, batch_size=0, progress=False)
    assert not work_folder(index).exists()
    with pytest.raises(ValueError, match="shard id"):
        build_index(small_corpus, tiny_encoder, index, shard_id=3, shard_num=2, progress=False)
    work_folder(index).mkdir()  # as left by a first attempt killed before its first chunk
    (work_folder(index) / "state.json").write_text('{"corpus": "another", "encoder": "another"}')
    build_index(small_corpus, tiny_encoder, index, chunk_size=1000, progress=False)
    assert (index / "docid").read_text().count("\n") == 120


@pytest.mark.slow
def test_duplicate_document_ids_are_refused_with_file_and_line(tiny_encoder, small_corpus, tmp_path):
    from hybrid.dense import build_index
    from hybrid.errors import InputError

    lines = small_corpus.read_text().splitlines(keepends=True)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(lines[:5] + ["\n"] + lines[2:3] + lines[5:10]))
    with pytest.raises(InputError, match=r"corpus.jsonl:7: duplicate document id .* \(first on line 3\)"):
        build_index(corpus, tiny_encoder, tmp_path / "index", progress=False)
    assert not (tmp_path / "index").exists()


@pytest.mark.slow
def test_index_records_its_encoder_and_search_refuses_another_convention(tiny_bert, small_corpus, tmp_path):
    import json

    from hybrid.dense import DenseSearcher, build_index, load_encoder

    mean = load_encoder(tiny_bert, encoder_class="mean")
    index = build_index(small_corpus, mean, tmp_path / "index", progress=False)
    recorded = json.loads((index / "encoder.json").read_text())
    assert (recorded["encoder_class"], recorded["l2_norm"], recorded["dim"]) == ("mean", False, mean.dim)
    DenseSearcher(index, mean).search("cell", 3)
    with pytest.raises(ValueError, match="encoder_class 'mean' at indexing, 'cls' now"):
        DenseSearcher(index, load_encoder(tiny_bert, encoder_class="cls"))
    with pytest.raises(ValueError, match="l2_norm False at indexing, True now"):
        DenseSearcher(index, load_encoder(tiny_bert, encoder_class="mean", l2_norm=True))


def test_killed_run_resumes_without_re_encoding_saved_chunks(scifact_slice, minilm, tmp_path):
    """Kill `hybrid index dense` (SIGKILL) once its first chunk is saved; the rerun encodes only the rest."""
    from hybrid.dense import read_index
    from hybrid.dense.indexing import stored_vectors, work_folder

    corpus = tmp_path / "corpus.jsonl"
    with open(scifact_slice) as src:
        corpus.write_text("".join(line for _, line in zip(range(90), src, strict=False)))
    index = tmp_path / "index"
    command = [sys.executable, "-m", "hybrid", "index", "dense", "--corpus", str(corpus), "--encoder", "minilm",
               "--index", str(index), "--chunk-size", "30", "--batch-size", "10"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunk = work_folder(index) / "chunk-000000.npy"
    deadline = time.monotonic() + 300
    while not chunk.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL, "the first run ended before it could be killed"
    saved = sorted(work_folder(index).glob("chunk-*.npy"))
    assert 1 <= len(saved) < 3 and not index.exists()
    # Mark the saved vectors (negate them): the resumed index must contain the marked rows, proving reuse.
    for path in saved:
        np.save(path, -np.load(path))

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    reused = 30 * len(saved)
    assert f"resuming: {len(saved)} chunk(s), {reused} passages already encoded" in second.stderr
    assert not work_folder(index).exists()
    faiss_index, docids = read_index(index)
    assert docids == [d.docid for d in iter_corpus(corpus)]
    reference = minilm.encode_docs(list(iter_corpus(corpus)))
    resumed = stored_vectors(faiss_index)
    np.testing.assert_allclose(resumed[:reused], -reference[:reused], atol=1e-5)
    np.testing.assert_allclose(resumed[reused:], reference[reused:], atol=1e-5)
