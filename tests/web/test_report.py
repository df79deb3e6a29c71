"""`hybrid compare`: the report's data, and the report itself opened from file:// in Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import hybrid
from hybrid.cli import main

K = 5


def per_query(run_path, measure: str) -> dict[str, float]:
    values = hybrid.evaluate("scifact-test", hybrid.Run.read(run_path), [measure], per_query=True)[
        "per_query"
    ]
    return {q: next(iter(v.values())) for q, v in values.items()}


def outcomes(baseline, other, measure: str) -> tuple[int, int, int]:
    """Wins, ties and losses of ``other`` against ``baseline``, from hybrid.evaluate alone."""
    a, b = per_query(baseline, measure), per_query(other, measure)
    diffs = [b.get(q, 0.0) - a.get(q, 0.0) for q in set(a) | set(b)]
    return sum(d > 0 for d in diffs), sum(d == 0 for d in diffs), sum(d < 0 for d in diffs)


def embedded(path) -> dict:
    text = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report(scifact_slice_runs, scifact_slice, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    bm25, dense = folder / "bm25.trec", folder / "dense.trec"
    scifact_slice_runs["bm25-test"].write(bm25)
    scifact_slice_runs["dense-test"].write(dense)
    output = folder / "report.html"
    args = ["compare", "--qrels", "scifact-test", "--topics", "scifact-test", "--corpus", str(scifact_slice)]
    assert main([*args, "--k", str(K), str(bm25), str(dense), "--output", str(output)]) == 0
    return output, bm25, dense


@pytest.mark.slow
def test_report_embeds_the_top_k_grades_and_only_the_shown_passages(report, scifact_slice):
    output, bm25, dense = report
    data = embedded(output)
    assert data["k"] == K and data["runs"] == [str(bm25), str(dense)]
    qrels, topics = hybrid.Qrels.read("scifact-test"), hybrid.read_topics("scifact-test")
    runs = [hybrid.Run.read(bm25).to_dict(), hybrid.Run.read(dense).to_dict()]
    docs = [d for d, _ in data["docs"]]
    shown = set()
    for qid, text, values, lists in data["queries"]:
        assert text == topics[qid] and len(values) == 2
        for r, entries in enumerate(lists):
            assert [docs[e[0]] for e in entries] == list(runs[r][qid])[:K]
            for doc, grade, ranks in entries:
                docid = docs[doc]
                shown.add(docid)
                assert grade == qrels[qid].get(docid)
                assert ranks == [list(run[qid]).index(docid) + 1 if docid in run[qid] else 0 for run in runs]
    assert set(docs) == shown  # nothing embedded that is not shown
    corpus = {d.docid: " ".join(d.contents.split()) for d in hybrid.iter_corpus(scifact_slice)}
    for docid, snippet in data["docs"]:
        assert corpus[docid].startswith(snippet.removesuffix(" …"))
    summary = {entry["run"]: entry for entry in data["summary"]}
    expected = hybrid.evaluate("scifact-test", hybrid.Run.read(dense), ["nDCG@10", "R@100", "MRR@10", "map"])
    assert summary[str(dense)]["measures"] == pytest.approx(expected)
    assert 0 < summary[str(dense)]["p_t"]["ndcg_cut_10"] <= 1 and "p_t" not in summary[str(bm25)]


@pytest.mark.slow
def test_report_opens_offline_with_the_right_counts_filters_and_keys(report, page):
    output, bm25, dense = report
    page.goto(output.as_uri())
    page.wait_for_selector("#current-qid")
    assert f"top k = {K}" in page.inner_text("header")

    def counts() -> tuple[int, int, int]:
        return tuple(int(page.inner_text(f"#{name}")) for name in ("wins", "ties", "losses"))

    assert page.input_value("#measure") == str(embedded(output)["measures"].index("ndcg_cut_10"))
    assert counts() == outcomes(bm25, dense, "nDCG@10")
    page.select_option("#measure", label="recall_100")
    assert counts() == outcomes(bm25, dense, "R@100")
    page.select_option("#measure", label="ndcg_cut_10")

    wins, ties, losses = counts()
    page.select_option("#filter", "loss")
    assert page.locator("#queries li").count() == losses
    assert all(float(t) < 0 for t in page.locator("#queries li .d").all_inner_texts())
    page.select_option("#filter", "all")
    assert page.locator("#queries li").count() == wins + ties + losses

    qid = page.locator("#queries li").nth(7).get_attribute("data-qid")
    page.fill("#search", qid)
    assert qid in page.locator("#queries li").first.get_attribute("data-qid")
    words = hybrid.read_topics("scifact-test")[qid].split()[1:3]
    page.fill("#search", " ".join(words).lower())
    assert page.locator("#queries li").count() >= 1
    page.fill("#search", "")

    page.locator("body").click(position={"x": 5, "y": 5})
    listed = page.locator("#queries li").evaluate_all("items => items.map(li => li.dataset.qid)")
    first = page.get_attribute("#current-qid", "data-qid")
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#current-qid", "data-qid") == listed[listed.index(first) + 1]
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.get_attribute("#current-qid", "data-qid") == listed[listed.index(first) + 1]
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"

    assert page.locator(".column").count() == 2
    assert page.locator(".column[data-run='0'] .doc").count() == K
    assert page.locator(".grade.unjudged").count() > 0
    assert page.locator(".doc .text mark").count() > 0  # query terms highlighted in the passages
    assert page.locator("svg.gutter line").count() == K


def test_compare_refuses_bad_input(tmp_path, capsys):
    run = tmp_path / "a.trec"
    hybrid.Run.from_dict({"1": {"d1": 2.0, "d2": 1.0}}).write(run)
    output = tmp_path / "report.html"
    base = ["compare", "--qrels", "scifact-test", "--topics", "scifact-test", "--output", str(output)]
    assert main([*base, str(run)]) == 2
    assert "at least two runs" in capsys.readouterr().err
    assert main([*base, str(run), str(tmp_path / "missing.trec")]) == 2
    assert "missing.trec" in capsys.readouterr().err
    output.write_text("keep")
    assert main([*base, str(run), str(run)]) == 2
    assert "--overwrite" in capsys.readouterr().err and output.read_text() == "keep"


def test_eval_help_loads_no_web_stack():
    code = (
        "import sys\nfrom hybrid.cli import main\ntry:\n    main(['eval', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('fastapi', 'uvicorn', 'starlette', 'playwright', 'hybrid.web.app', 'hybrid.web.report', 'torch')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
