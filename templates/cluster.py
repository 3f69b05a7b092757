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

from troposphere import GetAtt, Ref, Template, ecr, ecs, logs

from ._common import disposable, new_template, outputs, retain, retain_except_on_create, scan_ignore, tags
from .config import EnvParams

COMPONENT = "cluster"
KEEP_IMAGES = 50


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
