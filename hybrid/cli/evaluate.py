"""``hybrid eval``: trec_eval's flags and layout, several runs as one table, significance tests."""

from __future__ import annotations

import argparse
import json
import sys


def register(groups) -> None:
    parser = groups.top.add_parser(
        "eval",
        help="evaluate runs with trec_eval-exact measures",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Evaluate runs against qrels with trec_eval's measures and flags (same numbers to the\n"
        "printed digit).",
        epilog="examples:\n"
        "  hybrid eval -c -M 10 -m recip_rank msmarco-passage-dev-subset run.trec\n"
        "  hybrid eval -c -l 2 -m map -m ndcg_cut.10 -m recall.1000 dl19-passage run.trec\n"
        "  hybrid eval -m nDCG@10 -m R@100 scifact-test a.trec b.trec --baseline a.trec",
    )
    parser.add_argument(
        "qrels",
        metavar="QRELS",
        help="qrels file (TREC or BEIR tsv) or bundled name (scifact-test, dl19-passage, ...)",
    )
    parser.add_argument("runs", metavar="RUN", nargs="+", help="run file(s), TREC or MS MARCO format")
    parser.add_argument(
        "-m",
        dest="measures",
        action="append",
        metavar="MEASURE",
        help="trec_eval measure with optional cutoffs (map, ndcg_cut.10,100, recall.1000, P.10, recip_rank, "
        "Rprec, bpref, success.1,10, num_rel_ret, ...) or alias (MAP, nDCG@10, R@1000, P@10, MRR@10); "
        "repeatable (default trec_eval's official set)",
    )
    parser.add_argument(
        "-c", dest="complete", action="store_true", help="average over all judged queries (missing count 0)"
    )
    parser.add_argument("-q", dest="per_query", action="store_true", help="also print per-query values")
    parser.add_argument(
        "-M", dest="max_docs", type=int, default=None, help="use only the top N docs of each query"
    )
    parser.add_argument(
        "-l", dest="level", type=int, default=1, help="minimum grade counted relevant (default 1)"
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output layout (default text)"
    )
    parser.add_argument(
        "--msmarco",
        action="store_true",
        help="official MS MARCO passage MRR@10 (divided by the number of judged queries) and QueriesRanked",
    )
    parser.add_argument(
        "--baseline", metavar="RUN", help="add paired t-test and randomisation-test p-values against this run"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from hybrid.evaluation import Evaluator, msmarco_mrr
    from hybrid.formats import Qrels
    from hybrid.formats.runs import read_runs

    qrels = Qrels.read(args.qrels)
    paths = list(dict.fromkeys(args.runs + ([args.baseline] if args.baseline else [])))
    runs = dict(zip(paths, read_runs(paths), strict=True))
    if args.msmarco:
        report = {
            path: dict(zip(("MRR@10", "QueriesRanked"), msmarco_mrr(qrels, r, 10, args.level), strict=True))
            for path, r in runs.items()
        }
        if args.format == "json":
            _print_json(report if len(report) > 1 else next(iter(report.values())))
        else:
            for path, values in report.items():
                header = f"{path}\n" if len(report) > 1 else ""
                print(
                    f"{header}#####################\nMRR @10: {values['MRR@10']}\nQueriesRanked: {values['QueriesRanked']}\n#####################"
                )
        return 0
    evaluator = Evaluator(qrels, args.measures, args.level, args.max_docs, args.complete)
    results = {path: evaluator.evaluate(r) for path, r in runs.items()}
    shown = list(args.runs)
    if args.baseline:
        from hybrid.reporting import significance_table

        report = significance_table(evaluator, results, shown, args.baseline)
        if args.format == "json":
            _print_json(report)
        else:
            print(_table(evaluator.names, report))
        return 0
    if args.format == "json":
        if len(shown) == 1:
            _print_json(results[shown[0]].to_dict(args.per_query))
        else:
            _print_json({p: results[p].to_dict(args.per_query) for p in shown})
        return 0
    if len(shown) == 1:
        sys.stdout.write(results[shown[0]].trec_eval_text(args.per_query))
        return 0
    report = {p: {"measures": results[p].to_dict()} for p in shown}
    print(_table(evaluator.names, report))
    return 0


def _print_json(data) -> None:
    print(json.dumps(data, indent=2))


def _table(names: list[str], report: dict) -> str:
    """One row per run, one column per measure (4 decimals), p-values in brackets when present."""
    shown = [n for n in names if n != "num_q"]
    rows = [["run", *shown]]
    for path, entry in report.items():
        cells = [path]
        for n in shown:
            value = entry["measures"][n]
            cell = f"{value:.4f}" if isinstance(value, float) else str(value)
            if "p_t" in entry:
                cell += f" ({entry['p_t'][n]:.3f}/{entry['p_rand'][n]:.3f})"
            cells.append(cell)
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    if any("p_t" in e for e in report.values()):
        lines.append(
            "(in brackets: p-values against the baseline, paired t-test / randomisation test with 10,000 trials)"
        )
    return "\n".join(lines)
