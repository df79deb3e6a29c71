"""Training data: triples (query, positive, negative) as text TSV (MS MARCO ``triples.train.small.tsv``
or mined), or candidate lists as JSON lines (a positive and several hard negatives, with ids).

``mine_triples`` builds a triples file from a BEIR-style train split (topics + qrels), taking negatives
from a run's top-k minus the judged positives, so that a training run can be repeated from the file.
``mine_lists`` writes one list per judged (query, positive): ``{"qid", "query", "docids", "passages"}``,
the positive first, then negatives drawn from the union of several runs' top-k (BM25, the student
itself), never a judged positive, and optionally not one the teacher scores above every judged positive
(a likely unjudged relevant passage: teacher-assisted false-negative filtering).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from hybrid.errors import InputError
from hybrid.formats import Qrels, Run, iter_corpus, read_topics
from hybrid.formats.text import json_lines, numbered_lines
from hybrid.io import atomic_write

SHUFFLE_LIMIT = 256 * 2**20  # files up to this size are shuffled in memory; larger ones stream in file order
_WHITESPACE = re.compile(r"\s+")


class Triple(NamedTuple):
    query: str
    positive: str
    negative: str

    @property
    def passages(self) -> tuple[str, str]:
        return (self.positive, self.negative)

    qid = None
    docids = None


class Example(NamedTuple):
    """One candidate list: the query, its positive first and then its hard negatives (texts and ids)."""

    query: str
    passages: tuple[str, ...]
    qid: str | None = None
    docids: tuple[str, ...] | None = None

    @property
    def positive(self) -> str:
        return self.passages[0]

    @property
    def negative(self) -> str:
        return self.passages[1]


def read_examples(path: str | os.PathLike[str]) -> Iterator[Triple | Example]:
    """Triples from a TSV file, or candidate lists from a ``.jsonl`` (``.jsonl.gz``) file."""
    path = Path(path)
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        yield from read_triples(path)
        return
    for number, obj in json_lines(path):
        passages, docids = obj.get("passages"), obj.get("docids")
        if not isinstance(obj.get("query"), str) or not isinstance(passages, list) or len(passages) < 2:
            raise InputError(path, number, 'expected {"query": str, "passages": [positive, negative, ...]}')
        if docids is not None and len(docids) != len(passages):
            raise InputError(path, number, f"{len(docids)} docids for {len(passages)} passages")
        yield Example(
            obj["query"],
            tuple(passages),
            None if obj.get("qid") is None else str(obj["qid"]),
            None if docids is None else tuple(str(d) for d in docids),
        )


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
) -> Iterator[list[Triple | Example]]:
    """Endless batches of triples (or candidate lists, see :func:`read_examples`), epoch after epoch, beginning at triple number ``start`` of the stream.

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
        triples = list(read_examples(path))
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
        for triple in read_examples(path):
            seen_any = True
            if position >= start:
                yield triple
            position += 1
        if not seen_any:
            raise InputError(path, None, "no triples")


def in_batch_passages(batch: list[Triple | Example]) -> list[str]:
    """The passages every query is scored against: for triples all positives, then all negatives (the
    layout of the original TCT in-batch loss); for lists each query's list in turn."""
    if all(isinstance(t, Triple) for t in batch):
        return [t.positive for t in batch] + [t.negative for t in batch]
    return [p for t in batch for p in t.passages]


def list_columns(batch: list[Triple | Example]) -> list[list[int]]:
    """For each query, the columns of :func:`in_batch_passages` that hold its own list (positive first)."""
    if all(isinstance(t, Triple) for t in batch):
        return [[i, len(batch) + i] for i in range(len(batch))]
    columns, start = [], 0
    for t in batch:
        columns.append(list(range(start, start + len(t.passages))))
        start += len(t.passages)
    return columns


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
    topics, qrels, pools, _ = _judged_pools(topics, qrels, [run], depth)
    pairs = _draw_negatives(topics, qrels, pools, negatives_per_positive, seed)
    if not pairs:
        raise ValueError("no triples: no query has both a judged positive in the corpus and a run negative")
    texts = _passage_texts(corpus, pairs)
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


def mine_lists(
    topics: str | os.PathLike[str] | dict[str, str],
    qrels: str | os.PathLike[str] | Qrels,
    runs: list[str | os.PathLike[str] | Run],
    corpus: str | os.PathLike[str],
    output: str | os.PathLike[str],
    depth: int = 30,
    negatives: int = 3,
    seed: int = 42,
    teacher_scores: Mapping[str, Mapping[str, float]] | None = None,
    positives_per_query: int | None = None,
    overwrite: bool = False,
    skip: int = 0,
    positive_depth: int | None = None,
) -> tuple[Path, int]:
    """Write one candidate list per judged (query, positive) as JSON lines: the positive, then
    ``negatives`` passages drawn without replacement from the union of every run's top-``depth`` hits.

    A hit is never a negative if it is judged relevant (grade > 0) for the query, or, with
    ``teacher_scores`` (``{qid: {docid: score}}``), if the teacher scores it at least as high as every
    judged positive of the query (a likely unjudged relevant passage). ``positives_per_query`` keeps
    only that many positives of each query, the highest grades first (ties drawn at random; NFCorpus
    judges about 40 passages per query). ``skip`` leaves every run's top ``skip`` hits out of the
    negatives, and ``positive_depth`` keeps only the positives some run ranks in its top
    ``positive_depth``: NFCorpus's training judgments are loose, so a judged passage drawn at random is
    often less relevant than the unjudged hits near the top. Returns (path, lists written);
    queries without a positive in the corpus or without a negative are skipped.
    """
    if negatives < 1 or depth < 1:
        raise ValueError(f"negatives and depth must be positive (negatives={negatives}, depth={depth})")
    if not 0 <= skip < depth:
        raise ValueError(f"skip must be at least 0 and below depth (skip={skip}, depth={depth})")
    if positive_depth is not None and positive_depth < 1:
        raise ValueError(f"positive depth must be positive, got {positive_depth}")
    topics, qrels, pools, reached = _judged_pools(topics, qrels, runs, depth, skip, positive_depth)
    lists = _draw_negatives(
        topics, qrels, pools, negatives, seed, teacher_scores, positives_per_query, reached
    )
    texts = _passage_texts(corpus, lists)
    count = 0
    with atomic_write(output, overwrite=overwrite) as out:
        for qid, positive, negs in lists:
            if positive not in texts:
                continue
            docids = [positive, *(n for n in negs if n in texts)]
            record = {"qid": qid, "query": _one_line(topics[qid]), "docids": docids}
            out.write(json.dumps({**record, "passages": [texts[d] for d in docids]}) + "\n")
            count += 1
    if count == 0:
        Path(output).unlink()
        raise ValueError(
            f"no lists: no judged positive of {len(qrels)} queries has a negative in corpus {corpus}"
        )
    return Path(output), count


