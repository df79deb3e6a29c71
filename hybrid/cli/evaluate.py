"""``hybrid eval``: trec_eval's flags and layout, several runs as one table, significance tests."""

from __future__ import annotations

import argparse
import json
import sys

from hybrid.cli._common import non_negative_int, positive_int


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
        "-M", dest="max_docs", type=positive_int, default=None, help="use only the top N docs of each query"
    )
    parser.add_argument(
        "-l",
        dest="level",
        type=non_negative_int,
        default=1,
        help="minimum grade counted relevant (default 1)",
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
    shown = list(dict.fromkeys(([args.baseline] if args.baseline else []) + args.runs))
    runs = dict(zip(shown, read_runs(shown), strict=True))
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
    p_values = {}
    if args.baseline:
        from hybrid.reporting import significance_table

        p_values = significance_table(evaluator, results, shown, args.baseline)
    if args.format == "json":
        objects = {p: results[p].to_dict(args.per_query) | p_values.get(p, {}) for p in shown}
        _print_json(objects[shown[0]] if len(shown) == 1 else objects)
    elif len(shown) == 1 and not args.baseline:
        sys.stdout.write(results[shown[0]].trec_eval_text(args.per_query))
    else:
        from hybrid.reporting import per_query_tables, summary_table

        if args.per_query:
            print(per_query_tables(results), end="\n\n")
        print(summary_table(evaluator.names, results, p_values))
    return 0


def _print_json(data) -> None:
    print(json.dumps(data, indent=2))
