"""Runs: TREC (``qid Q0 docid rank score tag``) and MS MARCO (``qid<TAB>docid<TAB>rank``) files.

A :class:`Run` is columnar: query and document ids are interned (``int32`` codes into string
vocabularies held as Arrow arrays) and scores are one ``float64`` array, so a 7M-line run fits
in a few hundred MB. Rows are always in trec_eval's order: query id (byte order), score
descending, ties broken by document id descending.

Files are parsed and written by a small C module (``_runio.c``); a file it does not take as it is
(a malformed line, a non-ASCII id, a score spelled like ``1_0``) goes through the line-by-line reader,
which gives the same run or names the file, line and problem.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import mmap
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybrid import columns
from hybrid._threads import ordered_map
from hybrid.errors import InputError
from hybrid.formats import _runio
from hybrid.formats.text import BOM, GZIP_ERRORS, check_file, is_gzip, numbered_lines
from hybrid.io import atomic_write

TREC_COLUMNS = ("qid", "q0", "docid", "rank", "score", "tag")
MSMARCO_COLUMNS = ("qid", "docid", "rank")
FORMATS = ("trec", "msmarco")
# Rows formatted per call of the compiled writer: chunks of ~10 MB stay below glibc's largest mmap
# threshold, so their memory is reused from chunk to chunk instead of being faulted in afresh.
_WRITE_CHUNK = 1 << 18


class Run:
    """A ranked list per query, sorted as trec_eval sorts it.

    Document ids are read as ``doc_ids`` (the id of every row, Arrow strings) or, per query, by
    iterating the run. Stored columns: ``query_ids`` (Arrow string vocabulary in byte order),
    ``doc_vocabulary`` (an Arrow string array, or for runs whose doc ids are all plain integers such
    as MS MARCO's, a sorted ``int64`` array: no string hashing), ``qids``/``docs`` (``int32`` codes
    per row into those vocabularies), ``scores`` (``float64`` per row), ``offsets`` (rows of query
    ``i`` are ``offsets[i]:offsets[i+1]``) and ``name`` (run tag).
    """

    #: Set by the MS MARCO reader to the file read: the scores are 1/rank stand-ins (see require_scores).
    scores_from_ranks: str | None = None

    def __init__(
        self,
        query_ids: pa.Array,
        doc_vocabulary: pa.Array | np.ndarray,
        qids: np.ndarray,
        docs: np.ndarray,
        scores: np.ndarray,
        name: str = "hybrid",
    ):
        qids, docs = _codes("qids", qids), _codes("docs", docs)
        scores = np.asarray(scores, dtype=np.float64)
        _check_columns(query_ids, doc_vocabulary, qids, docs, scores)
        self.query_ids, self.doc_vocabulary = query_ids, doc_vocabulary
        self.qids, self.docs, self.scores = qids, docs, scores
        self.name = name
        # rows are grouped by ascending query code
        bounds = np.arange(len(query_ids) + 1, dtype=qids.dtype)
        self.offsets = np.searchsorted(qids, bounds).astype(np.int64)

    # ----------------------------------------------------------------- building
    @classmethod
    def from_columns(
        cls,
        qids: Sequence[str] | pa.Array,
        docids: Sequence[str] | pa.Array,
        scores: Sequence[float] | np.ndarray,
        name: str = "hybrid",
    ) -> Run:
        """Build from parallel columns in any order. Raises ``ValueError`` on a duplicate (qid, docid)."""
        qids, docids = _arrow_strings(qids), _arrow_strings(docids)
        scores = np.ascontiguousarray(scores, dtype=np.float64)
        if not (len(qids) == len(docids) == len(scores)):
            raise ValueError("qids, docids and scores must have the same length")
        if len(scores) and not np.isfinite(scores).all():
            raise ValueError("scores must be finite numbers")
        query_ids, qcodes = columns.intern_strings(qids, sort=True)
        doc_vocabulary, dcodes = columns.intern_doc_ids(docids)
        return cls._assemble(query_ids, qcodes, doc_vocabulary, dcodes, scores, name)

    @classmethod
    def _assemble(
        cls, query_ids, qcodes, doc_vocabulary, dcodes, scores, name: str, by_score=None, unique=False
    ) -> Run:
        """Sort interned rows into trec_eval order and refuse a repeated (qid, docid). ``by_score``
        True: rows known to be in (qid, score desc) order; ``unique``: known to have no repeat."""
        order = columns.trec_order(qcodes, scores, dcodes, doc_vocabulary, by_score)
        if order is not None:
            qcodes, dcodes, scores = qcodes[order], dcodes[order], scores[order]
        run = cls(query_ids, doc_vocabulary, qcodes, dcodes, scores, name)
        duplicate = None if unique else _first_duplicate(run)
        if duplicate is not None:
            raise ValueError(f"duplicate document {duplicate[1]!r} for query {duplicate[0]!r}")
        return run

    @classmethod
    def from_dict(cls, run: Mapping[str, Mapping[str, float]], name: str = "hybrid") -> Run:
        """Build from ``{qid: {docid: score}}`` (the pytrec_eval / ranx shape)."""
        qids = [q for q, docs in run.items() for _ in docs]
        docids = [d for docs in run.values() for d in docs]
        scores = np.fromiter((s for docs in run.values() for s in docs.values()), np.float64, len(docids))
        return cls.from_columns(qids, docids, scores, name)

    @classmethod
    def read(cls, path: str | os.PathLike[str], format: str = "auto", threads: int = 2) -> Run:
        """Read a TREC or MS MARCO run (``format='auto'`` looks at the first line).

        MS MARCO runs have no score: each hit gets 1/rank, as Pyserini's converter does, so they
        rank correctly but cannot be fused by score. ``threads=2`` parses a large file with integer
        doc ids in two halves side by side.
        """
        path = check_file(path)
        if format == "auto":
            format = detect_format(path)
        if format not in FORMATS:
            raise ValueError(f"unknown run format {format!r}; expected one of {FORMATS}")
        try:
            run = _read_fast(path, format, threads > 1)
        except ValueError:
            run = _read_checked(path, format)
        if format == "msmarco":
            run.scores_from_ranks = str(path)
        return run

    # ----------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.scores)

    @property
    def num_queries(self) -> int:
        return len(self.query_ids)

    def query_list(self) -> list[str]:
        return self.query_ids.to_pylist()

    def __iter__(self) -> Iterator[tuple[str, list[str], np.ndarray]]:
        """Per query, in order: ``(qid, docids, scores)``."""
        for i, qid in enumerate(self.query_ids.to_pylist()):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            yield (
                qid,
                columns.vocabulary_strings(self.doc_vocabulary, self.docs[lo:hi]).to_pylist(),
                self.scores[lo:hi],
            )

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{qid: {docid: score}}`` in rank order (for pytrec_eval, ranx, or inspection)."""
        return {qid: dict(zip(docs, scores.tolist(), strict=True)) for qid, docs, scores in self}

    def ranks(self) -> np.ndarray:
        """1-based rank of every row within its query."""
        return np.arange(len(self), dtype=np.int64) - self.offsets[self.qids] + 1

    def top(self, k: int) -> Run:
        """The first ``k`` hits of every query (the run itself when no query has more)."""
        if not len(self) or np.diff(self.offsets).max() <= k:
            return self
        return self._select(self.ranks() <= k)

    def subset(self, qids: Iterable[str]) -> Run:
        """Only the given queries (ids absent from the run are ignored)."""
        wanted = pc.is_in(self.query_ids, value_set=columns.strings(list(qids)))
        keep = columns.numbers(wanted)[self.qids]
        return self._select(keep)

    def _select(self, keep: np.ndarray) -> Run:
        present = np.unique(self.qids[keep])
        remap = np.full(len(self.query_ids), -1, dtype=np.int32)
        remap[present] = np.arange(len(present), dtype=np.int32)
        selected = Run(
            self.query_ids.take(columns.integers(present)),
            self.doc_vocabulary,
            remap[self.qids[keep]],
            self.docs[keep],
            self.scores[keep],
            self.name,
        )
        selected.scores_from_ranks = self.scores_from_ranks
        return selected

    @property
    def doc_ids(self) -> pa.Array:
        """The document id of every row, as one Arrow string array."""
        return columns.vocabulary_strings(self.doc_vocabulary, self.docs)

    def to_frame(self):
        """A pandas DataFrame with columns qid, docid, rank, score."""
        import pandas as pd

        return pd.DataFrame(
            {
                "qid": self.query_ids.take(columns.integers(self.qids)).to_pandas(),
                "docid": self.doc_ids.to_pandas(),
                "rank": self.ranks(),
                "score": self.scores,
            }
        )

    def __repr__(self) -> str:
        return f"Run({self.name!r}, queries={self.num_queries}, hits={len(self)})"

    # ----------------------------------------------------------------- writing
    def write(
        self,
        path: str | os.PathLike[str],
        format: str = "trec",
        tag: str | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write atomically as TREC (scores to 6 decimals) or MS MARCO (no score)."""
        with RunWriter(path, format, tag or self.name, overwrite) as writer:
            writer.write(self)
        return Path(path)

    def _lines(self, format: str, tag: str) -> Iterator[bytes]:
        """The run's lines as text, in chunks (formatted by the compiled writer on a few threads)."""
        qids, docs = self.qids.astype(np.int32, copy=False), self.docs.astype(np.int32, copy=False)
        scores = self.scores.astype(np.float64, copy=False)
        query_data, query_offsets = _string_buffers(self.query_ids)
        if isinstance(self.doc_vocabulary, np.ndarray):
            numbers, doc_data, doc_offsets = (
                self.doc_vocabulary.astype(np.int64, copy=False),
                b"",
                np.zeros(1, np.int64),
            )
        else:
            numbers, (doc_data, doc_offsets) = None, _string_buffers(self.doc_vocabulary)

        def lines(lo: int) -> bytes:
            rows = slice(lo, lo + _WRITE_CHUNK)
            return _runio.format(
                qids[rows], query_data, query_offsets, docs[rows], numbers, doc_data, doc_offsets,
                scores[rows], self.offsets, lo, tag.encode(), format == "trec",
            )  # fmt: skip

        return ordered_map(lines, range(0, len(self), _WRITE_CHUNK))


class RunWriter:
    """Write a run block by block through one temporary file, renamed into place on success
    (gzip-compressed when the name ends in ``.gz``, as the readers expect).

    Blocks are :class:`Run` objects written in the order given; the caller keeps query ids in order
    (each block's queries after the previous block's) so the file is what one :meth:`Run.write` writes.
    """

    def __init__(
        self, path: str | os.PathLike[str], format: str = "trec", tag: str = "hybrid", overwrite: bool = False
    ):
        if format not in FORMATS:
            raise ValueError(f"unknown run format {format!r}; expected one of {FORMATS}")
        if format == "trec" and (not tag or any(c.isspace() for c in tag)):
            raise ValueError(f"run tag {tag!r} must be one word")
        self.path, self.format, self.tag = Path(path), format, tag
        self._context = atomic_write(path, overwrite, mode="wb")
        self._out = None

    def __enter__(self) -> RunWriter:
        self._out = self._context.__enter__()
        if is_gzip(self.path):  # mtime 0: the same run gives the same bytes
            self._out = gzip.GzipFile(filename="", mode="wb", fileobj=self._out, mtime=0)
        return self

    def __exit__(self, *exc) -> bool | None:
        if isinstance(self._out, gzip.GzipFile) and exc[0] is None:
            self._out.close()  # the gzip trailer, before the file is renamed into place
        return self._context.__exit__(*exc)

    def write(self, run: Run) -> None:
        for chunk in run._lines(self.format, self.tag):
            self._out.write(chunk)


# --------------------------------------------------------------------------- helpers
def _codes(name: str, values) -> np.ndarray:
    """A one-dimensional ``int32`` code column (other integer types are converted when they fit)."""
    values = np.asarray(values)
    if values.ndim != 1 or not (values.dtype.kind in "iu" or (values.dtype.kind == "f" and not len(values))):
        raise ValueError(f"Run: {name} must be a one-dimensional integer array")
    if values.dtype != np.int32:
        if len(values) and (values.min() < np.iinfo(np.int32).min or values.max() > np.iinfo(np.int32).max):
            raise ValueError(f"Run: {name} holds codes outside its vocabulary")
        values = values.astype(np.int32)
    return values


def _is_strings(values) -> bool:
    return isinstance(values, pa.Array) and (
        pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    )


def _check_columns(query_ids, doc_vocabulary, qids: np.ndarray, docs: np.ndarray, scores: np.ndarray) -> None:
    """Refuse columns that would make a run's code point outside its vocabularies (one vectorised
    pass per column): equal lengths, query codes ascending and in range, doc codes in range, finite
    scores, an integer vocabulary sorted, distinct and non-negative."""
    if scores.ndim != 1 or not (len(qids) == len(docs) == len(scores)):
        raise ValueError("Run: qids, docs and scores must be one-dimensional and of the same length")
    if isinstance(doc_vocabulary, np.ndarray):
        if doc_vocabulary.ndim != 1 or doc_vocabulary.dtype.kind not in "iu":
            raise ValueError("Run: an integer doc vocabulary must be a one-dimensional integer array")
        if len(doc_vocabulary) and (
            doc_vocabulary[0] < 0 or np.any(doc_vocabulary[1:] <= doc_vocabulary[:-1])
        ):
            raise ValueError("Run: an integer doc vocabulary must be sorted, distinct and non-negative")
    elif not _is_strings(doc_vocabulary):
        raise ValueError("Run: doc_vocabulary must be an Arrow string array or a sorted integer array")
    if not _is_strings(query_ids):
        raise ValueError("Run: query_ids must be an Arrow string array")
    if not len(scores):
        return
    if qids[0] < 0 or qids[-1] >= len(query_ids) or np.any(qids[1:] < qids[:-1]):
        raise ValueError("Run: qids must be ascending codes into query_ids")
    if docs.min() < 0 or docs.max() >= len(doc_vocabulary):
        raise ValueError("Run: docs holds codes outside doc_vocabulary")
    if not np.isfinite(scores).all():
        raise ValueError("Run: scores must be finite numbers")


def read_runs(paths: Sequence[str | os.PathLike[str]], format: str = "auto") -> list[Run]:
    """:meth:`Run.read` of several files, side by side on threads (one each: a file split in
    halves as well would only add work)."""
    threads = 2 if len(paths) == 1 else 1
    return list(ordered_map(lambda path: Run.read(path, format, threads), paths))


def require_scores(run: Run, what: str) -> Run:
    """``run`` itself, or a ``ValueError`` naming its file when its scores are the 1/rank stand-ins
    of an MS MARCO run, which ``what`` (something that combines scores) cannot use."""
    if run.scores_from_ranks is not None:
        raise ValueError(
            f"{run.scores_from_ranks}: an MS MARCO run has no scores (only ranks), so it cannot be used "
            f"for {what}; give a TREC run with the retriever's scores (reciprocal rank fusion, "
            "fuse --method rrf, takes it)"
        )
    return run


def detect_format(path: Path) -> str:
    """``trec`` for six whitespace-separated columns, ``msmarco`` for three tab-separated ones."""
    for number, line in numbered_lines(path):
        fields = line.split()
        if len(fields) == 6:
            return "trec"
        if len(line.split("\t")) == 3:
            return "msmarco"
        raise InputError(
            path,
            number,
            f"unknown run format: expected 6 columns (TREC: qid Q0 docid rank score tag) or 3 "
            f"tab-separated (MS MARCO: qid docid rank), found {len(fields)}",
        )
    raise InputError(path, None, "empty file")


def _string_buffers(values: pa.Array) -> tuple[pa.Buffer | bytes, np.ndarray]:
    """The character data and ``int64`` offsets of a string array (for the compiled writer)."""
    values = values.cast(pa.large_string())
    offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset : values.offset + len(values) + 1]
    return values.buffers()[2] or b"", offsets


