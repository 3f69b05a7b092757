"""``migrate-data --env NAME --from fs-...``: copy the seed's data into the environment's new file system.

Why a copy and not an import: the seed's file system was created without ``--encrypted``, and encryption at rest
cannot be changed after creation, so it cannot become ours. Why a Fargate task: only something inside the VPC can
mount both file systems (EFS has no API that reads files).

The order, each step refusing before anything changes:

1. the environment's stack exists and is idle; its outputs name our file system, access points, roles, groups;
2. nothing writes: the service is at ``DesiredCount`` 0 with no task, and no task of the seed's family runs in any
   cluster of the region (ECS ListTasks lists tasks whose desired status is RUNNING, so PENDING ones too);
3. the source exists, is not ours, and has a mount target in one of our task subnets behind one security group;
4. the temporary stack ``<stack>-migrate`` (templates/migrate.py: the path, i.e. a security group and an NFS rule
   on each file system's group, and the task definition) is planned as a change set, reviewed, confirmed, created;
5. the task runs (``--execute``: copies; else lists and maps only), its report is read back from its log stream;
6. the temporary stack is deleted, whatever happened in 5: the path to the source is gone again.

The source is mounted read-only and never written; the copy refuses a destination that is not empty.

Which image, stack and roles (templates/migrate.py): the app's own image from the environment's ECR repository, at
the ``ImageTag`` the root stack runs with, in the temporary stack ``<stack>-migrate``, pulled by the identity stack's
execution role and run as its task role (``<stack>-identity``). The seed's file system policy decides how its root is
mounted: EFS DescribeFileSystemPolicy answers ``PolicyNotFound`` when the default policy is in effect (EFS API
reference), which lets every client that reaches a mount target in, so the mount is anonymous; with a policy the mount
uses IAM authorization as the task role, and the policy must allow it (:func:`seed_read_statement`, which ``discover``
prints: we never edit the seed's resources; "Using IAM to control access to file systems", EFS User Guide).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError, WaiterError

from templates import migrate as template
from templates.names import identity_stack_name

from .aws import aws_errors, error_code, error_message
from .errors import BadInput, DeployError, aws_cli
from .stacks import describe, nested_stacks

SEED_FAMILY = "wwhd-backend"  # infra-change-001: task definition family of the hand-made task
FILE_SYSTEM_ID = re.compile(r"fs-[0-9a-f]{8,40}")
WAIT = {"Delay": 6, "MaxAttempts": 150}  # up to 15 minutes for the task to stop
SCRIPT = Path(__file__).with_name("copy_data.py")
EXIT: dict[int | None, str] = {0: "done", 3: "refused", 4: "verification failed"}  # by exitCode (None: none)


@dataclass(frozen=True)
class Ours:
    """What the environment's stacks say about where the data goes and who may write it."""

    cluster: str
    service: str
    file_system: str
    app_access_point: str
    qdrant_access_point: str
    file_system_security_group: str
    task_role: str
    execution_role: str
    vpc: str
    subnets: tuple[str, ...]
    image_tag: str = ""  # the root stack's ImageTag: the app image the copy runs in


@dataclass(frozen=True)
class Source:
    file_system: str
    security_group: str
    subnets: tuple[str, ...]  # our task subnets that have one of its mount targets
    size_bytes: int
    policy: bool = False  # it has a file system policy: mount it with IAM authorization as the task role
    arn: str = ""


