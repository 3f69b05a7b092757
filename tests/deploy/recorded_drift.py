"""Drift detection responses for the full dev and prod hierarchies, shaped as the CloudFormation API reference
documents them (DescribeStacks, ListStackResources, DetectStackDrift, DescribeStackDriftDetectionStatus,
DescribeStackResourceDrifts, DetectStackResourceDrift); moto does not implement drift detection.

The stacks and logical ids are read from the committed ``output/<env>/`` templates, so the recording follows the
real hierarchy. :class:`RoutedStubber` is botocore's Stubber (every response is validated against the service
model) answering by request parameters instead of call order, because detection runs on many stacks at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import yaml
from botocore.stub import StubAssertionError, Stubber

from deploy.aws import Aws

from .recorded import ACCOUNT, REGION, T0, stack_arn

REPO = Path(__file__).resolve().parents[2]
STACK_TYPE = "AWS::CloudFormation::Stack"


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # intrinsic functions: only ids and types matter


def _resources(path: Path) -> dict[str, dict]:
    return yaml.load(path.read_text(), Loader=_Loader)["Resources"]


def _key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


class RoutedStubber(Stubber):
    """A Stubber whose responses are keyed by (operation, exact parameters), FIFO per key, thread-safe; an optional
    per-call ``latency`` (seconds, real sleep) simulates the network for the benchmark."""

    def __init__(self, client, latency: float = 0.0):
        super().__init__(client)
        self._routes: dict[tuple[str, str], deque] = defaultdict(deque)
        self._lock = threading.Lock()
        self.latency = latency

    def activate(self):
        """As Stubber, but answering after the Aws call counter (botocore runs more specific handlers first, so the
        Stubber's ``before-call.*.*`` would short-circuit the counter's ``before-call``)."""
        super().activate()
        self.client.meta.events.unregister("before-call.*.*", self._get_response_handler, unique_id=self._event_id)
        self.client.meta.events.register_last("before-call", self._get_response_handler, unique_id=self._event_id)

    def add_response(self, method, service_response, expected_params=None):
        super().add_response(method, service_response, expected_params)
        self._route()

    def add_client_error(self, method, service_error_code="", service_message="", http_status_code=400,
                         service_error_meta=None, expected_params=None, response_meta=None, modeled_fields=None):
        super().add_client_error(method, service_error_code, service_message, http_status_code, service_error_meta,
                                 expected_params, response_meta, modeled_fields)
        self._route()

    def _route(self) -> None:
        item = self._queue.pop()
        self._routes[(item["operation_name"], _key(item["expected_params"] or {}))].append(item["response"])

    def _assert_expected_params(self, model, params, context, **kwargs):
        key = (model.name, _key(params))
        with self._lock:
            if not self._routes.get(key):
                raise StubAssertionError(operation_name=model.name, reason=f"no recorded response for {params}")
        context["recorded_key"] = key

    def _get_response_handler(self, model, params, context, **kwargs):
        with self._lock:
            response = self._routes[context["recorded_key"]].popleft()
        if self.latency:
            time.sleep(self.latency)
        return response

    def pending(self) -> dict:
        return {k: len(q) for k, q in self._routes.items() if q}

    def assert_no_pending_responses(self):
        assert not self.pending(), f"responses never asked for: {self.pending()}"


@dataclass
class Stack:
    path: tuple[str, ...]
    name: str
    arn: str
    resources: dict[str, str]  # logical id -> type
    children: dict[str, str] = field(default_factory=dict)  # nested logical id -> child stack arn


def hierarchy(env: str) -> list[Stack]:
    """Root and nested stacks of ``output/<env>`` with physical names as CloudFormation makes them
    (``<parent>-<LogicalId>-<13 characters>``)."""
    root_name = f"wwhd-{env}"
    out = REPO / "output" / env

    def build(path: tuple[str, ...], name: str, file: Path) -> list[Stack]:
        resources = _resources(file)
        stack = Stack(path, name, stack_arn(name, _uuid(name)), {k: v["Type"] for k, v in resources.items()})
        found = [stack]
        for logical, r in sorted(resources.items()):
            if r["Type"] == STACK_TYPE:
                child = f"{name}-{logical}-{hashlib.sha1(logical.encode()).hexdigest()[:13].upper()}"
                below = build(path + (logical,), child, out / r["Properties"]["TemplateURL"])
                stack.children[logical] = below[0].arn
                found += below
        return found

    identity = f"{root_name}-identity"  # beside the root, checked in the same run (deploy/identity.py beside)
    return build((), root_name, out / "root.yaml") + build(("identity",), identity, out / "identity.yaml")


def beside(env: str) -> dict[str, str]:
    """What ``drift`` checks beside the root's hierarchy (deploy/identity.py ``beside``): the identity stack."""
    return {"identity": f"wwhd-{env}-identity"}


