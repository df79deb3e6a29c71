"""In-batch knowledge distillation of the ColBERT teacher into the TCT-ColBERT student.

Each step scores every query of the batch against every passage of the batch (all positives and
negatives) twice: with the frozen teacher's MaxSim, computed on the fly in the same step (the "tight
coupling"), and with the student's dot product of mean-pooled vectors. The loss is
KL(softmax(teacher / tau) || softmax(student)) averaged over queries, plus ``gamma`` times the
cross-entropy of each query's own positive (hard labels). Without a teacher only that cross-entropy
remains: the in-batch-negatives baseline.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import nn

from hybrid.dense import tct
from hybrid.distill.loop import TrainingOptions, train
from hybrid.distill.teacher import ColBERT
from hybrid.distill.triples import Triple

TAU = 0.25  # teacher temperature of TCT-ColBERT v2


def kd_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """KL(softmax(teacher / tau) || softmax(student)) per query (row), averaged over queries."""
    target = nn.functional.log_softmax(teacher_scores.float() / tau, dim=-1)
    predicted = nn.functional.log_softmax(student_scores.float(), dim=-1)
    return nn.functional.kl_div(predicted, target, log_target=True, reduction="batchmean")


def hard_label_loss(scores: torch.Tensor, false_negatives: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of query ``i``'s positive, passage ``i`` of the in-batch passages; passages that are
    also positives of query ``i`` (``false_negatives``) are left out of its softmax."""
    if false_negatives is not None:
        scores = scores.masked_fill(false_negatives, float("-inf"))
    labels = torch.arange(scores.shape[0], device=scores.device)
    return nn.functional.cross_entropy(scores.float(), labels)


def in_batch_passages(batch: list[Triple]) -> list[str]:
    """The passages every query is scored against: all positives, then all negatives."""
    return [t.positive for t in batch] + [t.negative for t in batch]


def false_negatives(batch: list[Triple]) -> torch.Tensor:
    """``[B, 2B]`` mask of passages that are a positive of the row's query, other than its own column."""
    positives: dict[str, set[str]] = {}
    for t in batch:
        positives.setdefault(t.query, set()).add(t.positive)
    passages = in_batch_passages(batch)
    mask = torch.tensor([[p in positives[t.query] for p in passages] for t in batch])
    mask[torch.arange(len(batch)), torch.arange(len(batch))] = False
    return mask


class Student(nn.Module):
    """The TCT-ColBERT student: one BERT for queries and passages, mean pooling, dot product."""

    def __init__(self, bert: nn.Module, tokenizer, doc_length: int = 512):
        super().__init__()
        self.bert = bert
        self.tokenizer = tokenizer
        self.doc_length = doc_length

    @property
    def device(self) -> torch.device:
        return next(self.bert.parameters()).device

    def encode_queries(self, queries: list[str]) -> torch.Tensor:
        inputs = tct.query_inputs(self.tokenizer, queries).to(self.device)
        return tct.pool_queries(self.bert(**inputs).last_hidden_state)

    def encode_docs(self, texts: list[str]) -> torch.Tensor:
        inputs = tct.doc_inputs(self.tokenizer, texts, max_length=self.doc_length).to(self.device)
        return tct.pool_docs(self.bert(**inputs).last_hidden_state, inputs["attention_mask"])

    def forward(self, queries: list[str], docs: list[str]) -> torch.Tensor:
        """Dot product of every query against every passage, ``[len(queries), len(docs)]``."""
        return self.encode_queries(queries) @ self.encode_docs(docs).T

    def save_to(self, folder: Path) -> None:
        """An HF folder that ``hybrid.dense.load_encoder(folder, encoder_class="tct_colbert")`` loads."""
        self.bert.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)


def student_loss(
    student: Student, teacher: ColBERT | None, batch: list[Triple], tau: float = TAU, gamma: float = 0.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """The in-batch loss of one batch: KD + gamma * CE, or CE alone without a teacher. The parts logged
    include how often the student (and the teacher) rank each query's own positive first in the batch."""
    queries, passages = [t.query for t in batch], in_batch_passages(batch)
    scores = student(queries, passages)
    parts: dict[str, float] = {"student_top1": _top1(scores)}
    loss = scores.new_zeros(())
    if teacher is not None:
        with torch.no_grad():
            teacher_scores = teacher(queries, passages)
        kd = kd_loss(scores, teacher_scores, tau)
        parts.update(kd=kd.item(), teacher_top1=_top1(teacher_scores))
        loss = loss + kd
    if teacher is None or gamma > 0:
        ce = hard_label_loss(scores, false_negatives(batch).to(scores.device))
        parts["ce"] = ce.item()
        loss = loss + (ce if teacher is None else gamma * ce)
    return loss, parts


def _top1(scores: torch.Tensor) -> float:
    """Share of rows whose highest score is their own positive (column ``i`` of row ``i``)."""
    own = torch.arange(scores.shape[0], device=scores.device)
    return (scores.detach().argmax(dim=1) == own).float().mean().item()


def load_student(init: str | os.PathLike[str] | ColBERT, doc_length: int = 512) -> Student:
    """A student from a teacher (a copy of its BERT, as TCT-ColBERT initialises it) or an HF folder/name."""
    if isinstance(init, ColBERT):
        return Student(copy.deepcopy(init.bert).requires_grad_(True), init.tokenizer, doc_length)
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(init))
    return Student(AutoModel.from_pretrained(str(init), add_pooling_layer=False), tokenizer, doc_length)


def train_student(
    triples: str | os.PathLike[str],
    output: str | os.PathLike[str],
    teacher: ColBERT | None = None,
    init: str | os.PathLike[str] | None = None,
    options: TrainingOptions | None = None,
    tau: float = TAU,
    gamma: float = 0.0,
    doc_length: int = 512,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Distil ``teacher`` into a student initialised from ``init`` (default: the teacher's BERT) with
    in-batch KD; without a teacher, train the in-batch-negatives baseline from ``init``. The teacher is
    frozen in place (eval mode, no gradients)."""
    if teacher is None and init is None:
        raise ValueError("the no-teacher baseline needs an initial model (init)")
    if tau <= 0 or gamma < 0:
        raise ValueError(f"tau must be positive and gamma non-negative (tau={tau}, gamma={gamma})")
    options = options or TrainingOptions()
    student = load_student(init if init is not None else teacher, doc_length)
    if teacher is not None:
        teacher.to(options.device).eval().requires_grad_(False)
    return train(
        model=student,
        loss_fn=lambda batch: student_loss(student, teacher, batch, tau, gamma),
        triples=triples,
        options=options,
        output=output,
        save=student.save_to,
        resume=resume,
        overwrite=overwrite,
        checkpoint_dir=checkpoint_dir,
    )