def ours(ctx) -> Ours:
    """Read the root's, the nested stacks' and the identity stack's outputs (one DescribeStacks each)."""
    info = describe(ctx.aws, ctx.p.stack_name)
    if info is None or not info.exists or info.status not in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
        state = info.status if info else "absent"
        raise DeployError(f"{ctx.p.stack_name} is {state}: migrate-data copies into a deployed environment",
                          f"deploy it first (service at 0): {ctx.command('apply', '--desired-count', '0')}")
    outputs = dict(info.outputs)
    for physical in nested_stacks(ctx.aws, info.id).values():
        child = describe(ctx.aws, physical)
        outputs.update(child.outputs if child else {})
    # the task's roles live beside the root (templates/identity.py)
    roles = describe(ctx.aws, identity_stack_name(ctx.p))
    outputs.update(roles.outputs if roles and roles.exists else {})
    try:
        subnets = (tuple(ctx.p.network.subnet_ids) if not ctx.p.network.creates_vpc
                   else tuple(outputs["SubnetIds"].split(",")))
        vpc = ctx.p.network.vpc_id if not ctx.p.network.creates_vpc else outputs["VpcId"]
        return Ours(outputs["ClusterName"], outputs["ServiceName"], outputs["FileSystemId"],
                    outputs["AppAccessPointId"],
                    outputs["QdrantAccessPointId"], outputs["FileSystemSecurityGroupId"], outputs["TaskRoleArn"],
                    outputs["ExecutionRoleArn"], vpc, subnets,
                    info.parameters.get("ImageTag") or ctx.p.image.default_tag)
    except KeyError as e:
        raise DeployError(f"{ctx.p.stack_name} has no output {e.args[0]}: its stacks are older than this tool",
                          f"update them first: {ctx.command('plan')}") from None


def refuse_writers(ctx, o: Ours, seed_family: str) -> None:
    """Nothing may write either file system while we read and copy (a single writer, and a consistent source)."""
    ecs = ctx.aws.client("ecs")
    with aws_errors():
        services = ecs.describe_services(cluster=o.cluster, services=[o.service]).get("services", [])
        running = ecs.list_tasks(cluster=o.cluster, serviceName=o.service).get("taskArns", [])
        clusters = [arn for page in ecs.get_paginator("list_clusters").paginate()
                    for arn in page.get("clusterArns", [])]
        seeds = [arn for c in clusters
                 for page in ecs.get_paginator("list_tasks").paginate(cluster=c, family=seed_family)
                 for arn in page.get("taskArns", [])]
    desired = max((s.get("desiredCount", 0) for s in services if s.get("status") == "ACTIVE"), default=0)
    if desired or running:
        raise DeployError(f"the service {o.service} runs (desired {desired}, {len(running)} task(s)): it would write "
                          "the new file system while data is copied into it",
                          f"stop it first: {ctx.command('apply', '--desired-count', '0')}")
    if seeds:
        stops = "; ".join(aws_cli(ctx.p.region, "ecs", "stop-task", "--cluster", arn.split("/")[-2], "--task", arn)
                          for arn in sorted(seeds))
        raise DeployError(f"{len(seeds)} task(s) of the seed's family {seed_family} run: the source would change "
                          "while it is copied", f"stop them ({stops}), then: {ctx.again()}")


def source(ctx, o: Ours, file_system: str) -> Source:
    if file_system == o.file_system:
        raise BadInput(f"{file_system} is this environment's own file system", "pass the seed's: --from fs-...")
    efs = ctx.aws.client("efs")
    try:
        with aws_errors():
            fs = efs.describe_file_systems(FileSystemId=file_system)["FileSystems"][0]
            targets = efs.describe_mount_targets(FileSystemId=file_system)["MountTargets"]
            groups = {t["MountTargetId"]: efs.describe_mount_target_security_groups(
                MountTargetId=t["MountTargetId"])["SecurityGroups"] for t in targets}
    except ClientError as e:
        raise BadInput(f"cannot read the file system {file_system}: {error_message(e)}",
                       "discover lists the seed's file system: " + ctx.command("discover")) from None
    if fs.get("LifeCycleState") != "available":
        raise DeployError(f"{file_system} is {fs.get('LifeCycleState')}, not available")
    usable = [t for t in targets if t["SubnetId"] in o.subnets and t.get("LifeCycleState") == "available"]
    common = set.intersection(*(set(groups[t["MountTargetId"]]) for t in usable)) if usable else set()
    if not usable:
        groups_of_any = " ".join(sorted({g for gs in groups.values() for g in gs}))
        raise DeployError(f"{file_system} has no available mount target in the task subnets {', '.join(o.subnets)}",
                          aws_cli(ctx.p.region, "efs", "create-mount-target", "--file-system-id", file_system,
                                  "--subnet-id", o.subnets[0], "--security-groups",
                                  *(groups_of_any or o.file_system_security_group).split())
                          + f", then: {ctx.again()}")
    if len(common) != 1:
        raise DeployError(f"the mount targets of {file_system} share {len(common)} security groups "
                          f"({', '.join(sorted(common)) or 'none'}); the path needs exactly one to open NFS on")
    size = fs.get("SizeInBytes", {}).get("Value", 0)
    with aws_errors():
        policy = file_system_policy(efs, file_system) is not None
    return Source(file_system, common.pop(), tuple(t["SubnetId"] for t in usable), size, policy,
                  fs.get("FileSystemArn", ""))


