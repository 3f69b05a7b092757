"""Simulated permissions: would the CloudFormation execution role (``plan --role-arn``) be allowed what the deploy
makes CloudFormation do? Asked of IAM itself with ``iam:SimulatePrincipalPolicy`` before any change set exists.

Which types: those of the templates about to be deployed (every nested template, the ``ci`` stack's too). Preflight
runs before the change set exists, so the change set's own list is not there yet; the templates' types are a
superset of what any change set of them touches, and a create that fails halfway rolls back through the delete
handlers of whatever it had made, so every type's permissions matter even for a small change.

Which actions per type: the registry handler permissions (``handlers.{create,read,update,delete}.permissions`` of
the type's schema, as cfn-lint ships them) within the type's own service, plus ``iam:PassRole`` for the roles the
templates pass (task roles to ECS, the backup role to AWS Backup, the execution role to CloudFormation for the nested
stacks). Cross-service entries of a handler list depend on properties we do not set (KMS keys, log delivery): left
out, and so are own-service actions for a feature the template does not set (``FEATURE_ACTIONS``: a log group's data
protection policy, a managed policy's groups and users). The delete handler is left out for a resource that is
``Retain`` on both deletion and replacement: CloudFormation never calls it (``RetainExceptOnCreate`` deletes on a
rolled-back create, so its delete is simulated).

Which resources: the ARNs the templates imply, from params (account, region, stack name, fixed names); where
CloudFormation generates the name, the pattern the role grants (``role/<root>-*``, ``log-group:<name>:*``).

Context entries: the condition keys of the execution role's policies (read from the rendered ``ci`` template; all we
know how to fill when the environment has no ci stack), with the values the templates imply.

IAM API Reference, SimulatePrincipalPolicy: request ``PolicySourceArn``, ``ActionNames``, ``ResourceArns``,
``ContextEntries`` (``ContextKeyName``, ``ContextKeyValues``, ``ContextKeyType``), paginated by ``Marker``/``IsTruncated``;
"each operation is evaluated for each resource", so one call per resource group keeps nonsense pairs out. The
response's ``EvaluationResults`` carry ``EvalActionName``, ``EvalResourceName``, ``EvalDecision`` (``allowed``,
``explicitDeny``, ``implicitDeny``), ``MatchedStatements`` and ``MissingContextValues``; the simulator may return one
result per action with the per-resource decisions in ``ResourceSpecificResults`` (``EvalResourceName``,
``EvalResourceDecision``, ``MissingContextValues``), which is read when present. A missing context value is a WARN (the
simulation could not decide), a denial a BLOCK. Sources: the IAM API Reference's SimulatePrincipalPolicy and
EvaluationResult pages (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html; the AWS
CLI's ``simulate-principal-policy`` reference repeats them), and the boto3 reference's EvaluationResult note: "The
simulator now returns a single EvaluationResult per action, regardless of how many resource ARNs are provided ... To
see the decision for each individual resource, use ResourceSpecificResults."
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

from templates.ci import GITHUB_OIDC_HOST
from templates._common import role_path
from templates.iam import Out, role_name

CALLS_AT_ONCE = 4  # IAM throttles its control plane per account; botocore retries what it throttles
EXECUTION_ROLE = "CloudFormationExecutionRole"
# Handler actions for a feature the resource's properties switch on: asked only when the template sets that property
# (the handler calls them for it alone; the action is named after the property's API in the type's reference).
# type -> {action: property}; None: never asked (the handler calls it only to remove what no template of ours sets).
FEATURE_ACTIONS: dict[str, dict[str, str | None]] = {
    "AWS::Backup::BackupVault": {
        "backup:PutBackupVaultAccessPolicy": "AccessPolicy", "backup:DeleteBackupVaultAccessPolicy": "AccessPolicy",
        "backup:PutBackupVaultLockConfiguration": "LockConfiguration",
        "backup:DeleteBackupVaultLockConfiguration": "LockConfiguration",
        "backup:PutBackupVaultNotifications": "Notifications", "backup:DeleteBackupVaultNotifications": "Notifications"},
    "AWS::EFS::FileSystem": {"elasticfilesystem:CreateReplicationConfiguration": "ReplicationConfiguration",
                             "elasticfilesystem:DeleteReplicationConfiguration": "ReplicationConfiguration"},
    "AWS::ElasticLoadBalancingV2::LoadBalancer": {"elasticloadbalancing:ModifyIpPools": "Ipv4IpamPoolId"},
    "AWS::IAM::ManagedPolicy": {"iam:AttachGroupPolicy": "Groups", "iam:DetachGroupPolicy": "Groups",
                                "iam:AttachUserPolicy": "Users", "iam:DetachUserPolicy": "Users"},
    "AWS::IAM::Role": {"iam:PutRolePermissionsBoundary": "PermissionsBoundary",
                       "iam:DeleteRolePermissionsBoundary": None},
    "AWS::Logs::LogGroup": {
        "logs:PutDataProtectionPolicy": "DataProtectionPolicy", "logs:CreateLogDelivery": "DataProtectionPolicy",
        "logs:AssociateKmsKey": "KmsKeyId", "logs:DisassociateKmsKey": "KmsKeyId",
        "logs:PutResourcePolicy": "ResourcePolicyDocument", "logs:DeleteResourcePolicy": "ResourcePolicyDocument",
        "logs:PutIndexPolicy": "FieldIndexPolicies", "logs:DeleteIndexPolicy": "FieldIndexPolicies",
        "logs:PutBearerTokenAuthentication": "BearerTokenAuthenticationEnabled",
        "logs:PutLogGroupDeletionProtection": "DeletionProtectionEnabled"},
    "AWS::SNS::Topic": {"sns:PutDataProtectionPolicy": "DataProtectionPolicy"},
}

# type -> (the service the role is passed to, the identity stack's roles it passes: templates/iam.py Out)
PASSED_TO = {"AWS::ECS::TaskDefinition": ("ecs-tasks.amazonaws.com", ("TaskRoleArn", "ExecutionRoleArn")),
             "AWS::Backup::BackupSelection": ("backup.amazonaws.com", ("BackupRoleArn",))}


@dataclass(frozen=True)
class Probe:
    """One SimulatePrincipalPolicy request: these actions on each of these resources, with this context."""

    resources: tuple[str, ...]
    actions: tuple[str, ...]
    context: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (key, type, values)

    def request(self, role_arn: str) -> dict:
        req = {"PolicySourceArn": role_arn, "ActionNames": list(self.actions), "ResourceArns": list(self.resources)}
        if self.context:
            req["ContextEntries"] = [{"ContextKeyName": k, "ContextKeyValues": list(v), "ContextKeyType": t}
                                     for k, t, v in self.context]
        return req


@dataclass(frozen=True)
class Finding:
    action: str
    resource: str
    decision: str
    missing: tuple[str, ...] = ()
    statements: tuple[str, ...] = ()


# --- what to ask ---------------------------------------------------------------------------------------------------


@cache
def handler_actions(type_: str, delete: bool = True) -> tuple[str, ...]:
    """What the execution role must grant for the type (``checks/execution_role.required``: its own services'
    handler permissions, the documented dependent actions, less what is withheld on purpose); without ``delete``,
    less the delete handler's own actions (a resource Retain on delete and on replacement is never deleted)."""
    from checks.execution_role import handler_permissions, required

    actions = set(required(type_))
    if not delete:
        actions -= handler_permissions(type_, ("delete",)) - handler_permissions(type_, ("create", "read", "update"))
    return tuple(sorted(actions))


