"""`hybrid eval` prints exactly what the real trec_eval 9.0.4 prints, on bundled qrels and built runs."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from hybrid import Qrels
from hybrid.cli import main

ALL_MEASURES = [
    "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec", "bpref", "recip_rank",
    "iprec_at_recall", "P.1,5,10,20", "recall.5,10,100,1000", "ndcg", "ndcg_cut.5,10,100",
    "map_cut.10,100", "success.1,5,10", "num_nonrel_judged_ret",
]  # fmt: skip
FLAG_SETS = [
    [],
    ["-q"],
    ["-c"],
    ["-c", "-q"],
    ["-l", "2", "-q"],
    ["-M", "10", "-q"],
    ["-c", "-M", "5", "-l", "2"],
]


def build_run(qrels: Qrels, path: Path, seed: int, extra_queries: int = 3) -> Path:
    """A run that stresses trec_eval's rules: judged and unjudged docs, coarse scores (many ties),
    judged queries left out, unjudged queries added, ranks that disagree with scores."""
    rng = random.Random(seed)
    judged_docs = sorted({d for docs in qrels.values() for d in docs})
    lines = []
    queries = list(qrels)
    rng.shuffle(queries)
    for qid in queries[: int(len(queries) * 0.85)] + [f"extra{i}" for i in range(extra_queries)]:
        own = list(qrels.get(qid, {}))
        pool = own + rng.sample(judged_docs, min(40, len(judged_docs)))
        docs = list(dict.fromkeys(d for d in pool if rng.random() < 0.8))
        rng.shuffle(docs)
        for rank, docid in enumerate(docs[: rng.randint(1, 60)], start=1):
            score = round(rng.uniform(0, 3), 1)  # coarse on purpose: ties broken by docid
            lines.append(f"{qid} Q0 {docid} {rank} {score} built\n")
    path.write_text("".join(lines))
    return path


def perturbed_qrels(qrels: Qrels, path: Path, seed: int) -> Path:
    """Judgments permuted in order and truncated (a fifth dropped), as TREC qrels."""
    rng = random.Random(seed)
    rows = [(q, d, r) for q, docs in qrels.items() for d, r in docs.items() if rng.random() > 0.2]
    rng.shuffle(rows)
    path.write_text("".join(f"{q} 0 {d} {r}\n" for q, d, r in rows))
    return path


def ours(capsys, args: list[str]) -> str:
    assert main(["eval", *args]) == 0
    return capsys.readouterr().out


def theirs(trec_eval: Path, args: list[str]) -> str:
    return subprocess.run([str(trec_eval), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> list[tuple[str, Path, Path]]:
    folder = tmp_path_factory.mktemp("parity")
    built = []
    for seed, name in enumerate(("scifact-test", "nfcorpus-test", "dl19-passage", "nfcorpus-dev")):
        qrels = Qrels.read(name)
        trec_qrels = folder / f"{name}.qrels"
        qrels.write(trec_qrels)  # trec_eval reads only TREC qrels; ours reads the bundled file too
        built.append((name, trec_qrels, build_run(qrels, folder / f"{name}.run", seed)))
        perturbed = perturbed_qrels(qrels, folder / f"{name}.perturbed.qrels", seed)
        built.append(
            (
                f"{name}-perturbed",
                perturbed,
                build_run(Qrels.read(perturbed), folder / f"{name}.p.run", seed + 10),
            )
        )
    return built


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: " ".join(f) or "none")
def test_every_measure_matches_trec_eval(cases, trec_eval, capsys, flags):
    measures = [arg for m in ALL_MEASURES for arg in ("-m", m)]
    for name, qrels, run in cases:
        args = [*flags, *measures, str(qrels), str(run)]
        assert ours(capsys, args) == theirs(trec_eval, args), name


def test_official_set_matches_trec_eval(cases, trec_eval, capsys):
    for _, qrels, run in cases:
        assert ours(capsys, [str(qrels), str(run)]) == theirs(trec_eval, [str(qrels), str(run)])


def test_bundled_beir_qrels_file_gives_the_same_numbers(cases, trec_eval, capsys):
    """The BEIR TSV (CRLF, header) and the symbolic name read as trec_eval reads the TREC copy."""
    name, trec_qrels, run = cases[0]
    args = ["-m", "ndcg_cut.10", "-m", "recall.100", "-m", "map"]
    expected = theirs(trec_eval, [*args, str(trec_qrels), str(run)])
    assert ours(capsys, [*args, name, str(run)]) == expected
    assert ours(capsys, [*args, "qrels/scifact/test.tsv", str(run)]) == expected


def test_aliases_equal_their_trec_eval_measures(cases, trec_eval, capsys):
    _, qrels, run = cases[2]
    import json

    alias = json.loads(
        ours(
            capsys,
            [
                "--format",
                "json",
                "-m",
                "nDCG@10",
                "-m",
                "R@100",
                "-m",
                "MAP",
                "-m",
                "MRR@10",
                str(qrels),
                str(run),
            ],
        )
    )
    full = theirs(trec_eval, ["-m", "ndcg_cut.10", "-m", "recall.100", "-m", "map", str(qrels), str(run)])
    cut = theirs(trec_eval, ["-M", "10", "-m", "recip_rank", str(qrels), str(run)])
    printed = {line.split()[0]: line.split()[2] for line in (full + cut).splitlines()}
    assert f"{alias['ndcg_cut_10']:.4f}" == printed["ndcg_cut_10"]
    assert f"{alias['recall_100']:.4f}" == printed["recall_100"]
    assert f"{alias['map']:.4f}" == printed["map"]
    assert f"{alias['MRR@10']:.4f}" == printed["recip_rank"]
