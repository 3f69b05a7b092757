"""cfn-lint over the generated templates, with a cache keyed by content.

cfn-lint costs about 0.45-0.6 s of imports and rule loading per process and 25-900 ms of CPU per template
(docs/speed.md), so: one set of loaded rules for every template that needs linting, shared by the process that loaded
them and one worker forked from it, and none at all when
every template's result is already cached. A template's key is the sha256 of its bytes, the bytes of the templates
it nests (the root's checks E3043/E6101 read the children), the cfn-lint version and our lint configuration.
Informational findings count: the bar is zero findings of any level; suppressions live in each template's Metadata
with a reason.

A cold build overlaps cfn-lint's start-up with generation: :func:`prestart` (or :func:`prestart_early`, before
generate.py's imports) forks a process that loads the rules while the parent validates params and renders templates,
then lints what :func:`lint` hands it. It is skipped when the inputs (params, sources, library versions) are the ones
of the last complete lint, whose results are then all cached. Before any fork the loaded heap is frozen
(:func:`gc.freeze`), so no worker runs a full collection over the ~200k objects it inherits, and no process holding
cfn-lint collects them at exit.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import json
import math
import os
import pickle
import signal
import sys
import time
import weakref
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

CONFIG = {"include_checks": ["I"], "include_experimental": False}
CACHE_VERSION = 2
CACHE = Path(".cache") / "cfn-lint.json"  # relative to the project folder


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    rule: str
    level: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} [{self.level}] {self.message}"


_FIELDS = {f.name: str(f.type) for f in fields(Finding)}  # "str" / "int" (postponed annotations)


def _key(path: Path, nested: list[Path], regions: list[str], linter: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, linter, CONFIG, regions]).encode())
    for p in [path, *nested]:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


PARALLEL_FROM = 8  # misses; below this one process is faster (docs/design.md, "Build speed")
_RULES = None  # cfn-lint's loaded rules, shared with forked workers


def _config(paths: list[Path], regions: list[str]):
    from cfnlint.config import ConfigMixIn, ManualArgs

    return ConfigMixIn(**ManualArgs(templates=[str(p) for p in paths], regions=regions, **CONFIG))


def _load_rules(freeze: bool = False) -> None:
    """Import cfn-lint and load its rules (they depend on CONFIG only, not on the templates or regions).

    The collector is off meanwhile: the ~200k objects this creates are all kept, so the full collections their
    allocation triggers (about a third of the loading time) would free nothing. ``freeze`` (a process that keeps them
    to its end, the prestarted linter) moves them out of the collector's reach before it is switched back on:
    otherwise the first allocation after that starts a collection that walks all of them (80 ms measured).
    """
    global _RULES
    if _RULES is None:
        enabled = gc.isenabled()
        gc.disable()
        try:
            from cfnlint.runner import Runner  # imported only on a cache miss: it is the slow part

            _RULES = Runner(_config([], ["us-east-1"])).rules
        finally:
            if freeze:
                gc.freeze()
            if enabled:
                gc.enable()


# One result per template: (path, findings as dicts, seconds it took)
Result = tuple[str, list[dict], float]


def _lint_group(args: tuple[list[str], list[str]]) -> list[Result]:
    """Lint each template of a group on its own, timing it (the times balance the next run's groups)."""
    from cfnlint.runner.template.runner import run_template_by_file_paths

    paths, regions = args
    out = []
    for path in paths:
        started = time.perf_counter()
        found = [asdict(Finding(str(m.filename), int(m.linenumber), m.rule.id, m.rule.severity, m.message))
                 for m in run_template_by_file_paths(_config([Path(path)], regions), _RULES)]
        out.append((path, found, time.perf_counter() - started))
    return out


def _balanced(paths: list[str], n: int, seconds: dict[str, float]) -> list[list[str]]:
    """Split into ``n`` groups of about equal lint time: each template's time from the previous run, biggest first,
    each into the lightest group. A template not timed yet is estimated from its size at the timed ones' rate."""
    sizes = {p: max(Path(p).stat().st_size, 1) for p in paths}
    timed = [p for p in paths if p in seconds]
    rate = sum(seconds[p] for p in timed) / sum(sizes[p] for p in timed) if timed else 1.0
    weight = {p: seconds[p] if p in seconds else sizes[p] * rate for p in paths}
    groups: list[list[str]] = [[] for _ in range(n)]
    totals = [0.0] * n
    for path in sorted(paths, key=lambda p: (-weight[p], p)):
        i = totals.index(min(totals))
        groups[i].append(path)
        totals[i] += weight[path]
    return [g for g in groups if g]


def _preload_schemas(paths: list[str], regions: list[str]) -> None:
    """Load the resource schemas the templates use before forking, so the workers share them instead of each
    parsing the same JSON schemas again."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    types = {line.split(":", 1)[1].strip() for p in paths for line in Path(p).read_text().splitlines()
             if line.strip().startswith("Type: AWS::")}
    for region in regions:
        for rtype in sorted(types):
            try:
                PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, rtype)
            except Exception:  # any error: an unknown type is cfn-lint's finding to report, not ours
                pass


def _lint_loaded(paths: list[str], regions: list[str], seconds: dict[str, float]) -> list[Result]:
    """Lint with the loaded rules; with many templates, in this process and one forked worker that shares them
    (copy-on-write), each a group of about equal lint time.

    A plain fork and a pipe, not a multiprocessing pool: the pool's import, its second worker, its three threads and
    its teardown cost about 0.1 s of a cold build, and this process would only wait meanwhile. The heap is frozen
    before the fork: the worker's first full collection would otherwise walk (and, touching each object's header,
    copy) every inherited object. It is unfrozen afterwards, so a long-lived caller (the tests) collects as usual. A
    worker that fails or dies only means its group is linted here.
    """
    _preload_schemas(paths, regions)
    if len(paths) < PARALLEL_FROM or (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        return _lint_group((paths, regions))
    here, *there = _balanced(paths, 2, seconds)
    if not there:
        return _lint_group((here, regions))
    gc.freeze()
    try:
        pid, results = _fork_worker(there[0], regions)
        done = _lint_group((here, regions))
        theirs = _collect(pid, results)
    finally:
        gc.unfreeze()
    return done + (theirs if theirs is not None else _lint_group((there[0], regions)))


def _fork_worker(paths: list[str], regions: list[str]) -> tuple[int | None, int | None]:
    """Fork a process that lints ``paths`` and writes its results to a pipe: (pid, read end), or (None, None)."""
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:  # no process to spare: the caller lints the group itself
        os.close(read)
        os.close(write)
        return None, None
    if pid == 0:  # the worker never returns: os._exit, no collection or atexit handlers of the parent at exit
        code = 1
        try:
            os.close(read)
            result = _lint_group((paths, regions))
            with open(write, "wb") as f:
                pickle.dump(result, f)
            code = 0
        except BaseException:  # whatever it is, the parent lints the group itself
            pass
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def _collect(pid: int | None, read: int | None) -> list[Result] | None:
    """The worker's results, or None if it failed; the worker is reaped either way."""
    if pid is None or read is None:
        return None
    try:
        with open(read, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    finally:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _run(paths: list[str], regions: list[str], seconds: dict[str, float]) -> list[Result]:
    """Lint in this process (no prestarted linter)."""
    if _RULES is None:
        _load_rules()
        atexit.register(gc.freeze)  # the exit-time collection would walk all of cfn-lint's objects for nothing
    return _lint_loaded(paths, regions, seconds)


# --- the prestarted linter ------------------------------------------------------------------------------------------

def fingerprint(home: Path, envs: list[str] | None = None) -> str:
    """What the generated templates depend on: the "nothing changed" key's inputs (checks/unchanged.py: every params
    file, every file of the code by listing, the interpreter and every installed library's version) and which
    environments are built. Equal fingerprints give equal templates."""
    from checks.unchanged import inputs

    code = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, CONFIG, sorted(envs or []),
                         inputs(str(home), str(code), search_path=False)]).encode())
    return h.hexdigest()


