"""BM25 top-k from Lucene as arrays: internal doc numbers and scores, no stored document read per hit.

:class:`LuceneBM25` runs exactly what Anserini's ``SimpleSearcher.search`` runs (the bag-of-words query
of the index's analyzer, Lucene's ``BM25Similarity(k1, b)``, top-k sorted by score then by docid
string, then Anserini's reranker cascade: RM3 if asked, and the score-ties adjuster), but hands back
the doc numbers and scores as two arrays per query instead of one Java object per hit that loads its
stored document. Doc numbers become external ids through :func:`docid_table`, read once per index
commit and cached inside the index folder.

The JDK from PyPI has no compiler, so the small pieces of Java glue (copy a ``TopDocs``'s hits into
the ``int[]``/``float[]`` of Anserini's ``ScoredDocs``; list every document's id) are composed from
``java.lang.invoke`` method handles at run time.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa

from hybrid.sparse.java import java_class

# Where the doc-number -> id table is cached, inside the index folder (Lucene ignores the name).
DOCID_TABLE = "hybrid-docids.arrow"
_ID, _CONTENTS = "id", "contents"


class _Glue:
    """Method-handle programs used by every searcher (built once per JVM)."""

    _instance: _Glue | None = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> _Glue:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        handles = java_class("java.lang.invoke.MethodHandles")
        method_type = java_class("java.lang.invoke.MethodType")
        proxies = java_class("java.lang.invoke.MethodHandleProxies")
        klass = java_class("java.lang.Class").forName
        lookup = handles.publicLookup()
        void, integer = java_class("java.lang.Void").TYPE, java_class("java.lang.Integer").TYPE
        top_docs, score_doc = (
            klass("org.apache.lucene.search.TopDocs"),
            klass("org.apache.lucene.search.ScoreDoc"),
        )
        score_docs = klass("[Lorg.apache.lucene.search.ScoreDoc;")
        scored = klass("io.anserini.search.ScoredDocs")

        def copy_field(name: str, primitive, array):
            """(ScoreDoc[] hits) -> array of each hit's ``name`` field, as one counted loop."""
            value_at = handles.filterReturnValue(
                handles.arrayElementGetter(score_docs), lookup.findGetter(score_doc, name, primitive)
            )
            store = handles.collectArguments(handles.arrayElementSetter(array), 2, value_at)
            store = handles.permuteArguments(
                store, method_type.methodType(void, [array, integer, score_docs]), 0, 1, 2, 1
            )
            body = handles.foldArguments(
                handles.dropArguments(handles.identity(array), 1, integer, score_docs), store
            )
            length = handles.arrayLength(score_docs)
            return handles.countedLoop(
                length, handles.filterReturnValue(length, handles.arrayConstructor(array)), body
            )

        def set_from_hits(field: str, array, values):
            """(ScoredDocs target, ScoreDoc[] hits) -> void: target.field = values(hits)."""
            return handles.filterArguments(lookup.findSetter(scored, field, array), 1, values)

        documents = klass("[Lorg.apache.lucene.document.Document;")
        no_documents = handles.filterReturnValue(
            handles.arrayLength(score_docs), handles.arrayConstructor(documents)
        )
        fill = [
            set_from_hits("lucene_docids", klass("[I"), copy_field("doc", integer, klass("[I"))),
            set_from_hits(
                "scores", klass("[F"), copy_field("score", java_class("java.lang.Float").TYPE, klass("[F"))
            ),
            set_from_hits("lucene_documents", documents, no_documents),
        ]
        # (ScoredDocs target, ScoreDoc[] hits) -> target, with all three fields set
        program = handles.dropArguments(handles.identity(scored), 1, score_docs)
        for setter in fill:
            program = handles.foldArguments(program, setter)
        # (TopDocs) -> a new ScoredDocs
        program = handles.foldArguments(program, lookup.findConstructor(scored, method_type.methodType(void)))
        program = handles.filterArguments(program, 0, lookup.findGetter(top_docs, "scoreDocs", score_docs))
        function = klass("java.util.function.Function")
        self.scored_docs = proxies.asInterfaceInstance(function, program)

        # (int doc) -> the document's stored id, for listing every id of an index
        stored_fields = klass("org.apache.lucene.index.StoredFields")
        document = klass("org.apache.lucene.document.Document")
        self._load = lookup.findVirtual(
            stored_fields, "document", method_type.methodType(document, [integer, klass("java.util.Set")])
        )
        self._get = handles.insertArguments(
            lookup.findVirtual(
                document,
                "get",
                method_type.methodType(klass("java.lang.String"), [klass("java.lang.String")]),
            ),
            1,
            _ID,
        )
        self._handles, self._proxies, self._klass = handles, proxies, klass

    def all_ids(self, reader) -> str:
        """Every document's id in doc-number order, joined by newlines (one Java string)."""
        handles = self._handles
        only_id = java_class("java.util.Collections").singleton(_ID)
        load = handles.insertArguments(self._load, 0, reader.storedFields())
        load = handles.insertArguments(load, 1, only_id)
        doc_id = self._proxies.asInterfaceInstance(
            self._klass("java.util.function.IntFunction"), handles.filterReturnValue(load, self._get)
        )
        ids = java_class("java.util.stream.IntStream").range(0, reader.maxDoc()).mapToObj(doc_id)
        return ids.collect(
            java_class("java.util.stream.Collectors").joining(java_class("java.lang.String")("\n"))
        )


