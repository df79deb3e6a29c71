"""Training triples (query, positive, negative) as text TSV: MS MARCO ``triples.train.small.tsv`` or mined.

``mine_triples`` builds a triples file from a BEIR-style train split (topics + qrels), taking negatives
from a run's top-k minus the judged positives, so that a training run can be repeated from the file.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from hybrid.errors import InputError
from hybrid.formats import Qrels, Run, iter_corpus, read_topics
from hybrid.formats._text import numbered_lines
from hybrid.io import atomic_write

SHUFFLE_LIMIT = 256 * 2**20  # files up to this size are shuffled in memory; larger ones stream in file order
_WHITESPACE = re.compile(r"\s+")


class Triple(NamedTuple):
    query: str
    positive: str
    negative: str


def read_triples(path: str | os.PathLike[str]) -> Iterator[Triple]:
    """Stream ``query<TAB>positive<TAB>negative`` lines (plain or .gz)."""
    path = Path(path)
    for number, line in numbered_lines(path):
        fields = line.split("\t")
        if len(fields) != 3 or not all(f.strip() for f in fields):
            raise InputError(
                path,
                number,
                f"expected 3 non-empty tab-separated columns (query, positive, negative), "
                f"found {len(fields)}",
            )
        yield Triple(*fields)


def iter_batches(
    path: str | os.PathLike[str], batch_size: int, seed: int = 42, shuffle: bool | None = None, start: int = 0
) -> Iterator[list[Triple]]:
    """Endless batches of triples, epoch after epoch, beginning at triple number ``start`` of the stream.

    With ``shuffle`` (default: when the file is at most ``SHUFFLE_LIMIT`` bytes) the triples are held in
    memory and each epoch is a permutation seeded by ``seed`` and the epoch number; otherwise the file is
    streamed in its own order (``triples.train.small.tsv`` is already shuffled). The stream depends only
    on (file, seed, shuffle), so a resumed run sees the batches it would have seen.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    stream = _stream(Path(path), seed, shuffle, start)
    while True:
        yield [next(stream) for _ in range(batch_size)]


def _stream(path: Path, seed: int, shuffle: bool | None, start: int) -> Iterator[Triple]:
    if shuffle is None:
        shuffle = path.stat().st_size <= SHUFFLE_LIMIT
    if shuffle:
        triples = list(read_triples(path))
        if not triples:
            raise InputError(path, None, "no triples")
        epoch, offset = divmod(start, len(triples))
        while True:
            order = list(range(len(triples)))
            random.Random(f"{seed}:{epoch}").shuffle(order)
            for index in order[offset:]:
                yield triples[index]
            epoch, offset = epoch + 1, 0
    position = 0
    while True:
        seen_any = False
        for triple in read_triples(path):
            seen_any = True
            if position >= start:
                yield triple
            position += 1
        if not seen_any:
            raise InputError(path, None, "no triples")


def mine_triples(
    topics: str | os.PathLike[str] | dict[str, str],
    qrels: str | os.PathLike[str] | Qrels,
    run: str | os.PathLike[str] | Run,
    corpus: str | os.PathLike[str],
    output: str | os.PathLike[str],
    depth: int = 100,
    negatives_per_positive: int = 4,
    seed: int = 42,
    overwrite: bool = False,
) -> tuple[Path, int]:
    """Write triples for every judged (query, positive): negatives drawn without replacement from the
    query's top-``depth`` run hits that are not judged relevant. Returns (path, number of triples).

    Queries without positives or without any negative candidate are skipped.
    """
    topics = topics if isinstance(topics, dict) else read_topics(topics)
    qrels = qrels if isinstance(qrels, Qrels) else Qrels.read(qrels)
    run = (run if isinstance(run, Run) else Run.read(run)).top(depth)
    candidates = {qid: [d for d in docids if qrels.get(qid, {}).get(d, 0) <= 0] for qid, docids, _ in run}
    rng = random.Random(seed)
    pairs: list[tuple[str, str, list[str]]] = []
    for qid, judged in qrels.items():
        positives = sorted(d for d, grade in judged.items() if grade > 0)
        pool = candidates.get(qid, [])
        if qid not in topics or not positives or not pool:
            continue
        for positive in positives:
            pairs.append((qid, positive, rng.sample(pool, min(negatives_per_positive, len(pool)))))
    if not pairs:
        raise ValueError("no triples: no query has both a judged positive in the corpus and a run negative")
    needed = {p for _, p, _ in pairs} | {n for _, _, negs in pairs for n in negs}
    texts = {doc.docid: _one_line(doc.contents) for doc in iter_corpus(corpus) if doc.docid in needed}
    count = 0
    with atomic_write(output, overwrite=overwrite) as out:
        for qid, positive, negatives in pairs:
            if positive not in texts:
                continue
            for negative in negatives:
                out.write(f"{_one_line(topics[qid])}\t{texts[positive]}\t{texts[negative]}\n")
                count += 1
    if count == 0:
        Path(output).unlink()
        raise ValueError(f"no triples: none of the judged positives is in corpus {corpus}")
    return Path(output), count


def _one_line(text: str) -> str:
    """Collapse tabs and newlines so that a text fits in one TSV field."""
    return _WHITESPACE.sub(" ", text).strip()
