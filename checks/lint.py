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


def _run(paths: list[Path], regions: list[str]) -> list[Finding]:
    from cfnlint.api import lint_by_config  # imported only on a cache miss: it is the slow part
    from cfnlint.config import ManualArgs

    matches = lint_by_config(ManualArgs(templates=[str(p) for p in paths], regions=regions, **CONFIG))
    return [
        Finding(str(m.filename), int(m.linenumber), m.rule.id, m.rule.severity, m.message) for m in matches
    ]


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
