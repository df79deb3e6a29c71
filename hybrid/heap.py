"""Keeping freed memory in the process heap while a CPU model runs step after step.

Each step of a transformer on CPU allocates and frees blocks of hundreds of MB (activations, attention
maps). glibc serves blocks that large with fresh mappings and unmaps them when freed, so every step
faults in and zeroes every page again: about a fifth of the CPU time of a MiniLM training step here
(``bench/bench_heap.py``). Inside :func:`heap_reuse` they come from the heap and stay there.
Training (``hybrid.distill.loop``) and encoding (``hybrid.dense.encoders``) run inside it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# glibc's mallopt parameters (malloc.h) and their defaults: up to 65,536 mmap'd blocks; trim above 128 KiB.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_lock = threading.Lock()
_open = 0  # heap_reuse blocks open in this process (they nest, and threads share the allocator)


def is_glibc() -> bool:
    """Whether this process runs on glibc (whose allocator :func:`heap_reuse` tunes)."""
    return _mallopt() is not None


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, looked up once (encoding calls :func:`heap_reuse` per batch of queries)."""
    if "CS_GNU_LIBC_VERSION" not in getattr(os, "confstr_names", {}) or not os.confstr("CS_GNU_LIBC_VERSION"):
        return None
    return ctypes.CDLL(None).mallopt


@contextmanager
def heap_reuse() -> Iterator[None]:
    """While open, large blocks come from the heap and freed ones stay there for the next step instead
    of being unmapped (the process keeps its peak memory meanwhile); when the last open block closes,
    the mmap limit and trim threshold return to glibc's defaults. Not glibc: nothing changes."""
    global _open
    mallopt = _mallopt()
    if mallopt is None:
        yield
        return
    with _lock:
        _open += 1
        if _open == 1:
            mallopt(_M_MMAP_MAX, 0)
            mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield
    finally:
        with _lock:
            _open -= 1
            if _open == 0:
                mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
