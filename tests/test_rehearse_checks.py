"""Each real-AWS check of scripts/rehearse.py, PASS and FAIL, on botocore Stubber answers shaped as the API
references document them (CloudFormation DescribeChangeSet/DescribeStackEvents/ListStackResources/DescribeStacks, ECS
ListTasks/DescribeTasks/ExecuteCommand/DescribeServices, ELBv2 DescribeTargetHealth): their code has run before the
day a scratch account answers."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from scripts import rehearse
from scripts.rehearse import FAIL, PASS, Step

REGION = "us-west-2"
ROOT = "arn:aws:cloudformation:us-west-2:111122223333:stack/wwhd-reh-abc123/1"
CHILD = "arn:aws:cloudformation:us-west-2:111122223333:stack/wwhd-reh-abc123-StorageStack-X/2"
CS = "arn:aws:cloudformation:us-west-2:111122223333:changeSet/wwhd-reh-abc123-1/3"
TASK = "arn:aws:ecs:us-west-2:111122223333:task/wwhd-cluster/0123456789abcdef0"
T0 = datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: Stubber answers


def stubbed(service):
    client = boto3.client(service, region_name=REGION)
    return client, Stubber(client)


def _change(logical, nested_cs=None):
    rc = {"Action": "Add", "LogicalResourceId": logical, "ResourceType": "AWS::CloudFormation::Stack"}
    if nested_cs:
        rc["ChangeSetId"] = nested_cs
    return {"Type": "Resource", "ResourceChange": rc}


@pytest.mark.parametrize("include, changes, status, evidence", [
    (True, [_change("StorageStack", CS + "-s"), _change("ServiceStack", CS + "-v")], PASS,
     "2 nested change sets: StorageStack, ServiceStack"),
    (False, [_change("StorageStack"), _change("ServiceStack")], FAIL,
     "IncludeNestedStacks=False; 0 of 2 nested stacks have their own change set"),
])
def test_nested_change_sets(include, changes, status, evidence):
    cfn, st = stubbed("cloudformation")
    st.add_response("describe_change_set", {"ChangeSetId": CS, "StackName": "wwhd-reh-abc123",
                                            "IncludeNestedStacks": include, "Changes": changes,
                                            "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE"},
                    {"ChangeSetName": CS})
    with st:
        f = rehearse.check_nested_change_sets(cfn, CS)
    assert (f.status, f.evidence) == (status, evidence)


def _bucket_events(status, reason=None):
    event = {"StackId": CHILD, "EventId": "e1", "StackName": "child", "LogicalResourceId": "AccessLogBucket",
             "ResourceType": "AWS::S3::Bucket", "Timestamp": T0, "ResourceStatus": status}
    if reason:
        event["ResourceStatusReason"] = reason
    return event


@pytest.mark.parametrize("event, status, evidence", [
    (_bucket_events("CREATE_COMPLETE"), PASS, "CREATE_COMPLETE without s3:DeleteObject: AccessLogBucket"),
    (_bucket_events("CREATE_FAILED", "Resource handler returned message: \"Access Denied (Service: S3, Status Code: "
                    "403)\""), FAIL, "AccessLogBucket: CREATE_FAILED: Resource handler returned message: \"Access "
                                     "Denied (Service: S3, Status Code: 403)\""),
])
def test_bucket_create_without_delete_object(event, status, evidence):
    cfn, st = stubbed("cloudformation")
    st.add_response("list_stack_resources", {"StackResourceSummaries": [{
        "LogicalResourceId": "LoadBalancerStack", "PhysicalResourceId": CHILD,
        "ResourceType": "AWS::CloudFormation::Stack", "LastUpdatedTimestamp": T0,
        "ResourceStatus": "CREATE_COMPLETE"}]}, {"StackName": "wwhd-reh-abc123"})
    st.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": CHILD})
    st.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": "wwhd-reh-abc123"})
    st.add_response("describe_stack_events", {"StackEvents": [event]}, {"StackName": CHILD})
    with st:
        f = rehearse.check_bucket_delete_object(cfn, "wwhd-reh-abc123")
    assert (f.status, f.evidence) == (status, evidence)


def _stack(status, reason=None):
    s = {"StackId": "arn:aws:cloudformation:us-west-2:111122223333:stack/probe/9", "StackName": "probe",
         "CreationTime": T0, "StackStatus": status}
    if reason:
        s["StackStatusReason"] = reason
    return {"Stacks": [s]}


@pytest.mark.parametrize("final, status, evidence", [
    ("DELETE_COMPLETE", PASS, "probe: REVIEW_IN_PROGRESS, then DELETE_COMPLETE"),
    ("DELETE_FAILED", FAIL, "probe: DELETE_FAILED: The following resource(s) failed to delete: [Probe]."),
])
def test_review_in_progress_stack_deletes(final, status, evidence):
    cfn, st = stubbed("cloudformation")
    st.add_response("create_change_set", {"Id": CS, "StackId": _stack("x")["Stacks"][0]["StackId"]},
                    {"StackName": "probe", "ChangeSetName": "rehearsal-probe", "ChangeSetType": "CREATE",
                     "TemplateBody": ANY, "Tags": [{"Key": "wwhd-rehearsal", "Value": "abc123"}]})
    st.add_response("describe_stacks", _stack("REVIEW_IN_PROGRESS"), {"StackName": "probe"})
    st.add_response("describe_stacks", _stack("REVIEW_IN_PROGRESS"), {"StackName": "probe"})
    st.add_response("delete_stack", {}, {"StackName": ANY})
    st.add_response("describe_stacks", _stack("DELETE_IN_PROGRESS"), {"StackName": ANY})
    st.add_response("describe_stacks", _stack(final), {"StackName": ANY})
    if final == "DELETE_FAILED":
        st.add_response("describe_stacks", _stack(final, "The following resource(s) failed to delete: [Probe]."),
                        {"StackName": ANY})
    with st:
        f = rehearse.check_review_in_progress_delete(cfn, "probe", {"wwhd-rehearsal": "abc123"}, poll=lambda s: None)
    assert (f.status, f.evidence) == (status, evidence)


def _task(last="RUNNING", qdrant_health="HEALTHY", agent="RUNNING", exec_on=True, stopped=None):
    containers = [{"name": name, "lastStatus": "RUNNING", "healthStatus": health,
                   "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": agent}]}
                  for name, health in (("fastapi", "HEALTHY"), ("qdrant", qdrant_health))]
    task = {"taskArn": TASK, "lastStatus": last, "enableExecuteCommand": exec_on, "containers": containers}
    if stopped:
        task["stoppedReason"] = stopped
    return {"tasks": [task], "failures": []}


def _running(st, task=None):
    st.add_response("list_tasks", {"taskArns": [TASK] if task else []},
                    {"cluster": "wwhd-cluster", "serviceName": "wwhd-backend", "desiredStatus": "RUNNING"})
    if task:
        st.add_response("describe_tasks", task, {"cluster": "wwhd-cluster", "tasks": [TASK]})


def test_efs_resource_tag_pass_a_running_task_mounted_its_volumes():
    ecs, st = stubbed("ecs")
    _running(st, _task())
    with st:
        f = rehearse.check_efs_resource_tag(ecs, "wwhd-cluster", "wwhd-backend")
    assert f.status == PASS and "0123456789abcdef0 RUNNING" in f.evidence


def test_efs_resource_tag_fail_the_mount_is_refused():
    # ECS Developer Guide, "Amazon ECS stopped task error messages": the EFS mount error's form
    reason = ("ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes: stderr: "
              "b'mount.nfs4: access denied by server while mounting 127.0.0.1:/'")
    ecs, st = stubbed("ecs")
    _running(st)
    st.add_response("list_tasks", {"taskArns": [TASK]}, {"cluster": "wwhd-cluster", "serviceName": "wwhd-backend",
                                                        "desiredStatus": "STOPPED"})
    st.add_response("describe_tasks", _task(last="STOPPED", stopped=reason),
                    {"cluster": "wwhd-cluster", "tasks": [TASK]})
    with st:
        f = rehearse.check_efs_resource_tag(ecs, "wwhd-cluster", "wwhd-backend")
    assert (f.status, f.evidence) == (FAIL, "task stopped: " + reason)


@pytest.mark.parametrize("health, status, evidence", [
    ("HEALTHY", PASS, "qdrant HEALTHY with a read-only root file system"),
    ("UNHEALTHY", FAIL, "qdrant RUNNING, health UNHEALTHY"),
])
def test_qdrant_init_file(health, status, evidence):
    ecs, st = stubbed("ecs")
    _running(st, _task(qdrant_health=health))
    with st:
        f = rehearse.check_qdrant_init_file(ecs, "wwhd-cluster", "wwhd-backend")
    assert (f.status, f.evidence) == (status, evidence)


def test_ecs_exec_pass_agents_running_and_a_session_opens():
    ecs, st = stubbed("ecs")
    _running(st, _task())
    st.add_response("execute_command", {"clusterArn": "c", "containerName": "fastapi", "interactive": True,
                                        "session": {"sessionId": "ecs-execute-command-0abc", "streamUrl": "wss://x",
                                                    "tokenValue": "t"}, "taskArn": TASK},
                    {"cluster": "wwhd-cluster", "task": TASK, "container": "fastapi", "interactive": True,
                     "command": "true"})
    with st:
        f = rehearse.check_ecs_exec(ecs, "wwhd-cluster", "wwhd-backend")
    assert (f.status, f.evidence) == (
        PASS, "agents RUNNING in every container; session ecs-execute-command-0abc opened")


def test_ecs_exec_fail_an_agent_that_did_not_start():
    ecs, st = stubbed("ecs")
    _running(st, _task(agent="STOPPED"))
    with st:
        f = rehearse.check_ecs_exec(ecs, "wwhd-cluster", "wwhd-backend")
    assert (f.status, f.evidence) == (FAIL, "fastapi: agent STOPPED; qdrant: agent STOPPED")


def test_ecs_exec_fail_execute_command_refused():
    ecs, st = stubbed("ecs")
    _running(st, _task())
    st.add_client_error("execute_command", "InvalidParameterException",
                        "The execute command failed because execute command was not enabled when the task was run")
    with st:
        f = rehearse.check_ecs_exec(ecs, "wwhd-cluster", "wwhd-backend")
    assert f.status == FAIL and "execute command was not enabled" in f.evidence


def _service(events):
    return {"services": [{"serviceName": "wwhd-backend", "events": [
        {"id": str(i), "createdAt": at, "message": m} for i, (at, m) in enumerate(events)]}], "failures": []}


def _health(*targets):
    return {"TargetHealthDescriptions": [{"Target": {"Id": ip, "Port": 8000}, "TargetHealth": {"State": state}}
                                         for ip, state in targets]}


def test_outage_pass_from_the_old_tasks_stop_to_the_new_targets_first_healthy_sample():
    elbv2, elb_st = stubbed("elbv2")
    ecs, ecs_st = stubbed("ecs")
    times = iter([T0.timestamp() + s for s in (0, 30, 60, 75)])
    sampler = rehearse.TargetSampler(elbv2, "tg", interval=5, clock=lambda: next(times))
    for sample in (_health(("10.0.0.1", "healthy")), _health(("10.0.0.1", "draining"), ("10.0.0.2", "initial")),
                   _health(("10.0.0.2", "unhealthy")), _health(("10.0.0.2", "healthy"))):
        elb_st.add_response("describe_target_health", sample, {"TargetGroupArn": "tg"})
    ecs_st.add_response("describe_services", _service([
        (T0.replace(second=40), "(service wwhd-backend) has stopped 1 running tasks: (task 0123456789abcdef0)."),
        (T0.replace(second=10), "(service wwhd-backend) has started 1 tasks: (task fedcba9876543210f).")]),
        {"cluster": "wwhd-cluster", "services": ["wwhd-backend"]})
    with elb_st, ecs_st:
        for _ in range(4):
            sampler.sample()
        f = rehearse.outage(ecs, "wwhd-cluster", "wwhd-backend", sampler, T0.timestamp())
    assert (f.status, f.evidence) == (PASS, "35 s (+/- 5 s) from the old task's stop to the new target's first "
                                            "healthy sample")


def test_outage_fail_no_new_target_became_healthy():
    elbv2, elb_st = stubbed("elbv2")
    ecs, ecs_st = stubbed("ecs")
    times = iter([T0.timestamp(), T0.timestamp() + 60])
    sampler = rehearse.TargetSampler(elbv2, "tg", interval=5, clock=lambda: next(times))
    elb_st.add_response("describe_target_health", _health(("10.0.0.1", "healthy")), {"TargetGroupArn": "tg"})
    elb_st.add_response("describe_target_health", _health(("10.0.0.2", "unhealthy")), {"TargetGroupArn": "tg"})
    ecs_st.add_response("describe_services", _service([
        (T0.replace(second=30), "(service wwhd-backend) has stopped 1 running tasks: (task 0123456789abcdef0).")]),
        {"cluster": "wwhd-cluster", "services": ["wwhd-backend"]})
    with elb_st, ecs_st:
        sampler.sample()
        sampler.sample()
        f = rehearse.outage(ecs, "wwhd-cluster", "wwhd-backend", sampler, T0.timestamp())
    assert (f.status, f.evidence) == (FAIL, "no new target became healthy while sampled")


# --- checks read from the CLI's own output --------------------------------------------------------------------------


def test_simulator_pass_and_fail_from_plans_review():
    ok = {"preflight": [{"status": "PASS", "subject": "execution role arn:aws:iam::1:role/x",
                         "evidence": "allows all 378 probed pairs"}]}
    bad = {"preflight": [{"status": "BLOCK", "subject": "execution role: ecs:CreateService on arn:x",
                          "evidence": "implicitDeny: no statement allows it"}]}
    assert rehearse.check_simulator(ok).status == PASS
    f = rehearse.check_simulator(bad)
    assert (f.status, f.evidence) == (
        FAIL, "execution role: ecs:CreateService on arn:x: implicitDeny: no statement allows it")


def test_migrate_pass_and_fail():
    ok = Step("dry", "c", 0, "mapping shown")
    assert rehearse.check_migrate(ok, Step("x", "c", 0, "copied and verified 3 files")).status == PASS
    f = rehearse.check_migrate(ok, Step("x", "c", 1, "error: the copy task stopped"))
    assert (f.status, f.evidence) == (FAIL, "--execute: exit 1: error: the copy task stopped")


def test_drift_pass_and_fail():
    step = Step("drift", "c", 0, "no drift")
    clean = {"ok": True, "stacks": [{"path": "root", "detectionStatus": "DETECTION_COMPLETE", "resources": [
        {"logicalId": "FsPolicy", "status": "MODIFIED", "differences": [{"ignored": "EFS stores * as the ARN"}]}]}]}
    assert rehearse.check_drift(clean, step).status == PASS
    drifted = {"ok": False, "stacks": [{"path": "root/ClusterStack", "detectionStatus": "DETECTION_COMPLETE",
                                        "resources": [{"logicalId": "LogGroup", "status": "MODIFIED",
                                                       "differences": [{"ignored": None}]}]}]}
    f = rehearse.check_drift(drifted, Step("drift", "c", 1, "1 drifted"))
    assert (f.status, f.evidence) == (FAIL, "root/ClusterStack/LogGroup MODIFIED")
