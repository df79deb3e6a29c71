"""Browser and server fixtures: one headless Chromium per session, a live `hybrid serve` app per module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def browser():
    from hybrid.web.browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    """A fresh page; the test fails if the page raised a JavaScript error or asked for anything on the network."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    opened.on(
        "request",
        lambda r: (
            None
            if r.url.startswith(("file://", "data:", "http://127.0.0.1"))
            else problems.append(f"network request: {r.url}")
        ),
    )
    yield opened
    context.close()
    assert not problems


@pytest.fixture(scope="session")
def searcher(scifact_slice_sparse_index, scifact_slice_dense_index, minilm):
    from hybrid import HybridSearcher

    return HybridSearcher(scifact_slice_sparse_index, scifact_slice_dense_index, minilm)


@pytest.fixture(scope="session")
def server(searcher):
    """`hybrid serve`'s app on uvicorn, on a free port of 127.0.0.1; yields its base URL."""
    from hybrid.web.app import create_app, serving

    with serving(create_app(searcher, threads=2)) as url:
        yield url
