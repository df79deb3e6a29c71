"""Distillation of a teacher into the dot-product student, and the no-teacher baseline.

Each step scores every query of the batch against every passage of the batch (each query's own
candidate list: its positive, then its hard negatives) with the student. Student scores are
``scale * q.d``: for a normalised (cosine) convention ``scale`` turns cosines in [-1, 1] into logits
(20 by default, as sentence-transformers' MultipleNegativesRankingLoss); for the TCT convention the
dot product is used as is (scale 1). The loss is a weighted sum of

- ``gamma`` x CE: cross-entropy of each query's own positive against every passage of the batch
  (other positives of the same query left out): the whole loss of the no-teacher baseline;
- ``in_batch`` x KD: KL(softmax(teacher / tau) || softmax(student)) over all passages of the batch;
- ``listwise`` x KL over each query's own candidate list only (TCT-ColBERT v2's HN+ targets), or,
  with ``loss="margin-mse"``, the mean squared error between the student's and the teacher's score
  margins (positive minus each negative; Hofstaetter et al.), the teacher's times ``margin_scale``
  (a teacher whose margins are wider than the student's logits can follow is brought to their scale).

Teacher scores come from a stored matrix (:class:`hybrid.distill.scores.TeacherScores`, identical to
what the frozen teacher computes on the fly) or from the teacher model itself, on the fly.

Data parallel (``in_batch_scope="global"``, the default): each worker encodes its part of the global batch
and scores its queries against the passages of *every* worker, so the loss equals the one-process loss
of the global batch. Gathered: the student's passage vectors (with their gradients) and, for a teacher
on the fly, its query token vectors and the MaxSim blocks of every worker's passages (each worker scores
all the batch's queries against its own passages). ``"local"``: each worker's queries against its own
passages only (in-batch negatives per worker).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from hybrid.dense import tct
from hybrid.dense.encoders import embed_texts, model_source, read_convention, write_convention
from hybrid.distill.loop import TrainingOptions, data_parallel_rank, gather_rows, train, worker_part
from hybrid.distill.teacher import ColBERT, maxsim
from hybrid.distill.triples import Example, Triple, in_batch_passages, list_columns

TAU = 1.0  # provisional default (see hybrid/cli/distill.py); TCT-ColBERT v2 used 0.25, near one-hot here
COSINE_SCALE = 20.0  # logits per unit cosine for normalised students (sentence-transformers' default)
CONVENTIONS = ("native", "tct")
LOSSES = ("listwise", "margin-mse")
IN_BATCH_SCOPES = ("global", "local")
_ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


@dataclass
class LossWeights:
    """The weights, temperature and in-batch scope of the student loss (see the module docstring)."""

    gamma: float = 1.0
    in_batch: float = 1.0
    listwise: float = 1.0
    tau: float = TAU
    loss: str = "listwise"
    in_batch_scope: str = "global"
    margin_scale: float = 1.0

    def check(self) -> None:
        if self.tau <= 0 or self.margin_scale <= 0 or min(self.gamma, self.in_batch, self.listwise) < 0:
            raise ValueError(f"tau and margin_scale must be positive and the weights non-negative ({self})")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.in_batch_scope not in IN_BATCH_SCOPES:
            raise ValueError(
                f"in-batch scope must be one of {', '.join(IN_BATCH_SCOPES)}, got {self.in_batch_scope!r}"
            )


def kd_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """KL(softmax(teacher / tau) || softmax(student)) per query (row), averaged over queries."""
    target = nn.functional.log_softmax(teacher_scores.float() / tau, dim=-1)
    predicted = nn.functional.log_softmax(student_scores.float(), dim=-1)
    return nn.functional.kl_div(predicted, target, log_target=True, reduction="batchmean")


def margin_mse_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor) -> torch.Tensor:
    """Mean over rows and negatives of ``((s_pos - s_neg) - (t_pos - t_neg))^2``; column 0 is the positive."""
    student_margin = student_scores[:, :1] - student_scores[:, 1:]
    teacher_margin = teacher_scores[:, :1] - teacher_scores[:, 1:]
    return nn.functional.mse_loss(student_margin.float(), teacher_margin.float())


def hard_label_loss(
    scores: torch.Tensor, false_negatives: torch.Tensor | None = None, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of each row's positive (column ``labels[i]``, default ``i``); passages that are also
    positives of row ``i``'s query (``false_negatives``) are left out of its softmax."""
    if false_negatives is not None:
        scores = scores.masked_fill(false_negatives, float("-inf"))
    if labels is None:
        labels = torch.arange(scores.shape[0], device=scores.device)
    return nn.functional.cross_entropy(scores.float(), labels)


