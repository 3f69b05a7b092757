"""Lint layer: cfn-lint, run from the repository root as generate.py runs it, finds nothing at any level in the
committed output (the root's relative TemplateURLs let it check the nested wiring: E3043, E6101)."""

from __future__ import annotations

import os
from pathlib import Path

from checks.lint import env_groups, lint
from templates import ROOT
from templates.config import environments, load_params


def _groups():
    return {k: v for env in environments() for k, v in env_groups(Path("output") / env, ROOT).items()}


def test_cfn_lint_finds_nothing(repo):
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        findings = lint(_groups(), sorted({load_params(e).region for e in environments()}), cache_file=None)
    finally:
        os.chdir(cwd)
    assert findings == [], "\n".join(map(str, findings))


def test_lint_reports_a_broken_template_and_caches_by_content(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      Nope: 1\n")
    cache = tmp_path / "cache.json"
    first = lint({bad.relative_to(tmp_path): []}, ["us-west-2"], cache)
    assert [f.rule for f in first] == ["E3002"]
    import checks.lint as mod

    monkeypatch.setattr(mod, "_run", lambda *a: (_ for _ in ()).throw(AssertionError("cache miss")))
    assert lint({bad.relative_to(tmp_path): []}, ["us-west-2"], cache) == first
    bad.write_text(bad.read_text().replace("Nope: 1", "TopicName: t"))
    monkeypatch.setattr(mod, "_run", lambda paths, regions: [])
    assert lint({bad.relative_to(tmp_path): []}, ["us-west-2"], cache) == []
