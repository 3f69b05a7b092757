"""plan --adopt: the seed's cluster and log group are imported as they are (ImportExistingResources), shown in the
review, and the next plan brings them to the template's values.

moto models the ECS cluster and the log group the seed made by hand (recreated here with the seed's own commands),
but not CloudFormation's import: CreateChangeSet's ImportExistingResources, the ``Import`` action and
DescribeStackResources by PhysicalResourceId are checked with botocore Stubber, responses shaped as the API reference
documents them.
"""

from __future__ import annotations

import io
import json

import boto3
import pytest

import templates
from deploy import adopt, changeset, review
from deploy.aws import Aws
from deploy.context import Ctx
from deploy.errors import INVOCATION, DeployError, Invocation
from deploy.ui import Out
from templates.config import load_params

from . import recorded as r
from .conftest import REGION
from .test_changeset import create_params, request

SEED_CLUSTER, SEED_LOG_GROUP = "wwhd-cluster", "/ecs/wwhd-backend"


def prod_templates() -> dict[str, dict]:
    return {stem: t.to_dict() for stem, t in templates.build_all(load_params("prod")).items()}


def seed(region: str = REGION) -> None:
    """infra-change-001, steps 1 and 2, as the seed ran them (create-cluster --capacity-providers FARGATE; a log group
    without retention)."""
    boto3.client("ecs", region_name=region).create_cluster(clusterName=SEED_CLUSTER, capacityProviders=["FARGATE"])
    boto3.client("logs", region_name=region).create_log_group(logGroupName=SEED_LOG_GROUP)


def moto_aws() -> Aws:
    return Aws(boto3.Session(region_name=REGION), REGION)


# --- the templates -------------------------------------------------------------------------------------------------


def test_prod_cluster_and_log_group_are_importable_dev_ones_go_with_the_stack():
    """AWS: import needs a static custom name and DeletionPolicy Retain or RetainExceptOnCreate."""
    found = {(stem, logical): res["DeletionPolicy"] for stem, logical, res in adopt.candidates(prod_templates())}
    assert found == {("cluster", "Cluster"): "Retain", ("cluster", "LogGroup"): "Retain"}
    dev = {stem: t.to_dict() for stem, t in templates.build_all(load_params("dev")).items()}
    assert adopt.candidates(dev) == []
    assert dev["cluster"]["Resources"]["LogGroup"]["DeletionPolicy"] == "Delete"


def test_a_name_built_with_a_function_is_not_importable():
    t = prod_templates()
    t["cluster"]["Resources"]["LogGroup"]["Properties"]["LogGroupName"] = {"Fn::Sub": "/ecs/${AWS::StackName}"}
    assert [logical for _, logical, _ in adopt.candidates(t)] == ["Cluster"]


# --- reading what exists (moto) ------------------------------------------------------------------------------------


def test_the_seeds_cluster_and_log_group_are_found_with_their_properties_as_they_are(moto):
    seed()
    found = adopt.find(moto_aws(), "wwhd-prod", prod_templates())
    assert [(f.stack, f.logical_id, f.name) for f in found] == [
        ("ClusterStack", "Cluster", SEED_CLUSTER), ("ClusterStack", "LogGroup", SEED_LOG_GROUP)]
    cluster, group = found
    assert cluster.found["CapacityProviders"] == ["FARGATE"]
    assert group.found == {"LogGroupName": SEED_LOG_GROUP}  # no retention: events never expire
    changes = {prop: (now, target) for prop, now, target in group.differences()}
    assert changes["RetentionInDays"] == (None, 90)
    assert "Tags" in changes and changes["Tags"][0] is None
    assert {prop for prop, _, _ in cluster.differences()} >= {"CapacityProviders", "Tags"}


def test_nothing_exists_nothing_to_import(moto):
    assert adopt.find(moto_aws(), "wwhd-prod", prod_templates()) == []


