"""``verify`` against the seed's testing checklist.

moto models no running ECS task, container health or target health, so the checks run against botocore Stubber
responses shaped as the API references document them (Stubber validates every response against the service model).
One healthy production environment (``healthy()``) is the baseline; each failure test changes one piece of it.
The CLI's exit codes for bad input run against moto; the optional HTTP check and the printed ECS Exec commands run
against a local ``http.server`` and a local SQLite file, never the network.
"""

from __future__ import annotations

import copy
import http.server
import io
import re
import shlex
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from deploy import adapters
from deploy.aws import Aws
from deploy.context import Ctx
from deploy.errors import INVOCATION, DeployError, Invocation
from deploy.ui import Out
from deploy.verbs import verify
from templates.config import load_params

from .conftest import confirm_prod
from .recorded import ACCOUNT, REGION, ROOT, ROOT_ID, stack_arn

PROD = load_params("prod")
NOW = datetime(2025, 11, 7, 13, 0, 0, tzinfo=UTC)
STARTED = NOW - timedelta(hours=1)
REPO = Path(__file__).resolve().parents[2]

CLUSTER = "wwhd-cluster"
SERVICE = "wwhd-backend"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
TASK_ID = "5d2c1f7a9e3b4c6d8f0a1b2c3d4e5f60"
TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{TASK_ID}"
OLD_TASK_ID = "0a9b8c7d6e5f40312a3b4c5d6e7f8091"
TASKDEF = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/wwhd-backend:7"
SUBNETS = ["subnet-677d281e", "subnet-5498bc0e", "subnet-18ddaa53"]
TASK_IP = "172.31.20.47"
FS = "fs-00b8168893587fd61"
APP_AP, QDRANT_AP = "fsap-09b001e50000005e4", "fsap-0c1d2e3f405162738"
LOG_GROUP = "/ecs/wwhd-backend"
TG = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/wwhd-p-Targe-1ABCDEF/0123456789abcdef"
LB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/wwhd-p-LoadB-2GHIJKL/fedcba9876543210"
STORAGE_ID = stack_arn("wwhd-prod-StorageStack-7H8I9J0K1L2M", "77777777-2222-3333-4444-555555555555")
LB_STACK_ID = stack_arn("wwhd-prod-LoadBalancerStack-9Z8Y7X6W5V4U", "88888888-2222-3333-4444-555555555555")
JWT_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:wwhd-dev/jwt-secret-AbCdEf"
OPENAI_PARTIAL = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:wwhd-dev/openai-api-key"
SECRETS_REFUSED = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                   "retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): "
                   "failed to fetch secret " + JWT_ARN + " from secrets manager: AccessDeniedException")


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


# --- one healthy production environment, as the APIs describe it --------------------------------------------------


def describe_stacks(outputs: dict[str, str]) -> dict:
    return {"Stacks": [{"StackId": ROOT_ID, "StackName": ROOT, "CreationTime": STARTED,
                        "StackStatus": "UPDATE_COMPLETE",
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in sorted(outputs.items())]}]}


def resources(rows: list[tuple[str, str, str]]) -> dict:
    return {"StackResourceSummaries": [
        {"LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": type_,
         "LastUpdatedTimestamp": STARTED, "ResourceStatus": "UPDATE_COMPLETE"} for logical, physical, type_ in rows]}


def service(desired: int = 1, running: int = 1, rollout: str = "COMPLETED", event: str = "") -> dict:
    deployment = {"id": "ecs-svc/4870551842981938121", "status": "PRIMARY", "taskDefinition": TASKDEF,
                  "desiredCount": desired, "pendingCount": 0, "runningCount": running, "failedTasks": 0,
                  "createdAt": STARTED, "updatedAt": STARTED, "launchType": "FARGATE", "rolloutState": rollout,
                  "rolloutStateReason": "ECS deployment ecs-svc/4870551842981938121 completed."
                  if rollout == "COMPLETED" else "ECS deployment ecs-svc/4870551842981938121 in progress."}
    return {"serviceArn": SERVICE_ARN, "serviceName": SERVICE, "clusterArn": CLUSTER_ARN, "status": "ACTIVE",
            "desiredCount": desired, "runningCount": running, "pendingCount": 0, "launchType": "FARGATE",
            "platformVersion": "LATEST", "taskDefinition": TASKDEF, "deployments": [deployment],
            "loadBalancers": [{"targetGroupArn": TG, "containerName": "fastapi", "containerPort": 8000}],
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": list(SUBNETS),
                                                             "securityGroups": ["sg-0a75b2c312d17f654"],
                                                             "assignPublicIp": "ENABLED"}},
            "events": [{"id": "e2", "createdAt": NOW - timedelta(minutes=5),
                        "message": event or f"(service {SERVICE}) has reached a steady state."},
                       {"id": "e1", "createdAt": STARTED, "message": f"(service {SERVICE}) has started 1 tasks."}],
            "enableExecuteCommand": True, "createdAt": STARTED - timedelta(days=30)}


def container(name: str, health: str = "HEALTHY", state: str = "RUNNING", task_arn: str = TASK_ARN) -> dict:
    return {"containerArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{CLUSTER}/{TASK_ID}/{name}",
            "taskArn": task_arn, "name": name, "lastStatus": state, "healthStatus": health,
            "networkInterfaces": [{"attachmentId": "a1b2c3d4-0000-4000-8000-000000000001",
                                   "privateIpv4Address": TASK_IP}],
            "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING", "lastStartedAt": STARTED}]}


