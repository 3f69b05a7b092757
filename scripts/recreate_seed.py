"""Recreate the seed's hand-made production (infra-change-001) in a scratch account, to rehearse the takeover.

    python scripts/recreate_seed.py --region us-west-2 [--profile P]     # AWS_ENDPOINT_URL is honoured (moto)

The same module is what the tests use (``tests/deploy/test_takeover.py``), so the rehearsal and the tests start from
one state. It replays the seed's own commands ("Commands Executed") with boto3, in their order:

1. ``ecs create-cluster --cluster-name wwhd-cluster --capacity-providers FARGATE``
2. ``logs create-log-group --log-group-name /ecs/wwhd-backend`` (no retention: the seed set none)
3. ``efs create-file-system --creation-token wwhd-data-<epoch> --performance-mode generalPurpose`` (no
   ``--encrypted``: the seed's file system is unencrypted)
4. two security groups, ``wwhd-ecs-sg`` and ``wwhd-efs-sg``, and 5. their three ingress rules
6. a mount target per subnet, 7. the access point ``/wwhd-data`` (uid/gid 1000, mode 755)
8. the roles ``wwhd-dev-ecs-execution-role`` (the two managed policies) and ``wwhd-dev-ecs-task-role`` (read
   ``wwhd-dev/*`` secrets)
9. task definition ``wwhd-backend`` revision 1 (fastapi + qdrant, the seed's values)

plus what the seed had before those commands and a scratch account lacks: a VPC with three subnets in distinct
Availability Zones (the seed's ``vpc-7b44bd03`` is given), the ECR repository ``wwhd-dev-backend`` its image names
(created with the CLI's defaults, without images), and the two secrets under ``wwhd-dev/`` (the seed names
only the prefix; ``wwhd-dev/OPENAI_API_KEY`` and ``wwhd-dev/JWT_SECRET`` are a guess, which is why ``discover``
searches the prefix rather than these names). Their values are random rehearsal values, never real keys.

Nothing here deletes anything; the scratch account is the operator's to clean up (``--help`` names no teardown).
"""

from __future__ import annotations

import argparse
import json
import secrets as random_values
import sys
import time
from dataclasses import asdict, dataclass, field

import boto3

CLUSTER = "wwhd-cluster"
LOG_GROUP = "/ecs/wwhd-backend"
FAMILY = "wwhd-backend"
EXECUTION_ROLE = "wwhd-dev-ecs-execution-role"
TASK_ROLE = "wwhd-dev-ecs-task-role"
SECRET_PREFIX = "wwhd-dev/"
SECRET_NAMES = {"OPENAI_API_KEY": "wwhd-dev/OPENAI_API_KEY", "JWT_SECRET": "wwhd-dev/JWT_SECRET"}
REPOSITORY = "wwhd-dev-backend"
ECS_TASKS_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
EXECUTION_POLICIES = ("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
                      "arn:aws:iam::aws:policy/AmazonElasticFileSystemClientFullAccess")


@dataclass
class Seed:
    """The ids the recreation produced (what the seed's document lists for the real account)."""

    region: str
    account: str
    vpc_id: str
    subnet_ids: list[str]
    cluster_arn: str
    log_group: str
    file_system_id: str
    access_point_id: str
    mount_target_ids: list[str]
    ecs_security_group: str
    efs_security_group: str
    execution_role_arn: str
    task_role_arn: str
    task_definition_arn: str
    secret_arns: dict[str, str] = field(default_factory=dict)


