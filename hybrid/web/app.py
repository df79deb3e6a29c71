"""The live search page and its JSON API (``hybrid serve``), on FastAPI served by uvicorn.

- ``GET /search?q=&k=&alpha=&normalization=&depth=&weight_on_dense=&missing=`` returns exactly what
  :meth:`HybridSearcher.search` returns, each :class:`~hybrid.searcher.Hit` as a JSON object.
- ``GET /lists?q=&k=&...`` is what the page draws: each side's top ``k`` and, for every document of
  the union, the two filled and normalised scores that :func:`hybrid.fuse` combines (``other`` at
  α = 0 and ``weighted`` at α = 1 of its convex form), so the page re-weights them for any α as
  ``other + α · weighted`` without searching again. A query's raw side lists are cached.
- ``GET /passages?id=...`` returns stored passages (from ``--corpus`` or the Lucene index).

Retrieval runs on a fixed pool of worker threads, attached to the JVM for their whole life and
detached when the app stops; requests are accepted concurrently. Nothing reads a path a request
names: the only files read are the indexes and corpus given at start-up and the page itself.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, which use
# types made inside create_app.
import asyncio
import concurrent.futures
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from hybrid.formats.runs import Run
from hybrid.fusion import MISSING, NORMALIZATIONS, fuse
from hybrid.searcher import HybridSearcher
from hybrid.web import page_template

MAX_QUERY_CHARS = 500
MAX_K = 100
MAX_DEPTH = 1000
MAX_PASSAGES = 300
CACHED_QUERIES = 256

log = logging.getLogger("hybrid.serve")


class SearchWorkers:
    """A fixed pool of threads for retrieval. Each thread is attached to the JVM on its first Lucene call
    (pyjnius does that) and detaches when the pool closes, as every non-main thread using Java must."""

    def __init__(self, threads: int):
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"search-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._tasks.put((future, fn, args))
        return future

    async def run(self, fn: Callable, *args):
        return await asyncio.wrap_future(self.submit(fn, *args))

    def _work(self) -> None:
        try:
            while (task := self._tasks.get()) is not None:
                future, fn, args = task
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as err:
                        future.set_exception(err)
        finally:
            from hybrid.sparse.java import detach_thread

            detach_thread()

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()


def fusion_columns(
    dense: list[tuple[str, float]],
    sparse: list[tuple[str, float]],
    normalization: str,
    weight_on_dense: bool,
    missing: str,
    depth: int,
) -> list[tuple[str, float, float]]:
    """``(docid, other, weighted)`` for each document of the union, so that ``other + alpha * weighted``
    is :func:`hybrid.fuse`'s score for any ``alpha``: ``fuse``'s convex form gives ``other`` at α = 0
    and ``weighted`` at α = 1 exactly (``1·x + 0·y = x``)."""
    if not dense and not sparse:
        return []
    runs = Run.from_dict({"q": dict(dense)}), Run.from_dict({"q": dict(sparse)})
    union = len({d for d, _ in dense} | {d for d, _ in sparse})
    options = {"weight_on_dense": weight_on_dense, "normalization": normalization, "missing": missing}
    sides = [
        fuse(*runs, alpha=alpha, convex=True, depth=depth, hits=union, **options).to_dict().get("q", {})
        for alpha in (0.0, 1.0)
    ]
    return [(docid, other, sides[1][docid]) for docid, other in sides[0].items()]


def create_app(
    searcher: HybridSearcher,
    passages: Mapping[str, str] | None = None,
    threads: int = 2,
    max_query_chars: int = MAX_QUERY_CHARS,
    max_k: int = MAX_K,
) -> FastAPI:
    """The app over one loaded searcher (indexes and encoder are loaded once, by the caller).

    ``passages`` (docid -> text, e.g. a corpus read at start-up) is shown instead of the Lucene
    index's stored text when given."""
    workers = SearchWorkers(threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        workers.close()

    app = FastAPI(title="hybrid serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    page = page_template("search.html").replace(
        "/*LIMITS*/", f"{{maxQuery: {max_query_chars}, maxK: {max_k}}}"
    )

    @lru_cache(maxsize=CACHED_QUERIES)
    def side_lists(q: str, depth: int) -> tuple[list, list]:
        return searcher.sparse.search(q, k=depth), searcher.dense.search(q, k=depth)

    Text = Annotated[str, Query(min_length=1, max_length=max_query_chars, description="query text")]
    K = Annotated[int, Query(ge=1, le=max_k)]
    Alpha = Annotated[float, Query(allow_inf_nan=False)]
    Depth = Annotated[int, Query(ge=1, le=MAX_DEPTH)]
    Normalization = Literal[NORMALIZATIONS]  # type: ignore[valid-type]
    Missing = Literal[MISSING]  # type: ignore[valid-type]

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return page

    @app.get("/search")
    async def search(
        q: Text,
        k: K = 10,
        alpha: Alpha = 0.1,
        depth: Depth = MAX_DEPTH,
        normalization: Normalization = "none",
        weight_on_dense: bool = False,
        missing: Missing = "min",
    ) -> list[dict]:
        hits = await workers.run(
            lambda: searcher.search(
                q,
                k=k,
                alpha=alpha,
                depth=depth,
                normalization=normalization,
                weight_on_dense=weight_on_dense,
                missing=missing,
            )
        )
        return [dataclasses.asdict(hit) for hit in hits]

    @app.get("/lists")
    async def lists(
        q: Text,
        k: K = 10,
        depth: Depth = MAX_DEPTH,
        normalization: Normalization = "none",
        weight_on_dense: bool = False,
        missing: Missing = "min",
    ) -> dict:
        sparse, dense = await workers.run(side_lists, q, depth)
        columns = fusion_columns(dense, sparse, normalization, weight_on_dense, missing, depth)
        return {"sparse": sparse[:k], "dense": dense[:k], "candidates": columns, "k": k}

    @app.get("/passages")
    async def passages_of(id: Annotated[list[str], Query(max_length=MAX_PASSAGES)]) -> dict:
        if passages is not None:
            return {docid: passages.get(docid) for docid in id}
        return await workers.run(lambda: {docid: searcher.doc(docid) for docid in id})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in err.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code)

    @app.exception_handler(ValueError)
    async def refused(request: Request, err: ValueError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=400)

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception) -> JSONResponse:
        log.exception("error serving %s", request.url.path)
        return JSONResponse({"error": "internal error (see the server log)"}, status_code=500)

    return app


@contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a background thread (``port=0``: a free one); yields its base URL and
    stops the server on exit. For notebooks, tests and screenshots; ``hybrid serve`` runs uvicorn itself."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join()
