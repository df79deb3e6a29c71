"""Seeded dev splits carved from a training split's queries (bundled as ``scifact-train-fit`` / ``-dev``),
and seeded folds of the fit queries (cross-fitted teachers).

Hyper-parameters are chosen on the dev part, models trained on the fit part, test scored once.
The bundled files were written by :func:`split_qrels` with the defaults below; rerunning it gives the
same bytes.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Collection
from pathlib import Path

from hybrid.formats import Qrels
from hybrid.formats.text import json_lines
from hybrid.io import atomic_write

DEV_FRACTION = 0.2
SPLIT_SEED = 13


def split_queries(
    qids: list[str], fraction: float = DEV_FRACTION, seed: int = SPLIT_SEED
) -> tuple[list, list]:
    """(fit, dev) query ids: a seeded ``fraction`` of the sorted ids goes to dev."""
    if not 0 < fraction < 1:
        raise ValueError(f"dev fraction must be in (0, 1), got {fraction}")
    ordered = sorted(qids)
    dev = set(random.Random(seed).sample(ordered, max(1, round(fraction * len(ordered)))))
    return [q for q in ordered if q not in dev], [q for q in ordered if q in dev]


def split_qrels(
    qrels: str | os.PathLike[str],
    fit_output: str | os.PathLike[str],
    dev_output: str | os.PathLike[str],
    fraction: float = DEV_FRACTION,
    seed: int = SPLIT_SEED,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write the BEIR-style qrels TSVs of the fit and dev parts of ``qrels``' queries."""
    judged = Qrels.read(qrels)
    for qids, output in zip(
        split_queries(list(judged), fraction, seed), (fit_output, dev_output), strict=True
    ):
        with atomic_write(output, overwrite=overwrite) as out:
            out.write("query-id\tcorpus-id\tscore\n")
            for qid in qids:
                for docid, grade in judged[qid].items():
                    out.write(f"{qid}\t{docid}\t{grade}\n")
    return Path(fit_output), Path(dev_output)


def fold_queries(qids: list[str], folds: int, seed: int = SPLIT_SEED) -> list[list[str]]:
    """``folds`` disjoint parts of ``qids`` of near-equal size: the sorted ids, shuffled with ``seed``,
    dealt in turn; each part sorted."""
    ordered = sorted(set(qids))
    if not 2 <= folds <= len(ordered):
        raise ValueError(f"folds must be in 2..{len(ordered)} (the number of queries), got {folds}")
    random.Random(seed).shuffle(ordered)
    return [sorted(ordered[k::folds]) for k in range(folds)]


def write_lists_without(
    lists: str | os.PathLike[str], held_out: Collection[str], output: str | os.PathLike[str]
) -> Path:
    """Copy the candidate lists (``.jsonl``, as :func:`hybrid.distill.mine_lists` writes them) whose query is
    not in ``held_out``: the training lists of the teacher that will score ``held_out``."""
    held_out = set(held_out)
    with atomic_write(output, overwrite=True) as out:
        for _, record in json_lines(lists):
            if str(record.get("qid")) not in held_out:
                out.write(json.dumps(record) + "\n")
    return Path(output)
