"""Benchmark: `hybrid compare` at MS MARCO dev scale, and how fast Chromium opens the report.

Inputs: the synthetic 6,980 x 1,000 dense and sparse runs of bench/synthetic.py plus their fusion
(three runs, 21M lines), the bundled MS MARCO dev-subset qrels and topics, and a synthetic
`collection.tsv` with a line for each of the 8.8M passage ids (about 330 characters each, as MS
MARCO's), which compare streams, keeping only the shown ids. Reports the command's wall time and
peak memory (its own process), the report's size, and in headless Chromium the time from navigation
to the first query drawn (median of 3 loads), to filter to losses, and to step through 20 queries by
keyboard. Parity check (fails loudly): the page's wins/ties/losses for each measure equal the counts
computed from hybrid.evaluate's per-query values.
Usage: python -m bench.bench_compare [folder-for-synthetic-data]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from bench.bench_fusion import measure
from bench.synthetic import NUM_PASSAGES, QRELS, make_run_pair

TOPICS = "msmarco-passage-dev-subset"
K = 10
WORDS = ("the", "of", "and", "in", "to", "is", "was", "for", "on", "with", "as", "by", "that", "from", "it", "were",
         "which", "this", "be", "or", "has", "had", "first", "one", "their", "new", "after", "who", "they", "two",
         "been", "other", "when", "time", "during", "there", "into", "more", "may", "years", "over", "only")  # fmt: skip


def make_collection(path: Path) -> Path:
    """One line per passage id, ``id<TAB>text``; 1,000 distinct texts of about 330 characters."""
    if path.exists():
        return path
    texts = [" ".join(WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(64))[:330] for i in range(1000)]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for start in range(0, NUM_PASSAGES, 100_000):
            stop = min(start + 100_000, NUM_PASSAGES)
            out.write("".join(f"{i}\tpassage {i}: {texts[i % 1000]}\n" for i in range(start, stop)))
    tmp.rename(path)
    return path


def make_fused(dense: Path, sparse: Path) -> Path:
    import hybrid

    path = dense.with_name("synthetic.hybrid.trec")
    if not path.exists():
        hybrid.fuse(dense, sparse, alpha=0.1).write(path)
    return path


def expected_counts(runs: list[Path], measure_name: str) -> tuple[int, int, int]:
    """Wins, ties, losses of the second run against the first, from hybrid.evaluate alone."""
    import hybrid

    values = [
        {
            q: v[next(iter(v))]
            for q, v in hybrid.evaluate(QRELS, hybrid.Run.read(r), [measure_name], per_query=True)[
                "per_query"
            ].items()
        }
        for r in runs[:2]
    ]
    diffs = [values[1].get(q, 0.0) - values[0].get(q, 0.0) for q in set(values[0]) | set(values[1])]
    return sum(d > 0 for d in diffs), sum(d == 0 for d in diffs), sum(d < 0 for d in diffs)


def open_in_browser(report: Path, checks: dict[str, tuple[int, int, int]]) -> dict[str, float]:
    from hybrid.web.browser import chromium

    timings: dict[str, list[float]] = {"open": [], "filter": [], "keys": []}
    with chromium() as browser:
        for attempt in range(3):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            page.goto(report.as_uri(), timeout=120_000)
            page.wait_for_selector("#current-qid", timeout=120_000)
            timings["open"].append(time.perf_counter() - start)
            if attempt == 0:
                for label, expected in checks.items():
                    page.select_option("#measure", label=label)
                    shown = tuple(int(page.inner_text(f"#{n}")) for n in ("wins", "ties", "losses"))
                    if shown != expected:
                        raise SystemExit(
                            f"PARITY FAILED for {label}: page shows {shown}, hybrid.evaluate gives {expected}"
                        )
            start = time.perf_counter()
            page.select_option("#filter", "loss")
            page.wait_for_selector("#queries li")
            timings["filter"].append(time.perf_counter() - start)
            page.locator("body").click(position={"x": 5, "y": 5})
            start = time.perf_counter()
            for _ in range(20):
                page.keyboard.press("ArrowDown")
            page.wait_for_selector("#current-qid")
            timings["keys"].append((time.perf_counter() - start) / 20)
            page.close()
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/data")
    dense, sparse, _ = make_run_pair(folder)
    runs = [sparse, dense, make_fused(dense, sparse)]
    collection = make_collection(folder / "collection.tsv")
    report = folder / "compare.html"
    command = [sys.executable, "-m", "hybrid", "compare", "--qrels", QRELS, "--topics", TOPICS]
    command += [
        "--corpus",
        str(collection),
        "--k",
        str(K),
        *map(str, runs),
        "--output",
        str(report),
        "--overwrite",
    ]
    seconds, cpu, peak = measure(command)
    print(f"hybrid compare, 3 runs x 6,980 queries x 1,000 hits, 8.8M-passage corpus: {seconds:.1f} s wall, "
          f"{cpu:.1f} s CPU, peak {peak:.0f} MB; report {report.stat().st_size / 1e6:.1f} MB (k = {K})")  # fmt: skip
    checks = {
        name: expected_counts(runs, alias)
        for name, alias in (("ndcg_cut_10", "nDCG@10"), ("MRR@10", "MRR@10"))
    }
    timings = open_in_browser(report, checks)
    print(f"Chromium: opened in {timings['open']:.2f} s (median of 3), filter to losses {timings['filter'] * 1000:.0f} ms, "
          f"next query by keyboard {timings['keys'] * 1000:.0f} ms; wins/ties/losses equal hybrid.evaluate's")  # fmt: skip
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
