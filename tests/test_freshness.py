"""output/<env> safety: replaced whole or not at all (also when the process is killed part way), leftovers of an
interrupted write removed by the next write and reported (never removed) by `check`, and an output/<env> that is a
symbolic link or a file refused without following it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import generate
from checks import freshness

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = "packaged/root.yaml"


@pytest.fixture()
def project(tmp_path, monkeypatch) -> Path:
    """params and output of the repository; output/dev is stale (root.yaml edited) and has a packaged/ root."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    shutil.copytree(ROOT / "output", tmp_path / "output", ignore=shutil.ignore_patterns("packaged"))
    (tmp_path / "output" / "dev" / "root.yaml").write_text("old\n")
    (tmp_path / "output" / "dev" / "packaged").mkdir()
    (tmp_path / "output" / "dev" / PACKAGED).write_text("packaged by deploy\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _fresh() -> dict[str, bytes]:
    return {k: v for k, v in _files(ROOT / "output" / "dev").items() if not k.startswith("packaged")}


def _main(capsys, *args: str) -> tuple[int, str, str]:
    code = generate.main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    err = out.err
    if code == 2:  # the boundary's frame (deploy/errors.py): "error: " first, one "fix: " line last
        lines = err.splitlines()
        assert lines[0].startswith("error: ") and lines[-1].startswith("fix: "), err
        err = "\n".join([lines[0].removeprefix("error: "), *lines[1:-1]]) + "\n"
    return code, out.out, err


def _hidden(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "output").iterdir() if p.name.startswith("."))


# --- not a plain folder --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--env", "dev", "--no-lint"], ["check", "--env", "dev"]])
def test_symlinked_env_folder_is_refused_and_not_followed(project, capsys, args):
    elsewhere = project / "elsewhere"
    shutil.move(project / "output" / "dev", elsewhere)
    (project / "output" / "dev").symlink_to(elsewhere)
    before = _files(elsewhere)
    code, out, err = _main(capsys, *args)
    assert code == 2
    assert err == (f"output/dev: is a symbolic link to {elsewhere}, not a plain folder; generate.py "
                   "replaces output/dev "
                   "whole and does not write through a link: remove the link (rm output/dev; its target stays) and "
                   "run again\n")
    assert _files(elsewhere) == before  # its packaged/ was not moved anywhere
    assert (project / "output" / "dev").is_symlink() and _hidden(project) == []


def test_a_file_at_the_env_folder_is_refused(project, capsys):
    shutil.rmtree(project / "output" / "dev")
    (project / "output" / "dev").write_text("notes\n")
    code, out, err = _main(capsys, "--env", "dev", "--no-lint")
    assert code == 2
    assert err == ("output/dev: is not a folder; generate.py writes this environment's templates there: move it away "
                   "(mv output/dev output/dev.moved) and run again\n")
    assert (project / "output" / "dev").read_text() == "notes\n"


def test_output_that_is_a_file_is_refused(project, capsys):
    shutil.rmtree(project / "output")
    (project / "output").write_text("x\n")
    code, out, err = _main(capsys, "--env", "dev", "--no-lint")
    assert code == 2
    assert err == ("output: is not a folder; generate.py writes the templates there: move it away "
                   "(mv output output.moved) and run again\n")


def test_nothing_is_written_when_one_environment_is_refused(project, capsys):
    (project / "output" / "prod" / "root.yaml").write_text("old prod\n")
    shutil.rmtree(project / "output" / "dev")
    (project / "output" / "dev").symlink_to(project)
    code, _, _ = _main(capsys, "--no-lint")
    assert code == 2
    assert (project / "output" / "prod" / "root.yaml").read_text() == "old prod\n"


# --- a normal write keeps packaged/ -----------------------------------------------------------------------------


def test_write_replaces_the_files_and_keeps_packaged(project, capsys):
    code, out, _ = _main(capsys, "--env", "dev", "--no-lint")
    assert code == 0
    assert _files(project / "output" / "dev") == {**_fresh(), PACKAGED: b"packaged by deploy\n"}
    assert _hidden(project) == [] and "removed" not in out


def test_write_without_the_atomic_exchange_gives_the_same_result(project, capsys, monkeypatch):
    """Where renameat2(RENAME_EXCHANGE) is missing (not Linux, some file systems): two renames."""
    monkeypatch.setattr(freshness, "_exchange", lambda a, b: False)
    assert _main(capsys, "--env", "dev", "--no-lint")[0] == 0
    assert _files(project / "output" / "dev") == {**_fresh(), PACKAGED: b"packaged by deploy\n"}
    assert _hidden(project) == []


def test_exchange_swaps_two_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    if not freshness._exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    assert (tmp_path / "b" / "x").read_text() == "a" and list((tmp_path / "a").iterdir()) == []


