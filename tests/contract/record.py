"""Record every AWS call the CLI makes: service, operation, the request's parameters and the parsed response.

A test-only pair of botocore event handlers on each client ``deploy.aws.Aws`` makes (:func:`recording` patches
``Aws.client``; no product code changes): ``before-parameter-build`` keeps the API parameters as the caller gave them
(``before-call`` only sees the serialized request, and a Stubber answers there first) and records the call (it is
about to be sent: IAM authorizes it whatever comes back, even an answer the client cannot parse), ``after-call`` adds
the parsed response. botocore emits both for a response a Stubber gives too (``emit_until_response`` on ``before-call``,
then
``after-call``), so the drift job recorded from Stubber responses is seen the same way.

Drift detection: the local server has none (it answers ``DetectStackDrift`` with an error page). With
``answer_drift``, :func:`recording` answers ``DetectStackDrift``, ``DescribeStackDriftDetectionStatus`` and
``DescribeStackResourceDrifts`` as a finished detection that found nothing (shaped as the CloudFormation API Reference
documents them), so a job's drift step makes every call it would make on AWS and each is recorded.

``iam:SimulatePrincipalPolicy``: the local server does not implement it. :func:`recording` answers it with "allowed" for
every action and resource asked, on the ``before-call`` event, so the call is still made and recorded with its
parameters. The *decision* of that call is not under test here (the probes are judged by their own tests); the *plan
role's permission to call it* on the execution role is, and that is what the recording provides.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from botocore.awsrequest import AWSResponse

from deploy.aws import Aws

CALL = "contract_call"
DETECTED = datetime(2026, 1, 1, tzinfo=UTC)  # the answered detections' time: fixed, for stable output
SKIP_PARAMS = {"Body", "TemplateBody"}  # bytes or whole templates: nothing IAM authorizes on


@dataclass
class Call:
    service: str  # the IAM prefix of the service (its signing name: "secretsmanager", "elasticloadbalancing")
    operation: str  # the API operation name ("ListObjectsV2")
    params: dict
    response: dict | None = None  # None: no parsed answer (the call failed in transport or parsing)
    error: str | None = None  # the error code of a refused or failed call (it was still asked, so still authorized)

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    answer_drift: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _detections: dict[str, str] = field(default_factory=dict)  # detection id -> the stack it was asked for

    def attach(self, client) -> None:
        if getattr(client, "_contract_recorded", False):
            return
        client._contract_recorded = True
        service_id = client.meta.service_model.service_id.hyphenize()
        signing = client.meta.service_model.signing_name
        # before-parameter-build: a Stubber answers on before-call, before any handler of ours there could run
        client.meta.events.register(f"before-parameter-build.{service_id}", lambda **kw: self._before(signing, **kw))
        client.meta.events.register(f"after-call.{service_id}", self._after)
        if signing == "iam":
            client.meta.events.register("before-call.iam.SimulatePrincipalPolicy", _simulated_allowed)
        if signing == "cloudformation" and self.answer_drift:
            for operation in ("DetectStackDrift", "DescribeStackDriftDetectionStatus", "DescribeStackResourceDrifts"):
                client.meta.events.register(f"before-call.cloudformation.{operation}", self._drift)

    def _before(self, signing, params=None, model=None, context=None, **_):
        call = Call(signing, model.name,
                    {k: copy.deepcopy(v) for k, v in (params or {}).items() if k not in SKIP_PARAMS})
        if context is not None:
            context[CALL] = call
        with self._lock:
            self.calls.append(call)

    def _after(self, parsed=None, context=None, **_):
        call = (context or {}).get(CALL)
        if call is None:
            return
        parsed = dict(parsed or {})
        call.error = (parsed.pop("Error", None) or {}).get("Code")
        parsed.pop("ResponseMetadata", None)
        call.response = parsed

    def take(self) -> list[Call]:
        with self._lock:
            taken, self.calls = self.calls, []
        return taken

    def _drift(self, model=None, context=None, **_):
        asked = context[CALL].params
        if model.name == "DetectStackDrift":
            detection = str(uuid.uuid5(uuid.NAMESPACE_URL, asked["StackName"]))
            with self._lock:
                self._detections[detection] = asked["StackName"]
            parsed = {"StackDriftDetectionId": detection}
        elif model.name == "DescribeStackDriftDetectionStatus":
            detection = asked["StackDriftDetectionId"]
            parsed = {"StackId": self._detections[detection], "StackDriftDetectionId": detection,
                      "StackDriftStatus": "IN_SYNC", "DetectionStatus": "DETECTION_COMPLETE",
                      "DriftedStackResourceCount": 0, "Timestamp": DETECTED}
        else:
            parsed = {"StackResourceDrifts": []}
        return AWSResponse("https://cloudformation.amazonaws.com/", 200, {}, None), parsed


def _simulated_allowed(context=None, **_):
    """SimulatePrincipalPolicy answered "allowed" for every (action, resource) asked: see the module docstring."""
    asked = context[CALL].params
    actions = asked.get("ActionNames", [])
    resources = asked.get("ResourceArns") or ["*"]
    parsed = {"EvaluationResults": [{"EvalActionName": a, "EvalResourceName": r, "EvalDecision": "allowed",
                                     "MatchedStatements": [], "MissingContextValues": []}
                                    for a in actions for r in resources], "IsTruncated": False}
    return AWSResponse("https://iam.amazonaws.com/", 200, {}, None), parsed


@contextmanager
def recording(monkeypatch, answer_drift: bool = False) -> Iterator[Recorder]:
    """Every client ``Aws`` makes while this is open records its calls into the yielded :class:`Recorder`."""
    recorder = Recorder(answer_drift=answer_drift)
    original = Aws.client

    def client(self, service: str):
        made = original(self, service)
        recorder.attach(made)
        return made

    monkeypatch.setattr(Aws, "client", client)
    try:
        yield recorder
    finally:
        monkeypatch.setattr(Aws, "client", original)