def task(qdrant_health: str = "HEALTHY", task_id: str = TASK_ID) -> dict:
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{task_id}"
    return {"taskArn": arn, "clusterArn": CLUSTER_ARN, "taskDefinitionArn": TASKDEF, "lastStatus": "RUNNING",
            "desiredStatus": "RUNNING", "healthStatus": "HEALTHY" if qdrant_health == "HEALTHY" else "UNHEALTHY",
            "launchType": "FARGATE", "platformVersion": "1.4.0", "enableExecuteCommand": True,
            "createdAt": STARTED, "startedAt": STARTED, "group": f"service:{SERVICE}",
            "attachments": [{"id": "a1b2c3d4-0000-4000-8000-000000000001", "type": "ElasticNetworkInterface",
                             "status": "ATTACHED", "details": [
                                 {"name": "subnetId", "value": SUBNETS[1]},
                                 {"name": "networkInterfaceId", "value": "eni-0123456789abcdef0"},
                                 {"name": "macAddress", "value": "0a:1b:2c:3d:4e:5f"},
                                 {"name": "privateIPv4Address", "value": TASK_IP}]}],
            "containers": [container("fastapi", task_arn=arn), container("qdrant", qdrant_health, task_arn=arn)]}


def stopped_task(reason: str) -> dict:
    t = task(task_id=OLD_TASK_ID)
    t.update(lastStatus="STOPPED", desiredStatus="STOPPED", healthStatus="UNKNOWN", stopCode="TaskFailedToStart",
             stoppedReason=reason, stoppedAt=NOW - timedelta(minutes=3))
    for c in t["containers"]:
        c.update(lastStatus="STOPPED", healthStatus="UNKNOWN")
    return t


def logs(prefix: str) -> dict:
    return {"logDriver": "awslogs", "options": {"awslogs-group": LOG_GROUP, "awslogs-region": REGION,
                                                "awslogs-stream-prefix": prefix, "mode": "non-blocking"}}


def task_definition(sqlite_path: str = "/data/wwhd.db", qdrant_url: str = "http://localhost:6333") -> dict:
    return {"taskDefinition": {
        "taskDefinitionArn": TASKDEF, "family": "wwhd-backend", "revision": 7, "status": "ACTIVE",
        "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "1024", "memory": "2048",
        "containerDefinitions": [
            {"name": "qdrant", "image": "qdrant/qdrant:v1.7.4", "essential": True, "cpu": 256, "memory": 512,
             "portMappings": [{"containerPort": 6333, "protocol": "tcp"}],
             "healthCheck": {"command": ["CMD", "bash", "-c", "probe /readyz"], "interval": 15, "timeout": 5,
                             "retries": 3, "startPeriod": 30},
             "mountPoints": [{"sourceVolume": "qdrant-storage", "containerPath": "/qdrant/storage", "readOnly": False}],
             "logConfiguration": logs("qdrant")},
            {"name": "fastapi", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/wwhd-dev-backend:abc1234",
             "essential": True, "cpu": 768, "memory": 1536,
             "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
             "environment": [{"name": "SQLITE_PATH", "value": sqlite_path},
                             {"name": "QDRANT_URL", "value": qdrant_url}],
             "secrets": [{"name": "JWT_SECRET", "valueFrom": JWT_ARN},
                         {"name": "OPENAI_API_KEY", "valueFrom": OPENAI_PARTIAL}],
             "healthCheck": {"command": ["CMD", "python", "-c", "probe /health"], "interval": 15, "timeout": 5,
                             "retries": 3, "startPeriod": 60},
             "mountPoints": [{"sourceVolume": "app-data", "containerPath": "/data", "readOnly": False}],
             "logConfiguration": logs("fastapi")}],
        "volumes": [
            {"name": "app-data", "efsVolumeConfiguration": {
                "fileSystemId": FS, "rootDirectory": "/", "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": APP_AP, "iam": "ENABLED"}}},
            {"name": "qdrant-storage", "efsVolumeConfiguration": {
                "fileSystemId": FS, "rootDirectory": "/", "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": QDRANT_AP, "iam": "ENABLED"}}}]}}


def mount_target(subnet: str, state: str = "available") -> dict:
    n = SUBNETS.index(subnet) if subnet in SUBNETS else 9
    return {"OwnerId": ACCOUNT, "MountTargetId": f"fsmt-0{n}a1b2c3d4e5f6a7b", "FileSystemId": FS, "SubnetId": subnet,
            "LifeCycleState": state, "IpAddress": f"172.31.{n * 16 + 5}.10", "NetworkInterfaceId": f"eni-0{n}ffee",
            "AvailabilityZoneId": f"usw2-az{n + 1}", "AvailabilityZoneName": f"us-west-2{'abc'[n % 3]}",
            "VpcId": "vpc-7b44bd03"}


def access_point(ap: str, path: str) -> dict:
    return {"AccessPointId": ap, "AccessPointArn": f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:access-point/{ap}",
            "FileSystemId": FS, "PosixUser": {"Uid": 1000, "Gid": 1000}, "RootDirectory": {"Path": path},
            "OwnerId": ACCOUNT, "LifeCycleState": "available", "Tags": []}


def secret(arn: str, name: str, deleted: datetime | None = None) -> dict:
    s = {"ARN": arn, "Name": name, "Description": "wwhd", "CreatedDate": STARTED - timedelta(days=30),
         "LastChangedDate": STARTED - timedelta(days=2)}
    if deleted:
        s["DeletedDate"] = deleted
    return s