def test_the_uploaded_template_records_the_properties_as_found_and_keeps_the_deletion_policy(moto):
    seed()
    t = prod_templates()
    found = adopt.find(moto_aws(), "wwhd-prod", t)
    adopt.as_found(t, found)
    group = t["cluster"]["Resources"]["LogGroup"]
    assert group["Properties"] == {"LogGroupName": SEED_LOG_GROUP} and group["DeletionPolicy"] == "Retain"
    assert t["cluster"]["Resources"]["Cluster"]["Properties"]["CapacityProviders"] == ["FARGATE"]
    assert "ClusterName" in t["cluster"]["Resources"]["Cluster"]["Properties"]
    # the second change: the template's own values differ from what was imported, so the next plan modifies them
    assert prod_templates()["cluster"]["Resources"]["LogGroup"]["Properties"]["RetentionInDays"] == 90


def test_the_review_shows_what_is_imported_as_it_is_and_what_the_next_plan_sets(moto):
    seed()
    found = adopt.find(moto_aws(), "wwhd-prod", prod_templates())
    buf = io.StringIO()
    adopt.show(found, Out(stdout=buf))
    text = buf.getvalue()
    assert f"< ClusterStack/LogGroup  AWS::Logs::LogGroup  {SEED_LOG_GROUP}" in text
    assert "RetentionInDays: (not set)  (the next plan sets 90)" in text
    md = adopt.markdown(found)
    assert (f"| <code>ClusterStack/LogGroup</code> | <code>{SEED_LOG_GROUP}</code> | RetentionInDays | "
            "(not set) | 90 |" in md)
    assert json.loads(json.dumps(adopt.as_json(found)))[1]["asFound"] == {"LogGroupName": SEED_LOG_GROUP}


# --- ownership, the change set and its review (Stubber) ------------------------------------------------------------


def stack_resource(stack: str, logical: str, physical: str, type_: str) -> dict:
    return {"StackName": stack, "StackId": r.stack_arn(stack), "LogicalResourceId": logical,
            "PhysicalResourceId": physical, "ResourceType": type_, "Timestamp": r.T0,
            "ResourceStatus": "CREATE_COMPLETE"}


@pytest.mark.parametrize("answer, expected", [
    (None, None),
    ("wwhd-prod-ClusterStack-1ABC", "wwhd-prod-ClusterStack-1ABC"),
])
def test_owner_from_describe_stack_resources(answer, expected):
    aws, stubber = r.stubbed()
    if answer is None:  # API reference: a physical id that belongs to no stack is a ValidationError
        stubber.add_client_error("describe_stack_resources", "ValidationError",
                                 f"Stack for {SEED_LOG_GROUP} does not exist",
                                 400, expected_params={"PhysicalResourceId": SEED_LOG_GROUP})
    else:
        stubber.add_response("describe_stack_resources", {"StackResources": [
            stack_resource(answer, "LogGroup", SEED_LOG_GROUP, "AWS::Logs::LogGroup")]},
                             {"PhysicalResourceId": SEED_LOG_GROUP})
    assert adopt.owner(aws, SEED_LOG_GROUP) == expected
    stubber.assert_no_pending_responses()


def test_a_resource_in_another_stack_stops_the_plan(monkeypatch):
    aws, stubber = r.stubbed()
    monkeypatch.setattr(adopt, "read", lambda aws, type_, name: {adopt.NAME[type_]: name})
    stubber.add_response("describe_stack_resources", {"StackResources": [
        stack_resource("hand-made", "Cluster", SEED_CLUSTER, "AWS::ECS::Cluster")]},
                         {"PhysicalResourceId": SEED_CLUSTER})
    with pytest.raises(DeployError, match="belongs to the stack hand-made"):
        adopt.find(aws, "wwhd-prod", prod_templates())


