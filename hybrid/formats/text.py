"""Line reading shared by the format readers and every other reader of text inputs (lists, expansions,
embedding files): gzip-aware, BOM- and CRLF-tolerant, numbered, errors naming file and line."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from hybrid.errors import InputError

BOM = b"\xef\xbb\xbf"
# What reading a damaged or truncated ``*.gz`` file raises.
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def check_file(path: str | os.PathLike[str]) -> Path:
    """``path`` when it names a file; otherwise an error saying it is missing or a folder."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, None, "is a folder, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path


def is_gzip(path: Path) -> bool:
    return path.suffix == ".gz"


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """Open a text file for reading (``*.gz`` gunzipped, a leading UTF-8 byte-order mark dropped)."""
    path = check_file(path)
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def numbered_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` with the line ending (LF or CRLF) removed; blank lines skipped.

    Raises :class:`InputError` for a file with no non-blank line, bytes that are not UTF-8 (naming
    the line) or a damaged gzip file.
    """
    empty = True
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                empty = False
                yield number, line
    except UnicodeDecodeError:
        raise _undecodable(Path(path)) from None
    except GZIP_ERRORS as err:
        raise InputError(path, None, f"not a readable gzip file ({err})") from None
    if empty:
        raise InputError(path, None, "empty file")


def _undecodable(path: Path) -> InputError:
    """The first line that is not UTF-8, as an error naming it (found again line by line, as bytes)."""
    with (gzip.open if is_gzip(path) else open)(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                byte = line[err.start]
                return InputError(path, number, f"not UTF-8 text (byte 0x{byte:02x}); is it a binary file?")
    return InputError(path, None, "not UTF-8 text")


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
