"""The one error boundary: every fault a user or the network can cause ends in one ``error:`` and one ``fix:`` line,
an exit code from ``deploy.errors.EXIT`` (README "Exit codes") and no traceback unless ``--debug``.

The network faults are real sockets on 127.0.0.1: a server that closes every connection, one that accepts and never
answers, one that answers HTML like a captive portal. botocore's own errors that need no server are raised by a stub.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from botocore import exceptions as bx
from botocore.parsers import ResponseParserError

from deploy import adapters
from deploy.errors import EXIT, explain
from deploy.verbs import status as status_verb

REPO = Path(__file__).resolve().parents[2]
DRIP_SECONDS = 20  # longer than the --timeout below, so only a total deadline ends the call before the server does


class Peer:
    """A TCP server on 127.0.0.1 that treats each connection with ``behaviour`` (bounded: it stops with the test)."""

    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.behaviour == "close":
                conn.recv(65536)
                conn.close()
            elif self.behaviour == "hang":
                self.held.append(conn)  # read nothing, answer nothing
            elif self.behaviour == "drip":  # a status line, then one byte at a time, each well within the read timeout
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()
            elif self.behaviour == "proxy403":  # a proxy's refusal: HTML, no AWS request id
                conn.recv(65536)
                body = b"<html><body><h1>403 Forbidden</h1>Blocked by the corporate proxy</body></html>"
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
                conn.close()
            elif self.behaviour == "html":
                conn.recv(65536)
                body = b"<html><body>Please log in to the hotel Wi-Fi</body></html>"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + str(len(body)).encode()
                             + b"\r\nConnection: close\r\n\r\n" + body)
                conn.close()

    def _drip(self, conn: socket.socket) -> None:
        """One byte every 0.5 s for at most DRIP_SECONDS, then the connection is closed: without a total deadline
        the client reads on (every byte restarts its read timeout) and ends with a closed connection, not a timeout."""
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(int(DRIP_SECONDS / 0.5)):
            if self.stop.wait(0.5):
                break
            try:
                conn.sendall(b"x")
            except OSError:
                break
        conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        for c in self.held:
            c.close()
        self.sock.close()


@pytest.fixture
def peer(monkeypatch, project):
    made = []

    def start(behaviour: str) -> Peer:
        p = Peer(behaviour)
        made.append(p)
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        return p

    yield start
    for p in made:
        p.close()


def _one_error(err: str) -> tuple[str, str]:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    errors = [x for x in lines if x.startswith("error: ")]
    fixes = [x for x in lines if x.startswith("fix: ")]
    assert len(errors) == 1 and len(fixes) == 1, err
    return errors[0], fixes[0]


def test_a_connection_closed_on_every_attempt_is_one_error_and_a_rerun(peer, cli):
    server = peer("close")
    result = cli("status", "--env", "dev", "--region", "us-west-2", "--timeout", "2")
    assert result.code == EXIT["unreachable"]
    error, fix = _one_error(result.err)
    assert f"lost the connection to {server.url}" in error
    assert fix.endswith("run it again: python generate.py status --env dev --region us-west-2 --timeout 2")


def test_an_endpoint_that_never_answers_fails_within_the_timeout_naming_it(peer, cli):
    server = peer("hang")
    started = time.monotonic()
    result = cli("plan", "--env", "dev", "--timeout", "1")
    elapsed = time.monotonic() - started
    assert result.code == EXIT["unreachable"]
    error, fix = _one_error(result.err)
    assert f"no answer from {server.url}" in error and "in time (ReadTimeoutError)" in error
    assert "--timeout SECONDS" in fix and fix.endswith("python generate.py plan --env dev --timeout 1")
    # botocore alone would try 10 times; the deadline stops after the budget (generous bound: this is not a benchmark)
    assert elapsed < 30


def test_a_slow_drip_ends_within_the_timeout_as_a_hang_does(peer, cli):
    """One byte every 0.5 s never reaches botocore's read timeout (2 s here: it counts from the last byte); the call's
    total deadline ends it as "no answer in time", exit 3, like an endpoint that never answers."""
    server = peer("drip")
    result = cli("status", "--env", "dev", "--timeout", "2")
    assert result.code == EXIT["unreachable"]
    error, fix = _one_error(result.err)
    assert f"no answer from {server.url}" in error and "in time (ReadTimeoutError)" in error
    assert fix.endswith("python generate.py status --env dev --timeout 2")


def test_a_proxy_refusing_with_html_is_not_aws_refusing(peer, cli):
    """A 403 with an HTML page and no request id is the proxy's, not AWS's "access denied": exit 3, not 1."""
    server = peer("proxy403")
    result = cli("status", "--env", "dev", "--timeout", "2")
    assert result.code == EXIT["unreachable"], result.err
    error, fix = _one_error(result.err)
    assert "the answer was not AWS's" in error
    assert f"HTTP 403 (text/html) without an AWS request id from {server.url}" in error
    assert "HTTPS_PROXY" in fix and fix.endswith("python generate.py status --env dev --timeout 2")


def test_a_proxy_answering_html_is_named_as_not_aws(peer, cli):
    peer("html")
    result = cli("status", "--env", "dev", "--timeout", "2")
    assert result.code == EXIT["unreachable"]
    error, fix = _one_error(result.err)
    assert "the answer was not AWS's" in error and "HTTPS_PROXY" in fix


def test_an_invalid_region_is_bad_input_with_a_runnable_fix(cli, project):
    result = cli("status", "--env", "dev", "--region", "us-west-2;id")
    assert result.code == EXIT["bad-input"]
    error, fix = _one_error(result.err)
    assert "--region 'us-west-2;id' is not an AWS region name" in error
    assert fix == "fix: python generate.py status --env dev --region us-west-2"


def test_the_timeout_must_be_a_sane_number(cli, project, monkeypatch):
    monkeypatch.setenv("WWHD_AWS_TIMEOUT", "soon")
    result = cli("status", "--env", "dev")
    assert result.code == EXIT["bad-input"]
    assert "WWHD_AWS_TIMEOUT nan is not a number of seconds from 1 to 3600" in _one_error(result.err)[0]


ERRORS = [
    (bx.ConnectionClosedError(endpoint_url="https://cloudformation.us-west-2.amazonaws.com"), "unreachable",
     "lost the connection to https://cloudformation.us-west-2.amazonaws.com"),
    (bx.EndpointConnectionError(endpoint_url="https://sts.us-west-2.amazonaws.com"), "unreachable",
     "lost the connection to https://sts.us-west-2.amazonaws.com"),
    (bx.ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), "unreachable",
     "no answer from https://s3.amazonaws.com"),
    (bx.ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"), "unreachable", "no answer from"),
    (ResponseParserError("Unable to parse response (syntax error)"), "unreachable", "the answer was not AWS's"),
    (bx.InvalidRegionError(region_name="us-west-2;id"), "bad-input", "us-west-2;id"),
    (bx.NoRegionError(), "bad-input", "region"),
    (bx.NoCredentialsError(), "bad-input", "no AWS credentials found"),
    (bx.ProfileNotFound(profile="ghost"), "bad-input", "ghost"),
    (bx.TokenRetrievalError(provider="sso", error_msg="expired"), "bad-input", "SSO session has expired"),
    (bx.ParamValidationError(report="Invalid length for parameter StackName"), "bad-input", "Invalid length"),
    (bx.ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DescribeStacks"), "unreachable",
     "AWS throttled DescribeStacks past every retry"),
    (bx.ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "GetCallerIdentity"), "bad-input",
     "AWS refused the credentials"),
    (bx.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CreateChangeSet"), "failed",
     "AWS denied CreateChangeSet"),
    (bx.ClientError({"Error": {"Code": "ValidationError", "Message": "bad"}}, "CreateChangeSet"), "failed",
     "AWS refused CreateChangeSet: ValidationError: bad"),
    (KeyboardInterrupt(), "interrupted", "interrupted"),
    (PermissionError(13, "Permission denied", "review.json"), "failed", "cannot use review.json: Permission denied"),
    (ZeroDivisionError("division by zero"), "internal", "internal error (a bug in wwhd-infra): ZeroDivisionError"),
]


@pytest.mark.parametrize("exc, code, words", ERRORS, ids=[type(e[0]).__name__ + "-" + e[1] for e in ERRORS])
def test_every_error_a_command_can_raise_is_explained(exc, code, words, cli, project, monkeypatch):
    """Raised from inside a command (after the context is built), as AWS or the machine would raise it."""
    def raising(ctx, *args, **kwargs):
        raise exc

    monkeypatch.setattr(status_verb, "status", raising)
    monkeypatch.setattr(adapters, "connect", lambda profile, region, timeout=60: None)
    result = cli("status", "--env", "dev", "--profile", "ops")
    assert result.code == EXIT[code]
    error, fix = _one_error(result.err)
    assert words in error
    assert "python generate.py" not in fix or "--env dev" in fix
    assert "ENV" not in fix and "<" not in fix


def test_debug_adds_the_traceback(cli, project, monkeypatch):
    def raising(ctx, *args, **kwargs):
        raise bx.ConnectionClosedError(endpoint_url="https://x")

    monkeypatch.setattr(status_verb, "status", raising)
    monkeypatch.setattr(adapters, "connect", lambda profile, region, timeout=60: None)
    result = cli("status", "--env", "dev", "--debug")
    assert "Traceback" in result.err and "error: lost the connection to https://x" in result.err
    assert result.code == EXIT["unreachable"]


def test_losing_aws_while_following_an_apply_says_the_deploy_goes_on(deployed, cli, monkeypatch):
    from deploy import watch

    def dropped(self):
        raise bx.ConnectionClosedError(endpoint_url="https://cloudformation.us-west-2.amazonaws.com")

    monkeypatch.setattr(watch.Watch, "run", dropped)
    result = cli("apply", "--env", "dev", "--image-tag", "v2", "--yes", "--region", "us-west-2")
    assert result.code == EXIT["unreachable"]
    error, fix = _one_error(result.err)
    assert "stopped watching, the operation goes on in CloudFormation (nothing was cancelled)" in error
    assert fix == "fix: follow it again: python generate.py status --env dev --region us-west-2 --watch"


def test_control_characters_in_an_error_never_reach_the_terminal(cli, project, monkeypatch):
    def raising(ctx, *args, **kwargs):
        raise bx.ClientError({"Error": {"Code": "ValidationError", "Message": "bad\x1b[2J\x1b]0;pwned\x07 value\x9b"}},
                             "CreateChangeSet")

    monkeypatch.setattr(status_verb, "status", raising)
    monkeypatch.setattr(adapters, "connect", lambda profile, region, timeout=60: None)
    result = cli("status", "--env", "dev")
    assert "\x1b" not in result.err and "\x07" not in result.err and "\x9b" not in result.err
    assert "ValidationError: bad value" in result.err


def test_a_closed_stdout_ends_quietly():
    """`generate.py diagram | head -0`: the reader is gone before the first write; no traceback, exit 141."""
    proc = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "diagram"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == EXIT["closed-pipe"]
    assert err == ""


def test_argument_errors_name_the_verb_help(cli, project):
    result = cli("plan", "--env", "dev", "--frobnicate")
    assert result.code == EXIT["bad-input"]
    assert "error: unrecognized arguments: --frobnicate" in result.err
    assert "fix: python generate.py plan --help" in result.err


def test_explain_never_loses_a_deploy_error():
    from deploy.errors import BadInput

    e = BadInput("x", "y")
    assert explain(e, []) is e


def test_readme_exit_code_table_is_the_code():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = dict((int(code), name) for code, name in re.findall(r"^\| (\d+) \| `([a-z-]+)` \|", section, re.M))
    assert rows == {code: name for name, code in EXIT.items()}


def test_expired_credentials_inside_a_guarded_check_still_end_the_run():
    """Callers that turn a refused call into one failed check (verify, drift) catch ClientError; expired credentials
    must not become one failed check each: aws_errors makes them the boundary's exit 2 first."""
    from botocore.exceptions import ClientError

    from deploy.aws import aws_errors
    from deploy.errors import DeployError

    def guarded(raise_):
        try:
            with aws_errors():
                raise_()
        except ClientError:
            return "one check failed"
        return "passed"

    def expired():
        raise bx.ClientError({"Error": {"Code": "ExpiredToken", "Message": "The security token included in the "
                                        "request is expired"}}, "DescribeServices")

    def denied():
        raise bx.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeServices")

    with pytest.raises(DeployError) as e:
        guarded(expired)
    assert e.value.exit_code == EXIT["bad-input"] and "AWS refused the credentials" in e.value.message
    assert guarded(denied) == "one check failed"
    with pytest.raises(DeployError):
        guarded(lambda: (_ for _ in ()).throw(bx.NoCredentialsError()))