def _arrow_strings(values) -> pa.Array | pa.ChunkedArray:
    """Arrow strings (a chunked Arrow column stays chunked: no copy)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = columns.strings(list(values))
    return values if values.type == pa.string() else values.cast(pa.string())


def _first_duplicate(run: Run) -> tuple[str, str] | None:
    """The first repeated (qid, docid) pair of a run, or None.

    Rows of a query are contiguous, so each query's doc codes are sorted on their own: as one 2-D
    sort when lengths are even enough (padding gets distinct negative values), else one global sort.
    """
    counts = np.diff(run.offsets)
    if not len(counts) or counts.max() < 2:
        return None
    width = int(counts.max())
    if width * len(counts) <= 2 * len(run):
        table = np.tile(-np.arange(1, width + 1, dtype=np.int32), (len(counts), 1))
        positions = np.arange(len(run)) - np.repeat(run.offsets[:-1], counts)
        table[run.qids, positions] = run.docs
        table.sort(axis=1)
        repeated = np.argwhere((table[:, 1:] == table[:, :-1]) & (table[:, 1:] >= 0))
        if not len(repeated):
            return None
        q, column = repeated[0]
        d = int(table[q, column])
    else:
        span = max(len(run.doc_vocabulary), 1)
        keys = np.sort(run.qids.astype(np.int64) * span + run.docs)
        at = np.flatnonzero(keys[1:] == keys[:-1])
        if not len(at):
            return None
        q, d = divmod(int(keys[at[0]]), span)
    docid = columns.vocabulary_strings(run.doc_vocabulary, np.array([d]))[0].as_py()
    return run.query_ids[int(q)].as_py(), docid


_PARSE_OK, _PARSE_NOT_INTEGER = 0, 2


def _read_fast(path: Path, format: str, halves: bool = True) -> Run:
    """Parse with the compiled reader; any irregularity raises ``ValueError`` (the checked reader then
    names the file, line and problem)."""
    trec = format == "trec"
    with _contents(path) as data:
        parsed = _runio.parse(data, trec, True, halves)
        integer_docs = parsed[0] != _PARSE_NOT_INTEGER
        if not integer_docs:
            parsed = _runio.parse(data, trec, False, False)
    if parsed[0] != _PARSE_OK:
        raise ValueError(f"line {parsed[1]} needs the checked reader")
    _, _, _, qcodes, queries, docs, documents, scores, tag, scattered, unsorted = parsed
    del parsed  # each column's buffer is freed as soon as the column is replaced
    scores = np.frombuffer(scores, np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("score not finite")
    query_ids = columns.from_buffers(*queries)
    order = columns.numbers(pc.sort_indices(query_ids))
    qcodes = np.frombuffer(qcodes, np.int32)  # in order of first appearance
    if integer_docs:
        doc_vocabulary, dcodes = columns.intern_numbers(np.frombuffer(docs, np.int64))
    else:
        doc_vocabulary, dcodes = columns.from_buffers(*documents), np.frombuffer(docs, np.int32)
    del docs, documents
    # The parser checked each query's lines for repeats and falling scores; when every query's
    # lines are contiguous (topic order, as Anserini and Pyserini write runs), putting the blocks in
    # byte order of query id leaves only ties out of trec_eval's order.
    by_score = not (scattered or unsorted)
    if by_score:
        qcodes, dcodes, scores = _blocks_in_order(qcodes, order, dcodes, scores)
    else:
        position = np.empty(len(order), dtype=np.int32)
        position[order] = np.arange(len(order), dtype=np.int32)
        qcodes = position[qcodes]
    name = tag.decode() if trec else "msmarco"
    query_ids = query_ids.take(columns.integers(order))
    return Run._assemble(query_ids, qcodes, doc_vocabulary, dcodes, scores, name, by_score, not scattered)


def _blocks_in_order(qcodes: np.ndarray, order: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows whose queries come in contiguous blocks (codes ``0, 0, 1, 1, 1, 2, ...`` in file order)
    with the blocks moved so that query ``order[0]`` comes first, then ``order[1]``, ...: the new
    query codes and each column (one copy per block; unchanged when the blocks are in order)."""
    counts = np.bincount(qcodes, minlength=len(order))
    new_qcodes = np.repeat(np.arange(len(order), dtype=np.int32), counts[order])
    if np.all(order[1:] > order[:-1]):
        return new_qcodes, *columns
    ends = np.cumsum(counts)
    spans = list(zip((ends - counts)[order].tolist(), ends[order].tolist(), strict=True))
    return new_qcodes, *(np.concatenate([column[lo:hi] for lo, hi in spans]) for column in columns)


