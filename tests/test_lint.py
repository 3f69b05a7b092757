"""Lint layer: cfn-lint, run from the repository root as generate.py runs it, finds nothing at any level in the
committed output (the root's relative TemplateURLs let it check the nested wiring: E3043, E6101); the speed-ups
(prestarted linter, forked workers balanced by measured time, frozen heap) change no finding; a broken cache is
discarded and rebuilt, never a crash."""

from __future__ import annotations

import gc
import json
import os
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest

import checks.lint as mod
from checks.lint import Finding, env_groups, lint, prestart
from templates import ROOT
from templates.config import environments, load_params

REGIONS = sorted({load_params(e).region for e in environments()})
BAD_PROPERTY = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      Nope: 1\n"


def _groups():
    return {k: v for env in environments() for k, v in env_groups(Path("output") / env, ROOT).items()}


def test_cfn_lint_finds_nothing(repo):
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        findings = lint(_groups(), REGIONS, cache_file=None)
    finally:
        os.chdir(cwd)
    assert findings == [], "\n".join(map(str, findings))


def test_lint_reports_a_broken_template_and_caches_by_content(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = Path("bad.yaml")
    bad.write_text(BAD_PROPERTY)
    cache = tmp_path / "cache.json"
    first = lint({bad: []}, ["us-west-2"], cache)
    assert [f.rule for f in first] == ["E3002"]
    monkeypatch.setattr(mod, "_run", lambda *a: (_ for _ in ()).throw(AssertionError("cache miss")))
    assert lint({bad: []}, ["us-west-2"], cache) == first
    bad.write_text(bad.read_text().replace("Nope: 1", "TopicName: t"))
    monkeypatch.setattr(mod, "_run", lambda paths, regions, seconds: [(p, [], 0.1) for p in paths])
    assert lint({bad: []}, ["us-west-2"], cache) == []


# --- findings are the same with and without the speed-ups ----------------------------------------------------------

BROKEN = {  # deliberately broken templates, each with the finding it must produce
    "bad_property.yaml": BAD_PROPERTY,
    "bad_getatt.yaml": ("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\nOutputs:\n  Out:\n"
                        "    Value: !GetAtt Topic.NoSuchAttribute\n"),
    "bad_ref.yaml": ("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n"
                     "      TopicName: !Ref Missing\n"),
    "bad_type.yaml": "Resources:\n  Thing:\n    Type: AWS::Nope::Thing\n",
    "bad_yaml.yaml": "Resources:\n  Topic: [\n",
    "bad_value.yaml": ("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n"
                       "      VisibilityTimeout: 999999\n"),
}
NESTED_ROOT = ("Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n"
               "      TemplateURL: bad_ref.yaml\n      Parameters:\n        NotDeclared: x\n")


@pytest.fixture
def corpus(tmp_path, repo, monkeypatch) -> dict[Path, list[Path]]:
    """Every committed template plus the broken ones, in a scratch folder that is the current directory."""
    shutil.copytree(repo / "output", tmp_path / "output", ignore=shutil.ignore_patterns("packaged"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for name, text in BROKEN.items():
        (broken / name).write_text(text)
    (broken / "root.yaml").write_text(NESTED_ROOT)
    monkeypatch.chdir(tmp_path)
    groups = _groups()
    groups.update({Path("broken") / name: [] for name in BROKEN})
    groups[Path("broken/root.yaml")] = [Path("broken/bad_ref.yaml")]
    return groups


def _reference(paths: list[Path]) -> list[Finding]:
    """cfn-lint as its own command line runs it: freshly loaded rules, every template in turn, one process."""
    from cfnlint.runner import Runner

    runner = Runner(mod._config(paths, REGIONS))
    return sorted(Finding(str(m.filename), int(m.linenumber), m.rule.id, m.rule.severity, m.message)
                  for m in runner.run())


def _text(findings: list[Finding]) -> str:
    return "\n".join(map(str, findings))


def test_findings_are_identical_with_and_without_the_speed_ups(corpus, tmp_path, monkeypatch):
    expected = _reference(list(corpus))
    rules = {f.rule for f in expected}
    assert {"E3002", "E6101", "E1020", "E3006", "E0000", "E3034", "E3043"} <= rules, rules  # each broken one counts
    assert len(corpus) >= mod.PARALLEL_FROM  # so the forked workers run

    # the prestarted linter (forked before anything is written, workers forked from it, heap frozen)
    started = prestart(tmp_path, cache_file=tmp_path / "c1.json")
    assert started.pid is not None
    with monkeypatch.context() as m:
        m.setattr(mod, "_run", lambda *a: (_ for _ in ()).throw(AssertionError("not linted by the prestart")))
        via_prestart = lint(corpus, REGIONS, tmp_path / "c1.json", prestarted=started)
    assert _text(via_prestart) == _text(expected)

    saved = json.loads((tmp_path / "c1.json").read_text())
    assert set(saved["seconds"]) == {str(p) for p in corpus}

    # in this process, with groups balanced by recorded times that differ from the sizes' order
    paths = [str(p) for p in corpus]
    times = {p: 1 / Path(p).stat().st_size for p in paths}
    assert sorted(map(sorted, mod._balanced(paths, 2, times))) != sorted(map(sorted, mod._balanced(paths, 2, {})))
    (tmp_path / "c2.json").write_text(json.dumps({"version": mod.CACHE_VERSION, "results": {}, "seconds": times}))
    assert lint(corpus, REGIONS, tmp_path / "c2.json") == expected
    assert gc.get_freeze_count() == 0 and gc.isenabled()  # the in-process linter leaves the collector as it was

    # and from the cache
    assert lint(corpus, REGIONS, tmp_path / "c1.json") == expected


def test_a_prestarted_linter_that_died_is_replaced_by_linting_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(BAD_PROPERTY)
    started = prestart(tmp_path, cache_file=tmp_path / "c.json")
    os.kill(started.pid, 9)
    assert [f.rule for f in lint({Path("bad.yaml"): []}, ["us-west-2"], tmp_path / "c.json", started)] == ["E3002"]
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(started.pid, os.WNOHANG)


def test_prestart_is_skipped_once_a_complete_lint_stored_its_fingerprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "dev.yaml").write_text("env: dev\n")
    Path("bad.yaml").write_text(BAD_PROPERTY)
    cache = tmp_path / ".cache" / "cfn-lint.json"
    started = prestart(tmp_path)
    assert started.pid is not None  # no cache yet: cold
    lint({Path("bad.yaml"): []}, ["us-west-2"], cache, started)
    assert json.loads(cache.read_text())["fingerprint"] == started.fingerprint

    warm = prestart(tmp_path)
    assert warm.pid is None and warm.fingerprint == started.fingerprint
    assert prestart(tmp_path, ["dev"]).fingerprint != started.fingerprint  # another selection of environments
    (tmp_path / "params" / "dev.yaml").write_text("env: dev\nregion: eu-west-1\n")
    changed = prestart(tmp_path)
    assert changed.pid is not None and changed.fingerprint != started.fingerprint
    changed.close()  # nothing to lint after all: stopped and reaped
    with pytest.raises(ChildProcessError):
        os.waitpid(changed.pid, os.WNOHANG)


def test_groups_are_balanced_by_measured_time_not_size(tmp_path):
    big, small1, small2 = tmp_path / "big.yaml", tmp_path / "s1.yaml", tmp_path / "s2.yaml"
    big.write_text("x" * 10_000)
    small1.write_text("x" * 100)
    small2.write_text("x" * 100)
    paths = [str(big), str(small1), str(small2)]
    by_size = mod._balanced(paths, 2, {})
    assert [str(big)] in by_size  # the big file alone
    timed = mod._balanced(paths, 2, {str(big): 0.1, str(small1): 1.0, str(small2): 0.9})
    assert sorted(map(sorted, timed)) == sorted([[str(small1)], sorted([str(small2), str(big)])])
    # a template not timed yet weighs its size at the rate of the timed ones (here: 0.01 s per 100 bytes -> 1 s)
    partly = mod._balanced(paths, 2, {str(small1): 0.01, str(small2): 0.01})
    assert [str(big)] in partly


# --- a broken cache is discarded and rebuilt ------------------------------------------------------------------------

def _cache_key() -> str:
    return mod._key(Path("bad.yaml"), [], ["us-west-2"], version("cfn-lint"))


GOOD_FINDING = {"path": "bad.yaml", "line": 5, "rule": "E3002", "level": "error", "message": "m"}
BROKEN_CACHES = {
    "not JSON": lambda: b"{not json",
    "not UTF-8": lambda: b"\xff\xfe\x00{",
    "JSON but a list": lambda: b"[]",
    "JSON but a string": lambda: b'"cache"',
    "JSON but null": lambda: b"null",
    "deeply nested JSON": lambda: b"[" * 100_000 + b"]" * 100_000,
    "the old flat shape": lambda: json.dumps({_cache_key(): []}).encode(),
    "results not an object": lambda: json.dumps({"version": 2, "results": [], "seconds": {}}).encode(),
    "entry not a list": lambda: json.dumps({"version": 2, "results": {_cache_key(): {"a": 1}}}).encode(),
    "finding not an object": lambda: json.dumps({"version": 2, "results": {_cache_key(): ["E3002"]}}).encode(),
    "finding missing a field": lambda: json.dumps(
        {"version": 2, "results": {_cache_key(): [{k: v for k, v in GOOD_FINDING.items() if k != "level"}]}}).encode(),
    "finding with an extra field": lambda: json.dumps(
        {"version": 2, "results": {_cache_key(): [GOOD_FINDING | {"extra": 1}]}}).encode(),
    "line not an integer": lambda: json.dumps(
        {"version": 2, "results": {_cache_key(): [GOOD_FINDING | {"line": "5"}]}}).encode(),
    "line a boolean": lambda: json.dumps(
        {"version": 2, "results": {_cache_key(): [GOOD_FINDING | {"line": True}]}}).encode(),
    "seconds of the wrong shape": lambda: json.dumps(
        {"version": 2, "fingerprint": 7, "results": {}, "seconds": {"bad.yaml": "slow", "x": -1, "y": float("nan")}}
    ).encode(),
}


@pytest.mark.parametrize("content", BROKEN_CACHES.values(), ids=BROKEN_CACHES.keys())
def test_a_malformed_cache_is_discarded_and_rebuilt(tmp_path, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(BAD_PROPERTY)
    cache = tmp_path / ".cache" / "cfn-lint.json"
    cache.parent.mkdir()
    cache.write_bytes(content())
    assert [f.rule for f in lint({Path("bad.yaml"): []}, ["us-west-2"], cache)] == ["E3002"]  # linted again
    rebuilt = json.loads(cache.read_text())
    assert rebuilt["version"] == mod.CACHE_VERSION
    assert [f["rule"] for f in rebuilt["results"][_cache_key()]] == ["E3002"]
    assert type(rebuilt["seconds"]["bad.yaml"]) is float and rebuilt["seconds"]["bad.yaml"] > 0


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dangling(path: Path) -> None:
    path.symlink_to(path.parent / "nowhere" / "cache.json")


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "x").write_text("{}")


@pytest.mark.parametrize("make", [_fifo, _dangling, _directory], ids=["a FIFO", "a dangling link", "a directory"])
def test_an_unreadable_cache_is_ignored(tmp_path, monkeypatch, make):
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(BAD_PROPERTY)
    cache = tmp_path / ".cache" / "cfn-lint.json"
    cache.parent.mkdir()
    make(cache)
    assert [f.rule for f in lint({Path("bad.yaml"): []}, ["us-west-2"], cache)] == ["E3002"]
    assert prestart(tmp_path, cache_file=cache).close() is None  # reading it for the fingerprint does not fail either


def test_a_cache_in_a_folder_that_cannot_be_created_only_costs_a_relint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(BAD_PROPERTY)
    Path(".cache").write_text("a file where the cache folder goes")
    assert [f.rule for f in lint({Path("bad.yaml"): []}, ["us-west-2"], Path(".cache/cfn-lint.json"))] == ["E3002"]
    assert Path(".cache").read_text() == "a file where the cache folder goes"


def test_a_wrong_entry_is_dropped_and_the_others_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(BAD_PROPERTY)
    Path("good.yaml").write_text("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n")
    good_key = mod._key(Path("good.yaml"), [], ["us-west-2"], version("cfn-lint"))
    cache = tmp_path / "cache.json"
    kept = GOOD_FINDING | {"path": "good.yaml", "message": "kept from the cache"}
    cache.write_text(json.dumps({"version": 2, "results": {_cache_key(): [{"broken": 1}], good_key: [kept]}}))
    found = lint({Path("bad.yaml"): [], Path("good.yaml"): []}, ["us-west-2"], cache)
    assert [(f.path, f.rule, f.message) for f in found][1:] == [("good.yaml", "E3002", "kept from the cache")]
    assert found[0].path == "bad.yaml" and found[0].rule == "E3002" and found[0].message != "m"


@pytest.mark.parametrize("argv", [["--check"], ["--no-lint"], ["--diagram"], ["--cost"], ["-h"],
                                  ["plan", "--env", "dev"], ["--env"], ["--env", "--check"], ["build", "--no-lint"],
                                  ["--en", "dev"], ["--scan"], ["--env", "dev", "--scan"]])
def test_only_a_plain_build_prestarts_before_the_imports(tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params").mkdir()
    mod.prestart_early(argv)
    assert mod._EARLY is None


def test_the_build_takes_the_linter_started_before_the_imports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params").mkdir()
    mod.prestart_early(["build", "--env", "prod", "--env=dev", "--scan", "--debug"])
    early = mod._EARLY[1]
    assert early.pid is not None
    taken = prestart(tmp_path, ["prod", "dev"])
    assert taken is early and mod._EARLY is None
    taken.close()

    mod.prestart_early(["--env", "dev"])
    early = mod._EARLY[1]
    other = prestart(tmp_path, ["prod"])  # another selection: the early one is stopped, a fitting one started
    assert other is not early and other.fingerprint == mod.fingerprint(tmp_path, ["prod"])
    with pytest.raises(ChildProcessError):
        os.waitpid(early.pid, os.WNOHANG)
    other.close()


def test_no_process_to_spare_means_linting_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(BAD_PROPERTY)
    monkeypatch.setattr(os, "fork", lambda: (_ for _ in ()).throw(BlockingIOError(11, "no process to spare")))
    started = prestart(tmp_path, cache_file=tmp_path / "c.json")
    assert started.pid is None
    assert [f.rule for f in lint({Path("bad.yaml"): []}, ["us-west-2"], tmp_path / "c.json", started)] == ["E3002"]


def test_the_fingerprint_never_waits_on_a_params_fifo(tmp_path):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "prod.yaml").write_text("env: prod\n")
    before = mod.fingerprint(tmp_path)
    os.mkfifo(tmp_path / "params" / "dev.yaml")  # reading it would block until a writer comes
    assert mod.fingerprint(tmp_path) != before