def stream(name: str, last: datetime) -> dict:
    return {"logStreamName": name, "creationTime": ms(STARTED), "firstEventTimestamp": ms(STARTED),
            "lastEventTimestamp": ms(last), "lastIngestionTime": ms(last) + 200,
            "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:log-stream:{name}"}


def target(state: str = "healthy", reason: str = "", description: str = "", ip: str = TASK_IP) -> dict:
    health = {"State": state}
    if reason:
        health.update(Reason=reason, Description=description)
    return {"Target": {"Id": ip, "Port": 8000, "AvailabilityZone": "us-west-2b"}, "HealthCheckPort": "8000",
            "TargetHealth": health}


@dataclass
class World:
    """What AWS answers for one deployed environment; a test changes one piece, then ``run`` checks it."""

    outputs: dict = field(default_factory=lambda: {
        "ClusterName": CLUSTER, "ServiceName": SERVICE, "LogGroupName": LOG_GROUP, "FileSystemId": FS,
        "ServiceUrl": "https://api.wwhd.example.com"})
    service: dict = field(default_factory=service)
    running: list = field(default_factory=lambda: [task()])
    stopped: list = field(default_factory=list)
    taskdef: dict = field(default_factory=task_definition)
    file_system_state: str = "available"
    mount_targets: list = field(default_factory=lambda: [mount_target(s) for s in SUBNETS])
    access_points: list = field(default_factory=lambda: [access_point(APP_AP, "/wwhd-data"),
                                                         access_point(QDRANT_AP, "/wwhd-data/qdrant")])
    secrets: dict = field(default_factory=lambda: {
        JWT_ARN: secret(JWT_ARN, "wwhd-dev/jwt-secret"),
        OPENAI_PARTIAL: secret(OPENAI_PARTIAL + "-GhIjKl", "wwhd-dev/openai-api-key")})
    retention: int | None = 90
    streams: list = field(default_factory=lambda: [
        stream(f"fastapi/fastapi/{TASK_ID}", NOW - timedelta(seconds=12)),
        stream(f"qdrant/qdrant/{TASK_ID}", NOW - timedelta(seconds=47)),
        stream(f"fastapi/fastapi/{OLD_TASK_ID}", NOW - timedelta(days=2)),
        stream(f"qdrant/qdrant/{OLD_TASK_ID}", NOW - timedelta(days=2))])
    targets: list = field(default_factory=lambda: [target()])
    refuse: dict = field(default_factory=dict)  # operation -> (code, message) answered as an error instead
    account: str = ACCOUNT


class Stubs:
    """One Aws whose every client answers from its own activated Stubber."""

    def __init__(self):
        self.aws = Aws(boto3.Session(region_name=REGION), REGION)
        self.stubbers: dict[str, Stubber] = {}
        self.operations: list[str] = []  # every operation called (a Stubber answers before Aws counts calls)

    def __call__(self, service_name: str) -> Stubber:
        if service_name not in self.stubbers:
            client = self.aws.client(service_name)
            client.meta.events.register("before-parameter-build",
                                        lambda event_name, **_: self.operations.append(event_name.split(".")[-1]))
            self.stubbers[service_name] = Stubber(client)
            self.stubbers[service_name].activate()
        return self.stubbers[service_name]

    def done(self) -> None:
        for s in self.stubbers.values():
            s.assert_no_pending_responses()


