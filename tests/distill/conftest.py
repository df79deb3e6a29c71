"""Tiny randomly initialised BERTs with a small local vocabulary (no downloads), and a fixed batch."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """An HF folder holding a 2-layer, 32-dim BERT with random weights and a word-level vocabulary."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "[unused1]"]
    letters = list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase]
    vocab = specials + list(string.punctuation) + letters + WORDS
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder


@pytest.fixture
def triples_file(tmp_path) -> Path:
    """Eight hand-written triples about toy biomedical facts."""
    rows = [
        ("what does the virus cause", "the virus cause cancer in cells", "the heart dose is high"),
        ("how does the drug affect blood", "the drug increase blood cell risk", "brain study of patients"),
        ("what is the gene effect", "the gene effect on protein is low", "a vaccine for the heart"),
        ("does the vaccine work", "the vaccine decrease virus risk", "the gene of cells"),
        ("cancer risk of the dose", "high dose increase cancer risk", "the brain and the heart"),
        ("how are brain cells", "brain cells are low in patients", "the drug for blood"),
        ("heart study patients", "a heart study with patients", "protein gene cause"),
        ("what protein in blood", "the blood protein is high", "a virus in the brain"),
    ]
    path = tmp_path / "triples.tsv"
    path.write_text("".join("\t".join(row) + "\n" for row in rows))
    return path


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models run fastest on one thread, above all on a shared machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
