"""Browser and server fixtures: one headless Chromium per session, a live `hybrid serve` app per module."""

from __future__ import annotations

import threading

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
    import uvicorn

    from hybrid.web.app import create_app

    config = uvicorn.Config(create_app(searcher, threads=2), host="127.0.0.1", port=0, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        assert thread.is_alive(), "uvicorn did not start"
        threading.Event().wait(0.05)
    port = running.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=30)
