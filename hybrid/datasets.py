"""Symbolic names for the bundled collections, usable wherever a path is accepted (as in Pyserini)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# An installed wheel carries data/ and qrels/ inside the package (setup.py copies them there); a
# checkout (and an editable install) reads them from the repository's top level.
_PACKAGE = Path(__file__).resolve().parent
ROOT = _PACKAGE / "_bundled" if (_PACKAGE / "_bundled").is_dir() else _PACKAGE.parent
DATA = ROOT / "data"
QRELS = ROOT / "qrels"


@dataclass(frozen=True)
class TopicSet:
    """A bundled topic set: where its queries live and, for BEIR splits, which qrels select them."""

    topics: Path
    qrels: Path

    @property
    def selects_by_qrels(self) -> bool:
        """BEIR keeps all queries in one file; a split's topics are the queries its qrels judge."""
        return self.topics.suffix == ".jsonl"


TOPIC_SETS: dict[str, TopicSet] = {
    "scifact-test": TopicSet(DATA / "scifact/queries.jsonl", QRELS / "scifact/test.tsv"),
    "scifact-train": TopicSet(DATA / "scifact/queries.jsonl", QRELS / "scifact/train.tsv"),
    # seeded split of scifact-train (hybrid.distill.splits): fit to train on, dev to choose settings on
    "scifact-train-fit": TopicSet(DATA / "scifact/queries.jsonl", QRELS / "scifact/train-fit.tsv"),
    "scifact-train-dev": TopicSet(DATA / "scifact/queries.jsonl", QRELS / "scifact/train-dev.tsv"),
    "nfcorpus-test": TopicSet(DATA / "nfcorpus/queries.jsonl", QRELS / "nfcorpus/test.tsv"),
    "nfcorpus-dev": TopicSet(DATA / "nfcorpus/queries.jsonl", QRELS / "nfcorpus/dev.tsv"),
    "nfcorpus-train": TopicSet(DATA / "nfcorpus/queries.jsonl", QRELS / "nfcorpus/train.tsv"),
    "msmarco-passage-dev-subset": TopicSet(
        DATA / "msmarco-passage/topics.msmarco-passage.dev-subset.txt",
        QRELS / "msmarco-passage/qrels.msmarco-passage.dev-subset.txt",
    ),
    "dl19-passage": TopicSet(
        DATA / "msmarco-passage/topics.dl19-passage.txt", QRELS / "msmarco-passage/qrels.dl19-passage.txt"
    ),
    "dl20-passage": TopicSet(
        DATA / "msmarco-passage/topics.dl20.txt", QRELS / "msmarco-passage/qrels.dl20-passage.txt"
    ),
}

CORPORA: dict[str, Path] = {
    "scifact": DATA / "scifact/corpus.jsonl.gz",
    "nfcorpus": DATA / "nfcorpus/corpus.jsonl.gz",
}


def _unknown(kind: str, name: str, known: dict) -> FileNotFoundError:
    return FileNotFoundError(
        f"{name}: no such file, and not a known {kind} name (known: {', '.join(sorted(known))})"
    )


def qrels_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A qrels file path, or the bundled qrels of a symbolic topic-set name."""
    path = Path(name_or_path)
    if path.exists():
        return path
    if str(name_or_path) in TOPIC_SETS:
        return TOPIC_SETS[str(name_or_path)].qrels
    raise _unknown("qrels", str(name_or_path), TOPIC_SETS)


def topic_set(name_or_path: str | os.PathLike[str]) -> TopicSet | None:
    """The bundled topic set of a symbolic name, or None when ``name_or_path`` is an existing file."""
    if Path(name_or_path).exists():
        return None
    if str(name_or_path) in TOPIC_SETS:
        return TOPIC_SETS[str(name_or_path)]
    raise _unknown("topics", str(name_or_path), TOPIC_SETS)


def corpus_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A corpus path (file or JsonCollection folder), or the bundled corpus of a symbolic name."""
    path = Path(name_or_path)
    if path.exists():
        return path
    if str(name_or_path) in CORPORA:
        return CORPORA[str(name_or_path)]
    raise _unknown("corpus", str(name_or_path), CORPORA)
