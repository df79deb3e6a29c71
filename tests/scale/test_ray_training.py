"""Two Ray Train workers (gloo, CPU) follow the one-process loss curve of the same global batch, and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow

TRIPLES = [
    ("what does the virus cause", "the virus cause cells", "the heart dose"),
    ("how does the drug affect blood", "the drug in blood", "brain risk"),
    ("what is the gene", "the gene of protein", "a vaccine heart"),
    ("does the vaccine work", "the vaccine virus risk", "the gene cells"),
    ("risk of the dose", "dose cause risk", "the brain heart"),
    ("how are brain cells", "brain cells in blood", "the drug blood"),
    ("heart risk", "a heart risk", "protein gene cause"),
    ("what protein in blood", "the blood protein", "a virus brain"),
]


def _train(init, triples, output, *extra) -> list[dict]:
    from hybrid.cli import main

    argv = ["train", "teacher", "--init", str(init), "--train", str(triples), "--output", str(output)]
    argv += ["--steps", "4", "--batch-size", "4", "--checkpoint-every", "2", "--overwrite", *extra]
    assert main(argv) == 0
    return [json.loads(line) for line in (output / "training_log.jsonl").read_text().splitlines()]


def _weights(folder) -> dict[str, torch.Tensor]:
    from hybrid.distill.teacher import ColBERT

    return ColBERT.from_pretrained(str(folder)).state_dict()


def test_two_workers_follow_one_worker_and_resume(tiny_bert_without_dropout, ray_options, tmp_path):
    triples = tmp_path / "triples.tsv"
    triples.write_text("".join("\t".join(row) + "\n" for row in TRIPLES))
    one = _train(tiny_bert_without_dropout, triples, tmp_path / "one")
    two = _train(tiny_bert_without_dropout, triples, tmp_path / "two", "--ray", "--workers", "2")
    losses = np.array([r["loss"] for r in one])
    assert [r["step"] for r in two] == [1, 2, 3, 4]
    # Tolerance: the two halves' gradients are summed by gloo in another order than one batch's.
    np.testing.assert_allclose([r["loss"] for r in two], losses, rtol=1e-4, atol=1e-6)
    want = _weights(tmp_path / "one")
    for name, value in _weights(tmp_path / "two").items():
        torch.testing.assert_close(value, want[name], rtol=1e-4, atol=1e-5)
    # Resume the two-worker run from its step-2 checkpoint: the same steps 3 and 4, the same model.
    resumed = _train(
        tiny_bert_without_dropout, triples, tmp_path / "two", "--ray", "--workers", "2", "--resume"
    )
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["loss"] for r in resumed], [r["loss"] for r in two], rtol=1e-5, atol=1e-7)
