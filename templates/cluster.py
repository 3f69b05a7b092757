"""The ECS cluster, the log group both containers write to, and (dev) the app's ECR repository.

The log group keeps the seed's name ``/ecs/wwhd-backend`` (operators and runbooks use it) with a retention period.
The ECR repository, when this environment creates it, is retained: it holds the images every task definition
revision points at. Not otherwise stateful.

In production the cluster and the log group are ``Retain``: production takes over the seed's hand-made ones with
``plan --adopt`` (``deploy/adopt.py``), and CloudFormation imports only resources whose DeletionPolicy is Retain or
RetainExceptOnCreate. Not RetainExceptOnCreate: AWS does not document whether a rolled-back create deletes a resource
that it *imported*, and Retain never deletes the seed's resources; a retry imports them again. Elsewhere logs and
cluster go with the stack (a kept named log group would make the next create of the stack fail on its name).
"""

from __future__ import annotations

import json
from enum import StrEnum

from awacs import ecr as ecr_actions, ecs as ecs_actions, logs as logs_actions
from awacs.aws import Allow, Statement
from troposphere import GetAtt, Ref, Template, ecr, ecs, logs

from ._arns import arn, cluster_arn, ecr_repository_arn
from ._common import disposable, new_template, outputs, retain, retain_except_on_create, scan_ignore, tags
from .config import EnvParams

COMPONENT = "cluster"
KEEP_IMAGES = 50
# The service-linked role ECS creates on first use in an account: (service principal, role name).
SERVICE_LINKED_ROLES = (("ecs.amazonaws.com", "AWSServiceRoleForECS"),)


class In(StrEnum):
    pass


class Out(StrEnum):
    ClusterName = "ClusterName"
    ClusterArn = "ClusterArn"
    LogGroupName = "LogGroupName"


def build(p: EnvParams) -> Template:
    t = new_template(p, "ECS cluster (Fargate), log group" + (", ECR repository" if p.image.create_repository else ""))
    cluster = _cluster(t, p)
    group = t.add_resource(scan_ignore(_kept_in_production(p, logs.LogGroup(
        "LogGroup", LogGroupName=p.logs.group_name, RetentionInDays=p.logs.retention_days, Tags=tags(p, COMPONENT),
    )), {
        "CKV_AWS_158": "CloudWatch Logs encrypts every log group at rest already; a CMK (~1 USD/month) would add "
                       "only key-level access control, and a key policy the logs service must be granted",
    }))
    if p.image.create_repository:
        _repository(t, p)
    outputs(t, {Out.ClusterName: Ref(cluster), Out.ClusterArn: GetAtt(cluster, "Arn"), Out.LogGroupName: Ref(group)})
    return t


def _cluster(t: Template, p: EnvParams) -> ecs.Cluster:
    optional = {"ClusterName": p.cluster.name} if p.cluster.name else {}
    cluster = ecs.Cluster(
        "Cluster",
        CapacityProviders=["FARGATE", "FARGATE_SPOT"],
        DefaultCapacityProviderStrategy=[ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE", Weight=1)],
        ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value=p.cluster.container_insights)],
        Tags=tags(p, COMPONENT),
        **optional,
    )
    return t.add_resource(_kept_in_production(p, cluster) if p.cluster.name else cluster)


ADOPT_REASON = ("production adopts the seed's resource of this name (plan --adopt): import needs Retain or "
                "RetainExceptOnCreate, and Retain never deletes the seed's resource, also when the create that "
                "imported it rolls back; the retry imports it again")


def _kept_in_production(p: EnvParams, resource):
    return retain(resource, reason=ADOPT_REASON) if p.production else disposable(resource)


