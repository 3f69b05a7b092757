"""migrate-data: the temporary stack's template (linted, read-only source, our access points), and the steps that
talk to AWS, against botocore Stubber responses shaped as the ECS, EFS and CloudWatch Logs API references document
them (moto runs no Fargate task and mounts no file system). The copy program itself runs for real in
tests/test_copy_data.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from checks import guardrails
from checks.lint import lint
from deploy import migrate
from deploy.aws import Aws
from deploy.context import Ctx
from deploy.errors import BadInput, DeployError
from deploy.ui import Out
from templates import migrate as template
from templates._yaml import dump
from templates.config import load_params

REGION, ACCOUNT = "us-west-2", "018025611404"
SEED_FS, SEED_SG, NEW_FS = "fs-00b8168893587fd61", "sg-08c58d51b55de0ed5", "fs-0aaaaaaaaaaaaaaa1"
CLUSTER, SERVICE = "wwhd-cluster", "wwhd-backend"
TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123456789abcdef0123456789abcdef"
T = datetime(2025, 11, 8, 9, 0, tzinfo=UTC)
SCRIPT = migrate.SCRIPT.read_text()


def built() -> dict:
    return template.build(load_params("prod"), SCRIPT).to_dict()


# --- the template --------------------------------------------------------------------------------------------------


def test_the_template_is_lint_clean_and_passes_the_guardrails(tmp_path, monkeypatch):
    path = tmp_path / "migrate.yaml"
    path.write_text(dump(built()))
    monkeypatch.chdir(tmp_path)
    assert lint({Path("migrate.yaml"): []}, [REGION], cache_file=None) == []
    assert guardrails.check({"migrate": built()}) == []


def test_the_source_is_mounted_read_only_and_the_new_file_system_through_our_access_points():
    t = built()["Resources"]
    task = t["TaskDefinition"]["Properties"]
    volumes = {v["Name"]: v["EFSVolumeConfiguration"] for v in task["Volumes"]}
    assert volumes["source"] == {"FilesystemId": {"Ref": "SourceFileSystemId"}, "RootDirectory": "/",
                                 "TransitEncryption": "ENABLED", "AuthorizationConfig": {"IAM": {"Ref": "SourceIam"}}}
    for name, ap in (("app", "AppAccessPointId"), ("qdrant", "QdrantAccessPointId")):
        assert volumes[name]["AuthorizationConfig"] == {"AccessPointId": {"Ref": ap}, "IAM": "ENABLED"}
        assert volumes[name]["FilesystemId"] == {"Ref": "FileSystemId"}
    (container,) = task["ContainerDefinitions"]
    mounts = {m["SourceVolume"]: (m["ContainerPath"], m["ReadOnly"]) for m in container["MountPoints"]}
    assert mounts == {"source": ("/mnt/source", True), "app": ("/mnt/app", False), "qdrant": ("/mnt/qdrant", False)}
    assert container["EntryPoint"][:2] == ["/bin/sh", "-c"] and container["Command"][:2] == ["-c", SCRIPT]
    assert container["User"] == "0:0"  # reads every source file; writes go through the access points as 1000:1000


def test_the_copy_runs_in_the_apps_own_image_from_the_environments_registry():
    """Never an anonymous Docker Hub pull: the environment's ECR repository (params image.repository) at the tag the
    service runs, pulled by the identity stack's execution role (a parameter: this stack creates no IAM)."""
    t = built()
    (container,) = t["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    uri, values = container["Image"]["Fn::Sub"]
    assert uri == "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/wwhd-dev-backend:${Tag}"
    assert values == {"Tag": {"Ref": "ImageTag"}}
    assert t["Parameters"]["ImageTag"]["AllowedPattern"] and t["Parameters"]["SourceIam"]["AllowedValues"] == [
        "ENABLED", "DISABLED"]
    assert not [r for r in t["Resources"].values() if r["Type"].startswith("AWS::IAM::")]
    props = t["Resources"]["TaskDefinition"]["Properties"]
    assert props["ExecutionRoleArn"] == {"Ref": "ExecutionRoleArn"} and props["TaskRoleArn"] == {"Ref": "TaskRoleArn"}
    assert "docker" not in json.dumps(t).lower()


def _entry(tmp_path: Path, path: str) -> subprocess.CompletedProcess:
    """The container's entry point and command as Docker joins them, run by this machine's /bin/sh."""
    for d in ("src/wwhd-data", "app/qdrant"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    (tmp_path / "src/wwhd-data/wwhd.db").write_bytes(b"SQLite format 3\x00")
    args = [a.replace(template.SOURCE_PATH, str(tmp_path / "src")).replace(template.APP_PATH, str(tmp_path / "app"))
            .replace(template.QDRANT_PATH, str(tmp_path / "app/qdrant")) for a in template.command(SCRIPT)]
    return subprocess.run([*template.ENTRY_POINT, *args, "--owner", f"{os.getuid()}:{os.getgid()}"],
                          capture_output=True, text=True, timeout=60, env={"PATH": path})


def test_the_entry_point_runs_the_program_with_python3_or_python(tmp_path):
    done = _entry(tmp_path, str(Path(sys.executable).parent))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["event"] == "found" and lines[-1] == {"event": "done", "mode": "dry-run", "files": 1,
                                                           "directories": 0, "bytes": 16}


def test_an_image_without_python_ends_with_a_refusal_the_report_reads(tmp_path):
    done = _entry(tmp_path, str(tmp_path / "no-such-bin"))
    assert done.returncode == 3
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"event": "refused", "reason": "the app image has neither python3 nor python on PATH"}]


