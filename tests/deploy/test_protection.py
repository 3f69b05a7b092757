"""Data protection: the guard stops a change set that would lose stateful resources, and production stacks get
termination protection and stack policies that forbid replacing or deleting the EFS file system and access points."""

from __future__ import annotations

import json
import re

import boto3
from moto import settings as moto_settings
import pytest
from moto.route53.models import HostedZoneIdentifier
from moto.utilities.id_generator import moto_id_manager

from deploy import changeset
from deploy.changeset import Node

from .conftest import REGION

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
def stage(moto, project, cli, monkeypatch):
    """A production environment whose hosted zone and certificate exist in moto (ids fixed: params validate them)."""
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", -1)  # moto issues after 60 s, ACM once DNS validates
    zone_id = HostedZoneIdentifier("123456789012", "stage.wwhd-takeover.net.", None)
    moto_id_manager.set_custom_id(zone_id, ZONE)
    try:
        boto3.client("route53").create_hosted_zone(Name="stage.wwhd-takeover.net.", CallerReference="stage")
    finally:
        moto_id_manager.unset_custom_id(zone_id)
    certificate = boto3.client("acm", region_name=REGION).request_certificate(DomainName="api.stage.wwhd-takeover.net")
    (project / "params/stage.yaml").write_text(STAGE.format(zone=ZONE, certificate=certificate["CertificateArn"]))
    assert cli("bootstrap", "--env", "stage", "--yes").code == 0


def policy(stack: str) -> dict:
    return json.loads(boto3.client("cloudformation", region_name=REGION).get_stack_policy(StackName=stack)["StackPolicyBody"])


def nested_physical_id(stack: str, logical: str) -> str:
    resources = boto3.client("cloudformation", region_name=REGION).list_stack_resources(StackName=stack)
    return next(r["PhysicalResourceId"] for r in resources["StackResourceSummaries"] if r["LogicalResourceId"] == logical)


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
            path=("StorageStack",), arn=f"{arn}-StorageStack", name="nested", stack_id="id", stack_name="wwhd-dev-StorageStack-X",
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
    assert "StorageStack/FileSystem (AWS::EFS::FileSystem): replaced: a new, empty resource takes its place" in result.err
    assert "--allow-data-loss" in result.err
    assert image_tag() == "v1"  # nothing was executed


def test_allow_data_loss_applies_with_a_warning(deployed, cli, monkeypatch):
    monkeypatch.setattr(changeset, "describe_tree", with_storage_change("Conditional"))
    result = cli("apply", "--env", "dev", "--image-tag", "v2", "--yes", "--allow-data-loss")
    assert result.code == 0, result.err
    assert "WARNING: --allow-data-loss given; applying although" in result.out
    assert image_tag() == "v2"


def test_the_apply_hint_after_a_data_loss_plan_carries_the_flag_it_needs(deployed, cli, monkeypatch):
    monkeypatch.setattr(changeset, "describe_tree", with_storage_change("True"))
    result = cli("plan", "--env", "dev", "--image-tag", "v2", "--region", "us-west-2")
    assert result.code == 0, result.err
    hint = next(line for line in result.out.splitlines() if line.startswith("apply it: "))
    assert re.match(r"apply it: python generate.py apply --env dev --region us-west-2 --change-set wwhd-dev-\d{14}-v2",
                    hint)
    assert hint.endswith(" --allow-data-loss")


def test_the_apply_hint_of_a_safe_plan_has_no_data_loss_flag(deployed, cli):
    result = cli("plan", "--env", "dev", "--image-tag", "v2")
    hint = next(line for line in result.out.splitlines() if line.startswith("apply it: "))
    assert "--allow-data-loss" not in hint and "--region" not in hint
