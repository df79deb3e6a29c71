"""`search hybrid --ray` (BM25 topics split across Ray searchers, dense shards in Ray actors) writes the runs
of the command without Ray, byte for byte."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_search_hybrid_on_ray_writes_the_runs_of_one_process(
    corpus_slice, ray_sharded_index, ray_options, tmp_path
):
    from hybrid.cli import main
    from hybrid.sparse import build_index

    sparse_index = build_index(corpus_slice, tmp_path / "bm25")
    argv = ["search", "hybrid", "--sparse-index", str(sparse_index), "--dense-index", str(ray_sharded_index)]
    argv += ["--encoder", "minilm", "--topics", "scifact-test", "--hits", "100"]
    assert main([*argv, "--output", str(tmp_path / "one.trec")]) == 0
    assert main([*argv, "--output", str(tmp_path / "ray.trec"), "--ray", "--workers", "2"]) == 0
    for name in ("{}.trec", "{}.sparse.trec", "{}.dense.trec"):
        one, ray = ((tmp_path / name.format(run)).read_bytes() for run in ("one", "ray"))
        assert len(one.splitlines()) > 3000, name
        assert ray == one, name
