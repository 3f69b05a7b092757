"""The import graph of the shipped code keeps its shape (docs/design.md, "Layers" and "Inside the ship"): read with
``ast`` from every module of templates/, checks/, deploy/ and generate.py, counting every import wherever it is
written (inside a function, under ``if TYPE_CHECKING:``), relative ones resolved.

- no cycle between modules;
- no import of another module's underscore name (``from x import _name``, ``x._name``). A *module* whose name starts
  with ``_`` (``templates/_common.py``, ``templates/_yaml.py``, ``templates/_sar.py``) is a package's shared helper
  module, not a private name: its public names may be imported from its own package and from the layers after it;
  its own underscore names may not;
- the layers hold: templates -> checks -> deploy -> generate.py, never an arrow back;
- ``deploy.verbs.*`` is imported only by the command line: deploy/adapters.py, deploy/cli.py, generate.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("templates", "checks", "deploy", "generate")
VERBS = "deploy.verbs"
COMMAND_LINE = {"deploy.adapters", "deploy.cli", "generate"}


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the layers under ``root``."""
    found = {"generate": root / "generate.py"} if (root / "generate.py").is_file() else {}
    for package in LAYERS[:-1]:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def imports(name: str, path: Path, known: dict[str, Path]) -> tuple[set[str], list[str]]:
    """The project modules ``name`` imports, and its imports of another module's underscore names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: set[str] = set()
    private: list[str] = []
    bound: dict[str, str] = {}  # local name -> project module it is bound to

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    edges.add(alias.name)
                    if alias.asname:
                        bound[alias.asname] = alias.name
                elif alias.name.partition(".")[0] in known and alias.asname is None:
                    edges.add(alias.name.partition(".")[0])
                if alias.asname is None and alias.name.partition(".")[0] in known:
                    bound[alias.name.partition(".")[0]] = alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                child = f"{source}.{alias.name}"
                if child in known:  # a module: from package import module
                    edges.add(child)
                    bound[alias.asname or alias.name] = child
                elif source in known:
                    edges.add(source)
                    if _private(alias.name):
                        private.append(f"{name}: from {source} import {alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and _private(node.attr) and f"{bound[node.value.id]}.{node.attr}" not in known):
            private.append(f"{name}: {bound[node.value.id]}.{node.attr}")
    edges.discard(name)
    return edges, private


def _layer(name: str) -> int:
    return LAYERS.index(name.partition(".")[0])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def problems(root: Path) -> list[str]:
    known = modules(root)
    graph: dict[str, set[str]] = {}
    found: list[str] = []
    for name, path in known.items():
        graph[name], private = imports(name, path, known)
        found += [f"private name imported: {p}" for p in private]
    found += [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    for name, targets in sorted(graph.items()):
        for target in sorted(targets):
            if _layer(target) > _layer(name):
                found.append(f"layer order broken: {name} imports {target}")
            if (target == VERBS or target.startswith(VERBS + ".")) and name not in COMMAND_LINE \
                    and not (name == VERBS and target.startswith(VERBS + ".")):
                found.append(f"verb module imported outside the command line: {name} imports {target}")
    return found


def test_the_shipped_code_keeps_its_import_shape():
    assert len(modules(ROOT)) > 60  # the scan found the code
    assert problems(ROOT) == []


def test_each_rule_catches_its_violation(tmp_path):
    """A tiny fake project with one violation of each rule, written the ways the scan must see through."""
    files = {
        "generate.py": "from deploy.verbs import go\n",
        "templates/__init__.py": "",
        "templates/_common.py": "def helper(): ...\ndef _hidden(): ...\n",
        "templates/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from checks import b\n",
        "checks/__init__.py": "",
        "checks/b.py": "from templates._common import helper\n\ndef f():\n    from . import c\n",
        "checks/c.py": "from . import b\nfrom .b import _secret\n",
        "deploy/__init__.py": "",
        "deploy/adapters.py": "from .verbs import go\n",
        "deploy/engine.py": "import templates._common as common\n\ndef f():\n    return common._hidden()\n",
        "deploy/shared.py": "from .verbs import go\n",
        "deploy/verbs/__init__.py": "",
        "deploy/verbs/go.py": "from .. import engine\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert sorted(problems(tmp_path)) == sorted([
        "import cycle: checks.b <-> checks.c",  # one of the two imports is inside a function
        "layer order broken: templates.a imports checks.b",  # under TYPE_CHECKING
        "private name imported: checks.c: from checks.b import _secret",
        "private name imported: deploy.engine: templates._common._hidden",
        "verb module imported outside the command line: deploy.shared imports deploy.verbs.go",
    ])
