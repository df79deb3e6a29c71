"""A plain HTTP GET for the server tests and the load benchmark: status, content type and JSON body."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def get(url: str) -> tuple[int, str, object]:
    """Status, content type and decoded JSON body of a GET (4xx/5xx included)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.headers["content-type"], json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = err.read().decode()
        assert "Traceback" not in body
        return err.code, err.headers["content-type"], json.loads(body)
