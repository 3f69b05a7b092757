"""generate.py's lint step as a user runs it: a malformed lint cache is rebuilt without a traceback, the cold run
stores what makes the next run warm (the inputs' fingerprint, each template's lint time), and the warm run then
starts no linter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from checks.lint import fingerprint, prestart

ROOT = Path(__file__).resolve().parent.parent


def _generate(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "generate.py")], cwd=cwd, capture_output=True, text=True,
                          timeout=180)


def test_a_cache_that_is_json_but_not_an_object_is_rebuilt_and_the_next_run_is_warm(tmp_path):
    shutil.copytree(ROOT / "params", tmp_path / "params")
    shutil.copytree(ROOT / "output", tmp_path / "output", ignore=shutil.ignore_patterns("packaged"))
    cache = tmp_path / ".cache" / "cfn-lint.json"
    cache.parent.mkdir()
    cache.write_text("[]")  # valid JSON, not an object: was a TypeError

    cold = _generate(tmp_path)
    assert cold.returncode == 0, cold.stderr
    assert "Traceback" not in cold.stderr and f"{_count()} templates clean" in cold.stdout
    stored = json.loads(cache.read_text())
    assert stored["fingerprint"] == fingerprint(tmp_path)
    templates = {str(p.relative_to(tmp_path)) for p in (tmp_path / "output").glob("*/*.yaml")}
    assert set(stored["seconds"]) == templates and all(t > 0 for t in stored["seconds"].values())

    assert prestart(tmp_path).pid is None  # what the next build will do: nothing to start
    warm = _generate(tmp_path)
    assert warm.returncode == 0, warm.stderr
    assert f"{_count()} templates clean" in warm.stdout
    assert json.loads(cache.read_text()) == stored  # all answered from the cache, nothing re-linted


def _count() -> int:
    """How many templates the committed output has (the build lints every one)."""
    root = Path(__file__).resolve().parent.parent / "output"
    return sum(1 for env in root.iterdir() if env.is_dir() for _ in env.glob("*.yaml"))
