"""Benchmark: a bounded load test of `hybrid serve` on 127.0.0.1.

Starts `hybrid serve` (the real command, its own process) on a free port over a BM25 and a dense
index (by default the SciFact indexes `make demo` builds), then sends REQUESTS GET /search requests
(queries: the scifact-test topics in turn, k=10, alpha varying) from CLIENTS concurrent clients, each
on its own keep-alive connection. Any answer but 200 with a list of k hits fails the benchmark.
Prints the latency percentiles (p50/p90/p99, milliseconds), the throughput and the load average;
stops the server it started.
Usage: python -m bench.bench_serve [--sparse-index I] [--dense-index J] [--requests 2000] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import numpy as np

from hybrid import read_topics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "hybrid", "serve", "--sparse-index", args.sparse_index, "--dense-index"]
    command += [
        args.dense_index,
        "--encoder",
        args.encoder,
        "--port",
        str(port),
        "--threads",
        str(args.threads),
    ]
    server = subprocess.Popen(command)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"hybrid serve exited with status {server.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("hybrid serve did not answer within 300 s")


def client(port: int, paths: list[str], latencies: list[float], failures: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for path in paths:
        start = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - start)
        if response.status != 200 or len(json.loads(body)) != 10:
            failures.append(f"{response.status} {path}: {body[:200]!r}")
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sparse-index", default="indexes/scifact.bm25")
    parser.add_argument("--dense-index", default="indexes/scifact.minilm")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="the server's search threads")
    args = parser.parse_args()

    queries = list(read_topics("scifact-test").values())
    paths = [
        "/search?"
        + urllib.parse.urlencode(
            {"q": queries[i % len(queries)], "k": 10, "alpha": round(0.01 * (i % 50), 2)}
        )
        for i in range(args.requests)
    ]
    port = free_port()
    server = start_server(args, port)
    try:
        latencies: list[float] = []
        failures: list[str] = []
        threads = [
            threading.Thread(target=client, args=(port, paths[i :: args.clients], latencies, failures))
            for i in range(args.clients)
        ]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=60)
    if failures or len(latencies) != args.requests:
        print(
            f"FAILED: {len(failures)} bad answers, {len(latencies)} of {args.requests} answered",
            file=sys.stderr,
        )
        print(*failures[:5], sep="\n", file=sys.stderr)
        return 1
    ms = np.array(latencies) * 1000
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    print(f"{args.requests} requests from {args.clients} clients, server threads {args.threads}: no error")
    print(f"latency p50 {p50:.0f} ms, p90 {p90:.0f} ms, p99 {p99:.0f} ms, max {ms.max():.0f} ms")
    print(
        f"throughput {args.requests / seconds:.1f} requests/s ({seconds:.1f} s); load average {os.getloadavg()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
