"""Golden layer: the committed output/ is exactly what the params produce, byte for byte, and rendering is
deterministic."""

from __future__ import annotations

from checks import freshness
from templates import render
from templates.config import environments, load_params


def test_committed_output_is_fresh(repo):
    for env in environments():
        files = render(load_params(env))
        assert freshness.stale(repo / "output" / env, files) == [], f"run `python generate.py` for {env}"


def test_rendering_is_deterministic():
    for env in environments():
        p = load_params(env)
        assert render(p) == render(load_params(env)) == render(p)


def test_stale_reports_changed_missing_and_extra_files(tmp_path):
    freshness.write(tmp_path / "e", {"a.yaml": "A\n", "b.yaml": "B\n"})
    (tmp_path / "e" / "a.yaml").write_text("changed\n")
    (tmp_path / "e" / "b.yaml").unlink()
    (tmp_path / "e" / "old.yaml").write_text("gone\n")
    (tmp_path / "e" / "packaged").mkdir()
    assert freshness.stale(tmp_path / "e", {"a.yaml": "A\n", "b.yaml": "B\n"}) == ["a.yaml", "b.yaml", "old.yaml"]


def test_write_replaces_the_folder_and_keeps_packaged(tmp_path):
    env_dir = tmp_path / "prod"
    freshness.write(env_dir, {"a.yaml": "1\n", "old.yaml": "x\n"})
    (env_dir / "packaged").mkdir()
    (env_dir / "packaged" / "root.yaml").write_text("packaged\n")
    freshness.write(env_dir, {"a.yaml": "2\n"})
    assert sorted(p.name for p in env_dir.iterdir()) == ["a.yaml", "packaged"]
    assert (env_dir / "a.yaml").read_text() == "2\n"
    assert (env_dir / "packaged" / "root.yaml").read_text() == "packaged\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prod"], "no temporary folders left behind"


def test_write_failure_leaves_the_previous_output(tmp_path, monkeypatch):
    env_dir = tmp_path / "prod"
    freshness.write(env_dir, {"a.yaml": "1\n"})
    real_rename = freshness.os.rename

    def failing_rename(src, dst):
        if str(src).startswith(str(tmp_path / ".prod.new-")):
            raise OSError("disk full")
        return real_rename(src, dst)

    monkeypatch.setattr(freshness.os, "rename", failing_rename)
    # the two-rename path; tests/test_freshness.py: both
    monkeypatch.setattr(freshness, "_exchange", lambda a, b: False)
    try:
        freshness.write(env_dir, {"a.yaml": "2\n"})
    except OSError:
        pass
    else:
        raise AssertionError("the failure was swallowed")
    assert (env_dir / "a.yaml").read_text() == "1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prod"]
