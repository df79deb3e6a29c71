"""Errors that point at the offending input: file, line and what is wrong."""

from __future__ import annotations

from os import PathLike


class InputError(ValueError):
    """Bad input file. ``str(err)`` reads ``path:line: message`` (``path: message`` without a line)."""

    def __init__(self, path: str | PathLike[str], line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


# What the command line reports as one line ("hybrid CMD: error: ..."): bad files, flags and values.
USER_ERRORS = (InputError, FileNotFoundError, FileExistsError, ValueError, ImportError)
