"""The TCT-ColBERT input convention (Lin, Yang, Lin 2020) as Pyserini applies it, at the torch level.

Queries read ``"[CLS] [Q] " + query + "[MASK]" * 36``, tokenised without special tokens and cut to 36
wordpieces, so every query is exactly 36 positions long: the query tokens followed by ``[MASK]``
augmentation. Documents read ``"[CLS] [D] " + text``. The four marker positions (``[CLS]``, ``[``,
``q``/``d``, ``]``) are skipped; the rest is averaged (documents under their attention mask). No
normalisation: the student is scored by dot product. Inference and distillation both use these
functions, so a trained student and the searcher agree on the convention by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

QUERY_MARKER = "[CLS] [Q] "
DOC_MARKER = "[CLS] [D] "
MARKER_POSITIONS = 4  # [CLS] [ q ] (or [ d ])
QUERY_MAX_LENGTH = 36
DOC_MAX_LENGTH = 512


def query_texts(queries: Sequence[str], max_length: int = QUERY_MAX_LENGTH) -> list[str]:
    """Queries with the query marker and enough ``[MASK]`` tokens to fill ``max_length`` positions."""
    return [QUERY_MARKER + query + "[MASK]" * max_length for query in queries]


def doc_texts(texts: Sequence[str]) -> list[str]:
    """Documents with the document marker."""
    return [DOC_MARKER + text for text in texts]


def query_inputs(tokenizer, queries: Sequence[str], max_length: int = QUERY_MAX_LENGTH):
    """Tokenised queries (a BatchEncoding of ``len(queries) x max_length`` tensors)."""
    return tokenizer(
        query_texts(queries, max_length),
        max_length=max_length,
        truncation=True,
        padding="longest",
        add_special_tokens=False,
        return_tensors="pt",
    )


def doc_inputs(tokenizer, texts: Sequence[str], max_length: int = DOC_MAX_LENGTH):
    """Tokenised documents, padded to the longest in the batch."""
    return tokenizer(
        doc_texts(texts),
        max_length=max_length,
        truncation=True,
        padding="longest",
        add_special_tokens=False,
        return_tensors="pt",
    )


def pool_queries(last_hidden_state):
    """Mean over every position after the markers (query tokens and [MASK] augmentation alike)."""
    return last_hidden_state[:, MARKER_POSITIONS:, :].mean(dim=1)


def pool_docs(last_hidden_state, attention_mask):
    """Attention-masked mean over the positions after the markers."""
    return masked_mean(last_hidden_state[:, MARKER_POSITIONS:, :], attention_mask[:, MARKER_POSITIONS:])


def masked_mean(hidden, attention_mask):
    """Mean of ``hidden`` over the positions where ``attention_mask`` is 1 (0 for an all-padding row)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
