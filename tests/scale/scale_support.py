"""The SciFact slice the Ray tests encode: its size and the chunk size (the unit of resumption)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLICE_DOCS = 160
CHUNK = 20
