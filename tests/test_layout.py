"""The README's layout map stays true: every module and package of templates/, checks/ and deploy/ is named in it,
and every path it names exists (``<env>`` stands for any environment)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("templates/", "checks/", "deploy/")
TOKEN = re.compile(r"[A-Za-z0-9_.<>/-]+")
PATH = re.compile(r".*(\.(py|md|yml|yaml|json)|/)")  # a file with an extension we name, or a folder


def layout() -> dict[str, str]:
    """The map's entries: first word of a line at column 0 -> the text of that line and its indented continuation."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    entries: dict[str, str] = {}
    key = ""
    for line in block.splitlines():
        if line and not line[0].isspace():
            key, _, rest = line.partition(" ")
            entries[key] = rest
        elif key:
            entries[key] += " " + line.strip()
    return entries


def named(key: str, text: str) -> set[str]:
    """The paths an entry's text names, relative to the repository: a bare name is inside the entry's folder."""
    folder = key if key.endswith("/") else ""
    tokens = [t.rstrip(".") for t in TOKEN.findall(text)]
    return {t if "/" in t.rstrip("/") else folder + t for t in tokens if PATH.fullmatch(t)}


def exists(path: str) -> bool:
    return any(ROOT.glob(path.rstrip("/").replace("<env>", "*")))


def test_the_map_has_the_agreed_top_level_entries():
    assert {"generate.py", *PACKAGES, "docs/", "params/<env>.yaml", "output/<env>/", "tests/", "bench/",
            "scripts/"} <= set(layout())


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_and_package_is_in_the_map(package):
    folder = ROOT / package
    on_disk = {package + p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
    on_disk |= {package + p.name + "/" for p in folder.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(on_disk - named(package, layout()[package]))
    assert not missing, f"README.md Layout does not name {missing}"


def test_everything_the_map_names_exists():
    """output/<env>/packaged/ is git-ignored and written by package: it need not exist in a checkout."""
    gone = sorted(p for key, text in layout().items() for p in {key, *named(key, text)}
                  if not p.startswith("output/<env>/packaged") and not exists(p))
    assert not gone, f"README.md Layout names what does not exist: {gone}"


def test_the_readme_links_the_design_and_the_rules():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/design.md", "docs/rules.md"):
        assert f"]({page})" in text and (ROOT / page).is_file()
