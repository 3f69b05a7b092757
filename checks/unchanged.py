"""The "nothing changed" path: ``python generate.py`` and ``python generate.py check`` answered from one key.

A build or check where nothing changed used to pay about 0.3-0.5 s of imports (pydantic models, troposphere, the
lint module, the role tables) to find that out. :func:`answer` runs first in ``generate.py``, before any of its
imports, and needs only the standard library modules below. It computes one key over everything the result depends
on:

* the code: every file of every package of this checkout (a top-level folder with an ``__init__.py``, ``tests/``
  excepted) and every ``*.py`` beside ``generate.py``, found by listing the folders, never by a list of names, so a
  module moved or added is covered as it lands (:func:`sources`);
* the inputs: the name and bytes of every ``params/*.yaml``;
* the interpreter and the libraries: ``sys.version``, the executable, ``sys.path`` (but the checkout's own folder, so
  a copy of the checkout elsewhere keeps its key), and every distribution installed
  on it (the name, version and install time of each ``*.dist-info``/``*.egg-info`` folder; read by listing the
  folders, without importing them or :mod:`importlib.metadata`), which covers PyYAML, troposphere, awacs, pydantic,
  cfn-lint and everything cfn-lint's findings depend on (jsonschema, sympy, ...);
* the result: the names, types and bytes of everything in ``output/`` (an env folder's git-ignored ``packaged/``
  excepted, as the build and check ignore it) and ``params/schema.json``.

The key is recorded in ``.cache/unchanged.json`` only by a run that ended well, from the very bytes it compared:
after a complete build (every environment) the written ``output/`` and ``params/schema.json`` are read back and must
equal the render byte for byte, and after a passing ``check`` too. A build that also ran cfn-lint and the guardrails
without a finding records the result as clean. The code and inputs are fingerprinted when the run starts and again
when it ends; a file edited meanwhile records nothing. A matching key therefore means: these params and this code
produce exactly the ``output/`` on disk (what ``check`` proves), and, if recorded clean, lint and guardrails found
nothing in it (what the build reports). Anything else, one byte of one file included, falls through to the full work.

Only the plain forms take the path (``python generate.py``, ``build``, ``check``); ``--env``, ``--no-lint``,
``--scan``, ``--debug``, every other verb and a flag of earlier releases (``--check``, which ``generate.py`` refuses)
run in full. What is not in the key: a library installed in development mode whose source is edited in place (its
``dist-info`` does not change; reinstall it, or delete ``.cache/``) and anything outside this checkout that a
template reads (none does: templates/ does no I/O).
"""

from __future__ import annotations

import json
import os
import stat
import sys

try:  # the builtin BLAKE2 module: hashlib would first load OpenSSL's libcrypto (2-15 ms measured, of a 0.1 s answer)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

KEY_VERSION = 1
RECORD = os.path.join(".cache", "unchanged.json")  # under the project folder (params/, output/)
KEEP = ("packaged",)  # as checks/freshness.KEEP: deploy artefacts the build keeps and the check ignores
NOT_CODE = ("tests",)  # a package whose files change nothing generate.py does
LIBRARIES = ("PyYAML", "troposphere", "awacs", "pydantic", "cfn-lint")  # named in docs/speed.md; all are listed
PLAIN = {(): "build", ("build",): "build", ("check",): "check"}

# What answer() computed when it did not answer, for the full run to record against: (home, inputs digest)
STARTED: tuple[str, str] | None = None
# The module search path as the process started (generate.py imports this module first): where every import of the
# run comes from, whatever an import later appends
PATH = list(sys.path)


# --- reading without waiting ----------------------------------------------------------------------------------------

