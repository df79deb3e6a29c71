"""Build a Lucene BM25 index with Anserini's IndexCollection, run in-process.

The corpus is rewritten as a temporary JsonCollection whose ``contents`` is title + " " + text
(Anserini's BEIR "flat" convention), followed by the predicted queries when expansions are given
(as in Anserini's doc2query-T5 MS MARCO index). Raw documents (id, title, text, contents) are stored.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import signal
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from hybrid.errors import InputError
from hybrid.formats import count_documents
from hybrid.formats.corpora import corpus_files, located_documents
from hybrid.io import atomic_directory, check_writable
from hybrid.sparse.expansion import read_expansions
from hybrid.sparse.java import detach_thread, java_class

# Documents per temporary collection file: Anserini indexes a file on one thread and reports progress
# per file and per 10,000 documents, so a corpus is cut into at least FILES_PER_THREAD files per thread.
FILE_DOCS, FILES_PER_THREAD = 10_000, 8


def build_index(
    corpus: str | os.PathLike[str],
    index: str | os.PathLike[str],
    expansions: str | os.PathLike[str] | None = None,
    threads: int = 1,
    overwrite: bool = False,
) -> Path:
    """Index ``corpus`` (path, JsonCollection folder or bundled name) into the folder ``index``.

    ``expansions`` is a JSON-lines file from ``hybrid expand``; every id in it must be a corpus
    document. The index is built beside ``index`` under a temporary name and renamed into place
    when complete; an existing ``index`` is replaced only with ``overwrite=True``.
    """
    if threads < 1:
        raise ValueError("threads must be positive")
    corpus_files(corpus)  # a missing corpus fails here, before any work
    index = check_writable(index, overwrite)
    expanded = read_expansions(expansions) if expansions is not None else {}
    total = count_documents(corpus)
    with (
        _terminate_as_interrupt(),
        atomic_directory(index, overwrite=overwrite) as building,
        tempfile.TemporaryDirectory(dir=index.parent, prefix=f".{index.name}.collection.") as collection,
    ):
        written = _write_collection(corpus, Path(collection), expanded, expansions, total, threads)
        _run_indexer(Path(collection), building, threads, written)
    return index


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (as SIGINT does) in the main thread, so an interrupted build
    cleans up the same way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_collection(corpus, folder: Path, expanded: dict, expansions_path, total: int, threads: int) -> int:
    """Write the corpus as JsonCollection files; check ids. Returns the number of documents written."""
    from tqdm.auto import tqdm

    per_file = min(FILE_DOCS, max(1, math.ceil(total / (threads * FILES_PER_THREAD))))
    unmatched = dict(expanded)
    seen: dict[str, tuple[Path, int]] = {}
    progress = tqdm(located_documents(corpus), total=total, desc="preparing documents", unit="doc")
    docs = iter(progress)  # one generator: islice must not restart tqdm's iterator per chunk
    for number in itertools.count():
        chunk = list(itertools.islice(docs, per_file))
        if not chunk:
            break
        with open(folder / f"docs{number:05d}.jsonl", "w", encoding="utf-8") as out:
            for path, line, doc in chunk:
                if doc.docid in seen:
                    first = seen[doc.docid]
                    raise InputError(
                        path, line, f"duplicate document id {doc.docid!r} (first at {first[0]}:{first[1]})"
                    )
                seen[doc.docid] = (path, line)
                contents = doc.contents
                queries = unmatched.pop(doc.docid, (None, []))[1]
                if queries:
                    contents = f"{contents} {' '.join(queries)}"
                record = {"id": doc.docid, "title": doc.title, "text": doc.text, "contents": contents}
                out.write(json.dumps(record) + "\n")
    progress.close()
    written = len(seen)
    if unmatched:
        docid, (line, _) = min(unmatched.items(), key=lambda item: item[1][0])
        others = f" ({len(unmatched) - 1} more unknown ids)" if len(unmatched) > 1 else ""
        raise InputError(
            expansions_path, line, f"document id {docid!r} is not in the corpus {corpus}{others}"
        )
    if expanded and len(expanded) < written:
        warnings.warn(f"{written - len(expanded)} of {written} documents have no expansion", stacklevel=3)
    return written


def _run_indexer(collection: Path, index: Path, threads: int, expected: int) -> None:
    """Run Anserini's IndexCollection over ``collection`` on a Java thread, showing its progress."""
    from tqdm.auto import tqdm

    args = java_class("io.anserini.index.IndexCollection$Args")()
    # Absolute: the JVM resolves relative paths against the folder it started in, not the current one.
    args.input = str(Path(collection).resolve())
    args.index = str(Path(index).resolve())
    args.collectionClass = "JsonCollection"
    args.generatorClass = "DefaultLuceneDocumentGenerator"
    args.threads = int(threads)
    args.storePositions = True
    args.storeDocvectors = True
    args.storeRaw = True
    args.quiet = True
    indexer = java_class("io.anserini.index.IndexCollection")(args)
    counters = indexer.getCounters()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            indexer.run()
        except Exception as err:  # a JavaException, re-raised on the calling thread
            failure.append(err)
        finally:
            detach_thread()

    worker = threading.Thread(target=work, name="anserini-index", daemon=True)
    with tqdm(total=expected, desc="indexing", unit="doc") as progress:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
                progress.update(_processed(counters) - progress.n)
        except BaseException:
            _stop_indexer(worker, collection)
            raise
    if failure:
        raise RuntimeError(f"Anserini indexing failed: {failure[0]}") from failure[0]
    indexed, empty = int(counters.indexed.get()), int(counters.empty.get())
    if empty:
        warnings.warn(
            f"{empty} documents with empty contents were not indexed (Anserini skips them)", stacklevel=3
        )
    if indexed + empty != expected:
        raise RuntimeError(
            f"Anserini indexed {indexed} of {expected} documents "
            f"({int(counters.errors.get())} errors, {int(counters.skipped.get())} skipped, "
            f"{int(counters.unindexable.get())} unindexable)"
        )


def _stop_indexer(worker: threading.Thread, collection: Path) -> None:
    """Make Anserini finish early and wait for it to close the index, so that nothing writes into the
    folders being removed: each collection file is replaced by an empty one (files being read keep
    their contents to the end; the others read as empty)."""
    system = java_class("java.lang.System")
    stderr = system.err
    java_thread = java_class("java.lang.Thread")
    system.setErr(java_class("java.io.PrintStream")(java_class("java.io.OutputStream").nullOutputStream()))
    java_class("org.apache.logging.log4j.core.config.Configurator").setRootLevel(
        java_class("org.apache.logging.log4j.Level").OFF
    )
    try:
        empty = collection / ".empty"
        for path in collection.glob("docs*.jsonl"):
            empty.touch()
            os.replace(empty, path)
        # The interrupt can also reach Anserini's own wait for its indexing pool, which then returns
        # while the pool's threads still write: wait for those too.
        pools = [
            thread
            for thread in java_thread.getAllStackTraces().keySet().toArray()
            if thread.getName().startswith("ForkJoinPool-")
        ]
        for waiting in (worker.join, *(thread.join for thread in pools)):
            while True:
                with contextlib.suppress(KeyboardInterrupt):  # a second interrupt leaves nothing behind
                    waiting()
                    break
    finally:
        system.setErr(stderr)


def _processed(counters) -> int:
    return sum(
        int(getattr(counters, name).get())
        for name in ("indexed", "empty", "skipped", "errors", "unindexable")
    )