@contextlib.contextmanager
def _contents(path: Path):
    """The file's bytes without a leading byte-order mark: memory-mapped, or decompressed for ``*.gz``."""
    if is_gzip(path):
        try:
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        except GZIP_ERRORS as err:
            raise InputError(path, None, f"not a readable gzip file ({err})") from None
        yield memoryview(data)[len(BOM) :] if data.startswith(BOM) else data
        return
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if mapped[: len(BOM)] != BOM:
                yield mapped
                return
            with memoryview(mapped) as whole, whole[len(BOM) :] as rest:
                yield rest


def _read_checked(path: Path, format: str) -> Run:
    """Line-by-line reader that names the file, line and problem of the first bad line."""
    qids: list[str] = []
    docids: list[str] = []
    scores: list[float] = []
    seen: dict[str, set[str]] = {}
    name = "msmarco"
    expected = 6 if format == "trec" else 3
    for number, line in numbered_lines(path):
        fields = line.split() if format == "trec" else line.split("\t")
        if len(fields) != expected:
            layout = "qid Q0 docid rank score tag" if format == "trec" else "qid<TAB>docid<TAB>rank"
            raise InputError(path, number, f"expected {expected} columns ({layout}), found {len(fields)}")
        if format == "trec":
            qid, docid, value = fields[0], fields[2], fields[4]
            try:
                score = float(value)
            except ValueError:
                raise InputError(path, number, f"score {value!r} is not a number") from None
            if not math.isfinite(score):
                raise InputError(path, number, f"score {value!r} is not a finite number")
            if not qids:
                name = fields[5]
        else:
            qid, docid, value = (f.strip() for f in fields)
            try:
                rank = int(value)
            except ValueError:
                raise InputError(path, number, f"rank {value!r} is not an integer") from None
            if rank <= 0:
                raise InputError(path, number, f"rank {rank} is not positive")
            score = 1.0 / rank
        docs = seen.setdefault(qid, set())
        if docid in docs:
            raise InputError(path, number, f"duplicate document {docid!r} for query {qid!r}")
        docs.add(docid)
        qids.append(qid)
        docids.append(docid)
        scores.append(score)
    return Run.from_columns(qids, docids, scores, name)


def convert_run(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    to: str = "trec",
    tag: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert between TREC and MS MARCO run formats (MS MARCO -> TREC scores are 1/rank)."""
    return Run.read(source).write(output, format=to, tag=tag, overwrite=overwrite)
