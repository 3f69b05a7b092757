"""Every lint and type-checker suppression in the code carries its code and its reason on the same line, and
docs/design.md ("Suppressions") lists them all, with their counts.

The accepted forms: ``# noqa: CODE[, CODE] - reason`` and ``# type: ignore[code[, code]]  # reason``, the reason
at least two words. A bare ``# noqa`` or ``# type: ignore`` (which silence every rule of the line) is refused like
one without a reason. Only real comments count (read with :mod:`tokenize`): a string that spells ``# noqa`` is not one.
The list is compared by file, suppression and reason, and its counts exactly; line numbers are not compared, so an edit
above a suppression does not make the list wrong.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("templates", "checks", "deploy", "scripts", "bench", "tests")  # and every *.py beside generate.py
SKIP = ("node_modules", "__pycache__")

FOUND = re.compile(r"#\s*(noqa|type\s*:\s*ignore)\b", re.I)  # anything a linter or mypy would read as one
NOQA = re.compile(r"#\s*(?P<what>noqa: [A-Z]+[0-9]+(?:, [A-Z]+[0-9]+)*) - (?P<reason>\S.*?)\s*$")
IGNORE = re.compile(r"#\s*(?P<what>type: ignore\[[a-z0-9-]+(?:, [a-z0-9-]+)*\])  # (?P<reason>\S.*?)\s*$")


def sources() -> list[Path]:
    found = sorted(ROOT.glob("*.py"))
    for folder in FOLDERS:
        found += sorted(p for p in (ROOT / folder).rglob("*.py") if not set(SKIP) & set(p.relative_to(ROOT).parts))
    return found


def suppressions(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, suppression, reason)`` for each ``noqa`` or ``type: ignore`` in the comments of ``text``; the
    reason is None when the comment is not one of the accepted forms."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type != tokenize.COMMENT:
            continue
        for m in FOUND.finditer(tok.string):
            rest = tok.string[m.start():]
            form = (NOQA if m.group(1).lower() == "noqa" else IGNORE).match(rest)
            ok = form is not None and len(form["reason"].split()) >= 2
            out.append((tok.start[0], form["what"] if form else rest, form["reason"] if ok and form else None))
    return out


def tree() -> list[tuple[str, int, str, str | None]]:
    return [(str(path.relative_to(ROOT)), line, what, reason) for path in sources()
            for line, what, reason in suppressions(path.read_text())]


def documented() -> tuple[dict[str, int], list[tuple[str, str, str]]]:
    """docs/design.md's section: the counts ("**N** `noqa`, **M** `type: ignore`") and the rows of its table."""
    section = (ROOT / "docs" / "design.md").read_text().split("\n## Suppressions\n", 1)[1].split("\n## ", 1)[0]
    counts = re.search(r"\*\*(\d+)\*\* `noqa` and \*\*(\d+)\*\* `type: ignore`", section)
    assert counts, "docs/design.md, Suppressions: the counts line is missing"
    rows = re.findall(r"^\| `([^`:]+):\d+` \| `([^`]+)` \| (.+?) \|$", section, re.M)
    return {"noqa": int(counts[1]), "type: ignore": int(counts[2])}, rows


def row(path: str, line: int, what: str, reason: str | None) -> str:
    return f"| `{path}:{line}` | `{what}` | {reason} |"


def test_every_suppression_has_a_code_and_a_reason():
    missing = [f"{path}:{line}: {what}" for path, line, what, reason in tree() if reason is None]
    assert missing == [], "write `# noqa: CODE - reason` or `# type: ignore[code]  # reason`"


def test_the_design_lists_every_suppression_and_its_counts():
    found = tree()
    counts, rows = documented()
    kinds = Counter("noqa" if what.startswith("noqa") else "type: ignore" for _, _, what, _ in found)
    table = "\n".join(row(*s) for s in found)
    assert counts == {"noqa": kinds["noqa"], "type: ignore": kinds["type: ignore"]}, table
    assert Counter(rows) == Counter((path, what, reason) for path, _, what, reason in found), table


@pytest.mark.parametrize("line,expected", [
    ("x = 1  # noqa: E402 - after the path is set\n", [(1, "noqa: E402", "after the path is set")]),
    ("x = 1  # noqa: E402, B009 - two codes, one reason\n", [(1, "noqa: E402, B009", "two codes, one reason")]),
    ("x = 1  # type: ignore[misc, assignment]  # the same interface\n",
     [(1, "type: ignore[misc, assignment]", "the same interface")]),
    ("x = 1  # why it is so  # noqa: E731 - a reason here\n", [(1, "noqa: E731", "a reason here")]),
    ("x = 1  # noqa\n", [(1, "# noqa", None)]),
    ("x = 1  # noqa: E402\n", [(1, "# noqa: E402", None)]),
    ("x = 1  # noqa: E402 - why\n", [(1, "noqa: E402", None)]),  # one word is not a reason
    ("x = 1  #NOQA:E402 - a shouted reason\n", [(1, "#NOQA:E402 - a shouted reason", None)]),
    ("x = 1  # type: ignore\n", [(1, "# type: ignore", None)]),
    ("x = 1  # type: ignore[misc]\n", [(1, "# type: ignore[misc]", None)]),
    ("x = 1  # type:ignore[misc]  # no space, so not the form\n", [(1, "# type:ignore[misc]  # no space, so not the "
                                                                     "form", None)]),
    ("x = '# noqa'  # a string is not a comment\n", []),
    ("x = 1  # the word noqa in a sentence is not one\n", []),
])
def test_the_forms_accepted_and_refused(line, expected):
    assert suppressions(line) == expected
