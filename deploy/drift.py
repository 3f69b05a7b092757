"""``drift``: what is really deployed, in the root stack and every nested stack, compared with the templates.

CloudFormation rules this module encodes (API reference, DetectStackDrift / DescribeStackDriftDetectionStatus /
DescribeStackResourceDrifts / StackResourceDrift):

* "When detecting drift on a stack, CloudFormation doesn't detect drift on any nested stacks belonging to that
  stack. Perform DetectStackDrift directly on the nested stack itself." So we walk the hierarchy
  (ListStackResources, ``AWS::CloudFormation::Stack`` rows) and start one detection per stack.
* Detection runs server side and "can take up to several minutes": all detections are started at once (a bounded
  thread pool, as many workers as botocore's default connection pool holds), then polled together with the
  project's :class:`deploy.ui.Poller`, so the wall time is that of the slowest stack, not the sum.
* ``DetectionStatus`` DETECTION_FAILED: "drift detection has failed for at least one resource in the stack. Results
  will be available for resources on which CloudFormation successfully completed drift detection": we show those
  results and count the stack as failed (its drift is unknown), with ``DetectionStatusReason``.
* DescribeStackResourceDrifts lists one entry per checked resource (IN_SYNC, MODIFIED with PropertyDifferences
  ``PropertyPath``/``ExpectedValue``/``ActualValue``/``DifferenceType`` ADD|REMOVE|NOT_EQUAL, DELETED, NOT_CHECKED,
  UNKNOWN); it is paginated with ``NextToken`` and has no botocore paginator. "Resources that don't currently
  support drift detection aren't checked, and so not included": a resource of the stack that the answer leaves out
  is reported NOT_CHECKED, never in sync.
* "Only resource properties explicitly defined in the stack template are checked for drift": properties left to
  their defaults, and write-only ones (a secret's value), are not seen.
* Drift detection is allowed on stacks in CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE and
  UPDATE_ROLLBACK_FAILED (UserGuide "Detect drift on an entire CloudFormation stack"); another state is refused
  before any call is made.
* Throttling: the client retries throttles with adaptive backoff (deploy/aws.py); a ``Throttling`` error that
  survives the retries fails that stack only, saying so.

Known false positives (:data:`KNOWN_FALSE_POSITIVES`) are shown as ``ignored: <reason>`` with their source, never
dropped. One is EFS's stored form of a file system policy: a statement written with ``Resource: "*"`` reads back with
the file system's own ARN (the perpetual diff of hashicorp/terraform-provider-aws#32077; the EFS console's policies
omit Resource for the same reason, terraform-aws-modules/terraform-aws-efs#20). Rendering the ARN instead is not
possible: the policy is a property of the file system itself, and ``!GetAtt FileSystem.Arn`` there would be a
circular reference. So the difference is ignored only when replacing ``"*"`` by this resource's own ARN (its physical
id) makes both sides equal; any other change of the policy is drift, and security-relevant. CloudFormation does not
reconcile drift on an update that leaves the drifted property unchanged, hence the guidance printed for every drift
(:func:`guidance`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from templates.stateful import STATEFUL

from .aws import Aws, aws_errors, error_code, error_message
from .errors import DeployError, one_line
from .markdown import code as md_code, fold as _md_fold, text as md_text
from .review import md_value
from .stacks import STACK_TYPE, describe, list_resources
from .ui import Out, Poller

MAX_PARALLEL = 10  # botocore's default max_pool_connections: more threads would only wait for a connection
DETECTION_TIMEOUT = 900.0  # seconds; "can take up to several minutes"
DETECTABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED"}
THROTTLES = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
DRIFTED = ("MODIFIED", "DELETED")
SYMBOL = {"IN_SYNC": "=", "MODIFIED": "~", "DELETED": "-", "NOT_CHECKED": "?", "UNKNOWN": "?", "IGNORED": "="}
SECURITY_TYPES = ("AWS::IAM::", "AWS::EC2::SecurityGroup", "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy",
                  "AWS::SQS::QueuePolicy", "AWS::KMS::", "AWS::SecretsManager::ResourcePolicy",
                  "AWS::Lambda::Permission")
# Property paths that decide who may reach or read what, on any resource type.
SECURITY_PROPERTIES = re.compile(
    r"^/(Policies|PolicyDocument|AssumeRolePolicyDocument|ManagedPolicyArns|PermissionsBoundary|SecurityGroupIngress|"
    r"SecurityGroupEgress|SecurityGroups|CidrIp|CidrIpv6|SourceSecurityGroupId|DestinationSecurityGroupId|"
    r"PublicAccessBlockConfiguration|AccessControl|NetworkConfiguration/AwsvpcConfiguration/(AssignPublicIp|"
    r"SecurityGroups)|Scheme|KmsKeyId|Encrypted|FileSystemPolicy|BackupVaultAccessPolicy|AccessPolicy|"
    r"ExecutionRoleArn|TaskRoleArn|ResourcePolicy|EnableExecuteCommand|Certificates|SslPolicy|Protocol)(/|$)")


# --- known false positives ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FalsePositive:
    """A difference CloudFormation reports although nothing changed: ``type`` and ``path`` (a regex over
    PropertyPath), the DifferenceType, optionally the exact actual value (JSON) it must have, and where it is
    documented. ``needs_rule_resource``: only when a separate rule resource of the hierarchy defines that rule."""

    type: str
    path: str
    kinds: tuple[str, ...]
    reason: str
    source: str
    actual: str | None = None
    expected: str | None = None
    needs_rule_resource: bool = False
    same: Callable[[Resource, Difference], bool] | None = None  # expected and actual mean the same here

    def matches(self, resource: Resource, d: Difference, rules: set[tuple]) -> bool:
        if resource.type != self.type or d.kind not in self.kinds or not re.fullmatch(self.path, d.path):
            return False
        if self.same is not None and not self.same(resource, d):
            return False
        if self.actual is not None and _canonical(d.actual) != _canonical(self.actual):
            return False
        if self.expected is not None and _canonical(d.expected) != _canonical(self.expected):
            return False
        return not self.needs_rule_resource or (resource.physical_id, *_rule_key(d.actual)) in rules


THIS_FILE_SYSTEM = "<this file system>"


def _file_system_resources(value, is_resource: bool, own_arn: re.Pattern):
    """A policy value with every statement's ``Resource`` in one form: ``"*"`` and this file system's ARN both become
    :data:`THIS_FILE_SYSTEM`, and a one-element list its element."""
    if isinstance(value, dict):
        return {k: _file_system_resources(v, k == "Resource", own_arn) for k, v in value.items()}
    if isinstance(value, list):
        items = [_file_system_resources(v, is_resource, own_arn) for v in value]
        return items[0] if is_resource and len(items) == 1 else items
    if is_resource and isinstance(value, str) and (value == "*" or own_arn.fullmatch(value)):
        return THIS_FILE_SYSTEM
    return value


def _stored_resource_form(resource: Resource, d: Difference) -> bool:
    """The file system policy differs only where a statement's ``Resource`` is ``"*"`` in the template and this file
    system's own ARN as EFS stores it (at whatever depth CloudFormation reports the difference)."""
    own = re.compile(r"arn:aws[a-z-]*:elasticfilesystem:[a-z0-9-]+:\d{12}:file-system/"
                     + re.escape(resource.physical_id))
    leaf = bool(re.search(r"/Resource(/\d+)?$", d.path))
    try:
        expected, actual = json.loads(d.expected or "null"), json.loads(d.actual or "null")
    except ValueError:
        return False
    if expected == actual or not resource.physical_id:
        return False
    return _file_system_resources(expected, leaf, own) == _file_system_resources(actual, leaf, own)


