"""The task's two IAM roles. Not stateful.

Which role does what (ECS Developer Guide, "Amazon ECS task execution IAM role" and "Task IAM role"):

* The **execution role** is used by the ECS agent / Fargate before and around the containers: it pulls the image from
  ECR, writes the ``awslogs`` streams, and reads the Secrets Manager secrets that ECS injects into a container's
  ``secrets`` ("Required IAM permissions for Amazon ECS secrets" names the execution role). So the secrets are read
  here, exactly those secrets, and nowhere else.
* The **task role** is what the application's own AWS calls use, and the identity EFS sees when the volume enables
  IAM authorization. It may mount and write the file system only through our two access points
  (``elasticfilesystem:AccessPointArn`` condition), plus the SSM channels ECS Exec needs when it is enabled.

The seed attached ``AmazonElasticFileSystemClientFullAccess`` to the execution role; it becomes the pinned task-role
statement below (the execution role never mounts EFS). The seed's task-role access to ``wwhd-dev/*`` secrets is
dropped: the app receives its secrets as environment variables and does not call Secrets Manager itself.

The task role's trust policy carries the confused-deputy conditions (``aws:SourceArn``, ``aws:SourceAccount``) that
the "Task IAM role" page shows; the execution role keeps the plain trust policy of "Amazon ECS task execution IAM
role", which documents no such conditions for the agent's use of the role.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import ecr, elasticfilesystem as efs, logs, secretsmanager, ssmmessages, sts
from awacs.aws import Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import GetAtt, Sub, Template, iam

from . import secrets
from ._common import (RESOURCE_STAR_ONLY, app_role, ecr_repository_arn, log_group_arn, new_template, outputs, param, scan_ignore,
                      tags)
from .config import EnvParams

COMPONENT = "iam"


class In(StrEnum):
    FileSystemArn = "FileSystemArn"
    AppAccessPointArn = "AppAccessPointArn"
    QdrantAccessPointArn = "QdrantAccessPointArn"
    # plus one <Name>SecretArn per generated secret (secrets.output_names)


class Out(StrEnum):
    ExecutionRoleArn = "ExecutionRoleArn"
    TaskRoleArn = "TaskRoleArn"


def build(p: EnvParams) -> Template:
    t = new_template(p, "ECS task execution role and task role")
    execution = _execution_role(t, p)
    task = _task_role(t, p)
    outputs(t, {Out.ExecutionRoleArn: GetAtt(execution, "Arn"), Out.TaskRoleArn: GetAtt(task, "Arn")})
    return t


def _ecs_tasks_trust(confused_deputy_guard: bool) -> PolicyDocument:
    extra = {}
    if confused_deputy_guard:
        extra["Condition"] = Condition([
            ArnLike("aws:SourceArn", Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*")),
            StringEquals("aws:SourceAccount", Sub("${AWS::AccountId}")),
        ])
    return PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", "ecs-tasks.amazonaws.com"), Action=[sts.AssumeRole], **extra,
    )])


def _execution_role(t: Template, p: EnvParams) -> iam.Role:
    statements = [
        # ecr:GetAuthorizationToken has no resource-level permissions (Service Authorization Reference): "*".
        Statement(Sid="EcrLogin", Effect=Allow, Action=[ecr.GetAuthorizationToken], Resource=["*"]),
        Statement(Sid="EcrPullAppImage", Effect=Allow,
                  Action=[ecr.BatchCheckLayerAvailability, ecr.BatchGetImage, ecr.GetDownloadUrlForLayer],
                  Resource=[ecr_repository_arn(p)]),
        Statement(Sid="WriteContainerLogs", Effect=Allow, Action=[logs.CreateLogStream, logs.PutLogEvents],
                  Resource=[log_group_arn(p)]),
    ]
    if p.secrets:
        statements.append(Statement(
            Sid="ReadInjectedSecrets", Effect=Allow, Action=[secretsmanager.GetSecretValue],
            Resource=[secrets.secret_policy_resource(t, p, var) for var in sorted(p.secrets)],
        ))
    return t.add_resource(iam.Role(
        "ExecutionRole",
        Description=f"{p.stack_name}: ECS agent pulls the image, writes logs, injects secrets",
        AssumeRolePolicyDocument=_ecs_tasks_trust(confused_deputy_guard=False),
        Policies=[iam.Policy(PolicyName="execution", PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))],
        Tags=tags(p, COMPONENT),
        **app_role(p),
    ))


def _task_role(t: Template, p: EnvParams) -> iam.Role:
    fs_arn = param(t, In.FileSystemArn, description="ARN of the EFS file system (storage stack).")
    access_points = [param(t, In.AppAccessPointArn), param(t, In.QdrantAccessPointArn)]
    statements = [Statement(
        Sid="MountDataThroughAccessPoints", Effect=Allow, Action=[efs.ClientMount, efs.ClientWrite],
        Resource=[fs_arn],
        Condition=Condition(StringEquals("elasticfilesystem:AccessPointArn", access_points)),
    )]
    if p.service.enable_execute_command:
        # ECS Exec: the SSM agent's channels. ssmmessages has no resource-level permissions: "*".
        statements.append(Statement(
            Sid="EcsExecChannels", Effect=Allow,
            Action=[ssmmessages.CreateControlChannel, ssmmessages.CreateDataChannel,
                    ssmmessages.OpenControlChannel, ssmmessages.OpenDataChannel],
            Resource=["*"],
        ))
    role = t.add_resource(iam.Role(
        "TaskRole",
        Description=f"{p.stack_name}: the app's own identity (EFS through the access points, ECS Exec)",
        AssumeRolePolicyDocument=_ecs_tasks_trust(confused_deputy_guard=True),
        Policies=[iam.Policy(PolicyName="task", PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))],
        Tags=tags(p, COMPONENT),
        **app_role(p),
    ))
    if p.service.enable_execute_command:
        scan_ignore(role, {"WildcardResourceRule": RESOURCE_STAR_ONLY})
    return role
