"""The --ray flags without a running Ray: nothing imported without them, clear errors when misused."""

from __future__ import annotations

import subprocess
import sys

from scale_support import ROOT


def _python(code: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_help_and_eval_load_no_ray():
    done = _python(
        "import sys\n"
        "from hybrid.cli import main\n"
        "for argv in (['search', 'dense', '--help'], ['eval', '--help'], ['train', 'student', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('ray', 'torch', 'jnius', 'faiss') if m in sys.modules))\n"
    )
    assert done.returncode == 0, done.stderr
    assert "--gpus-per-worker" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_worker_flags_need_ray(tmp_path):
    from hybrid.cli import main

    argv = ["search", "sparse", "--index", str(tmp_path), "--topics", "scifact-test"]
    assert main([*argv, "--output", str(tmp_path / "run.trec"), "--workers", "4"]) == 2


def test_missing_ray_says_what_to_install(tmp_path):
    done = _python(
        "import sys\n"
        "sys.modules['ray'] = None  # as if Ray were not installed\n"
        "from hybrid.cli import main\n"
        f"sys.exit(main(['index', 'dense', '--corpus', 'scifact', '--index', {str(tmp_path / 'index')!r}, "
        "'--encoder', 'minilm', '--ray']))\n"
    )
    assert done.returncode == 2
    assert "pip install 'hybrid[ray]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "index").exists()