KNOWN_FALSE_POSITIVES: tuple[FalsePositive, ...] = (
    FalsePositive(
        "AWS::EFS::FileSystem", r"/FileSystemPolicy(/.*)?", ("NOT_EQUAL",),
        "EFS stores a file system policy statement's Resource \"*\" as the file system's own ARN, which is what \"*\" "
        "means in a file system policy; the template cannot name the ARN (it would reference itself)",
        "https://github.com/hashicorp/terraform-provider-aws/issues/32077",
        same=_stored_resource_form),
    FalsePositive(
        "AWS::EC2::SecurityGroup", r"/SecurityGroupIngress/\d+", ("ADD",),
        "rule defined by a separate AWS::EC2::SecurityGroupIngress resource of this hierarchy; drift detection "
        "reports it on the group", "https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1198",
        needs_rule_resource=True),
    FalsePositive(
        "AWS::EC2::SecurityGroup", r"/SecurityGroupEgress/\d+", ("ADD",),
        "rule defined by a separate AWS::EC2::SecurityGroupEgress resource of this hierarchy; drift detection "
        "reports it on the group", "https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1198",
        needs_rule_resource=True),
    FalsePositive(
        "AWS::ECS::Service", r"/DeploymentController", ("REMOVE", "NOT_EQUAL"),
        "DeploymentController Type ECS is the default, which DescribeServices omits",
        "https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1259",
        expected='{"Type": "ECS"}'),
    FalsePositive(
        "AWS::ECS::Service", r"/DeploymentConfiguration/Alarms", ("ADD",),
        "ECS default (deployment alarms off) filled in by the service",
        "https://github.com/go-to-k/cdk-real-drift/issues/653",
        actual='{"AlarmNames": [], "Enable": false, "Rollback": false}'),
    FalsePositive(
        "AWS::ECS::Service", r"/DeploymentConfiguration/Strategy", ("ADD",),
        "ECS default (rolling deployments) filled in by the service",
        "https://github.com/go-to-k/cdk-real-drift/issues/653",
        actual='"ROLLING"'),
    FalsePositive(
        "AWS::ECS::Service", r"/DeploymentConfiguration/BakeTimeInMinutes", ("ADD",),
        "ECS default (no bake time) filled in by the service", "https://github.com/go-to-k/cdk-real-drift/issues/653",
        actual="0"),
    FalsePositive(
        "AWS::ECS::Service", r"/DeploymentConfiguration/DeploymentCircuitBreaker/ResetOnHealthyTask", ("ADD",),
        "ECS default filled in by the service", "https://github.com/go-to-k/cdk-real-drift/issues/653", actual="true"),
    FalsePositive(
        "AWS::ECS::Service", r"/DeploymentConfiguration/DeploymentCircuitBreaker/ThresholdConfiguration", ("ADD",),
        "ECS default (circuit breaker threshold 50 percent) filled in by the service",
        "https://github.com/go-to-k/cdk-real-drift/issues/653", actual='{"Type": "BOUNDED_PERCENT", "Value": 50}'),
)


