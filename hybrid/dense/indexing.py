"""Encode a corpus into a FAISS index in Pyserini's layout: ``index`` (faiss) + ``docid`` (one id per line).

Embeddings are saved chunk by chunk in a work folder beside the index (``.NAME.encoding``), so a run that
is killed resumes at the first missing chunk. ``--shard-id/--shard-num`` split the corpus into contiguous
ranges (one per machine) whose indexes :func:`merge_shards` joins.

Integrity: document ids must be unique (:func:`check_unique_docids`, before any encoding); a finished
index records the encoder and convention that made it (``encoder.json``, :func:`write_encoder_record`),
and search refuses an encoder whose convention differs (:func:`check_encoder`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hybrid.errors import InputError
from hybrid.formats import iter_corpus
from hybrid.formats.corpora import corpus_files
from hybrid.formats.text import numbered_lines
from hybrid.io import atomic_directory, atomic_write, check_writable

INDEX_TYPES = ("flat", "hnsw", "pq")
INDEX_FILE = "index"
DOCID_FILE = "docid"
ENCODER_FILE = "encoder.json"
# the settings that decide how queries must be encoded to match the documents' vectors
CONVENTION_KEYS = ("encoder_class", "l2_norm", "query_prefix", "doc_prefix", "dim")
CHUNK_SIZE = 4096
HNSW_M = 256  # Pyserini's defaults for --hnsw
EF_CONSTRUCTION = 256
PQ_BITS = 8


def build_index(
    corpus: str | os.PathLike[str],
    encoder,
    index: str | os.PathLike[str],
    index_type: str = "flat",
    batch_size: int = 32,
    overwrite: bool = False,
    *,
    shard_id: int = 0,
    shard_num: int = 1,
    chunk_size: int = CHUNK_SIZE,
    hnsw_m: int = HNSW_M,
    ef_construction: int = EF_CONSTRUCTION,
    pq_m: int | None = None,
    shards: int = 1,
    progress: bool = True,
) -> Path:
    """Encode ``corpus`` (or its shard ``shard_id`` of ``shard_num``) with ``encoder`` into a FAISS index;
    ``shards`` > 1 writes the sharded layout of :mod:`hybrid.dense.sharded` instead of one index.

    Rerunning after an interruption re-encodes only the chunks that were not saved.
    """
    if batch_size < 1:
        raise ValueError("batch size must be positive")
    job = start_encoding(
        corpus,
        encoder.settings(),
        index,
        index_type,
        overwrite,
        shard_id,
        shard_num,
        chunk_size,
        hnsw_m,
        pq_m,
        shards,
    )
    with job.progress_bar(progress) as bar:
        docs = itertools.islice(iter_corpus(corpus), job.first, job.last)
        for number, chunk in enumerate(_batched(docs, chunk_size)):
            if number not in job.done:
                docids = [doc.docid for doc in chunk]
                encode_chunk(encoder, job.work, number, docids, chunk, batch_size, progress=bar.update)
    from hybrid.dense.sharded import write_index_layout

    return write_index_layout(
        job,
        index,
        encoder.dim,
        index_type,
        overwrite,
        shards,
        hnsw_m,
        ef_construction,
        pq_m,
        encoder_record(encoder),
    )


@dataclass(frozen=True)
class EncodingJob:
    """A corpus range being encoded chunk by chunk into ``work``; ``done`` are the chunks already saved."""

    work: Path
    first: int
    last: int
    chunk_size: int
    done: frozenset[int]

    @property
    def chunks(self) -> int:
        return math.ceil((self.last - self.first) / self.chunk_size)

    @property
    def skipped(self) -> int:
        return sum(min(self.chunk_size, self.last - self.first - k * self.chunk_size) for k in self.done)

    def progress_bar(self, enabled: bool = True):
        """A tqdm bar over the job's passages that starts at (and reports) those already encoded."""
        from tqdm import tqdm

        bar = tqdm(
            total=self.last - self.first,
            initial=self.skipped,
            unit=" passages",
            desc="encoding",
            disable=not enabled,
            smoothing=0.1,
        )
        if self.done:
            bar.write(
                f"resuming: {len(self.done)} chunk(s), {self.skipped} passages already encoded in {self.work}",
                file=sys.stderr,
            )
        return bar