def _uuid(name: str) -> str:
    h = hashlib.sha1(name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def physical_id(logical: str, type_: str) -> str:
    return f"{logical.lower()}-0123456789abcdef" if type_ != STACK_TYPE else ""


@dataclass
class World:
    """One recorded detection over a hierarchy. Per stack: how many polls answer DETECTION_IN_PROGRESS, whether it
    fails (DETECTION_FAILED with a reason, or a throttling error past retries), and per resource its drift entry
    (default IN_SYNC; ``omit`` leaves it out of the answer as unsupported types are)."""

    env: str
    stacks: list[Stack] = field(default_factory=list)
    rounds: dict[tuple[str, ...], int] = field(default_factory=dict)
    failed: dict[tuple[str, ...], str] = field(default_factory=dict)
    throttled: set[tuple[str, ...]] = field(default_factory=set)
    drifts: dict[tuple[tuple[str, ...], str], dict] = field(default_factory=dict)
    omit: set[tuple[tuple[str, ...], str]] = field(default_factory=set)
    page_size: int = 100
    status: str = "UPDATE_COMPLETE"

    def __post_init__(self):
        self.stacks = hierarchy(self.env)

    def stack(self, path: tuple[str, ...]) -> Stack:
        return next(s for s in self.stacks if s.path == path)

    def entry(self, s: Stack, logical: str) -> dict:
        type_ = s.resources[logical]
        d = {"StackId": s.arn, "LogicalResourceId": logical, "PhysicalResourceId": physical_id(logical, type_),
             "ResourceType": type_, "StackResourceDriftStatus": "IN_SYNC", "Timestamp": T0,
             "ExpectedProperties": "{}", "ActualProperties": "{}", "PropertyDifferences": []}
        if type_ == STACK_TYPE:
            d["PhysicalResourceId"] = s.children[logical]
        d.update(self.drifts.get((s.path, logical), {}))
        return d

    def expect(self, stubber: Stubber, detect: bool = True, beside: bool = True) -> None:
        """The responses of one run; without ``beside``, none for the identity stack (a re-check after apply walks
        the root's hierarchy only)."""
        stubber.add_response("describe_stacks", {"Stacks": [{
            "StackId": self.stacks[0].arn, "StackName": self.stacks[0].name, "CreationTime": T0,
            "StackStatus": self.status, "EnableTerminationProtection": self.env == "prod"}]},
            {"StackName": self.stacks[0].name})
        identity = self.stack(("identity",))
        stacks = self.stacks if beside else [s for s in self.stacks if s is not identity]
        if beside:
            stubber.add_response("describe_stacks", {"Stacks": [{
                "StackId": identity.arn, "StackName": identity.name, "CreationTime": T0,
                "StackStatus": "UPDATE_COMPLETE", "EnableTerminationProtection": self.env == "prod"}]},
                {"StackName": identity.name})
        for s in stacks:
            stubber.add_response("list_stack_resources", {"StackResourceSummaries": [{
                "LogicalResourceId": logical, "ResourceType": type_,
                "PhysicalResourceId": s.children.get(logical) or physical_id(logical, type_),
                "LastUpdatedTimestamp": T0, "ResourceStatus": "UPDATE_COMPLETE",
                "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"}}
                for logical, type_ in sorted(s.resources.items())]}, {"StackName": s.arn})
        if detect:
            for s in stacks:
                self._detection(stubber, s)

    def detection_id(self, s: Stack) -> str:
        return _uuid(f"detection-{s.name}")

    def _detection(self, stubber: Stubber, s: Stack) -> None:
        if s.path in self.throttled:
            stubber.add_client_error("detect_stack_drift", "Throttling", "Rate exceeded", 400,
                                     expected_params={"StackName": s.arn})
            return
        did = self.detection_id(s)
        stubber.add_response("detect_stack_drift", {"StackDriftDetectionId": did}, {"StackName": s.arn})
        status = {"StackId": s.arn, "StackDriftDetectionId": did, "Timestamp": T0}
        for _ in range(self.rounds.get(s.path, 1)):
            stubber.add_response("describe_stack_drift_detection_status",
                                 {**status, "DetectionStatus": "DETECTION_IN_PROGRESS"}, {"StackDriftDetectionId": did})
        entries = [self.entry(s, k) for k in sorted(s.resources) if (s.path, k) not in self.omit]
        drifted = sum(1 for e in entries if e["StackResourceDriftStatus"] in ("MODIFIED", "DELETED"))
        final = {**status, "DriftedStackResourceCount": drifted,
                 "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC", "DetectionStatus": "DETECTION_COMPLETE"}
        if s.path in self.failed:
            final.update(DetectionStatus="DETECTION_FAILED", DetectionStatusReason=self.failed[s.path],
                         StackDriftStatus="UNKNOWN")
            entries = entries[: len(entries) // 2]  # results only for the resources it finished
        stubber.add_response("describe_stack_drift_detection_status", final, {"StackDriftDetectionId": did})
        self.expect_drifts(stubber, s, entries)

    def expect_drifts(self, stubber: Stubber, s: Stack, entries: list[dict], filters: list[str] | None = None) -> None:
        pages = [entries[i:i + self.page_size] for i in range(0, len(entries), self.page_size)] or [[]]
        for n, page in enumerate(pages):
            params = {"StackName": s.arn, **({"NextToken": f"page-{n + 1}"} if n else {}),
                      **({"StackResourceDriftStatusFilters": filters} if filters else {})}
            response = {"StackResourceDrifts": page, **({"NextToken": f"page-{n + 2}"} if n + 1 < len(pages) else {})}
            stubber.add_response("describe_stack_resource_drifts", response, params)


def routed(latency: float = 0.0) -> tuple[Aws, RoutedStubber]:
    aws = Aws(boto3.Session(region_name=REGION), REGION)
    stubber = RoutedStubber(aws.cfn, latency)
    stubber.activate()
    return aws, stubber


def modified(expected: dict, actual: dict, differences: list[tuple[str, str, str, str]]) -> dict:
    """A MODIFIED entry: properties as JSON text, each difference (path, expected, actual, ADD|REMOVE|NOT_EQUAL)."""
    return {"StackResourceDriftStatus": "MODIFIED", "ExpectedProperties": json.dumps(expected),
            "ActualProperties": json.dumps(actual),
            "PropertyDifferences": [{"PropertyPath": p, "ExpectedValue": e, "ActualValue": a, "DifferenceType": k}
                                    for p, e, a, k in differences]}


def rule_properties(group_logical: str, **rule) -> dict:
    """ExpectedProperties of a separate SecurityGroupIngress/Egress resource on ``group_logical``'s group."""
    return {"GroupId": physical_id(group_logical, "AWS::EC2::SecurityGroup"), **rule}


ACCOUNT_ID = ACCOUNT
