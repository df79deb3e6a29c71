"""Every code block of README.md runs: the command lines with the real CLI on a small SciFact slice,
the Python blocks executed after them in the same folder. A few lines are skipped by design; the list
is asserted, so it cannot grow stale or hide a new line."""

from __future__ import annotations

import gzip
import json
import random
import re
import shlex
from pathlib import Path

import pytest

from hybrid import Qrels, read_topics
from hybrid.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)

# The README command lines not run, each by the words it starts with, and why.
SKIPPED = {
    "make demo": "encodes all 5,183 SciFact abstracts (minutes); its steps are the hybrid lines run here",
    "make test": "is the test suite itself",
    "make test-fast": "is the fast part of the test suite itself",
    "hybrid expand": "downloads doc2query-T5 from the hub; tests/sparse/test_expansion.py runs expand on a tiny T5",
    "hybrid index sparse --corpus scifact --expansions": "indexes the output of the skipped expand line",
    "hybrid train lists": "mines from scifact-train-fit runs the README does not write; tests/distill/test_cli.py",
    "hybrid train teacher": "trains on the full SciFact; tests/distill/test_cli.py runs the distillation commands",
    "hybrid train teacher-scores": "needs the trained teacher; tests/distill/test_cli.py runs it",
    "hybrid train student --init minilm --teacher": "needs the trained teacher; tests/distill/test_cli.py",
    "hybrid train student --init minilm --train": "trains on the full SciFact; tests/distill/test_cli.py",
    "hybrid index dense --corpus scifact --encoder student": "needs the trained student; tests/distill/test_cli.py",
    "hybrid rerank": "placeholder paths (DIR, RUN, T, C); tests/distill/test_rerank.py runs it",
    "hybrid serve": "starts a server that runs until stopped; tests/web/test_serve.py serves the same app",
}
# Verbs run for real here; a README line with another verb fails until it is added (run or skipped).
RUN = ("index sparse", "index dense", "search sparse", "search dense", "search hybrid", "fuse", "tune", "eval",
       "convert", "compare", "train pseudo-queries")  # fmt: skip
TOPICS = {"scifact-test": 20, "scifact-train": 40}  # queries kept of each topic set
EXTRA_DOCS = 40  # unjudged abstracts added to the judged ones


def readme_blocks() -> list[tuple[str, str]]:
    return [(language, body) for language, body in BLOCK.findall((ROOT / "README.md").read_text())]


def command_lines(body: str) -> list[list[str]]:
    """A shell block's commands as argument lists (continuations joined, comments dropped)."""
    return [
        shlex.split(line, comments=True) for line in body.replace("\\\n", " ").splitlines() if line.strip()
    ]


def skip_reason(argv: list[str]) -> str | None:
    return next(
        (reason for prefix, reason in SKIPPED.items() if argv[: len(prefix.split())] == prefix.split()), None
    )


@pytest.fixture(scope="module")
def small_scifact(tmp_path_factory) -> dict[str, Path]:
    """The first queries of scifact-test and scifact-train, and a corpus of their judged abstracts plus
    EXTRA_DOCS others; an MS MARCO run (dev-subset and DL19 queries) as a user's run.tsv."""
    folder = tmp_path_factory.mktemp("readme-inputs")
    files, judged = {}, set()
    for name, count in TOPICS.items():
        topics = dict(list(read_topics(name).items())[:count])
        qrels = Qrels.read(name)
        judged |= {d for q in topics for d in qrels.get(q, {})}
        files[name] = folder / f"{name}.tsv"
        files[name].write_text("".join(f"{q}\t{text}\n" for q, text in topics.items()))
    files["scifact"] = folder / "corpus.jsonl"
    extra = 0
    with gzip.open(ROOT / "data/scifact/corpus.jsonl.gz", "rt") as source, open(files["scifact"], "w") as out:
        for line in source:
            docid = json.loads(line)["_id"]
            if docid in judged or extra < EXTRA_DOCS:
                extra += docid not in judged
                out.write(line)
    rng = random.Random(3)
    lines = []
    for name, count in (("msmarco-passage-dev-subset", 50), ("dl19-passage", 10)):
        qrels = Qrels.read(name)
        for qid in list(qrels)[:count]:
            docs = [str(7_000_000 + rng.randrange(1_000_000)) for _ in range(20)]
            docs[rng.randrange(20)] = next(iter(qrels[qid]))
            lines += [f"{qid}\t{d}\t{rank}\n" for rank, d in enumerate(dict.fromkeys(docs), start=1)]
    files["run.tsv"] = folder / "run.tsv"
    files["run.tsv"].write_text("".join(lines))
    return files


def test_every_readme_block_runs(small_scifact, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.tsv").write_bytes(small_scifact["run.tsv"].read_bytes())
    blocks = readme_blocks()
    assert {language for language, _ in blocks} <= {"bash", "python", ""}
    ran, skipped = [], []
    for language, body in blocks:
        if language == "bash":
            for argv in command_lines(body):
                if skip_reason(argv):
                    skipped.append(argv)
                    continue
                assert argv[0] == "hybrid" and any(" ".join(argv[1:]).startswith(verb) for verb in RUN), (
                    f"README line {shlex.join(argv)!r} is neither run nor skipped by this test"
                )
                args = [_small(value, argv[i], small_scifact) for i, value in enumerate(argv[1:])]
                assert main(args) == 0, (shlex.join(argv), capsys.readouterr().err)
                ran.append(argv)
        elif language == "python":
            namespace: dict = {}
            exec(compile(body, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
            assert type(namespace["fused"]).__name__ == "Run" and namespace["fused"].num_queries > 0
    used = [p for argv in skipped for p in SKIPPED if argv[: len(p.split())] == p.split()]
    assert sorted(used) == sorted(SKIPPED)  # each skip matches exactly one line: none stale, none hiding two
    assert len(ran) >= 12
    assert re.search(r"rank\s+docid\s+fused\s+sparse\s+dense", capsys.readouterr().out)  # the --query table
    assert (tmp_path / "runs" / "x.sparse.trec").is_file() and (tmp_path / "runs" / "alpha.png").is_file()


def _small(value: str, previous: str, files: dict[str, Path]) -> str:
    """Bundled corpus and topic names swapped for the small slices; everything else as written."""
    if previous == "--corpus" and value == "scifact":
        return str(files["scifact"])
    if previous == "--topics" and value in TOPICS:
        return str(files[value])
    return value