def expect(w: World, st: Stubs, http: bool = False) -> None:
    """Queue, per client, the calls verify makes for ``w``, in its order, with the parameters it must send."""
    def answer(service_name, operation, response, params):
        if operation in w.refuse:
            code, message = w.refuse[operation]
            st(service_name).add_client_error(operation, code, message, 400, expected_params=params)
        else:
            st(service_name).add_response(operation, response, params)

    answer("sts", "get_caller_identity", {"UserId": "AIDAEXAMPLE", "Account": w.account,
                                          "Arn": f"arn:aws:iam::{w.account}:user/ops"}, {})
    cfn = st("cloudformation")
    cfn.add_response("describe_stacks", describe_stacks(w.outputs), {"StackName": ROOT})
    cfn.add_response("list_stack_resources", resources([
        ("ClusterStack", stack_arn("wwhd-prod-ClusterStack-1"), "AWS::CloudFormation::Stack"),
        ("LoadBalancerStack", LB_STACK_ID, "AWS::CloudFormation::Stack"),
        ("StorageStack", STORAGE_ID, "AWS::CloudFormation::Stack")]), {"StackName": ROOT_ID})
    cfn.add_response("list_stack_resources", resources([
        ("AppAccessPoint", APP_AP, "AWS::EFS::AccessPoint"), ("FileSystem", FS, "AWS::EFS::FileSystem"),
        ("MountTarget677d281e", "fsmt-00a1b2c3d4e5f6a7b", "AWS::EFS::MountTarget"),
        ("QdrantAccessPoint", QDRANT_AP, "AWS::EFS::AccessPoint")]), {"StackName": STORAGE_ID})
    cfn.add_response("list_stack_resources", resources([
        ("HttpListener", f"{LB}/l-80", "AWS::ElasticLoadBalancingV2::Listener"),
        ("HttpsListener", f"{LB}/l-443", "AWS::ElasticLoadBalancingV2::Listener"),
        ("LoadBalancer", LB, "AWS::ElasticLoadBalancingV2::LoadBalancer"),
        ("TargetGroup", TG, "AWS::ElasticLoadBalancingV2::TargetGroup")]), {"StackName": LB_STACK_ID})

    cluster, name, group_name = w.outputs["ClusterName"], w.outputs["ServiceName"], w.outputs["LogGroupName"]
    answer("ecs", "describe_services", {"services": [w.service], "failures": []},
           {"cluster": cluster, "services": [name]})
    running = [t["taskArn"] for t in w.running]
    answer("ecs", "list_tasks", {"taskArns": running},
           {"cluster": cluster, "serviceName": name, "desiredStatus": "RUNNING"})
    if running:
        answer("ecs", "describe_tasks", {"tasks": w.running, "failures": []}, {"cluster": cluster, "tasks": running})
    elif w.service["desiredCount"] > 0:  # no task at all: the last stopped one says why
        stopped = [t["taskArn"] for t in w.stopped]
        answer("ecs", "list_tasks", {"taskArns": stopped},
               {"cluster": cluster, "serviceName": name, "desiredStatus": "STOPPED"})
        if stopped:
            answer("ecs", "describe_tasks", {"tasks": w.stopped, "failures": []},
                   {"cluster": cluster, "tasks": stopped})
    answer("ecs", "describe_task_definition", w.taskdef, {"taskDefinition": TASKDEF})

    answer("efs", "describe_file_systems", {"FileSystems": [{
        "OwnerId": ACCOUNT, "CreationToken": "wwhd", "FileSystemId": FS, "CreationTime": STARTED,
        "LifeCycleState": w.file_system_state, "NumberOfMountTargets": len(w.mount_targets),
        "SizeInBytes": {"Value": 6144}, "PerformanceMode": "generalPurpose", "Encrypted": True,
        "ThroughputMode": "bursting", "Tags": []}]}, {"FileSystemId": FS})
    answer("efs", "describe_mount_targets", {"MountTargets": w.mount_targets}, {"FileSystemId": FS})
    answer("efs", "describe_access_points", {"AccessPoints": w.access_points}, {"FileSystemId": FS})

    for secret_id in sorted(w.secrets, key=lambda s: {JWT_ARN: 0}.get(s, 1)):  # JWT_SECRET, then OPENAI_API_KEY
        answer("secretsmanager", "describe_secret", w.secrets[secret_id], {"SecretId": secret_id})

    group = {"logGroupName": group_name, "creationTime": ms(STARTED), "metricFilterCount": 0, "storedBytes": 1024,
             "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group_name}:*"}
    if w.retention:
        group["retentionInDays"] = w.retention
    answer("logs", "describe_log_groups", {"logGroups": [group]}, {"logGroupNamePrefix": group_name})
    if w.retention:
        answer("logs", "describe_log_streams", {"logStreams": w.streams},
               {"logGroupName": group_name, "orderBy": "LastEventTime", "descending": True, "limit": 10})

    answer("elbv2", "describe_listeners", {"Listeners": [
        {"ListenerArn": f"{LB}/l-443", "LoadBalancerArn": LB, "Port": 443, "Protocol": "HTTPS",
         "Certificates": [{"CertificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"}],
         "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
         "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG}]},
        {"ListenerArn": f"{LB}/l-80", "LoadBalancerArn": LB, "Port": 80, "Protocol": "HTTP", "DefaultActions": [
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}",
                                                    "Path": "/#{path}", "Query": "#{query}",
                                                    "StatusCode": "HTTP_301"}}]}]}, {"LoadBalancerArn": LB})
    answer("elbv2", "describe_target_health", {"TargetHealthDescriptions": w.targets}, {"TargetGroupArn": TG})
    if http and w.service["desiredCount"] > 0:
        answer("elbv2", "describe_target_groups", {"TargetGroups": [{
            "TargetGroupArn": TG, "TargetGroupName": "wwhd-p-Targe-1ABCDEF", "Protocol": "HTTP", "Port": 8000,
            "VpcId": "vpc-7b44bd03", "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port",
            "HealthCheckEnabled": True, "HealthCheckPath": "/health", "Matcher": {"HttpCode": "200"},
            "LoadBalancerArns": [LB], "TargetType": "ip"}]}, {"TargetGroupArns": [TG]})


@dataclass
class Run:
    code: int
    lines: list[str]
    calls: list[str]

    def item(self, n: int) -> str:
        """The line of checklist item ``n`` and its detail lines."""
        at = next(i for i, line in enumerate(self.lines) if re.match(rf"(PASS|FAIL|SKIP)  {n}\. ", line))
        block = [self.lines[at]]
        for line in self.lines[at + 1:]:
            if not line.startswith("        "):
                break
            block.append(line.strip())
        return "\n".join(block)

    def status(self, n: int) -> str:
        return self.item(n)[:4]

    def statuses(self) -> list[str]:
        return [self.status(n) for n in range(1, 9)]


def run(w: World, since: int = 15, http: bool = False, p=None) -> Run:
    st = Stubs()
    expect(w, st, http)
    buf = io.StringIO()
    ctx = Ctx(p=p or PROD, aws=st.aws, out=Out(stdout=buf), home=REPO, now=lambda: NOW)
    try:
        code = verify.verify(ctx, since, http)
    except DeployError as failed:  # a FAIL ends the command with error:/fix: (the boundary prints them)
        assert failed.message.endswith("failed (FAIL above): the deployment is not verified"), failed.message
        assert "then verify again: python generate.py " in failed.fix
        code = failed.exit_code
    st.done()  # every queued call was made: nothing read that the scenario did not expect, nothing skipped
    return Run(code, buf.getvalue().splitlines(), st.operations)


# --- all healthy ---------------------------------------------------------------------------------------------------


