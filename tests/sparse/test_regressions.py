"""BM25 on the full bundled SciFact and NFCorpus equals Anserini's BEIR (v1.0.0) "flat" regressions.

Anserini's published numbers (k1=0.9, b=0.4, 1000 hits, trec_eval -c): SciFact test nDCG@10 0.6789,
R@100 0.9253, R@1000 0.9767; NFCorpus test 0.3218 / 0.2457 / 0.3704. 15 NFCorpus test queries (single
words such as "okra") match no document, so they are absent from the run and count as 0 (-c).
"""

from __future__ import annotations

import subprocess

import pytest

import hybrid
from hybrid import Qrels
from hybrid.sparse import search

MEASURES = ["ndcg_cut.10", "recall.100", "recall.1000"]
ANSERINI = {
    "scifact": {"ndcg_cut_10": 0.6789, "recall_100": 0.9253, "recall_1000": 0.9767},
    "nfcorpus": {"ndcg_cut_10": 0.3218, "recall_100": 0.2457, "recall_1000": 0.3704},
}


def trec_eval_values(trec_eval, qrels_path, run_path) -> dict[str, float]:
    """What the real trec_eval binary prints for the written run file, as Anserini evaluates it."""
    command = [
        str(trec_eval),
        "-c",
        "-m",
        "ndcg_cut.10",
        "-m",
        "recall.100,1000",
        str(qrels_path),
        str(run_path),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return {name: float(value) for name, _, value in (line.split() for line in output.splitlines())}


@pytest.mark.slow
@pytest.mark.parametrize("collection", ["scifact", "nfcorpus"])
def test_bm25_matches_anserini_beir_flat_regression(collection, request, trec_eval, tmp_path):
    index = request.getfixturevalue(f"{collection}_index")
    run = search(index, f"{collection}-test", hits=1000, k1=0.9, b=0.4, threads=2)
    qrels = Qrels.read(f"{collection}-test")

    in_memory = hybrid.evaluate(qrels, run, measures=MEASURES, complete=True)
    assert {name: round(value, 4) for name, value in in_memory.items()} == ANSERINI[collection]

    from_file = trec_eval_values(
        trec_eval, qrels.write(tmp_path / "qrels.txt"), run.write(tmp_path / "run.trec")
    )
    assert from_file == ANSERINI[collection]
    assert max(len(docids) for _, docids, _ in run) == 1000