class InBatchLayout:
    """The columns this worker's queries are scored against: every worker's passages of the batch
    (:func:`in_batch_passages` of each worker's part, worker after worker); ``rows`` are this worker's
    examples, ``own`` the columns of its passages, ``columns`` each row's own list (positive first)."""

    def __init__(self, batch: list[Triple | Example], rank: int = 0, world: int = 1):
        size = len(batch) // world
        self.parts = [batch[k * size : (k + 1) * size] for k in range(world)]
        self.rank, self.rows = rank, self.parts[rank]
        per_worker = [in_batch_passages(part) for part in self.parts]
        self.sizes = [len(passages) for passages in per_worker]
        self.passages = [p for passages in per_worker for p in passages]
        start = sum(self.sizes[:rank])
        self.own = slice(start, start + self.sizes[rank])
        self.columns = [[start + c for c in columns] for columns in list_columns(self.rows)]

    @property
    def docids(self) -> list[str]:
        """The ids of :attr:`passages` (candidate lists with docids only)."""
        if any(t.qid is None or t.docids is None for part in self.parts for t in part):
            raise ValueError("stored teacher scores need candidate lists with qid and docids (mine_lists)")
        return [d for part in self.parts for t in part for d in t.docids]


def false_negatives(batch: list[Triple | Example], layout: InBatchLayout | None = None) -> torch.Tensor:
    """``[rows, P]`` mask of passages that are a positive of the row's query, other than its own positive
    (rows and columns of ``layout``, default the whole batch in one process)."""
    layout = layout or InBatchLayout(batch)
    positives: dict[str, set[str]] = {}
    for t in batch:
        positives.setdefault(t.query, set()).add(t.positive)
    mask = torch.tensor([[p in positives[t.query] for p in layout.passages] for t in layout.rows])
    for row, columns in enumerate(layout.columns):
        mask[row, columns[0]] = False
    return mask


class Student(nn.Module):
    """One transformer for queries and passages, pooled under ``convention`` (``encoder_class``,
    ``l2_norm``, ``max_length``, ``query_max_length``: the keys ``hybrid.dense.load_encoder`` reads);
    scores are ``scale`` times the dot product."""

    def __init__(self, bert: nn.Module, tokenizer, convention: dict, source: str | None = None):
        super().__init__()
        self.bert = bert
        self.tokenizer = tokenizer
        self.convention = dict(convention)
        self.source = source

    @property
    def scale(self) -> float:
        return float(self.convention.get("scale", 1.0))

    @property
    def device(self) -> torch.device:
        return next(self.bert.parameters()).device

    def _embed(self, texts: list[str], is_query: bool) -> torch.Tensor:
        c = self.convention
        length = c["query_max_length"] if is_query else c["max_length"]

        def backend(inputs):
            return self.bert(**{k: v.to(self.device) for k, v in inputs.items()}).last_hidden_state

        return embed_texts(backend, self.tokenizer, texts, c["encoder_class"], length, c["l2_norm"], is_query)

    def encode_queries(self, queries: list[str]) -> torch.Tensor:
        return self._embed(list(queries), True)

    def encode_docs(self, texts: list[str]) -> torch.Tensor:
        return self._embed(list(texts), False)

    def save_to(self, folder: Path) -> None:
        """A model folder that ``hybrid.dense.load_encoder(folder)`` loads in this convention (recorded in
        ``hybrid_encoder.json``); a native student of a sentence-transformers model keeps its files too."""
        self.bert.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        write_convention(folder, self.convention)
        if self.convention.get("convention") == "native" and self.source and Path(self.source).is_dir():
            source = Path(self.source)
            for name in _ST_FILES:
                if (source / name).is_file():
                    shutil.copyfile(source / name, folder / name)
            for module in source.glob("[0-9]_*"):
                if module.is_dir():
                    shutil.copytree(module, folder / module.name)