def test_a_healthy_environment_passes_every_check_it_can_and_skips_the_in_task_ones():
    r = run(World())
    assert r.code == 0, "\n".join(r.lines)
    assert r.statuses() == ["PASS", "PASS", "PASS", "SKIP", "SKIP", "PASS", "PASS", "PASS"]
    assert r.lines[0].startswith(f"verify wwhd-prod ({REGION}, account {ACCOUNT}, UPDATE_COMPLETE)")
    assert r.lines[-1] == "summary: 6 PASS, 0 FAIL, 2 SKIP of 8 items: verified (each SKIP says why)"
    assert (f"{CLUSTER}/{SERVICE} ACTIVE; 1 of 1 task(s) running; PRIMARY deployment ecs-svc/4870551842981938121 "
            "COMPLETED (wwhd-backend:7)") in r.item(1)
    assert f"task {TASK_ID} HEALTHY: fastapi RUNNING HEALTHY, qdrant RUNNING HEALTHY" in r.item(2)
    assert (f"{FS} available; mount targets available in 3 of 3 task subnets; access points {APP_AP}, {QDRANT_AP} "
            f"available; task {TASK_ID} RUNNING in {SUBNETS[1]}") in r.item(3)
    assert f"volume app-data: {FS} via {APP_AP} (transit encryption ENABLED) at fastapi:/data" in r.item(3)
    assert ("JWT_SECRET -> wwhd-dev/jwt-secret exists; OPENAI_API_KEY -> wwhd-dev/openai-api-key exists; "
            f"task {TASK_ID} RUNNING, so ECS injected them") in r.item(6)
    assert (f"{LOG_GROUP} retention 90 days; fastapi/fastapi/{TASK_ID} last event 12s ago; "
            f"qdrant/qdrant/{TASK_ID} last event 47s ago (within 15m00s)") in r.item(7)
    assert (f"listeners HTTPS:443 -> target group, HTTP:80 -> HTTPS; 1 healthy target {TASK_IP}:8000 = task "
            f"{TASK_ID}'s ENI") in r.item(8)


def test_verify_only_reads_and_never_asks_for_a_secret_value():
    r = run(World())
    operations = set(r.calls)
    assert all(op.startswith(("Describe", "List")) or op == "GetCallerIdentity" for op in operations), operations
    assert "GetSecretValue" not in operations and "DescribeSecret" in operations
    assert "ExecuteCommand" not in operations


def test_resources_come_from_the_stack_outputs_not_from_names():
    w = World()
    w.outputs.update(ClusterName="renamed-cluster", ServiceName="renamed-service")
    w.service["serviceName"] = "renamed-service"
    r = run(w)  # every ECS call is expected with the names from the outputs (Stubber checks the parameters)
    assert r.code == 0, "\n".join(r.lines)
    assert "renamed-cluster/renamed-service ACTIVE" in r.item(1)
    assert f"--cluster renamed-cluster --task {TASK_ID}" in r.item(4)


# --- 1. ECS service starts successfully ----------------------------------------------------------------------------


def test_no_running_task_fails_with_the_last_service_event_and_the_stopped_tasks_reason():
    event = (f"(service {SERVICE}) failed to launch a task with (error ECS was unable to assume the role "
             "or pull secrets: ResourceInitializationError).")
    w = World(service=service(running=0, rollout="IN_PROGRESS", event=event), running=[],
              stopped=[stopped_task(SECRETS_REFUSED)], targets=[],
              streams=[stream(f"fastapi/fastapi/{OLD_TASK_ID}", NOW - timedelta(hours=3))])
    r = run(w)
    assert r.code == 1
    assert r.statuses() == ["FAIL", "FAIL", "FAIL", "SKIP", "SKIP", "FAIL", "FAIL", "FAIL"]
    first = r.item(1)
    assert first.startswith("FAIL  1. ECS service starts successfully: runningCount 0 is not desiredCount 1; the "
                            "PRIMARY deployment is "
                            "IN_PROGRESS: ECS deployment ecs-svc/4870551842981938121 in progress.")
    assert f"last service event (2025-11-07 12:55:00 UTC): {event}" in first
    # the secrets item shows the stopped task's reason because it names the secrets
    assert f"no RUNNING task; the last stopped task {OLD_TASK_ID} at 2025-11-07 12:57:00 UTC: TaskFailedToStart: " \
           "ResourceInitializationError: unable to pull secrets" in r.item(6)
    assert "no RUNNING task (see item 1)" in r.item(3)  # the reason does not mention EFS: not repeated there
    assert "0 healthy target(s), expected exactly 1: none registered" in r.item(8)
    # the in-task items still give the command, finding the task when it runs
    assert "--task $(aws ecs list-tasks --cluster wwhd-cluster --service-name wwhd-backend " \
           "--desired-status RUNNING --query 'taskArns[0]' --output text --region us-west-2)" in r.item(4)
    assert r.lines[-1].endswith("NOT verified")


def test_two_desired_tasks_are_flagged_as_a_single_writer_violation():
    second = task(task_id="9e8d7c6b5a4f40312a3b4c5d6e7f8091")
    w = World(service=service(desired=2, running=2), running=[task(), second],
              targets=[target(), target(ip="172.31.5.9")])
    r = run(w)
    assert r.code == 1
    assert r.item(1).startswith("FAIL  1. ECS service starts successfully: desiredCount 2 breaks the single writer: "
                                "SQLite and Qdrant on EFS allow one task; set DesiredCount=1")
    assert "2 healthy target(s), expected exactly 1" in r.item(8)