def start_encoding(
    corpus: str | os.PathLike[str],
    settings: dict,
    index: str | os.PathLike[str],
    index_type: str = "flat",
    overwrite: bool = False,
    shard_id: int = 0,
    shard_num: int = 1,
    chunk_size: int = CHUNK_SIZE,
    hnsw_m: int = HNSW_M,
    pq_m: int | None = None,
    shards: int = 1,
) -> EncodingJob:
    """Check the options and open (or resume) the work folder of ``index`` for an encoder of ``settings``;
    ``shards`` is the number of sub-indexes to be written (at most one per chunk)."""
    index = check_writable(index, overwrite)
    _check_index_options(index_type, settings["dim"], hnsw_m, pq_m)
    if not (shard_num >= 1 and 0 <= shard_id < shard_num):
        raise ValueError(f"shard id {shard_id} is not in 0..{shard_num - 1}")
    if chunk_size < 1:
        raise ValueError("chunk size must be positive")
    total = check_unique_docids(corpus)
    per_shard = math.ceil(total / shard_num)
    first, last = shard_id * per_shard, min(total, (shard_id + 1) * per_shard)
    chunks = math.ceil((last - first) / chunk_size)
    if not 1 <= shards <= max(chunks, 1):
        raise ValueError(
            f"--shards {shards} must be between 1 and the number of chunks ({chunks}); "
            "lower --chunk-size for more shards"
        )
    work = work_folder(index)
    state = {
        "corpus": str(Path(corpus).resolve()) if Path(corpus).exists() else str(corpus),
        "documents": total,
        "corpus_bytes": sum(path.stat().st_size for path in corpus_files(corpus)),
        "shard_id": shard_id,
        "shard_num": shard_num,
        "chunk_size": chunk_size,
        **settings,
    }
    done = _prepare_work(work, state, overwrite)
    return EncodingJob(work, first, last, chunk_size, frozenset(done))


def encode_chunk(
    encoder, work: Path, number: int, docids: list[str], docs: list, batch_size: int, progress=None
) -> int:
    """Encode chunk ``number`` (Documents or their texts) and save it in ``work``; returns its size."""
    vectors = encoder.encode_docs(docs, batch_size=batch_size, progress=progress)
    _save_chunk(work, number, docids, vectors)
    return len(docids)


def merge_shards(
    shards: Iterable[str | os.PathLike[str]],
    index: str | os.PathLike[str],
    index_type: str = "flat",
    overwrite: bool = False,
    *,
    hnsw_m: int = HNSW_M,
    ef_construction: int = EF_CONSTRUCTION,
    pq_m: int | None = None,
) -> Path:
    """Join flat (or HNSW) shard indexes, in the order given, into one index of ``index_type``.

    With one input this converts an index to another type without re-encoding.
    """
    shards = [Path(s) for s in shards]
    if not shards:
        raise ValueError("no shard indexes to merge")
    index = check_writable(index, overwrite)
    loaded = [(shard, *read_index(shard)) for shard in shards]
    dims = {shard: faiss_index.d for shard, faiss_index, _ in loaded}
    if len(set(dims.values())) > 1:
        raise ValueError("shards differ in dimension: " + ", ".join(f"{s}: {d}" for s, d in dims.items()))
    dim = next(iter(dims.values()))
    _check_index_options(index_type, dim, hnsw_m, pq_m)
    records = {shard: read_encoder_record(shard) for shard in shards}
    if len({json.dumps(r, sort_keys=True) for r in records.values()}) > 1:
        raise ValueError(
            "shards were encoded differently: "
            + "; ".join(f"{s}: {json.dumps(r, sort_keys=True)}" for s, r in records.items())
        )
    first_seen: dict[str, tuple[Path, int]] = {}
    for shard, _, docids in loaded:
        for number, docid in enumerate(docids, start=1):
            if docid in first_seen:
                where, line = first_seen[docid]
                raise InputError(
                    shard / DOCID_FILE, number, f"duplicate document id {docid!r} (also {where}:{line})"
                )
            first_seen[docid] = (shard / DOCID_FILE, number)
    chunks = ((docids, stored_vectors(faiss_index, shard)) for shard, faiss_index, docids in loaded)
    return write_index(
        index, chunks, dim, index_type, overwrite, hnsw_m, ef_construction, pq_m, records[shards[0]]
    )