def recreate(session: boto3.Session, region: str, vpc_id: str | None = None,
             subnet_ids: list[str] | None = None, clock=time.time, tags: dict[str, str] | None = None) -> Seed:
    """Create the seed's resources in ``region``; an existing VPC and subnets are used when given.

    ``tags`` (default none: the seed's own commands set none) go on every resource that takes tags at creation, so a
    rehearsal (``scripts/rehearse.py``) can delete exactly what it made. Mount targets take no tags; they go with
    their file system."""

    def c(service: str):
        return session.client(service, region_name=region)

    ec2, ecs, efs, iam, logs, sm = c("ec2"), c("ecs"), c("efs"), c("iam"), c("logs"), c("secretsmanager")
    account = c("sts").get_caller_identity()["Account"]
    t = _Tags(tags)
    if vpc_id is None:
        vpc_id, subnet_ids = _network(ec2, t)
    if subnet_ids is None:
        raise ValueError("give the subnets of the VPC you give (vpc_id and subnet_ids go together)")

    cluster = ecs.create_cluster(clusterName=CLUSTER, capacityProviders=["FARGATE"], **t.lower("tags"))
    cluster = cluster["cluster"]["clusterArn"]
    logs.create_log_group(logGroupName=LOG_GROUP, **t.mapping("tags"))
    fs = efs.create_file_system(CreationToken=f"wwhd-data-{int(clock())}", PerformanceMode="generalPurpose",
                                **t.upper("Tags"))
    fs_id = fs["FileSystemId"]

    ecs_sg = ec2.create_security_group(GroupName="wwhd-ecs-sg", Description="WWHD ECS tasks", VpcId=vpc_id,
                                       **t.spec("security-group"))["GroupId"]
    efs_sg = ec2.create_security_group(GroupName="wwhd-efs-sg", Description="WWHD EFS", VpcId=vpc_id,
                                       **t.spec("security-group"))["GroupId"]
    _ingress(ec2, ecs_sg, 8000, cidr="0.0.0.0/0")
    _ingress(ec2, ecs_sg, 6333, peer=ecs_sg)
    _ingress(ec2, efs_sg, 2049, peer=ecs_sg)

    mount_targets = [efs.create_mount_target(FileSystemId=fs_id, SubnetId=s,
                                             SecurityGroups=[efs_sg])["MountTargetId"] for s in subnet_ids]
    ap = efs.create_access_point(
        FileSystemId=fs_id, PosixUser={"Uid": 1000, "Gid": 1000},
        RootDirectory={"Path": "/wwhd-data",
                       "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "755"}},
        **t.upper("Tags"),
    )["AccessPointId"]

    # The repository the seed's image names (wwhd-dev-backend:latest), as `aws ecr create-repository` makes it by
    # default: mutable tags, no scan on push. Its images are the app's, pushed by the app's CI, so none here.
    c("ecr").create_repository(repositoryName=REPOSITORY, **t.upper("tags"))

    secret_arns = {var: sm.create_secret(Name=name, SecretString=f"rehearsal-{random_values.token_hex(16)}",
                                       **t.upper("Tags"))["ARN"]
                   for var, name in SECRET_NAMES.items()}
    execution = _role(iam, EXECUTION_ROLE, t)
    for policy in EXECUTION_POLICIES:
        iam.attach_role_policy(RoleName=EXECUTION_ROLE, PolicyArn=policy)
    task = _role(iam, TASK_ROLE, t)
    iam.put_role_policy(RoleName=TASK_ROLE, PolicyName="wwhd-dev-secrets", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
            "Resource": f"arn:aws:secretsmanager:{region}:{account}:secret:{SECRET_PREFIX}*"}]}))

    task_def = ecs.register_task_definition(**task_definition(account, region, execution, task, fs_id, ap, secret_arns),
                                            **t.lower("tags"))
    return Seed(region, account, vpc_id, list(subnet_ids), cluster, LOG_GROUP, fs_id, ap, mount_targets, ecs_sg, efs_sg,
                execution, task, task_def["taskDefinition"]["taskDefinitionArn"], secret_arns)


