"""Relevance judgments: TREC four-column qrels and BEIR ``qrels/*.tsv`` (header, CRLF tolerated)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from hybrid import datasets
from hybrid.errors import InputError
from hybrid.formats.text import numbered_lines
from hybrid.io import atomic_write

BEIR_HEADER = ("query-id", "corpus-id", "score")


class Qrels(Mapping[str, dict[str, int]]):
    """Judgments ``{qid: {docid: grade}}``; grades are kept as given (graded, negative allowed)."""

    def __init__(self, judgments: Mapping[str, Mapping[str, int]], name: str = "qrels"):
        self._judgments = {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in judgments.items()}
        self.name = name

    @classmethod
    def read(cls, name_or_path: str | os.PathLike[str]) -> Qrels:
        """Read a qrels file (TREC or BEIR TSV, detected from the first line) or a bundled name."""
        path = datasets.qrels_path(name_or_path)
        judgments: dict[str, dict[str, int]] = {}
        beir = None
        for number, line in numbered_lines(path):
            fields = line.split()
            if beir is None:
                beir = tuple(fields) == BEIR_HEADER
                if beir:
                    continue
            expected = 3 if beir else 4
            if len(fields) != expected:
                layout = "query-id corpus-id score" if beir else "qid iter docid rel"
                raise InputError(path, number, f"expected {expected} columns ({layout}), found {len(fields)}")
            qid, docid, grade = (
                (fields[0], fields[1], fields[2]) if beir else (fields[0], fields[2], fields[3])
            )
            try:
                rel = int(grade)
            except ValueError:
                raise InputError(path, number, f"relevance {grade!r} is not an integer") from None
            docs = judgments.setdefault(qid, {})
            if docid in docs:
                raise InputError(path, number, f"duplicate judgment for query {qid!r}, document {docid!r}")
            docs[docid] = rel
        if not judgments:
            raise InputError(path, None, "no judgments (only a header)")
        qrels = cls.__new__(cls)
        qrels._judgments, qrels.name = judgments, str(name_or_path)
        return qrels

    def write(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write TREC four-column qrels atomically."""
        with atomic_write(path, overwrite) as out:
            for qid, docs in self._judgments.items():
                out.writelines(f"{qid} 0 {docid} {rel}\n" for docid, rel in docs.items())
        return Path(path)

    @property
    def query_ids(self) -> list[str]:
        """Judged query ids in trec_eval's order (byte-wise string order)."""
        return sorted(self._judgments, key=lambda q: q.encode())

    def num_relevant(self, relevance_level: int = 1) -> dict[str, int]:
        """Per query, the number of documents with grade >= ``relevance_level``."""
        return {q: sum(r >= relevance_level for r in d.values()) for q, d in self._judgments.items()}

    def __getitem__(self, qid: str) -> dict[str, int]:
        return self._judgments[qid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._judgments)

    def __len__(self) -> int:
        return len(self._judgments)

    def __repr__(self) -> str:
        count = sum(len(d) for d in self._judgments.values())
        return f"Qrels({self.name!r}, queries={len(self)}, judgments={count})"
