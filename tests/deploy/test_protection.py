"""Data protection: the guard stops a change set that would lose stateful resources, and production stacks get
termination protection and stack policies that forbid replacing or deleting the EFS file system and access points."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import boto3
import pytest
from moto import settings as moto_settings
from moto.route53.models import HostedZoneIdentifier
from moto.utilities.id_generator import moto_id_manager

from deploy import changeset, review
from deploy.changeset import Node
from deploy.diff import stem_of as diff_stem

from .conftest import REGION, REPO

ZONE = "Z0000000000STAGE"
STAGE = """\
# Production-like and self-contained, for the deploy tests: production protection on, its own VPC.
production: true
region: us-west-2
network:
  create:
    cidr: 10.50.0.0/16
    az_count: 2
image:
  repository: wwhd-backend-stage
  create_repository: true
  default_tag: bootstrap
secrets:
  OPENAI_API_KEY:
    name: wwhd-stage/openai-api-key
    generate: true
  JWT_SECRET:
    name: wwhd-stage/jwt-secret
    generate: true
service:
  desired_count: 0
domain:
  name: api.stage.wwhd-takeover.net
  hosted_zone_id: {zone}
  certificate_arn: {certificate}
"""


@pytest.fixture
def stage(moto, project, cli, monkeypatch, shared_setup):
    """A production environment whose hosted zone and certificate exist in moto (ids fixed: params validate them).
    Made once per test process (tests/deploy/moto_state.py)."""
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", -1)  # moto issues after 60 s, ACM once DNS validates

    def make():
        zone_id = HostedZoneIdentifier("123456789012", "stage.wwhd-takeover.net.", None)
        moto_id_manager.set_custom_id(zone_id, ZONE)
        try:
            boto3.client("route53").create_hosted_zone(Name="stage.wwhd-takeover.net.", CallerReference="stage")
        finally:
            moto_id_manager.unset_custom_id(zone_id)
        certificate = boto3.client("acm", region_name=REGION).request_certificate(
            DomainName="api.stage.wwhd-takeover.net")
        (project / "params/stage.yaml").write_text(STAGE.format(zone=ZONE, certificate=certificate["CertificateArn"]))
        return cli("bootstrap", "--env", "stage", "--yes")

    assert shared_setup("stage", make).code == 0


def policy(stack: str) -> dict:
    return json.loads(boto3.client("cloudformation", region_name=REGION)
                      .get_stack_policy(StackName=stack)["StackPolicyBody"])


def nested_physical_id(stack: str, logical: str) -> str:
    resources = boto3.client("cloudformation", region_name=REGION).list_stack_resources(StackName=stack)
    return next(r["PhysicalResourceId"]
                for r in resources["StackResourceSummaries"] if r["LogicalResourceId"] == logical)


def test_production_gets_termination_protection_and_stack_policies(stage, cli):
    result = cli("apply", "--env", "stage", "--yes")
    assert result.code == 0, result.err
    assert "protection: termination protection on wwhd-stage" in result.out
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks(StackName="wwhd-stage")["Stacks"][0]["EnableTerminationProtection"] is True
    deny = {"Effect": "Deny", "Action": ["Update:Replace", "Update:Delete"], "Principal": "*"}
    assert policy("wwhd-stage")["Statement"][1] == {**deny, "Resource": ["LogicalResourceId/StorageStack"]}
    storage = policy(nested_physical_id("wwhd-stage", "StorageStack"))
    assert storage["Statement"] == [
        {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"},
        {**deny, "Resource": ["LogicalResourceId/AppAccessPoint", "LogicalResourceId/FileSystem",
                              "LogicalResourceId/QdrantAccessPoint"]},
    ]

    destroy = cli("destroy", "--env", "stage", "--yes")
    assert destroy.code == 1
    assert ("aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name "
            "wwhd-stage --region us-west-2") in destroy.err
    assert cfn.describe_stacks(StackName="wwhd-stage")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def with_storage_change(replacement: str):
    """describe_tree as AWS would answer if the templates replaced the file system (moto has no nested change sets)."""
    real = changeset.describe_tree

    def describe_tree(aws, arn, path=()):
        node = real(aws, arn, path)
        node.children["StorageStack"] = Node(
            path=("StorageStack",), arn=f"{arn}-StorageStack", name="nested", stack_id="id",
            stack_name="wwhd-dev-StorageStack-X",
            status="CREATE_COMPLETE", execution_status="AVAILABLE", reason="", parameters={}, include_nested=True,
            changes=[{"Action": "Modify", "LogicalResourceId": "FileSystem", "ResourceType": "AWS::EFS::FileSystem",
                      "Replacement": replacement}])
        return node

    return describe_tree


def image_tag() -> str:
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName="wwhd-dev")["Stacks"][0]
    return next(p["ParameterValue"] for p in stack["Parameters"] if p["ParameterKey"] == "ImageTag")


def test_the_guard_refuses_to_replace_the_file_system(deployed, cli, monkeypatch):
    monkeypatch.setattr(changeset, "describe_tree", with_storage_change("True"))
    result = cli("apply", "--env", "dev", "--image-tag", "v2", "--yes")
    assert result.code == 1
    assert "refusing to apply: this change set would lose data" in result.err
    assert ("StorageStack/FileSystem (AWS::EFS::FileSystem): replaced: a new, empty "
            "resource takes its place" in result.err)
    assert "--allow-data-loss" not in result.err and "data-loss override yourself" in result.err
    assert image_tag() == "v1"  # nothing was executed


def test_allow_data_loss_applies_with_a_warning(deployed, cli, monkeypatch):
    monkeypatch.setattr(changeset, "describe_tree", with_storage_change("Conditional"))
    result = cli("apply", "--env", "dev", "--image-tag", "v2", "--yes", "--allow-data-loss")
    assert result.code == 0, result.err
    assert "WARNING: --allow-data-loss given; applying although" in result.out
    assert image_tag() == "v2"


def test_the_hint_after_a_data_loss_plan_says_apply_refuses_and_never_carries_the_override(deployed, cli, monkeypatch):
    monkeypatch.setattr(changeset, "describe_tree", with_storage_change("True"))
    result = cli("plan", "--env", "dev", "--image-tag", "v2", "--region", "us-west-2", "--markdown", "plan.md")
    assert result.code == 0, result.err
    assert "apply it: " not in result.out
    lines = result.out.splitlines()
    refuses = next(i for i, line in enumerate(lines)
                   if re.match(r"apply will refuse change set wwhd-dev-\d{14}-v2", line))
    assert lines[refuses + 1] == ("  StorageStack/FileSystem (AWS::EFS::FileSystem): replaced: a new, empty resource "
                                  "takes its place")
    assert "To do it on purpose, back that data up first" in lines[refuses + 2]
    shown = result.out + result.err + Path("plan.md").read_text()
    assert "--allow-data-loss" not in shown  # no hint, warning or Markdown note names the flag to copy
    refused = cli("apply", "--env", "dev", "--image-tag", "v2", "--yes")
    assert refused.code == 1 and "--allow-data-loss" not in refused.out + refused.err


def root_rows(*rows: tuple[str, str]):
    """describe_tree as AWS answers without nested change sets: each nested stack one Modify row in the root."""
    real = changeset.describe_tree

    def describe_tree(aws, arn, path=()):
        node = real(aws, arn, path)
        node.include_nested = False
        node.changes = [{"Action": action, "LogicalResourceId": stack, "ResourceType": "AWS::CloudFormation::Stack",
                         "Replacement": "False" if action == "Modify" else "", "PhysicalResourceId": f"{stack}-X"}
                        for stack, action in rows]
        return node

    return describe_tree


def test_without_nested_change_sets_only_stacks_holding_data_are_possible_data_loss(deployed, cli, monkeypatch):
    """dev's LoadBalancerStack is named in templates/stateful.py (prod's ALB access logs) but holds no bucket in dev,
    deployed or planned: modifying it loses nothing. StorageStack holds the file system: flagged, naming it."""
    monkeypatch.setattr(changeset, "describe_tree", root_rows(("LoadBalancerStack", "Modify"),
                                                              ("StorageStack", "Modify")))
    result = cli("plan", "--env", "dev", "--image-tag", "v2", "--json", "plan.json")
    assert result.code == 0, result.err
    findings = json.loads(Path("plan.json").read_text())["dataLoss"]
    assert [f["logicalId"] for f in findings] == ["StorageStack"]
    assert ("AppAccessPoint (AWS::EFS::AccessPoint), BackupVault (AWS::Backup::BackupVault), FileSystem "
            "(AWS::EFS::FileSystem), QdrantAccessPoint (AWS::EFS::AccessPoint)") in findings[0]["why"]

    monkeypatch.setattr(changeset, "describe_tree", root_rows(("LoadBalancerStack", "Modify")))
    safe = cli("plan", "--env", "dev", "--image-tag", "v2")
    assert "DATA LOSS" not in safe.out + safe.err and "apply it: " in safe.out
    name = next(w for w in safe.out.split() if re.fullmatch(r"wwhd-dev-\d{14}-v2", w))
    # apply --change-set weighs the deployed templates too (read back with GetTemplate)
    applied = cli("apply", "--env", "dev", "--change-set", name, "--yes")
    assert applied.code == 0, applied.out + applied.err


def test_a_stack_whose_templates_were_not_read_back_is_assumed_to_hold_data():
    rows = [review.Row("StorageStack", "AWS::CloudFormation::Stack", "Modify"),
            review.Row("LoadBalancerStack", "AWS::CloudFormation::Stack", "Modify"),
            review.Row("SecurityStack", "AWS::CloudFormation::Stack", "Modify")]
    unknown = review.Review("wwhd-dev", "arn", "cs", "UPDATE", False, {},
                            [review.StackReview((), "wwhd-dev", "a", rows)])
    assert [f.logical_id for f in unknown.data_loss] == ["StorageStack", "LoadBalancerStack"]


def test_removing_the_file_system_from_the_storage_template_is_flagged():
    """Deployed holds the file system, the planned template no longer does: the deployed side decides."""
    deployed = {"storage": {"Resources": {"FileSystem": {"Type": "AWS::EFS::FileSystem"},
                                          "MountTargetA": {"Type": "AWS::EFS::MountTarget"}}},
                "cluster": {"Resources": {"Cluster": {"Type": "AWS::ECS::Cluster"}}}}
    planned = {"storage": {"Resources": {"MountTargetA": {"Type": "AWS::EFS::MountTarget"}}},
               "cluster": {"Resources": {"Cluster": {"Type": "AWS::ECS::Cluster"},
                                         "Repository": {"Type": "AWS::ECR::Repository"}}}}
    held = review.stateful_held(deployed, planned)
    assert held == {"StorageStack": {"FileSystem": "AWS::EFS::FileSystem"},
                    "ClusterStack": {"Repository": "AWS::ECR::Repository"}}  # planned counts too
    rows = [review.Row("StorageStack", "AWS::CloudFormation::Stack", "Modify"),
            review.Row("ClusterStack", "AWS::CloudFormation::Stack", "Modify")]
    r = review.Review("wwhd-prod", "arn", "cs", "UPDATE", False, {}, [review.StackReview((), "wwhd-prod", "a", rows)],
                      holds=held)
    assert [str(f) for f in r.data_loss] == [
        "root/StorageStack (AWS::CloudFormation::Stack): changes, but without a nested change set the guard cannot "
        "see whether these survive: FileSystem (AWS::EFS::FileSystem)",
        "root/ClusterStack (AWS::CloudFormation::Stack): changes, but without a nested change set the guard cannot "
        "see whether these survive: Repository (AWS::ECR::Repository)"]
    prod_cluster = review.stateful_held({"cluster": deployed["cluster"]}, {"cluster": deployed["cluster"]})
    r = dataclasses.replace(r, holds=prod_cluster)
    assert [f.logical_id for f in r.data_loss] == ["StorageStack"]  # not read back: assumed; the cluster: nothing


def test_every_stateful_resource_rendered_has_a_type_the_guard_counts():
    from deploy.diff import parse
    from templates.stateful import STATEFUL

    seen = 0
    for env in ("dev", "prod"):
        for stack, ids in STATEFUL.items():
            path = REPO / "output" / env / f"{diff_stem(stack)}.yaml"
            if not path.exists():  # prod references its secrets by ARN: no secrets stack
                continue
            resources = parse(path.read_text())["Resources"]
            for logical_id in ids:
                if logical_id in resources:
                    seen += 1
                    assert resources[logical_id]["Type"] in review.STATEFUL_TYPES, (env, stack, logical_id)
    assert seen >= 10


def test_the_apply_hint_of_a_safe_plan_has_no_data_loss_flag(deployed, cli):
    result = cli("plan", "--env", "dev", "--image-tag", "v2")
    hint = next(line for line in result.out.splitlines() if line.startswith("apply it: "))
    assert "--allow-data-loss" not in hint and "--region" not in hint