def _canonical(value: str | None) -> str | None:
    """JSON values compared by meaning (key order, spacing), other text as is."""
    if value is None:
        return None
    try:
        return json.dumps(json.loads(value), sort_keys=True)
    except ValueError:
        return value


def _rule_key(value: str | dict | None) -> tuple:
    """(protocol, from, to, peer) of a security group rule, from a drift value or a rule resource's properties."""
    try:
        rule = json.loads(value) if isinstance(value, str) else (value or {})
    except ValueError:
        return ()
    if not isinstance(rule, dict):
        return ()
    protocol = str(rule.get("IpProtocol", "")).lower()
    peer = next((str(rule[k]) for k in ("CidrIp", "CidrIpv6", "SourceSecurityGroupId", "DestinationSecurityGroupId",
                                         "SourcePrefixListId", "DestinationPrefixListId") if rule.get(k)), "")
    return (protocol, str(rule.get("FromPort", "")), str(rule.get("ToPort", "")), peer)


# --- the model ----------------------------------------------------------------------------------------------------


@dataclass
class Difference:
    path: str
    expected: str | None
    actual: str | None
    kind: str  # ADD | REMOVE | NOT_EQUAL
    security: bool = False
    ignored: str = ""  # the reason, when a known false positive

    def __str__(self) -> str:
        return f"{self.path}: {_short(self.expected)} -> {_short(self.actual)} ({self.kind})"


@dataclass
class Resource:
    logical_id: str
    type: str
    status: str  # IN_SYNC | MODIFIED | DELETED | NOT_CHECKED | UNKNOWN, or IGNORED (every difference known)
    physical_id: str = ""
    differences: list[Difference] = field(default_factory=list)
    stateful: bool = False
    reason: str = ""  # why not checked, or DriftStatusReason
    expected: dict | None = None  # ExpectedProperties (for rule resources)

    @property
    def security(self) -> bool:
        return self.type.startswith(SECURITY_TYPES) or any(d.security for d in self.differences if not d.ignored)

    @property
    def drifted(self) -> bool:
        return self.status in DRIFTED


@dataclass
class StackDrift:
    path: tuple[str, ...]
    stack_id: str
    detection: str = ""  # DETECTION_COMPLETE | DETECTION_FAILED | ERROR (no answer)
    reason: str = ""
    resources: list[Resource] = field(default_factory=list)
    detection_id: str = ""

    @property
    def label(self) -> str:
        return "/".join(self.path) or "root"

    @property
    def stack_name(self) -> str:
        return _stack_name(self.stack_id)

    @property
    def failed(self) -> bool:
        return self.detection != "DETECTION_COMPLETE"


