"""The migrate-data copy program (deploy/copy_data.py), run for real the way the task runs it (``python -c <text>``)
against temporary directories: its layout mapping, its refusals, its verification, an untouched source."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = (Path(__file__).resolve().parents[1] / "deploy" / "copy_data.py").read_text()
ME = f"{os.getuid()}:{os.getgid()}"


def run(tmp: Path, *extra: str, owner: str = ME) -> tuple[int, list[dict]]:
    for d in ("app", "app/qdrant"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    args = ["--src", str(tmp / "src"), "--dst-app", str(tmp / "app"), "--dst-qdrant", str(tmp / "app" / "qdrant"),
            "--owner", owner, *extra]
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=60)
    assert not done.stderr, done.stderr  # no traceback, ever
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def tree(root: Path) -> dict[str, tuple]:
    """Everything below root: relative path -> (mode, mtime, sha256 or None)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
    return out


def write(root: Path, rel: str, data: bytes = b"x", mode: int = 0o644) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    p.chmod(mode)


def flat_seed(src: Path) -> None:
    """The seed's likely state: one access point mounted at /data and /qdrant/storage, so Qdrant beside wwhd.db."""
    write(src, "wwhd-data/wwhd.db", b"SQLite format 3\x00" + b"a" * 5000, 0o600)
    write(src, "wwhd-data/wwhd.db-wal", b"wal" * 100)
    write(src, "wwhd-data/wwhd.db-shm", b"shm" * 10)
    write(src, "wwhd-data/collections/docs/segments/0/data.bin", os.urandom(20000), 0o640)
    write(src, "wwhd-data/aliases/data.json", b"{}")
    write(src, "wwhd-data/raft_state.json", b'{"state": {}}')


def events(out: list[dict], kind: str) -> list[dict]:
    return [e for e in out if e["event"] == kind]


def test_flat_layout_dry_run_lists_and_maps_and_writes_nothing(tmp_path):
    flat_seed(tmp_path / "src")
    before = tree(tmp_path / "src")
    code, out = run(tmp_path)
    assert code == 0
    assert events(out, "found")[0]["layout"] == "flat"
    mapping = {e["source"]: e["to"] for e in events(out, "map")}
    assert mapping["wwhd-data/wwhd.db"] == "app:wwhd.db" and mapping["wwhd-data/wwhd.db-wal"] == "app:wwhd.db-wal"
    assert mapping["wwhd-data/collections/docs/segments/0/data.bin"] == "qdrant:collections/docs/segments/0/data.bin"
    assert mapping["wwhd-data/raft_state.json"] == "qdrant:raft_state.json"
    assert events(out, "done")[0]["mode"] == "dry-run" and not events(out, "copied")
    assert (list((tmp_path / "app").iterdir()) == [tmp_path / "app" / "qdrant"]
            and not any((tmp_path / "app/qdrant").iterdir()))
    assert tree(tmp_path / "src") == before


def test_flat_layout_copy_keeps_bytes_modes_and_times_verifies_and_leaves_the_source_untouched(tmp_path):
    flat_seed(tmp_path / "src")
    before = tree(tmp_path / "src")
    code, out = run(tmp_path, "--execute")
    assert code == 0, out
    src, app, qdrant = tmp_path / "src" / "wwhd-data", tmp_path / "app", tmp_path / "app" / "qdrant"
    copied = {**{f"app:{k}": v for k, v in tree(app).items() if not k.startswith("qdrant")},
              **{f"qdrant:{k}": v for k, v in tree(qdrant).items()}}
    expected = {}
    for rel, v in tree(src).items():
        expected[f"{'app' if rel.startswith('wwhd.db') else 'qdrant'}:{rel}"] = v
    assert copied == expected  # same files, bytes, modes (0600 db, 0640 segment) and modification times
    verified = events(out, "verified")[0]
    assert verified == {"event": "verified", "files": 6, "directories": 5,
                        "bytes": sum(p.stat().st_size for p in src.rglob("*") if p.is_file())}
    assert tree(tmp_path / "src") == before


def test_nested_layout_maps_the_qdrant_folder_to_the_qdrant_access_point(tmp_path):
    src = tmp_path / "src"
    write(src, "wwhd-data/wwhd.db", b"db")
    write(src, "wwhd-data/qdrant/collections/c/config.json", b"{}")
    write(src, "wwhd-data/qdrant/raft_state.json", b"{}")
    code, out = run(tmp_path, "--execute")
    assert code == 0, out
    assert events(out, "found")[0]["layout"] == "nested"
    assert (tmp_path / "app/qdrant/collections/c/config.json").read_bytes() == b"{}"
    assert (tmp_path / "app/wwhd.db").read_bytes() == b"db"
    assert not (tmp_path / "app/qdrant/qdrant").exists()