@pytest.mark.parametrize("where", ["exchange", "rename"])
def test_an_exception_mid_swap_leaves_the_old_output(project, capsys, monkeypatch, where):
    before = _files(project / "output" / "dev")

    def fail(*args):
        raise OSError(5, "Input/output error")

    if where == "exchange":
        monkeypatch.setattr(freshness, "_exchange", fail)
    else:
        monkeypatch.setattr(freshness, "_exchange", lambda a, b: False)
        real = freshness.os.rename
        calls = []
        monkeypatch.setattr(freshness.os, "rename",
                            lambda a, b: calls.append(a) or (fail() if len(calls) == 2 else real(a, b)))
    code, _, err = _main(capsys, "--env", "dev", "--no-lint")  # the boundary reports it: one error, no traceback
    assert code == 1 and "error: cannot use" in err and "Input/output error" in err
    assert _files(project / "output" / "dev") == before
    assert _hidden(project) == []


# --- killed part way: nothing half-written visible, the next run cleans up ---------------------------------------

KILL = """
import os, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from checks import freshness
import generate
where = {where!r}
die = lambda *a, **k: os._exit(137)  # like SIGKILL: no except, no finally
if where == "writing":
    real, written = Path.write_bytes, []
    Path.write_bytes = lambda self, data: die() if written else (written.append(self), real(self, data))[1]
elif where == "after-exchange":
    freshness._carry = die
elif where == "between-renames":
    freshness._exchange = lambda a, b: False
    real_rename, calls = os.rename, []
    os.rename = lambda a, b: die() if calls else (calls.append(a), real_rename(a, b))[1]
sys.exit(generate.main(["--env", "dev", "--no-lint"]))
"""


@pytest.mark.parametrize("where,visible", [
    ("writing", "old"),  # killed while writing the new folder: output/dev is the old one
    # killed right after the swap: output/dev is the new one, packaged/ still in the leftover
    ("after-exchange", "new"),
    ("between-renames", "absent"),  # without RENAME_EXCHANGE: output/dev briefly absent, the old one in .dev.old-*
])
def test_killed_write_is_never_half_visible_and_the_next_run_cleans_up(project, capsys, where, visible):
    old = _files(project / "output" / "dev")
    r = subprocess.run([sys.executable, "-c", KILL.format(root=str(ROOT), where=where)], cwd=project,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 137, r.stderr
    env_dir = project / "output" / "dev"
    if visible == "old":
        assert _files(env_dir) == old
    elif visible == "new":
        assert _files(env_dir) == _fresh()
    else:
        assert not env_dir.exists()
    left = _hidden(project)
    kinds = [".dev.new-", ".dev.old-"] if visible == "absent" else [".dev.new-"]  # the new one, and the old one
    assert [name[:9] for name in left] == kinds

    # check reports the leftovers and changes nothing
    snapshot = _files(project / "output")
    code, out, err = _main(capsys, "check", "--env", "dev")
    assert code == 1
    for name in left:
        assert f"stale: output/{name} (left by an interrupted run; generating removes it)\n" in err
    assert _files(project / "output") == snapshot and _hidden(project) == left

    # the next write removes them, says so, and packaged/ is back in output/dev
    code, out, err = _main(capsys, "--env", "dev", "--no-lint")
    assert code == 0, err
    for name in left:
        assert f"removed output/{name}, left by an interrupted run\n" in out
    assert _hidden(project) == []
    assert _files(env_dir) == {**_fresh(), PACKAGED: b"packaged by deploy\n"}
    assert _main(capsys, "check", "--env", "dev")[0] == 0


def test_leftovers_of_other_environments_are_left_alone(project, capsys):
    (project / "output" / ".prod.new-abc").mkdir()
    (project / "output" / ".dev2.new-abc").mkdir()
    (project / "output" / ".dev.old-xyz" / "dev").mkdir(parents=True)
    code, out, _ = _main(capsys, "--env", "dev", "--no-lint")
    assert code == 0 and out.count("removed output/") == 1
    assert _hidden(project) == [".dev2.new-abc", ".prod.new-abc"]


def test_a_leftover_that_is_a_symlink_is_unlinked_not_followed(project, capsys):
    target = project / "keep"
    target.mkdir()
    (target / "packaged").mkdir()
    (target / "packaged" / "x").write_text("mine\n")
    (project / "output" / ".dev.new-evil").symlink_to(target)
    assert _main(capsys, "--env", "dev", "--no-lint")[0] == 0
    assert (target / "packaged" / "x").read_text() == "mine\n"
    assert (project / "output" / "dev" / PACKAGED).read_text() == "packaged by deploy\n"
    assert _hidden(project) == []


def test_a_packaged_link_is_kept_as_a_link(project, capsys):
    """output/<env>/packaged may be the operator's link (to a larger disk, say): kept, its target untouched."""
    target = project / "bigdisk"
    shutil.move(project / "output" / "dev" / "packaged", target)
    (project / "output" / "dev" / "packaged").symlink_to(target)
    assert _main(capsys, "--env", "dev", "--no-lint")[0] == 0
    assert (project / "output" / "dev" / "packaged").is_symlink()
    assert (target / "root.yaml").read_text() == "packaged by deploy\n"
