"""Columns: the columnar building blocks shared by runs, evaluation, fusion and tuning.

- Arrow arrays from numpy arrays and Python strings without ``pa.array`` (which imports pandas on
  its first call, about 0.2 s, more than parsing half a 7M-line run), and numpy views of Arrow arrays;
- interning: string or integer ids as ``int32`` codes into a vocabulary;
- trec order: the permutation into trec_eval's order (query, score descending, doc id descending);
- joint vocabularies: one doc vocabulary covering several runs'.

A doc vocabulary is an Arrow string array, or for ids that are all plain integers (MS MARCO's) a
sorted ``int64`` numpy array: no string hashing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hybrid.formats import _runio

_INTEGER_TYPES = {np.dtype(np.int32): pa.int32(), np.dtype(np.int64): pa.int64()}


def integers(values: np.ndarray) -> pa.Array:
    """An ``int32``/``int64`` numpy array as an Arrow array (other integer types become ``int64``)."""
    values = np.ascontiguousarray(values)
    if values.dtype not in _INTEGER_TYPES:
        values = values.astype(np.int64)
    return pa.Array.from_buffers(_INTEGER_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])


def booleans(mask: np.ndarray) -> pa.Array:
    """A numpy boolean mask as an Arrow boolean array."""
    bits = np.packbits(np.asarray(mask, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])


def strings(values: Sequence[str]) -> pa.Array:
    """Python strings as an Arrow string array."""
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return from_buffers(b"".join(encoded), offsets)


def from_buffers(data: bytes | bytearray, offsets: np.ndarray | bytearray) -> pa.Array:
    """A string array from UTF-8 bytes and ``int64`` offsets (``len(offsets) - 1`` strings)."""
    offsets = np.frombuffer(offsets, np.int64) if not isinstance(offsets, np.ndarray) else offsets
    array = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    return array.cast(pa.string())


def numbers(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric or boolean Arrow array without nulls as numpy (``to_numpy`` would import pandas)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count:
        raise ValueError("numbers() takes an array without nulls")
    return _values(array)


def positions(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The result of ``pc.index_in`` as floats, NaN where the value was not found."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    values = _values(array).astype(np.float64)
    if array.null_count:
        valid = _bits(array.buffers()[0], array.offset, len(array))
        values[~valid] = np.nan
    return values


def _values(array: pa.Array) -> np.ndarray:
    """The data buffer of a primitive array, as numpy (entries under nulls are arbitrary)."""
    if pa.types.is_boolean(array.type):
        return _bits(array.buffers()[1], array.offset, len(array))
    data = array.buffers()[1]
    dtype = np.dtype(array.type.to_pandas_dtype())
    if data is None:
        return np.zeros(0, dtype)
    return np.frombuffer(data, dtype)[array.offset : array.offset + len(array)]


def _bits(buffer: pa.Buffer, offset: int, length: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little")
    return bits[offset : offset + length].astype(bool)


# --------------------------------------------------------------------------- vocabularies
def vocabulary_strings(vocabulary: pa.Array | np.ndarray, codes: np.ndarray | None = None) -> pa.Array:
    """Doc ids as Arrow strings: the whole vocabulary, or the entries at ``codes``."""
    if isinstance(vocabulary, np.ndarray):
        values = vocabulary if codes is None else vocabulary[codes]
        return pc.cast(integers(values), pa.string())
    return vocabulary if codes is None else vocabulary.take(integers(codes))


def joint_doc_vocabulary(
    vocabularies: Sequence[pa.Array | np.ndarray],
) -> tuple[pa.Array | np.ndarray, list[np.ndarray]]:
    """One vocabulary covering several, and per input the joint code (``int32``) of each entry.

    Integer vocabularies merge by sorting, without string hashing; any string vocabulary makes the
    joint one a string vocabulary.
    """
    if all(isinstance(v, np.ndarray) for v in vocabularies):
        joint, maps = vocabularies[0], [None]
        for vocabulary in vocabularies[1:]:
            merged, old, new = _runio.merge(joint, vocabulary)
            old, new = np.frombuffer(old, np.int32), np.frombuffer(new, np.int32)
            joint, maps = (
                np.frombuffer(merged, np.int64),
                [old if m is None else old[m] for m in maps] + [new],
            )
        return joint, [np.arange(len(joint), dtype=np.int32) if m is None else m for m in maps]
    strings = [vocabulary_strings(v) for v in vocabularies]
    joint = strings[0]
    maps = [np.arange(len(joint), dtype=np.int32)]
    for vocabulary in strings[1:]:
        found = pc.index_in(vocabulary, value_set=joint)
        new = numbers(found.is_null())
        codes = numbers(found.fill_null(0)).astype(np.int32)
        codes[new] = len(joint) + np.arange(int(new.sum()))
        joint = pa.concat_arrays([joint, vocabulary.filter(booleans(new))])
        maps.append(codes)
    return joint, maps


def intern_strings(values: pa.Array | pa.ChunkedArray, sort: bool) -> tuple[pa.Array, np.ndarray]:
    """Vocabulary and ``int32`` codes of a string column; the vocabulary in byte order if ``sort``."""
    if sort:  # small vocabularies (query ids): hash into the sorted unique values directly
        vocabulary = pc.unique(values)
        vocabulary = vocabulary.take(pc.sort_indices(vocabulary))
        codes = pc.index_in(values, value_set=vocabulary)
        return vocabulary, numbers(codes).astype(np.int32, copy=False)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    vocabulary = encoded.dictionary
    codes = numbers(encoded.indices).astype(np.int32, copy=False)
    return vocabulary, codes


def intern_doc_ids(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array | np.ndarray, np.ndarray]:
    """Doc vocabulary and codes: plain integer ids (no sign, no leading zero: the string and the
    number are interchangeable) through a sorted ``int64`` vocabulary, others hashed."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    canonical = len(values) > 0 and pc.all(pc.match_substring_regex(values, "^(0|[1-9][0-9]{0,17})$")).as_py()
    if not canonical:
        return intern_strings(values, sort=False)
    return intern_numbers(numbers(pc.cast(values, pa.int64())))


def intern_numbers(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct non-negative ``int64`` ids and the ``int32`` code of each value."""
    numbers = np.ascontiguousarray(numbers, dtype=np.int64)
    top = int(numbers.max())
    if top < 4 * len(numbers) + (1 << 20):  # dense id space: a bitmap of it, no sort
        vocabulary, codes = _runio.intern(numbers, top)
        return np.frombuffer(vocabulary, np.int64), np.frombuffer(codes, np.int32)
    order = np.argsort(numbers, kind="stable")
    ordered = numbers[order]
    starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    codes = np.empty(len(numbers), dtype=np.int32)
    codes[order] = np.cumsum(starts, dtype=np.int32) - 1
    return ordered[starts], codes


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
    lexical[numbers(pc.sort_indices(vocabulary_strings(doc_vocabulary, codes)))] = np.arange(len(codes))
    within = rows[np.lexsort((-lexical[inverse], group))]
    if np.array_equal(within, rows):
        return perm
    local = np.arange(n)
    local[rows] = within
    return local if perm is None else perm[local]
