"""Is the CloudFormation execution role complete? Computed from data, not from a hand list.

For every resource type in an environment's templates, CloudFormation's resource handlers call exactly the actions
the type's registry schema lists under ``handlers.{create,read,update,delete}.permissions``. cfn-lint ships those
schemas (``cfnlint/data/schemas``: ``providers/<region>.json`` names each type's file in ``resources/``); some old
cfn-lint releases stripped the handlers, so ``setup.cfg`` pins a floor that has them and a type without them fails
here, loudly, instead of passing with nothing required.

Required for each type: every handler permission within the type's own service(s) (``OWN_SERVICES``), plus the
documented dependent actions of ``DEPENDENT`` (what a service calls on the caller's behalf, each row with its AWS
source). Withheld on purpose (``WITHHELD``): the deletes of what is ``Retain`` for good (the file system, its access
points, the backup vault): CloudFormation never calls them, and a template that dropped the Retain would fail to
delete instead of losing data. Named stateful resources under ``RetainExceptOnCreate`` (secrets, the ECR
repository) are deleted by a rolled-back first create, so their deletes are required.

A required action is granted when some ``Allow`` statement of the execution role's policies names it (or a wildcard
matching it). An action the Service Authorization Reference lists without a resource type (``templates/_sar.py``)
must be granted on ``*``: AWS denies it on any ARN.

Some handler lists name API operations that are no IAM action (``s3:DeleteBucketCors`` is authorized by
``s3:PutBucketCORS``, ``backup-storage:Mount`` does not exist): IAM cannot grant them and cfn-lint warns (W3037) on a
policy that names them, so only actions cfn-lint's IAM action list (``AdditionalSpecs/Policies.json``) knows are
required; :func:`not_iam_actions` lists the rest.

Reading the schemas does not import cfn-lint (slow): the package's folder is found with ``importlib.util``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import json
import re
from functools import cache
from pathlib import Path

from templates._sar import STAR_ONLY

from .template_walk import Templates, listify

# Type namespace -> the IAM service prefixes that are "its own service".
OWN_SERVICES = {
    "Backup": ("backup", "backup-storage"),
    "CertificateManager": ("acm",),
    "CloudFormation": ("cloudformation",),
    "CloudWatch": ("cloudwatch",),
    "EC2": ("ec2",),
    "ECR": ("ecr",),
    "ECS": ("ecs",),
    "EFS": ("elasticfilesystem",),
    "ElasticLoadBalancingV2": ("elasticloadbalancing",),
    "IAM": ("iam",),
    "Logs": ("logs",),
    "Route53": ("route53",),
    "S3": ("s3",),
    "SecretsManager": ("secretsmanager",),
    "SNS": ("sns",),
}

# Actions a service calls on the caller's behalf that the registry handlers do not list. type -> (actions, source).
DEPENDENT: dict[str, tuple[tuple[str, ...], str]] = {
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (
        ("ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeInternetGateways",
         "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "iam:CreateServiceLinkedRole"),
        "Elastic Load Balancing User Guide, 'Elastic Load Balancing API permissions': CreateLoadBalancer (2015-12-01)",
    ),
    "AWS::ElasticLoadBalancingV2::TargetGroup": (
        ("ec2:DescribeInternetGateways", "ec2:DescribeVpcs"),
        "Elastic Load Balancing User Guide, 'Elastic Load Balancing API permissions': CreateTargetGroup",
    ),
    "AWS::CloudFormation::Stack": (
        ("cloudformation:CancelUpdateStack", "cloudformation:ContinueUpdateRollback"),
        "CloudFormation Template Reference, AWS::CloudFormation::Stack (a nested stack's update rolls back with "
        "CancelUpdateStack) and API Reference, ContinueUpdateRollback (run on the parent for its nested stacks)",
    ),
    # cross-service entries of the handlers' own lists, granted on purpose: a read of the roles they are given
    "AWS::ECS::TaskDefinition": (
        ("iam:GetRole",),
        "CloudFormation resource type schema of AWS::ECS::TaskDefinition (Template Reference; cfn-lint ships it): its "
        "handlers list iam:GetRole, a read of the task and execution roles",
    ),
    "AWS::Backup::BackupSelection": (
        ("iam:GetRole",),
        "CloudFormation resource type schema of AWS::Backup::BackupSelection (Template Reference; cfn-lint ships it): "
        "its handlers list iam:GetRole, a read of the backup role",
    ),
    "AWS::EFS::MountTarget": (
        ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
         "ec2:DescribeSubnets", "ec2:ModifyNetworkInterfaceAttribute"),
        "Amazon EFS API Reference, CreateMountTarget and DeleteMountTarget: required EC2 permissions",
    ),
}

WITHHELD = {
    "elasticfilesystem:DeleteFileSystem": "the file system is Retain: CloudFormation never deletes it",
    "elasticfilesystem:DeleteAccessPoint": "the access points are Retain: CloudFormation never deletes them",
    "s3:DeleteBucket": "the ALB access log bucket is Retain: CloudFormation never deletes it",
    # The AWS::S3::Bucket create handler lists it. Withheld: the access-log bucket holds the ALB's access logs, audit
    # evidence that a deploy identity must not be able to erase; they expire by the bucket's lifecycle. The bucket is
    # created empty, so a create has nothing to delete; whether the handler calls it anyway is one of the checks only
    # real AWS can answer (README "What the local server cannot rehearse").
    "s3:DeleteObject": "the access logs are audit evidence a deploy may not erase; they expire by lifecycle",
    "iam:DeleteRolePermissionsBoundary": "would lift the permissions boundary: never granted "
                                         "(templates/execution_role.py)",
    # The handler attaches a managed policy to the groups and users its template names; ours name roles only.
    "iam:AttachGroupPolicy": "the templates attach managed policies to roles only",
    "iam:AttachUserPolicy": "the templates attach managed policies to roles only",
    "iam:DetachGroupPolicy": "the templates attach managed policies to roles only",
    "iam:DetachUserPolicy": "the templates attach managed policies to roles only",
}

EXECUTION_ROLE = "CloudFormationExecutionRole"


class MissingHandlers(RuntimeError):
    """cfn-lint's schemas do not list a type's handler permissions: upgrade cfn-lint (``setup.cfg`` floor)."""


def _cfnlint_data() -> Path:
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:  # an install requirement (setup.cfg): never absent
        raise MissingHandlers("cfn-lint is not installed: pip install -e .")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@cache
def _schemas() -> tuple[Path, dict[str, str]]:
    root = _cfnlint_data() / "schemas"
    return root, json.loads((root / "providers" / "us-west-2.json").read_text(encoding="utf-8"))


@cache
def _iam_actions() -> dict[str, frozenset[str]]:
    """service prefix -> its IAM action names, lower case (cfn-lint's copy of the IAM policy reference)."""
    data = json.loads((_cfnlint_data() / "AdditionalSpecs" / "Policies.json").read_text(encoding="utf-8"))
    return {service: frozenset(v.get("Actions", {})) for service, v in data.items()}


def is_iam_action(action: str) -> bool:
    service, _, name = action.partition(":")
    return name.lower() in _iam_actions().get(service, frozenset())


def not_iam_actions(type_: str) -> list[str]:
    return sorted(a for a in handler_permissions(type_) if not is_iam_action(a))


@cache
def handler_permissions(type_: str, phases: tuple[str, ...] = ("create", "read", "update", "delete")) -> frozenset[str]:
    """The permissions the type's registry handlers of ``phases`` list (cfn-lint's schemas)."""
    root, index = _schemas()
    if type_ not in index:
        raise MissingHandlers(f"{type_}: no registry schema in cfn-lint's data")
    schema = json.loads((root / "resources" / f"{index[type_]}.json").read_text(encoding="utf-8"))
    handlers = schema.get("handlers") or {}
    perms = {a for h in phases for a in handlers.get(h, {}).get("permissions", [])}
    if not perms:
        raise MissingHandlers(f"{type_}: cfn-lint's schema lists no handler permissions (an old or stripped release)")
    return frozenset(perms)


def required(type_: str) -> dict[str, str]:
    """action -> why, for one resource type."""
    namespace = type_.split("::")[1]
    if namespace not in OWN_SERVICES:
        raise MissingHandlers(f"{type_}: add its service prefix to OWN_SERVICES in checks/execution_role.py")
    own = OWN_SERVICES[namespace]
    out = {a: f"{type_} handler" for a in handler_permissions(type_)
           if a.split(":")[0] in own and a not in WITHHELD and is_iam_action(a)}
    actions, source = DEPENDENT.get(type_, ((), ""))
    out.update({a: f"{type_}: {source}" for a in actions})
    return out


def execution_statements(templates: Templates) -> list[dict] | None:
    """The Allow statements of the execution role's managed policies (in the identity stack), or None when the
    environment has no CI deploy."""
    resources = templates.get("identity", {}).get("Resources", {})
    if EXECUTION_ROLE not in resources:
        return None
    role = resources[EXECUTION_ROLE]["Properties"]
    names = [ref["Ref"] for ref in role.get("ManagedPolicyArns", []) if isinstance(ref, dict) and "Ref" in ref]
    docs = [resources[n]["Properties"]["PolicyDocument"] for n in names]
    docs += [pol["PolicyDocument"] for pol in role.get("Policies", [])]
    return [s for d in docs for s in listify(d["Statement"]) if s.get("Effect") == "Allow"]


def types_used(templates: Templates) -> set[str]:
    """The resource types the execution role deploys: the app stacks' (the root and its children). The identity
    stack is an operator's, never the execution role's (templates/identity.py)."""
    return {r["Type"] for name, t in templates.items() if name != "identity"
            for r in t.get("Resources", {}).values()}


_CACHE: list[Path] = []  # set by use_cache(): where gaps() keeps its answers between builds


def use_cache(path: Path) -> None:
    """Keep gaps()' answers in ``path`` (``generate.py``: ``.cache/execution-role.json``): the answer depends only on
    the execution role's statements, the resource types and the cfn-lint release whose schemas it reads, and reading
    those schemas (about 60 ms) would otherwise be most of a build where nothing changed."""
    _CACHE[:] = [path]


def gaps(templates: Templates) -> list[str]:
    """What the execution role lacks for the environment's resource types (empty: complete, or no ci stack)."""
    statements = execution_statements(templates)
    if statements is None:
        return []
    if not _CACHE:
        return _gaps(templates, statements)
    from importlib.metadata import version

    key = hashlib.sha256(json.dumps([version("cfn-lint"), sorted(types_used(templates)), statements],
                                    sort_keys=True, default=str).encode()).hexdigest()
    try:
        cached = json.loads(_CACHE[0].read_text(encoding="utf-8"))
    except (OSError, ValueError):  # absent, unreadable or torn: answered anew
        cached = {}
    cached = cached if isinstance(cached, dict) else {}
    if isinstance(cached.get(key), list):
        return [str(x) for x in cached[key]]
    found = _gaps(templates, statements)
    kept = dict(list(cached.items())[-7:])  # the last few renderings (environments, branches), no more
    kept[key] = found
    try:
        _CACHE[0].parent.mkdir(parents=True, exist_ok=True)
        _CACHE[0].write_text(json.dumps(kept), encoding="utf-8")
    except OSError:
        pass  # a cache that cannot be written only costs the next build the 60 ms
    return found


def _gaps(templates: Templates, statements: list[dict]) -> list[str]:
    need: dict[str, str] = {}
    for type_ in sorted(types_used(templates)):
        need.update(required(type_))
    # one regular expression per statement (its Action patterns, as fnmatch translates them): each action is then one
    # match per statement, not one fnmatch per pattern (the build runs this guardrail on every environment)
    matchers = [re.compile("|".join(fnmatch.translate(a) for a in listify(s["Action"]))) for s in statements]
    problems = []
    for action, why in sorted(need.items()):
        on = [s for s, m in zip(statements, matchers, strict=True) if m.match(action)]
        if not on:
            problems.append(f"{action} is not granted ({why})")
        elif action in STAR_ONLY and not any("*" in listify(s["Resource"]) for s in on):
            problems.append(f"{action} is granted only on ARNs, but AWS authorizes it only on * ({why})")
    return problems
