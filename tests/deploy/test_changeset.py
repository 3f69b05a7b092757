"""Change sets: traceable names, the nested-stack fallback, "no changes", and the clean-up of our old ones."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from deploy import changeset
from deploy.aws import connect
from deploy.ui import Out, Poller

from . import recorded as r
from .conftest import REGION

NOW = datetime(2025, 11, 7, 4, 5, 6, tzinfo=timezone(timedelta(hours=-8)))  # 12:05:06 UTC


@pytest.mark.parametrize("tag, expected", [
    ("abc1234", "wwhd-prod-20251107120506-abc1234"),
    ("release/2025.11_07", "wwhd-prod-20251107120506-release-2025-11-07"),
    # a tag that begins with "pr" stays out of the pull request's name space (<stack>-pr-*)
    ("pr-42", "wwhd-prod-20251107120506-pr-42"),
    ("--", "wwhd-prod-20251107120506"),
])
def test_names_say_env_utc_time_and_tag(tag, expected):
    assert changeset.change_set_name("wwhd-prod-", tag, NOW) == expected


def test_names_stay_within_128_characters():
    name = changeset.change_set_name("wwhd-prod-", "a" * 128, NOW)
    assert len(name) == 128 and name.startswith("wwhd-prod-20251107120506-a") and name.endswith("a")
    assert changeset.NAME_PATTERN.fullmatch(name)


def request(nested=True):
    return changeset.Request(stack_name=r.ROOT, name=r.CS_NAME, type="UPDATE",
                             template_url="https://b.s3.us-west-2.amazonaws.com/k",
                             parameters=[{"ParameterKey": "ImageTag", "ParameterValue": "abc1234"}],
                             capabilities=("CAPABILITY_IAM",),
                             tags={"app": "wwhd", "env": "prod", "managed-by": "wwhd-infra"},
                             role_arn="arn:aws:iam::018025611404:role/cfn-exec", nested=nested)


def create_params(nested: bool) -> dict:
    return {"StackName": r.ROOT, "ChangeSetName": r.CS_NAME, "ChangeSetType": "UPDATE",
            "TemplateURL": "https://b.s3.us-west-2.amazonaws.com/k",
            "Parameters": [{"ParameterKey": "ImageTag", "ParameterValue": "abc1234"}],
            "Capabilities": ["CAPABILITY_IAM"],
            "IncludeNestedStacks": nested, "Tags": [{"Key": "app", "Value": "wwhd"}, {"Key": "env", "Value": "prod"},
                                                    {"Key": "managed-by", "Value": "wwhd-infra"}],
            "RoleARN": "arn:aws:iam::018025611404:role/cfn-exec"}


def status(arn, state, reason="", **extra):
    out = {"ChangeSetName": r.CS_NAME, "ChangeSetId": arn, "StackId": r.ROOT_ID, "StackName": r.ROOT, "Status": state,
           "ExecutionStatus": "UNAVAILABLE" if state == "FAILED" else "AVAILABLE", "Changes": [], **extra}
    if reason:
        out["StatusReason"] = reason
    return out


def test_a_nested_change_set_that_cannot_be_created_is_retried_without_nesting():
    aws, stubber = r.stubbed()
    nested_failure = "Template error: Fn::Select  cannot select nonexistent value at index 1"
    stubber.add_response("create_change_set", {"Id": r.ROOT_CS, "StackId": r.ROOT_ID}, create_params(True))
    stubber.add_response("describe_change_set", status(r.ROOT_CS, "CREATE_IN_PROGRESS"),
                         {"ChangeSetName": r.ROOT_CS, "IncludePropertyValues": True})
    stubber.add_response("describe_change_set", status(
        r.ROOT_CS, "FAILED", f"Nested change set {r.STORAGE_CS} was not successfully created: Currently in FAILED."),
        {"ChangeSetName": r.ROOT_CS, "IncludePropertyValues": True})
    stubber.add_response("describe_change_set",
                         {**status(r.STORAGE_CS, "FAILED", nested_failure), "StackName": r.STORAGE_STACK},
                         {"ChangeSetName": r.STORAGE_CS, "IncludePropertyValues": True})
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": r.ROOT_CS})
    flat = "arn:aws:cloudformation:us-west-2:018025611404:changeSet/flat/1"
    stubber.add_response("create_change_set", {"Id": flat, "StackId": r.ROOT_ID}, create_params(False))
    stubber.add_response("describe_change_set", status(flat, "CREATE_COMPLETE"),
                         {"ChangeSetName": flat, "IncludePropertyValues": True})
    sleeps, buf = [], io.StringIO()

    arn, req, desc = changeset.create_and_wait(aws, request(), Out(stdout=buf), Poller(first=1, sleep=sleeps.append))

    stubber.assert_no_pending_responses()
    assert (arn, req.nested, desc["Status"]) == (flat, False, "CREATE_COMPLETE")
    assert sleeps == [1]  # one wait while the first one was being created
    assert (f"could not create nested change sets ({r.STORAGE_STACK}: {nested_failure}); "
            "retrying without them" in buf.getvalue())


def test_with_imports_a_failed_nested_change_set_is_refused_never_retried_flat():
    """CloudFormation User Guide, "Import AWS resources into a CloudFormation stack automatically": "For nested
    stacks, create the change set from the root stack". Without nesting the import would not reach them: refused,
    with the rule and the way out; the failed change set is deleted and no flat one is created (the Stubber would
    fail on an unexpected CreateChangeSet)."""
    from dataclasses import replace

    from deploy.errors import INVOCATION, Invocation

    aws, stubber = r.stubbed()
    nested_failure = "Template error: Fn::Select  cannot select nonexistent value at index 1"
    stubber.add_response("create_change_set", {"Id": r.ROOT_CS, "StackId": r.ROOT_ID},
                         {**create_params(True), "ImportExistingResources": True})
    stubber.add_response("describe_change_set", status(
        r.ROOT_CS, "FAILED", f"Nested change set {r.STORAGE_CS} was not successfully created: Currently in FAILED."),
        {"ChangeSetName": r.ROOT_CS, "IncludePropertyValues": True})
    stubber.add_response("describe_change_set",
                         {**status(r.STORAGE_CS, "FAILED", nested_failure), "StackName": r.STORAGE_STACK},
                         {"ChangeSetName": r.STORAGE_CS, "IncludePropertyValues": True})
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": r.ROOT_CS})
    buf = io.StringIO()
    token = INVOCATION.set(Invocation("plan", "us-west-2", "ops"))
    try:
        with pytest.raises(changeset.NestingRefused) as e:
            changeset.create_and_wait(aws, replace(request(), import_existing=True), Out(stdout=buf),
                                      Poller(sleep=lambda s: None))
    finally:
        INVOCATION.reset(token)
    stubber.assert_no_pending_responses()
    assert f"({r.STORAGE_STACK}: {nested_failure})" in e.value.message
    assert "imports into nested stacks only through the root stack's change set" in e.value.message
    assert "Import AWS resources into a CloudFormation stack automatically" in e.value.message
    assert e.value.fix.endswith("python generate.py plan --env prod --region us-west-2 --profile ops --adopt again; "
                                "nothing was created")
    assert "retrying without them" not in buf.getvalue()


def test_with_imports_a_refused_include_nested_stacks_is_refused_too():
    from dataclasses import replace

    aws, stubber = r.stubbed()
    stubber.add_client_error("create_change_set", "ValidationError",
                             "IncludeNestedStacks is not supported with this change set", 400,
                             expected_params={**create_params(True), "ImportExistingResources": True})
    with pytest.raises(changeset.NestingRefused, match="IncludeNestedStacks is not supported"):
        changeset.create_and_wait(aws, replace(request(), import_existing=True), Out(stdout=io.StringIO()),
                                  Poller(sleep=lambda s: None))
    stubber.assert_no_pending_responses()  # no second, flat CreateChangeSet


def test_no_changes_is_not_retried_and_not_an_error():
    aws, stubber = r.stubbed()
    stubber.add_response("create_change_set", {"Id": r.ROOT_CS, "StackId": r.ROOT_ID}, create_params(True))
    stubber.add_response("describe_change_set", status(
        r.ROOT_CS, "FAILED",
        "The submitted information didn't contain changes. Submit different information to create a change set."),
        {"ChangeSetName": r.ROOT_CS, "IncludePropertyValues": True})
    arn, req, desc = changeset.create_and_wait(aws, request(), Out(stdout=io.StringIO()), Poller(sleep=lambda s: None))
    stubber.assert_no_pending_responses()
    assert changeset.no_changes(desc) and req.nested


def test_other_failures_are_returned_for_the_caller_to_report():
    aws, stubber = r.stubbed()
    stubber.add_response("create_change_set", {"Id": r.ROOT_CS, "StackId": r.ROOT_ID}, create_params(True))
    stubber.add_response("describe_change_set",
                         status(r.ROOT_CS, "FAILED", "Requires capabilities : [CAPABILITY_NAMED_IAM]"),
                         {"ChangeSetName": r.ROOT_CS, "IncludePropertyValues": True})
    _, req, desc = changeset.create_and_wait(aws, request(), Out(stdout=io.StringIO()), Poller(sleep=lambda s: None))
    assert desc["Status"] == "FAILED" and not changeset.no_changes(desc) and req.nested


def test_clean_up_deletes_only_our_unexecuted_change_sets_of_this_stack(moto):
    cfn = boto3.client("cloudformation", region_name=REGION)
    body = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    cfn.create_stack(StackName="wwhd-dev", TemplateBody=body)
    cfn.create_stack(StackName="other", TemplateBody=body)
    changed = body + "  Queue:\n    Type: AWS::SQS::Queue\n"
    for stack, name in (("wwhd-dev", "wwhd-dev-v1-20250101000000"), ("wwhd-dev", "wwhd-dev-v2-20250102000000"),
                        ("wwhd-dev", "someone-elses"), ("other", "wwhd-dev-v3-20250103000000")):
        cfn.create_change_set(StackName=stack, ChangeSetName=name, TemplateBody=changed, ChangeSetType="UPDATE")
    keep = cfn.describe_change_set(StackName="wwhd-dev", ChangeSetName="wwhd-dev-v2-20250102000000")["ChangeSetId"]

    deleted = changeset.clean_up(connect(None, REGION), "wwhd-dev", "wwhd-dev-", keep=keep)

    assert deleted == ["wwhd-dev-v1-20250101000000"]
    left = sorted((s["StackName"], s["ChangeSetName"]) for s in cfn.list_change_sets(StackName="wwhd-dev")["Summaries"])
    assert left == [("other", "wwhd-dev-v3-20250103000000"), ("wwhd-dev", "someone-elses"),
                    ("wwhd-dev", "wwhd-dev-v2-20250102000000")]
