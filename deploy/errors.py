"""How every command ends: the exit-code table and the one error boundary of the command line.

A command either returns an exit code or raises. :func:`boundary` (used once, by ``generate.main``) turns anything
raised into exactly one ``error:`` line and one ``fix:`` line on stderr, with an exit code from :data:`EXIT`, the
table README "Exit codes" repeats (a test compares them). Tracebacks only with ``--debug``.

Expected outcomes are raised as :class:`DeployError` (exit 1) or :class:`BadInput` (exit 2) with the command that
fixes them. Whatever else reaches the boundary is classified here: botocore's errors (connection closed or
refused, timeouts, an answer that is not AWS's, an invalid region, throttling past the retries, any ``ClientError``),
a closed stdout (quiet), Ctrl-C, file system errors; anything left is a bug and says so.

botocore is imported lazily (only when one of its exceptions is being explained): ``python generate.py`` must not
pay for it at start-up.
"""

from __future__ import annotations

import os
import shlex
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from .ui import clean

EXIT = {
    "ok": 0,             # done; also "No changes", "nothing to destroy" is not this (see README)
    "failed": 1,         # a check found something, a deploy failed, AWS refused, a state we will not act on
    "bad-input": 2,      # arguments, params, credentials, the wrong account, placeholders, a missing bootstrap
    "unreachable": 3,    # AWS did not answer, or the answer was not AWS's: nothing was decided; safe to run again
    "internal": 70,      # a bug in wwhd-infra (EX_SOFTWARE): rerun with --debug and report the traceback
    "interrupted": 130,  # Ctrl-C (128 + SIGINT); during apply the deploy goes on in CloudFormation
    "closed-pipe": 141,  # stdout was closed by its reader (128 + SIGPIPE), e.g. `status | head -2`: ends quietly
}

