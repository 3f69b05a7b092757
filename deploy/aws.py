"""The one place that makes AWS clients.

Why a factory: every client must share the same profile, region and retry policy, and tests and the benchmark
need to count calls. Endpoints are never built here: boto3 reads ``AWS_ENDPOINT_URL`` (and the per-service
variants) itself, which is how the test suite points everything at a local moto server.

Retries: botocore's ``adaptive`` mode retries throttling (``Throttling``, ``TooManyRequestsException``, 5xx) with
exponential backoff and also rate-limits the client after a throttle, which matters when watching many nested
stacks at once.

Bounds (``--timeout``, README "Exit codes": 3): botocore's read timeout is the longest wait for the next bytes, so an
endpoint that sends one byte every few seconds never reaches it. Each HTTP attempt here therefore runs, body
included, against the call's total deadline (:meth:`Aws._send_within`): past it the attempt ends as a
``ReadTimeoutError``, exactly as a hang does, and :meth:`Aws._deadline` allows no further attempt.

An answer that is not AWS's (a proxy's or a captive portal's page, whatever its status) is recognised at the
protocol layer, after botocore parsed it (:meth:`Aws._answered_by_aws`): every AWS API response carries a request id
(the ``x-amzn-RequestId`` or ``x-amz-request-id`` header, or ``RequestId``/``requestId`` in the body, which botocore
puts in ``ResponseMetadata.RequestId``); an answer without one raises :class:`deploy.errors.NotAws` (exit 3), never
read as AWS's refusal (exit 1) or as data. Object bodies are never looked at.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    TokenRetrievalError,
)

from .errors import CREDENTIALS, BadInput, NotAws, again, explain, one_line

RETRIES = {"mode": "adaptive", "max_attempts": 10}
DEFAULT_TIMEOUT = 60.0
STARTED = "wwhd_started"  # key in botocore's per-call request context: when the call's first attempt began


def client_config(timeout: float) -> Config:
    """Bounded waits: a connect timeout of at most 10 s and a read timeout of at most 20 s per attempt, and (see
    :meth:`Aws._deadline`) no new attempt after ``timeout`` seconds of connection failures, so an endpoint that
    accepts and never answers fails within about ``timeout`` seconds instead of 10 attempts of botocore's 60 s."""
    return Config(retries=RETRIES, connect_timeout=min(10.0, timeout), read_timeout=min(20.0, timeout),
                  tcp_keepalive=True)


