"""Benchmark: `hybrid eval` end to end vs the plain approach (str.split into dicts + pytrec_eval).

Both read the synthetic 6,980 x 1,000 run in topic order (bench/synthetic.py) and the MS MARCO dev-subset
qrels, and compute MAP, nDCG@10, recall@1000 and MRR@10. Each runs in its own process, timed
from start to exit; peak memory is the child's maximum resident set size. The values of the two
must agree to 4 decimals, or the benchmark exits non-zero. Usage: python -m bench.bench_eval [folder-for-synthetic-runs]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.synthetic import make_run_pair

PLAIN = r"""
import json, sys, pytrec_eval
qrels_path, run_path = sys.argv[1], sys.argv[2]
qrels, run = {}, {}
for line in open(qrels_path):
    q, _, d, r = line.split()
    qrels.setdefault(q, {})[d] = int(r)
for line in open(run_path):
    q, _, d, _, s, _ = line.split()
    run.setdefault(q, {})[d] = float(s)
main = pytrec_eval.RelevanceEvaluator(qrels, {"map", "ndcg_cut.10", "recall.1000"}).evaluate(run)
top10 = {q: dict(sorted(docs.items(), key=lambda x: (-x[1], x[0]))[:10]) for q, docs in run.items()}
rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
mean = lambda values: sum(values) / len(values)
print(json.dumps({
    "map": mean([v["map"] for v in main.values()]),
    "ndcg_cut_10": mean([v["ndcg_cut_10"] for v in main.values()]),
    "recall_1000": mean([v["recall_1000"] for v in main.values()]),
    "MRR@10": mean([v["recip_rank"] for v in rr.values()]),
}))
"""


def main() -> None:
    _, sparse, qrels = make_run_pair(sys.argv[1] if len(sys.argv) > 1 else "bench/data")
    # Each measurement in a fresh grandchild so RUSAGE_CHILDREN reports that process alone.
    wrapper = "import subprocess,sys,resource; subprocess.run(sys.argv[1:], check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)"
    results = {}
    for name, command in (
        ("hybrid eval", [sys.executable, "-m", "hybrid", "eval", "--format", "json", "-m", "map", "-m", "ndcg_cut.10",
                         "-m", "recall.1000", "-m", "MRR@10", str(qrels), str(sparse)]),
        ("str.split + pytrec_eval", [sys.executable, "-c", PLAIN, str(qrels), str(sparse)]),
    ):  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True
        )
        seconds = time.perf_counter() - start
        peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
        results[name] = {
            "seconds": round(seconds, 2),
            "peak_mb": round(peak_mb),
            "values": json.loads(done.stdout),
        }
        print(f"{name:<26} {seconds:7.2f} s  {peak_mb:7.0f} MB  {results[name]['values']}", flush=True)
    ours, plain = results["hybrid eval"], results["str.split + pytrec_eval"]
    print(f"speed-up {plain['seconds'] / ours['seconds']:.1f}x")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    differ = {
        m: (v, ours["values"][m])
        for m, v in plain["values"].items()
        if f"{v:.4f}" != f"{ours['values'][m]:.4f}"
    }
    if differ:
        sys.exit(f"PARITY FAILED: values differ at 4 decimals (pytrec_eval, hybrid): {differ}")
    print("values agree to 4 decimals")


if __name__ == "__main__":
    main()
