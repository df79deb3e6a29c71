"""Probe: how far down the rankings must hard negatives come from before the judged positive stands out?

A candidate list teaches only if its positive is, more often than not, more relevant than its
negatives. With about 40 judged passages per NFCorpus training query, unjudged passages near the top
are often as relevant as the judged one. For each window of ranks this probe draws, per fit query, one
judged positive at random and 3 unjudged negatives from the union of BM25's and the initial MiniLM's
hits in that window, and prints how often BM25 and the initial MiniLM score the positive above all
three (chance: 1 in 4; a tie at the top counts its share). A judged positive outside a run's hits
takes that query's lowest score. Then the same with the positive drawn among the judged passages one
run ranks in its top 100, scored by the other run only (the chooser would agree by construction).

``python -m bench.probe_list_negatives --run DIR`` where ``DIR`` is a ``bench/bench_distill.py`` output
(its fit runs ``work/runs/{bm25,initial}.fit.trec`` and ``summary.json``).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from hybrid import Qrels, Run

WINDOWS = ((0, 30), (30, 100), (100, 300), (300, 1000))
RUNS = ("bm25", "initial")


def positive_first(scores: dict[str, float], positive: str, negatives: list[str]) -> float:
    """1 if ``positive`` scores above every negative, 1/(k+1) if it ties with k of them at the top, else
    0 (a passage outside the run's hits scores below the query's lowest hit)."""
    floor = min(scores.values()) - 1 if scores else 0.0
    top = scores.get(positive, floor)
    others = [scores.get(n, floor) for n in negatives]
    return 0.0 if max(others) > top else 1.0 / (1 + others.count(top))


def drawn_lists(
    qrels: Qrels,
    ranked: dict[str, dict[str, list[str]]],
    window: tuple[int, int],
    negatives: int,
    chooser: str | None = None,
    positive_depth: int = 100,
) -> list[tuple[str, str, list[str]]]:
    """Per query, (qid, positive, negatives): a judged positive (with ``chooser``, one that run ranks in
    its top ``positive_depth``) and unjudged negatives from every run's ranks in ``window``."""
    rng = random.Random(0)
    low, high = window
    drawn = []
    for qid in qrels.query_ids:
        judged = sorted(d for d, grade in qrels[qid].items() if grade > 0)
        pool = sorted({d for run in ranked.values() for d in run.get(qid, [])[low:high]} - set(judged))
        if chooser is not None:
            judged = [d for d in ranked[chooser].get(qid, [])[:positive_depth] if d in judged]
        if judged and len(pool) >= negatives:
            drawn.append((qid, rng.choice(judged), rng.sample(pool, negatives)))
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="a bench_distill.py output folder")
    parser.add_argument("--negatives", type=int, default=3)
    args = parser.parse_args()

    folder = Path(args.run)
    qrels = Qrels.read(json.loads((folder / "summary.json").read_text())["splits"]["fit"])
    runs = {n: Run.read(folder / "work" / "runs" / f"{n}.fit.trec").to_dict() for n in RUNS}
    ranked = {n: {q: sorted(h, key=h.get, reverse=True) for q, h in run.items()} for n, run in runs.items()}
    for chooser in (None, *RUNS):
        for low, high in WINDOWS:
            lists = drawn_lists(qrels, ranked, (low, high), args.negatives, chooser)
            judges = [n for n in RUNS if n != chooser]
            shares = ", ".join(
                f"{n} {np.mean([positive_first(runs[n].get(q, {}), p, negs) for q, p, negs in lists]):.3f}"
                for n in judges
            )
            chosen = f"positive from {chooser}'s top 100" if chooser else "any positive"
            print(
                f"{chosen}, negatives from ranks {low + 1}-{high}: {len(lists)} lists; positive first: {shares}"
            )


if __name__ == "__main__":
    main()