def read_index(index: str | os.PathLike[str]):
    """The FAISS index and docids of an index folder, checked to hold one docid per vector."""
    import faiss

    index = Path(index)
    index_file, docid_file = index / INDEX_FILE, index / DOCID_FILE
    for path in (index_file, docid_file):
        if not path.is_file():
            raise FileNotFoundError(
                f"{index}: not a dense index folder (missing {path.name}; expected {INDEX_FILE} + {DOCID_FILE})"
            )
    faiss_index = faiss.read_index(str(index_file))
    docids = docid_file.read_text(encoding="utf-8").splitlines()
    for number, docid in enumerate(docids, start=1):
        if not docid.strip():
            raise InputError(docid_file, number, "empty document id")
    if len(docids) != faiss_index.ntotal:
        raise InputError(
            docid_file,
            None,
            f"holds {len(docids)} document ids but {index_file} holds {faiss_index.ntotal} vectors "
            "(line i must name vector i)",
        )
    return faiss_index, docids


def stored_vectors(faiss_index, where: str | os.PathLike[str] = "index") -> np.ndarray:
    """The exact vectors of a flat or HNSW-flat index (PQ codes cannot give them back)."""
    import faiss

    inner = faiss.downcast_index(faiss_index)
    storage = faiss.downcast_index(inner.storage) if isinstance(inner, faiss.IndexHNSW) else inner
    if not isinstance(storage, faiss.IndexFlat):
        raise ValueError(
            f"{where}: a {type(inner).__name__} does not keep exact vectors; merge flat or HNSW indexes"
        )
    return storage.reconstruct_n(0, storage.ntotal)


def check_unique_docids(corpus: str | os.PathLike[str]) -> int:
    """Number of documents of ``corpus``; a repeated document id is an :class:`InputError` naming the
    file and line of the repeat (and where the id first occurred)."""
    first_seen: dict[str, tuple[Path, int]] = {}
    total = 0
    for path in corpus_files(corpus):
        for (number, _), doc in zip(numbered_lines(path), iter_corpus(path), strict=True):
            if doc.docid in first_seen:
                where, line = first_seen[doc.docid]
                same = "line" if where == path else f"{where}, line"
                raise InputError(
                    path, number, f"duplicate document id {doc.docid!r} (first on {same} {line})"
                )
            first_seen[doc.docid] = (path, number)
            total += 1
    return total


def encoder_record(encoder) -> dict:
    """What an index records about the encoder that made it: its settings (model, convention, lengths)."""
    return dict(encoder.settings())


def read_encoder_record(index: str | os.PathLike[str]) -> dict | None:
    """The encoder record of an index folder, or None (an index built elsewhere, e.g. by Pyserini)."""
    path = Path(index) / ENCODER_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise InputError(path, None, f"not valid JSON ({err})") from None


def check_encoder(index: str | os.PathLike[str], encoder) -> None:
    """Refuse to search ``index`` with an encoder whose convention (pooling, normalisation, prefixes,
    dimension) differs from the one recorded at indexing time; an index without a record is not checked."""
    recorded = read_encoder_record(index)
    if recorded is None:
        return
    current = encoder_record(encoder)
    differences = [
        f"{key} {recorded[key]!r} at indexing, {current.get(key)!r} now"
        for key in CONVENTION_KEYS
        if key in recorded and recorded[key] != current.get(key)
    ]
    if differences:
        raise ValueError(
            f"{index} was built by encoder {recorded.get('encoder')!r} in another convention: "
            + "; ".join(differences)
            + ". Search it with the settings it was built with (drop --encoder-class/--l2-norm to use the "
            "ones the model folder records), or rebuild the index."
        )


def work_folder(index: str | os.PathLike[str]) -> Path:
    """Where the per-chunk embeddings of an index under construction are kept."""
    index = Path(index)
    return index.parent / f".{index.name}.encoding"


def index_size(index: str | os.PathLike[str]) -> int:
    """Bytes of the ``index`` file."""
    return (Path(index) / INDEX_FILE).stat().st_size


