"""`hybrid eval` beyond trec_eval's own layout: JSON, several runs, MS MARCO MRR@10, significance."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from scipy import stats

from hybrid import Qrels, Run
from hybrid.cli import main


@pytest.fixture(scope="module")
def dev_runs(tmp_path_factory):
    """Two runs over MS MARCO dev-subset queries: a better one and a worse one, both without ties."""
    rng = random.Random(7)
    qrels = Qrels.read("msmarco-passage-dev-subset")
    folder = tmp_path_factory.mktemp("dev")
    paths = {}
    for name, hit_rate in (("good", 0.6), ("weak", 0.3)):
        lines = []
        for qid in list(qrels)[:1500]:
            docs = [f"x{qid}_{i}" for i in range(20)]
            if rng.random() < hit_rate:
                docs[rng.randrange(15)] = next(iter(qrels[qid]))
            lines += [f"{qid}\t{d}\t{rank}\n" for rank, d in enumerate(docs, start=1)]
        paths[name] = folder / f"{name}.tsv"
        paths[name].write_text("".join(lines))
    return qrels, paths


def run_cli(capsys, *args) -> str:
    assert main(["eval", *map(str, args)]) == 0
    return capsys.readouterr().out


def test_msmarco_mrr_matches_the_official_definition(dev_runs, capsys):
    qrels, paths = dev_runs
    expected = 0.0
    for qid, docs in Run.read(paths["good"]).to_dict().items():
        for rank, docid in enumerate(docs, start=1):
            if rank <= 10 and docid in qrels.get(qid, {}):
                expected += 1 / rank
                break
    expected /= len(qrels)  # divided by every judged query, answered or not
    out = run_cli(capsys, "--msmarco", "msmarco-passage-dev-subset", paths["good"])
    assert f"MRR @10: {expected}" in out and "QueriesRanked: 1500" in out


def test_msmarco_mrr_equals_trec_eval_with_c_and_M10(dev_runs, trec_eval, tmp_path, capsys):
    qrels, paths = dev_runs
    trec_run = Run.read(paths["good"]).write(tmp_path / "good.trec")
    trec_qrels = qrels.write(tmp_path / "dev.qrels")
    printed = subprocess.run([str(trec_eval), "-c", "-M", "10", "-m", "recip_rank", str(trec_qrels), str(trec_run)],
                             capture_output=True, text=True, check=True).stdout.split()[-1]  # fmt: skip
    value = json.loads(
        run_cli(capsys, "--msmarco", "--format", "json", "msmarco-passage-dev-subset", paths["good"])
    )
    assert f"{value['MRR@10']:.4f}" == printed and value["QueriesRanked"] == 1500


def test_json_for_one_and_several_runs(dev_runs, capsys):
    """One run: the measures (plus per_query with -q); several: {path: that object}, per_query kept."""
    _, paths = dev_runs
    measures = ["-m", "MRR@10", "-m", "recall.10", "-m", "num_q"]
    one = json.loads(
        run_cli(capsys, "--format", "json", "-q", *measures, "msmarco-passage-dev-subset", paths["good"])
    )
    assert set(one) == {"MRR@10", "recall_10", "num_q", "per_query"} and len(one["per_query"]) == 1500
    several = json.loads(
        run_cli(
            capsys,
            "--format",
            "json",
            "-q",
            *measures,
            "msmarco-passage-dev-subset",
            paths["good"],
            paths["weak"],
        )
    )
    assert list(several) == [str(paths["good"]), str(paths["weak"])]
    assert several[str(paths["good"])] == one
    assert several[str(paths["good"])]["MRR@10"] > several[str(paths["weak"])]["MRR@10"]


def test_several_runs_print_one_table(dev_runs, capsys):
    _, paths = dev_runs
    out = run_cli(
        capsys,
        "-m",
        "num_q",
        "-m",
        "map",
        "-m",
        "P.10",
        "msmarco-passage-dev-subset",
        paths["good"],
        paths["weak"],
    )
    header, *rows = out.strip().splitlines()
    assert header.split() == ["run", "num_q", "map", "P_10"] and len(rows) == 2
    assert [row.split()[1] for row in rows] == ["1500", "1500"]


def test_per_query_values_with_several_runs_and_a_baseline(dev_runs, capsys):
    """-q keeps the per-query values whatever else is asked: one table per measure, a column per run."""
    _, paths = dev_runs
    singles = {}
    for name in ("good", "weak"):
        text = run_cli(capsys, "-q", "-m", "map", "msmarco-passage-dev-subset", paths[name])
        singles[name] = {
            line.split()[1]: line.split()[2] for line in text.splitlines() if line.split()[1] != "all"
        }
    for extra in ([], ["--baseline", paths["weak"]]):
        out = run_cli(
            capsys, "-q", "-m", "map", "msmarco-passage-dev-subset", paths["good"], paths["weak"], *extra
        )
        per_query, summary = out.split("\n\n")
        header, *rows = per_query.splitlines()
        assert header.split() == [
            "map",
            *(str(paths[n]) for n in (["weak", "good"] if extra else ["good", "weak"])),
        ]
        columns = dict(
            zip(header.split()[1:], zip(*(row.split()[1:] for row in rows), strict=True), strict=True)
        )
        qids = [row.split()[0] for row in rows]
        assert qids == sorted(qids, key=str.encode) and len(qids) == 1500
        for name in ("good", "weak"):
            assert dict(zip(qids, columns[str(paths[name])], strict=True)) == singles[name]
        assert summary.splitlines()[0].split() == ["run", "map"]
        report = json.loads(
            run_cli(
                capsys,
                "--format",
                "json",
                "-q",
                "-m",
                "map",
                "msmarco-passage-dev-subset",
                paths["good"],
                *extra,
            )
        )
        good = report[str(paths["good"])] if extra else report
        assert len(good["per_query"]) == 1500 and ("p_t" in good) == bool(extra)


def test_closed_pipe_ends_quietly(dev_runs):
    """`hybrid eval ... | head`: a reader gone before the output is written gives no BrokenPipeError
    traceback, just the shell's SIGPIPE exit code."""
    _, paths = dev_runs
    command = [sys.executable, "-m", "hybrid", "eval", "-q", "-m", "map", "msmarco-passage-dev-subset"]
    for runs in ([paths["good"]], [paths["good"], paths["weak"]]):
        process = subprocess.Popen(
            [*command, *map(str, runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        process.stdout.close()  # long before the runs are read and evaluated
        assert process.wait() == 141 and process.stderr.read() == b""


def test_baseline_p_values(dev_runs, trec_eval, tmp_path, capsys):
    qrels, paths = dev_runs
    report = json.loads(
        run_cli(
            capsys,
            "--format",
            "json",
            "-c",
            "-m",
            "map",
            "msmarco-passage-dev-subset",
            paths["good"],
            "--baseline",
            paths["weak"],
        )
    )
    assert list(report) == [str(paths["weak"]), str(paths["good"])]  # the baseline first
    good = report[str(paths["good"])]
    assert "p_t" not in report[str(paths["weak"])] and set(good["p_t"]) == set(good["p_rand"]) == {"map"}
    # t-test p-value from trec_eval's own per-query numbers (missing queries count 0 under -c).
    per_query = {}
    trec_qrels = qrels.write(tmp_path / "q")
    for name in ("good", "weak"):
        out = subprocess.run([str(trec_eval), "-q", "-m", "map", str(trec_qrels), str(Run.read(paths[name]).write(tmp_path / name))],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        values = {
            line.split()[1]: float(line.split()[2]) for line in out.splitlines() if line.split()[1] != "all"
        }
        per_query[name] = [values.get(q, 0.0) for q in sorted(qrels, key=str.encode)]
    expected = stats.ttest_rel(per_query["good"], per_query["weak"]).pvalue
    assert good["p_t"]["map"] == pytest.approx(expected, rel=1e-3)
    assert good["p_rand"]["map"] < 0.001
    same = json.loads(
        run_cli(
            capsys,
            "--format",
            "json",
            "-m",
            "map",
            "msmarco-passage-dev-subset",
            paths["good"],
            "--baseline",
            paths["good"],
        )
    )
    assert set(same) == {"map"}  # one run: the single-run object, nothing to test against


def test_identical_runs_are_not_significant(dev_runs, tmp_path, capsys):
    _, paths = dev_runs
    copy = tmp_path / "copy.tsv"
    copy.write_bytes(paths["weak"].read_bytes())
    report = json.loads(
        run_cli(
            capsys,
            "--format",
            "json",
            "-m",
            "map",
            "msmarco-passage-dev-subset",
            copy,
            "--baseline",
            paths["weak"],
        )
    )
    assert report[str(copy)]["p_t"]["map"] == 1.0 and report[str(copy)]["p_rand"]["map"] == 1.0


def test_eval_loads_no_torch_faiss_or_jvm(dev_runs):
    _, paths = dev_runs
    code = (
        "import sys; from hybrid.cli import main; "
        f"main(['eval', '-m', 'map', 'msmarco-passage-dev-subset', {str(paths['good'])!r}]); "
        "main(['eval', '-m', 'map', 'msmarco-passage-dev-subset', '--baseline', "
        f"{str(paths['weak'])!r}, {str(paths['good'])!r}]); "
        "heavy = [m for m in ('torch', 'faiss', 'jnius', 'pyserini', 'transformers') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    help_out = subprocess.run(
        [sys.executable, "-m", "hybrid", "eval", "--help"], capture_output=True, text=True, check=True
    )
    assert "-M" in help_out.stdout


def test_bad_measure_and_missing_run_exit_2(dev_runs, capsys):
    _, paths = dev_runs
    assert main(["eval", "-m", "ndcg_cut.x", "dl19-passage", str(paths["good"])]) == 2
    assert "bad parameters" in capsys.readouterr().err
    assert main(["eval", "-m", "map", "dl19-passage", "missing.trec"]) == 2
    assert "missing.trec" in capsys.readouterr().err