def file_system_policy(efs, file_system: str) -> str | None:
    """The file system's policy (JSON text), or None when it has none: DescribeFileSystemPolicy answers
    ``PolicyNotFound`` "if the default file system policy is in effect" (EFS API reference)."""
    try:
        return efs.describe_file_system_policy(FileSystemId=file_system)["Policy"]
    except ClientError as e:
        if error_code(e) == "PolicyNotFound":
            return None
        raise


def seed_read_statement(task_role_arn: str, file_system_arn: str) -> dict:
    """The statement an operator adds to the seed's file system policy so that migrate-data can read it: mount
    (read-only: no ``ClientWrite``) and root access (the copy reads as root, so every file whatever its mode), as the
    environment's task role, only through a mount target. EFS User Guide, "Using IAM to control access to file
    systems": with IAM authorization EFS evaluates the file system policy with the client's identity policies."""
    return {"Sid": "WwhdMigrateDataReadOnly", "Effect": "Allow", "Principal": {"AWS": task_role_arn},
            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess"],
            "Resource": file_system_arn,
            "Condition": {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}}


def parameters(o: Ours, s: Source) -> list[dict]:
    values = {template.In.VpcId: o.vpc, template.In.SourceFileSystemId: s.file_system,
              template.In.SourceSecurityGroupId: s.security_group, template.In.FileSystemId: o.file_system,
              template.In.FileSystemSecurityGroupId: o.file_system_security_group,
              template.In.AppAccessPointId: o.app_access_point, template.In.QdrantAccessPointId: o.qdrant_access_point,
              template.In.TaskRoleArn: o.task_role, template.In.ExecutionRoleArn: o.execution_role,
              template.In.ImageTag: o.image_tag, template.In.SourceIam: "ENABLED" if s.policy else "DISABLED"}
    return [{"ParameterKey": str(k), "ParameterValue": v} for k, v in sorted(values.items())]


def run_task(ctx, o: Ours, s: Source, task_definition: str, security_group: str, execute: bool) -> str:
    """Start the copy task; its ARN."""
    with aws_errors():
        answer = ctx.aws.client("ecs").run_task(
            cluster=o.cluster, taskDefinition=task_definition, launchType="FARGATE", platformVersion="LATEST",
            count=1, startedBy="wwhd-infra-migrate",
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": list(s.subnets), "securityGroups": [security_group],
                "assignPublicIp": "ENABLED" if ctx.p.network.assign_public_ip else "DISABLED"}},
            overrides={"containerOverrides": [{"name": template.CONTAINER, "environment": [
                {"name": "MIGRATE_EXECUTE", "value": "1" if execute else "0"}]}]},
        )
    if answer.get("failures") or not answer.get("tasks"):
        reasons = "; ".join(f"{f.get('arn', '')} {f.get('reason', '')} {f.get('detail', '')}".strip()
                            for f in answer.get("failures", []))
        raise DeployError(f"ECS did not start the migrate task: {reasons or 'no task returned'}")
    return answer["tasks"][0]["taskArn"]


