"""Sparse fixtures: full bundled SciFact and NFCorpus indexes (built once), a tiny random T5, small corpora."""

from __future__ import annotations

from pathlib import Path

import pytest
from sparse_toys import NONCE_WORDS, TOY_DOCS, write_jsonl


@pytest.fixture(scope="session")
def scifact_index(tmp_path_factory) -> Path:
    """The whole bundled SciFact corpus, indexed on one thread as Anserini's BEIR regression does."""
    from hybrid.sparse import build_index

    return build_index("scifact", tmp_path_factory.mktemp("scifact") / "index", threads=1)


@pytest.fixture(scope="session")
def nfcorpus_index(tmp_path_factory) -> Path:
    """The whole bundled NFCorpus, indexed on three threads."""
    from hybrid.sparse import build_index

    return build_index("nfcorpus", tmp_path_factory.mktemp("nfcorpus") / "index", threads=3)


@pytest.fixture
def toy_corpus(tmp_path) -> Path:
    return write_jsonl(tmp_path / "corpus.jsonl", TOY_DOCS)


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory) -> Path:
    """An HF folder with a 1-layer, 16-dim T5 (random weights) and a word-level tokenizer of nonce words."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny-t5")
    vocab = {token: i for i, token in enumerate(["<pad>", "</s>", "<unk>", *NONCE_WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(vocab),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder
