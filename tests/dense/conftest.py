"""Tiny randomly initialised BERT checkpoints built locally (no downloads) and a small real corpus."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from tiny_models import save_tiny_bert

WORDS = [
    "the",
    "a",
    "of",
    "and",
    "in",
    "to",
    "is",
    "for",
    "with",
    "on",
    "by",
    "as",
    "at",
    "from",
    "that",
    "this",
    "are",
    "be",
    "was",
    "we",
    "cell",
    "cells",
    "protein",
    "gene",
    "genes",
    "cancer",
    "tumor",
    "risk",
    "study",
    "patients",
    "blood",
    "human",
    "mouse",
    "expression",
    "increased",
    "reduced",
    "levels",
    "response",
    "treatment",
    "disease",
    "dna",
    "rna",
    "virus",
    "immune",
    "brain",
    "heart",
    "acid",
    "high",
    "low",
    "effect",
    "effects",
    "role",
]


def tct_vocabulary() -> list[str]:
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[", "]", "q", "d", ".", ",", "-", "(", ")"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1) if chr(c) not in "qd"]
    pieces = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    digits = list("0123456789")
    return list(dict.fromkeys(special + letters + digits + WORDS + pieces))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny random BERT whose vocabulary has TCT-ColBERT's marker tokens ([, ], q, d, [MASK])."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert", tct_vocabulary(), max_positions=512)


@pytest.fixture(scope="session")
def tiny_bert_without_markers(tmp_path_factory) -> Path:
    """A tiny random BERT whose vocabulary lacks "q", "d", "[" and "]": TCT-ColBERT does not fit it."""
    vocabulary = [t for t in tct_vocabulary() if t not in {"q", "d", "[", "]"}]
    return save_tiny_bert(tmp_path_factory.mktemp("tiny") / "no-markers", vocabulary, max_positions=512)


@pytest.fixture(scope="session")
def small_corpus(scifact_slice, tmp_path_factory) -> Path:
    """The first 120 documents of the SciFact slice (BEIR jsonl)."""
    path = tmp_path_factory.mktemp("small") / "corpus.jsonl"
    with open(scifact_slice) as src:
        path.write_text("".join(itertools.islice(src, 120)))
    return path


@pytest.fixture(scope="session")
def small_topics(tmp_path_factory) -> Path:
    """A few SciFact test queries as a TSV topic file."""
    from hybrid import read_topics

    topics = dict(itertools.islice(read_topics("scifact-test").items(), 12))
    path = tmp_path_factory.mktemp("topics") / "topics.tsv"
    path.write_text("".join(f"{q}\t{t}\n" for q, t in topics.items()))
    return path
