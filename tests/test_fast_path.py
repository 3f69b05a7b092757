"""The "nothing changed" path (checks/unchanged.py), run as a user runs it: a plain build or check where nothing
changed answers from .cache/unchanged.json without importing the generator, and every kind of change forces the full
work in both `build` and `check`: a param, a template module (changed or added), a check module, a library's
version, one byte of an output YAML, params/schema.json, a leftover of an interrupted write. `check` never passes on
a stale output/. Flags other than the plain forms always run in full; a flag of earlier releases (`--check`) is
refused, never answered.

Each test works in a copy of the checkout (code, params, output) made from one warm copy, so the repository is never
touched and the lint cache makes the full runs cheap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks import unchanged

ROOT = Path(__file__).resolve().parent.parent
FAST_BUILD = "nothing changed since the last build"
FAST_CHECK = "nothing changed since it was last proven"
GENERATOR = ("templates", "troposphere", "pydantic", "cfnlint", "awacs", "yaml", "checks.lint", "deploy")


def _copy_checkout(to: Path) -> Path:
    """generate.py, the other *.py beside it, every package but tests/, params/ and output/ (as found by listing,
    like the key itself), without caches."""
    to.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "packaged", ".*")
    for p in ROOT.iterdir():
        if p.suffix == ".py" and p.is_file():
            shutil.copy2(p, to / p.name)
        elif p.is_dir() and p.name != "tests" and ((p / "__init__.py").is_file() or p.name in ("params", "output")):
            shutil.copytree(p, to / p.name, ignore=skip)
    return to


def run(co: Path, *args: str, env: dict | None = None, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    return subprocess.run([sys.executable, *flags, str(co / "generate.py"), *args], cwd=co, capture_output=True,
                          text=True, timeout=300, env=environ | (env or {}))


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> Path:
    """A checkout after one complete build: the record says output/ is fresh and clean."""
    co = _copy_checkout(tmp_path_factory.mktemp("fast") / "warm")
    r = run(co)
    assert r.returncode == 0 and "generated" in r.stdout, r.stderr
    assert json.loads((co / ".cache" / "unchanged.json").read_text())["clean"] is True
    return co


@pytest.fixture()
def co(warm, tmp_path) -> Path:
    copy = tmp_path / "co"
    shutil.copytree(warm, copy, symlinks=True)
    return copy


def _count(co: Path) -> int:
    return sum(1 for _ in (co / "output").glob("*/*.yaml"))


def assert_fast_build(r, co, envs="dev, prod"):
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"output/ is fresh for {envs}: {FAST_BUILD} ({_count(co)} templates, "
                        f".cache/unchanged.json)\ncfn-lint: {_count(co)} templates clean (cached)\n")


def assert_full_build(r, co, envs="dev, prod"):
    assert r.returncode == 0, r.stderr
    assert FAST_BUILD not in r.stdout
    assert f"generated {_count(co)} templates for {envs} in " in r.stdout
    assert f"cfn-lint: {_count(co)} templates clean (" in r.stdout and "(cached)" not in r.stdout


def assert_full_check(r, fresh: bool, envs="dev, prod"):
    assert FAST_CHECK not in r.stdout
    if fresh:
        assert r.returncode == 0 and r.stdout == f"output/ is fresh for {envs}\n", r.stderr
    else:
        assert r.returncode == 1 and "error: generated files are stale" in r.stderr, r.stdout + r.stderr


def test_nothing_changed_answers_both_verbs_without_importing_the_generator(co):
    for args in ([], ["build"]):
        assert_fast_build(run(co, *args), co)
    r = run(co, "check")
    assert r.returncode == 0 and r.stdout == f"output/ is fresh for dev, prod ({FAST_CHECK}: .cache/unchanged.json)\n"
    r = run(co, flags=("-X", "importtime"))
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "checks.unchanged" in imported
    assert not {m for m in imported if m.split(".")[0] in GENERATOR or m in GENERATOR}, sorted(imported)


# --- every kind of change forces the full work ----------------------------------------------------------------------

def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    i = data.index(b"Retain")
    data[i] = ord("r")
    path.write_bytes(bytes(data))


CHANGES = {  # name -> (change the copy, does output/ stay what the params produce)
    "a param that changes a template": (
        lambda co: _edit(co / "params" / "prod.yaml", "retention_days: 90", "retention_days: 30"), False),
    "a param file's comment": (lambda co: (co / "params" / "dev.yaml").write_text(
        (co / "params" / "dev.yaml").read_text() + "# a comment\n"), True),
    "a new params file": (lambda co: shutil.copy(co / "params" / "dev.yaml", co / "params" / "qa.yaml"), False),
    "a template module": (lambda co: (co / "templates" / "storage.py").write_text(
        (co / "templates" / "storage.py").read_text() + "\n# changed\n"), True),
    "a template module added": (lambda co: (co / "templates" / "_added.py").write_text("X = 1\n"), True),
    "a check module": (lambda co: (co / "checks" / "guardrails.py").write_text(
        (co / "checks" / "guardrails.py").read_text() + "\n# changed\n"), True),
    "generate.py": (lambda co: (co / "generate.py").write_text((co / "generate.py").read_text() + "\n# changed\n"),
                    True),
    "one byte of an output YAML": (lambda co: _flip_one_byte(co / "output" / "prod" / "storage.yaml"), False),
    "an output YAML removed": (lambda co: (co / "output" / "dev" / "cluster.yaml").unlink(), False),
    "an extra file in output/<env>": (lambda co: (co / "output" / "dev" / "extra.yaml").write_text("x: 1\n"), False),
    "a leftover of an interrupted write": (lambda co: (co / "output" / ".prod.new-abc").mkdir(), False),
    "params/schema.json": (lambda co: (co / "params" / "schema.json").write_text(
        (co / "params" / "schema.json").read_text() + " "), False),
}


@pytest.mark.parametrize("change,fresh", CHANGES.values(), ids=CHANGES.keys())
def test_each_change_forces_the_full_check_and_build(co, change, fresh):
    change(co)
    envs = ", ".join(sorted(p.stem for p in (co / "params").glob("*.yaml")))
    checked = run(co, "check")
    assert_full_check(checked, fresh, envs)
    built = run(co)
    assert_full_build(built, co, envs)
    assert_fast_build(run(co), co, envs)  # the full build recorded the new state
    assert FAST_CHECK in run(co, "check").stdout


def test_a_library_version_forces_the_full_check_and_build(co, tmp_path):
    """As a `pip install troposphere==<other>` would: another troposphere-*.dist-info where Python looks first."""
    site = tmp_path / "site"
    site.mkdir()
    env = {"PYTHONPATH": str(site)}
    assert FAST_BUILD not in run(co, env=env).stdout  # another search path: full, then recorded
    assert_fast_build(run(co, env=env), co)
    other = site / "troposphere-99.0.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: troposphere\nVersion: 99.0\n")
    assert_full_check(run(co, "check", env=env), True)
    assert_full_build(run(co, env=env), co)
    assert_fast_build(run(co, env=env), co)


def test_a_check_alone_does_not_vouch_for_lint(co):
    """A passing check proves freshness only: the next build lints (from the lint cache) before it is answered."""
    (co / ".cache" / "unchanged.json").unlink()
    r = run(co, "check")
    assert_full_check(r, True)
    assert FAST_CHECK in run(co, "check").stdout
    assert json.loads((co / ".cache" / "unchanged.json").read_text())["clean"] is False
    assert_full_build(run(co), co)
    assert_fast_build(run(co), co)


@pytest.mark.parametrize("args", [["--env", "prod"], ["build", "--env", "dev"], ["build", "--no-lint"],
                                  ["--no-lint"], ["build", "--debug"], ["check", "--debug"], ["check", "--env", "dev"],
                                  ["--env", "dev", "--env", "prod"]])
def test_only_the_plain_forms_take_the_path(co, args):
    r = run(co, *args)
    assert r.returncode == 0, r.stderr
    assert FAST_BUILD not in r.stdout and FAST_CHECK not in r.stdout
    assert "generated" in r.stdout or r.stdout.startswith("output/ is fresh for ")


@pytest.mark.parametrize("flag,fix", [("--check", "check"), ("--cost", "cost"), ("--diagram", "diagram"),
                                      ("--scan", "build --scan")])
def test_an_old_flag_is_not_answered_but_refused(co, monkeypatch, flag, fix):
    """Where the record would answer `check` and the build, a flag of earlier releases is not answered: the full run
    refuses it (exit 2) with one error: and one fix: line naming the verb, and the record stays as it was."""
    monkeypatch.setattr(unchanged, "STARTED", None)  # answer() below sets it, for this process only
    assert unchanged.answer([flag], str(co / "generate.py")) is None
    record = (co / ".cache" / "unchanged.json").read_bytes()
    r = run(co, flag)
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    error, fixed = r.stderr.splitlines()
    assert error.startswith(f"error: {flag} ") and fixed == f"fix: python generate.py {fix}"
    assert (co / ".cache" / "unchanged.json").read_bytes() == record
    assert FAST_CHECK in run(co, "check").stdout


@pytest.mark.parametrize("record", [b"{not json", b"[]", b'{"version": 1, "key": 7}', b"\xff\xfe"],
                         ids=["not JSON", "a list", "wrong shape", "not UTF-8"])
def test_a_malformed_record_means_the_full_work(co, record):
    (co / ".cache" / "unchanged.json").write_bytes(record)
    assert_full_build(run(co), co)
    assert_fast_build(run(co), co)


def test_a_record_that_is_a_fifo_is_not_waited_for(co):
    path = co / ".cache" / "unchanged.json"
    path.unlink()
    os.mkfifo(path)
    r = run(co, "check")
    assert_full_check(r, True)


# --- the record is only made from bytes that were compared ----------------------------------------------------------

def _rendered(co: Path) -> dict[str, dict[str, str]]:
    return {env.name: {p.name: p.read_text() for p in env.glob("*.yaml")} for env in (co / "output").iterdir()
            if env.is_dir()}


def test_nothing_is_recorded_when_an_input_changed_during_the_run(co):
    home = code = str(co)
    (co / ".cache" / "unchanged.json").unlink()
    schema = (co / "params" / "schema.json").read_text()
    before = unchanged.inputs(home, code)
    (co / "params" / "dev.yaml").write_text((co / "params" / "dev.yaml").read_text() + "# edited meanwhile\n")
    assert unchanged.record(home, code, before, _rendered(co), schema, clean=True) is False
    assert not (co / ".cache" / "unchanged.json").exists()
    assert unchanged.record(home, code, unchanged.inputs(home, code), _rendered(co), schema, clean=True) is True


def test_nothing_is_recorded_when_the_disk_is_not_the_render(co):
    home = code = str(co)
    started = unchanged.inputs(home, code)
    schema = (co / "params" / "schema.json").read_text()
    rendered = _rendered(co)
    rendered["prod"]["storage.yaml"] += "# not what is on disk\n"
    assert unchanged.record(home, code, started, rendered, schema, clean=True) is False
    assert unchanged.record(home, code, started, _rendered(co), schema + " ", clean=True) is False
    (co / "output" / ".dev.old-1").mkdir()
    assert unchanged.record(home, code, started, _rendered(co), schema, clean=True) is False


def test_the_library_versions_are_read_without_importing_them():
    from importlib.metadata import version

    found = unchanged.versions()
    assert set(found) == {"PyYAML", "troposphere", "awacs", "pydantic", "cfn-lint"}
    assert found == {name: version(name) for name in found}


def test_the_version_found_first_on_the_path_counts(tmp_path):
    from importlib.metadata import version

    (tmp_path / "troposphere-99.0.dist-info").mkdir()
    assert unchanged.versions([str(tmp_path), *unchanged.PATH])["troposphere"] == "99.0"
    assert unchanged.versions([*unchanged.PATH, str(tmp_path)])["troposphere"] == version("troposphere")


def test_a_library_version_changes_the_key(co, monkeypatch):
    before = unchanged.inputs(str(co), str(co))
    real = unchanged.versions
    monkeypatch.setattr(unchanged, "versions", lambda path=None: real(path) | {"cfn-lint": "9.9.9"})
    assert unchanged.inputs(str(co), str(co)) != before


def test_the_sources_are_found_by_listing_not_named(co):
    found = {str(Path(p).relative_to(co)) for p in unchanged.sources(str(co))}
    assert {"generate.py", "templates/storage.py", "checks/lint.py", "checks/unchanged.py"} <= found
    assert not any(p.startswith(("tests/", "params/", "output/")) or "__pycache__" in p for p in found)
    (co / "checks" / "moved").mkdir()
    (co / "checks" / "moved" / "deep.py").write_text("")
    (co / "renderers").mkdir()
    (co / "renderers" / "__init__.py").write_text("")
    (co / "renderers" / "data.json").write_text("{}")
    found = {str(Path(p).relative_to(co)) for p in unchanged.sources(str(co))}
    assert {"checks/moved/deep.py", "renderers/__init__.py", "renderers/data.json"} <= found