def task_definition(account: str, region: str, execution_role: str, task_role: str, fs_id: str, ap_id: str,
                    secret_arns: dict[str, str]) -> dict:
    """``infrastructure/ecs/task-definition.json`` as the seed describes it (its section 5)."""
    image = f"{account}.dkr.ecr.{region}.amazonaws.com/{REPOSITORY}:latest"

    def log(prefix: str) -> dict:
        return {"logDriver": "awslogs", "options": {
            "awslogs-group": LOG_GROUP, "awslogs-region": region, "awslogs-stream-prefix": prefix}}

    def env(values: dict[str, str]) -> list[dict[str, str]]:
        return [{"name": k, "value": v} for k, v in values.items()]

    return {
        "family": FAMILY, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "1024",
        "memory": "2048", "executionRoleArn": execution_role, "taskRoleArn": task_role,
        "volumes": [{"name": "wwhd-data", "efsVolumeConfiguration": {
            "fileSystemId": fs_id, "transitEncryption": "ENABLED", "authorizationConfig": {"accessPointId": ap_id}}}],
        "containerDefinitions": [
            {"name": "fastapi", "image": image, "cpu": 768, "memory": 1536, "essential": True,
             "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
             "environment": env({"APP_ENV": "production", "QDRANT_URL": "http://localhost:6333",
                                 "SQLITE_PATH": "/data/wwhd.db", "LOG_LEVEL": "INFO"}),
             "secrets": [{"name": var, "valueFrom": arn} for var, arn in sorted(secret_arns.items())],
             "mountPoints": [{"sourceVolume": "wwhd-data", "containerPath": "/data"}],
             "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8000/health || exit 1"]},
             "logConfiguration": log("fastapi")},
            {"name": "qdrant", "image": "qdrant/qdrant:v1.7.4", "cpu": 256, "memory": 512, "essential": True,
             "portMappings": [{"containerPort": 6333, "protocol": "tcp"}],
             "environment": env({"QDRANT__SERVICE__HTTP_PORT": "6333", "QDRANT__LOG_LEVEL": "INFO"}),
             "mountPoints": [{"sourceVolume": "wwhd-data", "containerPath": "/qdrant/storage"}],
             "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:6333/health || exit 1"]},
             "logConfiguration": log("qdrant")},
        ],
    }


class _Tags:
    """The same tags in each API's own shape; every method gives ``{}`` without tags (the call is the seed's)."""

    def __init__(self, tags: dict[str, str] | None):
        self.tags = dict(sorted((tags or {}).items()))

    def upper(self, arg: str) -> dict:  # EFS, ECR, Secrets Manager, IAM: [{"Key", "Value"}]
        return {arg: [{"Key": k, "Value": v} for k, v in self.tags.items()]} if self.tags else {}

    def lower(self, arg: str) -> dict:  # ECS: [{"key", "value"}]
        return {arg: [{"key": k, "value": v} for k, v in self.tags.items()]} if self.tags else {}

    def mapping(self, arg: str) -> dict:  # CloudWatch Logs: {key: value}
        return {arg: dict(self.tags)} if self.tags else {}

    def spec(self, resource_type: str) -> dict:  # EC2: TagSpecifications
        return {"TagSpecifications": [{"ResourceType": resource_type, **self.upper("Tags")}]} if self.tags else {}


def _network(ec2, t: _Tags | None = None) -> tuple[str, list[str]]:
    """A VPC and three subnets in distinct Availability Zones (the seed's three subnets, one mount target each)."""
    t = t or _Tags(None)
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]][:3]
    vpc = ec2.create_vpc(CidrBlock="172.31.0.0/16", **t.spec("vpc"))["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"172.31.{16 * i}.0/20", AvailabilityZone=z,
                                 **t.spec("subnet"))["Subnet"]["SubnetId"]
               for i, z in enumerate(zones)]
    return vpc, subnets


def _ingress(ec2, group: str, port: int, cidr: str | None = None, peer: str | None = None) -> None:
    rule = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    rule.update({"IpRanges": [{"CidrIp": cidr}]} if cidr else {"UserIdGroupPairs": [{"GroupId": peer}]})
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rule])


def _role(iam, name: str, t: _Tags | None = None) -> str:
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST),
                           **(t or _Tags(None)).upper("Tags"))["Role"]["Arn"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--region", required=True)
    ap.add_argument("--profile")
    ap.add_argument("--vpc-id", help="use this VPC (default: create one with three subnets)")
    ap.add_argument("--subnet-ids", nargs="+", metavar="ID", help="with --vpc-id: subnets in distinct AZs")
    args = ap.parse_args(argv)
    if bool(args.vpc_id) != bool(args.subnet_ids):
        ap.error("--vpc-id and --subnet-ids go together")
    seed = recreate(boto3.Session(profile_name=args.profile), args.region, args.vpc_id, args.subnet_ids)
    json.dump(asdict(seed), sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
