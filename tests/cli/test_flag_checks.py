"""Bad flag values stop at argument parsing: exit 2 naming the flag, before a model, index or JVM loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hybrid.cli import main
from hybrid.tuning import MAX_GRID_POINTS, parse_alphas

HYBRID = ["search", "hybrid", "--sparse-index", "none", "--dense-index", "none", "--encoder", "minilm"]
DENSE_SEARCH = ["search", "dense", "--index", "none", "--topics", "scifact-test", "--encoder", "minilm"]
DENSE_INDEX = ["index", "dense", "--corpus", "scifact", "--encoder", "minilm", "--index", "{tmp}/idx"]
TUNE = ["tune", "--qrels", "scifact-train", "--dense", "d", "--sparse", "s"]

# (arguments, what stderr must say)
CASES = [
    ([*DENSE_SEARCH, "--output", "o.trec", "--hits", "0"], "--hits: must be a positive integer, not '0'"),
    ([*DENSE_SEARCH, "--output", "o.trec", "--hits", "-5"], "--hits: must be a positive integer, not '-5'"),
    ([*DENSE_SEARCH, "--output", "o.trec", "--batch-size", "x"], "--batch-size: must be a positive integer"),
    ([*DENSE_INDEX, "--batch-size", "0"], "--batch-size: must be a positive integer, not '0'"),
    ([*DENSE_INDEX, "--shard-id", "-1"], "--shard-id: must be an integer >= 0"),
    ([*TUNE, "--alphas", "0:1:1e-9"], f"points; at most {MAX_GRID_POINTS:,} are allowed"),
    ([*TUNE, "--alphas", "1:0:0.1"], "bad alphas"),
    ([*TUNE, "--alphas", "0:inf:1"], "bad alphas"),
    ([*HYBRID, "--query", "vitamin d", "--k", "0"], "--k: must be a positive integer, not '0'"),
    ([*HYBRID, "--query", "vitamin d", "--alpha", "nan"], "--alpha: must be a finite number, not 'nan'"),
    ([*HYBRID, "--query", "vitamin d", "--output", "{tmp}/x.trec"], "--output is for --topics"),
    (
        ["fuse", "--dense", "d", "--sparse", "s", "--output", "o", "--depth", "0"],
        "--depth: must be a positive",
    ),
    (
        ["fuse", "--method", "rrf", "--runs", "a", "--output", "o", "--rrf-k", "-1"],
        "--rrf-k: must be a number >= 0",
    ),
    (["search", "sparse", "--index", "i", "--topics", "t", "--output", "o", "--threads", "0"], "--threads"),
    (["eval", "-M", "0", "scifact-test", "run.trec"], "-M: must be a positive integer, not '0'"),
]


def test_bad_flags_stop_before_anything_loads(tmp_path):
    """Every case in one fresh interpreter: exit 2, the message, no torch/faiss/JVM imported, nothing written."""
    cases = [([a.format(tmp=tmp_path) for a in args], message) for args, message in CASES]
    code = (
        "import contextlib, io, json, sys\n"
        "from hybrid.cli import main\n"
        "out = []\n"
        f"for args, _ in {cases!r}:\n"
        "    err = io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stderr(err):\n"
        "            code = main(args)\n"
        "    except SystemExit as stop:\n"
        "        code = stop.code\n"
        "    out.append([code, err.getvalue()])\n"
        "heavy = [m for m in ('torch', 'faiss', 'jnius', 'pyserini', 'transformers') if m in sys.modules]\n"
        "print(json.dumps({'results': out, 'heavy': heavy}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    report = json.loads(done.stdout)
    for (args, message), (exit_code, err) in zip(cases, report["results"], strict=True):
        assert exit_code == 2 and message in err and "Traceback" not in err, (args, err)
    assert report["heavy"] == []
    assert list(tmp_path.iterdir()) == []  # no index folder, no resume state, no run


def test_alpha_grid_is_capped_in_the_library_too():
    assert len(parse_alphas("0:1:0.001")) == MAX_GRID_POINTS
    with pytest.raises(ValueError, match="1,002 points"):
        parse_alphas(",".join(str(i) for i in range(MAX_GRID_POINTS + 1)))


def test_positive_values_still_pass(tmp_path, capsys):
    """The checks refuse only what is wrong: valid values reach the command (here: a missing run file)."""
    assert main(["eval", "-M", "10", "-l", "0", "scifact-test", str(tmp_path / "missing.trec")]) == 2
    assert "missing.trec" in capsys.readouterr().err
