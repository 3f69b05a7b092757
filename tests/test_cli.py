"""CLI layer: exit codes and messages of generate.py for good and bad input, run as a user runs it."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "generate.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture()
def project(tmp_path) -> Path:
    """A copy of the params and output, so tests can break them without touching the repository."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    shutil.copytree(ROOT / "output", tmp_path / "output", ignore=shutil.ignore_patterns("packaged"))
    return tmp_path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "packaged" not in p.parts}


def test_check_passes_on_the_committed_output():
    r = run(ROOT, "check")
    assert r.returncode == 0, r.stderr
    assert "output/ is fresh for dev, prod" in r.stdout


def test_check_names_the_stale_file_and_the_fix(project):
    (project / "output" / "prod" / "storage.yaml").write_text("edited by hand\n")
    (project / "output" / "dev" / "leftover.yaml").write_text("x\n")
    r = run(project, "check")
    assert r.returncode == 1
    assert "output/prod/storage.yaml" in r.stderr and "output/dev/leftover.yaml" in r.stderr
    assert "fix: python generate.py, then commit the result" in r.stderr


def test_generate_one_environment_writes_only_it(project):
    (project / "output" / "dev" / "root.yaml").write_text("stale\n")
    shutil.rmtree(project / "output" / "prod")
    r = run(project, "--env", "prod", "--no-lint")
    assert r.returncode == 0, r.stderr
    assert ((project / "output" / "prod" / "root.yaml").read_bytes()
            == (ROOT / "output" / "prod" / "root.yaml").read_bytes())
    assert (project / "output" / "dev" / "root.yaml").read_text() == "stale\n"


def test_bad_params_exit_2_without_traceback_and_leave_output_alone(project):
    before = _snapshot(project / "output")
    text = (project / "params" / "prod.yaml").read_text().replace("account_id: \"018025611404\"",
                                                                  "account_id: \"0180\"")
    (project / "params" / "prod.yaml").write_text(text + "surprise: 1\n")
    r = run(project)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "params/prod.yaml: account_id: '0180' does not match the allowed format" in r.stderr
    assert "params/prod.yaml: surprise: unknown key" in r.stderr
    assert _snapshot(project / "output") == before


def test_unknown_environment_exit_2(project):
    r = run(project, "--env", "staging")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no such environment 'staging'" in r.stderr and "dev, prod" in r.stderr
    assert "fix: pass one of the environments named above to --env" in r.stderr


def test_empty_params_file_exit_2(project):
    (project / "params" / "dev.yaml").write_text("")
    r = run(project, "--env", "dev")
    assert r.returncode == 2 and "params/dev.yaml: the file is empty" in r.stderr


def test_full_build_lints_and_reports(project):
    r = run(project)
    assert r.returncode == 0, r.stderr
    assert "cfn-lint:" in r.stdout and "templates clean" in r.stdout
    assert _snapshot(project / "output") == _snapshot(ROOT / "output")


def test_bad_arguments_exit_2(project):
    r = run(project, "--frobnicate")
    assert r.returncode == 2 and "usage:" in r.stderr


def test_console_script_is_installed_and_runs():
    """setup.cfg installs `wwhd-infra` (same entry point as generate.py)."""
    script = Path(sys.executable).parent / "wwhd-infra"
    if not script.exists():
        pytest.skip("package not installed with pip (the README's install step creates the script)")
    r = subprocess.run([str(script), "check"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "output/ is fresh" in r.stdout, r.stderr


def test_diagram_prints_mermaid_and_writes_nothing(project):
    before = _snapshot(project / "output")
    r = run(project, "diagram", "--env", "prod")
    assert r.returncode == 0 and r.stdout.startswith("%% prod\nflowchart LR\n")
    assert "  storage -- AppAccessPointId, FileSystemId, QdrantAccessPointId --> service" in r.stdout
    assert _snapshot(project / "output") == before


def test_without_the_install_step_it_says_how_to_install():
    """An interpreter without the dependencies (here: no site-packages) gets the install command, not a traceback."""
    r = subprocess.run([sys.executable, "-S", str(ROOT / "generate.py"), "check"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "is not installed for" in r.stderr and "pip install -q -e ." in r.stderr


# --- the flags of earlier releases are refused, naming the verb --------------------------------------------------

OLD_FLAGS = {  # arguments -> the error and the fix printed for them
    "--check": (["--check"], "--check is no longer a flag; the verb is check", "python generate.py check"),
    "--cost": (["--cost", "--env", "prod"], "--cost is no longer a flag; the verb is cost",
               "python generate.py cost --env prod"),
    "--diagram": (["--env", "dev", "--diagram", "--env=prod"], "--diagram is no longer a flag; the verb is diagram",
                  "python generate.py diagram --env dev --env prod"),
    "--scan": (["--scan", "--no-lint", "--env", "dev"], "--scan without a verb is no longer a flag; the verb is build, "
               "with --scan", "python generate.py build --env dev --no-lint --scan"),
    "--check --no-lint": (["--no-lint", "--check", "--env", "my env"], "--check is no longer a flag; the verb is check",
                          "python generate.py check --env 'my env'"),  # check takes no --no-lint
}


@pytest.mark.parametrize("argv,error,fix", OLD_FLAGS.values(), ids=OLD_FLAGS.keys())
def test_an_old_flag_without_a_verb_exits_2_naming_the_verb(project, argv, error, fix):
    before = _snapshot(project / "output")
    r = run(project, *argv)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"error: {error}\nfix: {fix}\n")
    assert _snapshot(project / "output") == before
    import generate  # the fix runs as printed: it parses, to the verb the flag meant

    words = shlex.split(fix)
    assert words[:2] == ["python", "generate.py"]
    args = generate.build_parser().parse_args(words[2:])
    assert args.verb == words[2] and args.func is generate.cmd_offline
    assert args.scan == ("--scan" in argv)


def test_an_old_flag_with_a_verb_is_an_unknown_argument(project):
    r = run(project, "--check", "diagram")
    assert r.returncode == 2 and "error: unrecognized arguments: --check\nfix: python generate.py diagram --help\n" \
        in r.stderr


def test_the_help_names_no_old_flag():
    r = run(ROOT, "--help")
    assert r.returncode == 0
    assert not any(flag in r.stdout for flag in ("--check", "--cost", "--diagram"))
    assert "--scan" not in r.stdout.split("\n\n", 1)[0]  # the usage line; build's own --scan is in the epilog
