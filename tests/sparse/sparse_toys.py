"""Small shared inputs for the sparse tests: nonce words, a toy corpus, a JSONL writer."""

from __future__ import annotations

import json
from pathlib import Path

# Made-up words: absent from every real text, kept whole by Lucene's English analyzer.
NONCE_WORDS = [f"zx{a}{b}" for a in "aeiou" for b in "bdgklmnprt"]
TOY_DOCS = [
    {"_id": "d1", "title": "Aspirin and platelets", "text": "Aspirin lowers platelet aggregation in blood."},
    {"_id": "d2", "title": "Statins", "text": "Statins reduce cholesterol and cardiovascular risk."},
    {"_id": "d3", "title": "", "text": "Vitamin D supplements and bone density in older adults."},
    {"_id": "d4", "title": "Sleep", "text": "Short sleep duration is associated with obesity."},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