def test_a_stopped_service_skips_what_needs_a_task_and_says_how_to_start_it():
    w = World(service=service(desired=0, running=0), running=[], targets=[],
              streams=[stream(f"fastapi/fastapi/{OLD_TASK_ID}", NOW - timedelta(days=1)),
                       stream(f"qdrant/qdrant/{OLD_TASK_ID}", NOW - timedelta(days=1))])
    r = run(w)
    assert r.code == 0, "\n".join(r.lines)
    assert r.statuses() == ["SKIP"] * 8
    hint = "start it: python generate.py apply --env prod --desired-count 1 (stack parameter DesiredCount=1)"
    assert "desiredCount 0: the service is stopped" in r.item(1) and hint in r.item(1)
    assert "mount targets available in 3 of 3 task subnets" in r.item(3)  # what can be read is still checked
    assert "proving the mounts needs a running task, and desiredCount is 0" in r.item(3)
    assert "fastapi/fastapi/0a9b8c7d6e5f40312a3b4c5d6e7f8091 last event 24h00m ago" in r.item(7)


def test_a_deployment_still_rolling_out_fails():
    r = run(World(service=service(rollout="IN_PROGRESS")))
    assert r.status(1) == "FAIL"
    assert "the PRIMARY deployment is IN_PROGRESS" in r.item(1)


# --- 2. Health check endpoints respond -----------------------------------------------------------------------------


def test_an_unhealthy_qdrant_container_fails_with_where_to_read_its_output():
    r = run(World(running=[task(qdrant_health="UNHEALTHY")]))
    assert r.code == 1
    assert r.statuses() == ["PASS", "FAIL", "PASS", "SKIP", "SKIP", "PASS", "PASS", "PASS"]
    assert r.item(2).startswith("FAIL  2. Health check endpoints respond (FastAPI and Qdrant): qdrant is UNHEALTHY: "
                                "its health check fails (or is still in its start period) | task "
                                f"{TASK_ID} UNHEALTHY: fastapi RUNNING HEALTHY, qdrant RUNNING UNHEALTHY")
    assert (f"qdrant's output: aws logs tail {LOG_GROUP} --log-stream-names qdrant/qdrant/{TASK_ID} --since 15m "
            f"--region {REGION}") in r.item(2)


# --- 3. EFS volume mounts correctly --------------------------------------------------------------------------------


@pytest.mark.parametrize("change, evidence", [
    (lambda mts: mts[2].update(LifeCycleState="deleting"),
     "mount target fsmt-02a1b2c3d4e5f6a7b in subnet-18ddaa53 is deleting"),
    (lambda mts: mts.pop(0), "no mount target in task subnet subnet-677d281e"),
    (lambda mts: mts.__setitem__(1, mount_target("subnet-0ffffffffffffffff")),
     "no mount target in task subnet subnet-5498bc0e"),
])
def test_a_mount_target_missing_or_not_available_fails(change, evidence):
    w = World()
    change(w.mount_targets)
    r = run(w)
    assert r.code == 1
    assert r.status(3) == "FAIL" and evidence in r.item(3)
    assert "mount targets available in 2 of 3 task subnets" in r.item(3)


def test_a_task_volume_through_another_access_point_fails():
    w = World()
    w.taskdef = copy.deepcopy(w.taskdef)
    qdrant_volume = w.taskdef["taskDefinition"]["volumes"][1]["efsVolumeConfiguration"]
    qdrant_volume["authorizationConfig"]["accessPointId"] = "fsap-0ffffffffffffffff"
    r = run(w)
    assert r.status(3) == "FAIL"
    assert "volume qdrant-storage uses access point fsap-0ffffffffffffffff, not one of the stack's" in r.item(3)
    assert f"access point {QDRANT_AP} is used by no volume of wwhd-backend:7" in r.item(3)


# --- 4 and 5. Inside the task: SQLite and Qdrant -------------------------------------------------------------------


def printed_python(item: str) -> str:
    """The Python an operator's ``aws ecs execute-command`` runs: split as a POSIX shell would, then as the
    agent does (shlex rules), and check the form ``python -c CODE``."""
    command = next(line for line in item.splitlines() if line.startswith("aws ecs execute-command"))
    argv = shlex.split(command)
    assert argv[argv.index("--container") + 1] == "fastapi" and "--interactive" in argv
    assert argv[argv.index("--task") + 1] == TASK_ID and argv[argv.index("--cluster") + 1] == CLUSTER
    program = shlex.split(argv[argv.index("--command") + 1])
    assert program[:2] == ["python", "-c"] and len(program) == 3
    return program[2]