def _check_index_options(index_type: str, dim: int, hnsw_m: int, pq_m: int | None) -> None:
    if index_type not in INDEX_TYPES:
        raise ValueError(f"unknown index type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
    if index_type == "hnsw" and hnsw_m < 2:
        raise ValueError("HNSW needs M >= 2")
    if index_type == "pq" and dim % (pq_m or _default_pq_m(dim)):
        raise ValueError(f"PQ sub-quantisers ({pq_m}) must divide the dimension ({dim})")


def _default_pq_m(dim: int) -> int:
    """Pyserini uses 192 sub-quantisers for 768 dimensions: 4 dimensions each."""
    return dim // 4 if dim % 4 == 0 else dim


def _new_index(index_type: str, dim: int, hnsw_m: int, ef_construction: int, pq_m: int | None):
    import faiss

    if index_type == "flat":
        return faiss.IndexFlatIP(dim)
    if index_type == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = ef_construction
        return hnsw
    return faiss.IndexPQ(dim, pq_m or _default_pq_m(dim), PQ_BITS, faiss.METRIC_INNER_PRODUCT)


def write_index(
    index: Path,
    chunks: Iterable[tuple[list[str], np.ndarray]],
    dim: int,
    index_type: str,
    overwrite: bool,
    hnsw_m: int,
    ef_construction: int,
    pq_m: int | None,
    record: dict | None = None,
) -> Path:
    """Add ``chunks`` of (docids, vectors) to a new index of ``index_type``, written atomically to ``index``."""
    import faiss

    faiss_index = _new_index(index_type, dim, hnsw_m, ef_construction, pq_m)
    docids: list[str] = []
    if index_type == "pq":
        pairs = list(chunks)
        vectors = np.concatenate([v for _, v in pairs]) if pairs else np.empty((0, dim), np.float32)
        if len(vectors) < 1 << PQ_BITS:
            raise ValueError(
                f"a PQ index needs at least {1 << PQ_BITS} vectors to train on; there are {len(vectors)}"
            )
        faiss_index.train(vectors)
        chunks = pairs
    for ids, vectors in chunks:
        faiss_index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        docids.extend(ids)
    with atomic_directory(index, overwrite) as folder:
        faiss.write_index(faiss_index, str(folder / INDEX_FILE))
        (folder / DOCID_FILE).write_text("".join(f"{d}\n" for d in docids), encoding="utf-8")
        if record is not None:
            (folder / ENCODER_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return index


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _prepare_work(work: Path, state: dict, overwrite: bool) -> set[int]:
    """Reuse ``work`` if it was started with the same settings; return the numbers of its saved chunks.

    A work folder without a saved chunk holds nothing worth resuming (e.g. a first attempt that failed
    before encoding anything) and is started afresh whatever its settings."""
    state_file = work / "state.json"
    if state_file.is_file() and any(work.glob("chunk-*.npy")):
        with contextlib.suppress(ValueError):
            if json.loads(state_file.read_text()) == state:
                return {int(p.stem.split("-")[1]) for p in work.glob("chunk-*.npy")}
        if not overwrite:
            raise FileExistsError(
                f"{work} holds embeddings from an interrupted run with other settings (corpus, shard, chunk "
                "size or encoder); pass --overwrite (overwrite=True) to discard them"
            )
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    with atomic_write(state_file) as out:
        json.dump(state, out, indent=1)
    return set()


def _save_chunk(work: Path, number: int, docids: list[str], vectors: np.ndarray) -> None:
    """Docids first, then the vectors: a chunk counts as saved once its ``.npy`` exists."""
    stem = work / f"chunk-{number:06d}"
    with atomic_write(stem.with_suffix(".docid"), overwrite=True) as out:
        out.write("".join(f"{d}\n" for d in docids))
    with atomic_write(stem.with_suffix(".npy"), overwrite=True, mode="wb") as out:
        np.save(out, vectors)


def saved_chunks(work: Path, numbers: Iterable[int] | None = None) -> Iterator[tuple[list[str], np.ndarray]]:
    """The saved chunks of ``work`` (all, or those ``numbers``) in order: docids and vectors."""
    paths = (
        sorted(work.glob("chunk-*.npy"))
        if numbers is None
        else [work / f"chunk-{number:06d}.npy" for number in sorted(numbers)]
    )
    for path in paths:
        docids = path.with_suffix(".docid").read_text(encoding="utf-8").splitlines()
        vectors = np.load(path)
        if len(docids) != len(vectors):
            raise InputError(
                path, None, f"{len(vectors)} vectors but {len(docids)} ids; delete {work} and rerun"
            )
        yield docids, vectors