def test_resources_already_in_our_stacks_are_not_imported_again(monkeypatch):
    aws, stubber = r.stubbed()
    monkeypatch.setattr(adopt, "read", lambda aws, type_, name: {adopt.NAME[type_]: name})
    for logical, name in (("Cluster", SEED_CLUSTER), ("LogGroup", SEED_LOG_GROUP)):
        stubber.add_response("describe_stack_resources", {"StackResources": [
            stack_resource("wwhd-prod-ClusterStack-1ABC", logical, name, "AWS::ECS::Cluster")]},
                             {"PhysicalResourceId": name})
    assert adopt.find(aws, "wwhd-prod", prod_templates()) == []


def test_the_root_change_set_asks_for_import_existing_resources():
    """CreateChangeSet's ImportExistingResources (API reference), on the root change set with IncludeNestedStacks."""
    from dataclasses import replace

    aws, stubber = r.stubbed()
    stubber.add_response("create_change_set", {"Id": r.ROOT_CS, "StackId": r.ROOT_ID},
                         {**create_params(True), "ImportExistingResources": True})
    assert changeset.create(aws, replace(request(), import_existing=True)) == r.ROOT_CS
    stubber.add_response("create_change_set", {"Id": r.ROOT_CS, "StackId": r.ROOT_ID}, create_params(True))
    changeset.create(aws, request())  # a plain plan does not send the flag
    stubber.assert_no_pending_responses()


def describe_import() -> tuple[dict, dict]:
    """A CREATE root change set that imports into the cluster stack (Action Import, as DescribeChangeSet documents)."""
    cluster_stack = "wwhd-prod-ClusterStack-1QWE"
    cluster_cs = r.change_set_arn(f"{r.CS_NAME}-ClusterStack-1A", "aaaaaaaa-0000-0000-0000-000000000009")
    root = {
        "ChangeSetName": r.CS_NAME, "ChangeSetId": r.ROOT_CS, "StackId": r.ROOT_ID, "StackName": r.ROOT,
        "CreationTime": r.T0, "ExecutionStatus": "AVAILABLE", "Status": "CREATE_COMPLETE",
        "Capabilities": ["CAPABILITY_IAM"], "IncludeNestedStacks": True, "RootChangeSetId": r.ROOT_CS,
        "ImportExistingResources": True,
        "Changes": [{"Type": "Resource", "ResourceChange": {
            "Action": "Add", "LogicalResourceId": "ClusterStack", "ResourceType": "AWS::CloudFormation::Stack",
            "Scope": [], "Details": [], "ChangeSetId": cluster_cs}}],
    }
    nested = {
        "ChangeSetName": f"{r.CS_NAME}-ClusterStack-1A", "ChangeSetId": cluster_cs,
        "StackId": r.stack_arn(cluster_stack),
        "StackName": cluster_stack, "CreationTime": r.T0, "ExecutionStatus": "AVAILABLE", "Status": "CREATE_COMPLETE",
        "IncludeNestedStacks": True, "ParentChangeSetId": r.ROOT_CS, "RootChangeSetId": r.ROOT_CS,
        "ImportExistingResources": True,
        "Changes": [
            {"Type": "Resource", "ResourceChange": {"Action": "Import", "LogicalResourceId": "Cluster",
                                                    "PhysicalResourceId": SEED_CLUSTER,
                                                    "ResourceType": "AWS::ECS::Cluster",
                                                    "Scope": [], "Details": []}},
            {"Type": "Resource", "ResourceChange": {"Action": "Import", "LogicalResourceId": "LogGroup",
                                                    "PhysicalResourceId": SEED_LOG_GROUP,
                                                    "ResourceType": "AWS::Logs::LogGroup", "Scope": [], "Details": []}},
        ],
    }
    return root, nested


