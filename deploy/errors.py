"""The two ways a command ends early, mapped to exit codes by ``deploy.cli``.

Both carry a message for people and, when there is one, the command that fixes it: the CLI prints them without a
traceback because they are outcomes, not bugs.
"""

from __future__ import annotations


class DeployError(Exception):
    """The deploy or check failed, or AWS is in a state we must not act on (exit code 1)."""

    exit_code = 1

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def render(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class BadInput(DeployError):
    """The user's input is wrong: arguments, credentials for the wrong account, a missing bucket (exit code 2)."""

    exit_code = 2
