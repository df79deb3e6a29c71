"""The wheel is a real package: installed (not editable) in a fresh virtual environment, it resolves
every bundled name from any directory."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("hybrid", "data", "qrels", "setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md")

RESOLVE_EVERY_NAME = """
import sys
from pathlib import Path
import hybrid
from hybrid import Qrels, read_topics
from hybrid.formats import count_documents
from hybrid.datasets import CORPORA, TOPIC_SETS, corpus_path, qrels_path

package = Path(hybrid.__file__).resolve().parent
assert package.is_relative_to(Path(sys.prefix).resolve()), package
for name in TOPIC_SETS:
    assert qrels_path(name).resolve().is_relative_to(package), qrels_path(name)
    topics, qrels = read_topics(name), Qrels.read(name)
    assert topics and qrels and set(qrels) <= set(topics), name
    print(name, len(topics), len(qrels))
for name in CORPORA:
    assert corpus_path(name).resolve().is_relative_to(package), corpus_path(name)
    print(name, count_documents(name))
"""


@pytest.mark.slow
def test_installed_wheel_resolves_every_bundled_name(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:  # a clean copy: no compiled modules or caches of the checkout
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", tmp_path / "dist", source], check=True, timeout=900)
    (wheel,) = (tmp_path / "dist").glob("hybrid-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--no-deps", wheel], check=True, timeout=300)
    # The dependencies already installed here, as plain path entries after the new environment's own
    # (their .pth files, among them this checkout's editable install, are not processed).
    (purelib,) = {Path(p) for p in venv.glob("lib/python*/site-packages")}
    (purelib / "reused_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [python, "-c", RESOLVE_EVERY_NAME],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "scifact-test 300 300" in done.stdout and "scifact 5183" in done.stdout
