"""Copy the seed's data into the new file system: the program the one-off ``migrate-data`` task runs.

Standard library only, Python 3.9 or later: ``templates/migrate.py`` passes this file's text to ``python3 -c`` (or
``python -c``) in the app's own image, and the tests run it here against temporary directories. Nothing else runs
it.

Mounts (read-only source, the new file system through our two access points)::

    SRC          the seed's file system, its root "/", read-only
    DST_APP      our AppAccessPoint    (/wwhd-data on the new file system; the app's /data)
    DST_QDRANT   our QdrantAccessPoint (/wwhd-data/qdrant; Qdrant's /qdrant/storage)

Layouts it recognises under ``SRC/wwhd-data`` (the seed's access point root). The seed mounted that one access point
at both ``/data`` and ``/qdrant/storage``, so Qdrant may have written its storage beside ``wwhd.db``:

* ``nested``: ``wwhd.db*`` and ``qdrant/`` (the layout the seed's document intended)
* ``flat``: ``wwhd.db*`` beside Qdrant's own entries (``collections/``, ``aliases/``, ``raft_state.json``, ...)
* ``empty``: nothing (or no ``wwhd-data``): "nothing to copy", exit 0

Anything else (an unknown entry, both Qdrant layouts at once, entries outside ``/wwhd-data``, a special file, a
destination that is not empty) is refused before anything is written, exit 3. SQLite's ``-wal``, ``-shm`` and
``-journal`` files are copied with the database (nothing runs, so they are consistent with it). Modes and modification
times are kept. Owners are not: every file and directory written through an access point gets the access point's
POSIX user as owner and group ("Enforcing a user identity using an access point", EFS User Guide: "The owner and
group for new files and directories are set to the user ID and group ID of the access point"), 1000:1000, the user
both containers run as, whatever the source's owner; so a source owner is no reason to refuse, and the verification
checks that every copy is owned by that user (``--owner``). Every copied file is verified (count, bytes, SHA-256,
mode, owner); a mismatch exits 4. The source is only read. Output is one JSON object per line (``event``: ``found``,
``map``, ``refused``, ``copied``, ``verified``, ``nothing``, ``done``), so ``deploy/migrate.py`` can read it back from
the task's log stream.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import sys

DATA = "wwhd-data"
SQLITE = ("wwhd.db", "wwhd.db-wal", "wwhd.db-shm", "wwhd.db-journal")
# Qdrant's storage directory (QDRANT__STORAGE__STORAGE_PATH): collections, aliases, the consensus state, and the
# directory of collections being deleted.
QDRANT_ENTRIES = ("collections", "aliases", "raft_state.json", "raft_state", ".deleted")
NESTED_QDRANT = "qdrant"
OWNER = (1000, 1000)  # the PosixUser of our access points: the owner of everything written through them
REFUSED, MISMATCH = 3, 4


class Refused(Exception):
    pass


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


def walk(root: str) -> list[str]:
    """Every path below ``root`` (relative, sorted; directories too), without following symbolic links."""
    found = []
    for base, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(dirs + files):
            found.append(os.path.relpath(os.path.join(base, name), root))
    return sorted(found)


def plan(src: str) -> tuple[str, list[tuple[str, str, str]]]:
    """(layout, [(source path, destination key 'app'|'qdrant', destination relative path)]) or :class:`Refused`."""
    top = sorted(os.listdir(src)) if os.path.isdir(src) else []
    outside = [e for e in top if e != DATA]
    if outside:
        raise Refused(f"entries outside /{DATA} on the source: {', '.join(outside)}")
    data = os.path.join(src, DATA)
    entries = sorted(os.listdir(data)) if os.path.isdir(data) else []
    if not entries:
        return "empty", []
    unknown = [e for e in entries if e not in SQLITE and e not in QDRANT_ENTRIES and e != NESTED_QDRANT]
    if unknown:
        raise Refused(f"unknown entries in /{DATA}: {', '.join(unknown)} (known: {', '.join(SQLITE + QDRANT_ENTRIES)}, "
                      f"{NESTED_QDRANT}/)")
    flat = [e for e in entries if e in QDRANT_ENTRIES]
    if flat and NESTED_QDRANT in entries:
        raise Refused(f"Qdrant storage both in /{DATA}/{NESTED_QDRANT}/ and beside wwhd.db ({', '.join(flat)}): "
                      "which one is Qdrant's is not knowable here")
    mapping = []
    for e in entries:
        path = os.path.join(DATA, e)
        if e in SQLITE:
            mapping.append((path, "app", e))
        elif e == NESTED_QDRANT:
            mapping += [(os.path.join(path, rel), "qdrant", rel) for rel in walk(os.path.join(src, path))]
        else:
            mapping.append((path, "qdrant", e))
            if os.path.isdir(os.path.join(src, path)) and not os.path.islink(os.path.join(src, path)):
                mapping += [(os.path.join(path, rel), "qdrant", os.path.join(e, rel))
                            for rel in walk(os.path.join(src, path))]
    if any(e.startswith("wwhd.db-") for e in entries) and "wwhd.db" not in entries:
        raise Refused("SQLite -wal/-shm/-journal files without wwhd.db")
    return ("flat" if flat else "nested"), sorted(mapping)


def check_files(src: str, mapping: list[tuple[str, str, str]]) -> None:
    for path, _, _ in mapping:
        st = os.lstat(os.path.join(src, path))
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise Refused(f"{path} is neither a file nor a directory (a link or special file)")


def check_empty(dst: dict[str, str]) -> None:
    for key, root in sorted(dst.items()):
        left = [e for e in os.listdir(root)] if os.path.isdir(root) else []
        if key == "app":
            left = [e for e in left if e != NESTED_QDRANT]  # the qdrant access point's root lives here
        if left:
            raise Refused(f"the destination ({key}) is not empty: {', '.join(sorted(left))}; migrate into a new, "
                          "unused file system (the service at DesiredCount 0)")


def digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe(path: str, owner: tuple[int, int] | None = None) -> dict:
    """Mode, type, size and SHA-256; and the owner, as found or (for a source, which the copy does not keep) as the
    access points will set it."""
    st = os.lstat(path)
    uid, gid = owner if owner is not None else (st.st_uid, st.st_gid)
    out: dict[str, str | int] = {"mode": oct(stat.S_IMODE(st.st_mode)), "owner": f"{uid}:{gid}",
           "type": "dir" if stat.S_ISDIR(st.st_mode) else "file"}
    if out["type"] == "file":
        out |= {"bytes": st.st_size, "sha256": digest(path)}
    return out


def copy(src: str, dst: dict[str, str], mapping: list[tuple[str, str, str]]) -> None:
    for path, key, rel in mapping:  # sorted: a directory comes before what it holds
        source, target = os.path.join(src, path), os.path.join(dst[key], rel)
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            shutil.copyfile(source, target)
        emit("copied", source=path, to=f"{key}:{rel}")
    for path, key, rel in reversed(mapping):  # modes and times last, deepest first (a read-only dir stays writable)
        st = os.lstat(os.path.join(src, path))
        target = os.path.join(dst[key], rel)
        os.chmod(target, stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def verify(src: str, dst: dict[str, str], mapping: list[tuple[str, str, str]],
           owner: tuple[int, int] = OWNER) -> list[str]:
    """Each copy against its source: same type, mode, bytes and SHA-256, owned by ``owner`` (the access points')."""
    problems = []
    for path, key, rel in mapping:
        want = describe(os.path.join(src, path), owner)
        target = os.path.join(dst[key], rel)
        got = describe(target) if os.path.lexists(target) else None
        if got != want:
            problems.append(f"{path} -> {key}:{rel}: source {want}, copy {got}")
    return problems


def totals(src: str, mapping) -> dict:
    files = [os.path.join(src, p) for p, _, _ in mapping if os.path.isfile(os.path.join(src, p))]
    return {"files": len(files), "directories": len(mapping) - len(files),
            "bytes": sum(os.path.getsize(f) for f in files)}


def _owner(text: str) -> tuple[int, int]:
    """``--owner uid:gid``: exactly two numbers (the access points' PosixUser)."""
    uid, sep, gid = text.partition(":")
    if not (sep and uid.isdigit() and gid.isdigit()):
        raise argparse.ArgumentTypeError(f"expected uid:gid, two numbers (like {OWNER[0]}:{OWNER[1]}), got {text!r}")
    return int(uid), int(gid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--dst-app", required=True)
    parser.add_argument("--dst-qdrant", required=True)
    parser.add_argument("--execute", action="store_true", default=os.environ.get("MIGRATE_EXECUTE") == "1",
                        help="copy (default: list and map only); also MIGRATE_EXECUTE=1, which RunTask sets")
    parser.add_argument("--owner", type=_owner, default=f"{OWNER[0]}:{OWNER[1]}",
                        help="uid:gid every copy must have (the access "
                        "points' PosixUser, which EFS sets on everything written through them)")
    args = parser.parse_args(argv)
    owner: tuple[int, int] = args.owner
    dst = {"app": args.dst_app, "qdrant": args.dst_qdrant}
    try:
        layout, mapping = plan(args.src)
        emit("found", layout=layout, entries=walk(os.path.join(args.src, DATA)) if layout != "empty" else [],
             **totals(args.src, mapping))
        if not mapping:
            emit("nothing", message="nothing to copy: the source holds no data")
            return 0
        check_files(args.src, mapping)
        for path, key, rel in mapping:
            emit("map", source=path, to=f"{key}:{rel}")
        check_empty(dst)
    except Refused as e:
        emit("refused", reason=str(e))
        return REFUSED
    if not args.execute:
        emit("done", mode="dry-run", **totals(args.src, mapping))
        return 0
    copy(args.src, dst, mapping)
    problems = verify(args.src, dst, mapping, owner)
    for p in problems:
        emit("mismatch", detail=p)
    if problems:
        return MISMATCH
    emit("verified", **totals(args.src, mapping))
    emit("done", mode="copy", **totals(args.src, mapping))
    return 0


if __name__ == "__main__":
    sys.exit(main())