@dataclass
class Report:
    """Drift of a whole hierarchy: plain data, rendered four ways, and attached to a plan's review."""

    stack_name: str
    stacks: list[StackDrift]

    @property
    def drifted(self) -> list[tuple[StackDrift, Resource]]:
        return [(s, r) for s in self.stacks for r in s.resources if r.drifted]

    @property
    def failed(self) -> list[StackDrift]:
        return [s for s in self.stacks if s.failed]

    @property
    def unknown(self) -> list[tuple[StackDrift, Resource]]:
        return [(s, r) for s in self.stacks for r in s.resources if r.status == "UNKNOWN"]

    @property
    def ok(self) -> bool:
        """Every checked resource in sync; an UNKNOWN result is not proof of that."""
        return not self.drifted and not self.failed and not self.unknown

    def counts(self) -> dict[str, int]:
        counts = {"inSync": 0, "modified": 0, "deleted": 0, "notChecked": 0, "ignored": 0, "unknown": 0}
        key = {"IN_SYNC": "inSync", "MODIFIED": "modified", "DELETED": "deleted", "NOT_CHECKED": "notChecked",
               "IGNORED": "ignored", "UNKNOWN": "unknown"}
        for s in self.stacks:
            for r in s.resources:
                counts[key.get(r.status, "unknown")] += 1
        counts["failedStacks"] = len(self.failed)
        return counts

    # the hooks deploy.review calls for a plan's Drift section (duck-typed: review does not import this module)
    def show_section(self, out: Out) -> None:
        show(self, out, heading=False)

    def markdown_section(self) -> list[str]:
        return _md_body(self, "####")

    def as_json(self) -> dict:
        return as_json(self)


@dataclass
class Skipped:
    """``plan --no-drift`` on a production environment: the review says drift was not checked."""

    why: str

    def show_section(self, out: Out) -> None:
        out.line(f"Drift: not checked ({self.why})", "bold yellow")

    def markdown_section(self) -> list[str]:
        return ["#### Drift", "", f"Not checked ({md_text(self.why)}).", ""]

    def as_json(self) -> dict:
        return {"checked": False, "skipped": self.why}


def _stack_name(stack_id: str) -> str:
    """``arn:...:stack/NAME/uuid`` -> NAME; a name stays a name."""
    parts = stack_id.split("/")
    return parts[1] if stack_id.startswith("arn:") and len(parts) >= 3 else stack_id


def _short(value: str | None, width: int = 80) -> str:
    if value is None:
        return "(none)"
    return value if len(value) <= width else value[: width - 3] + "..."


# --- detection ----------------------------------------------------------------------------------------------------


@dataclass
class _Target:
    path: tuple[str, ...]
    stack_id: str
    inventory: list[dict]  # ListStackResources summaries of this stack


def hierarchy(aws: Aws, stack_id: str, pool: ThreadPoolExecutor | None = None) -> list[_Target]:
    """The stack and every nested stack below it, depth first, each with its resources: one ListStackResources per
    stack, which also names the nested stacks (the walk of deploy.stacks.nested_stacks, keeping the rows). Level by
    level, each level's stacks listed concurrently when given a pool."""
    listing = pool.map if pool else map
    found: dict[tuple[str, ...], _Target] = {}
    level: list[tuple[tuple[str, ...], str]] = [((), stack_id)]
    while level:
        for (path, sid), inventory in zip(level, listing(lambda x: list_resources(aws, x[1]), level), strict=True):
            found[path] = _Target(path, sid, inventory)
        level = [(t.path + (r["LogicalResourceId"],), r["PhysicalResourceId"]) for t in found.values()
                 if t.path in {p for p, _ in level} for r in t.inventory
                 if r["ResourceType"] == STACK_TYPE and r.get("PhysicalResourceId")]
    return [found[k] for k in sorted(found)]


