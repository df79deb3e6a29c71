"""What users meet first: --version, the top-level help and every command's help text."""

from __future__ import annotations

import argparse
import re

import pytest

import hybrid
from hybrid.cli import build_parser, main


def parsers(parser: argparse.ArgumentParser, prefix: str = "hybrid"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{prefix} {name}")


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"hybrid {hybrid.__version__}"


def test_top_level_help_has_examples_and_points_to_the_readme():
    text = build_parser().format_help()
    examples = text.split("examples:\n", 1)[1]
    assert len(re.findall(r"^  hybrid \w+", examples, re.M)) == 3
    assert "README.md" in examples


def test_eval_help_lists_examples_one_per_line_and_explains_its_arguments():
    (eval_parser,) = [p for name, p in parsers(build_parser()) if name == "hybrid eval"]
    text = eval_parser.format_help()
    assert " | " not in text
    assert len(re.findall(r"^  hybrid eval ", text, re.M)) == 3
    positional = {a.metavar: a.help for a in eval_parser._actions if not a.option_strings and a.metavar}
    assert positional["QRELS"] and positional["RUN"]


def test_defaults_are_spelled_one_way():
    """Every help text that names a default says "(default X)"."""
    for name, parser in parsers(build_parser()):
        for action in parser._actions:
            text = action.help or ""
            assert not re.search(r"default:|; default\)|\(default\)", text, re.I), (name, action.dest, text)
