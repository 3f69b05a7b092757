"""The README stays true: its quickstart is what .ci/run runs, and its params reference names every key."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from templates.config import EnvParams

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _leaves(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        sub = next((a for a in (*getattr(field.annotation, "__args__", ()), field.annotation)
                    if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None and name != "secrets":
            out += _leaves(sub, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def _documented() -> set[str]:
    section = README.split("## Params reference", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        names = re.findall(r"`([^`]+)`", first_cell)
        base = ""
        for n in names:
            if n.startswith("."):
                keys.add(base + n[1:])
            else:
                keys.add(n)
                base = n.rsplit(".", 1)[0] + "." if "." in n else ""
    return keys


def test_params_reference_names_every_key():
    leaves = {k for k in _leaves(EnvParams) if k != "env"}
    documented = {re.sub(r"<[^>]+>", "X", k) for k in _documented()}
    missing = sorted(k for k in leaves if k not in documented and not any(d.startswith(k + ".") for d in documented))
    assert missing == []


def test_quickstart_is_what_ci_runs():
    blocks = re.findall(r"```bash\n(.+?)\n```", README.split("## Quickstart", 1)[1].split("\n## ", 1)[0], re.S)
    ci = (ROOT / ".ci" / "run").read_text()
    assert len(blocks) == 2
    for command in blocks:
        assert command in ci, command


def test_stack_diagrams_are_the_generated_ones(built):
    from checks.diagram import mermaid

    section = README.split("## Stacks", 1)[1].split("\n## ", 1)[0]
    diagrams = re.findall(r"```mermaid\n(.+?)```", section, re.S)
    assert diagrams == [mermaid(built["prod"]), mermaid(built["dev"])], "run python generate.py diagram"
