"""The tiny randomly initialised BERT the distillation and Ray training tests share (no downloads), and the
hand-written triples they train on."""

from __future__ import annotations

import string
from pathlib import Path

WORDS = [
    "the",
    "of",
    "and",
    "in",
    "to",
    "is",
    "for",
    "with",
    "on",
    "cells",
    "protein",
    "gene",
    "cancer",
    "risk",
    "blood",
    "cell",
    "virus",
    "vaccine",
    "study",
    "patients",
    "effect",
    "increase",
    "decrease",
    "high",
    "low",
    "dose",
    "drug",
    "brain",
    "heart",
    "what",
    "does",
    "cause",
    "how",
    "are",
]

TRIPLES = [
    ("what does the virus cause", "the virus cause cancer in cells", "the heart dose is high"),
    ("how does the drug affect blood", "the drug increase blood cell risk", "brain study of patients"),
    ("what is the gene effect", "the gene effect on protein is low", "a vaccine for the heart"),
    ("does the vaccine work", "the vaccine decrease virus risk", "the gene of cells"),
    ("cancer risk of the dose", "high dose increase cancer risk", "the brain and the heart"),
    ("how are brain cells", "brain cells are low in patients", "the drug for blood"),
    ("heart study patients", "a heart study with patients", "protein gene cause"),
    ("what protein in blood", "the blood protein is high", "a virus in the brain"),
]


def save_tiny_bert(
    folder: Path,
    vocabulary: list[str] | None = None,
    *,
    seed: int = 0,
    hidden: int = 32,
    dropout: float = 0.1,
    max_positions: int = 128,
) -> Path:
    """A 2-layer BERT with random weights (``seed``) and an uncased word-level tokenizer over ``vocabulary``
    (default: :data:`WORDS` plus letters and punctuation, so that any text tokenizes) in ``folder``;
    ``dropout=0`` makes runs that split a batch differently see the same forward pass."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    if vocabulary is None:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "[unused1]"]
        letters = list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase]
        vocabulary = specials + list(string.punctuation) + letters + WORDS
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocabulary)}, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_positions,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder


def write_triples(path: Path) -> Path:
    """:data:`TRIPLES` as a triples TSV."""
    path.write_text("".join("\t".join(row) + "\n" for row in TRIPLES))
    return path