def detect(aws: Aws, stack_name: str, poller: Poller, out: Out, command: Callable[..., str],
           only: dict[tuple[str, ...], set[str]] | None = None, also: dict[str, str] | None = None) -> Report:
    """Detect drift on the whole hierarchy of ``stack_name``: start every stack's detection, poll them together,
    read the results. ``command(verb, *flags)`` builds the runnable commands a refusal suggests (Ctx.command). With
    ``only`` ({stack path: logical ids}), re-check just those resources (DetectStackResourceDrift). ``also``
    ({label: stack name}) adds top-level stacks beside the hierarchy (the identity stack, ``templates/identity.py``:
    the environment's IAM, checked in the same run), each as the one-element path ``(label,)``; one that does not
    exist or is in no detectable state is left out with a warning."""
    info = describe(aws, stack_name)
    if info is None or not info.exists:
        raise DeployError(f"no stack {stack_name} to check for drift", f"create it: {command('plan')}, then apply")
    if info.status not in DETECTABLE:
        raise DeployError(f"{stack_name} is {info.status}: CloudFormation detects drift only on stacks in "
                          f"{', '.join(sorted(DETECTABLE))}",
                          f"wait for the operation to end: {command('status', '--watch')}, then run drift again")
    beside = []
    for label, name in (also or {}).items():
        other = describe(aws, name)
        if other is None or not other.exists or other.status not in DETECTABLE:
            out.warn(f"drift: {name} not checked ({other.status if other and other.exists else 'it does not exist'})")
            continue
        beside.append(((label,), other.id))
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        targets = hierarchy(aws, info.id, pool)
        targets += [_Target(path, sid, list_resources(aws, sid)) for path, sid in beside]
        if only is not None:
            targets = [t for t in targets if t.path in only]
        stacks = [StackDrift(t.path, t.stack_id) for t in targets]
        if only is not None:
            list(pool.map(lambda s, t: _recheck(aws, s, t, only[t.path]), stacks, targets))
        else:
            with out.progress(f"detecting drift on {len(targets)} stack(s)") as update:
                list(pool.map(lambda s: _guarded(s, lambda: _start(aws, s)), stacks))
                _wait(aws, pool, [s for s in stacks if s.detection_id], poller, update)
                list(pool.map(lambda s, t: _guarded(s, lambda: _read(aws, s, t)) if s.detection_id else None,
                              stacks, targets))
    rules = _rule_resources(stacks)
    for s in stacks:
        for r in s.resources:
            _classify(r, rules)
    return Report(info.name, stacks)


def recorded(aws: Aws, stack_name: str) -> dict[tuple[str, ...], set[str]]:
    """{stack path: logical ids} of the resources the latest detection of each stack found MODIFIED or DELETED
    (DescribeStackResourceDrifts filtered by status; no new detection). Empty when nothing drifted or nothing
    was ever checked."""
    info = describe(aws, stack_name)
    if info is None or not info.exists:
        return {}
    found: dict[tuple[str, ...], set[str]] = {}
    for t in hierarchy(aws, info.id):
        s = StackDrift(t.path, t.stack_id)
        _guarded(s, functools.partial(_read, aws, s, t, DRIFTED))
        if s.resources:
            found[t.path] = {r.logical_id for r in s.resources}
    return found


def _guarded(stack: StackDrift, call: Callable[[], None]) -> None:
    """One stack's AWS refusal (throttled past the retries, access denied, a validation error) fails that stack
    only; credential problems still end the command (aws_errors turns them into BadInput)."""
    try:
        with aws_errors():
            call()
    except ClientError as e:
        code = error_code(e)
        stack.detection = "ERROR"
        stack.detection_id = ""
        if code in THROTTLES:
            stack.reason = (f"throttled by AWS on {e.operation_name} even after the client's retries "
                            f"({error_message(e)}); nothing is known about this stack's drift")
        else:
            stack.reason = f"AWS refused {e.operation_name}: {code}: {error_message(e)}"
    # an answer botocore cannot read (after its retries): this stack only
    except (BotoCoreError, ResponseParserError) as e:
        stack.detection, stack.detection_id = "ERROR", ""
        stack.reason = f"no usable answer from AWS: {one_line(e)[:300]}"


def _start(aws: Aws, stack: StackDrift) -> None:
    stack.detection_id = aws.cfn.detect_stack_drift(StackName=stack.stack_id)["StackDriftDetectionId"]


def _wait(aws: Aws, pool: ThreadPoolExecutor, pending: list[StackDrift], poller: Poller,
          update: Callable[[str], None]) -> None:
    """Poll every running detection each round (concurrently) until none is in progress."""
    started = poller.clock()
    total = len(pending)
    for delay in poller.intervals():
        if not pending:
            return
        update(f"detecting drift: {total - len(pending)} of {total} stack(s) done")
        poller.wait(delay)
        list(pool.map(lambda s: _guarded(s, lambda: _status(aws, s)), pending))
        pending = [s for s in pending if s.detection_id and not s.detection]
        if pending and poller.clock() - started > DETECTION_TIMEOUT:
            for s in pending:
                s.detection, s.reason, s.detection_id = ("ERROR", f"still in progress after {DETECTION_TIMEOUT:.0f} s",
                                                         "")
            return