@pytest.mark.parametrize("layout", ["no-data-folder", "empty-data-folder"])
def test_an_empty_source_is_nothing_to_copy(tmp_path, layout):
    (tmp_path / "src" / ("wwhd-data" if layout == "empty-data-folder" else "")).mkdir(parents=True, exist_ok=True)
    code, out = run(tmp_path, "--execute")
    assert code == 0
    assert events(out, "nothing")[0]["message"] == "nothing to copy: the source holds no data"
    assert not events(out, "copied")


@pytest.mark.parametrize("setup, reason", [
    (lambda s: write(s, "wwhd-data/notes.txt"), "unknown entries in /wwhd-data: notes.txt"),
    (lambda s: write(s, "other/file"), "entries outside /wwhd-data on the source: other"),
    (lambda s: (write(s, "wwhd-data/qdrant/collections/a"), write(s, "wwhd-data/collections/b")),
     "Qdrant storage both in /wwhd-data/qdrant/ and beside wwhd.db"),
    (lambda s: write(s, "wwhd-data/wwhd.db-wal"), "SQLite -wal/-shm/-journal files without wwhd.db"),
    (lambda s: (write(s, "wwhd-data/wwhd.db"), os.symlink("/etc/passwd", s / "wwhd-data/collections")),
     "wwhd-data/collections is neither a file nor a directory"),
])
def test_an_unknown_layout_is_refused_before_anything_is_written(tmp_path, setup, reason):
    setup(tmp_path / "src")
    code, out = run(tmp_path, "--execute")
    assert code == 3
    assert reason in events(out, "refused")[0]["reason"]
    assert not events(out, "copied") and not any((tmp_path / "app/qdrant").iterdir())


OTHER = "1000:1000" if ME != "1000:1000" else "0:0"


def test_a_source_owner_is_no_reason_to_refuse(tmp_path):
    """EFS User Guide, "Enforcing a user identity using an access point": everything written through an access point
    gets its POSIX user as owner, whatever the source's owner; so the dry run maps files of any owner."""
    flat_seed(tmp_path / "src")
    code, out = run(tmp_path, owner=OTHER)
    assert code == 0 and not events(out, "refused") and events(out, "done")[0]["mode"] == "dry-run"
    assert len(events(out, "map")) == 11  # 6 files and 5 folders


def test_every_copy_must_be_owned_by_the_access_points_user(tmp_path):
    """The verification checks the copies' owner against --owner (the access points' PosixUser): here the copies are
    the test user's, so a different --owner is a mismatch (exit 4), file by file."""
    flat_seed(tmp_path / "src")
    code, out = run(tmp_path, "--execute", owner=OTHER)
    assert code == 4
    mismatches = events(out, "mismatch")
    assert mismatches and all(f"'owner': '{OTHER}'" in m["detail"] and f"'owner': '{ME}'" in m["detail"]
                              for m in mismatches)


def test_a_destination_that_is_not_empty_is_refused(tmp_path):
    flat_seed(tmp_path / "src")
    write(tmp_path, "app/wwhd.db", b"the new service already wrote here")
    code, out = run(tmp_path, "--execute")
    assert code == 3 and "the destination (app) is not empty: wwhd.db" in events(out, "refused")[0]["reason"]
    assert (tmp_path / "app/wwhd.db").read_bytes() == b"the new service already wrote here"


def test_verification_catches_a_copy_that_differs(tmp_path):
    """The verify step compares checksums for real: a copy corrupted after copying fails it (exit 4)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("copy_data",
                                                  Path(__file__).resolve().parents[1] / "deploy" / "copy_data.py")
    cd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cd)
    flat_seed(tmp_path / "src")
    for d in ("app", "app/qdrant"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    dst = {"app": str(tmp_path / "app"), "qdrant": str(tmp_path / "app/qdrant")}
    _, mapping = cd.plan(str(tmp_path / "src"))
    cd.copy(str(tmp_path / "src"), dst, mapping)
    me = (os.getuid(), os.getgid())  # the copies' owner here (through an access point: its POSIX user)
    assert cd.verify(str(tmp_path / "src"), dst, mapping, me) == []
    (tmp_path / "app/qdrant/raft_state.json").write_bytes(b'{"state": {"x"}}')
    problems = cd.verify(str(tmp_path / "src"), dst, mapping, me)
    assert len(problems) == 1 and problems[0].startswith("wwhd-data/raft_state.json -> qdrant:raft_state.json")


def test_the_environment_switch_that_run_task_sets_means_execute(tmp_path, monkeypatch):
    flat_seed(tmp_path / "src")
    monkeypatch.setenv("MIGRATE_EXECUTE", "1")
    code, out = run(tmp_path)
    assert code == 0 and events(out, "done")[0]["mode"] == "copy"
