"""Seconds per training step of the distilled MiniLM student with glibc's default allocator
settings and inside ``hybrid.heap.heap_reuse`` (what ``hybrid.distill.loop.train`` does on CPU), on
real data: the first lists of a recorded ``bench_distill`` recipe and its stored teacher scores
(SciFact by default).

Each mode runs in its own process (mallopt is process-wide), the modes alternate round by round, and
every process must produce bit-identical losses: the allocator may change the speed, never the
numbers. Example: ``python -m bench.bench_train_step --rounds 2 --steps 4``.
"""

from __future__ import annotations

import argparse
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--record", default=str(RECORD), help="a bench_distill record (inputs/ and record.json)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="processes per mode, alternating")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per process (after one untimed)")
    parser.add_argument("--batch-size", type=int, default=16, help="lists per step (the recipe's 16)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one child process
    return parser.parse_args()


def one_process(args: argparse.Namespace) -> dict:
    """``args.steps`` optimizer steps on the same batch, timed, with the student loss of the recipe."""
    import torch

    from hybrid.distill.scores import TeacherScores
    from hybrid.distill.training import LossWeights, load_student, student_loss
    from hybrid.distill.triples import read_examples
    from hybrid.heap import heap_reuse

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    record = Path(args.record)
    batch = list(itertools.islice(read_examples(record / "inputs" / "lists.jsonl.gz"), args.batch_size))
    teacher = TeacherScores.load(record / "inputs" / "teacher.npz")
    recipe = json.loads((record / "record.json").read_text())
    weights = LossWeights(gamma=0.0, tau=recipe["tau"])
    student = load_student("minilm", doc_length=256)
    student.train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=2e-5)
    losses, seconds = [], []
    usage = None
    with heap_reuse() if args.mode == "heap-reuse" else nullcontext():
        for step in range(args.steps + 1):
            if step == 1:
                usage = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            loss, _ = student_loss(student, teacher, batch, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seconds.append(time.perf_counter() - started)
            losses.append(loss.item())
    end = resource.getrusage(resource.RUSAGE_SELF)
    timed = args.steps
    return {
        "mode": args.mode,
        "seconds_per_step": sum(seconds[1:]) / timed,
        "user_per_step": (end.ru_utime - usage.ru_utime) / timed,
        "system_per_step": (end.ru_stime - usage.ru_stime) / timed,
        "minor_faults_per_step": (end.ru_minflt - usage.ru_minflt) / timed,
        "losses": losses,
    }


def main() -> None:
    args = parse_args()
    if args.mode:
        print(json.dumps(one_process(args)))
        return
    results = []
    for round_number in range(args.rounds):
        for mode in MODES:
            command = [sys.executable, "-m", "bench.bench_train_step", "--mode", mode, "--record", args.record,
                       "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                       "--threads", str(args.threads)]  # fmt: skip
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            r = results[-1]
            print(f"round {round_number + 1} {mode:15} {r['seconds_per_step']:6.2f} s/step  user "
                  f"{r['user_per_step']:5.2f}  system {r['system_per_step']:5.2f}  minor faults "
                  f"{r['minor_faults_per_step']:9.0f}", flush=True)  # fmt: skip
    reference = results[0]["losses"]
    for r in results[1:]:
        if r["losses"] != reference:
            sys.exit(f"PARITY FAILED: {r['mode']} losses {r['losses']} differ from {reference}")
    print(f"parity: all {len(results)} processes give the same {len(reference)} losses, bit for bit")
    for mode in MODES:
        mean = sum(r["seconds_per_step"] for r in results if r["mode"] == mode) / args.rounds
        print(f"{mode:15} mean {mean:.2f} s/step")
    mean = {m: sum(r["seconds_per_step"] for r in results if r["mode"] == m) for m in MODES}
    print(f"speed-up: {mean['glibc-defaults'] / mean['heap-reuse']:.2f}x")


if __name__ == "__main__":
    main()
