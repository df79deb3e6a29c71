"""The run-comparison report: one self-contained HTML file (``hybrid compare``).

The report embeds, as one JSON block, what the page needs and nothing more: the summary table of
``hybrid eval`` (with paired p-values against the first run), every query's per-measure values for
every run, each run's top ``k`` per query with grades and the documents' ranks in the other runs,
and a snippet of each shown document, read from a streamed corpus that keeps only those ids.
The page (``assets/report.html``, inline CSS and JavaScript) draws everything else.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from hybrid.evaluation import Evaluator, Result, output_names, parse_measures
from hybrid.formats import Qrels, Run, iter_corpus, read_topics
from hybrid.io import atomic_write
from hybrid.reporting import significance_table
from hybrid.web import DEFAULT_MEASURES, page_template

DEFAULT_K = 10
SNIPPET_CHARS = 320
PLACEHOLDER = "/*REPORT_DATA*/"


def query_order(evaluator: Evaluator, results: Iterable[Result]) -> list[str]:
    """The queries the report shows: every judged query with ``-c``, else the judged queries some run answered."""
    if evaluator.complete:
        return list(evaluator.qrels.query_ids)
    return sorted({q for r in results for q in r.query_ids}, key=str.encode)


def per_query_values(result: Result, names: Sequence[str], queries: Sequence[str]) -> np.ndarray:
    """``queries × names`` values of one run (0 where the run did not answer a query)."""
    index = {q: i for i, q in enumerate(result.query_ids)}
    rows = np.array([index.get(q, -1) for q in queries], dtype=np.int64)
    values = np.zeros((len(queries), len(names)))
    answered = rows >= 0
    for j, name in enumerate(names):
        values[answered, j] = result.per_query[name][rows[answered]]
    return values


def top_lists(run: Run, k: int) -> dict[str, list[str]]:
    """``{qid: [docid, ...]}``: the first ``k`` documents of every query of a run."""
    top = run.top(k)
    qids = top.query_ids.take(pa.array(top.qids)).to_pylist()
    lists: dict[str, list[str]] = {}
    for qid, docid in zip(qids, top.doc_ids.to_pylist(), strict=True):
        lists.setdefault(qid, []).append(docid)
    return lists


def ranks_of(run: Run, pairs: pa.Array) -> dict[str, int]:
    """The rank in ``run`` of each ``"qid\\tdocid"`` key of ``pairs`` that the run retrieved."""
    if not len(run):
        return {}
    keys = pc.binary_join_element_wise(run.query_ids.take(pa.array(run.qids)), run.doc_ids, "\t")
    found = pc.is_in(keys, value_set=pairs)
    rows = np.flatnonzero(found.to_numpy(zero_copy_only=False))
    return dict(zip(keys.filter(found).to_pylist(), run.ranks()[rows].tolist(), strict=True))


def snippets(corpus: str | os.PathLike[str], docids: set[str], chars: int = SNIPPET_CHARS) -> dict[str, str]:
    """The first ``chars`` characters (cut at a word) of each wanted document; the corpus is streamed and
    only the wanted ids are kept. Stops as soon as all are found."""
    found: dict[str, str] = {}
    with tqdm(desc="reading corpus", unit=" docs", unit_scale=True, mininterval=1.0) as progress:
        for doc in iter_corpus(corpus):
            progress.update()
            if doc.docid in docids:
                found[doc.docid] = _shorten(" ".join(doc.contents.split()), chars)
                if len(found) == len(docids):
                    break
    return found


def _shorten(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    cut = text.rfind(" ", 0, chars)
    return text[: cut if cut > chars // 2 else chars] + " …"


def report_data(
    qrels: Qrels,
    topics: Mapping[str, str],
    runs: Mapping[str, Run],
    corpus: str | os.PathLike[str] | None,
    measures: Sequence[str] | None = DEFAULT_MEASURES,
    k: int = DEFAULT_K,
    relevance_level: int = 1,
    complete: bool = False,
    snippet_chars: int = SNIPPET_CHARS,
) -> dict:
    """Everything the report page shows, as plain JSON-ready data (see the module docstring)."""
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    if k < 1:
        raise ValueError(f"k must be a positive integer, not {k}")
    names = list(runs)
    evaluator = Evaluator(qrels, measures, relevance_level, complete=complete)
    results = {name: evaluator.evaluate(run) for name, run in runs.items()}
    tests = significance_table(evaluator, results, names, names[0])  # p-values of every run but A
    charted = [n for n in evaluator.names if not n.startswith("num_") and n != "gm_map"]
    queries = query_order(evaluator, results.values())
    values = np.stack([per_query_values(results[n], charted, queries) for n in names], axis=1)

    wanted = set(queries)
    lists = [{q: docs for q, docs in top_lists(run, k).items() if q in wanted} for run in runs.values()]
    pairs = sorted({f"{q}\t{d}" for per_run in lists for q, docs in per_run.items() for d in docs})
    ranks = [ranks_of(run, pa.array(pairs, pa.string())) for run in runs.values()]
    docids = sorted({p.split("\t", 1)[1] for p in pairs})
    texts = snippets(corpus, set(docids), snippet_chars) if corpus is not None else {}
    doc_index = {d: i for i, d in enumerate(docids)}

    rows = []
    for i, qid in enumerate(queries):
        judged = qrels.get(qid, {})
        shown = [
            [
                [doc_index[d], judged.get(d), [r.get(f"{qid}\t{d}", 0) for r in ranks]]
                for d in per_run.get(qid, [])
            ]
            for per_run in lists
        ]
        rows.append([qid, topics.get(qid, ""), values[i].tolist(), shown])
    return {
        "k": k,
        "runs": names,
        "measures": charted,
        "first_measure": output_names(parse_measures(list(measures)[:1]))[0] if measures else charted[0],
        "columns": [n for n in evaluator.names if n != "num_q"],
        "summary": [
            {"run": n, **_finite({"measures": results[n].to_dict(), **tests.get(n, {})})} for n in names
        ],
        "queries": rows,
        "docs": [[d, texts.get(d)] for d in docids],
        "corpus": str(corpus) if corpus is not None else None,
    }


def _finite(entry: dict) -> dict:
    """JSON has no NaN: p-values that were not computed become null."""
    return {
        key: {n: None if isinstance(v, float) and math.isnan(v) else v for n, v in part.items()}
        for key, part in entry.items()
    }


def render(data: dict) -> str:
    """The report page with ``data`` embedded (``<`` escaped, so no text can close the script)."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return page_template("report.html").replace(PLACEHOLDER, payload.replace("<", "\\u003c"))


def write_report(
    output: str | os.PathLike[str],
    qrels: Qrels | str,
    topics: Mapping[str, str] | str,
    runs: Sequence[str | os.PathLike[str]],
    corpus: str | os.PathLike[str] | None,
    overwrite: bool = False,
    **options,
) -> Path:
    """Read the inputs, build the report and write it atomically to ``output``."""
    from hybrid.formats.runs import read_runs
    from hybrid.io import check_writable

    check_writable(output, overwrite)
    qrels = qrels if isinstance(qrels, Qrels) else Qrels.read(qrels)
    topics = topics if isinstance(topics, Mapping) else read_topics(topics)
    names = [str(r) for r in runs]
    if len(set(names)) != len(names):
        raise ValueError("the same run is given twice")
    data = report_data(qrels, topics, dict(zip(names, read_runs(runs), strict=True)), corpus, **options)
    with atomic_write(output, overwrite=overwrite) as out:
        out.write(render(data))
    return Path(output)
