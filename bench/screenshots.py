"""The pictures in docs/ and the README: a `hybrid compare` report and the `hybrid serve` search page.

Usage: python -m bench.screenshots --sparse-index I --dense-index J --corpus C --runs A B [C ...]
           [--qrels scifact-test] [--topics scifact-test] [--output docs]
Writes OUTPUT/compare.png (the report of the runs, first query with a loss) and OUTPUT/search.png
(a query typed into the search page, α moved to 0.042) in headless Chromium.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from hybrid import HybridSearcher, iter_corpus
from hybrid.web.app import create_app, serving
from hybrid.web.browser import chromium
from hybrid.web.report import write_report

QUERY = "vitamin D deficiency and bone fractures"
VIEWPORT = {"width": 1400, "height": 1000}


def report_picture(browser, report: Path, output: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(report.as_uri())
    page.wait_for_selector("#current-qid")
    page.select_option("#filter", "loss")
    page.wait_for_selector("#current-qid")
    page.screenshot(path=str(output))
    page.close()


def search_picture(browser, base: str, output: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(base + "/")
    page.fill("#q", QUERY)
    page.press("#q", "Enter")
    page.wait_for_selector("body[data-state='ready']")
    page.fill("#alpha", "0.042")
    page.wait_for_selector("#hybrid[data-alpha='0.042']")
    page.screenshot(path=str(output))
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sparse-index", required=True)
    parser.add_argument("--dense-index", required=True)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--qrels", default="scifact-test")
    parser.add_argument("--topics", default="scifact-test")
    parser.add_argument("--output", type=Path, default=Path("docs"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, chromium() as browser:
        report = write_report(Path(folder) / "report.html", args.qrels, args.topics, args.runs, args.corpus)
        report_picture(browser, report, args.output / "compare.png")
        searcher = HybridSearcher(args.sparse_index, args.dense_index, args.encoder)
        passages = {doc.docid: doc.contents for doc in iter_corpus(args.corpus)}
        with serving(create_app(searcher, passages)) as base:
            search_picture(browser, base, args.output / "search.png")
    print(f"wrote {args.output / 'compare.png'} and {args.output / 'search.png'}")


if __name__ == "__main__":
    main()
