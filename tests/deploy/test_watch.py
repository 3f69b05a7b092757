"""Following an operation across nested stacks, and explaining failures, from DescribeStackEvents responses shaped as
the API reference documents them: a nested resource's own failure, the parent's "Embedded stack" echo."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from deploy.stacks import StackInfo
from deploy.ui import Out, Poller
from deploy.watch import Event, Watch, recovery, resources_to_skip, root_causes, show_failure
from templates.config import load_params

from . import recorded as r

STACK = "AWS::CloudFormation::Stack"
SERVICE_ARN = f"arn:aws:ecs:{r.REGION}:{r.ACCOUNT}:service/wwhd-cluster/wwhd-backend"
OLD = r.event(r.ROOT, r.ROOT_ID, r.ROOT, r.ROOT_ID, STACK, "UPDATE_COMPLETE", -600, uid="previous-operation")


class Clock:
    """Advances ``step`` seconds on every reading: lets a test reach heartbeat and slow-ECS thresholds instantly."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def events_call(stubber, stack_id, events):
    stubber.add_response("describe_stack_events", {"StackEvents": events}, {"StackName": stack_id})


def resources_call(stubber, stack_id, resources, updated=None):
    summaries = [{"LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": type_,
                  "LastUpdatedTimestamp": (updated or {}).get(logical, r.T0), "ResourceStatus": status}
                 for logical, physical, type_, status in resources]
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": summaries}, {"StackName": stack_id})


def watch_for(aws, out, poller=None):
    root = StackInfo(id=r.ROOT_ID, name=r.ROOT, status="UPDATE_IN_PROGRESS")
    return Watch(aws, root, r.T0, {"previous-operation"}, out, poller or Poller(sleep=lambda s: None))


def test_failed_update_shows_the_nested_reason_not_the_echo():
    aws, stubber = r.stubbed()
    events_call(stubber, r.ROOT_ID, r.root_events_failed_update() + [OLD])
    events_call(stubber, r.SERVICE_ID, r.service_events_failed_update())  # read when the nested stack's row ends
    resources_call(stubber, r.ROOT_ID, [("ServiceStack", r.SERVICE_ID, STACK, "UPDATE_COMPLETE")])  # sweep: followed
    stubber.add_response("describe_stacks", r.describe_stacks("UPDATE_ROLLBACK_COMPLETE"), {"StackName": r.ROOT_ID})
    buf = io.StringIO()
    out = Out(stdout=buf)
    watch = watch_for(aws, out)
    final = watch.run()
    stubber.assert_no_pending_responses()
    assert final.status == "UPDATE_ROLLBACK_COMPLETE"

    live = buf.getvalue().splitlines()
    assert "12:00:06  ServiceStack  Service  AWS::ECS::Service  UPDATE_IN_PROGRESS" in live
    assert not any("previous-operation" in line or "11:50:00" in line for line in live)  # only since the start

    buf.truncate(0), buf.seek(0)
    show_failure(watch.events, out)
    summary = buf.getvalue().splitlines()
    assert summary == ["first failures:",
                       f"  ServiceStack/Service (AWS::ECS::Service) UPDATE_FAILED: {r.CIRCUIT_BREAKER}"]
    advice = recovery(aws, load_params("prod"), final)
    assert advice == ["the stack is back to its previous state; fix the cause above, then plan again:",
                      "  python generate.py plan --env prod"]


def test_the_sweep_reads_touched_nested_stacks_not_seen_live_and_skips_the_others():
    aws, stubber = r.stubbed()
    storage_id = r.stack_arn(r.STORAGE_STACK, "77777777-2222-3333-4444-555555555555")
    quick = [r.event(r.ROOT, r.ROOT_ID, r.ROOT, r.ROOT_ID, STACK, "UPDATE_IN_PROGRESS", 1, "User Initiated"),
             r.event(r.ROOT, r.ROOT_ID, r.ROOT, r.ROOT_ID, STACK, "UPDATE_COMPLETE", 60)][::-1]
    events_call(stubber, r.ROOT_ID, quick)
    resources_call(stubber, r.ROOT_ID, [("ServiceStack", r.SERVICE_ID, STACK, "UPDATE_COMPLETE"),
                                        ("StorageStack", storage_id, STACK, "UPDATE_COMPLETE")],
                   updated={"ServiceStack": r.T0 + timedelta(seconds=50), "StorageStack": r.T0 - timedelta(days=30)})
    events_call(stubber, r.SERVICE_ID, r.service_events_failed_update())
    resources_call(stubber, r.SERVICE_ID, [("Service", SERVICE_ARN, "AWS::ECS::Service", "UPDATE_COMPLETE")])
    stubber.add_response("describe_stacks", r.describe_stacks("UPDATE_COMPLETE"), {"StackName": r.ROOT_ID})
    buf = io.StringIO()
    watch = watch_for(aws, Out(stdout=buf))
    watch.run()
    stubber.assert_no_pending_responses()  # StorageStack (untouched for 30 days) was not read
    assert {e.stack_label for e in watch.events} == {"root", "ServiceStack"}
    assert "12:04:50  ServiceStack  Service  AWS::ECS::Service  UPDATE_FAILED" in buf.getvalue()


