"""Terminal output, confirmation and polling.

Two renderings of the same content: ``Plain`` writes deterministic lines (CI logs, pipes, tests) and ``Rich`` adds
colour, tables and a live spinner when stdout is a terminal. Everything the commands show goes through ``Out`` so
the choice is made once, in ``deploy.cli``.

Everything AWS returns (event and status reasons, resource ids, parameter values) is data, not terminal control:
:func:`clean` removes ANSI escape sequences (CSI ``ESC [ ... final``, OSC ``ESC ] ... BEL/ST``, DCS/SOS/PM/APC
strings and two-byte ``ESC x`` sequences, ECMA-48 section 5) and every other C0/C1 control character (Unicode
category ``Cc``) plus the bidirectional overrides that reorder text on screen (``U+202A``-``U+202E``,
``U+2066``-``U+2069``). ``Out`` applies it to every line, event and table cell it writes, so no caller can forget;
in a cell or an event field a newline becomes a space (one record, one line), in a line our own newlines stay.
``Rich`` prints data as ``Text`` or with ``markup=False, emoji=False``, so ``[red]`` or ``:warning:`` in a value
stays literal.

``Poller`` owns every wait: exponential backoff between a first and a longest interval, with ``sleep`` and
``clock`` injectable so tests never sleep and the benchmark can count polls.
"""

from __future__ import annotations

import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

# ECMA-48: CSI (ESC [ or the 8-bit 0x9B, parameters, intermediates, one final byte); OSC/DCS/SOS/PM/APC strings up
# to BEL or ST (ESC \\ or 0x9C), unterminated ones to the end; any other ESC + one byte.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[\x20-\x7e]?",
    re.DOTALL,
)
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def clean(text, newlines: bool = False) -> str:
    """``text`` as inert terminal text: escape sequences and control characters removed (a tab or, unless
    ``newlines``, a line break becomes one space), so data from AWS cannot move the cursor, recolour or retitle the
    terminal, or fake a line of ours."""
    text = _ESCAPES.sub("", str(text))
    out = []
    for ch in text:
        if ch == "\n" and newlines:
            out.append(ch)
        elif ch in "\t\r\n\x0b\x0c\x85\u2028\u2029":
            out.append(" ")
        elif unicodedata.category(ch) == "Cc" or ord(ch) in _BIDI:
            continue
        else:
            out.append(ch)
    return "".join(out)


STATUS_STYLE = {"FAILED": "bold red", "ROLLBACK": "red", "IN_PROGRESS": "yellow", "COMPLETE": "green", "SKIPPED": "dim"}


def status_style(status: str) -> str:
    """Red for failures and rollbacks, yellow while in progress, green when done."""
    for key in ("FAILED", "ROLLBACK", "IN_PROGRESS", "COMPLETE", "SKIPPED"):
        if key in status:
            return STATUS_STYLE[key]
    return ""


@dataclass
class Poller:
    """Backoff for every wait: ``first`` seconds, times ``factor`` per round, never more than ``longest``."""

    first: float = 2.0
    factor: float = 1.5
    longest: float = 15.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def intervals(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(self.longest, delay * self.factor)

    def wait(self, delay: float) -> None:
        self.sleep(delay)


class Out:
    """Plain lines: the rendering for logs, pipes and tests."""

    rich = False

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None, interactive: bool = False,
                 ask: Callable[[str], str] | None = None):
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.interactive = interactive
        self._ask = ask or input

    def line(self, text: str = "", style: str = "") -> None:
        print(clean(text, newlines=True), file=self.stdout, flush=True)

    def heading(self, text: str) -> None:
        self.line(text)

    def error(self, text: str) -> None:
        print(clean(text, newlines=True), file=self.stderr, flush=True)

    def warn(self, text: str) -> None:
        self.line(f"WARNING: {text}", "bold yellow")

    def event(self, when: str, where: str, what: str, type_: str, status: str, reason: str) -> None:
        self.line("  ".join(clean(x) for x in (when, where, what, type_, status, reason) if x))

    def table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        """Aligned columns, widths from the content; deterministic for the same rows."""
        if title:
            self.line(title)
        rows = [[clean(cell) for cell in r] for r in rows]
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
        for row in [columns] + rows:
            self.line("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())

    @contextmanager
    def progress(self, text: str) -> Iterator[Callable[[str], None]]:
        """Plain output has no spinner: updates are dropped, the caller prints heartbeats as lines."""
        yield lambda _text: None

    def confirm(self, question: str) -> bool:
        """Ask only when a person can answer; callers handle the non-interactive case (``--yes``)."""
        if not self.interactive:
            return False
        answer = self._ask(clean(f"{question} [y/N] ")).strip().lower()
        return answer in {"y", "yes"}

    def confirm_typed(self, question: str, expected: str) -> bool:
        """For destructive steps: the person types the name, not just y."""
        if not self.interactive:
            return False
        return self._ask(clean(f"{question} Type {expected} to confirm: ")).strip() == expected


class Rich(Out):
    """Colour, tables and a live spinner for a terminal."""

    rich = True

    def __init__(self, console=None, **kw):
        super().__init__(**kw)
        from rich.console import Console

        self.console = console or Console(file=self.stdout, highlight=False, emoji=False)

    def line(self, text: str = "", style: str = "") -> None:
        self.console.print(clean(text, newlines=True), style=style or None, markup=False, emoji=False, soft_wrap=True)

    def heading(self, text: str) -> None:
        from rich.text import Text

        self.console.rule(Text(clean(text), style="bold"), style="bold")

    def event(self, when: str, where: str, what: str, type_: str, status: str, reason: str) -> None:
        from rich.text import Text

        when, where, what, status, reason = (clean(x) for x in (when, where, what, status, reason))
        line = Text(f"{when}  ")
        line.append(f"{where:<18} ", style="cyan")
        line.append(f"{what:<28} ")
        line.append(status, style=status_style(status))
        if reason:
            line.append(f"  {reason}", style="dim")
        self.console.print(line, soft_wrap=True)

    def table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        from rich.table import Table
        from rich.text import Text

        # Text, not strings: "[recreation: Always]" would otherwise be read as console markup and vanish.
        t = Table(title=Text(clean(title)) if title else None, title_justify="left", show_lines=False)
        for c in columns:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*(Text(clean(cell, newlines=True)) for cell in r))
        self.console.print(t)

    @contextmanager
    def progress(self, text: str) -> Iterator[Callable[[str], None]]:
        from rich.text import Text

        with self.console.status(Text(clean(text))) as status:
            yield lambda new: status.update(Text(clean(new)))


def make_out(interactive: bool | None = None) -> Out:
    """Rich when stdout is a terminal, plain lines otherwise; questions only when stdin is a terminal too."""
    tty = sys.stdout.isatty()
    asks = tty and sys.stdin.isatty() if interactive is None else interactive
    return Rich(interactive=asks) if tty else Out(interactive=asks)