def _repository(t: Template, p: EnvParams) -> ecr.Repository:
    lifecycle = {"rules": [{
        "rulePriority": 1, "description": f"keep the newest {KEEP_IMAGES} images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": KEEP_IMAGES},
        "action": {"type": "expire"},
    }]}
    return t.add_resource(scan_ignore(retain_except_on_create(ecr.Repository(
        "Repository",
        RepositoryName=p.image.repository,
        # A deploy names its image by tag; an immutable tag means the tag always names the same bytes.
        ImageTagMutability="IMMUTABLE",
        ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
        EncryptionConfiguration=ecr.EncryptionConfiguration(EncryptionType="AES256"),
        LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=json.dumps(lifecycle, sort_keys=True)),
        Tags=tags(p, COMPONENT),
    )), {
        "CKV_AWS_136": "AES256 encrypts the images at rest; KMS would add only key-level access control, and the "
                       "encryption setting is immutable (a change would replace this retained, named repository)",
    }))


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------
# Three lists, each in the managed policy of its kind: the cluster (with the service's ECS statements, which tag it
# too), the log group, the repository.


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """The cluster: its fixed name, or the name CloudFormation generates (``<root>-ClusterStack-...``)."""
    return [Statement(
        Sid="Cluster", Effect=Allow,
        Action=[ecs_actions.CreateCluster, ecs_actions.DeleteCluster, ecs_actions.DescribeClusters,
                ecs_actions.PutAccountSetting, ecs_actions.PutAccountSettingDefault,
                ecs_actions.PutClusterCapacityProviders, ecs_actions.UpdateCluster, ecs_actions.UpdateClusterSettings],
        Resource=[cluster_arn(p)],
    )]


def log_group_statements(p: EnvParams) -> list[Statement]:
    group = p.logs.group_name
    return [
        Statement(
            # These CloudWatch Logs Describe* actions have no resource-level permissions: "*".
            Sid="DescribeLogGroups", Effect=Allow,
            Action=[logs_actions.DescribeIndexPolicies, logs_actions.DescribeLogGroups,
                    logs_actions.DescribeResourcePolicies],
            Resource=["*"],
        ),
        Statement(
            Sid="LogGroup", Effect=Allow,
            Action=[logs_actions.AssociateKmsKey, logs_actions.CreateLogDelivery, logs_actions.CreateLogGroup,
                    logs_actions.DeleteDataProtectionPolicy, logs_actions.DeleteIndexPolicy,
                    logs_actions.DeleteLogGroup, logs_actions.DeleteResourcePolicy,
                    logs_actions.DeleteRetentionPolicy, logs_actions.DisassociateKmsKey,
                    logs_actions.GetDataProtectionPolicy, logs_actions.ListTagsForResource,
                    logs_actions.PutBearerTokenAuthentication, logs_actions.PutDataProtectionPolicy,
                    logs_actions.PutIndexPolicy, logs_actions.PutLogGroupDeletionProtection,
                    logs_actions.PutResourcePolicy, logs_actions.PutRetentionPolicy, logs_actions.TagResource,
                    logs_actions.UntagResource],
            Resource=[arn("logs", f"log-group:{group}"), arn("logs", f"log-group:{group}:*")],
        ),
    ]


def repository_statements(p: EnvParams) -> list[Statement]:
    """The app's repository, when this environment creates it."""
    if not p.image.create_repository:
        return []
    return [Statement(
        Sid="AppRepository", Effect=Allow,
        Action=[
            # DeleteRepository: RetainExceptOnCreate, so a rolled-back first create deletes the new repository.
            ecr_actions.CreateRepository, ecr_actions.DeleteLifecyclePolicy, ecr_actions.DeleteRepository,
            ecr_actions.DeleteRepositoryPolicy, ecr_actions.DescribeRepositories, ecr_actions.GetLifecyclePolicy,
            ecr_actions.GetRepositoryPolicy, ecr_actions.ListTagsForResource,
            ecr_actions.PutImageScanningConfiguration, ecr_actions.PutImageTagMutability,
            ecr_actions.PutLifecyclePolicy, ecr_actions.SetRepositoryPolicy, ecr_actions.TagResource,
            ecr_actions.UntagResource,
        ],
        Resource=[ecr_repository_arn(p)],
    )]
