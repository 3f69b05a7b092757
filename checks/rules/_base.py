"""What a guardrail is: a :class:`Rule` with its documentation, and the :class:`Violation` it reports.

In the style of cfn-lint's rules: each rule is one class in one module of ``checks/rules/``, and carries what a
reader needs to trust or question it: ``id`` (stable; it is what a violation prints in brackets and what tests and
scripts match on), ``title``, why it exists (the class docstring), ``source`` (the AWS documents it relies on, by
title) and ``suppression`` (how one resource opts out, or ``none``). ``docs/rules.md`` is generated from these
(``python -m checks.rules``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..template_walk import Templates

ID = re.compile(r"^[a-z]+(-[a-z]+)*$")


@dataclass(frozen=True, order=True)
class Violation:
    stack: str
    resource: str
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"{self.stack}.{self.resource}" if self.resource else self.stack
        return f"{where}: [{self.rule}] {self.message}"


class Rule:
    """A guardrail over one environment's templates. Subclasses set the documentation fields, write the docstring
    (why the rule exists) and implement :meth:`check`."""

    id: ClassVar[str]
    title: ClassVar[str]
    source: ClassVar[str]
    suppression: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for field in ("id", "title", "source", "suppression"):
            if not isinstance(cls.__dict__.get(field), str) or not cls.__dict__[field].strip():
                raise TypeError(f"{cls.__module__}.{cls.__name__}: a rule declares its {field}")
        if not ID.match(cls.id):
            raise TypeError(f"{cls.__module__}.{cls.__name__}: id {cls.id!r} is not lower-case words joined by '-'")
        if not cls.__dict__.get("__doc__"):
            raise TypeError(f"{cls.__module__}.{cls.__name__}: a rule says why it exists in its docstring")

    @classmethod
    def why(cls) -> str:
        """The docstring, dedented: why the rule exists."""
        return inspect.cleandoc(cls.__doc__ or "")

    def check(self, templates: Templates) -> Iterator[Violation]:
        raise NotImplementedError

    def violation(self, stack: str, resource: str, message: str) -> Violation:
        return Violation(stack, resource, self.id, message)
