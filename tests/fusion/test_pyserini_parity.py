"""Fusion against Pyserini's own code, run for real on real SciFact runs (BM25 in Lucene, MiniLM in FAISS).

- ``pyserini.fusion``'s reciprocal_rank_fusion, interpolation, average and normalize, on TrecRun
  objects read from the run files (Pyserini's TrecRun reader), against ``hybrid`` reading the same files;
- ``HybridSearcher._hybrid_results`` (the fusion inside ``pyserini.search.hybrid``) on each query's
  hits, against ``hybrid.fuse`` with the matching depth (Pyserini's k0) and hits (its k).

The only difference allowed is the order among equal scores: Pyserini breaks ties by docid ascending
(fusion) or by set iteration order (HybridSearcher); ``hybrid`` by docid descending, as trec_eval does.
"""

from __future__ import annotations

import pytest

from hybrid import Run
from hybrid.fusion import fuse, rrf

pytestmark = pytest.mark.slow


def assert_same_ranking(ours: dict[str, list[tuple[str, float]]], theirs: dict[str, list[tuple[str, float]]]):
    """Same queries, the same score sequence per query (to 1e-12) and, score by score, the same
    documents; only the last score of a list may hold different documents (a tie the cut splits)."""
    assert set(ours) == set(theirs)
    for qid, hits in ours.items():
        expected = theirs[qid]
        assert [s for _, s in hits] == pytest.approx([s for _, s in expected], rel=1e-12, abs=1e-12), qid
        assert list(by_score(hits))[:-1] == list(by_score(expected))[:-1], qid


def by_score(hits: list[tuple[str, float]]) -> dict[frozenset, None]:
    """The documents of each run of equal scores, in rank order (an ordered set of sets)."""
    groups: list[set] = []
    last = None
    for docid, score in hits:
        if not groups or score != last:
            groups.append(set())
        groups[-1].add(docid)
        last = score
    return dict.fromkeys(frozenset(g) for g in groups)


def lists(run: Run) -> dict[str, list[tuple[str, float]]]:
    return {qid: list(zip(docids, scores.tolist(), strict=True)) for qid, docids, scores in run}


def trec_run_lists(trec_run) -> dict[str, list[tuple[str, float]]]:
    """A pyserini TrecRun's rows, per topic, in its own order."""
    out: dict[str, list[tuple[str, float]]] = {}
    for topic, docid, score in trec_run.run_data[["topic", "docid", "score"]].itertuples(index=False):
        out.setdefault(str(topic), []).append((str(docid), float(score)))
    return out


@pytest.fixture(scope="module")
def run_files(scifact_slice_runs, tmp_path_factory):
    """The real test-query runs as files, and the same files read back by hybrid.

    Written twice: scores rounded to 6 decimals can tie where the unrounded ones did not, and the
    second writing makes each file's rank column agree with its own (rounded) score order."""
    folder = tmp_path_factory.mktemp("pyserini-parity")
    paths = {}
    for name in ("dense", "bm25"):
        paths[name] = scifact_slice_runs[f"{name}-test"].write(folder / f"{name}.trec")
        Run.read(paths[name]).write(paths[name], overwrite=True)
    return paths, {name: Run.read(path) for name, path in paths.items()}


@pytest.mark.parametrize(
    "method, depth, k",
    [("rrf", 1000, 1000), ("rrf", 100, 50), ("interpolation", 1000, 1000), ("interpolation", 200, 100),
     ("average", 1000, 1000), ("normalize", 1000, 1000)],
)  # fmt: skip
def test_pyserini_fusion_functions(run_files, method, depth, k):
    from pyserini import fusion
    from pyserini.trectools import TrecRun

    paths, runs = run_files
    dense, sparse = runs["dense"], runs["bm25"]
    trec_runs = [TrecRun(str(paths["dense"])), TrecRun(str(paths["bm25"]))]
    alpha = 0.3
    if method == "rrf":
        theirs = fusion.reciprocal_rank_fusion(trec_runs, rrf_k=60, depth=depth, k=k)
        ours = rrf([dense, sparse], k=60, depth=depth, hits=k)
    elif method == "interpolation":  # alpha * first + (1 - alpha) * second, a missing document adding 0
        theirs = fusion.interpolation(trec_runs, alpha=alpha, depth=depth, k=k)
        ours = fuse(
            dense, sparse, alpha, weight_on_dense=True, convex=True, missing="zero", depth=depth, hits=k
        )
    elif method == "average":
        theirs = fusion.average(trec_runs, depth=depth, k=k)
        ours = fuse(dense, sparse, 0.5, convex=True, missing="zero", depth=depth, hits=k)
    else:  # min-max per topic over the whole run (here: all 1000 hits), then the sum
        theirs = fusion.normalize(trec_runs, depth=depth, k=k)
        ours = fuse(dense, sparse, 1.0, normalization="minmax", missing="zero", depth=depth, hits=k)
    assert_same_ranking(lists(ours), trec_run_lists(theirs))


@pytest.mark.parametrize(
    "alpha, normalization, weight_on_dense, k0, k",
    [(0.1, False, False, 10, 10), (0.02, False, False, 1000, 1000), (0.5, True, False, 100, 20),
     (3.0, False, True, 100, 100), (0.7, True, True, 50, 10)],
)  # fmt: skip
def test_pyserini_hybrid_searcher_interpolation(
    scifact_slice_runs, alpha, normalization, weight_on_dense, k0, k
):
    from hybrid.sparse.java import start_jvm

    start_jvm()  # pyserini.search imports the JVM bridge: start it as hybrid configures it
    from pyserini.search.faiss import DenseSearchResult
    from pyserini.search.hybrid import HybridSearcher

    dense, sparse = scifact_slice_runs["dense-test"], scifact_slice_runs["bm25-test"]
    dense_hits, sparse_hits = lists(dense.top(k0)), lists(sparse.top(k0))
    theirs = {}
    for qid in dense_hits.keys() | sparse_hits.keys():
        results = HybridSearcher._hybrid_results(
            [DenseSearchResult(d, s) for d, s in dense_hits.get(qid, [])],
            [DenseSearchResult(d, s) for d, s in sparse_hits.get(qid, [])],
            alpha,
            k,
            normalization,
            weight_on_dense,
        )
        theirs[qid] = [(hit.docid, hit.score) for hit in results]
    ours = fuse(
        dense,
        sparse,
        alpha,
        weight_on_dense=weight_on_dense,
        normalization="pyserini" if normalization else "none",
        missing="min",
        depth=k0,
        hits=k,
    )
    assert_same_ranking(lists(ours), theirs)
