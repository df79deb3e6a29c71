"""Benchmark: `hybrid fuse` end to end vs `python -m pyserini.fusion --method interpolation`, and a
101-point `hybrid tune` sweep vs one `hybrid fuse`.

All commands read the deterministic synthetic 6,980 x 1,000 run pair, in topic order as Anserini and
Pyserini write runs (bench/synthetic.py), from the page cache. Each runs in its own process, timed from start to exit, with the child's own peak resident
memory (wait4); the hybrid commands report the median of 3 runs, pyserini.fusion (~40 s) one.
`hybrid fuse --convex --missing zero --weight-on-dense` computes pyserini.fusion's
alpha * dense + (1 - alpha) * sparse with missing = 0, so the two outputs are compared line by line
(tie order aside: pyserini breaks ties by docid ascending, trec_eval and hybrid descending); any
other difference makes the benchmark exit non-zero.
In-process times of the fusion and of the sweep alone (runs already in memory) are reported too.
Usage: python -m bench.bench_fusion [folder-for-synthetic-runs]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.synthetic import make_run_pair

ALPHA = 0.5
REPEATS = 3  # hybrid commands: the median of 3 runs (pyserini.fusion, at ~40 s a run, runs once)
# pyserini's package needs the JVM up before import; hybrid.sparse.java starts it the project's way.
PYSERINI_FUSION = (
    "import runpy, sys; from hybrid.sparse.java import start_jvm; start_jvm(); "
    "sys.argv = ['pyserini.fusion', *sys.argv[1:]]; runpy.run_module('pyserini.fusion', run_name='__main__')"
)


def measure(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident MB of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed:\n{child.stderr.read().decode()}")
    child.stderr.close()
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median_of(command: list[str], repeats: int, output: Path | None = None) -> tuple[float, float, float]:
    """The run with the median wall time of ``repeats`` runs (each writing a fresh ``output``)."""
    runs = []
    for _ in range(repeats):
        if output is not None:
            output.unlink(missing_ok=True)
        runs.append(measure(command))
    return sorted(runs)[len(runs) // 2]


def ranked_lines(path: Path) -> dict[tuple[str, str], str]:
    """(qid, docid) -> score to 6 decimals (pyserini writes full precision), regardless of tie order."""
    lines = {}
    with open(path) as handle:
        for line in handle:
            qid, _, docid, _, score, _ = line.split()
            lines[qid, docid] = f"{float(score):.6f}"
    return lines


def in_process(dense: Path, sparse: Path, qrels: Path) -> dict[str, float]:
    from hybrid import Run
    from hybrid.fusion import fuse
    from hybrid.tuning import tune

    dense_run, sparse_run = Run.read(dense), Run.read(sparse)
    start = time.perf_counter()
    fuse(dense_run, sparse_run, alpha=0.1)
    fused = time.perf_counter() - start
    start = time.perf_counter()
    result = tune(qrels, dense_run, sparse_run)
    return {"fuse": fused, "tune": time.perf_counter() - start, "points": len(result.sweep)}


def main() -> None:
    dense, sparse, qrels = make_run_pair(sys.argv[1] if len(sys.argv) > 1 else "bench/data")
    python = sys.executable
    for path in (dense, sparse):  # every command then reads from the page cache, as the later ones would
        path.read_bytes()
    with tempfile.TemporaryDirectory(dir=dense.parent) as folder:
        ours, theirs = Path(folder) / "hybrid.trec", Path(folder) / "pyserini.trec"
        fuse = [python, "-m", "hybrid", "fuse", "--dense", str(dense), "--sparse", str(sparse), "--output", str(ours),
                "--alpha", str(ALPHA), "--convex", "--missing", "zero", "--weight-on-dense"]  # fmt: skip
        pyserini = [python, "-c", PYSERINI_FUSION, "--runs", str(dense), str(sparse), "--output", str(theirs),
                    "--method", "interpolation", "--alpha", str(ALPHA), "--depth", "1000", "--k", "1000"]  # fmt: skip
        paper_fuse = [python, "-m", "hybrid", "fuse", "--dense", str(dense), "--sparse", str(sparse),
                      "--output", str(Path(folder) / "paper.trec"), "--alpha", "0.1"]  # fmt: skip
        tune = [python, "-m", "hybrid", "tune", "--qrels", str(qrels), "--dense", str(dense), "--sparse", str(sparse),
                "--alphas", "0:1:0.01"]  # fmt: skip
        rows = {
            "hybrid fuse (pyserini.fusion's formula)": median_of(fuse, REPEATS, ours),
            "python -m pyserini.fusion --method interpolation": measure(pyserini),
            "hybrid fuse (paper rule, alpha 0.1)": median_of(
                paper_fuse, REPEATS, Path(folder) / "paper.trec"
            ),
            "hybrid tune, 101 alphas (0:1:0.01)": median_of(tune, REPEATS),
        }
        a, b = ranked_lines(ours), ranked_lines(theirs)
        same = sum(1 for key, score in a.items() if b.get(key) == score)
    memory = in_process(dense, sparse, qrels)

    print("| command | wall s | CPU s | peak MB |\n|:--|--:|--:|--:|")
    for name, (seconds, cpu, peak) in rows.items():
        print(f"| `{name}` | {seconds:.1f} | {cpu:.1f} | {peak:.0f} |")
    ours_row, theirs_row = rows["hybrid fuse (pyserini.fusion's formula)"], rows[
        "python -m pyserini.fusion --method interpolation"]  # fmt: skip
    tune_s, paper_s = (
        rows["hybrid tune, 101 alphas (0:1:0.01)"][0],
        rows["hybrid fuse (paper rule, alpha 0.1)"][0],
    )
    print(f"\nhybrid fuse vs pyserini.fusion: {theirs_row[0] / ours_row[0]:.1f}x faster (wall), "
          f"{theirs_row[1] / ours_row[1]:.1f}x less CPU")  # fmt: skip
    print(f"identical (qid, docid, score) lines: {same:,} of {len(b):,} pyserini lines ({len(a):,} ours)")
    print(f"101-point tune / one paper-rule fuse (end to end): {tune_s / paper_s:.2f}")
    print(f"in process, runs in memory: fuse {memory['fuse']:.2f} s; {memory['points']}-point default sweep "
          f"{memory['tune']:.2f} s")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    if same != len(b) or len(a) != len(b):
        sys.exit(
            f"PARITY FAILED: {len(b) - same:,} pyserini lines differ from ours ({len(a):,} ours, {len(b):,} theirs)"
        )


if __name__ == "__main__":
    main()