def test_root_causes_skip_echoes_and_cancellations_and_keep_time_order():
    def ev(label, logical, status, reason, seconds):
        return Event(f"{logical}{seconds}", "id", label, logical, "", "AWS::EFS::FileSystem", status, reason,
                     r.T0 + timedelta(seconds=seconds))

    events = [
        ev("root", "StorageStack", "CREATE_FAILED", "Embedded stack arn:...:stack/wwhd-prod-StorageStack-X was not "
           "successfully created: The following resource(s) failed to create: [FileSystem].", 30),
        ev("StorageStack", "BackupVault", "CREATE_FAILED", "Resource creation cancelled", 21),
        ev("StorageStack", "FileSystem", "CREATE_FAILED", "Resource handler returned message: \"Throughput mode "
           "elastic is not supported in this Region\"", 20),
        ev("root", "wwhd-prod", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [StorageStack].",
           31),
    ]
    assert [(e.stack_label, e.logical_id) for e in root_causes(events)] == [("StorageStack", "FileSystem")]
    only_echoes = [events[0]]
    assert root_causes(only_echoes) == only_echoes  # better an echo than nothing


@pytest.mark.parametrize("status, expected", [
    ("ROLLBACK_COMPLETE", "python generate.py destroy --env prod --yes && python generate.py apply --env prod"),
    ("DELETE_FAILED", "python generate.py destroy --env prod"),
    ("UPDATE_IN_PROGRESS", "python generate.py status --env prod --watch"),
])
def test_recovery_names_the_command_for_the_final_state(status, expected):
    info = StackInfo(id=r.ROOT_ID, name=r.ROOT, status=status)
    assert any(expected in line for line in recovery(None, load_params("prod"), info))


def test_update_rollback_failed_names_the_resources_to_skip_in_nested_stacks():
    aws, stubber = r.stubbed()
    root_rows = [("ServiceStack", r.SERVICE_ID, STACK, "UPDATE_FAILED"),
                 ("Alarm", "a", "AWS::CloudWatch::Alarm", "UPDATE_COMPLETE")]
    nested_rows = [("Service", SERVICE_ARN, "AWS::ECS::Service", "UPDATE_FAILED"),
                   ("TaskDefinition", "td", "AWS::ECS::TaskDefinition", "UPDATE_COMPLETE")]
    resources_call(stubber, r.ROOT_ID, root_rows)      # the root's own resources
    resources_call(stubber, r.ROOT_ID, root_rows)      # finding the nested stacks
    resources_call(stubber, r.SERVICE_ID, nested_rows)  # ... and theirs
    resources_call(stubber, r.SERVICE_ID, nested_rows)  # the nested stack's resources
    assert resources_to_skip(aws, r.ROOT_ID) == ["ServiceStack.Service"]
    stubber.assert_no_pending_responses()


