"""The dense commands: thin over the library, errors reported as `hybrid <cmd>: error: ...` with exit 2."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid import Run
from hybrid.cli import main


def test_index_merge_and_search_commands(tiny_bert, small_corpus, small_topics, tmp_path, capsys):
    from hybrid.dense import load_encoder, read_index, search

    encoder = ["--encoder", str(tiny_bert), "--encoder-class", "tct_colbert", "--max-length", "128"]
    for shard in (0, 1):
        argv = ["index", "dense", "--corpus", str(small_corpus), "--index", str(tmp_path / f"s{shard}")]
        assert (
            main([*argv, "--shard-id", str(shard), "--shard-num", "2", "--chunk-size", "25", *encoder]) == 0
        )
    merge = ["index", "dense-merge", "--shards", str(tmp_path / "s0"), str(tmp_path / "s1")]
    assert main([*merge, "--index", str(tmp_path / "index")]) == 0
    assert len(read_index(tmp_path / "index")[1]) == 120
    output = tmp_path / "run.trec"
    argv = [
        "search",
        "dense",
        "--index",
        str(tmp_path / "index"),
        "--topics",
        str(small_topics),
        "--hits",
        "20",
    ]
    assert main([*argv, "--output", str(output), *encoder]) == 0
    assert f"wrote {output}" in capsys.readouterr().out

    run = Run.read(output)
    expected = search(
        tmp_path / "index", small_topics, load_encoder(tiny_bert, "tct_colbert", max_length=128), hits=20
    )
    assert run.name == "dense" and run.to_dict().keys() == expected.to_dict().keys()
    for (q1, d1, s1), (q2, d2, s2) in zip(run, expected, strict=True):
        assert q1 == q2 and d1 == d2
        np.testing.assert_allclose(s1, s2, atol=1e-6)
    assert main([*argv, "--output", str(output), *encoder]) == 2  # no --overwrite
    assert "exists; pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--encoder", "./no/such/model"], "unknown encoder './no/such/model'"),
        (["--encoder", "{bert}", "--encoder-class", "tct_colbert"], None),
        (
            ["--encoder", "{no_markers}", "--encoder-class", "tct_colbert"],
            "--encoder-class tct_colbert does not fit",
        ),
        (["--encoder", "{bert}", "--fp16"], "--fp16 needs a CUDA device"),
    ],
)
def test_index_errors(extra, message, tiny_bert, tiny_bert_without_markers, small_corpus, tmp_path, capsys):
    extra = [a.format(bert=tiny_bert, no_markers=tiny_bert_without_markers) for a in extra]
    code = main(["index", "dense", "--corpus", str(small_corpus), "--index", str(tmp_path / "i"), *extra])
    if message is None:
        assert code == 0
    else:
        assert code == 2
        assert f"hybrid index: error: {message}" in capsys.readouterr().err


def test_search_errors(scifact_slice_dense_index, tiny_bert, small_topics, tmp_path, capsys):
    argv = ["search", "dense", "--index", str(scifact_slice_dense_index), "--topics", str(small_topics)]
    assert main([*argv, "--output", str(tmp_path / "r"), "--encoder", str(tiny_bert)]) == 2
    assert "dimension mismatch" in capsys.readouterr().err
    assert main([*argv, "--output", str(tmp_path / "r")]) == 2
    assert "exactly one of --encoder and --encoded-queries" in capsys.readouterr().err