def _status(aws: Aws, stack: StackDrift) -> None:
    status = aws.cfn.describe_stack_drift_detection_status(StackDriftDetectionId=stack.detection_id)
    if status["DetectionStatus"] == "DETECTION_IN_PROGRESS":
        return
    stack.detection = status["DetectionStatus"]
    if stack.detection == "DETECTION_FAILED":
        stack.reason = status.get("DetectionStatusReason", "") or "CloudFormation gave no reason"


def _read(aws: Aws, stack: StackDrift, target: _Target, filters: tuple[str, ...] = ()) -> None:
    """Every StackResourceDrift of the latest detection (all pages), plus NOT_CHECKED for what the answer omits."""
    seen: dict[str, Resource] = {}
    token = None
    while True:
        kwargs = {"StackName": stack.stack_id, **({"NextToken": token} if token else {}),
                  **({"StackResourceDriftStatusFilters": list(filters)} if filters else {})}
        page = aws.cfn.describe_stack_resource_drifts(**kwargs)
        for d in page["StackResourceDrifts"]:
            if d["ResourceType"] == STACK_TYPE and d["StackResourceDriftStatus"] == "NOT_CHECKED":
                continue  # a nested stack: its resources are detected in its own right and listed under it
            seen[d["LogicalResourceId"]] = _resource(stack.path, d)
        token = page.get("NextToken")
        if not token:
            break
    if not filters:
        for r in target.inventory:
            if r["LogicalResourceId"] not in seen and r["ResourceType"] != STACK_TYPE:
                seen[r["LogicalResourceId"]] = Resource(
                    r["LogicalResourceId"], r["ResourceType"], "NOT_CHECKED", r.get("PhysicalResourceId", ""),
                    stateful=_stateful(stack.path, r["LogicalResourceId"]),
                    reason="no result: this stack's detection failed" if stack.detection == "DETECTION_FAILED" else
                    "CloudFormation drift detection does not support this type (or this resource was skipped)")
    stack.resources = [seen[k] for k in sorted(seen)]


def _recheck(aws: Aws, stack: StackDrift, target: _Target, logical_ids: set[str]) -> None:
    """``apply``: the resources a plan found drifted, detected again one by one (DetectStackResourceDrift answers
    synchronously with one StackResourceDrift)."""
    def run() -> None:
        found = []
        present = {r["LogicalResourceId"] for r in target.inventory}
        for logical in sorted(logical_ids & present):
            d = aws.cfn.detect_stack_resource_drift(StackName=stack.stack_id, LogicalResourceId=logical)
            found.append(_resource(stack.path, d["StackResourceDrift"]))
        stack.resources = found
        stack.detection = "DETECTION_COMPLETE"
    _guarded(stack, run)


def _resource(path: tuple[str, ...], d: dict) -> Resource:
    status = d["StackResourceDriftStatus"]
    expected = None
    if d.get("ExpectedProperties"):
        try:
            expected = json.loads(d["ExpectedProperties"])
        except ValueError:
            expected = None
    differences = [Difference(x["PropertyPath"], x.get("ExpectedValue"), x.get("ActualValue"), x["DifferenceType"],
                              security=bool(SECURITY_PROPERTIES.match(x["PropertyPath"])))
                   for x in d.get("PropertyDifferences", []) or []]
    reason = d.get("DriftStatusReason", "")
    if status == "UNSUPPORTED":  # newer API value: a resource drift detection cannot check
        status, reason = "NOT_CHECKED", reason or "CloudFormation drift detection does not support this resource"
    if status == "NOT_CHECKED" and not reason:
        reason = "CloudFormation did not check this resource (type not supported, or skipped in a rollback)"
    return Resource(d["LogicalResourceId"], d["ResourceType"], status, d.get("PhysicalResourceId", ""),
                    sorted(differences, key=lambda x: x.path), _stateful(path, d["LogicalResourceId"]), reason,
                    expected)


def _stateful(path: tuple[str, ...], logical_id: str) -> bool:
    return bool(path) and logical_id in STATEFUL.get(path[-1], ())


