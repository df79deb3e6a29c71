"""Probe: where the hybrid teacher disagrees with a pseudo-label, who is right?

Unfiltered pseudo-query lists (``bench_distill.py --pseudo-filter none``) keep the candidates the
teacher scores above the pseudo-positive. This prints how many lists that is and, for a seeded
sample of them, the query, the pseudo-positive and the candidate the teacher puts first, so a reader
can judge them.

``python -m bench.probe_pseudo_disagreements --run DIR [--show 6]`` where ``DIR`` is a
``bench_distill.py --pseudo-filter none`` output whose pseudo-query stage has run.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from hybrid.distill.scores import TeacherScores
from hybrid.distill.triples import read_examples
from hybrid.formats import Run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="a bench_distill.py --pseudo-filter none output folder")
    parser.add_argument("--show", type=int, default=6, help="disagreements printed")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--chars", type=int, default=260, help="characters printed of each passage")
    args = parser.parse_args()

    work = Path(args.run) / "work"
    beta = json.loads((Path(args.run) / "summary.json").read_text())["dev"]["beta"]
    teacher = TeacherScores.load(
        work / "pseudo-maxsim.npz", Run.read(work / "runs" / "pseudo-bm25.trec"), beta
    )
    lists = list(read_examples(work / "lists-pseudo-unfiltered.jsonl"))
    disagreements = []
    for example in lists:
        scores = teacher.lookup([example.qid], list(example.docids))[0]
        if scores.argmax() != 0:
            disagreements.append((example, scores))
    print(f"teacher (MaxSim + {beta} BM25) puts another candidate above the pseudo-positive in "
          f"{len(disagreements)} of {len(lists)} lists")  # fmt: skip
    for example, scores in random.Random(args.seed).sample(disagreements, min(args.show, len(disagreements))):
        top = int(scores.argmax())
        print(f"\nquery: {example.query}")
        print(f"  pseudo-positive {scores[0]:.2f}: {example.passages[0][: args.chars]}")
        print(f"  teacher's first {scores[top]:.2f}: {example.passages[top][: args.chars]}")


if __name__ == "__main__":
    main()