class DeployError(Exception):
    """The deploy or check failed, or AWS is in a state we must not act on (exit code 1 unless given)."""

    exit_code = EXIT["failed"]

    def __init__(self, message: str, fix: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        if exit_code is not None:
            self.exit_code = exit_code

    def render(self) -> str:
        return f"{self.message}\nfix: {self.fix}" if self.fix else self.message


class BadInput(DeployError):
    """The user's input is wrong: arguments, credentials for the wrong account, a missing bucket (exit code 2)."""

    exit_code = EXIT["bad-input"]


class NotAws(Exception):
    """An answer that is not AWS's: no request id, whatever its status (deploy/aws.py, exit 3)."""

    def __init__(self, url: str, status: int, content_type: str):
        super().__init__(f"HTTP {status} ({content_type}) without an AWS request id from {url}")
        self.url, self.status, self.content_type = url, status, content_type


@dataclass
class Outcome:
    code: int = EXIT["ok"]


@dataclass(frozen=True)
class Invocation:
    """The verb, --region and --profile this run was given: every command it suggests repeats them."""

    verb: str = "plan"
    region: str | None = None
    profile: str | None = None
    # the verb's other flags as given (option, value; None for a switch), canonical spelling: what :func:`again` repeats
    flags: tuple[tuple[str, str | None], ...] = ()


INVOCATION: ContextVar[Invocation] = ContextVar("invocation", default=Invocation())  # noqa: B039 - frozen dataclass


def suggest(verb: str, env: str, *extra: str) -> str:
    """A command that runs as printed: ``python generate.py VERB --env ENV`` with the --region and --profile the
    user gave, then ``extra`` (flags and values), each word quoted for a POSIX shell."""
    given = INVOCATION.get()
    words = ["python", "generate.py", verb, "--env", env]
    if given.region:
        words += ["--region", given.region]
    if given.profile:
        words += ["--profile", given.profile]
    return " ".join(shlex.quote(w) for w in [*words, *extra])


def again(env: str, *extra: str, drop: tuple[str, ...] = ()) -> str:
    """This run's verb again, as :func:`suggest` builds it, with every flag the user gave (``--adopt``,
    ``--image-tag v2``, ``--timeout 5``...), except the options in ``drop`` and those ``extra`` sets anew
    (``--no-X`` and ``--X`` are one option)."""
    given = INVOCATION.get()
    pairs, i = [], 0
    while i < len(extra):
        takes = i + 1 < len(extra) and not extra[i + 1].startswith("--")
        pairs.append((extra[i], extra[i + 1] if takes else None))
        i += 2 if takes else 1

    def key(option: str) -> str:
        return option.removeprefix("--no-").removeprefix("--")

    replaced = {key(o) for o, _ in pairs} | {key(o) for o in drop}
    words = [w for o, v in given.flags if key(o) not in replaced for w in ((o,) if v is None else (o, v))]
    return suggest(given.verb, env, *words, *extra)


class Shell(str):
    """A word :func:`aws_cli` writes as it is, unquoted: shell syntax of ours (``"$arn"``), never a value."""


def aws_cli(region: str, *words: str) -> str:
    """THE builder of every printed ``aws`` command: each word quoted for a POSIX shell (``shlex.quote``; a
    :class:`Shell` word as it is), then ``--region`` and the ``--profile`` this invocation was given, so it runs as
    printed, against the same account and region."""
    profile = INVOCATION.get().profile
    extra = ["--region", region] + (["--profile", profile] if profile else [])
    return " ".join(w if isinstance(w, Shell) else shlex.quote(w) for w in ["aws", *words, *extra])


def rerun(argv: list[str]) -> str:
    """The command that was run, as it can be typed again."""
    return " ".join(shlex.quote(a) for a in ["python", "generate.py", *argv])


@contextmanager
def boundary(argv: list[str], stderr=None) -> Iterator[Outcome]:
    """Run the body; whatever it raises ends as ``error:``/``fix:`` and an exit code in the returned outcome."""
    outcome = Outcome()
    debug = "--debug" in argv
    try:
        yield outcome
    except SystemExit as e:  # argparse (its own message is printed) or an explicit exit
        outcome.code = e.code if isinstance(e.code, int) else (EXIT["ok"] if e.code is None else EXIT["bad-input"])
    except BrokenPipeError:
        _quiet_stdout()
        outcome.code = EXIT["closed-pipe"]
    except BaseException as e:  # this is the one place that classifies everything
        if isinstance(e, BrokenPipeError) or _is_closed_stdout(e):
            _quiet_stdout()
            outcome.code = EXIT["closed-pipe"]
            return
        err = explain(e, argv)
        outcome.code = err.exit_code
        stream = stderr or sys.stderr
        try:
            if debug:
                traceback.print_exception(e, file=stream)
            print(last_lines(err), file=stream, flush=True)
        except (BrokenPipeError, ValueError):  # stderr closed too: nothing left to tell
            pass


def one_line(text) -> str:
    """``text`` (an AWS message, an exception's text) on one line: control characters removed, every run of white
    space, line breaks included, one space."""
    return " ".join(clean(str(text)).split())


def last_lines(err: DeployError) -> str:
    """``error: message`` then ``fix: fix`` as the last line. The fix is folded to one line; a line of the message
    (our own listings) that would read as an ``error:`` or ``fix:`` line of ours is indented, so the real two are the
    only ones."""
    lines = clean(err.message, newlines=True).split("\n")
    lines = [lines[0]] + [f"  {line}" if line.lstrip().lower().startswith(("error:", "fix:")) else line
                          for line in lines[1:]]
    text = "error: " + "\n".join(lines)
    return f"{text}\nfix: {one_line(err.fix)}" if err.fix else text


def _is_closed_stdout(e: BaseException) -> bool:
    return isinstance(e, OSError) and getattr(e, "errno", None) == 32  # EPIPE raised as a plain OSError


def _quiet_stdout() -> None:
    """Python's documented recipe for SIGPIPE: point stdout at devnull so the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def explain(e: BaseException, argv: list[str]) -> DeployError:
    """The message, fix and exit code for anything a command raised."""
    if isinstance(e, DeployError):
        return e
    name = type(e).__name__
    if name in {"ParamsError", "ParamsErrors"}:  # templates.config, generate.py: bad params (no import: no cycle)
        text = str(e.render() if hasattr(e, "render") else e)
        if "no such environment" in text and text.count("\n") == 0:
            return DeployError(text, "pass one of the environments named above to --env, or create its params file "
                                     "from another: cp params/dev.yaml params/NAME.yaml", EXIT["bad-input"])
        return DeployError(text, "correct the file named above (README, Params reference)", EXIT["bad-input"])
    if name == "OutputError":  # checks.freshness: output/<env> is a link or a file, never followed
        return DeployError(str(e.render() if hasattr(e, "render") else e),
                           "make it a plain directory (remove the link or file), then: python generate.py",
                           EXIT["bad-input"])
    if isinstance(e, KeyboardInterrupt):
        return DeployError("interrupted", f"run it again: {rerun(argv)}", EXIT["interrupted"])
    if isinstance(e, NotAws):
        return DeployError(f"the answer was not AWS's (a proxy or a captive portal?): {one_line(e)[:300]}",
                           f"check HTTPS_PROXY and AWS_ENDPOINT_URL, then run it again: {rerun(argv)}",
                           EXIT["unreachable"])
    if type(e).__module__.startswith(("botocore", "boto3")):
        return _aws(e, argv)
    if _raised_in_botocore(e):  # e.g. a KeyError while parsing an HTML page that answered in AWS's place
        return DeployError(f"the answer was not AWS's (a proxy or a captive portal?): botocore could not read it "
                           f"({name}: {one_line(e)[:200]})",
                           f"check HTTPS_PROXY and AWS_ENDPOINT_URL, then run it again: {rerun(argv)}",
                           EXIT["unreachable"])
    if isinstance(e, OSError):
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        return DeployError(f"cannot use{where}: {e.strerror or e}",
                           f"check the path and its permissions, then run it again: {rerun(argv)}")
    return DeployError(f"internal error (a bug in wwhd-infra): {name}: {one_line(e)}",
                       f"run it again with --debug for the traceback and report it: {rerun([*argv, '--debug'])}",
                       EXIT["internal"])


def _raised_in_botocore(e: BaseException) -> bool:
    """Whether the innermost frame of ``e`` is botocore's own code (reading a response), not ours."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith("botocore.")


THROTTLING = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
              "SlowDown", "RequestThrottled", "ProvisionedThroughputExceededException"}