def _rule_resources(stacks: list[StackDrift]) -> set[tuple]:
    """(group id, protocol, from, to, peer) of every separate SecurityGroupIngress/Egress resource checked."""
    rules = set()
    for s in stacks:
        for r in s.resources:
            if r.type in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress") and r.expected:
                rules.add((str(r.expected.get("GroupId", "")), *_rule_key(r.expected)))
    return rules


def _classify(resource: Resource, rules: set[tuple]) -> None:
    """Mark known false positives; a MODIFIED resource whose every difference is one becomes IGNORED."""
    if resource.status != "MODIFIED":
        return
    for d in resource.differences:
        known = next((fp for fp in KNOWN_FALSE_POSITIVES if fp.matches(resource, d, rules)), None)
        if known:
            d.ignored = f"{known.reason} ({known.source})"
    if resource.differences and all(d.ignored for d in resource.differences):
        resource.status = "IGNORED"


# --- guidance -----------------------------------------------------------------------------------------------------


def guidance(r: Resource) -> str:
    """What to do about one drift. CloudFormation does not reconcile drift: an update that leaves the property
    unchanged in the template does not touch the resource, so the next apply does not fix it."""
    if r.status == "DELETED":
        if r.stateful:
            return ("stateful and gone: restore it from the backup vault (or its retained copy) and bring it back "
                    "under the stack with a resource import; do not let an update create an empty one")
        return ("re-create: an update cannot repair a deleted resource; remove it from the template in one apply and "
                "add it back in the next (or give it a new logical id)")
    if r.status == "MODIFIED":
        if r.security:
            return ("security-relevant: revert it by hand to the expected value now (access changed outside review), "
                    "or, if the change is wanted, put it in the template and plan; then run drift again")
        if r.stateful:
            return ("stateful: revert it by hand, or change the template to match and plan; never re-create it "
                    "(that loses its data)")
        return ("revert it by hand to the expected value, or change the template to match and plan: an apply that "
                "leaves this property unchanged in the template does not reset it")
    return ""


# --- renderings ---------------------------------------------------------------------------------------------------


def summary_text(report: Report) -> str:
    c = report.counts()
    ignored = sum(1 for s in report.stacks for r in s.resources for d in r.differences if d.ignored)
    in_sync = c["inSync"] + c["ignored"]  # a resource whose every difference is a known false positive is in sync
    text = (f"{len(report.stacks)} stack(s): {c['modified']} modified, {c['deleted']} deleted, {in_sync} in sync, "
            f"{c['notChecked']} not checked")
    if c["unknown"]:
        text += f", {c['unknown']} unknown"
    if ignored:
        text += f"; {ignored} known false positive(s) ignored"
    if c["failedStacks"]:
        text += f"; detection failed on {c['failedStacks']} stack(s) (drift there is unknown)"
    return text


def show(report: Report, out: Out, heading: bool = True) -> None:
    """The terminal view: per stack its drifted, ignored and not-checked resources (in-sync ones by name), then the
    summary."""
    title = f"Drift for {report.stack_name}"
    if heading:
        out.heading(title)
    else:
        out.line(f"{title}:", "bold")
    for s in report.stacks:
        _show_stack(s, out)
    style = "bold green" if report.ok else "bold red"
    out.line(f"Drift summary: {summary_text(report)}", style)
    if not report.ok:
        out.line("  CloudFormation does not reconcile drift: an apply that leaves a drifted property unchanged in the "
                 "template does not reset it (see 'what to do' above)", "bold")


def _show_stack(s: StackDrift, out: Out) -> None:
    head = f"{s.label} ({s.stack_name})"
    if s.failed:
        out.line(f"{head}: DETECTION FAILED: {s.reason}", "bold red")
    listed = [r for r in s.resources if r.status != "IN_SYNC"]
    in_sync = [r.logical_id for r in s.resources if r.status == "IN_SYNC"]
    if not s.failed:
        out.line(f"{head}: {'in sync' if not listed else f'{len(listed)} to look at'}", "bold")
    if out.rich and listed:
        out.table("", ["", "Resource", "Type", "Status", "Differences", "What to do"],
                  [[SYMBOL.get(r.status, "?"), r.logical_id, r.type, _flags(r), _notes(r), guidance(r)]
                   for r in listed])
    for r in listed if not out.rich else ():
        out.line(f"  {SYMBOL.get(r.status, '?')} {r.logical_id}  {r.type}  {_flags(r)}",
                 "bold red" if r.drifted else "")
        for d in r.differences:
            out.line(f"      {_difference_line(d)}")
        if r.status in ("NOT_CHECKED", "UNKNOWN") and r.reason:
            out.line(f"      {r.status.lower().replace('_', ' ')}: {r.reason}", "dim")
        if guidance(r):
            out.line(f"      what to do: {guidance(r)}", "yellow")
    if in_sync:
        out.line(f"  in sync: {', '.join(in_sync)}", "green")