@dataclass
class Aws:
    """A session and its clients; ``calls`` counts API operations and ``attempts`` HTTP attempts (retries)."""

    session: boto3.Session
    region: str
    timeout: float = DEFAULT_TIMEOUT
    clock: Callable[[], float] = time.monotonic
    calls: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    _clients: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # preflight calls AWS from several threads
    _local: threading.local = field(default_factory=threading.local)  # the running call's start, per thread

    def client(self, service: str):
        """One client per service, made on first use (not thread-safe: make clients before starting threads)."""
        if service not in self._clients:
            with aws_errors():
                client = self.session.client(service, region_name=self.region, config=client_config(self.timeout))
            client.meta.events.register("before-call", self._count_call)
            # botocore calls the handlers of the most specific event name first (the retry mode registers on
            # "needs-retry.<service-id>"), and register_first puts ours before it there.
            service_id = client.meta.service_model.service_id.hyphenize()
            client.meta.events.register_first(f"needs-retry.{service_id}", self._deadline)
            client.meta.events.register("before-send", self._count_attempt)
            client.meta.events.register("after-call", self._answered_by_aws)
            endpoint = client._endpoint  # the one place an attempt is sent (module docstring)
            send = endpoint._send  # botocore's send, wrapped on the next line (the same place)
            endpoint._send = lambda request: self._send_within(send, request, endpoint.host)
            self._clients[service] = client
        return self._clients[service]

    @property
    def cfn(self):
        return self.client("cloudformation")

    @property
    def s3(self):
        return self.client("s3")

    def _count_call(self, event_name, context=None, **_):
        _, service, operation = event_name.split(".", 2)  # "before-call.<service>.<Operation>"
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1
        now = self.clock()
        self._local.started = now
        if context is not None:
            context[STARTED] = now

    def _send_within(self, send, request, host: str):
        """One HTTP attempt, its whole body read, within what is left of the call's ``timeout``; a
        ``ReadTimeoutError`` past it. The attempt runs in a daemon thread that is abandoned at the deadline (the
        connection goes with it when the peer gives up or the process ends)."""
        started = getattr(self._local, "started", None)
        # at least a second (or the whole --timeout when shorter): an attempt botocore starts after a backoff near
        # the deadline still gets to say what went wrong (connection refused, closed) instead of a bare timeout
        left = self.timeout if started is None else max(min(1.0, self.timeout),
                                                         self.timeout - (self.clock() - started))
        done: list = []

        def attempt():
            try:
                response = send(request)
                body = response.content  # the body too: a drip in it is bounded like one in the headers
                response.raw = _Read(body)  # a streaming operation reads its body from raw
                done.append((response, None))
            except BaseException as e:  # handed to the calling thread as it is
                done.append((None, e))

        worker = threading.Thread(target=attempt, daemon=True, name="aws-attempt")
        worker.start()
        worker.join(left)
        if not done:
            raise ReadTimeoutError(endpoint_url=host,
                                   error=f"no complete answer within the --timeout of {self.timeout:g} s")
        response, error = done[0]
        if error is not None:
            raise error
        return response

    def _answered_by_aws(self, http_response=None, parsed=None, **_):
        """After botocore parsed an answer that came over the network: AWS's, or :class:`NotAws` (exit 3).
        botocore's Stubber answers without a body stream (``raw`` None): nothing came over the wire to judge."""
        if http_response is None or getattr(http_response, "raw", None) is None:
            return
        headers = http_response.headers or {}
        if (parsed or {}).get("ResponseMetadata", {}).get("RequestId") or any(
                headers.get(h) for h in ("x-amzn-requestid", "x-amz-request-id", "x-amz-id-2")):
            return
        kind = headers.get("content-type") or "no content type"
        raise NotAws(http_response.url, http_response.status_code, kind)

    def _deadline(self, caught_exception=None, request_dict=None, **_):
        """First handler of ``needs-retry``: once a call has spent ``timeout`` seconds on connection failures and
        timeouts, answer False (botocore then raises the last error) instead of letting the retry mode try again.
        Error responses (throttling) return None and keep the retry mode's own decision."""
        if caught_exception is None:
            return None
        started = (request_dict or {}).get("context", {}).get(STARTED)
        if started is not None and self.clock() - started >= self.timeout:
            return False
        return None

    def _count_attempt(self, event_name, **_):
        _, service, operation = event_name.split(".", 2)  # "before-send.<service>.<Operation>"
        with self._lock:
            self.attempts[f"{service}:{operation}"] += 1


def connect(profile: str | None, region: str, timeout: float = DEFAULT_TIMEOUT) -> Aws:
    """A session for ``profile`` (or boto3's default chain) in ``region``."""
    with aws_errors():
        return Aws(boto3.Session(profile_name=profile, region_name=region), region, timeout)


def caller_account(aws: Aws) -> str:
    with aws_errors():
        return aws.client("sts").get_caller_identity()["Account"]


def check_account(aws: Aws, expected: str | None, env: str) -> str:
    """Refuse credentials for another account than the one ``params/<env>.yaml`` names, before anything changes."""
    actual = caller_account(aws)
    if expected and actual != expected:
        raise BadInput(
            f"these credentials are for account {actual}, but params/{env}.yaml deploys to account {expected}",
            f"sign in to account {expected} (aws sso login, or pass --profile with a profile of that account), then: "
            f"{again(env)}",
        )
    return actual


def error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def error_message(e: ClientError) -> str:
    """AWS's message, and only it: one line (control characters removed, line breaks folded), at most 300
    characters; the error code when the answer had no message."""
    text = one_line(e.response.get("Error", {}).get("Message") or error_code(e) or "no message")
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def aws_errors() -> Iterator[None]:
    """Credential problems end the command here, whatever the caller catches: a caller that turns a refused call into
    one failed check (``except ClientError``) must not turn expired credentials into a list of failed checks. They
    become the boundary's own message (``deploy.errors.explain``: exit 2 with the sign-in fix); everything else
    passes through to the caller, and what it does not handle reaches the boundary as it is."""
    try:
        yield
    except ClientError as e:
        if error_code(e) in CREDENTIALS:
            raise explain(e, []) from None
        raise
    except (NoCredentialsError, PartialCredentialsError, ProfileNotFound, TokenRetrievalError) as e:
        raise explain(e, []) from None


class _Read(io.BytesIO):
    """A body already read, offered as botocore reads a raw response: ``stream()`` for non-streaming operations,
    ``read()`` for a streaming one's ``StreamingBody``."""

    def stream(self, amt=None, **_):
        chunk = self.read(amt or -1)
        while chunk:
            yield chunk
            chunk = self.read(amt or -1)

    def release_conn(self) -> None:
        pass
