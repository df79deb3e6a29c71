"""Topics (queries): ``qid<TAB>text`` TSV (MS MARCO, TREC DL) and BEIR ``queries.jsonl``."""

from __future__ import annotations

import os
from pathlib import Path

from hybrid import datasets
from hybrid.errors import InputError
from hybrid.formats.text import json_lines, numbered_lines


def read_topics(name_or_path: str | os.PathLike[str]) -> dict[str, str]:
    """Read topics as ``{qid: text}`` in file order, from a path or a bundled name (``scifact-test``).

    For BEIR names the split's queries are those its qrels judge, in the order of ``queries.jsonl``.
    """
    bundled = datasets.topic_set(name_or_path)
    if bundled is None:
        return _read_topics_file(Path(name_or_path))
    topics = _read_topics_file(bundled.topics)
    if not bundled.selects_by_qrels:
        return topics
    from hybrid.formats.qrels import Qrels

    judged = set(Qrels.read(bundled.qrels).query_ids)
    return {qid: text for qid, text in topics.items() if qid in judged}


def _read_topics_file(path: Path) -> dict[str, str]:
    name = path.name.removesuffix(".gz")
    topics: dict[str, str] = {}
    if name.endswith((".jsonl", ".json")):
        for number, obj in json_lines(path):
            qid = obj.get("_id", obj.get("id", obj.get("qid")))
            if qid is None or "text" not in obj:
                raise InputError(path, number, 'a query needs "_id" (or "id") and "text"')
            _add(topics, path, number, str(qid), str(obj["text"]))
        return topics
    for number, line in numbered_lines(path):
        fields = line.split("\t")
        if len(fields) != 2:
            raise InputError(
                path, number, f"expected 2 tab-separated columns (qid, text), found {len(fields)}"
            )
        _add(topics, path, number, fields[0].strip(), fields[1])
    return topics


def _add(topics: dict[str, str], path: Path, number: int, qid: str, text: str) -> None:
    if not qid:
        raise InputError(path, number, "empty query id")
    if qid in topics:
        raise InputError(path, number, f"duplicate query id {qid!r}")
    topics[qid] = text