@dataclass(eq=False)
class Prestarted:
    """A linter loading in a forked process (``pid``), or nothing to start (``pid`` None): hand it to :func:`lint`."""

    fingerprint: str
    pid: int | None = None
    _fds: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self):
        self._closer = weakref.finalize(self, _stop, self.pid, self._fds)

    def run(self, paths: list[str], regions: list[str], seconds: dict[str, float]) -> list[Result] | None:
        """Hand over the templates and wait for the findings; None if the process is gone (lint here instead)."""
        if self.pid is None or not self._closer.alive:
            return None
        job_w, res_r = self._fds
        try:
            with open(job_w, "wb", closefd=False) as f:
                pickle.dump((os.getcwd(), paths, regions, seconds), f)
            os.close(job_w)
            self._fds.remove(job_w)
            with open(res_r, "rb", closefd=False) as f:
                return pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError):
            return None
        finally:
            self.close()

    def close(self) -> None:
        """Stop the process if it still runs (nothing to lint, or an error before linting) and reap it."""
        self._closer()


def _stop(pid: int | None, fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)  # our own child; it may still be importing cfn-lint
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


_EARLY: tuple[tuple, Prestarted] | None = None  # started by prestart_early, for the build's prestart to take


def prestart_early(argv: list[str]) -> None:
    """Call first thing in ``generate.py``, before its own imports: if the arguments are a plain build (nothing, or
    ``build``, with only ``--env NAME`` and ``--debug``, and ``--scan`` after ``build``), start the linter now, for
    :func:`prestart` to hand to the build. Anything else starts nothing here (``--scan`` without a verb is refused);
    the build's own :func:`prestart` then decides. Only an optimisation: it never fails."""
    global _EARLY
    verb = argv[:1] == ["build"]
    args = list(argv[1:] if verb else argv)
    envs = []
    while args:
        arg = args.pop(0)
        if arg == "--env" and args and not args[0].startswith("-"):
            envs.append(args.pop(0))
        elif arg.startswith("--env=") and len(arg) > 6:
            envs.append(arg[6:])
        elif arg != "--debug" and not (verb and arg == "--scan"):
            return
    try:
        cwd = Path.cwd()
        home = cwd if (cwd / "params").is_dir() else Path(__file__).resolve().parent.parent  # as project_dir()
        _EARLY = ((home.resolve(), sorted(envs)), prestart(home, envs))
    except Exception:  # any error, e.g. cfn-lint not installed: generate.py says how to install
        _EARLY = None