CREDENTIALS = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
               "SignatureDoesNotMatch", "AuthFailure", "InvalidSignatureException"}


def _aws(e: BaseException, argv: list[str]) -> DeployError:
    """The message and fix for a botocore error; AWS's own text is folded to one line (:func:`one_line`)."""
    err = _aws_unfolded(e, argv)
    err.message = one_line(err.message)
    return err


def _aws_unfolded(e: BaseException, argv: list[str]) -> DeployError:
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    again = rerun(argv)
    endpoint = getattr(e, "kwargs", {}).get("endpoint_url") or "AWS"
    timeout = "; a slow link may need a longer --timeout SECONDS (default 60, or WWHD_AWS_TIMEOUT)"
    if isinstance(e, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return DeployError(f"no answer from {endpoint} in time ({type(e).__name__}); nothing more was done",
                           f"check the network and AWS_ENDPOINT_URL{timeout}, then run it again: {again}",
                           EXIT["unreachable"])
    if isinstance(e, (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.ConnectionError, bx.HTTPClientError)):
        return DeployError(f"lost the connection to {endpoint} ({type(e).__name__}: {e})",
                           f"check the network, the region and AWS_ENDPOINT_URL, then run it again: {again}",
                           EXIT["unreachable"])
    if isinstance(e, ResponseParserError):
        return DeployError(f"the answer was not AWS's (a proxy or a captive portal?): {str(e)[:200]}",
                           f"check HTTPS_PROXY and AWS_ENDPOINT_URL, then run it again: {again}", EXIT["unreachable"])
    if isinstance(e, (bx.InvalidRegionError, bx.NoRegionError)):
        return DeployError(f"{e}", "pass a region name such as --region us-west-2 (or leave it out: the params file "
                                   "names one)", EXIT["bad-input"])
    if isinstance(e, bx.ProfileNotFound):
        return DeployError(str(e), "pass an existing --profile, or create it: aws configure --profile NAME",
                           EXIT["bad-input"])
    if isinstance(e, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return DeployError(f"no AWS credentials found ({e})", "aws sso login, or --profile NAME, or "
                           "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", EXIT["bad-input"])
    if isinstance(e, (bx.TokenRetrievalError, bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError)):
        return DeployError(f"the SSO session has expired ({e})", "aws sso login (with the --profile you use)",
                           EXIT["bad-input"])
    if isinstance(e, bx.ParamValidationError):
        return DeployError(f"AWS would refuse this value: {' '.join(str(e).split())}",
                           "correct the argument or params value named above",
                           EXIT["bad-input"])
    if isinstance(e, bx.WaiterError):
        return DeployError(f"gave up waiting: {e}", f"run it again: {again}")
    if isinstance(e, bx.ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        message = e.response.get("Error", {}).get("Message", "")
        operation = e.operation_name or "the request"
        if code in THROTTLING:
            return DeployError(f"AWS throttled {operation} past every retry ({code}: {message})",
                               f"wait a minute, then run it again: {again}", EXIT["unreachable"])
        if code in CREDENTIALS:
            return DeployError(f"AWS refused the credentials: {message}",
                               "refresh them (aws sso login) or pick another --profile", EXIT["bad-input"])
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"}:
            return DeployError(f"AWS denied {operation}: {message}",
                               "use a role allowed to do this (README, GitHub Actions: which role runs which verb), "
                               f"then run it again: {again}")
        return DeployError(f"AWS refused {operation}: {code}: {message}",
                           f"correct what AWS names above, then run it again: {again}")
    return DeployError(f"AWS client error: {type(e).__name__}: {e}", f"run it again: {again}", EXIT["unreachable"])