def _entry(path: str) -> bytes:
    """One file system entry for the key: its type, a link's target, a regular file's bytes (followed through a
    link). Anything else (a FIFO, whose reading would block, a socket, a device) contributes its type only."""
    try:
        st = os.lstat(path)
        out = b"t%o" % stat.S_IFMT(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            out += b"->" + os.fsencode(os.readlink(path))
            st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                data = f.read()
            out += b"b%d:" % len(data) + data
        return out
    except OSError as e:
        return b"?%d" % (e.errno or 0)


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


# --- the parts of the key -------------------------------------------------------------------------------------------

def sources(code: str) -> list[str]:
    """Every file of the code that generates and checks, by listing: ``*.py`` beside ``generate.py`` and every file
    (data files too) under each package folder there, ``tests/``, hidden folders and ``__pycache__`` excepted."""
    found = [os.path.join(code, n) for n in _listdir(code) if n.endswith(".py")]
    for top in _listdir(code):
        base = os.path.join(code, top)
        if top in NOT_CODE or top.startswith(".") or not os.path.isfile(os.path.join(base, "__init__.py")):
            continue
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            found += [os.path.join(folder, f) for f in sorted(files) if not f.endswith((".pyc", ".pyo"))]
    return found


def _dist_infos(path: list[str] | None) -> list[tuple[str, str, int]]:
    """``(sys.path entry, folder name, modification time)`` of every ``*.dist-info``/``*.egg-info`` folder, in the
    order the interpreter searches them."""
    out = []
    for entry in (PATH if path is None else path):
        try:
            with os.scandir(entry or ".") as it:
                found = [(d.name, d.stat(follow_symlinks=False).st_mtime_ns) for d in it
                         if d.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
        out += [(entry, name, mtime) for name, mtime in sorted(found)]
    return out


def distributions(path: list[str] | None = None) -> list[str]:
    """Every installed distribution on ``sys.path``: ``name-version.dist-info`` (or ``.egg-info``) with the folder's
    modification time, which a reinstall changes. Listing the folders costs well under a millisecond."""
    return [f"{entry}\0{name}\0{mtime}" for entry, name, mtime in _dist_infos(path)]


def versions(path: list[str] | None = None) -> dict[str, str]:
    """The versions of :data:`LIBRARIES` as the interpreter finds them (the first on ``sys.path``), from the
    ``dist-info`` folder names (wheel names normalise ``-`` to ``_``; case differs between installers)."""
    wanted = {n.lower().replace("-", "_"): n for n in LIBRARIES}
    found: dict[str, str] = {}
    for _, folder, _ in _dist_infos(path):
        name, _, ver = folder.rsplit(".", 1)[0].partition("-")
        key = name.lower().replace("-", "_").replace(".", "_")
        if key in wanted and wanted[key] not in found:
            found[wanted[key]] = ver
    return {n: found.get(n, "?") for n in LIBRARIES}


def inputs(home: str, code: str, search_path: bool = True) -> str:
    """The digest of what the output is made from: the code, the params, the interpreter and its libraries.

    ``search_path`` False leaves the list of ``sys.path`` entries out (the libraries found on it stay in): for a
    decision that is only an optimisation and is shared with other processes (checks/lint.py's prestart), whose
    search path differs harmlessly (pytest puts its script folder there)."""
    path = [p for p in PATH if os.path.abspath(p or ".") != code]  # the script's own folder: its files are sources
    h = blake2b(digest_size=32)
    h.update(json.dumps([KEY_VERSION, sys.version, sys.executable, path if search_path else None, versions(path),
                         distributions(path)]).encode())
    params = os.path.join(home, "params")
    for name in _listdir(params):
        if name.endswith(".yaml"):
            h.update(b"\0P" + name.encode() + b"\0" + _entry(os.path.join(params, name)))
    for source in sources(code):
        h.update(b"\0S" + os.fsencode(os.path.relpath(source, code)) + b"\0" + _entry(source))
    return h.hexdigest()


def snapshot(home: str) -> dict[str, bytes]:
    """``output/`` and ``params/schema.json`` as they are: relative name -> entry (type and bytes). An env folder's
    ``packaged/`` is left out; a folder below an env folder contributes its type only (the check reports it)."""
    out = {"params/schema.json": _entry(os.path.join(home, "params", "schema.json")),
           "output": _entry(os.path.join(home, "output"))}
    top = os.path.join(home, "output")
    if not _is_dir(top):
        return out
    for name in _listdir(top):
        path = os.path.join(top, name)
        out[f"output/{name}"] = _entry(path)
        if _is_dir(path):
            for child in _listdir(path):
                if child not in KEEP:
                    out[f"output/{name}/{child}"] = _entry(os.path.join(path, child))
    return out


def key(inputs_digest: str, snap: dict[str, bytes]) -> str:
    h = blake2b(inputs_digest.encode(), digest_size=32)
    for name in sorted(snap):
        h.update(b"\0" + name.encode() + b"\0" + b"%d:" % len(snap[name]) + snap[name])
    return h.hexdigest()


# --- the record -----------------------------------------------------------------------------------------------------

def _read_record(home: str) -> dict | None:
    path = os.path.join(home, RECORD)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as f:
            data = json.loads(f.read(1 << 16))
    except (OSError, ValueError, RecursionError):
        return None
    ok = (isinstance(data, dict) and data.get("version") == KEY_VERSION and isinstance(data.get("key"), str)
          and type(data.get("clean")) is bool and isinstance(data.get("envs"), list) and data["envs"]
          and all(isinstance(e, str) for e in data["envs"]) and type(data.get("templates")) is int)
    return data if ok else None


def record(home, code, started: str, rendered: dict[str, dict[str, str]], schema: str, clean: bool) -> bool:
    """Record the key after a run that ended well over every environment (``rendered``: env -> file name -> text).

    Nothing is recorded if the code or params changed during the run, or if what is on disk is not exactly what
    ``check`` accepts (the render, no leftover of an interrupted write). The comparison is made on the snapshot the key
    is made from, so the key never covers bytes nobody compared. ``clean``: cfn-lint and the guardrails found nothing;
    a check (``clean`` False) keeps an earlier clean verdict for the same key. Returns whether a key was recorded; a
    cache that cannot be written only costs the next run."""
    home, code = str(home), str(code)
    if inputs(home, code) != started:
        return False
    snap = snapshot(home)
    if snap["params/schema.json"] != _file(schema) or snap["output"] != _DIR:
        return False
    for env, files in rendered.items():
        names = {n.split("/", 2)[2] for n in snap if n.startswith(f"output/{env}/")}
        if (snap.get(f"output/{env}") != _DIR or names != set(files)
                or any(snap[f"output/{env}/{n}"] != _file(text) for n, text in files.items())):
            return False
    leftover = tuple(f"output/.{env}.{kind}-" for env in rendered for kind in ("new", "old"))
    if any(n.startswith(leftover) for n in snap):
        return False
    new = key(started, snap)
    previous = _read_record(home)
    clean = clean or bool(previous and previous["key"] == new and previous["clean"])
    data = {"version": KEY_VERSION, "key": new, "clean": clean, "envs": sorted(rendered),
            "templates": sum(map(len, rendered.values()))}
    return _write(os.path.join(home, RECORD), data)


_DIR = b"t%o" % stat.S_IFDIR


def _file(text: str) -> bytes:
    data = text.encode()
    return b"t%o" % stat.S_IFREG + b"b%d:" % len(data) + data


def _write(path: str, data: dict) -> bool:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


# --- the answer -----------------------------------------------------------------------------------------------------

def home_of(code: str) -> str:
    """The project folder, as ``templates.config.project_dir``: the current one if it has params/, else the code's."""
    cwd = os.getcwd()
    return cwd if os.path.isdir(os.path.join(cwd, "params")) else code


def answer(argv: list[str], script: str) -> int | None:
    """Answer a plain build or check from the record (print what the full run would, return 0), or return None for
    the full run. Never raises: anything unexpected means the full run.

    For any other build or check it only takes the inputs' digest (:data:`STARTED`), so that the full run records
    against what was on disk before its imports."""
    global STARTED
    STARTED = None
    verb = PLAIN.get(tuple(argv))
    if verb is None and argv[:1] not in (["build"], ["check"]) and argv[:1] and not argv[0].startswith("-"):
        return None  # another verb: nothing to record
    try:
        code = os.path.dirname(os.path.realpath(script))  # as sys.path[0] and generate.CODE
        home = home_of(code)
        started = inputs(home, code)
        STARTED = (home, started)
        if verb is None:
            return None
        found = _read_record(home)
        if found is None or found["key"] != key(started, snapshot(home)) or (verb == "build" and not found["clean"]):
            return None
    except Exception:  # any error: this is only a shortcut, and the full run reports whatever is wrong
        return None
    envs = ", ".join(found["envs"])
    if verb == "check":
        print(f"output/ is fresh for {envs} (nothing changed since it was last proven: {RECORD})")
    else:
        print(f"output/ is fresh for {envs}: nothing changed since the last build ({found['templates']} templates, "
              f"{RECORD})")
        print(f"cfn-lint: {found['templates']} templates clean (cached)")
    return 0


def started(home, code) -> str:
    """The inputs digest :func:`answer` took before the imports for this project, or one taken now."""
    home, code = str(home), str(code)
    if STARTED is not None and STARTED[0] == home:
        return STARTED[1]
    return inputs(home, code)
