"""The one place that makes AWS clients.

Why a factory: every client must share the same profile, region and retry policy, and tests and the benchmark
need to count calls. Endpoints are never built here: boto3 reads ``AWS_ENDPOINT_URL`` (and the per-service
variants) itself, which is how the test suite points everything at a local moto server.

Retries: botocore's ``adaptive`` mode retries throttling (``Throttling``, ``TooManyRequestsException``, 5xx) with
exponential backoff and also rate-limits the client after a throttle, which matters when watching many nested
stacks at once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import INVOCATION, BadInput, suggest

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

    def client(self, service: str):
        if service not in self._clients:
            with aws_errors():
                client = self.session.client(service, region_name=self.region, config=client_config(self.timeout))
            client.meta.events.register("before-call", self._count_call)
            # botocore calls the handlers of the most specific event name first (the retry mode registers on
            # "needs-retry.<service-id>"), and register_first puts ours before it there.
            service_id = client.meta.service_model.service_id.hyphenize()
            client.meta.events.register_first(f"needs-retry.{service_id}", self._deadline)
            client.meta.events.register("before-send", self._count_attempt)
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
        self.calls[f"{service}:{operation}"] += 1
        if context is not None:
            context[STARTED] = self.clock()

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
            f"{suggest(INVOCATION.get().verb, env)}",
        )
    return actual


def error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def error_message(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Message", str(e))


@contextmanager
def aws_errors() -> Iterator[None]:
    """Marks calls whose botocore errors the caller leaves to the command line's one boundary
    (``deploy.errors.explain``), which turns each into ``error:``/``fix:`` with the command to run again."""
    yield
