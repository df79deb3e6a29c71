"""Speed of CPU training and encoding with glibc's default allocator settings and inside
``hybrid.heap.heap_reuse`` (what ``hybrid.distill.loop.train`` and ``hybrid.dense.Encoder`` do), on
real data: the first lists of a recorded ``bench_distill`` recipe (SciFact by default), its stored
teacher scores, and the shipped MiniLM.

- ``train``: optimizer steps of the distilled student on one fixed batch (the recipe's loss);
- ``encode``: the batch's passages encoded by ``hybrid.dense.load_encoder("minilm")``.

Each (task, mode) runs in its own process (mallopt is process-wide), the modes alternate round by
round, and every process of a task must give bit-identical numbers (losses; vectors): the allocator
may change the speed, never the results. Example: ``python -m bench.bench_heap --rounds 2``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import resource
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

RECORD = Path(__file__).parent / "records" / "scifact-g0"
MODES = ("glibc-defaults", "heap-reuse")
TASKS = ("train", "encode")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--record", default=str(RECORD), help="a bench_distill record (inputs/ and record.json)"
    )
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--rounds", type=int, default=2, help="processes per task and mode, alternating")
    parser.add_argument(
        "--steps", type=int, default=3, help="timed training steps per process (after one untimed)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="lists per step (the recipe's 16)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)  # one child process
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    return parser.parse_args()


def one_process(args: argparse.Namespace) -> dict:
    """Time ``args.task`` in ``args.mode``: seconds and CPU per unit, page faults, and what must match."""
    import torch

    from hybrid.distill.triples import read_examples

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    record = Path(args.record)
    batch = list(itertools.islice(read_examples(record / "inputs" / "lists.jsonl.gz"), args.batch_size))
    if args.mode == "glibc-defaults":
        import hybrid.dense.encoders

        hybrid.dense.encoders.heap_reuse = nullcontext  # the encoder's own block, switched off
        allocator = nullcontext()
    else:
        from hybrid.heap import heap_reuse

        allocator = heap_reuse()
    return (_train if args.task == "train" else _encode)(record, args, batch, allocator)


def _train(record: Path, args, batch, allocator) -> dict:
    import torch

    from hybrid.distill.scores import TeacherScores
    from hybrid.distill.training import LossWeights, load_student, student_loss

    teacher = TeacherScores.load(record / "inputs" / "teacher.npz")
    weights = LossWeights(gamma=0.0, tau=json.loads((record / "record.json").read_text())["tau"])
    student = load_student("minilm", doc_length=256)
    student.train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=2e-5)
    losses = []
    with allocator:
        for step in range(args.steps + 1):
            if step == 1:
                started, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
            loss, _ = student_loss(student, teacher, batch, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return _timing(started, usage, args.steps, "step") | {"result": losses}


def _encode(record: Path, args, batch, allocator) -> dict:
    from hybrid.dense import load_encoder

    texts = [passage for example in batch for passage in example.passages]
    encoder = load_encoder("minilm")
    encoder.encode_docs(texts[:32])  # warm-up, untimed
    with allocator:
        started, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        vectors = encoder.encode_docs(texts)
    digest = hashlib.sha256(vectors.tobytes()).hexdigest()
    return _timing(started, usage, len(texts), "passage") | {"result": digest}


def _timing(started: float, usage, units: int, unit: str) -> dict:
    seconds, end = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    return {
        "unit": unit,
        "per_second": units / seconds,
        "seconds_per_unit": seconds / units,
        "system_share": (end.ru_stime - usage.ru_stime)
        / max(1e-9, end.ru_utime - usage.ru_utime + end.ru_stime - usage.ru_stime),
        "minor_faults_per_unit": (end.ru_minflt - usage.ru_minflt) / units,
    }


def main() -> None:
    args = parse_args()
    if args.task:
        print(json.dumps(one_process(args)))
        return
    failed = []
    for task in args.tasks:
        results = []
        for round_number, mode in itertools.product(range(args.rounds), MODES):
            command = [sys.executable, "-m", "bench.bench_heap", "--task", task, "--mode", mode,
                       "--record", args.record, "--steps", str(args.steps),
                       "--batch-size", str(args.batch_size), "--threads", str(args.threads)]  # fmt: skip
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1]) | {"mode": mode}
            results.append(r)
            print(f"{task:6} round {round_number + 1} {mode:15} {r['seconds_per_unit']:7.3f} s/{r['unit']}  "
                  f"{r['per_second']:6.2f} {r['unit']}s/s  kernel {r['system_share']:5.1%}  minor faults/"
                  f"{r['unit']} {r['minor_faults_per_unit']:9.0f}", flush=True)  # fmt: skip
        if any(r["result"] != results[0]["result"] for r in results):
            failed.append(task)
            print(f"PARITY FAILED ({task}): " + "; ".join(f"{r['mode']}: {r['result']}" for r in results))
            continue
        print(f"{task}: parity: all {len(results)} processes give the same results, bit for bit")
        mean = {m: sum(r["seconds_per_unit"] for r in results if r["mode"] == m) / args.rounds for m in MODES}
        print(f"{task}: glibc defaults {mean['glibc-defaults']:.3f} s, heap reuse {mean['heap-reuse']:.3f} s "
              f"per {results[0]['unit']}: {mean['glibc-defaults'] / mean['heap-reuse']:.2f}x")  # fmt: skip
    if failed:
        sys.exit(f"parity failed for {', '.join(failed)}")


if __name__ == "__main__":
    main()
