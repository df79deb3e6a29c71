"""Arrow arrays from numpy arrays and Python strings without ``pa.array``.

``pa.array`` imports pandas on its first call (about 0.2 s, more than parsing half a 7M-line run), so
the paths that ``hybrid eval`` and ``hybrid fuse`` take build their arrays from buffers instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

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