def student_convention(
    init: str | os.PathLike[str] | ColBERT,
    convention: str | None = None,
    doc_length: int | None = None,
    query_length: int | None = None,
    scale: float | None = None,
) -> dict:
    """The convention a student keeps: a sentence-transformers folder (or a trained student) its own
    pooling and normalisation, a BERT or ColBERT checkpoint the TCT convention; ``convention``
    (native|tct) overrides. A normalised student's scores are scaled by ``scale`` (default 20)."""
    if convention not in (None, *CONVENTIONS):
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    declared = {} if isinstance(init, ColBERT) else read_convention(model_source(str(init)))
    native_class = declared.get("encoder_class") or declared.get("pooling")
    if convention is None:
        convention = "native" if native_class and native_class != "tct_colbert" else "tct"
        if declared.get("convention") in CONVENTIONS:
            convention = declared["convention"]
    if convention == "tct":
        result = {
            "convention": "tct",
            "encoder_class": "tct_colbert",
            "l2_norm": False,
            "max_length": doc_length or tct.DOC_MAX_LENGTH,
            "query_max_length": query_length or tct.QUERY_MAX_LENGTH,
        }
    else:
        length = doc_length or declared.get("max_length") or 512
        result = {
            "convention": "native",
            "encoder_class": native_class if native_class in ("mean", "cls") else "mean",
            "l2_norm": bool(declared.get("l2_norm", False)),
            "max_length": length,
            "query_max_length": query_length or declared.get("query_max_length") or length,
        }
    default_scale = COSINE_SCALE if result["l2_norm"] else 1.0
    result["scale"] = float(scale if scale is not None else declared.get("scale", default_scale))
    return result


def load_student(
    init: str | os.PathLike[str] | ColBERT,
    convention: str | None = None,
    doc_length: int | None = None,
    query_length: int | None = None,
    scale: float | None = None,
) -> Student:
    """A student from a teacher (a copy of its BERT, as TCT-ColBERT initialises it) or a model folder /
    hub name / ``minilm``, in the convention :func:`student_convention` picks."""
    settings = student_convention(init, convention, doc_length, query_length, scale)
    if isinstance(init, ColBERT):
        return Student(copy.deepcopy(init.bert).requires_grad_(True), init.tokenizer, settings)
    from transformers import AutoModel, AutoTokenizer

    source = model_source(str(init))
    tokenizer = AutoTokenizer.from_pretrained(source)
    bert = AutoModel.from_pretrained(source, add_pooling_layer=False)
    return Student(bert, tokenizer, settings, source)


def teacher_matrix(teacher, layout: InBatchLayout) -> torch.Tensor:
    """``[rows, P]`` teacher scores of ``layout``: looked up in a :class:`TeacherScores` matrix (needs lists
    with ids) or computed by a frozen ColBERT on the fly. Data parallel, each worker encodes its own
    queries and passages; the query token vectors are gathered, each worker scores all queries against
    its passages, and the score blocks are gathered (fewer bytes than the passages' token vectors)."""
    if not isinstance(teacher, ColBERT):
        qids = [t.qid for t in layout.rows]
        return torch.from_numpy(teacher.lookup(qids, layout.docids)).float()
    with torch.no_grad():
        queries = teacher.encode_queries([t.query for t in layout.rows])
        queries = gather_rows(queries, [len(part) for part in layout.parts])
        vectors, mask = teacher.encode_docs(layout.passages[layout.own])
        scores = gather_rows(maxsim(queries, vectors, mask).T, layout.sizes).T
        first = layout.rank * len(layout.rows)
        return scores[first : first + len(layout.rows)].float()