def prestart(home: Path, envs: list[str] | None = None, cache_file: Path | None = None) -> Prestarted:
    """Call first thing in a build that lints: fork a process that imports cfn-lint and loads its rules while this
    one generates. Not started when the fingerprint equals the one stored with the last complete lint (a warm run),
    or where fork is not available. Returns the one :func:`prestart_early` started for this build, if any."""
    global _EARLY
    early, _EARLY = _EARLY, None
    if early is not None:
        if early[0] == (home.resolve(), sorted(envs or [])) and cache_file is None:
            return early[1]
        early[1].close()
    fp = fingerprint(home, envs)
    if _load(home / CACHE if cache_file is None else cache_file)["fingerprint"] == fp or not hasattr(os, "fork"):
        return Prestarted(fp)
    job_r, job_w = os.pipe()
    res_r, res_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:  # no process to spare: lint here, later
        for fd in (job_r, job_w, res_r, res_w):
            os.close(fd)
        return Prestarted(fp)
    if pid == 0:  # the child never returns: it serves one job and leaves with os._exit (no collection at exit)
        code = 1
        try:
            os.close(job_w)
            os.close(res_r)
            _load_rules(freeze=True)
            with open(job_r, "rb") as f:
                cwd, paths, regions, seconds = pickle.load(f)
            os.chdir(cwd)
            result = _lint_loaded(paths, regions, seconds)
            with open(res_w, "wb") as f:
                pickle.dump(result, f)
            code = 0
        except BaseException:  # whatever it is, the parent then lints itself and reports any error as usual
            pass
        finally:
            os._exit(code)
    os.close(job_r)
    os.close(res_w)
    return Prestarted(fp, pid, [job_w, res_r])


# --- linting with the cache -----------------------------------------------------------------------------------------

