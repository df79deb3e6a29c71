"""Corpora, streamed lazily: BEIR ``corpus.jsonl[.gz]``, Pyserini JsonCollection, MS MARCO ``collection.tsv``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from hybrid import datasets
from hybrid.errors import InputError
from hybrid.formats.text import json_lines, numbered_lines


class Document(NamedTuple):
    """One passage. ``contents`` is title + " " + text, Anserini's BEIR "flat" convention."""

    docid: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        return f"{self.title} {self.text}" if self.title else self.text


def corpus_files(name_or_path: str | os.PathLike[str]) -> list[Path]:
    """The files of a corpus: one file, or the ``*.jsonl[.gz]``/``*.json`` files of a folder, sorted."""
    path = datasets.corpus_path(name_or_path)
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz"))
        )
        if not files:
            raise FileNotFoundError(f"{path}: folder holds no .jsonl/.json files")
        return files
    return [path]


def iter_corpus(name_or_path: str | os.PathLike[str]) -> Iterator[Document]:
    """Stream the documents of a corpus (path, JsonCollection folder or bundled name), one at a time."""
    for _, _, doc in located_documents(name_or_path):
        yield doc


def located_documents(name_or_path: str | os.PathLike[str]) -> Iterator[tuple[Path, int, Document]]:
    """:func:`iter_corpus` with the file and line number of each document."""
    seen_any = False
    for path in corpus_files(name_or_path):
        for number, doc in _iter_file(path):
            seen_any = True
            yield path, number, doc
    if not seen_any:
        raise InputError(datasets.corpus_path(name_or_path), None, "corpus holds no documents")


def _iter_file(path: Path) -> Iterator[tuple[int, Document]]:
    name = path.name.removesuffix(".gz")
    if name.endswith(".tsv"):
        for number, line in numbered_lines(path):
            fields = line.split("\t")
            if len(fields) < 2 or not fields[0]:
                raise InputError(path, number, "expected docid<TAB>text")
            yield number, Document(fields[0], "", "\t".join(fields[1:]))
        return
    for number, obj in json_lines(path):
        docid = obj.get("_id", obj.get("id", obj.get("docid")))
        if docid is None or docid == "":
            raise InputError(path, number, 'document has no id ("_id" in BEIR, "id" in JsonCollection)')
        if "contents" in obj:
            yield number, Document(str(docid), "", str(obj["contents"]))
        elif "text" in obj:
            yield number, Document(str(docid), str(obj.get("title") or ""), str(obj["text"]))
        else:
            raise InputError(
                path, number, 'document has neither "text" (BEIR) nor "contents" (JsonCollection)'
            )


def count_documents(name_or_path: str | os.PathLike[str]) -> int:
    """Number of documents (one pass over the lines, without parsing JSON)."""
    total = 0
    for path in corpus_files(name_or_path):
        total += sum(1 for _ in numbered_lines(path))
    return total