def _flags(r: Resource) -> str:
    status = "ignored (known false positive)" if r.status == "IGNORED" else r.status
    flags = [f for f, on in (("SECURITY", r.drifted and r.security), ("STATEFUL", r.stateful and r.drifted)) if on]
    return " ".join([status, *flags])


def _notes(r: Resource) -> str:
    lines = [_difference_line(d) for d in r.differences]
    if r.status in ("NOT_CHECKED", "UNKNOWN") and r.reason:
        lines.append(f"{r.status.lower().replace('_', ' ')}: {r.reason}")
    return "\n".join(lines)


def _difference_line(d: Difference) -> str:
    line = str(d) + ("  SECURITY" if d.security and not d.ignored else "")
    return f"{line}  ignored: {d.ignored}" if d.ignored else line


def as_json(report: Report) -> dict:
    return {
        "checked": True, "stackName": report.stack_name, "ok": report.ok, "summary": report.counts(),
        "stacks": [{
            "path": s.label, "stackName": s.stack_name, "stackId": s.stack_id, "detectionStatus": s.detection,
            "reason": s.reason or None,
            "resources": [{
                "logicalId": r.logical_id, "type": r.type, "physicalId": r.physical_id or None, "status": r.status,
                "stateful": r.stateful, "security": r.security, "reason": r.reason or None,
                "guidance": guidance(r) or None,
                "differences": [{"path": d.path, "expected": d.expected, "actual": d.actual, "type": d.kind,
                                 "security": d.security, "ignored": d.ignored or None} for d in r.differences],
            } for r in s.resources],
        } for s in report.stacks],
    }


def json_text(report: Report) -> str:
    return json.dumps(as_json(report), indent=2, sort_keys=True) + "\n"


def markdown(report: Report) -> str:
    return "\n".join(_md_body(report, "###")).rstrip() + "\n"


def _md_body(report: Report, level: str) -> list[str]:
    lines = [f"{level} Drift for {md_code(report.stack_name)}", "", f"**{md_text(summary_text(report))}**.", ""]
    if report.failed:
        lines += ["> [!CAUTION]", "> **Detection failed**: the drift of these stacks is unknown."]
        lines += [f"> - {md_code(s.label)}: {md_text(s.reason)}" for s in report.failed] + [""]
    if report.drifted:
        lines += ["> [!WARNING]", "> **Drift**: CloudFormation does not reconcile it; an apply that leaves the "
                                  "property unchanged in the template does not reset it."]
        lines += [f"> - {md_code(s.label + '/' + r.logical_id)} {md_code(r.type)}: {md_text(_flags(r))}"
                  for s, r in report.drifted] + [""]
    rows = [(s, r) for s in report.stacks for r in s.resources if r.status != "IN_SYNC"]
    if rows:
        table = ["| Stack | Resource | Type | Status | Differences | What to do |", "|---|---|---|---|---|---|"]
        for s, r in rows:
            diffs = "<br>".join(f"{md_code(d.path)}: {md_value(d.expected)} -> {md_value(d.actual)} ({md_text(d.kind)})"
                                + (" **security**" if d.security and not d.ignored else "")
                                + (f" ignored: {md_text(d.ignored)}" if d.ignored else "") for d in r.differences)
            if r.status == "NOT_CHECKED":
                diffs = f"not checked: {md_text(r.reason)}"
            table.append(f"| {md_code(s.label)} | {md_code(r.logical_id)} | {md_code(r.type)} | "
                         f"{md_text(_flags(r))} | {diffs} | "
                         f"{md_text(guidance(r))} |")
        lines += _md_fold(f"{len(rows)} resources to look at", table)
    in_sync = sum(1 for s in report.stacks for r in s.resources if r.status == "IN_SYNC")
    lines += [f"{in_sync} resource(s) in sync. Drift detection compares only the properties the templates set.", ""]
    return lines


# --- the command --------------------------------------------------------------------------------------------------


def write(report: Report, json_file, markdown_file) -> None:
    for path, render in ((json_file, json_text), (markdown_file, markdown)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(report), encoding="utf-8")
