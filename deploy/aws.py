"""The one place that makes AWS clients.

Why a factory: every client must share the same profile, region and retry policy, and tests and the benchmark
need to count calls. Endpoints are never built here: boto3 reads ``AWS_ENDPOINT_URL`` (and the per-service
variants) itself, which is how the test suite points everything at a local moto server.

Retries: botocore's ``adaptive`` mode retries throttling (``Throttling``, ``TooManyRequestsException``, 5xx) with
exponential backoff and also rate-limits the client after a throttle, which matters when watching many nested
stacks at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

from .errors import BadInput, DeployError

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})


@dataclass
class Aws:
    """A session and its clients; ``calls`` counts API operations and ``attempts`` HTTP attempts (retries)."""

    session: boto3.Session
    region: str
    calls: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    _clients: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # preflight calls AWS from several threads

    def client(self, service: str):
        """One client per service, made on first use (not thread-safe: make clients before starting threads)."""
        if service not in self._clients:
            client = self.session.client(service, region_name=self.region, config=RETRIES)
            client.meta.events.register("before-call", self._count_call)
            client.meta.events.register("before-send", self._count_attempt)
            self._clients[service] = client
        return self._clients[service]

    @property
    def cfn(self):
        return self.client("cloudformation")

    @property
    def s3(self):
        return self.client("s3")

    def _count_call(self, event_name, **_):
        _, service, operation = event_name.split(".", 2)  # "before-call.<service>.<Operation>"
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1

    def _count_attempt(self, event_name, **_):
        _, service, operation = event_name.split(".", 2)  # "before-send.<service>.<Operation>"
        with self._lock:
            self.attempts[f"{service}:{operation}"] += 1


def connect(profile: str | None, region: str) -> Aws:
    """A session for ``profile`` (or boto3's default chain) in ``region``."""
    with aws_errors():
        return Aws(boto3.Session(profile_name=profile, region_name=region), region)


def caller_account(aws: Aws) -> str:
    with aws_errors():
        return aws.client("sts").get_caller_identity()["Account"]


def check_account(aws: Aws, expected: str | None, env: str) -> str:
    """Refuse credentials for another account than the one ``params/<env>.yaml`` names, before anything changes."""
    actual = caller_account(aws)
    if expected and actual != expected:
        raise BadInput(
            f"these credentials are for account {actual}, but params/{env}.yaml deploys to account {expected}",
            f"use credentials for {expected}: --profile <profile of {expected}> (or AWS_PROFILE)",
        )
    return actual


def error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def error_message(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Message", str(e))


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn credential and connection problems into messages with the fix, not tracebacks."""
    try:
        yield
    except ProfileNotFound as e:
        raise BadInput(str(e), "pass an existing --profile, or configure it: aws configure --profile NAME") from None
    except (NoCredentialsError, PartialCredentialsError) as e:
        raise BadInput(f"no AWS credentials found ({e})",
                       "aws sso login / aws configure, or --profile NAME, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
    except TokenRetrievalError as e:
        raise BadInput(f"the SSO session has expired ({e})", "aws sso login --profile NAME") from None
    except EndpointConnectionError as e:
        raise DeployError(f"cannot reach AWS: {e}", "check the network, the region and AWS_ENDPOINT_URL") from None
    except ClientError as e:
        if error_code(e) in {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                             "SignatureDoesNotMatch"}:
            raise BadInput(f"AWS refused the credentials: {error_message(e)}", "refresh them (aws sso login) or pick another --profile") from None
        raise