def _asked(type_: str, resource: dict) -> tuple[str, ...]:
    props = resource.get("Properties", {})
    gated = FEATURE_ACTIONS.get(type_, {})
    return tuple(a for a in handler_actions(type_, delete=not _retained(resource))
                 if a not in gated or (gated[a] is not None and gated[a] in props))


def _retained(resource: dict) -> bool:
    return resource.get("DeletionPolicy") == "Retain" and resource.get("UpdateReplacePolicy") == "Retain"


def condition_keys(templates: dict[str, dict]) -> set[str] | None:
    """The condition keys of the execution role's policies in the rendered identity template (None: no CI deploy)."""
    identity = templates.get("identity", {}).get("Resources", {})
    if EXECUTION_ROLE not in identity:
        return None
    keys: set[str] = set()
    for r in identity.values():
        doc = r.get("Properties", {}).get("PolicyDocument") if r["Type"] == "AWS::IAM::ManagedPolicy" else None
        for s in (doc or {}).get("Statement", []):
            for values in s.get("Condition", {}).values():
                keys |= set(values)
    return keys


def probes(p, templates: dict[str, dict], account: str, partition: str, role_arn: str) -> tuple[list[Probe], list[str]]:
    """The requests to make (merged by resources and context) and the types no ARN rule covers."""
    arns = _Arns(p, account, partition)
    wanted: dict[tuple, set[str]] = {}
    unmapped: set[str] = set()
    keys = condition_keys(templates)

    def add(resources, actions, context=()):
        context = tuple(c for c in context if keys is None or c[0] in keys)
        if actions:
            wanted.setdefault((tuple(resources), context), set()).update(actions)

    for name, t in templates.items():
        if name == "identity":  # deployed by an operator's own credentials, never through the execution role
            continue
        for r in t.get("Resources", {}).values():
            type_, props = r["Type"], r.get("Properties", {})
            resources = arns.of(type_, props)
            if resources is None:
                unmapped.add(type_)
                continue
            add(resources, _asked(type_, r), arns.context(type_, props))
            if type_ in PASSED_TO:
                service, roles = PASSED_TO[type_]
                add(tuple(arns.arn("iam", f"role{role_path(p)}{role_name(p, Out(r))}", region=False) for r in roles),
                    ("iam:PassRole",), (("iam:PassedToService", "string", (service,)),))
            if type_ == "AWS::CloudFormation::Stack":  # nested stacks run under the parent's role: it is passed on
                add((role_arn,), ("iam:PassRole",), (("iam:PassedToService", "string", ("cloudformation.amazonaws.com",)),))
            if type_ == "AWS::IAM::Role":
                for policy in props.get("ManagedPolicyArns", []):
                    policy_arn = arns.policy(policy)
                    add((arns.arn("iam", f"role/{p.stack_name}-*", region=False),),
                        ("iam:AttachRolePolicy", "iam:DetachRolePolicy"), (("iam:PolicyARN", "string", (policy_arn,)),))
    # then one call for the resources that need the same actions in the same context (the alarms, say)
    merged: dict[tuple, set[str]] = {}
    for (resources, context), actions in wanted.items():
        merged.setdefault((tuple(sorted(actions)), context), set()).update(resources)
    out = [Probe(tuple(sorted(res)), acts, ctx) for (acts, ctx), res in merged.items()]
    return sorted(out, key=lambda x: (x.resources, x.actions, x.context)), sorted(unmapped)


