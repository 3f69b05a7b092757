"""The ECS cluster, the log group both containers write to, and (dev) the app's ECR repository.

The log group keeps the seed's name ``/ecs/wwhd-backend`` (operators and runbooks use it) with a retention period;
logs are not kept when the stack goes. The ECR repository, when this environment creates it, is retained: it holds
the images every task definition revision points at. Not otherwise stateful.
"""

from __future__ import annotations

import json
from enum import StrEnum

from troposphere import GetAtt, Ref, Template, ecr, ecs, logs

from ._common import disposable, new_template, outputs, retain_except_on_create, scan_ignore, tags
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
    # Logs go with the stack: keeping a named group would make the next create of this stack fail on the name.
    group = t.add_resource(scan_ignore(disposable(logs.LogGroup(
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
    return t.add_resource(ecs.Cluster(
        "Cluster",
        CapacityProviders=["FARGATE", "FARGATE_SPOT"],
        DefaultCapacityProviderStrategy=[ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE", Weight=1)],
        ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value=p.cluster.container_insights)],
        Tags=tags(p, COMPONENT),
        **optional,
    ))


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