def test_the_path_is_one_nfs_rule_on_each_file_systems_group_from_the_tasks_own_group():
    t = built()["Resources"]
    rules = {k: v["Properties"] for k, v in t.items() if v["Type"] == "AWS::EC2::SecurityGroupIngress"}
    assert {k: (r["GroupId"], r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]) for k, r in rules.items()} == {
        "SourceIngressMigrate": ({"Ref": "SourceSecurityGroupId"}, 2049, 2049,
                                 {"Fn::GetAtt": ["MigrateSecurityGroup", "GroupId"]}),
        "FileSystemIngressMigrate": ({"Ref": "FileSystemSecurityGroupId"}, 2049, 2049,
                                     {"Fn::GetAtt": ["MigrateSecurityGroup", "GroupId"]})}
    egress = t["MigrateSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert sorted(e["FromPort"] for e in egress) == [443, 2049, 2049]


# --- AWS steps (Stubber) -------------------------------------------------------------------------------------------


class Stubbed:
    def __init__(self, *services: str):
        self.aws = Aws(boto3.Session(region_name=REGION), REGION)
        self.stub = {}
        for s in services:
            self.stub[s] = Stubber(self.aws.client(s))
            self.stub[s].activate()
        self.buf = io.StringIO()
        self.ctx = Ctx(p=load_params("prod"), aws=self.aws, out=Out(stdout=self.buf), home=Path("."))

    def done(self):
        for s in self.stub.values():
            s.assert_no_pending_responses()


OURS = migrate.Ours(CLUSTER, SERVICE, NEW_FS, "fsap-0aaaaaaaaaaaaaaa1", "fsap-0aaaaaaaaaaaaaaa2",
                    "sg-0aaaaaaaaaaaaaaa1",
                    f"arn:aws:iam::{ACCOUNT}:role/task", f"arn:aws:iam::{ACCOUNT}:role/exec", "vpc-7b44bd03",
                    ("subnet-677d281e", "subnet-5498bc0e", "subnet-18ddaa53"), "2025-11-07")


def service(desired: int, running: int) -> dict:
    return {"services": [{"serviceName": SERVICE, "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
                          "status": "ACTIVE", "desiredCount": desired, "runningCount": running, "pendingCount": 0}],
            "failures": []}


def writers(s: Stubbed, desired: int, running: list[str], seed_tasks: list[str]) -> None:
    ecs = s.stub["ecs"]
    ecs.add_response("describe_services", service(desired, len(running)), {"cluster": CLUSTER, "services": [SERVICE]})
    ecs.add_response("list_tasks", {"taskArns": running}, {"cluster": CLUSTER, "serviceName": SERVICE})
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
    ecs.add_response("list_clusters", {"clusterArns": [cluster_arn]}, {})
    ecs.add_response("list_tasks", {"taskArns": seed_tasks}, {"cluster": cluster_arn, "family": "wwhd-backend"})


def test_nothing_writes_nothing_is_refused():
    s = Stubbed("ecs")
    writers(s, 0, [], [])
    migrate.refuse_writers(s.ctx, OURS, "wwhd-backend")
    s.done()


def test_a_running_service_is_refused_with_the_command_that_stops_it():
    s = Stubbed("ecs")
    writers(s, 1, [TASK], [])
    with pytest.raises(DeployError) as e:
        migrate.refuse_writers(s.ctx, OURS, "wwhd-backend")
    assert "the service wwhd-backend runs (desired 1, 1 task(s))" in e.value.message
    assert "python generate.py apply --env prod --desired-count 0" in e.value.render()


def test_a_running_task_of_the_seeds_family_is_refused():
    s = Stubbed("ecs")
    writers(s, 0, [], [TASK])
    with pytest.raises(DeployError, match="task\\(s\\) of the seed's family wwhd-backend run") as e:
        migrate.refuse_writers(s.ctx, OURS, "wwhd-backend")
    assert f"aws ecs stop-task --cluster {CLUSTER} --task {TASK} --region us-west-2" in e.value.render()


def file_system(fs: str = SEED_FS) -> dict:
    return {"FileSystems": [{"OwnerId": ACCOUNT, "CreationToken": "wwhd-data-1762473600", "FileSystemId": fs,
                             "CreationTime": T, "LifeCycleState": "available", "NumberOfMountTargets": 3,
                             "SizeInBytes": {"Value": 6144}, "PerformanceMode": "generalPurpose", "Encrypted": False,
                             "Tags": []}]}


def mount_targets(s: Stubbed, groups: dict[str, list[str]]) -> None:
    efs = s.stub["efs"]
    efs.add_response("describe_file_systems", file_system(), {"FileSystemId": SEED_FS})
    targets = [{"MountTargetId": f"fsmt-0{i}aaaaaaaaaaaaaaa", "FileSystemId": SEED_FS, "SubnetId": subnet,
                "LifeCycleState": "available"} for i, subnet in enumerate(groups)]
    efs.add_response("describe_mount_targets", {"MountTargets": targets}, {"FileSystemId": SEED_FS})
    for t, sgs in zip(targets, groups.values(), strict=True):
        efs.add_response("describe_mount_target_security_groups", {"SecurityGroups": sgs},
                         {"MountTargetId": t["MountTargetId"]})


def no_policy(s: Stubbed, fs: str = SEED_FS) -> None:
    """EFS API reference, DescribeFileSystemPolicy: PolicyNotFound (HTTP 404) when the default policy is in effect."""
    s.stub["efs"].add_client_error("describe_file_system_policy", "PolicyNotFound", "None", 404, {"FileSystemId": fs})


SEED_POLICY = json.dumps({"Version": "2012-10-17", "Id": "seed", "Statement": [{
    "Sid": "seed", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:ClientMount",
    "Resource": f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{SEED_FS}",
    "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]})


def a_policy(s: Stubbed, fs: str = SEED_FS) -> None:
    s.stub["efs"].add_response("describe_file_system_policy", {"FileSystemId": fs, "Policy": SEED_POLICY},
                               {"FileSystemId": fs})


def test_the_source_is_reached_through_its_one_security_group_in_our_subnets():
    s = Stubbed("efs")
    mount_targets(s, {"subnet-677d281e": [SEED_SG], "subnet-5498bc0e": [SEED_SG],
                      "subnet-0a1b2c3d": ["sg-0a1b2c3d4e5f60718"]})
    no_policy(s)
    src = migrate.source(s.ctx, OURS, SEED_FS)
    s.done()
    assert src == migrate.Source(SEED_FS, SEED_SG, ("subnet-677d281e", "subnet-5498bc0e"), 6144)
    assert {p["ParameterKey"]: p["ParameterValue"] for p in migrate.parameters(OURS, src)}["SourceIam"] == "DISABLED"


def test_a_source_with_a_file_system_policy_is_mounted_with_iam_as_the_task_role():
    s = Stubbed("efs")
    mount_targets(s, {"subnet-677d281e": [SEED_SG]})
    a_policy(s)
    src = migrate.source(s.ctx, OURS, SEED_FS)
    s.done()
    assert src.policy is True
    values = {p["ParameterKey"]: p["ParameterValue"] for p in migrate.parameters(OURS, src)}
    assert values["SourceIam"] == "ENABLED" and values["TaskRoleArn"] == OURS.task_role
    assert values["ImageTag"] == OURS.image_tag


def test_the_statement_for_the_seeds_policy_grants_a_read_only_root_mount_to_the_task_role():
    """No ClientWrite: with IAM authorization EFS refuses writes, a second guard beside the read-only mount point."""
    fs_arn = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{SEED_FS}"
    statement = migrate.seed_read_statement(OURS.task_role, fs_arn)
    assert statement["Principal"] == {"AWS": OURS.task_role} and statement["Resource"] == fs_arn
    assert statement["Action"] == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess"]
    assert statement["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}


def test_a_source_without_one_common_group_or_mount_target_in_our_subnets_is_refused():
    s = Stubbed("efs")
    mount_targets(s, {"subnet-677d281e": [SEED_SG], "subnet-5498bc0e": ["sg-0a1b2c3d4e5f60718"]})
    with pytest.raises(DeployError, match="share 0 security groups"):
        migrate.source(s.ctx, OURS, SEED_FS)
    s = Stubbed("efs")
    mount_targets(s, {"subnet-0a1b2c3d": [SEED_SG]})
    with pytest.raises(DeployError, match="no available mount target in the task subnets"):
        migrate.source(s.ctx, OURS, SEED_FS)


def test_our_own_file_system_is_not_a_source():
    with pytest.raises(BadInput):
        migrate.source(Stubbed().ctx, OURS, NEW_FS)


def run_and_stop(s: Stubbed, execute: bool, exit_code: int, lines: list[dict]) -> None:
    ecs, logs = s.stub["ecs"], s.stub["logs"]
    ecs.add_response("run_task", {"tasks": [{"taskArn": TASK, "lastStatus": "PROVISIONING"}], "failures": []}, {
        "cluster": CLUSTER, "taskDefinition": "arn:td", "launchType": "FARGATE", "platformVersion": "LATEST",
        "count": 1,
        "startedBy": "wwhd-infra-migrate",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-677d281e"],
                                                         "securityGroups": ["sg-0a1b2c3d4e5f60799"],
                                                         "assignPublicIp": "ENABLED"}},
        "overrides": {"containerOverrides": [{"name": "copy", "environment": [
            {"name": "MIGRATE_EXECUTE", "value": "1" if execute else "0"}]}]}})
    running = {"tasks": [{"taskArn": TASK, "lastStatus": "RUNNING",
                          "containers": [{"name": "copy", "lastStatus": "RUNNING"}]}],
               "failures": []}
    stopped = {"tasks": [{"taskArn": TASK, "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
                          "stoppedReason": "Essential container in task exited",
                          "containers": [{"name": "copy", "lastStatus": "STOPPED", "exitCode": exit_code}]}],
               "failures": []}
    # the waiter polls DescribeTasks until every task is STOPPED; then we read it
    for answer in (running, stopped, stopped):
        ecs.add_response("describe_tasks", answer, {"cluster": CLUSTER, "tasks": [TASK]})
    stream = f"migrate/copy/{TASK.rsplit('/', 1)[-1]}"
    events = [{"timestamp": 1762592400000 + i, "message": json.dumps(e), "ingestionTime": 1762592401000 + i}
              for i, e in enumerate(lines)]
    logs.add_response("get_log_events", {"events": events, "nextForwardToken": "f/1", "nextBackwardToken": "b/1"},
                      {"logGroupName": "/ecs/wwhd-backend", "logStreamName": stream, "startFromHead": True})
    logs.add_response("get_log_events", {"events": [], "nextForwardToken": "f/1", "nextBackwardToken": "b/1"},
                      {"logGroupName": "/ecs/wwhd-backend", "logStreamName": stream, "startFromHead": True,
                       "nextToken": "f/1"})


def test_the_task_runs_its_report_is_read_back_from_its_log_stream(monkeypatch):
    monkeypatch.setattr(migrate, "WAIT", {"Delay": 0, "MaxAttempts": 3})
    s = Stubbed("ecs", "logs")
    lines = [{"event": "found", "layout": "flat", "entries": ["wwhd.db"], "files": 2, "directories": 1, "bytes": 5120},
             {"event": "map", "source": "wwhd-data/wwhd.db", "to": "app:wwhd.db"},
             {"event": "map", "source": "wwhd-data/collections", "to": "qdrant:collections"},
             {"event": "verified", "files": 2, "directories": 1, "bytes": 5120},
             {"event": "done", "mode": "copy", "files": 2, "directories": 1, "bytes": 5120}]
    run_and_stop(s, True, 0, lines)
    src = migrate.Source(SEED_FS, SEED_SG, ("subnet-677d281e",), 6144)
    assert migrate.run_task(s.ctx, OURS, src, "arn:td", "sg-0a1b2c3d4e5f60799", execute=True) == TASK
    code, events, why = migrate.wait_and_report(s.ctx, OURS, TASK)
    s.done()
    assert (code, why) == (0, "EssentialContainerExited Essential container in task exited")
    migrate.show(s.ctx, events)
    text = s.buf.getvalue()
    assert "found: layout flat, 2 file(s), 1 folder(s), 5120 bytes" in text
    assert "  wwhd-data/collections  ->  qdrant:collections" in text
    assert "verified: 2 file(s), 1 folder(s), 5120 bytes" in text


def test_a_refusal_inside_the_task_comes_back_as_its_reason(monkeypatch):
    monkeypatch.setattr(migrate, "WAIT", {"Delay": 0, "MaxAttempts": 3})
    s = Stubbed("ecs", "logs")
    run_and_stop(s, False, 3, [{"event": "refused", "reason": "unknown entries in /wwhd-data: notes.txt"}])
    src = migrate.Source(SEED_FS, SEED_SG, ("subnet-677d281e",), 6144)
    migrate.run_task(s.ctx, OURS, src, "arn:td", "sg-0a1b2c3d4e5f60799", execute=False)
    code, events, _ = migrate.wait_and_report(s.ctx, OURS, TASK)
    assert code == 3 and events == [{"event": "refused", "reason": "unknown entries in /wwhd-data: notes.txt"}]


def test_a_mount_the_seeds_policy_refuses_names_the_statement_to_add():
    """ECS stops a task whose EFS mount fails with ResourceInitializationError; with IAM authorization that the file
    system policy does not allow, mount.nfs4 reports "access denied by server"."""
    why = ("TaskFailedToStart ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes: "
           "stderr: b'mount.nfs4: access denied by server while mounting 127.0.0.1:/'")
    s = Stubbed()
    with_policy = migrate.Source(SEED_FS, SEED_SG, ("subnet-677d281e",), 6144, True, "arn:fs")
    fix = migrate.failure_fix(s.ctx, with_policy, why, execute=True)
    assert fix.startswith(f"add the statement printed above to the file system policy of {SEED_FS}")
    assert fix.endswith(f"python generate.py migrate-data --env prod --from {SEED_FS} --execute")
    without = migrate.Source(SEED_FS, SEED_SG, ("subnet-677d281e",), 6144, False)
    assert migrate.failure_fix(s.ctx, without, why, execute=True) == "read the lines above; the source is untouched"


def test_a_task_ecs_cannot_start_is_an_error_with_ecs_reason():
    s = Stubbed("ecs")
    s.stub["ecs"].add_response("run_task", {"tasks": [], "failures": [{"arn": "arn:td", "reason": "RESOURCE:MEMORY"}]})
    with pytest.raises(DeployError, match="RESOURCE:MEMORY"):
        migrate.run_task(s.ctx, OURS, migrate.Source(SEED_FS, SEED_SG, ("subnet-677d281e",), 0), "arn:td",
                         "sg-0a1b2c3d4e5f60799", False)


def test_a_malformed_file_system_id_is_bad_input_before_any_call(capsys):
    import generate

    assert generate.main(["migrate-data", "--env", "dev", "--from", "fs-XYZ"]) == 2
    assert "is not a file system id" in capsys.readouterr().err


# --- end to end in the emulator: reviewed, refused without confirmation, the path removed whatever happens ----------


def seed_file_system(region: str = REGION) -> str:
    """A hand-made file system like the seed's (no encryption, its own group, a mount target in a task subnet)."""
    cfn = boto3.client("cloudformation", region_name=region)
    outputs = {}
    for s in cfn.describe_stacks()["Stacks"]:
        outputs.update({o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])})
    ec2, efs = boto3.client("ec2", region_name=region), boto3.client("efs", region_name=region)
    sg = ec2.create_security_group(GroupName="wwhd-efs-sg", Description="WWHD EFS", VpcId=outputs["VpcId"])["GroupId"]
    fs = efs.create_file_system(CreationToken="wwhd-data-1762473600", PerformanceMode="generalPurpose")["FileSystemId"]
    efs.create_mount_target(FileSystemId=fs, SubnetId=outputs["SubnetIds"].split(",")[0], SecurityGroups=[sg])
    return fs


def migrate_stack_exists() -> bool:
    names = [s["StackName"] for s in boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
             if s["StackStatus"] != "DELETE_COMPLETE"]
    return "wwhd-dev-migrate" in names


def test_without_a_terminal_the_path_is_reviewed_not_created(deployed, cli):
    fs = seed_file_system()
    result = cli("migrate-data", "--env", "dev", "--from", fs)
    assert result.code == 2, result.out + result.err
    assert "Plan for wwhd-dev-migrate (CREATE)" in result.out
    assert "SourceIngressMigrate" in result.out and "AWS::EC2::SecurityGroupIngress" in result.out
    assert f"python generate.py migrate-data --env dev --from {fs} --yes" in result.err
    assert not migrate_stack_exists()


def test_the_path_is_removed_even_when_the_task_does_not_finish(deployed, cli, monkeypatch):
    """moto starts no Fargate task that ever stops: the waiter gives up, and the temporary stack is deleted anyway."""
    monkeypatch.setattr(migrate, "WAIT", {"Delay": 0, "MaxAttempts": 2})
    fs = seed_file_system()
    result = cli("migrate-data", "--env", "dev", "--from", fs, "--yes")
    assert result.code == 1
    assert "did not stop in time" in result.err
    assert f"wwhd-dev-migrate deleted: the path to {fs} is closed" in result.out
    assert not migrate_stack_exists()


def test_a_running_service_stops_migrate_data_before_anything_is_planned(deployed, cli):
    from .conftest import push_image

    push_image("wwhd-backend-dev", "v1")  # DesiredCount 1 needs the image (preflight)
    started = cli("apply", "--env", "dev", "--desired-count", "1", "--yes")
    assert started.code == 0, started.err
    fs = seed_file_system()
    result = cli("migrate-data", "--env", "dev", "--from", fs)
    assert result.code == 1 and "runs (desired 1" in result.err
    assert "Plan for wwhd-dev-migrate" not in result.out and not migrate_stack_exists()


def test_a_report_whose_last_line_has_not_arrived_is_read_again(monkeypatch):
    """CloudWatch Logs ingests with a delay: the first read lacks the final line, the second has it."""
    s = Stubbed("logs")
    s.ctx.poller.sleep = lambda seconds: None
    stream = f"migrate/copy/{TASK.rsplit('/', 1)[-1]}"
    found = {"event": "found", "layout": "empty", "entries": [], "files": 0, "directories": 0, "bytes": 0}
    nothing = {"event": "nothing", "message": "nothing to copy: the source holds no data"}
    base = {"logGroupName": "/ecs/wwhd-backend", "logStreamName": stream, "startFromHead": True}
    for lines in ([found], [found, nothing]):
        events = [{"timestamp": 1762592400000 + i, "message": json.dumps(e), "ingestionTime": 1762592401000 + i}
                  for i, e in enumerate(lines)]
        s.stub["logs"].add_response("get_log_events", {"events": events, "nextForwardToken": "f/1",
                                                       "nextBackwardToken": "b/1"}, base)
        s.stub["logs"].add_response("get_log_events", {"events": [], "nextForwardToken": "f/1",
                                                       "nextBackwardToken": "b/1"}, {**base, "nextToken": "f/1"})
    assert migrate.complete_report(s.ctx, TASK) == [found, nothing]
    s.done()


# --- what the command says at the end: only what the report proves --------------------------------------------------

FOUND = {"event": "found", "layout": "flat", "entries": ["wwhd.db"], "files": 2, "directories": 1, "bytes": 5120}
MAP = {"event": "map", "source": "wwhd-data/wwhd.db", "to": "app:wwhd.db"}
UNREAD = {"event": "log", "message": "could not read the log stream migrate/copy/x: AccessDenied"}


@pytest.fixture
def invoked():
    from deploy.errors import INVOCATION, Invocation

    token = INVOCATION.set(Invocation("migrate-data", None, None, (("--from", SEED_FS),)))
    yield
    INVOCATION.reset(token)


def test_a_dry_run_whose_report_cannot_be_read_fails_with_how_to_read_it(invoked):
    from deploy.verbs import migrate

    s = Stubbed()
    with pytest.raises(DeployError) as failed:
        migrate._outcome(s.ctx, TASK, [UNREAD], SEED_FS, execute=False)
    assert "could not be read" in failed.value.message and "complete" not in s.buf.getvalue()
    stream = f"migrate/copy/{TASK.rsplit('/', 1)[-1]}"
    assert (f"aws logs tail /ecs/wwhd-backend --log-stream-names {stream} --region {REGION}" in failed.value.fix
            and f"python generate.py migrate-data --env prod --from {SEED_FS}" in failed.value.fix)


def test_a_dry_run_is_complete_only_with_its_layout_and_mapping(invoked):
    from deploy.verbs import migrate

    s = Stubbed()
    done = {"event": "done", "mode": "dry-run", "files": 2, "directories": 1, "bytes": 5120}
    assert migrate._outcome(s.ctx, TASK, [FOUND, MAP, done], SEED_FS, execute=False) == 0
    assert "dry run complete; copy with: " in s.buf.getvalue()


def test_a_copy_is_called_copied_only_after_its_verification(invoked):
    from deploy.verbs import migrate

    s = Stubbed()
    done = {"event": "done", "mode": "copy", "files": 2, "directories": 1, "bytes": 5120}
    with pytest.raises(DeployError, match="unverified copy"):
        migrate._outcome(s.ctx, TASK, [FOUND, MAP, done], SEED_FS, execute=True)
    assert "copied" not in s.buf.getvalue()
    verified = {"event": "verified", "files": 2, "directories": 1, "bytes": 5120}
    assert migrate._outcome(s.ctx, TASK, [FOUND, MAP, verified, done], SEED_FS, execute=True) == 0
    assert "copied and verified; start the service: " in s.buf.getvalue()
