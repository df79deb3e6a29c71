"""``hybrid train triples|lists|pseudo-queries|teacher-scores|teacher|student`` and ``hybrid rerank``:
TCT-ColBERT distillation."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

from hybrid.cli._common import add_overwrite, add_ray, add_run_output, done, positive_int, ray_options

# Provisional: the earlier reduced run found tau 0.25 near one-hot and tau 1 no worse; bench_distill
# calibrates tau on scifact-train-dev, and that value replaces this one once it is recorded.
TAU_DEFAULT = 1.0


def register(groups) -> None:
    _register_triples(groups.train)
    _register_lists(groups.train)
    _register_pseudo_queries(groups.train)
    _register_teacher_scores(groups.train)
    _register_teacher(groups.train)
    _register_student(groups.train)
    _register_rerank(groups.top)


def _register_triples(train) -> None:
    parser = train.add_parser(
        "triples",
        help="mine (query, positive, negative) training triples from a train split and a run",
        description="Write a triples file (query<TAB>positive<TAB>negative text) for a BEIR-style train "
        "split: every judged positive paired with negatives drawn from the query's top-k run hits that "
        "are not judged relevant (e.g. a BM25 run of `hybrid search sparse`).",
    )
    parser.add_argument("--topics", required=True, help="topics (name such as scifact-train, or file)")
    parser.add_argument("--qrels", help="qrels of the split (default same as --topics)")
    parser.add_argument("--run", required=True, help="run whose top hits supply the negatives")
    parser.add_argument("--corpus", required=True, help="corpus holding the passages (name or path)")
    parser.add_argument("--output", required=True, help="triples file to write")
    parser.add_argument("--depth", type=int, default=100, help="negatives come from the top DEPTH hits (100)")
    parser.add_argument("--negatives", type=int, default=4, help="negatives per judged positive (4)")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the negative sampling (42)")
    add_overwrite(parser)
    parser.set_defaults(handler=run_triples)


def _register_lists(train) -> None:
    parser = train.add_parser(
        "lists",
        help="mine candidate lists (positive + hard negatives) from a train split and runs",
        description="Write candidate lists as JSON lines ({qid, query, docids, passages}, positive first): every "
        "judged positive with --negatives hard negatives drawn from the union of the top --depth hits of each "
        "--run (e.g. BM25 and the current student). A judged positive is never a negative; with "
        "--teacher-scores, neither is a passage the teacher scores at least as high as every judged positive.",
    )
    parser.add_argument("--topics", required=True, help="topics (name such as scifact-train-fit, or file)")
    parser.add_argument("--qrels", help="qrels of the split (default same as --topics)")
    parser.add_argument("--run", required=True, action="append", help="run supplying negatives (repeatable)")
    parser.add_argument("--corpus", required=True, help="corpus holding the passages (name or path)")
    parser.add_argument("--output", required=True, help="lists file to write (.jsonl)")
    parser.add_argument("--depth", type=int, default=30, help="negatives come from each run's top DEPTH (30)")
    parser.add_argument("--negatives", type=int, default=3, help="hard negatives per list (3)")
    parser.add_argument("--positives-per-query", type=int, help="keep at most N positives per query (all)")
    parser.add_argument(
        "--skip", type=int, default=0, help="no negative from any run's top SKIP hits (0; loose judgments)"
    )
    parser.add_argument(
        "--positive-depth", type=int, help="keep only positives some run ranks in its top N (all)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed of the negative sampling (42)")
    _add_teacher_scores(parser, "teacher score matrix (.npz) for false-negative filtering")
    add_overwrite(parser)
    parser.set_defaults(handler=run_lists)


def _register_pseudo_queries(train) -> None:
    parser = train.add_parser(
        "pseudo-queries",
        help="make training queries from a corpus without judgments (last sentences, inverse cloze)",
        description="Write an unjudged corpus's pseudo-queries to a folder: corpus.jsonl, the corpus with every "
        "document's last sentence removed; queries.jsonl, --count of those sentences (ids last-<docid>); and "
        "qrels.txt, each query's source as its one positive. Index the shortened corpus, search the queries, "
        "then mine lists (`train lists`) and distil as for judged queries.",
    )
    parser.add_argument("--corpus", required=True, help="corpus (name such as scifact, or path)")
    parser.add_argument("--count", type=positive_int, required=True, help="queries to draw")
    parser.add_argument("--output", required=True, help="folder to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the draw (0)")
    add_overwrite(parser)
    parser.set_defaults(handler=run_pseudo_queries)


def _add_teacher_scores(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--teacher-scores", help=help_text)
    parser.add_argument("--teacher-bm25", help="BM25 run of the hybrid teacher (MaxSim + beta x BM25)")
    parser.add_argument(
        "--teacher-bm25-weight", type=float, default=0.0, help="beta of the hybrid teacher (0: MaxSim only)"
    )


def _register_teacher_scores(train) -> None:
    parser = train.add_parser(
        "teacher-scores",
        help="store a teacher's MaxSim of every topic against every corpus passage (.npz)",
        description="One pass of the frozen teacher over the corpus: the MaxSim of every topic of every --topics "
        "against every passage, saved as a matrix for list mining, distillation and reranking look-ups.",
    )
    parser.add_argument("--teacher", required=True, help="teacher folder")
    parser.add_argument("--topics", required=True, action="append", help="topics (name or file; repeatable)")
    parser.add_argument("--corpus", required=True, help="corpus (name or path)")
    parser.add_argument("--output", required=True, help=".npz file to write")
    parser.add_argument("--batch-size", type=int, default=32, help="passages encoded at once (32)")
    add_overwrite(parser)
    parser.set_defaults(handler=run_teacher_scores)


def _add_training_options(parser: argparse.ArgumentParser, learning_rate: float) -> None:
    group = parser.add_argument_group("training")
    group.add_argument(
        "--train",
        required=True,
        help="triples file (query<TAB>positive<TAB>negative) or candidate lists (.jsonl)",
    )
    group.add_argument("--output", required=True, help="folder to write the trained model to")
    group.add_argument("--steps", type=int, default=1000, help="optimizer steps (1000)")
    group.add_argument("--batch-size", type=int, default=16, help="triples per forward pass (16)")
    group.add_argument("--accumulation", type=int, default=1, help="forward passes per optimizer step (1)")
    group.add_argument("--learning-rate", type=float, default=learning_rate, help=f"peak ({learning_rate})")
    group.add_argument(
        "--warmup-steps", type=int, default=0, help="linear warmup steps, then linear decay (0)"
    )
    group.add_argument("--seed", type=int, default=42, help="random seed (42)")
    group.add_argument(
        "--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="bf16/fp16: GPU only"
    )
    group.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1 ...)")
    group.add_argument(
        "--checkpoint-every", type=int, default=0, help="save a checkpoint every N steps (0: never)"
    )
    group.add_argument(
        "--checkpoint-dir", help="where checkpoints and log.jsonl go (default OUTPUT.checkpoints)"
    )
    group.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    group.add_argument(
        "--shuffle",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="shuffle triples in memory each epoch (default only files up to 256 MiB; larger ones stream)",
    )
    add_ray(parser, "train data-parallel on --workers Ray Train workers (--batch-size is the global batch)")
    add_overwrite(parser)


def _register_teacher(train) -> None:
    parser = train.add_parser(
        "teacher",
        help="fine-tune a ColBERT teacher on triples or candidate lists (softmax cross-entropy)",
        description="Fine-tune ColBERT (BERT + linear projection, MaxSim) with the softmax cross-entropy of each "
        "positive against its own negatives (one for a triple: ColBERT's pairwise loss; all of a candidate "
        "list's). --init is a BERT (new projection), a ColBERT checkpoint, a saved teacher or 'minilm'.",
    )
    parser.add_argument(
        "--init", required=True, help="BERT or ColBERT folder / hub name (or minilm) to start from"
    )
    parser.add_argument("--dim", type=int, default=128, help="token vector size of a new teacher (128)")
    parser.add_argument("--query-length", type=int, default=32, help="query tokens incl. [MASK] padding (32)")
    parser.add_argument("--doc-length", type=int, default=180, help="maximum document tokens (180)")
    _add_training_options(parser, learning_rate=7e-6)
    parser.set_defaults(handler=run_teacher)


def _register_student(train) -> None:
    parser = train.add_parser(
        "student",
        help="distil a teacher into a dot-product student (or train it without one)",
        description="Train a single-vector student on triples or candidate lists. Each query is scored against "
        "every passage of the batch. Loss = gamma x hard-label CE + in-batch-weight x KL(softmax(teacher/tau) || "
        "softmax(student)) over the batch + list-weight x KL over the query's own list (or Margin-MSE with "
        "--loss margin-mse). Without a teacher: CE alone (the no-teacher baseline). The student keeps its "
        "initialisation's convention (a sentence-transformers folder: its pooling and normalisation; a BERT or "
        "ColBERT checkpoint: TCT-ColBERT's) unless --convention says otherwise, and the output records it, so "
        "`hybrid index dense --encoder DIR` needs no --encoder-class.",
    )
    parser.add_argument(
        "--teacher",
        help="a teacher folder (scored on the fly; the student starts from its BERT unless --init) or a "
        "teacher score matrix (.npz, from `train teacher-scores`; needs lists and --init)",
    )
    parser.add_argument("--teacher-bm25", help="BM25 run of the hybrid teacher (MaxSim + beta x BM25)")
    parser.add_argument(
        "--teacher-bm25-weight", type=float, default=0.0, help="beta of the hybrid teacher (0: MaxSim only)"
    )
    parser.add_argument("--init", help="model folder, hub name or 'minilm' to start the student from")
    parser.add_argument(
        "--convention",
        choices=("native", "tct"),
        help="native: the model's own pooling/normalisation; tct: TCT-ColBERT markers, [MASK] padding, mean "
        "pooling, dot product (default native for a sentence-transformers folder, else tct)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        help="student logits = scale x dot product (default 20 for a normalised, cosine student, else 1)",
    )
    parser.add_argument(
        "--loss", choices=("listwise", "margin-mse"), default="listwise", help="own-list term"
    )
    parser.add_argument("--tau", type=float, default=TAU_DEFAULT, help=f"teacher temperature ({TAU_DEFAULT})")
    parser.add_argument("--gamma", type=float, default=1.0, help="weight of the hard-label CE term (1)")
    parser.add_argument("--in-batch-weight", type=float, default=1.0, help="weight of in-batch KD (1)")
    parser.add_argument(
        "--in-batch",
        choices=("global", "local"),
        default="global",
        help="with --ray --workers N: score each query against the passages of the whole global batch "
        "(gathered across workers; the one-process loss) or of its worker's part only (default global)",
    )
    parser.add_argument("--list-weight", type=float, default=1.0, help="weight of the own-list term (1)")
    parser.add_argument(
        "--margin-scale",
        type=float,
        default=1.0,
        help="with --loss margin-mse: the teacher's margins are multiplied by this, to bring them to the "
        "scale of the student's logits (1)",
    )
    parser.add_argument("--doc-length", type=int, help="maximum passage tokens (default the convention's)")
    parser.add_argument("--query-length", type=int, help="maximum query tokens (default the convention's)")
    _add_training_options(parser, learning_rate=2e-5)
    parser.set_defaults(handler=run_student)


def _register_rerank(top) -> None:
    parser = top.add_parser(
        "rerank",
        help="rerank a run with a ColBERT teacher (MaxSim)",
        description="Rescore each query's top-k hits of a run with a ColBERT teacher's MaxSim.",
    )
    parser.add_argument(
        "--teacher", required=True, help="teacher folder, or ColBERT checkpoint path / hub name"
    )
    parser.add_argument("--run", required=True, help="run to rerank")
    parser.add_argument("--topics", required=True, help="topics (name or file)")
    parser.add_argument("--corpus", required=True, help="corpus (name or path)")
    parser.add_argument("--depth", type=int, default=100, help="rerank the top DEPTH hits per query (100)")
    parser.add_argument("--batch-size", type=int, default=32, help="documents encoded at once (32)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu)")
    add_run_output(parser, tag="colbert")
    parser.set_defaults(handler=run_rerank)


def _train(args, train_on: Callable[[object, str], object]) -> None:
    """``train_on(args, device)`` here, or on every Ray Train worker with ``--ray`` (device from Ray)."""
    ray = ray_options(args)
    if ray is None:
        train_on(args, args.device)
    else:
        from hybrid.distill.ray_training import train_on_ray

        train_on_ray(partial(train_on, _absolute_paths(args)), ray)


def _absolute_paths(args):
    """``args`` with its file and folder arguments made absolute: Ray workers run in other folders."""
    paths = {}
    for name in ("train", "output", "checkpoint_dir", "init", "teacher", "teacher_bm25"):
        value = getattr(args, name, None)
        if value and (name in ("output", "checkpoint_dir") or Path(value).exists()):
            paths[name] = str(Path(value).resolve())
    return argparse.Namespace(**{**vars(args), **paths})


def _options(args, device: str | None = None):
    from hybrid.distill.loop import TrainingOptions

    return TrainingOptions(
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        accumulation=args.accumulation,
        seed=args.seed,
        precision=args.precision,
        checkpoint_every=args.checkpoint_every,
        device=device or args.device,
        shuffle=args.shuffle,
    )


def run_triples(args) -> int:
    from hybrid.distill.triples import mine_triples

    path, count = mine_triples(
        args.topics,
        args.qrels or args.topics,
        args.run,
        args.corpus,
        args.output,
        depth=args.depth,
        negatives_per_positive=args.negatives,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    done(f"wrote {count} triples to {path}")
    return 0


def run_teacher(args) -> int:
    _train(args, _train_teacher)
    done(f"wrote teacher {args.output}")
    return 0


def _train_teacher(args, device: str) -> None:
    from hybrid.distill.teacher import ColBERT, TeacherConfig, train_teacher

    config = TeacherConfig(dim=args.dim, query_length=args.query_length, doc_length=args.doc_length)
    teacher = ColBERT.from_pretrained(args.init, config, seed=args.seed)
    options = _options(args, device)
    train_teacher(teacher, args.train, args.output, options, args.resume, args.overwrite, args.checkpoint_dir)


def run_lists(args) -> int:
    from hybrid.distill.triples import mine_lists

    path, count = mine_lists(
        args.topics,
        args.qrels or args.topics,
        args.run,
        args.corpus,
        args.output,
        depth=args.depth,
        negatives=args.negatives,
        seed=args.seed,
        teacher_scores=_stored_teacher(args) if args.teacher_scores else None,
        positives_per_query=args.positives_per_query,
        overwrite=args.overwrite,
        skip=args.skip,
        positive_depth=args.positive_depth,
    )
    done(f"wrote {count} lists to {path}")
    return 0


def run_pseudo_queries(args) -> int:
    from hybrid.distill.pseudo import write_pseudo_queries

    folder, count = write_pseudo_queries(args.corpus, args.output, args.count, args.seed, args.overwrite)
    done(f"wrote {count} pseudo-queries, their qrels and the shortened corpus to {folder}")
    return 0


def run_teacher_scores(args) -> int:
    from hybrid.distill.scores import score_matrix
    from hybrid.distill.teacher import ColBERT
    from hybrid.io import check_writable

    check_writable(args.output, args.overwrite)
    matrix = score_matrix(ColBERT.from_pretrained(args.teacher), args.topics, args.corpus, args.batch_size)
    done(f"wrote {matrix.save(args.output, overwrite=args.overwrite)}")
    return 0


def _stored_teacher(args, path: str | None = None):
    from hybrid.distill.scores import TeacherScores

    if args.teacher_bm25_weight and not args.teacher_bm25:
        raise ValueError("--teacher-bm25-weight needs --teacher-bm25 (the BM25 run of the training queries)")
    return TeacherScores.load(path or args.teacher_scores, args.teacher_bm25, args.teacher_bm25_weight)


def run_student(args) -> int:
    if not args.teacher and not args.init:
        raise ValueError("give --teacher (distillation) or --init (no-teacher baseline)")
    _train(args, _train_student)
    done(f"wrote student {args.output}")
    return 0


def _train_student(args, device: str) -> None:
    from hybrid.distill.training import LossWeights, train_student

    if args.teacher and args.teacher.endswith(".npz"):
        if not args.init:
            raise ValueError("a teacher score matrix (.npz) needs --init: the student to start from")
        teacher = _stored_teacher(args, args.teacher)
    elif args.teacher:
        if args.teacher_bm25_weight:
            raise ValueError("--teacher-bm25-weight needs a teacher score matrix (.npz) as --teacher")
        from hybrid.distill.teacher import ColBERT

        teacher = ColBERT.from_pretrained(args.teacher)
    else:
        teacher = None
    weights = LossWeights(
        gamma=args.gamma,
        in_batch=args.in_batch_weight,
        listwise=args.list_weight,
        tau=args.tau,
        loss=args.loss,
        in_batch_scope=args.in_batch,
        margin_scale=args.margin_scale,
    )
    train_student(
        args.train,
        args.output,
        teacher=teacher,
        init=args.init,
        options=_options(args, device),
        weights=weights,
        convention=args.convention,
        doc_length=args.doc_length,
        query_length=args.query_length,
        scale=args.scale,
        resume=args.resume,
        overwrite=args.overwrite,
        checkpoint_dir=args.checkpoint_dir,
    )


def run_rerank(args) -> int:
    from hybrid.distill.rerank import rerank
    from hybrid.distill.teacher import ColBERT
    from hybrid.io import check_writable

    check_writable(args.output, args.overwrite)
    teacher = ColBERT.from_pretrained(args.teacher).to(args.device)
    run = rerank(teacher, args.run, args.topics, args.corpus, args.depth, args.batch_size, tag=args.run_tag)
    path = run.write(args.output, format=args.output_format, tag=args.run_tag, overwrite=args.overwrite)
    done(f"wrote {path}")
    return 0