def wait_and_report(ctx, o: Ours, task_arn: str) -> tuple[int | None, list[dict], str]:
    """Wait for the task to stop (ECS waiter ``tasks_stopped``); its exit code, its report lines, why it stopped."""
    ecs = ctx.aws.client("ecs")
    try:
        ecs.get_waiter("tasks_stopped").wait(cluster=o.cluster, tasks=[task_arn], WaiterConfig=WAIT)
    except WaiterError as e:
        raise DeployError(f"the migrate task {task_arn} did not stop in time: {e}",
                          aws_cli(ctx.p.region, "ecs", "describe-tasks", "--cluster", o.cluster, "--tasks",
                                  task_arn)) from None
    with aws_errors():
        task = ecs.describe_tasks(cluster=o.cluster, tasks=[task_arn])["tasks"][0]
    container: dict = next((c for c in task.get("containers", []) if c.get("name") == template.CONTAINER), {})
    why = " ".join(x for x in (task.get("stopCode", ""), task.get("stoppedReason", ""),
                               container.get("reason", "")) if x)
    return container.get("exitCode"), complete_report(ctx, task_arn), why


FINAL = {"done", "refused", "nothing", "mismatch"}
REPORT_READS = 5


def complete_report(ctx, task_arn: str) -> list[dict]:
    """The report, read again (with backoff) until its last line has arrived: CloudWatch Logs ingests the task's
    lines shortly after they are written, so a task that has just stopped may not have all of them there yet."""
    events: list[dict] = []
    for attempt, delay in zip(range(REPORT_READS), ctx.poller.intervals(), strict=False):  # the intervals never end
        events = report(ctx, task_arn)
        if any(e.get("event") in FINAL for e in events) or attempt == REPORT_READS - 1:
            break
        ctx.poller.wait(delay)
    return events


def stream_name(task_arn: str) -> str:
    """The task's log stream (awslogs: ``<prefix>/<container>/<task id>``)."""
    return f"{template.COMPONENT}/{template.CONTAINER}/{task_arn.rsplit('/', 1)[-1]}"


def report(ctx, task_arn: str) -> list[dict]:
    """The program's JSON lines from the task's log stream."""
    stream = stream_name(task_arn)
    lines, token = [], None
    try:
        with aws_errors():
            while True:
                kwargs = {"logGroupName": ctx.p.logs.group_name, "logStreamName": stream, "startFromHead": True}
                if token:
                    kwargs["nextToken"] = token
                page = ctx.aws.client("logs").get_log_events(**kwargs)
                lines += [e["message"] for e in page.get("events", [])]
                if not page.get("events") or page.get("nextForwardToken") == token:
                    break
                token = page.get("nextForwardToken")
    except ClientError as e:
        return [{"event": "log", "message": f"could not read the log stream {stream}: {error_message(e)}"}]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append({"event": "log", "message": line})
    return parsed


def show(ctx, events: list[dict]) -> None:
    for e in events:
        kind = e.get("event")
        if kind == "found":
            ctx.out.line(f"found: layout {e['layout']}, {e['files']} file(s), {e['directories']} folder(s), "
                         f"{e['bytes']} bytes")
        elif kind == "map":
            ctx.out.line(f"  {e['source']}  ->  {e['to']}")
        elif kind in {"nothing", "log"}:
            ctx.out.line(e.get("message", ""))
        elif kind == "refused":
            ctx.out.warn(f"refused: {e['reason']}")
        elif kind == "mismatch":
            ctx.out.warn(f"mismatch: {e['detail']}")
        elif kind == "verified":
            ctx.out.line(f"verified: {e['files']} file(s), {e['directories']} folder(s), {e['bytes']} bytes, each "
                         "by size, SHA-256, mode and owner", "bold green")


def failure_fix(ctx, s: Source, why: str, execute: bool) -> str:
    """The fix for a failed task: with a file system policy, a mount refused by EFS ("access denied by server", in the
    stopped task's reason) means the policy lacks the statement migrate-data needs."""
    if s.policy and "access denied" in why.lower():
        again = ctx.command('migrate-data', '--from', s.file_system, *(['--execute'] if execute else []))
        return (f"add the statement printed above to the file system policy of {s.file_system} (discover prints it "
                f"too), then run {again}")
    return "read the lines above; the source is untouched"