class _Arns:
    """The ARNs the templates imply, from params; CloudFormation-generated names as the pattern the role grants."""

    def __init__(self, p, account: str, partition: str):
        self.p, self.account, self.partition = p, account, partition

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.p.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    def policy(self, value) -> str:
        """A ManagedPolicyArns entry: a literal ARN (AWS managed) or a Ref to one of ours (generated name)."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            return value["Fn::Sub"].replace("${AWS::Partition}", self.partition).replace(
                "${AWS::AccountId}", self.account).replace("${AWS::Region}", self.p.region)
        return self.arn("iam", f"policy/{self.p.stack_name}-*", region=False)

    def of(self, type_: str, props: dict) -> tuple[str, ...] | None:
        p, root = self.p, self.p.stack_name
        cluster = p.cluster.name or f"{root}-*"
        a = self.arn
        rules = {
            "AWS::Backup::BackupPlan": lambda: (a("backup", "backup-plan:*"),),
            "AWS::Backup::BackupSelection": lambda: (a("backup", "backup-plan:*"),),
            "AWS::Backup::BackupVault": lambda: (a("backup", f"backup-vault:{root}-*"),),
            "AWS::CertificateManager::Certificate": lambda: (a("acm", "certificate/*"),),
            "AWS::CloudFormation::Stack": lambda: (a("cloudformation", f"stack/{root}-*/*"),),
            "AWS::CloudWatch::Alarm": lambda: (a("cloudwatch", f"alarm:{_literal(props, 'AlarmName', root + '-*')}"),),
            "AWS::CloudWatch::Dashboard": lambda: (a("cloudwatch", f"dashboard/{_literal(props, 'DashboardName', root + '-*')}",
                                                     region=False),),
            "AWS::EC2::InternetGateway": lambda: (a("ec2", "internet-gateway/*"),),
            "AWS::EC2::Route": lambda: (a("ec2", "route-table/*"),),
            "AWS::EC2::RouteTable": lambda: (a("ec2", "route-table/*"),),
            "AWS::EC2::SecurityGroup": lambda: (a("ec2", "security-group/*"),),
            "AWS::EC2::SecurityGroupEgress": lambda: (a("ec2", "security-group/*"),),
            "AWS::EC2::SecurityGroupIngress": lambda: (a("ec2", "security-group/*"),),
            "AWS::EC2::Subnet": lambda: (a("ec2", "subnet/*"),),
            "AWS::EC2::SubnetRouteTableAssociation": lambda: (a("ec2", "route-table/*"),),
            "AWS::EC2::VPC": lambda: (a("ec2", "vpc/*"),),
            "AWS::EC2::VPCGatewayAttachment": lambda: (a("ec2", "internet-gateway/*"),),
            "AWS::ECR::Repository": lambda: (a("ecr", f"repository/{p.image.repository}"),),
            "AWS::ECS::Cluster": lambda: (a("ecs", f"cluster/{cluster}"),),
            "AWS::ECS::Service": lambda: (a("ecs", f"service/{cluster}/{p.task.family}"),),
            "AWS::ECS::TaskDefinition": lambda: (a("ecs", f"task-definition/{p.task.family}:*"),),
            "AWS::EFS::AccessPoint": lambda: (a("elasticfilesystem", "access-point/*"),),
            "AWS::EFS::FileSystem": lambda: (a("elasticfilesystem", "file-system/*"),),
            "AWS::EFS::MountTarget": lambda: (a("elasticfilesystem", "file-system/*"),),
            "AWS::ElasticLoadBalancingV2::Listener": lambda: (a("elasticloadbalancing", "listener/app/*"),),
            "AWS::ElasticLoadBalancingV2::LoadBalancer": lambda: (a("elasticloadbalancing", "loadbalancer/app/*"),),
            "AWS::ElasticLoadBalancingV2::TargetGroup": lambda: (a("elasticloadbalancing", "targetgroup/*"),),
            "AWS::IAM::ManagedPolicy": lambda: (a("iam", f"policy{role_path(p)}{root}-*", region=False),),
            "AWS::IAM::OIDCProvider": lambda: (a("iam", f"oidc-provider/{GITHUB_OIDC_HOST}", region=False),),
            # app roles and policies live under /<app>/<env>/ (templates/_common.role_path), out of the ci roles' reach
            "AWS::IAM::Role": lambda: (a("iam", f"role{role_path(p)}{root}-*", region=False),),
            "AWS::Logs::LogGroup": lambda: (a("logs", f"log-group:{p.logs.group_name}"),
                                            a("logs", f"log-group:{p.logs.group_name}:*")),
            "AWS::Route53::RecordSet": lambda: (a("route53", f"hostedzone/{p.domain.hosted_zone_id}", region=False,
                                                  account=False),),
            # the ALB access log bucket: a name CloudFormation generates from the nested stack's, lower case
            "AWS::S3::Bucket": lambda: (a("s3", f"{root.lower()}-*", region=False, account=False),),
            "AWS::S3::BucketPolicy": lambda: (a("s3", f"{root.lower()}-*", region=False, account=False),),
            "AWS::SNS::Subscription": lambda: (a("sns", f"{root}-*"),),
            "AWS::SNS::Topic": lambda: (a("sns", f"{root}-*"),),
            "AWS::SNS::TopicPolicy": lambda: (a("sns", f"{root}-*"),),
            # a generated secret's ARN is its name and a hyphen and six random characters (Secrets Manager User Guide)
            "AWS::SecretsManager::Secret": lambda: (a("secretsmanager", f"secret:{_literal(props, 'Name', root + '-*')}-??????"),),
        }
        rule = rules.get(type_)
        return rule() if rule else None

    def context(self, type_: str, props: dict) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        p = self.p
        if type_.startswith("AWS::EC2::SecurityGroup") and not p.network.creates_vpc:
            return (("ec2:Vpc", "string", (self.arn("ec2", f"vpc/{p.network.vpc_id}"),)),)
        if type_ == "AWS::EFS::FileSystem":
            return (("elasticfilesystem:Encrypted", "boolean", (str(props.get("Encrypted") is True).lower(),)),)
        if type_ == "AWS::CertificateManager::Certificate":
            names = [n for n in [props.get("DomainName"), *props.get("SubjectAlternativeNames", [])] if isinstance(n, str)]
            return (("acm:DomainNames", "stringList", tuple(names)),
                    ("acm:ValidationMethod", "string", (str(props.get("ValidationMethod", "EMAIL")),)))
        if type_ == "AWS::Route53::RecordSet" and isinstance(props.get("Name"), str):
            # Route 53 Developer Guide: normalized names are lower case without the trailing dot
            return (("route53:ChangeResourceRecordSetsNormalizedRecordNames", "stringList",
                     (props["Name"].lower().rstrip("."),)),)
        return ()


def _literal(props: dict, key: str, pattern: str) -> str:
    value = props.get(key)
    return value if isinstance(value, str) else pattern


# --- asking --------------------------------------------------------------------------------------------------------


def simulate(iam, role_arn: str, asked: list[Probe]) -> list[Finding]:
    """Every probe (bounded concurrency), every page; the per-resource decisions."""
    def one(probe: Probe) -> list[Finding]:
        found = []
        for page in iam.get_paginator("simulate_principal_policy").paginate(**probe.request(role_arn)):
            for r in page.get("EvaluationResults", []):
                found += _findings(r)
        return found

    with ThreadPoolExecutor(max_workers=CALLS_AT_ONCE) as pool:
        return [f for found in pool.map(one, asked) for f in found]


def _findings(result: dict) -> list[Finding]:
    action = result["EvalActionName"]
    per_resource = result.get("ResourceSpecificResults") or []
    if per_resource:
        return [Finding(action, r["EvalResourceName"], r["EvalResourceDecision"], tuple(r.get("MissingContextValues", [])),
                        _sources(r)) for r in per_resource]
    return [Finding(action, result.get("EvalResourceName", "*"), result["EvalDecision"],
                    tuple(result.get("MissingContextValues", [])), _sources(result))]


def _sources(result: dict) -> tuple[str, ...]:
    return tuple(sorted({s.get("SourcePolicyId", "") for s in result.get("MatchedStatements", [])} - {""}))


def request_json(probe: Probe, role_arn: str) -> str:
    return json.dumps(probe.request(role_arn), sort_keys=True)


__all__ = ["Probe", "Finding", "probes", "simulate", "handler_actions", "condition_keys"]
