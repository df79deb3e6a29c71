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

from hybrid._threads import ordered_map
from hybrid.errors import InputError
from hybrid.formats import _arrow as arrow
from hybrid.formats import _runio
from hybrid.formats._text import numbered_lines
from hybrid.io import atomic_write

TREC_COLUMNS = ("qid", "q0", "docid", "rank", "score", "tag")
MSMARCO_COLUMNS = ("qid", "docid", "rank")
FORMATS = ("trec", "msmarco")
# Rows formatted per call of the compiled writer: chunks of ~10 MB stay below glibc's largest mmap
# threshold, so their memory is reused from chunk to chunk instead of being faulted in afresh.
_WRITE_CHUNK = 1 << 18


class Run:
    """A ranked list per query, sorted as trec_eval sorts it.

    Attributes: ``query_ids`` (Arrow string vocabulary in byte order), ``doc_vocabulary`` (an
    Arrow string array, or for runs whose doc ids are all plain integers such as MS MARCO's, a
    sorted ``int64`` array: no string hashing), ``qids``/``docs`` (``int32`` codes per row),
    ``scores`` (``float64`` per row), ``offsets`` (rows of query ``i`` are
    ``offsets[i]:offsets[i+1]``) and ``name`` (run tag). ``doc_ids`` is the vocabulary as strings.
    """

    def __init__(
        self,
        query_ids: pa.Array,
        doc_vocabulary: pa.Array | np.ndarray,
        qids: np.ndarray,
        docs: np.ndarray,
        scores: np.ndarray,
        name: str = "hybrid",
    ):
        self.query_ids, self.doc_vocabulary = query_ids, doc_vocabulary
        self.qids, self.docs, self.scores = qids, docs, scores
        self.name = name
        # rows are grouped by ascending query code
        bounds = np.arange(len(query_ids) + 1, dtype=qids.dtype)
        self.offsets = np.searchsorted(qids, bounds).astype(np.int64)
        self._doc_ids: pa.Array | None = None

    @property
    def doc_ids(self) -> pa.Array:
        """The document vocabulary as Arrow strings (code ``i`` is ``doc_ids[i]``)."""
        if self._doc_ids is None:
            self._doc_ids = vocabulary_strings(self.doc_vocabulary)
        return self._doc_ids

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
        query_ids, qcodes = _intern(qids, sort=True)
        doc_vocabulary, dcodes = _intern_docs(docids)
        return cls._assemble(query_ids, qcodes, doc_vocabulary, dcodes, scores, name)

    @classmethod
    def _assemble(
        cls, query_ids, qcodes, doc_vocabulary, dcodes, scores, name: str, by_score=None, unique=False
    ) -> Run:
        """Sort interned rows into trec_eval order and refuse a repeated (qid, docid). ``by_score``
        True: rows known to be in (qid, score desc) order; ``unique``: known to have no repeat."""
        order = trec_order(qcodes, scores, dcodes, doc_vocabulary, by_score)
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
        path = Path(path)
        if format == "auto":
            format = detect_format(path)
        if format not in FORMATS:
            raise ValueError(f"unknown run format {format!r}; expected one of {FORMATS}")
        try:
            return _read_fast(path, format, threads > 1)
        except ValueError:
            return _read_checked(path, format)

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
                vocabulary_strings(self.doc_vocabulary, self.docs[lo:hi]).to_pylist(),
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
        wanted = pc.is_in(self.query_ids, value_set=arrow.strings(list(qids)))
        keep = arrow.numbers(wanted)[self.qids]
        return self._select(keep)

    def _select(self, keep: np.ndarray) -> Run:
        present = np.unique(self.qids[keep])
        remap = np.full(len(self.query_ids), -1, dtype=np.int32)
        remap[present] = np.arange(len(present), dtype=np.int32)
        return Run(
            self.query_ids.take(arrow.integers(present)),
            self.doc_vocabulary,
            remap[self.qids[keep]],
            self.docs[keep],
            self.scores[keep],
            self.name,
        )

    def docid_strings(self) -> pa.Array:
        """The document id of every row, as one Arrow string array."""
        return vocabulary_strings(self.doc_vocabulary, self.docs)

    def to_frame(self):
        """A pandas DataFrame with columns qid, docid, rank, score."""
        import pandas as pd

        return pd.DataFrame(
            {
                "qid": self.query_ids.take(arrow.integers(self.qids)).to_pandas(),
                "docid": self.docid_strings().to_pandas(),
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
    """Write a run block by block through one temporary file, renamed into place on success.

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
        return self

    def __exit__(self, *exc) -> bool | None:
        return self._context.__exit__(*exc)

    def write(self, run: Run) -> None:
        for chunk in run._lines(self.format, self.tag):
            self._out.write(chunk)


# --------------------------------------------------------------------------- helpers
def read_runs(paths: Sequence[str | os.PathLike[str]], format: str = "auto") -> list[Run]:
    """:meth:`Run.read` of several files, side by side on threads (one each: a file split in
    halves as well would only add work)."""
    threads = 2 if len(paths) == 1 else 1
    return list(ordered_map(lambda path: Run.read(path, format, threads), paths))


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


def vocabulary_strings(vocabulary: pa.Array | np.ndarray, codes: np.ndarray | None = None) -> pa.Array:
    """Doc ids as Arrow strings: the whole vocabulary, or the entries at ``codes``."""
    if isinstance(vocabulary, np.ndarray):
        values = vocabulary if codes is None else vocabulary[codes]
        return pc.cast(arrow.integers(values), pa.string())
    return vocabulary if codes is None else vocabulary.take(arrow.integers(codes))


def joint_doc_vocabulary(
    vocabularies: Sequence[pa.Array | np.ndarray],
) -> tuple[pa.Array | np.ndarray, list[np.ndarray]]:
    """One vocabulary covering several, and per input the joint code (``int64``) of each entry.

    Integer vocabularies merge by sorting, without string hashing; any string vocabulary makes the
    joint one a string vocabulary.
    """
    if all(isinstance(v, np.ndarray) for v in vocabularies):
        joint, maps = vocabularies[0], [None]
        for vocabulary in vocabularies[1:]:
            merged, old, new = (np.frombuffer(a, np.int64) for a in _runio.merge(joint, vocabulary))
            joint, maps = merged, [old if m is None else old[m] for m in maps] + [new]
        return joint, [np.arange(len(joint), dtype=np.int64) if m is None else m for m in maps]
    strings = [vocabulary_strings(v) for v in vocabularies]
    joint = strings[0]
    maps = [np.arange(len(joint), dtype=np.int64)]
    for vocabulary in strings[1:]:
        found = pc.index_in(vocabulary, value_set=joint)
        new = arrow.numbers(found.is_null())
        codes = arrow.numbers(found.fill_null(0)).astype(np.int64)
        codes[new] = len(joint) + np.arange(int(new.sum()))
        joint = pa.concat_arrays([joint, vocabulary.filter(arrow.booleans(new))])
        maps.append(codes)
    return joint, maps


def _arrow_strings(values) -> pa.Array | pa.ChunkedArray:
    """Arrow strings (a chunked Arrow column stays chunked: no copy)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = arrow.strings(list(values))
    return values if values.type == pa.string() else values.cast(pa.string())


def _intern_docs(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | np.ndarray, np.ndarray]:
    """Doc vocabulary and codes: plain integer ids (no sign, no leading zero: the string and the
    number are interchangeable) through a sorted ``int64`` vocabulary, others hashed."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    canonical = len(values) > 0 and pc.all(pc.match_substring_regex(values, "^(0|[1-9][0-9]{0,17})$")).as_py()
    if not canonical:
        return _intern(values, sort=False)
    return _intern_numbers(arrow.numbers(pc.cast(values, pa.int64())))


def _intern_numbers(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct non-negative ``int64`` ids and the ``int32`` code of each value."""
    top = int(numbers.max())
    if top < 4 * len(numbers) + (1 << 20):  # dense id space: a presence table, no sort
        present = np.zeros(top + 1, dtype=bool)
        present[numbers] = True
        vocabulary = np.flatnonzero(present)
        code_of = np.empty(top + 1, dtype=np.int32)  # only present ids are read back
        code_of[vocabulary] = np.arange(len(vocabulary), dtype=np.int32)
        return vocabulary, code_of[numbers]
    order = np.argsort(numbers, kind="stable")
    ordered = numbers[order]
    starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    codes = np.empty(len(numbers), dtype=np.int32)
    codes[order] = np.cumsum(starts, dtype=np.int32) - 1
    return ordered[starts], codes


def _intern(values: pa.Array | pa.ChunkedArray, sort: bool) -> tuple[pa.Array, np.ndarray]:
    """Vocabulary and ``int32`` codes of a string column; the vocabulary in byte order if ``sort``."""
    if sort:  # small vocabularies (query ids): hash into the sorted unique values directly
        vocabulary = pc.unique(values)
        vocabulary = vocabulary.take(pc.sort_indices(vocabulary))
        codes = pc.index_in(values, value_set=vocabulary)
        return vocabulary, arrow.numbers(codes).astype(np.int32, copy=False)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    vocabulary = encoded.dictionary
    codes = arrow.numbers(encoded.indices).astype(np.int32, copy=False)
    return vocabulary, codes


def trec_order(
    qcodes: np.ndarray,
    scores: np.ndarray,
    dcodes: np.ndarray,
    doc_vocabulary: pa.Array | np.ndarray,
    by_score: bool | None = None,
):
    """Permutation into trec_eval order (qid, score desc, docid desc), or None if already in it.

    ``by_score`` True says the rows are known to be in (qid, score desc) order, ties aside.
    """
    n = len(scores)
    if n == 0:
        return None
    if by_score is None:
        same_query = qcodes[1:] == qcodes[:-1]
        by_score = bool(np.all((qcodes[1:] > qcodes[:-1]) | (same_query & (scores[1:] <= scores[:-1]))))
    perm = None if by_score else np.lexsort((-scores, qcodes))
    q, s, d = (qcodes, scores, dcodes) if perm is None else (qcodes[perm], scores[perm], dcodes[perm])
    tied = (q[1:] == q[:-1]) & (s[1:] == s[:-1])
    if not tied.any():
        return perm
    # Only rows inside a tie group need their document ids compared as strings.
    rows = np.flatnonzero(np.concatenate([tied, [False]]) | np.concatenate([[False], tied]))
    group = np.cumsum(~np.concatenate([[False], tied])[rows])
    codes, inverse = np.unique(d[rows], return_inverse=True)
    lexical = np.empty(len(codes), dtype=np.int64)
    lexical[arrow.numbers(pc.sort_indices(vocabulary_strings(doc_vocabulary, codes)))] = np.arange(len(codes))
    within = rows[np.lexsort((-lexical[inverse], group))]
    if np.array_equal(within, rows):
        return perm
    local = np.arange(n)
    local[rows] = within
    return local if perm is None else perm[local]


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
        columns = np.arange(len(run)) - np.repeat(run.offsets[:-1], counts)
        table[run.qids, columns] = run.docs
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
    return run.query_ids[int(q)].as_py(), vocabulary_strings(run.doc_vocabulary, np.array([d]))[0].as_py()


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
    scores = np.frombuffer(scores, np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("score not finite")
    query_ids = arrow.from_buffers(*queries)
    order = arrow.numbers(pc.sort_indices(query_ids))
    position = np.empty(len(order), dtype=np.int32)
    position[order] = np.arange(len(order), dtype=np.int32)
    qcodes = position[np.frombuffer(qcodes, np.int32)]
    if integer_docs:
        doc_vocabulary, dcodes = _intern_numbers(np.frombuffer(docs, np.int64))
    else:
        doc_vocabulary, dcodes = arrow.from_buffers(*documents), np.frombuffer(docs, np.int32)
    name = tag.decode() if trec else "msmarco"
    # The parser checked each query's lines for repeats and falling scores; when every query's
    # lines are contiguous and in byte order, only ties can be out of trec_eval's order.
    by_score = not (scattered or unsorted) and bool(np.all(order[1:] > order[:-1]))
    query_ids = query_ids.take(arrow.integers(order))
    return Run._assemble(query_ids, qcodes, doc_vocabulary, dcodes, scores, name, by_score, not scattered)


@contextlib.contextmanager
def _contents(path: Path):
    """The file's bytes: memory-mapped, or decompressed for ``*.gz``."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as handle:
            yield handle.read()
        return
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped


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
