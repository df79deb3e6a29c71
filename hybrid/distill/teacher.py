"""The ColBERT teacher: BERT plus a linear projection of every token, L2-normalised, scored by MaxSim.

Queries are ``[CLS] [Q] q`` padded with ``[MASK]`` to a fixed length (query augmentation: the mask
positions are not attended to but their output vectors take part in MaxSim). Documents are
``[CLS] [D] d``; their punctuation tokens and padding are left out of MaxSim.
A teacher is a folder: the Hugging Face BERT and tokenizer, ``projection.safetensors`` and ``colbert.json``.
"""

from __future__ import annotations

import json
import os
import string
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hybrid.distill.loop import TrainingOptions, train, worker_part
from hybrid.distill.triples import Example, Triple, in_batch_passages, list_columns
from hybrid.io import atomic_directory

CONFIG_FILE = "colbert.json"
PROJECTION_FILE = "projection.safetensors"
CHECKPOINT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


@dataclass
class TeacherConfig:
    """Shape of the teacher's inputs and outputs (saved as ``colbert.json``)."""

    dim: int = 128
    query_length: int = 32
    doc_length: int = 180
    query_marker: str = "[Q]"
    doc_marker: str = "[D]"
    mask_punctuation: bool = True
    end_with_sep: bool = False

    @classmethod
    def from_dict(cls, values: dict) -> TeacherConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def maxsim(queries: torch.Tensor, docs: torch.Tensor, doc_mask: torch.Tensor) -> torch.Tensor:
    """All-pairs MaxSim: ``[Q, Lq, d] x [D, Ld, d] -> [Q, D]``, sum over query tokens of the best doc token."""
    sim = torch.einsum("qid,pjd->qpij", queries, docs)
    sim = sim.masked_fill(~doc_mask[None, :, None, :], float("-inf"))
    return sim.max(dim=-1).values.sum(dim=-1)


def maxsim_pairs(queries: torch.Tensor, docs: torch.Tensor, doc_mask: torch.Tensor) -> torch.Tensor:
    """Row-aligned MaxSim: query ``p`` against doc ``p`` only, ``[P, Lq, d] x [P, Ld, d] -> [P]``."""
    sim = torch.einsum("pid,pjd->pij", queries, docs)
    sim = sim.masked_fill(~doc_mask[:, None, :], float("-inf"))
    return sim.max(dim=-1).values.sum(dim=-1)


