"""The measure registry: aliases resolve through it, and its metadata is what the parser and tuning read."""

from __future__ import annotations

import pytest

from hybrid.evaluation import FAMILIES, Measure, output_names, parse_measures


def test_aliases_resolve_to_trec_eval_families():
    measures = parse_measures(["nDCG@10", "R@1000", "MRR@10", "AP", "P@10", "MAP", "map@5", "nDCG"])
    assert measures == [
        Measure("map", ()),
        Measure("P", (10,)),
        Measure("recall", (1000,)),
        Measure("ndcg", ()),
        Measure("ndcg_cut", (10,)),
        Measure("map_cut", (5,)),
        Measure("MRR", (10,)),
    ]
    assert output_names(measures) == [
        "map",
        "P_10",
        "recall_1000",
        "ndcg",
        "ndcg_cut_10",
        "map_cut_5",
        "MRR@10",
    ]


def test_families_without_parameters_take_defaults_and_merge_cutoffs():
    assert parse_measures(["success"]) == [Measure("success", (1, 5, 10))]
    assert parse_measures(["P.5", "P@20", "P.10,5"]) == [Measure("P", (5, 10, 20))]
    assert output_names(parse_measures(["iprec_at_recall.0.5"])) == ["iprec_at_recall_0.50"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("MRR", "unknown measure"), ("foo@3", "unknown measure alias"), ("map.5", "takes no parameters"),
     ("P.0", "must be positive"), ("P.x", "bad parameters"), ("official", "is a set")],
)  # fmt: skip
def test_bad_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_measures([spec])


def test_metadata_that_tuning_reads():
    assert {name for name, f in FAMILIES.items() if f.length_dependent} == {"num_ret", "iprec_at_recall"}
    assert {name for name, f in FAMILIES.items() if f.cutoff} == {
        "P",
        "recall",
        "ndcg_cut",
        "map_cut",
        "success",
        "MRR",
    }
    assert Measure("ndcg_cut", (5, 100)).cutoff == 100
    assert Measure("map").cutoff is None
    assert [name for name, f in FAMILIES.items() if f.reads_grades] == ["ndcg", "ndcg_cut"]
    assert {name for name, f in FAMILIES.items() if f.summary == "sum"} == {
        "num_q", "num_ret", "num_rel", "num_rel_ret", "num_nonrel_judged_ret"
    }  # fmt: skip
