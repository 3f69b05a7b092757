"""cfn-lint over the generated templates, in one process, with a cache keyed by content.

cfn-lint costs about a second of imports and rule loading per process and tens of milliseconds per template
(DESIGN.md section 8), so: one runner for every template that needs linting, and none at all when every template's
result is already cached. A template's key is the sha256 of its bytes, the bytes of the templates it nests (the root's
checks E3043/E6101 read the children), the cfn-lint version and our lint configuration. Informational findings count:
the bar is zero findings of any level; suppressions live in each template's Metadata with a reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

CONFIG = {"include_checks": ["I"], "include_experimental": False}
CACHE_VERSION = 1


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    rule: str
    level: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} [{self.level}] {self.message}"


def _key(path: Path, nested: list[Path], regions: list[str], linter: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, linter, CONFIG, regions]).encode())
    for p in [path, *nested]:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


PARALLEL_FROM = 8  # misses; below this one process is faster (DESIGN.md 8: workers pay off from ~15 templates)
_RULES = None  # cfn-lint's loaded rules, shared with forked workers


def _config(paths: list[Path], regions: list[str]):
    from cfnlint.config import ConfigMixIn, ManualArgs

    return ConfigMixIn(**ManualArgs(templates=[str(p) for p in paths], regions=regions, **CONFIG))


def _lint_group(args: tuple[list[Path], list[str]]) -> list[Finding]:
    from cfnlint.runner.template.runner import run_template_by_file_paths

    paths, regions = args
    return [Finding(str(m.filename), int(m.linenumber), m.rule.id, m.rule.severity, m.message)
            for m in run_template_by_file_paths(_config(paths, regions), _RULES)]


def _balanced(paths: list[Path], n: int) -> list[list[Path]]:
    """Split by file size (a fair proxy of cfn-lint's cost), biggest first, each into the lightest group."""
    groups: list[list[Path]] = [[] for _ in range(n)]
    weights = [0] * n
    for path in sorted(paths, key=lambda p: (-p.stat().st_size, str(p))):
        i = weights.index(min(weights))
        groups[i].append(path)
        weights[i] += path.stat().st_size
    return [g for g in groups if g]


def _preload_schemas(paths: list[Path], regions: list[str]) -> None:
    """Load the resource schemas the templates use before forking, so the workers share them instead of each
    parsing the same JSON schemas again."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    types = {line.split(":", 1)[1].strip() for p in paths for line in p.read_text().splitlines()
             if line.strip().startswith("Type: AWS::")}
    for region in regions:
        for rtype in sorted(types):
            try:
                PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, rtype)
            except Exception:  # noqa: BLE001 - an unknown type is cfn-lint's finding to report, not ours
                pass


def _run(paths: list[Path], regions: list[str]) -> list[Finding]:
    """Lint ``paths`` with one set of loaded rules; with many misses, in two forked workers that share it.

    Loading the rules costs about 0.75 s and ~60 MiB; a fork after loading shares both (copy-on-write), so two
    workers split only the per-template work, which is what grows with the number of templates.
    """
    global _RULES
    import multiprocessing

    from cfnlint.runner import Runner  # imported only on a cache miss: it is the slow part

    _RULES = Runner(_config(paths, regions)).rules
    _preload_schemas(paths, regions)
    workers = min(2, os.cpu_count() or 1)
    if len(paths) < PARALLEL_FROM or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return _lint_group((paths, regions))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_lint_group, [(g, regions) for g in _balanced(paths, workers)])
    return [f for part in parts for f in part]


def env_groups(env_dir: Path, root_stem: str = "root") -> dict[Path, list[Path]]:
    """One environment's templates for :func:`lint`: each child alone, the root with the children it nests."""
    children = sorted(p for p in env_dir.glob("*.yaml") if p.stem != root_stem)
    return {**{c: [] for c in children}, env_dir / f"{root_stem}.yaml": children}


def lint(groups: dict[Path, list[Path]], regions: list[str], cache_file: Path | None = None) -> list[Finding]:
    """Lint templates. ``groups`` maps each template to the templates it nests (the root -> its children).

    Paths are linted relative to the current directory (cfn-lint resolves nested TemplateURLs from the root's folder).
    """
    linter = version("cfn-lint")
    cache = _load(cache_file)
    keys = {path: _key(path, nested, regions, linter) for path, nested in groups.items()}
    todo = [path for path, key in keys.items() if key not in cache]
    if todo:
        found = _run(todo, regions)
        for path in todo:
            cache[keys[path]] = [asdict(f) for f in found if Path(f.path) == path]
        _save(cache_file, {k: cache[k] for k in keys.values()} | {k: v for k, v in cache.items() if k not in keys.values()})
    return sorted(Finding(**f) for path in groups for f in cache[keys[path]])


def _load(cache_file: Path | None) -> dict:
    if cache_file is None or not cache_file.is_file():
        return {}
    try:
        return json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}  # a broken cache only costs a re-lint


MAX_ENTRIES = 200


def _save(cache_file: Path | None, cache: dict) -> None:
    if cache_file is None:
        return
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    entries = dict(list(cache.items())[:MAX_ENTRIES])
    fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".lint-")
    with os.fdopen(fd, "w") as f:
        json.dump(entries, f, sort_keys=True)
    os.replace(tmp, cache_file)