def student_loss(
    student: Student, teacher, batch: list[Triple | Example], weights: LossWeights
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of this worker's part of ``batch`` (see the module docstring); the parts logged include
    how often the student (and the teacher) rank each query's own positive first among the passages."""
    rank, world = data_parallel_rank()
    if weights.in_batch_scope == "local":
        batch, rank, world = worker_part(batch), 0, 1
    layout = InBatchLayout(batch, rank, world)
    columns = layout.columns
    labels = torch.tensor([c[0] for c in columns])
    queries = student.encode_queries([t.query for t in layout.rows])
    passages = gather_rows(student.encode_docs(layout.passages[layout.own]), layout.sizes)
    scores = student.scale * (queries @ passages.T)
    parts: dict[str, float] = {"student_top1": _top1(scores, labels)}
    loss = scores.new_zeros(())
    if teacher is None or weights.gamma > 0:
        mask = false_negatives(batch, layout).to(scores.device)
        ce = hard_label_loss(scores, mask, labels.to(scores.device))
        parts["ce"] = ce.item()
        loss = loss + (ce if teacher is None else weights.gamma * ce)
    if teacher is None:
        return loss, parts
    targets = teacher_matrix(teacher, layout).to(scores.device)
    parts["teacher_top1"] = _top1(targets, labels)
    if weights.in_batch > 0:
        kd = kd_loss(scores, targets, weights.tau)
        parts["kd"] = kd.item()
        loss = loss + weights.in_batch * kd
    if weights.listwise > 0:
        own = [(scores[i, c], targets[i, c]) for i, c in enumerate(columns)]
        if weights.loss == "margin-mse":
            scale = weights.margin_scale
            listwise = torch.stack([margin_mse_loss(s[None], scale * t[None]) for s, t in own]).mean()
        else:
            listwise = torch.stack([kd_loss(s[None], t[None], weights.tau) for s, t in own]).mean()
        parts[weights.loss] = listwise.item()
        loss = loss + weights.listwise * listwise
    return loss, parts


def _top1(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows whose highest score is their own positive."""
    return (scores.detach().argmax(dim=1).cpu() == labels).float().mean().item()


def train_student(
    triples: str | os.PathLike[str],
    output: str | os.PathLike[str],
    teacher=None,
    init: str | os.PathLike[str] | None = None,
    options: TrainingOptions | None = None,
    weights: LossWeights | None = None,
    convention: str | None = None,
    doc_length: int | None = None,
    query_length: int | None = None,
    scale: float | None = None,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Distil ``teacher`` (a frozen ColBERT, or stored :class:`TeacherScores`) into a student
    initialised from ``init`` (default: the ColBERT teacher's BERT); without a teacher, train the
    no-teacher baseline (CE over the batch) from ``init``. The output records its convention."""
    if teacher is None and init is None:
        raise ValueError("the no-teacher baseline needs an initial model (init)")
    if init is None and not isinstance(teacher, ColBERT):
        raise ValueError("a student distilled from stored scores needs an initial model (init)")
    weights = weights or LossWeights()
    weights.check()
    options = options or TrainingOptions()
    student = load_student(init if init is not None else teacher, convention, doc_length, query_length, scale)
    if isinstance(teacher, ColBERT):
        teacher.to(options.device).eval().requires_grad_(False)

    def save(folder: Path) -> None:
        student.save_to(folder)
        (folder / "loss.json").write_text(
            json.dumps({"teacher": teacher is not None, **asdict(weights)}, indent=2) + "\n"
        )

    return train(
        model=student,
        loss_fn=lambda batch: student_loss(student, teacher, batch, weights),
        triples=triples,
        options=options,
        output=output,
        save=save,
        resume=resume,
        overwrite=overwrite,
        checkpoint_dir=checkpoint_dir,
    )
