"""The one place that turns values into Markdown: escaping (:func:`text`, :func:`code`, :func:`value`) and folding
(:func:`fold`). Every Markdown output (the plan review, the adopt table, drift, the preflight table of a blocked plan)
writes a value from AWS, a params file or a template through here, never by hand.

A value is inert when no element can open from inside it: no emphasis, strikethrough, code span, link, image, raw
HTML, entity, table cell, heading, list or quote; and, on GitHub, no math, autolink, ``@mention`` or ``#123``
reference. Only what could open one is escaped, so the raw file stays readable (``CREATE_COMPLETE``, ``0.2 GB``):

* CommonMark 0.31, "Backslash escapes": any ASCII punctuation character may be backslash-escaped, and an escaped one
  is literal text. So ``\\`` (always: it would escape what follows), `````, ``*``, ``~`` (GFM strikethrough),
  ``[``, ``]``, ``<`` (raw HTML, autolinks) and ``|`` (GFM, "Tables": "include a pipe in a cell's content by escaping
  it") are escaped. ``_`` is escaped except between two letters or digits, where CommonMark's flanking rules never let
  it open or close emphasis (``CREATE_COMPLETE`` stays as it is). ``&`` is escaped only where an entity could start
  (``&amp;`` stays four characters).
* At the start of a value, what opens a block when a line starts with it (``>``, ``# ``, ``- ``, ``+ ``, ``1. ``,
  ``1) ``, a line of ``-`` or ``=``, leading spaces): values sometimes start a line of ours.
* GitHub-only syntax the CommonMark escapes do not stop:
  - math (GitHub Docs, "Writing mathematical expressions": a ``$`` that is not a delimiter must be hidden from the
    math parser): ``$`` becomes the numeric character reference ``&#36;``, which no parser reads as a delimiter;
  - ``@user`` mentions and ``#123`` references: GitHub links them after rendering, and ``\\@`` does not stop it
    (github/cmark-gfm issue 181, "Cannot escape @ and #": the known workarounds are code or an invisible character);
    a zero-width joiner (U+200D) goes between ``@`` or ``#`` and the name or number, so no reference forms and no
    one is notified;
  - extended autolinks (GFM, "Autolinks (extension)": ``www.`` and ``http://``): the ``.`` after ``www`` and the
    ``:`` before ``//`` are backslash-escaped.

Control characters are removed and line breaks become spaces (:func:`deploy.ui.clean`), so a value stays on its
line. A code element is the HTML ``<code>`` element around the same escaped text (inline raw HTML keeps inline
parsing inside it): a backtick code span cannot hold a value ending in a backslash next to an escaped ``\\|`` in a
table (GFM's cell scanner reads ``\\\\|`` as a backslash and a cell boundary), ``<code>`` can.
"""

from __future__ import annotations

import re

from .ui import clean

FOLD_ROWS = 15  # Markdown tables longer than this are folded in <details>
ZWJ = "\u200d"

_ALWAYS = {ord(c): "\\" + c for c in "\\`*~[]<|"}
_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # a "_" not between two letters or digits
_AMPERSAND = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")  # an entity's start
_REFERENCE = re.compile(r"([@#])(?=\w)")
_AUTOLINK = re.compile(r"(?i)(?<=www)\.|:(?=//)")
# what opens a block at the start of a line (CommonMark: block quotes, ATX headings, list items, setext underlines
# and thematic breaks; "*", "_", "`", "~", "<" and "|" are escaped everywhere already)
_BLOCK_START = re.compile(r"^(?:>|#{1,6}(?=\s|$)|[-+](?=\s|$)|[-=](?=[-=\s]*$)|\d{1,9}(?=[.)](?:\s|$)))")


def text(value) -> str:
    """``value`` as inert Markdown text (see the module docstring): readable, and nothing opens inside it."""
    s = clean(str(value)).translate(_ALWAYS)
    s = _UNDERSCORE.sub(r"\\_", s)
    s = _AMPERSAND.sub(r"\\&", s)
    s = _AUTOLINK.sub(lambda m: "\\" + m.group(0), s)
    s = _REFERENCE.sub(lambda m: m.group(1) + ZWJ, s).replace("$", "&#36;")  # last: its "&" is ours
    if s[:1] == " ":
        s = "&#32;" + s[1:]
    match = _BLOCK_START.match(s)
    if match:
        end = match.end()
        s = s[:end] + "\\" + s[end:] if match.group(0).isdigit() else "\\" + s
    return s


def code(value) -> str:
    """``value`` in a code element that no content can end or break out of."""
    return f"<code>{text(value)}</code>"


def value(v: str | None, short=None) -> str:
    """An optional value as code; nothing for None. ``short`` shortens it first (the review's one-line form)."""
    return "" if v is None else code(short(v) if short else v)


def fold(summary: str, table: list[str]) -> list[str]:
    """A table (header, separator, rows) with a blank line after it; folded in ``<details>`` beyond FOLD_ROWS rows.
    ``summary`` is our own text (escape any value in it with :func:`text`)."""
    if len(table) - 2 > FOLD_ROWS:
        return [f"<details><summary>{summary}</summary>", "", *table, "", "</details>", ""]
    return [*table, ""]
