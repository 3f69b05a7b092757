"""What every command is given and what the verbs hand each other: :class:`Ctx` (the environment, AWS, the terminal,
the clock), :class:`PlanOptions` (the options of ``plan``, ``apply`` and ``rollback``) and :class:`Planned` (a change
set ready to execute, with its review).

Nothing here talks to AWS; the verbs (``deploy/verbs/``) and the shared steps (``deploy/operations.py``,
``deploy/pipeline.py``, ``deploy/applying.py``) take these types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from templates.config import EnvParams

from .aws import Aws
from .errors import again, suggest
from .review import Review
from .stacks import StackInfo
from .ui import Out, Poller
from .watch import Event


@dataclass
class Ctx:
    """What every command needs: the environment, AWS, the terminal, the clock."""

    p: EnvParams
    aws: Aws
    out: Out
    home: Path
    poller: Poller = field(default_factory=Poller)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    last_events: list[Event] = field(default_factory=list)  # of the last watched operation, for failure summaries

    @property
    def env(self) -> str:
        return self.p.env

    def command(self, verb: str, *extra: str) -> str:
        """A command that runs as printed: this verb for this environment, with the --region and --profile the user
        gave, then ``extra`` (flags and values, quoted for a POSIX shell)."""
        return suggest(verb, self.env, *extra)

    def again(self, *extra: str, drop: tuple[str, ...] = ()) -> str:
        """This command again, with every flag the user gave it (``--adopt``, ``--image-tag``...), ``extra`` added
        or replacing one, ``drop`` left out (deploy/errors.py, ``again``)."""
        return again(self.env, *extra, drop=drop)


@dataclass(frozen=True)
class PlanOptions:
    image_tag: str | None = None
    desired_count: int | None = None
    json_file: Path | None = None
    markdown_file: Path | None = None
    role_arn: str | None = None
    wait: bool = False
    drift: bool | None = None  # None: on for production environments
    adopt: bool = False  # import the resources of ours that exist outside any stack (deploy/adopt.py)
    key_prefix: str = ""  # "pr": a pull request's plan (deploy/package.py PULL_REQUEST_PREFIX)


@dataclass
class Planned:
    review: Review
    arn: str
    info: StackInfo | None
    template_url: str | None = None  # the root's S3 URL when this run planned it (deploy/history.py records it)
