"""Pseudo-queries over an unjudged corpus, without a query generator: each document's last sentence
(in scientific abstracts usually its conclusion, the kind of sentence a claim is written from) is a
query whose pseudo-positive is the document without that sentence (the inverse cloze task, Lee et al.
2019). Every document of the corpus loses its last sentence, so the source is found by what it says
elsewhere, not by the copied words.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

from hybrid.formats import Qrels, iter_corpus
from hybrid.io import atomic_directory, atomic_write

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
MIN_SENTENCES = 4  # the source keeps at least three sentences
MIN_WORDS = 6  # shorter last sentences ("All rights reserved.") make no query
QUERY_PREFIX = "last-"


def split_last_sentence(text: str) -> tuple[str, str] | None:
    """``(text without its last sentence, last sentence)``, or None when the text is too short."""
    sentences = SENTENCE_END.split(text.strip())
    if len(sentences) < MIN_SENTENCES or len(sentences[-1].split()) < MIN_WORDS:
        return None
    return " ".join(sentences[:-1]), sentences[-1]


def last_sentence_queries(
    corpus: str | os.PathLike[str], output: str | os.PathLike[str], count: int, seed: int = 0
) -> tuple[dict[str, str], Qrels]:
    """Write ``corpus`` with every document's last sentence removed to ``output`` (BEIR JSON lines,
    replaced if present) and return ``count`` of those sentences, drawn with ``seed``, as topics
    ``{"last-<docid>": sentence}`` with qrels naming each one's source document."""
    from tqdm.auto import tqdm

    removed: dict[str, str] = {}
    with atomic_write(Path(output), overwrite=True) as out:
        for document in tqdm(iter_corpus(corpus), desc="last sentences", unit="doc"):
            text = document.text
            parts = split_last_sentence(text)
            if parts is not None:
                text, removed[document.docid] = parts
            out.write(json.dumps({"_id": document.docid, "title": document.title, "text": text}) + "\n")
    sources = sorted(removed)
    random.Random(seed).shuffle(sources)
    topics = {QUERY_PREFIX + docid: removed[docid] for docid in sources[:count]}
    return topics, Qrels({qid: {qid.removeprefix(QUERY_PREFIX): 1} for qid in topics})


def write_pseudo_queries(
    corpus: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    count: int,
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[Path, int]:
    """Write an inverse-cloze training set to ``folder`` (built under a temporary name, then moved into
    place): ``corpus.jsonl`` (every document without its last sentence), ``queries.jsonl`` (``count``
    of those sentences, BEIR JSON lines) and ``qrels.txt`` (each query's source document, TREC qrels).
    Returns the folder and the number of queries, which is below ``count`` when fewer documents qualify."""
    with atomic_directory(folder, overwrite) as building:
        topics, qrels = last_sentence_queries(corpus, building / "corpus.jsonl", count, seed)
        if not topics:
            raise ValueError(
                f"no document of {corpus} has {MIN_SENTENCES} sentences and a last one of {MIN_WORDS}+ words"
            )
        lines = (json.dumps({"_id": qid, "text": text}) + "\n" for qid, text in topics.items())
        # a plain write: the whole folder is the temporary that moves into place
        (building / "queries.jsonl").write_text("".join(lines), encoding="utf-8")
        qrels.write(building / "qrels.txt")
    return Path(folder), len(topics)
