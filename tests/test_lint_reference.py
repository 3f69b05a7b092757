"""Our lint step finds exactly what a plain `cfn-lint` command finds: over the committed output/ and a set of broken
templates, the `cfn-lint` console script (its own process, its own rule loading, JSON output) and checks/lint.py (the
prestarted linter with its forked worker, as generate.py lints) give the same findings, one for one: file, line,
rule, level and message. That checks/lint.py's other paths (in this process, balanced workers, the cache) find the
same as the prestarted one is tests/test_lint.py's ``test_findings_are_identical_with_and_without_the_speed_ups``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import checks.lint as mod
from checks.lint import Finding, lint, prestart
from templates.config import environments, load_params
from tests import test_lint
from tests.test_lint import BROKEN

ROOT = Path(__file__).resolve().parent.parent
REGIONS = sorted({load_params(e).region for e in environments()})
corpus = test_lint.corpus  # the same fixture (committed and broken templates), requested by name below




def plain_cfn_lint(paths: list[Path]) -> list[Finding]:
    """The `cfn-lint` command a user would run, with our configuration (checks/lint.CONFIG) as its flags."""
    assert mod.CONFIG == {"include_checks": ["I"], "include_experimental": False}  # the flags below say the same
    script = Path(sys.executable).parent / "cfn-lint"
    r = subprocess.run([str(script), "--format", "json", "--include-checks", "I", "--regions", *REGIONS, "--",
                        *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert r.returncode in range(0, 16), r.stderr  # its exit code is a bit mask of the levels found
    return sorted(Finding(f["Filename"], f["Location"]["Start"]["LineNumber"], f["Rule"]["Id"], f["Level"].lower(),
                          f["Message"]) for f in json.loads(r.stdout))


def _text(findings: list[Finding]) -> str:
    return "\n".join(map(str, findings))


def test_findings_equal_a_plain_cfn_lint_run(corpus, tmp_path):
    expected = plain_cfn_lint(sorted(corpus))
    assert {f.path for f in expected} == {f"broken/{n}" for n in BROKEN} | {"broken/root.yaml"}  # output/ is clean
    assert not [f for f in expected if f.path.startswith("output/")]

    started = prestart(tmp_path, cache_file=tmp_path / "c1.json")  # as generate.py lints: prestarted, forked worker
    assert started.pid is not None
    assert _text(lint(corpus, REGIONS, tmp_path / "c1.json", prestarted=started)) == _text(expected)


def test_one_broken_committed_template_is_found_as_cfn_lint_finds_it(corpus, tmp_path):
    """The committed templates themselves, one made invalid: the same finding both ways (not only empty == empty).
    Its environment's templates, the root with its nested stacks, as generate.py groups them."""
    storage = Path("output/prod/storage.yaml")
    storage.write_text(storage.read_text().replace("ThroughputMode: bursting", "ThroughputMode: warp"))
    output = {k: v for k, v in corpus.items() if k.parts[:2] == ("output", "prod")}
    assert Path("output/prod/root.yaml") in output and len(output) > 2
    expected = plain_cfn_lint(sorted(output))
    assert [(f.path, f.rule) for f in expected] == [("output/prod/storage.yaml", "E3030")]
    assert _text(lint(output, REGIONS, tmp_path / "c.json")) == _text(expected)