def env_groups(env_dir: Path, root_stem: str = "root") -> dict[Path, list[Path]]:
    """One environment's templates for :func:`lint`: each child alone, the root with the children it nests."""
    children = sorted(p for p in env_dir.glob("*.yaml") if p.stem != root_stem)
    return {**{c: [] for c in children}, env_dir / f"{root_stem}.yaml": children}


def lint(groups: dict[Path, list[Path]], regions: list[str], cache_file: Path | None = None,
         prestarted: Prestarted | None = None) -> list[Finding]:
    """Lint templates. ``groups`` maps each template to the templates it nests (the root -> its children).

    Paths are linted relative to the current directory (cfn-lint resolves nested TemplateURLs from the root's folder).
    With ``prestarted`` (from :func:`prestart`), misses go to that process; the findings are the same either way.
    """
    from importlib.metadata import version  # here, not at the top: the prestart forks before this import's 30 ms

    linter = version("cfn-lint")
    cache = _load(cache_file)
    results, seconds = cache["results"], cache["seconds"]
    keys = {path: _key(path, nested, regions, linter) for path, nested in groups.items()}
    todo = [str(path) for path, key in keys.items() if key not in results]
    if todo:
        done = prestarted.run(todo, regions, seconds) if prestarted else None
        if done is None:
            done = _run(todo, regions, seconds)
        by_path = {p: (found, took) for p, found, took in done}
        for path in groups:
            if str(path) in by_path:
                results[keys[path]], seconds[str(path)] = by_path[str(path)]
    if prestarted:
        prestarted.close()
    if todo or (prestarted and prestarted.fingerprint != cache["fingerprint"]):
        current = set(keys.values())
        _save(cache_file, {
            "version": CACHE_VERSION,
            "fingerprint": prestarted.fingerprint if prestarted else cache["fingerprint"],
            "results": {k: results[k] for k in current} | {k: v for k, v in results.items() if k not in current},
            "seconds": seconds,
        })
    return sorted(Finding(**f) for path in groups for f in results[keys[path]])


def _load(cache_file: Path | None) -> dict:
    """The cache, or an empty one: whatever is wrong with the file (missing, unreadable, not JSON, another shape)
    only costs a re-lint. Entries of the wrong shape are dropped one by one."""
    empty: dict = {"fingerprint": None, "results": {}, "seconds": {}}
    if cache_file is None:
        return empty
    try:
        if not cache_file.is_file():  # a directory, a FIFO (reading it would block), a dangling link
            return empty
        data = json.loads(cache_file.read_bytes())
    except (OSError, ValueError, RecursionError):  # ValueError includes JSONDecodeError and UnicodeDecodeError
        return empty
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return empty
    results, seconds, fp = data.get("results"), data.get("seconds"), data.get("fingerprint")
    return {
        "fingerprint": fp if isinstance(fp, str) else None,
        "results": {k: v for k, v in results.items() if _findings_ok(v)} if isinstance(results, dict) else {},
        "seconds": {k: float(v) for k, v in seconds.items()
                    if type(v) in (int, float) and math.isfinite(v) and v >= 0} if isinstance(seconds, dict) else {},
    }


def _findings_ok(entry) -> bool:
    return isinstance(entry, list) and all(
        isinstance(f, dict) and f.keys() == _FIELDS.keys()
        and all(type(f[name]) is {"str": str, "int": int}[kind] for name, kind in _FIELDS.items())
        for f in entry)


MAX_ENTRIES = 200


def _save(cache_file: Path | None, cache: dict) -> None:
    """Write the cache atomically; a cache that cannot be written only costs the next run a re-lint."""
    import tempfile  # here, not at the top: the prestart forks before this import
    if cache_file is None:
        return
    cache = {**cache, "results": dict(list(cache["results"].items())[:MAX_ENTRIES]),
             "seconds": dict(list(cache["seconds"].items())[-MAX_ENTRIES:])}
    tmp = None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".lint-")
        with os.fdopen(fd, "w") as f:
            json.dump(cache, f, sort_keys=True)
        os.replace(tmp, cache_file)
    except OSError:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