def test_an_import_change_set_is_reviewed_as_import_and_is_no_data_loss():
    aws, stubber = r.stubbed()
    root, nested = describe_import()
    stubber.add_response("describe_change_set", root, {"ChangeSetName": r.ROOT_CS, "IncludePropertyValues": True})
    stubber.add_response("describe_change_set", nested,
                         {"ChangeSetName": nested["ChangeSetId"], "IncludePropertyValues": True})
    result = review.build(changeset.describe_tree(aws, r.ROOT_CS), "CREATE")
    stubber.assert_no_pending_responses()
    rows = {(row.logical_id, row.action) for stack in result.stacks for row in stack.rows}
    assert {("Cluster", "Import"), ("LogGroup", "Import")} <= rows
    assert adopt.imports(result) and not result.data_loss and not result.single_writer
    buf = io.StringIO()
    review.show(result, Out(stdout=buf))
    assert "< Cluster  AWS::ECS::Cluster  Import" in buf.getvalue()


def test_after_an_import_the_next_steps_are_runnable_commands():
    token = INVOCATION.set(Invocation("plan", "us-west-2", "ops"))  # what the adapters set from --region/--profile
    try:
        ctx = Ctx(p=load_params("prod"), aws=None, out=None, home=None)
        lines = adopt.next_steps(ctx.command)
    finally:
        INVOCATION.reset(token)
    assert "python generate.py plan --env prod --region us-west-2 --profile ops" in lines[1]
    assert lines[2].endswith("python generate.py drift --env prod --region us-west-2 --profile ops")


def test_the_adopted_template_is_what_gets_uploaded(moto, project, cli, monkeypatch):
    """End to end in the emulator up to the change set, over the recreated seed (scripts/recreate_seed.py) with
    confirmed params: preflight lets plan --adopt import the seed's cluster and log group (a plain plan blocks them:
    tests/deploy/test_takeover.py), and the cluster stack is uploaded with their properties as found; the review lists
    them (moto ignores the import flag itself)."""
    from moto.route53.models import HostedZoneIdentifier
    from moto.utilities.id_generator import moto_id_manager

    from scripts.recreate_seed import recreate

    from .test_takeover import ZONE, ZONE_ID, write_prod

    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    seeded = recreate(boto3.Session(), REGION)
    zone = HostedZoneIdentifier("123456789012", f"{ZONE}.", None)
    moto_id_manager.set_custom_id(zone, ZONE_ID)
    try:
        boto3.client("route53").create_hosted_zone(Name=f"{ZONE}.", CallerReference="adopt")
    finally:
        moto_id_manager.unset_custom_id(zone)
    write_prod(project, seeded)
    assert cli("bootstrap", "--env", "prod", "--yes").code == 0
    result = cli("plan", "--env", "prod", "--adopt", "--desired-count", "0", "--json", "plan.json")
    assert result.code == 0, result.out + result.err
    assert "PASS  ECS cluster wwhd-cluster: exists outside any stack: imported as it is" in result.out
    assert "PASS  log group /ecs/wwhd-backend: exists outside any stack: imported as it is" in result.out
    assert "Imported as they are (ImportExistingResources)" in result.out
    planned = json.loads((project / "plan.json").read_text())
    assert [i["logicalId"] for i in planned["imported"]] == ["Cluster", "LogGroup"]
    s3 = boto3.client("s3", region_name=REGION)
    bucket = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("wwhd-infra-")][0]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    bodies = [s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode() for k in keys]
    cluster = [b for b in bodies if "AWS::Logs::LogGroup" in b]
    assert len(cluster) == 1 and "RetentionInDays" not in cluster[0] and "DeletionPolicy: Retain" in cluster[0]


def test_a_tagged_log_group_is_imported_with_its_tags(moto):
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=SEED_LOG_GROUP, tags={"owner": "seed"})
    assert adopt.read(moto_aws(), "AWS::Logs::LogGroup", SEED_LOG_GROUP) == {
        "LogGroupName": SEED_LOG_GROUP, "Tags": [{"Key": "owner", "Value": "seed"}]}