def _judged_pools(
    topics: str | os.PathLike[str] | dict[str, str],
    qrels: str | os.PathLike[str] | Qrels,
    runs: list[str | os.PathLike[str] | Run],
    depth: int,
    skip: int = 0,
    positive_depth: int | None = None,
) -> tuple[dict[str, str], Qrels, dict[str, list[str]], dict[str, set[str]] | None]:
    """Topics and qrels (read if given as names or paths), each query's candidate pool (the union of
    every run's hits ranked ``skip`` + 1 to ``depth``, in run order, less any run's top ``skip``) and,
    with ``positive_depth``, the passages some run ranks in its top ``positive_depth``."""
    topics = topics if isinstance(topics, dict) else read_topics(topics)
    qrels = qrels if isinstance(qrels, Qrels) else Qrels.read(qrels)
    pools: dict[str, dict[str, None]] = {}
    near_top: dict[str, set[str]] = {}
    reached: dict[str, set[str]] = {}
    for run in runs:
        for qid, docids, _ in (run if isinstance(run, Run) else Run.read(run)).top(
            max(depth, positive_depth or 0)
        ):
            pools.setdefault(qid, {}).update(dict.fromkeys(docids[skip:depth]))
            near_top.setdefault(qid, set()).update(docids[:skip])
            if positive_depth is not None:
                reached.setdefault(qid, set()).update(docids[:positive_depth])
    deep = {qid: [d for d in pool if d not in near_top[qid]] for qid, pool in pools.items()}
    return topics, qrels, deep, reached if positive_depth is not None else None


def _draw_negatives(
    topics: Mapping[str, str],
    qrels: Qrels,
    pools: Mapping[str, Iterable[str]],
    negatives: int,
    seed: int,
    teacher_scores: Mapping[str, Mapping[str, float]] | None = None,
    positives_per_query: int | None = None,
    reached: Mapping[str, set[str]] | None = None,
) -> list[tuple[str, str, list[str]]]:
    """(qid, positive, negatives) for every kept judged positive (with ``reached``, only those it
    holds for the query), negatives sampled from the query's pool."""
    rng = random.Random(seed)
    drawn = []
    for qid in sorted(qrels):
        positives = sorted(d for d, grade in qrels[qid].items() if grade > 0)
        if reached is not None:
            positives = [d for d in positives if d in reached.get(qid, ())]
        if qid not in topics or not positives:
            continue
        if positives_per_query is not None and len(positives) > positives_per_query:
            rng.shuffle(positives)
            positives.sort(key=lambda d: -qrels[qid][d])
            positives = sorted(positives[:positives_per_query])
        pool = hard_negative_pool(qid, pools.get(qid, ()), qrels[qid], teacher_scores)
        if pool:
            drawn += [(qid, positive, rng.sample(pool, min(negatives, len(pool)))) for positive in positives]
    return drawn


def _passage_texts(corpus: str | os.PathLike[str], drawn: list[tuple[str, str, list[str]]]) -> dict[str, str]:
    """One-line texts of every passage the drawn examples need."""
    needed = {d for _, positive, negatives in drawn for d in (positive, *negatives)}
    return {doc.docid: _one_line(doc.contents) for doc in iter_corpus(corpus) if doc.docid in needed}


def hard_negative_pool(
    qid: str,
    candidates: Iterable[str],
    judged: Mapping[str, int],
    teacher_scores: Mapping[str, Mapping[str, float]] | None = None,
) -> list[str]:
    """The candidates that may serve as negatives of ``qid``: never a judged positive; with teacher
    scores, never one scored at least as high as every judged positive (scores missing count as low)."""
    pool = [d for d in candidates if judged.get(d, 0) <= 0]
    if teacher_scores is None:
        return pool
    scores = teacher_scores.get(qid, {})
    positive_scores = [scores[d] for d, grade in judged.items() if grade > 0 and d in scores]
    if not positive_scores:
        return pool
    ceiling = max(positive_scores)
    return [d for d in pool if scores.get(d, -math.inf) < ceiling]


def _one_line(text: str) -> str:
    """Collapse tabs and newlines so that a text fits in one TSV field."""
    return _WHITESPACE.sub(" ", text).strip()