def open_reader(index: str | os.PathLike[str]):
    """A Lucene ``DirectoryReader`` on the index folder."""
    directory = java_class("org.apache.lucene.store.FSDirectory").open(
        java_class("java.io.File")(str(Path(index).resolve())).toPath()
    )
    return java_class("org.apache.lucene.index.DirectoryReader").open(directory)


def commit_key(reader) -> str:
    """What identifies the index's commit: segments generation and the commit's random id."""
    commit = reader.getIndexCommit()
    infos = java_class("org.apache.lucene.index.SegmentInfos").readCommit(
        commit.getDirectory(), commit.getSegmentsFileName()
    )
    return f"{int(commit.getGeneration())}-{bytes(b & 0xFF for b in infos.getId()).hex()}"


def docid_table(index: str | os.PathLike[str], reader=None) -> pa.Array:
    """External id of every Lucene doc number, as an Arrow string array.

    Read from ``<index>/hybrid-docids.arrow`` when that file was made for the index's current commit;
    otherwise listed from the stored ids (a few seconds per million documents) and cached there
    (skipped when the folder is read-only).
    """
    path = Path(index) / DOCID_TABLE
    reader = reader if reader is not None else open_reader(index)
    key = commit_key(reader)
    try:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
        if (table.schema.metadata or {}).get(b"commit") == key.encode():
            return table.column(0).combine_chunks()
    except (OSError, pa.ArrowInvalid):
        pass
    joined = _Glue.get().all_ids(reader)
    ids = pa.array(joined.split("\n") if joined or reader.maxDoc() else [], pa.string())
    if len(ids) != reader.maxDoc():
        raise ValueError(f"{index}: document ids contain newlines; cannot build the doc-number table")
    table = pa.table({"docid": ids}).replace_schema_metadata({"commit": key})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
    return ids


class LuceneBM25:
    """Anserini's BM25 (and RM3) search of one index, results as doc numbers and scores.

    Thread-safe: :meth:`top` may run on several threads at once (the JVM runs them in parallel).
    """

    def __init__(self, index: str | os.PathLike[str], k1: float, b: float, rm3: tuple | None = None):
        self.reader = open_reader(index)
        self.searcher = java_class("org.apache.lucene.search.IndexSearcher")(
            self.reader, signature="(Lorg/apache/lucene/index/IndexReader;)V"
        )
        self.searcher.setSimilarity(java_class("org.apache.lucene.search.similarities.BM25Similarity")(k1, b))
        self.analyzer = java_class("io.anserini.index.IndexCollection").DEFAULT_ANALYZER
        self.generator = java_class("io.anserini.search.query.BagOfWordsQueryGenerator")()
        self.sort = java_class("io.anserini.search.SimpleSearcher").BREAK_SCORE_TIES_BY_DOCID
        self._glue = _Glue.get()
        self._adjust = java_class("io.anserini.rerank.lib.ScoreTiesAdjusterReranker")()
        self._rm3 = None
        if rm3 is not None:
            fb_terms, fb_docs, original_weight = rm3
            cascade = java_class("io.anserini.rerank.RerankerCascade")("rm3")
            reranker = java_class("io.anserini.rerank.lib.Rm3Reranker")(
                self.analyzer,
                None,
                _CONTENTS,
                int(fb_terms),
                int(fb_docs),
                float(original_weight),
                False,
                True,
            )
            cascade.add(reranker)
            cascade.add(self._adjust)
            self._rm3 = cascade
        self.ids = docid_table(index, self.reader)

    @property
    def num_docs(self) -> int:
        return int(self.reader.numDocs())

    def top(self, text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Doc numbers (``int32``) and Anserini's scores (``float32``) of the top ``k``, best first."""
        query = self.generator.buildQuery(_CONTENTS, self.analyzer, text)
        if self._rm3 is None:
            hits = self._glue.scored_docs.apply(self.searcher.search(query, int(k), self.sort, True))
            hits = self._adjust.rerank(hits, None)
        else:
            args = java_class("io.anserini.search.SearchCollection$Args")()
            args.hits = int(k)
            first = self.searcher.search(query, int(args.rerankcutoff), self.sort, True)
            tokens = java_class("io.anserini.analysis.AnalyzerUtils").analyze(self.analyzer, text)
            context = java_class("io.anserini.rerank.RerankerContext")(
                self.searcher, None, query, None, text, tokens, None, args
            )
            hits = self._rm3.run(self._glue.scored_docs.apply(first), context)
        return np.array(hits.lucene_docids, dtype=np.int32), np.array(hits.scores, dtype=np.float32)