class ColBERT(nn.Module):
    """ColBERT: ``bert`` token states projected to ``config.dim`` and L2-normalised."""

    def __init__(
        self, bert: nn.Module, tokenizer, config: TeacherConfig, projection: nn.Linear | None = None
    ):
        super().__init__()
        self.bert = bert
        self.tokenizer = tokenizer
        self.config = config
        self.projection = projection or nn.Linear(bert.config.hidden_size, config.dim, bias=False)
        self._query_marker = _marker_ids(tokenizer, config.query_marker)
        self._doc_marker = _marker_ids(tokenizer, config.doc_marker)
        self._punctuation = torch.tensor(sorted(_punctuation_ids(tokenizer)), dtype=torch.long)

    # ---- loading and saving -------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike[str], config: TeacherConfig | None = None, seed: int = 0
    ) -> ColBERT:
        """Load a teacher folder (or ``minilm``), a ColBERT checkpoint (BERT weights plus ``linear.weight``, path or hub
        name, read with ColBERT's ``[unused0]``/``[unused1]`` markers) or start a new teacher from a plain
        BERT, whose projection is initialised at random from ``seed``. ``config`` shapes a new teacher
        (a checkpoint takes only its lengths: dim and markers are ColBERT's); a saved teacher keeps its own."""
        from transformers import AutoModel, AutoTokenizer

        from hybrid.dense.encoders import model_source

        name_or_path = model_source(str(name_or_path))
        folder = Path(name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
        bert = AutoModel.from_pretrained(str(name_or_path), add_pooling_layer=False)
        if (folder / CONFIG_FILE).is_file():
            from safetensors.torch import load_file

            saved = TeacherConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
            weight = load_file(str(folder / PROJECTION_FILE))["weight"]
            return cls(bert, tokenizer, saved, _linear(weight))
        weight = _checkpoint_projection(str(name_or_path))
        if weight is not None:
            config = replace(
                config or TeacherConfig(),
                dim=weight.shape[0],
                query_marker="[unused0]",
                doc_marker="[unused1]",
                end_with_sep=True,
            )
            return cls(bert, tokenizer, config, _linear(weight))
        config = config or TeacherConfig()
        generator = torch.Generator().manual_seed(seed)
        projection = nn.Linear(bert.config.hidden_size, config.dim, bias=False)
        with torch.no_grad():
            bound = 1 / bert.config.hidden_size**0.5
            projection.weight.uniform_(-bound, bound, generator=generator)
        return cls(bert, tokenizer, config, projection)

    def save_to(self, folder: Path) -> None:
        """Write the teacher into an existing (empty) folder."""
        from safetensors.torch import save_file

        self.bert.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        save_file(
            {"weight": self.projection.weight.detach().cpu().contiguous()}, str(folder / PROJECTION_FILE)
        )
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the teacher as a folder, atomically."""
        with atomic_directory(path, overwrite=overwrite) as tmp:
            self.save_to(tmp)
        return Path(path)

    # ---- tokenisation ---------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.projection.weight.device

    def tokenize_queries(self, queries: list[str]) -> dict[str, torch.Tensor]:
        """``[CLS] [Q] q`` (``[SEP]`` if configured), padded with ``[MASK]`` to ``query_length``."""
        length = self.config.query_length
        rows = self._rows(queries, self._query_marker, length)
        ids = torch.full((len(rows), length), self.tokenizer.mask_token_id, dtype=torch.long)
        attention = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            attention[i, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": attention}

    def tokenize_docs(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """``[CLS] [D] d`` padded to the longest; ``token_mask`` marks the tokens MaxSim may use."""
        rows = self._rows(texts, self._doc_marker, self.config.doc_length)
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            attention[i, : len(row)] = 1
        token_mask = attention.bool()
        if self.config.mask_punctuation:
            text_part = torch.zeros_like(token_mask)
            text_part[:, 1 + len(self._doc_marker) :] = True
            token_mask &= ~(text_part & torch.isin(ids, self._punctuation))
        return {"input_ids": ids, "attention_mask": attention, "token_mask": token_mask}

    def _rows(self, texts: list[str], marker: list[int], length: int) -> list[list[int]]:
        if not texts:
            raise ValueError("no texts to tokenize")
        tail = [self.tokenizer.sep_token_id] if self.config.end_with_sep else []
        budget = length - 1 - len(marker) - len(tail)
        if budget < 1:
            raise ValueError(f"length {length} leaves no room for text after the markers")
        pieces = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=budget)[
            "input_ids"
        ]
        return [[self.tokenizer.cls_token_id, *marker, *p, *tail] for p in pieces]

    # ---- encoding and scoring -------------------------------------------------------------------

    def _project(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.bert(
            input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device)
        ).last_hidden_state
        return nn.functional.normalize(self.projection(states), dim=-1)

    def encode_queries(self, queries: list[str]) -> torch.Tensor:
        """Token vectors ``[B, query_length, dim]`` (all positions take part in MaxSim)."""
        inputs = self.tokenize_queries(queries)
        return self._project(inputs["input_ids"], inputs["attention_mask"])

    def encode_docs(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token vectors ``[B, L, dim]`` and the boolean mask of the tokens MaxSim uses."""
        inputs = self.tokenize_docs(texts)
        return self._project(inputs["input_ids"], inputs["attention_mask"]), inputs["token_mask"].to(
            self.device
        )

    def forward(self, queries: list[str], docs: list[str]) -> torch.Tensor:
        """MaxSim of every query against every document, ``[len(queries), len(docs)]``."""
        doc_vectors, doc_mask = self.encode_docs(docs)
        return maxsim(self.encode_queries(queries), doc_vectors, doc_mask)


def pairwise_loss(teacher: ColBERT, batch: list[Triple | Example]) -> tuple[torch.Tensor, dict[str, float]]:
    """ColBERT's softmax cross-entropy of each query's positive against its own negatives (one negative
    for a triple: the pairwise loss; several for a candidate list)."""
    scores = teacher([t.query for t in batch], in_batch_passages(batch))
    own = [scores[i, columns] for i, columns in enumerate(list_columns(batch))]
    target = torch.zeros(1, dtype=torch.long, device=scores.device)
    loss = torch.stack([nn.functional.cross_entropy(row[None], target) for row in own]).mean()
    accuracy = float(np.mean([(row[0] > row[1:]).all().item() for row in own]))
    return loss, {"pair_accuracy": accuracy}


def train_teacher(
    teacher: ColBERT,
    triples: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: TrainingOptions | None = None,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Fine-tune ``teacher`` on (query, positive, negative) triples; the result is saved at ``output``."""
    return train(
        model=teacher,
        loss_fn=lambda batch: pairwise_loss(teacher, worker_part(batch)),
        triples=triples,
        options=options or TrainingOptions(),
        output=output,
        save=teacher.save_to,
        resume=resume,
        overwrite=overwrite,
        checkpoint_dir=checkpoint_dir,
    )


def _linear(weight: torch.Tensor) -> nn.Linear:
    projection = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        projection.weight.copy_(weight)
    return projection


def _marker_ids(tokenizer, marker: str) -> list[int]:
    """A marker that is one vocabulary entry (``[unused0]``) is that id; otherwise its word pieces."""
    vocab = tokenizer.get_vocab()
    if marker in vocab:
        return [vocab[marker]]
    return tokenizer(marker, add_special_tokens=False)["input_ids"]


def _punctuation_ids(tokenizer) -> set[int]:
    vocab = tokenizer.get_vocab()
    return {vocab[symbol] for symbol in string.punctuation if symbol in vocab}


def _checkpoint_projection(name_or_path: str) -> torch.Tensor | None:
    """``linear.weight`` of a ColBERT checkpoint, or None for a plain BERT."""
    path = _weights_file(name_or_path)
    if path is None:
        return None
    if path.name.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            names = set(handle.keys())
            return handle.get_tensor("linear.weight") if "linear.weight" in names else None
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("linear.weight")


def _weights_file(name_or_path: str) -> Path | None:
    folder = Path(name_or_path)
    if folder.is_dir():
        return next((folder / n for n in CHECKPOINT_WEIGHTS if (folder / n).is_file()), None)
    from huggingface_hub import hf_hub_download

    for name in CHECKPOINT_WEIGHTS:
        try:
            return Path(hf_hub_download(name_or_path, name))
        except Exception:  # noqa: BLE001 - the hub raises many kinds; try the next file name
            continue
    return None