def test_polling_backs_off_reads_only_active_stacks_and_explains_a_slow_ecs_service():
    aws, stubber = r.stubbed()
    started = [r.event(r.ROOT, r.ROOT_ID, r.ROOT, r.ROOT_ID, STACK, "UPDATE_IN_PROGRESS", 1, "User Initiated"),
               r.event(r.ROOT, r.ROOT_ID, "ServiceStack", r.SERVICE_ID, STACK, "UPDATE_IN_PROGRESS", 2)][::-1]
    nested_started = [r.event(r.SERVICE_STACK, r.SERVICE_ID, r.SERVICE_STACK, r.SERVICE_ID, STACK,
                              "UPDATE_IN_PROGRESS", 3),
                      r.event(r.SERVICE_STACK, r.SERVICE_ID, "Service", SERVICE_ARN, "AWS::ECS::Service",
                              "UPDATE_IN_PROGRESS", 6)][::-1]
    finished = [r.event(r.ROOT, r.ROOT_ID, "ServiceStack", r.SERVICE_ID, STACK, "UPDATE_COMPLETE", 900),
                r.event(r.ROOT, r.ROOT_ID, r.ROOT, r.ROOT_ID, STACK, "UPDATE_COMPLETE", 901)][::-1]
    nested_finished = [r.event(r.SERVICE_STACK, r.SERVICE_ID, "Service", SERVICE_ARN, "AWS::ECS::Service",
                               "UPDATE_COMPLETE", 890)]
    # round 1: the root, then the nested stack it started
    events_call(stubber, r.ROOT_ID, started + [OLD])
    events_call(stubber, r.SERVICE_ID, nested_started)
    # round 2: nothing new anywhere, so DescribeStacks confirms the root is still busy
    events_call(stubber, r.ROOT_ID, started + [OLD])
    events_call(stubber, r.SERVICE_ID, nested_started)
    stubber.add_response("describe_stacks", r.describe_stacks("UPDATE_IN_PROGRESS"), {"StackName": r.ROOT_ID})
    # round 3: the nested stack ends (its last events are read once), then the root
    events_call(stubber, r.ROOT_ID, finished + started + [OLD])
    events_call(stubber, r.SERVICE_ID, nested_finished + nested_started)
    resources_call(stubber, r.ROOT_ID, [("ServiceStack", r.SERVICE_ID, STACK, "UPDATE_COMPLETE")])  # one call
    stubber.add_response("describe_stacks", r.describe_stacks("UPDATE_COMPLETE"), {"StackName": r.ROOT_ID})

    sleeps = []
    buf = io.StringIO()
    watch = watch_for(aws, Out(stdout=buf), Poller(first=2, factor=2, longest=3, sleep=sleeps.append, clock=Clock(250)))
    assert watch.run().status == "UPDATE_COMPLETE"
    stubber.assert_no_pending_responses()
    assert sleeps == [2, 3]  # backoff, capped; never a tight loop
    heartbeat = [line for line in buf.getvalue().splitlines() if "waiting on" in line]
    assert heartbeat == [
        "wwhd-prod: in progress after 12m30s; waiting on ServiceStack/Service (AWS::ECS::Service); ECS waits until "
        "the service is stable: read its events with aws ecs describe-services --cluster wwhd-cluster --services "
        f"{SERVICE_ARN} --query 'services[0].events[:5]' --region us-west-2"]


def test_poller_intervals_grow_to_the_longest_and_stay():
    intervals = Poller(first=2, factor=1.5, longest=5).intervals()
    assert [next(intervals) for _ in range(6)] == [2, 3, 4.5, 5, 5, 5]


def test_a_rolled_back_first_create_lists_what_it_kept_with_the_commands_that_remove_it():
    """Item "a failed first create can be retried". After ROLLBACK_COMPLETE the nested stacks are deleted; their
    resources are still listed by stack id (ListStackResources: up to 90 days). The Retain ones are DELETE_SKIPPED;
    the RetainExceptOnCreate ones (the named secret and backup vault) were deleted and must not be listed."""
    aws, stubber = r.stubbed()
    secrets_id = r.stack_arn("wwhd-prod-SecretsStack-9Z", "22222222-2222-3333-4444-555555555555")
    storage_id = r.stack_arn(r.STORAGE_STACK, "33333333-2222-3333-4444-555555555555")
    root_rows = [("SecretsStack", secrets_id, STACK, "DELETE_COMPLETE"),
                 ("ServiceStack", "", STACK, "DELETE_COMPLETE"),  # never got an id: nothing to read
                 ("StorageStack", storage_id, STACK, "DELETE_COMPLETE")]
    secrets_rows = [("JwtSecretSecret",
                     f"arn:aws:secretsmanager:{r.REGION}:{r.ACCOUNT}:secret:wwhd-dev/jwt-secret-AbCdEf",
                     "AWS::SecretsManager::Secret", "DELETE_COMPLETE")]
    storage_rows = [("AppAccessPoint", "fsap-0123456789abcdef0", "AWS::EFS::AccessPoint", "DELETE_SKIPPED"),
                    ("BackupVault", "wwhd-prod-vault", "AWS::Backup::BackupVault", "DELETE_COMPLETE"),
                    ("FileSystem", "fs-0123456789abcdef0", "AWS::EFS::FileSystem", "DELETE_SKIPPED"),
                    ("MountTarget677d281e", "fsmt-1", "AWS::EFS::MountTarget", "DELETE_COMPLETE")]
    for _ in range(2):  # nested_stacks walks the tree, then each stack is read for its leftovers
        resources_call(stubber, r.ROOT_ID, root_rows)
        resources_call(stubber, secrets_id, secrets_rows)
        resources_call(stubber, storage_id, storage_rows)
    info = StackInfo(id=r.ROOT_ID, name=r.ROOT, status="ROLLBACK_COMPLETE")
    advice = recovery(aws, load_params("prod"), info)
    stubber.assert_no_pending_responses()
    text = "\n".join(advice)
    assert "python generate.py destroy --env prod --yes && python generate.py apply --env prod" in text
    # access points before their file system; each with the command that removes it
    assert advice[advice.index("  StorageStack/AppAccessPoint (AWS::EFS::AccessPoint "
                               "fsap-0123456789abcdef0):") + 1] == \
        f"    aws efs delete-access-point --access-point-id fsap-0123456789abcdef0 --region {r.REGION}"
    assert text.index("StorageStack/AppAccessPoint") < text.index("StorageStack/FileSystem")
    assert "aws efs delete-file-system --file-system-id fs-0123456789abcdef0" in text
    assert "JwtSecretSecret" not in text and "BackupVault" not in text and "MountTarget" not in text


