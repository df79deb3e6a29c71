"""Line reading shared by the format readers: gzip-aware, CRLF-tolerant, numbered."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from hybrid.errors import InputError


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """Open a text file for reading, transparently gunzipping ``*.gz``; names the file when missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def numbered_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` with the line ending (LF or CRLF) removed; blank lines skipped.

    Raises :class:`InputError` for a file with no non-blank line.
    """
    empty = True
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            empty = False
            yield number, line
    if empty:
        raise InputError(path, None, "empty file")


def json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for a JSON-lines file; bad JSON names its line."""
    for number, line in numbered_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, number, f"not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(path, number, "expected a JSON object")
        yield number, obj
