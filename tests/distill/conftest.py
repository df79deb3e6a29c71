"""Tiny randomly initialised BERTs with a small local vocabulary (no downloads), and a fixed batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import save_tiny_bert, write_triples


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """An HF folder holding a 2-layer, 32-dim BERT with random weights and a word-level vocabulary."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def triples_file(tmp_path) -> Path:
    """Eight hand-written triples about toy biomedical facts."""
    return write_triples(tmp_path / "triples.tsv")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models run fastest on one thread, above all on a shared machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