def test_a_rollback_that_kept_nothing_says_so():
    aws, stubber = r.stubbed()
    resources_call(stubber, r.ROOT_ID, [])
    resources_call(stubber, r.ROOT_ID, [])
    advice = recovery(aws, load_params("dev"), StackInfo(id=r.ROOT_ID, name="wwhd-dev", status="ROLLBACK_COMPLETE"))
    assert advice[-1] == "the rollback kept nothing: every resource it created was deleted"


def test_the_failure_summary_of_a_rolled_back_first_create_ends_with_what_to_remove():
    """What `apply` prints after ROLLBACK_COMPLETE (deploy/operations.py, failed): the nested resource's own reason, the
    final state, the command that allows the retry, and the leftovers with their removal commands."""
    from pathlib import Path

    from deploy.context import Ctx
    from deploy.operations import failed as _failed

    aws, stubber = r.stubbed()
    storage_id = r.stack_arn(r.STORAGE_STACK, "33333333-2222-3333-4444-555555555555")

    def ev(label, stack_id, logical, status, reason, seconds, type_="AWS::EFS::FileSystem", physical=""):
        return Event(f"{label}{logical}{status}", stack_id, label, logical, physical, type_, status, reason,
                     r.T0 + timedelta(seconds=seconds))

    events = [
        ev("StorageStack", storage_id, "FileSystem", "CREATE_COMPLETE", "", 20, physical="fs-0123456789abcdef0"),
        ev("StorageStack", storage_id, "BackupVault", "CREATE_FAILED", "Resource handler returned message: "
           "\"Insufficient privileges to perform this action.\"", 25, "AWS::Backup::BackupVault"),
        ev("root", r.ROOT_ID, "StorageStack", "CREATE_FAILED", "Embedded stack was not successfully created", 30,
           STACK),
        ev("StorageStack", storage_id, "FileSystem", "DELETE_SKIPPED", "", 40, physical="fs-0123456789abcdef0"),
        ev("root", r.ROOT_ID, r.ROOT, "ROLLBACK_COMPLETE", "", 60, STACK, r.ROOT_ID),
    ]
    for _ in range(2):
        resources_call(stubber, r.ROOT_ID, [("StorageStack", storage_id, STACK, "DELETE_COMPLETE")])
        resources_call(stubber, storage_id,
                       [("FileSystem", "fs-0123456789abcdef0", "AWS::EFS::FileSystem", "DELETE_SKIPPED"),
                                             ("BackupVault", "", "AWS::Backup::BackupVault", "DELETE_COMPLETE")])
    buf = io.StringIO()
    ctx = Ctx(p=load_params("dev"), aws=aws, out=Out(stdout=buf), home=Path("."), last_events=events)
    final = StackInfo(id=r.ROOT_ID, name="wwhd-dev", status="ROLLBACK_COMPLETE",
                      reason="The following resource(s) failed to create: [StorageStack].")
    assert _failed(ctx, final) == 1
    stubber.assert_no_pending_responses()
    lines = buf.getvalue().splitlines()
    assert lines[:2] == ["first failures:",
                         "  StorageStack/BackupVault (AWS::Backup::BackupVault) CREATE_FAILED: Resource "
                         "handler returned message: \"Insufficient privileges to perform this action.\""]
    assert "final state: ROLLBACK_COMPLETE: The following resource(s) failed to create: [StorageStack]." in lines
    assert "  python generate.py destroy --env dev --yes && python generate.py apply --env dev" in lines
    assert lines[-2:] == ["  StorageStack/FileSystem (AWS::EFS::FileSystem fs-0123456789abcdef0):",
                          "    aws efs delete-file-system --file-system-id fs-0123456789abcdef0 --region us-west-2  "
                          "# after its mount targets are gone (the stack deletes them)"]
