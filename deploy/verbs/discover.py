"""``discover``: what of the seed's hand-made production (infra-change-001) exists, read-only.

It answers what the takeover needs before anything is planned: under which names and ARNs the seed's resources
exist (the secrets' real ARNs, with the 6-character suffix Secrets Manager adds), whether anything runs (services in
the cluster, RUNNING tasks of the task family), and what the seed's file system holds, and prints the params to set
and what the takeover does with each resource.

Where the seed's names come from: the params (cluster name, log group, task family, ECR repository are the seed's
in ``params/prod.yaml``) and the seed's document (the ``wwhd-dev/`` secret prefix, the two roles, the two security
groups, the file system's creation token ``wwhd-data-<epoch>``). Secrets are searched by prefix, not by a guessed
name: ``ListSecrets`` with the ``name`` filter matches names that begin with the value ("Secrets Manager API
Reference, Filter": "name: Prefix match, not case-sensitive").

What EFS reports without mounting: ``DescribeFileSystems`` ``SizeInBytes`` ("the latest known metered size (in
bytes) of data stored in the file system", with ``ValueInStandard``, ``ValueInIA`` and ``ValueInArchive``). The
metered size is not an exact count of the data (EFS meters metadata too, and updates it within hours), so an
"empty" file system is one whose metered size is at most 6 KiB, the metadata of an empty root directory; anything
above that is treated as data to move. ``Encrypted`` false means the file system cannot be adopted: encryption at
rest is chosen at creation and cannot change ("Encrypting data at rest", EFS User Guide), so its data is copied.

Whether the seed's file system has a file system policy: ``DescribeFileSystemPolicy``, whose ``PolicyNotFound`` error
means the default policy is in effect (EFS API reference). With the default policy migrate-data mounts it anonymously;
with one, it mounts with IAM authorization as the environment's task role, which the policy must allow: discover
prints the statement to add (deploy/migrate.py, ``seed_read_statement``). We never edit the seed's resources.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from templates._common import role_path
from templates.iam import Out as RoleOut, role_name

from ..aws import aws_errors, check_account, error_code
from ..context import Ctx
from ..migrate import file_system_policy, seed_read_statement

SECRET_PREFIX = "wwhd-dev/"
SEED_ROLES = ("wwhd-dev-ecs-execution-role", "wwhd-dev-ecs-task-role")
SEED_SECURITY_GROUPS = ("wwhd-ecs-sg", "wwhd-efs-sg")
SEED_CREATION_TOKEN = "wwhd-data-"
EMPTY_METERED_BYTES = 6144  # an empty file system's metered size (its root directory's metadata)

# What the takeover does with each kind of resource.
ADOPT = "adopt"
MIGRATE = "migrate data"
REFERENCE = "reference by ARN"
OPERATOR = "leave to the operator"


@dataclass
class Found:
    kind: str
    name: str
    arn: str = ""
    state: str = ""
    action: str = ""
    why: str = ""
    details: dict = field(default_factory=dict)


@dataclass
class Discovery:
    account: str
    region: str
    found: list[Found] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # services and RUNNING tasks
    params: dict[str, str] = field(default_factory=dict)  # key path -> value to set
    next_steps: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


def discover(ctx: Ctx, json_file: Path | None = None) -> int:
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    d = Discovery(account, ctx.p.region)
    with aws_errors():
        _cluster(ctx, d)
        _log_group(ctx, d)
        _file_systems(ctx, d)
        _secrets(ctx, d)
        _roles(ctx, d)
        _security_groups(ctx, d)
        _task_definitions(ctx, d)
        _repository(ctx, d)
    _next_steps(ctx, d)
    show(d, ctx)
    if json_file:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps(d.as_json(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return 0


# --- each kind of resource ------------------------------------------------------------------------------------------


def _cluster(ctx: Ctx, d: Discovery) -> None:
    ecs = ctx.aws.client("ecs")
    name = ctx.p.cluster.name or "wwhd-cluster"
    clusters = [c for c in ecs.describe_clusters(clusters=[name])["clusters"] if c["status"] != "INACTIVE"]
    if not clusters:
        d.missing.append(f"ECS cluster {name}")
        return
    c = clusters[0]
    services = [arn for page in ecs.get_paginator("list_services").paginate(cluster=name)
                for arn in page["serviceArns"]]
    tasks = [arn for page in ecs.get_paginator("list_tasks").paginate(cluster=name, family=ctx.p.task.family,
                                                                     desiredStatus="RUNNING")
             for arn in page["taskArns"]]
    d.running += [f"service {s}" for s in services] + [f"task {t} (family {ctx.p.task.family})" for t in tasks]
    action = ADOPT if ctx.p.cluster.name == name else OPERATOR
    d.found.append(Found("ECS cluster", name, c["clusterArn"], c["status"], action,
                         "imported by name with plan --adopt" if action == ADOPT
                         else "the stack creates its own cluster",
                         {"services": len(services), "runningTasks": len(tasks),
                          "capacityProviders": c.get("capacityProviders", [])}))


def _log_group(ctx: Ctx, d: Discovery) -> None:
    name = ctx.p.logs.group_name
    groups = [g
              for page in ctx.aws.client("logs").get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
              for g in page["logGroups"] if g["logGroupName"] == name]
    if not groups:
        d.missing.append(f"log group {name}")
        return
    g = groups[0]
    d.found.append(Found("log group", name, g.get("logGroupArn", g.get("arn", "")),
                         f"retention {g.get('retentionInDays', 'never expires')}", ADOPT,
                         "imported by name with plan --adopt; its retention then follows params",
                         {"storedBytes": g.get("storedBytes", 0)}))


def _file_systems(ctx: Ctx, d: Discovery) -> None:
    efs = ctx.aws.client("efs")
    systems = [f for page in efs.get_paginator("describe_file_systems").paginate() for f in page["FileSystems"]
               if f.get("CreationToken", "").startswith(SEED_CREATION_TOKEN)]
    if not systems:
        d.missing.append(f"EFS file system (creation token {SEED_CREATION_TOKEN}*)")
    for f in sorted(systems, key=lambda f: f["FileSystemId"]):
        size = f.get("SizeInBytes", {})
        metered = size.get("Value", 0)
        holds_data = metered > EMPTY_METERED_BYTES
        encrypted = bool(f.get("Encrypted"))
        why = ("not importable: created without encryption, which cannot change; " if not encrypted else "") + (
            f"holds {metered} metered bytes: copy with migrate-data" if holds_data else
            f"metered size {metered} bytes (empty): nothing to copy")
        policy = file_system_policy(efs, f["FileSystemId"]) is not None
        details = {"creationToken": f.get("CreationToken"), "encrypted": encrypted,
                   "sizeInBytes": {k: v for k, v in size.items() if k != "Timestamp"},
                   "numberOfMountTargets": f.get("NumberOfMountTargets", 0), "fileSystemPolicy": policy}
        if policy:
            details["statementToAdd"] = seed_read_statement(task_role_arn(ctx, d.account, f.get("FileSystemArn", "")),
                                                            f.get("FileSystemArn") or f["FileSystemId"])
        d.found.append(Found("EFS file system", f["FileSystemId"], f.get("FileSystemArn", ""), f["LifeCycleState"],
                             MIGRATE if holds_data else OPERATOR, why, details))
        for ap in efs.describe_access_points(FileSystemId=f["FileSystemId"]).get("AccessPoints", []):
            d.found.append(Found("EFS access point", ap["AccessPointId"], ap.get("AccessPointArn", ""),
                                 ap.get("LifeCycleState", ""), OPERATOR, "the source of migrate-data; delete after",
                                 {"rootDirectory": ap.get("RootDirectory", {}).get("Path", "/"),
                                  "posixUser": ap.get("PosixUser", {})}))
        for mt in efs.describe_mount_targets(FileSystemId=f["FileSystemId"]).get("MountTargets", []):
            d.found.append(Found("EFS mount target", mt["MountTargetId"], "", mt.get("LifeCycleState", ""), OPERATOR,
                                 "migrate-data mounts the source through it", {
                                     "subnet": mt.get("SubnetId"), "availabilityZone": mt.get("AvailabilityZoneName")}))
        if holds_data:
            d.params["migrate-data --from"] = f["FileSystemId"]


def task_role_arn(ctx: Ctx, account: str, any_arn: str) -> str:
    """The environment's task role (identity stack, templates/iam.py: a fixed name and path), in the partition of
    ``any_arn`` (``arn:<partition>:...``)."""
    partition = any_arn.split(":")[1] if any_arn.count(":") >= 2 else "aws"
    return f"arn:{partition}:iam::{account}:role{role_path(ctx.p)}{role_name(ctx.p, RoleOut.TaskRoleArn)}"


def _secrets(ctx: Ctx, d: Discovery) -> None:
    sm = ctx.aws.client("secretsmanager")
    found = [s for page in sm.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [SECRET_PREFIX]}], IncludePlannedDeletion=True) for s in page["SecretList"]
        if s["Name"].startswith(SECRET_PREFIX)]
    if not found:
        d.missing.append(f"secrets under {SECRET_PREFIX}")
    wanted = sorted(ctx.p.secrets)
    for s in sorted(found, key=lambda s: s["Name"]):
        var = _variable(s["Name"], wanted)
        deleted = s.get("DeletedDate")
        d.found.append(Found("secret", s["Name"], s["ARN"],
                             f"scheduled for deletion {deleted}" if deleted else "active",
                             REFERENCE if var and not deleted else OPERATOR,
                             f"params secrets.{var}.arn" if var else "no params secret matches its name",
                             {"variable": var}))
        if var and not deleted and not ctx.p.secrets[var].generate:
            d.params[f"secrets.{var}.arn"] = s["ARN"]


def _variable(name: str, wanted: list[str]) -> str | None:
    """``wwhd-dev/JWT_SECRET`` or ``wwhd-dev/jwt-secret`` -> ``JWT_SECRET`` when params has that variable."""
    key = name.removeprefix(SECRET_PREFIX).upper().replace("-", "_")
    return key if key in wanted else None


def _roles(ctx: Ctx, d: Discovery) -> None:
    iam = ctx.aws.client("iam")
    for name in SEED_ROLES:
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except ClientError as e:
            if error_code(e) != "NoSuchEntity":
                raise
            d.missing.append(f"IAM role {name}")
            continue
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
        d.found.append(Found("IAM role", name, role["Arn"], "", OPERATOR,
                             "the stacks create scoped roles; delete after the takeover",
                             {"attachedPolicies": sorted(attached), "inlinePolicies": sorted(inline)}))


def _security_groups(ctx: Ctx, d: Discovery) -> None:
    groups = ctx.aws.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": list(SEED_SECURITY_GROUPS)}])["SecurityGroups"]
    for g in sorted(groups, key=lambda g: g["GroupName"]):
        rules = [f"{r.get('IpProtocol')} {r.get('FromPort')}-{r.get('ToPort')} from "
                 + ", ".join([x["CidrIp"] for x in r.get("IpRanges", [])] + [x["GroupId"]
                                                                             for x in r.get("UserIdGroupPairs", [])])
                 for r in g.get("IpPermissions", [])]
        d.found.append(Found("security group", g["GroupName"], g["GroupId"], g.get("VpcId", ""), OPERATOR,
                             "the security stack creates its own groups; migrate-data opens 2049 on the EFS group",
                             {"ingress": sorted(rules)}))
    for name in sorted(set(SEED_SECURITY_GROUPS) - {g["GroupName"] for g in groups}):
        d.missing.append(f"security group {name}")


def _task_definitions(ctx: Ctx, d: Discovery) -> None:
    ecs = ctx.aws.client("ecs")
    family = ctx.p.task.family
    arns = [a for page in ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE")
            for a in page["taskDefinitionArns"] if a.rsplit("/", 1)[1].rsplit(":", 1)[0] == family]
    if not arns:
        d.missing.append(f"task definition family {family}")
    for arn in arns:
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        secrets = {s["name"]: s["valueFrom"] for c in td["containerDefinitions"] for s in c.get("secrets", [])}
        volumes = {v["name"]: v.get("efsVolumeConfiguration", {}).get("fileSystemId") for v in td.get("volumes", [])}
        d.found.append(Found("task definition", f"{family}:{td['revision']}", arn, td.get("status", ""), OPERATOR,
                             "the service stack registers its own; deregister after the takeover",
                             {"secrets": secrets, "efsVolumes": volumes,
                              "images": [c["image"] for c in td["containerDefinitions"]]}))


def _repository(ctx: Ctx, d: Discovery) -> None:
    name = ctx.p.image.repository
    try:
        repo = ctx.aws.client("ecr").describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as e:
        if error_code(e) != "RepositoryNotFoundException":
            raise
        d.missing.append(f"ECR repository {name}")
        return
    d.found.append(Found("ECR repository", name, repo["repositoryArn"], "",
                         REFERENCE if not ctx.p.image.create_repository
                         else ADOPT, "params image.repository", {
                             "imageTagMutability": repo.get("imageTagMutability"),
                             "scanOnPush": repo.get("imageScanningConfiguration", {}).get("scanOnPush", False)}))


def _next_steps(ctx: Ctx, d: Discovery) -> None:
    if d.running:
        d.next_steps.append("something of the seed runs (listed above): stop it before migrating data")
    if any(k.startswith("secrets.") for k in d.params):
        d.next_steps.append(f"set the secret ARNs above in params/{ctx.env}.yaml, then: {ctx.command('plan')}")
    if "migrate-data --from" in d.params:
        d.next_steps.append(f"copy the data: {ctx.command('migrate-data', '--from', d.params['migrate-data --from'])}")
    adopt = [f for f in d.found if f.action == ADOPT]
    if adopt:
        d.next_steps.append(f"adopt {', '.join(f.name for f in adopt)}: {ctx.command('plan', '--adopt')}")


# --- showing ---------------------------------------------------------------------------------------------------------


def show(d: Discovery, ctx: Ctx) -> None:
    out = ctx.out
    out.heading(f"seed resources in account {d.account}, {d.region}")
    out.table("", ["Kind", "Name", "ARN / id", "State", "Takeover", "Why"],
              [[f.kind, f.name, f.arn, str(f.state), f.action, f.why] for f in d.found])
    for f in d.found:
        if f.kind == "EFS file system":
            size = f.details["sizeInBytes"]
            out.line(f"{f.name}: metered size " + ", ".join(f"{k} {v}" for k, v in sorted(size.items()))
                     + f"; encrypted: {'yes' if f.details['encrypted'] else 'no'}; file system policy: "
                     + ("yes" if f.details["fileSystemPolicy"] else "none (the default policy: migrate-data mounts it "
                                                                    "without IAM)"))
            if f.details["fileSystemPolicy"]:
                out.line(f"{f.name} has a file system policy: migrate-data mounts it with IAM "
                         "authorization as the task "
                         "role; add this statement to its policy yourself (wwhd-infra never edits the seed's "
                         "resources):")
                out.line("  " + json.dumps(f.details["statementToAdd"], sort_keys=True))
    out.line("not found: " + (", ".join(d.missing) if d.missing else "nothing (every seed resource exists)"))
    out.line("running: " + ("; ".join(d.running) if d.running else "nothing (no service, no RUNNING task)"))
    if d.params:
        out.line(f"params to set (params/{ctx.env}.yaml):")
        for key, value in sorted(d.params.items()):
            if not key.startswith("migrate-data"):
                out.line(f"  {key}: {value}")
    for step in d.next_steps:
        out.line(f"next: {step}")