def test_the_sqlite_command_opens_the_database_read_only_and_reports_it(tmp_path):
    db = tmp_path / "wwhd.db"
    with sqlite3.connect(db) as c:
        c.execute("create table conversations (id integer primary key)")
    w = World(taskdef=task_definition(sqlite_path=str(db)))
    r = run(w)
    assert r.status(4) == "SKIP"
    assert "not run by verify (read-only; it would run inside the task); ECS Exec is on (service) and its agent is " \
           f"RUNNING in fastapi; task {TASK_ID}; run it with:" in r.item(4)
    code = printed_python(r.item(4))
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert ran.stdout.strip() == "quick_check: ok | schema objects: 1", ran.stderr
    missing = subprocess.run([sys.executable, "-c", code.replace(str(db), str(tmp_path / "absent.db"))],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and not (tmp_path / "absent.db").exists()  # mode=ro never creates the file


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # the name http.server calls
        body = b"all shards are ready" if self.path in ("/readyz", "/health") else b"not found"
        self.send_response(self.server.status if self.path in ("/readyz", "/health") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_http():
    """A web server on 127.0.0.1 answering /readyz and /health (status settable)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.status = 200
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_qdrant_command_reaches_readyz_from_the_app_container(local_http):
    url = f"http://127.0.0.1:{local_http.server_address[1]}"
    r = run(World(taskdef=task_definition(qdrant_url=url)))
    assert r.status(5) == "SKIP" and "expect: 200 all shards are ready" in r.item(5)
    code = printed_python(r.item(5))
    assert f"{url}/readyz" in code
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert ran.stdout.strip() == "200 all shards are ready", ran.stderr


def test_ecs_exec_off_skips_both_shell_items_and_says_how_to_turn_the_debug_shell_on():
    """The hardened default (service.debug_shell false): never PASS or FAIL, and the fix runs as printed with the
    user's --region and --profile."""
    w = World()
    w.service["enableExecuteCommand"] = False
    token = INVOCATION.set(Invocation("verify", "us-west-2", "ops team"))
    try:
        r = run(w)
    finally:
        INVOCATION.reset(token)
    assert r.code == 0 and r.status(4) == r.status(5) == "SKIP"
    for n in (4, 5):
        assert "ECS Exec is off on the service (enableExecuteCommand false)" in r.item(n)
        assert ("set service.debug_shell: true in params/prod.yaml, then run python generate.py bootstrap --env prod "
                "--region us-west-2 --profile 'ops team' (the task role's ECS Exec channels) and python generate.py "
                "plan --env prod --region us-west-2 --profile 'ops team', and apply the "
                "change set it prints") in r.item(n)
        assert "afterwards turn it back off the same way with false" in r.item(n)
    then = next(line.strip() for line in r.item(4).splitlines() if line.strip().startswith("then: "))
    argv = shlex.split(then[len("then: "):])
    assert argv[:3] == ["aws", "ecs", "execute-command"] and argv[argv.index("--profile") + 1] == "ops team"


def test_ecs_exec_off_although_the_params_turn_it_on_skips_with_the_plan_that_applies_it():
    w = World()
    w.service["enableExecuteCommand"] = False
    r = run(w, p=PROD.model_copy(update={"service": PROD.service.model_copy(update={"debug_shell": True})}))
    assert r.status(4) == r.status(5) == "SKIP"
    assert ("params/prod.yaml turns service.debug_shell on, but the deployed service has not got it yet: "
            "python generate.py plan --env prod shows the change; apply it") in r.item(4)
    # a service changed by hand (drift): the command that resets what no change set resets, as it runs
    reset = next(part for part in r.item(4).split(": ") if part.startswith("aws ecs update-service"))
    argv = shlex.split(reset.split(" (a new deployment", 1)[0])
    assert argv == ["aws", "ecs", "update-service", "--cluster", "wwhd-cluster", "--service", "wwhd-backend",
                    "--enable-execute-command", "--force-new-deployment", "--region", "us-west-2"]


# --- 6. Secrets Manager integration works --------------------------------------------------------------------------


def test_a_secret_scheduled_for_deletion_fails_with_the_command_that_restores_it():
    w = World()
    w.secrets[JWT_ARN] = secret(JWT_ARN, "wwhd-dev/jwt-secret", deleted=NOW + timedelta(days=6))
    r = run(w)
    assert r.code == 1
    assert r.item(6).startswith(
        "FAIL  6. Secrets Manager integration works: JWT_SECRET: wwhd-dev/jwt-secret is scheduled for deletion on "
        f"2025-11-13 13:00:00 UTC; undo: aws secretsmanager restore-secret --secret-id {JWT_ARN} --region {REGION} | "
        "OPENAI_API_KEY -> wwhd-dev/openai-api-key exists")


def test_a_missing_secret_fails_with_aws_answer():
    missing = ("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
    w = World(refuse={"describe_secret": missing})
    r = run(w)
    assert r.status(6) == "FAIL"
    assert (f"JWT_SECRET: {JWT_ARN}: ResourceNotFoundException: Secrets Manager can't find the "
            "specified secret." in r.item(6))


# --- 7. CloudWatch logging active ----------------------------------------------------------------------------------


def test_log_streams_older_than_since_fail_and_a_longer_since_passes():
    w = World(streams=[stream(f"fastapi/fastapi/{TASK_ID}", NOW - timedelta(minutes=40)),
                       stream(f"qdrant/qdrant/{TASK_ID}", NOW - timedelta(seconds=30))])
    r = run(w)
    assert r.code == 1 and r.status(7) == "FAIL"
    assert r.item(7).startswith(f"FAIL  7. CloudWatch logging active: fastapi/fastapi/{TASK_ID} last event 40m00s ago "
                                f"(older than --since 15m00s) | {LOG_GROUP} retention 90 days; "
                                f"qdrant/qdrant/{TASK_ID} last event 30s ago")
    assert "lastEventTimestamp is eventually consistent" in r.item(7)
    assert run(w, since=60).status(7) == "PASS"


def test_the_running_tasks_stream_must_be_among_the_recent_ones():
    w = World(streams=[stream(f"fastapi/fastapi/{TASK_ID}", NOW - timedelta(seconds=5)),
                       stream(f"qdrant/qdrant/{OLD_TASK_ID}", NOW - timedelta(minutes=2))])
    r = run(w)
    assert r.status(7) == "FAIL"
    assert (f"qdrant: the running task's stream qdrant/qdrant/{TASK_ID} is not among the 10 most recent; the newest "
            f"qdrant/ stream is qdrant/qdrant/{OLD_TASK_ID}") in r.item(7)


def test_a_log_group_without_retention_fails():
    r = run(World(retention=None))
    assert r.status(7) == "FAIL"
    assert f"{LOG_GROUP} has no retention: its logs are kept (and paid for) forever" in r.item(7)


# --- 8. Load balancer routes traffic correctly ---------------------------------------------------------------------


def test_an_unhealthy_target_fails_with_its_reason_code():
    w = World(targets=[target("unhealthy", "Target.ResponseCodeMismatch",
                              "Health checks failed with these codes: [502]")])
    r = run(w)
    assert r.code == 1 and r.status(8) == "FAIL"
    assert r.item(8).startswith(
        "FAIL  8. Load balancer routes traffic correctly: 0 healthy target(s), expected exactly 1: "
        f"{TASK_IP}:8000 unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])")


def test_a_healthy_target_that_is_not_the_running_task_fails():
    r = run(World(targets=[target(ip="172.31.99.99")]))
    assert r.status(8) == "FAIL"
    assert f"the healthy target 172.31.99.99 is not the running task's ENI {TASK_IP}" in r.item(8)


def test_a_refused_call_fails_only_the_check_that_needs_it():
    r = run(World(refuse={"describe_target_health": ("AccessDenied", "User is not authorized to perform: "
                                                                      "elasticloadbalancing:DescribeTargetHealth")}))
    assert r.statuses() == ["PASS", "PASS", "PASS", "SKIP", "SKIP", "PASS", "PASS", "FAIL"]
    assert "AWS refused DescribeTargetHealth: AccessDenied: User is not authorized" in r.item(8)


@pytest.mark.parametrize("status, verdict", [(200, "PASS"), (503, "FAIL")])
def test_http_gets_the_service_url_health_path(local_http, status, verdict):
    local_http.status = status
    url = f"http://127.0.0.1:{local_http.server_address[1]}"
    w = World()
    w.outputs["ServiceUrl"] = url
    r = run(w, http=True)
    assert r.status(8) == verdict
    assert f"GET {url}/health -> {status} in " in r.item(8)


def test_http_is_off_by_default():
    r = run(World())  # no DescribeTargetGroups queued: Stubber would fail on the call, run() on a missing one
    assert "GET " not in r.item(8)


# --- through the CLI -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("world, expected", [(World, 0), (lambda: World(targets=[]), 1)])
def test_exit_codes_through_the_cli(cli, project, monkeypatch, world, expected):
    confirm_prod(project)  # the committed placeholders are refused before any AWS call (test_takeover.py)
    w = world()
    now = datetime.now(UTC)  # the CLI reads the clock: log events relative to it
    w.streams = [stream(f"fastapi/fastapi/{TASK_ID}", now), stream(f"qdrant/qdrant/{TASK_ID}", now)]
    st = Stubs()
    expect(w, st)
    monkeypatch.setattr(adapters, "connect", lambda profile, region, timeout=None: st.aws)
    result = cli("verify", "--env", "prod")
    assert result.code == expected, result.out + result.err
    st.done()
    assert result.out.splitlines()[-1].startswith("summary: ")


def test_no_stack_is_bad_input(moto, project, cli):
    result = cli("verify", "--env", "dev")
    assert result.code == 2
    assert "error: no stack wwhd-dev in us-west-2 (account 123456789012): nothing to verify" in result.err
    assert "fix: deploy it first: python generate.py plan --env dev, then apply" in result.err


def test_credentials_of_another_account_are_bad_input(moto, project, cli):
    confirm_prod(project)
    result = cli("verify", "--env", "prod")
    assert result.code == 2
    assert ("these credentials are for account 123456789012, but params/prod.yaml deploys to "
            "account 018025611404" in result.err)


@pytest.mark.parametrize("argv, message", [
    (["verify"], "--env is required for verify"),
    (["verify", "--env", "dev", "--since", "0"], "--since 0 is not a number of minutes of 1 or more"),
])
def test_bad_arguments_are_bad_input(project, cli, argv, message):
    result = cli(*argv)
    assert result.code == 2 and message in result.err


def test_against_a_deployed_stack_everything_is_found_through_the_stack_and_only_read(deployed, cli, monkeypatch):
    """moto's dev stack (desiredCount 0): the generated cluster name, the log group and the listener come from the
    stack's outputs and nested resources. moto keeps no ECS Exec flag, subnets or access point ids on the emulated
    service and stack, and its secrets are placeholders: those items fail here and are covered above."""
    made = []
    real_connect = adapters.connect
    monkeypatch.setattr(adapters, "connect",
                        lambda profile, region, timeout=60: made.append(real_connect(profile, region,
                                                                                     timeout)) or made[-1])
    result = cli("verify", "--env", "dev")
    out = Run(result.code, result.out.splitlines(), [])
    assert re.search(r"^SKIP  1\. ECS service starts successfully: "
                     r"wwhd-dev-ClusterStack-\w+-Cluster-\w+/wwhd-backend-dev "
                     r"ACTIVE; 0 of 0 task\(s\) running; .*desiredCount 0: the service is stopped", out.item(1))
    assert out.item(7).startswith("SKIP  7. CloudWatch logging active: /ecs/wwhd-backend-dev retention 14 days")
    assert out.item(8).startswith("SKIP  8. Load balancer routes traffic correctly: listener HTTP:80 -> target group "
                                  "(no domain, so no HTTPS); 0 target(s)")
    operations = {c.split(":", 1)[1] for c in made[0].calls}
    assert {"DescribeServices", "DescribeListeners", "DescribeTargetHealth", "DescribeLogStreams"} <= operations
    assert all(op.startswith(("Describe", "List")) or op == "GetCallerIdentity" for op in operations), operations
