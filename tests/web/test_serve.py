"""`hybrid serve`: the JSON API equals HybridSearcher.search, bad requests are refused with a message,
requests are served concurrently, and the page's α slider re-fuses exactly as hybrid.fuse does."""

from __future__ import annotations

import dataclasses
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
from web_http import get

import hybrid
from hybrid.web.app import MAX_K, MAX_PASSAGES, MAX_QUERY_CHARS

QUERIES = ("vitamin d and bone density", "statins reduce cardiovascular events", "gene expression in T cells")


def url(base: str, path: str, **params) -> str:
    return f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"


@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, {"alpha": 0.3, "normalization": "minmax", "k": 7}])
def test_search_returns_what_hybrid_searcher_returns(server, searcher, options):
    for query in QUERIES:
        status, kind, body = get(url(server, "/search", q=query, **options))
        assert status == 200 and kind == "application/json"
        expected = [dataclasses.asdict(hit) for hit in searcher.search(query, **options)]
        assert len(body) == options.get("k", 10) and [list(h) for h in body] == [list(h) for h in expected]
        # Same hits, ranks and BM25 scores. The encoder's floats were seen to differ by ~1e-7 between the
        # server's worker thread and the test's thread in a full, loaded session (never when run alone).
        assert [(h["rank"], h["docid"], h["sparse"]) for h in body] == [
            (h["rank"], h["docid"], h["sparse"]) for h in expected
        ]
        for got, want in zip(body, expected, strict=True):
            assert got["score"] == pytest.approx(want["score"], rel=1e-6)
            assert got["dense"] == pytest.approx(want["dense"], rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/search", {"q": "a" * (MAX_QUERY_CHARS + 1)}, 422, f"at most {MAX_QUERY_CHARS} characters"),
        ("/search", {"q": "cells", "k": MAX_K + 1}, 422, f"less than or equal to {MAX_K}"),
        ("/search", {"q": "cells", "k": 0}, 422, "greater than or equal to 1"),
        ("/search", {"q": "cells", "alpha": "abc"}, 422, "alpha: Input should be a valid number"),
        ("/search", {"q": "cells", "alpha": "nan"}, 422, "alpha: Input should be a finite number"),
        ("/search", {"q": "cells", "alpha": "inf"}, 422, "alpha: Input should be a finite number"),
        ("/search", {"q": "cells", "normalization": "softmax"}, 422, "normalization: Input should be"),
        ("/search", {"q": "cells", "depth": 5000}, 422, "depth"),
        ("/search", {}, 422, "q: Field required"),
        ("/lists", {"q": ""}, 422, "at least 1 character"),
        (
            "/passages",
            {"id": [str(i) for i in range(MAX_PASSAGES + 1)]},
            422,
            f"at most {MAX_PASSAGES} items",
        ),
        ("/../../etc/passwd", {}, 404, "Not Found"),
        ("/assets/search.html", {}, 404, "Not Found"),
        ("/%2e%2e/%2e%2e/etc/passwd", {}, 404, "Not Found"),
    ],
)
def test_bad_requests_are_refused_with_a_message(server, path, params, status, says):
    got, kind, body = get(url(server, path, **params))
    assert (got, kind) == (status, "application/json")
    assert says in body["error"]


@pytest.mark.slow
def test_passages_come_only_from_the_index(server, searcher):
    docid = searcher.search("vitamin d", k=1)[0].docid
    names = [docid, "/etc/passwd", "../../etc/passwd", "file:///etc/passwd"]
    status, _, body = get(url(server, "/passages", id=names))
    assert status == 200
    assert body == {docid: searcher.doc(docid), **{n: None for n in names[1:]}}


@pytest.mark.slow
def test_concurrent_requests_get_the_same_answers(server):
    requests = [url(server, "/search", q=q, k=5, alpha=a) for q in QUERIES for a in (0.05, 0.5)] * 4
    expected = {u: get(u) for u in set(requests)}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(get, requests))
    assert answers == [expected[u] for u in requests]


def fused_ids(searcher, query: str, alpha: float, normalization: str = "none", k: int = 10) -> list[str]:
    """The hybrid list as hybrid.fuse makes it from the two sides' top 1000."""
    dense = hybrid.Run.from_dict({"q": dict(searcher.dense.search(query, k=1000))})
    sparse = hybrid.Run.from_dict({"q": dict(searcher.sparse.search(query, k=1000))})
    fused = hybrid.fuse(dense, sparse, alpha=alpha, normalization=normalization, hits=k)
    return list(fused.to_dict()["q"])


@pytest.mark.slow
def test_search_page_slider_refuses_as_hybrid_fuse(server, searcher, page):
    query = QUERIES[0]
    page.goto(server + "/")
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.wait_for_selector("body[data-state='ready']")

    def listed(column: str) -> list[str]:
        return page.locator(f"#{column} li").evaluate_all("items => items.map(li => li.dataset.docid)")

    assert listed("sparse") == [d for d, _ in searcher.sparse.search(query, k=10)]
    assert listed("dense") == [d for d, _ in searcher.dense.search(query, k=10)]
    assert listed("hybrid") == fused_ids(searcher, query, 0.1)
    assert page.locator("#hybrid li .text mark").count() > 0
    seen = []
    for alpha in ("0", "0.02", "0.25", "1"):
        page.fill("#alpha", alpha)
        page.wait_for_selector(f"#hybrid[data-alpha='{alpha}']")
        seen.append(listed("hybrid"))
        assert seen[-1] == fused_ids(searcher, query, float(alpha))
    assert len({tuple(s) for s in seen}) > 1  # the slider does change the list
    page.select_option("#normalization", "minmax")
    page.wait_for_selector("body[data-state='ready']")
    page.fill("#alpha", "0.6")
    page.wait_for_selector("#hybrid[data-alpha='0.6']")
    assert listed("hybrid") == fused_ids(searcher, query, 0.6, "minmax")


@pytest.mark.slow
def test_search_page_shows_a_refusal(server, page):
    page.goto(server + "/")
    page.evaluate("document.getElementById('q').removeAttribute('maxlength')")
    page.fill("#q", "x" * (MAX_QUERY_CHARS + 5))
    page.press("#q", "Enter")
    page.wait_for_selector("body[data-state='error']")
    assert f"at most {MAX_QUERY_CHARS} characters" in page.inner_text("#error")
