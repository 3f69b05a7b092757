"""The plan review's template comparison and the guards around it: the deployed templates read back (Stubber and
moto), the IAM / security group / cost sections in every rendering, guardrails that stop a plan before anything is
uploaded, and the single-writer guard that refuses to replace a running ECS service."""

from __future__ import annotations

import copy
import io
import json

import boto3
import pytest
import yaml
from rich.console import Console

import templates
from checks import prices as P
from deploy import changeset, diff, review
from deploy.aws import connect
from deploy.changeset import Node
from deploy.context import Ctx, PlanOptions
from deploy.review import Row, StackReview, md_code, md_text
from deploy.ui import Out, Rich
from deploy.verbs import plan as plan_verb
from templates.config import load_params

from . import recorded as r
from .conftest import REGION, push_image

BUCKET = "wwhd-infra-123456789012-us-west-2"
EXTRA_SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:wwhd-dev/dev/extra-AbCdEf"


def edit_params(project, env: str = "dev", **sections) -> None:
    path = project / "params" / f"{env}.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path.write_text(yaml.safe_dump(data))


def cfn():
    return boto3.client("cloudformation", region_name=REGION)


# --- reading the deployed templates --------------------------------------------------------------------------------


ROOT_BODY = """\
AWSTemplateFormatVersion: 2010-09-09
Resources:
  StorageStack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://b.s3.us-west-2.amazonaws.com/wwhd-prod/1.yaml
  ServiceStack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: https://b.s3.us-west-2.amazonaws.com/wwhd-prod/2.yaml
      Parameters:
        FileSystemId: !GetAtt StorageStack.Outputs.FileSystemId
"""
STORAGE_BODY = "Resources:\n  FileSystem:\n    Type: AWS::EFS::FileSystem\n    Properties:\n      Encrypted: true\n"
SERVICE_BODY = json.dumps({"Resources": {"Service": {"Type": "AWS::ECS::Service", "Properties": {"DesiredCount": 1}}}})


def summary(logical: str, physical: str, type_: str) -> dict:
    return {"LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": type_,
            "LastUpdatedTimestamp": r.T0, "ResourceStatus": "UPDATE_COMPLETE"}


def test_deployed_templates_reads_the_root_and_every_nested_stack():
    aws, stubber = r.stubbed()
    original = {"TemplateStage": "Original"}
    stubber.add_response("get_template", {"TemplateBody": ROOT_BODY}, {"StackName": r.ROOT, **original})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
        summary("ServiceStack", r.stack_arn(r.SERVICE_STACK), "AWS::CloudFormation::Stack"),
        summary("StorageStack", r.stack_arn(r.STORAGE_STACK), "AWS::CloudFormation::Stack"),
        summary("Topic", "arn:aws:sns:us-west-2:1:t", "AWS::SNS::Topic"),
    ]}, {"StackName": r.ROOT})
    # sorted by logical id: ServiceStack first; its body is JSON, which botocore hands back decoded
    stubber.add_response("get_template", {"TemplateBody": SERVICE_BODY},
                         {"StackName": r.stack_arn(r.SERVICE_STACK), **original})
    stubber.add_response("get_template", {"TemplateBody": STORAGE_BODY},
                         {"StackName": r.stack_arn(r.STORAGE_STACK), **original})
    found = diff.deployed_templates(aws, r.ROOT)
    stubber.assert_no_pending_responses()
    assert sorted(found) == ["root", "service", "storage"]
    assert found["root"]["AWSTemplateFormatVersion"] == "2010-09-09"
    assert found["root"]["Resources"]["ServiceStack"]["Properties"]["Parameters"]["FileSystemId"] == {
        "Fn::GetAtt": ["StorageStack", "Outputs.FileSystemId"]}
    assert found["storage"]["Resources"]["FileSystem"]["Properties"] == {"Encrypted": True}
    assert found["service"]["Resources"]["Service"]["Properties"] == {"DesiredCount": 1}


def test_deployed_templates_is_none_before_the_first_deploy():
    aws, stubber = r.stubbed()
    stubber.add_client_error("get_template", "ValidationError", "Stack with id wwhd-prod does not exist", 400,
                             expected_params={"StackName": r.ROOT, "TemplateStage": "Original"})
    assert diff.deployed_templates(aws, r.ROOT) is None


def test_after_apply_the_deployed_templates_are_the_packaged_ones_and_only_a_change_reads_them(deployed, project):
    p = load_params("dev", project / "params")
    found = diff.deployed_templates(connect(None, REGION), "wwhd-dev")
    local = {stem: t.to_dict() for stem, t in templates.app_templates(templates.build_all(p)).items()}
    assert sorted(found) == sorted(local)
    assert all(found[stem] == local[stem] for stem in local if stem != "root")
    assert found["root"] == diff.parse((project / "output/dev/packaged/root.yaml").read_text())  # with its S3 URLs

    def plan(**options) -> Ctx:
        ctx = Ctx(p=p, aws=connect(None, REGION), out=Out(stdout=io.StringIO()), home=project)
        assert plan_verb.plan(ctx, PlanOptions(**options)) == 0
        return ctx

    unchanged, changed = plan(), plan(image_tag="v2")
    # preflight reads the identity stack's template once per plan (deploy/identity.py); the rest is the comparison
    assert unchanged.aws.calls["cloudformation:GetTemplate"] == 1  # "No changes": nothing to compare
    # Same templates, new parameter: the deployed root equals the planned one, so the children are not read back.
    assert changed.aws.calls["cloudformation:GetTemplate"] == 1 + 1
    assert changed.aws.calls["cloudformation:ListStackResources"] == 0
    assert "IAM (deployed -> planned templates): no change" in changed.out.stdout.getvalue()

    edit_params(project, load_balancer={"idle_timeout": 120})
    p = load_params("dev", project / "params")
    templated = plan()  # a template changed: the root's child URL changes, so every nested template is read back
    assert templated.aws.calls["cloudformation:GetTemplate"] == 1 + 1 + len(templates.enabled_stacks(p))
    assert templated.aws.calls["cloudformation:ListStackResources"] == 1


# --- the plan review end to end ------------------------------------------------------------------------------------


def test_plan_after_apply_shows_what_access_widens_and_what_it_costs(moto, project, cli):
    edit_params(project, load_balancer={"ingress_cidrs": ["10.0.0.0/8"]})
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    assert cli("apply", "--env", "dev", "--image-tag", "v1", "--yes").code == 0
    push_image("wwhd-backend-dev", "v1")  # DesiredCount 1 needs the image (preflight)
    # the referenced secret exists (preflight checks its full ARN); moto's _custom_id_ tag fixes the ARN's suffix
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="wwhd-dev/dev/extra", SecretString="x", Tags=[{"Key": "_custom_id_", "Value": "AbCdEf"}])
    edit_params(project, load_balancer={"ingress_cidrs": ["10.0.0.0/8", "0.0.0.0/0"]},
                secrets={"EXTRA_TOKEN": {"arn": EXTRA_SECRET}})

    # the new secret changes the identity stack (the execution role reads it): an operator's bootstrap, so the plan
    # stops before any change set; a pull request's plan goes on and shows what the identity stack would grant
    blocked = cli("plan", "--env", "dev", "--desired-count", "1")
    assert blocked.code == 1 and "BLOCK identity stack wwhd-dev-identity: differs from the templates" in blocked.out
    assert "ExecutionRole" in blocked.out and "python generate.py bootstrap --env dev" in blocked.out
    plan = cli("plan", "--env", "dev", "--desired-count", "1", "--pull-request", "--markdown", "plan.md",
               "--json", "plan.json")
    assert plan.code == 0, plan.err
    assert "WARN  identity stack wwhd-dev-identity: differs from the templates" in plan.out
    assert (f"  ~ identity/ExecutionRole policy execution ReadInjectedSecrets (Allow)  WIDENS: now allows resource "
            f"{EXTRA_SECRET}" in plan.out)
    assert "parameters (deployed -> planned): DesiredCount=0 -> 1, ImageTag=v1" in plan.out
    assert ("  + security/LoadBalancerSecurityGroup ingress tcp 80 from 0.0.0.0/0 (LoadBalancerIngress802)  "
            "WIDENS, INTERNET") in plan.out
    assert "WARNING: access widens: 1 IAM change(s) and 1 security group rule(s), 1 open to the internet" in plan.out

    data = json.loads((project / "plan.json").read_text())
    assert data["templatesCompared"] is True and data["widens"] is True and data["stackExists"] is True
    assert data["iam"] == [{
        "stack": "identity", "resource": "ExecutionRole", "type": "AWS::IAM::Role", "policy": "policy execution",
        "statement": "ReadInjectedSecrets", "change": "changed", "effect": "Allow",
        "added": {"Resource": [EXTRA_SECRET]}, "removed": {}, "widens": True,
        "why": [f"now allows resource {EXTRA_SECRET}"], "narrows": False, "narrowing": [], "verdict": "widens"}]
    assert [(n["peer"], n["change"], n["widens"], n["internet"], n["verdict"]) for n in data["network"]] == [
        ("0.0.0.0/0", "added", True, True, "widens")]
    assert data["parameterChanges"] == [{"key": "DesiredCount", "before": "0", "after": "1"}]
    # then the operator deploys the identity stack, reviewing the same widening, and the plan goes on
    boot = cli("bootstrap", "--env", "dev", "--yes")
    assert boot.code == 0, boot.err
    assert ("~ identity/ExecutionRole policy execution ReadInjectedSecrets (Allow)  WIDENS: now allows "
            f"resource {EXTRA_SECRET}" in boot.out)
    assert "wwhd-dev-identity: UPDATE_COMPLETE" in boot.out
    assert cli("plan", "--env", "dev", "--desired-count", "1").code == 0
    assert data["deployedParameters"]["DesiredCount"] == "0" and data["parameters"]["DesiredCount"] == "1"
    cost = data["cost"]
    fargate = next(c for c in cost["changes"] if c["item"] == "vCPU-hours (X86_64)")
    assert fargate["delta"] == round(1 * P.HOURS_PER_MONTH * P.PRICES["fargate_vcpu_x86_64"].usd, 2)  # 0 -> 1 task
    secrets = next(c for c in cost["changes"] if c["service"] == "Secrets Manager")
    assert secrets["delta"] == round(P.PRICES["secret_month"].usd, 2)  # one more secret read by the task
    assert cost["delta"] == pytest.approx(cost["after"] - cost["before"], abs=0.011) and cost["delta"] > 0

    md = (project / "plan.md").read_text()
    assert ("> [!WARNING]\n> **Access widens** (deployed -> planned templates): 1 IAM change(s) and 1 security group "
            "rule(s), 1 open to the internet.\n") in md
    assert (f"> - {md_code('security/LoadBalancerSecurityGroup')} {md_text('ingress tcp 80 from 0.0.0.0/0')} "
            "**(internet)**") in md
    assert (f"| ~ | {md_code('identity/ExecutionRole')} {md_text('AWS::IAM::Role')} | policy execution | "
            "ReadInjectedSecrets "
            f"(Allow) | {md_code('Resource: ' + EXTRA_SECRET)} |  | **yes**: "
            f"{md_text('now allows resource ' + EXTRA_SECRET)} |"
            ) in md
    assert (f"| + | {md_code('security/LoadBalancerSecurityGroup')} | {md_text('ingress tcp 80 from 0.0.0.0/0')} | "
            f"{md_code('LoadBalancerIngress802')} | **yes**, **internet** |") in md
    assert f"| {md_code('DesiredCount')} | {md_code('0')} | {md_code('1')} | **changed** |" in md
    assert f"**{cost['delta']:+,.2f} USD/month** ({cost['before']:,.2f} -> {cost['after']:,.2f})" in md
    assert (f"| {fargate['delta']:+,.2f} | {md_text('Fargate vCPU-hours (X86_64)')} | "
            f"{md_text('0 tasks x 1 vCPU')}" in md)


def test_a_guardrail_violation_stops_plan_before_anything_is_uploaded(moto, project, cli, monkeypatch):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    real = templates.service.build

    def two_tasks_at_once(p):
        t = real(p)
        t.resources["Service"].DeploymentConfiguration.MaximumPercent = 200
        return t

    monkeypatch.setattr(templates.service, "build", two_tasks_at_once)
    result = cli("plan", "--env", "dev")
    assert result.code == 1
    assert "refusing to package wwhd-dev: the templates break 1 guardrail(s) (checks/guardrails.py)" in result.err
    assert ("  service.Service: [single-writer] MaximumPercent above 100 starts the new task "
            "before the old stops" in result.err)
    assert "fix: fix params/dev.yaml or the template module named above" in result.err
    assert boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix="wwhd-dev/")["KeyCount"] == 0
    assert "wwhd-dev" not in [s["StackName"] for s in cfn().list_stacks()["StackSummaries"]]


# --- renderings of a review with a diff ----------------------------------------------------------------------------


def recorded_review(prod) -> review.Review:
    """The recorded change set hierarchy, with a diff in which the task role gains s3:* and a statement is removed."""
    aws, stubber = r.stubbed()
    r.expect_tree(stubber)
    tree = changeset.describe_tree(aws, r.ROOT_CS)
    after = copy.deepcopy(prod)
    policy = after["identity"]["Resources"]["TaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"].append({"Sid": "Everything", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    execution = after["identity"]["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    execution["Statement"] = [s for s in execution["Statement"] if s["Sid"] != "EcrLogin"]
    compared = diff.compare(prod, after, "us-west-2", "prod", {"DesiredCount": "1"}, {"DesiredCount": "1"})
    return review.build(tree, "UPDATE", compared, {"DesiredCount": "1", "ImageTag": "2025-11-07"})


def test_widening_is_yellow_in_a_terminal_and_narrowing_is_not(prod):
    buf = io.StringIO()
    review.show(recorded_review(prod), Rich(console=Console(file=buf, force_terminal=True, width=300,
                                                            color_system="standard")))
    lines = buf.getvalue().splitlines()
    widening = next(line for line in lines if "Everything" in line)
    narrowing = next(line for line in lines if "EcrLogin" in line)
    assert "\x1b[33m" in widening and "WIDENS: new Allow statement; wildcard action s3:*; Resource *" in widening
    assert "\x1b[33m" not in narrowing and "WIDENS" not in narrowing and "NARROWS: Allow statement removed" in narrowing


def test_markdown_and_json_mark_what_widens(prod):
    result = recorded_review(prod)
    md = review.markdown(result)
    warning = md.index("> [!WARNING]")
    assert md[warning:].startswith("> [!WARNING]\n> **Access widens** (deployed -> planned templates): 1 "
                                   "IAM change(s).\n"
                                   f"> - {md_code('identity/TaskRole')} policy task {md_code('Everything')}: "
                                   f"{md_text('new Allow statement; wildcard action s3:*; Resource *')}\n")
    assert "s3:\\*; Resource \\*" in md  # escaped: no emphasis in running text
    assert (f"| - | {md_code('identity/ExecutionRole')} {md_text('AWS::IAM::Role')} | policy execution | "
            "EcrLogin (Allow) |  | "
            f"{md_code('Action: ecr:GetAuthorizationToken')}") in md
    assert "| no (narrows: Allow statement removed) |" in md
    assert "No security group rule change." in md and "No change in the estimated cost" in md
    data = review.as_json(result)
    assert [(c["statement"], c["verdict"]) for c in data["iam"]] == [("EcrLogin", "narrows"), ("Everything", "widens")]
    assert data["widens"] is True and data["network"] == [] and data["cost"]["changes"] == []


def test_a_review_rebuilt_from_a_change_set_alone_says_it_did_not_compare():
    aws, stubber = r.stubbed()
    r.expect_tree(stubber)
    result = review.build(changeset.describe_tree(aws, r.ROOT_CS), "UPDATE")
    data = review.as_json(result)
    assert data["templatesCompared"] is False and data["iam"] == [] and data["widens"] is None
    assert "#### IAM" not in review.markdown(result)


# --- the single-writer guard ---------------------------------------------------------------------------------------


def service_review(rows: list[Row], deployed: str = "1", planned: str = "1") -> review.Review:
    return review.Review("wwhd-prod", r.ROOT_CS, r.CS_NAME, "UPDATE", True, {"DesiredCount": planned},
                         [StackReview(("ServiceStack",), "s", "cs", rows)],
                         deployed_parameters={"DesiredCount": deployed})


@pytest.mark.parametrize("rows, deployed, planned, expected", [
    ([Row("Service", "AWS::ECS::Service", "Modify", "True")], "1", "1", ["replaced: CloudFormation starts the new"]),
    ([Row("Service", "AWS::ECS::Service", "Modify", "Conditional")], "1", "1", ["may be replaced"]),
    ([Row("Service", "AWS::ECS::Service", "Remove"), Row("Service2", "AWS::ECS::Service", "Add")], "1", "1",
     ["removed while Service2 is added"]),
    ([Row("Service", "AWS::ECS::Service", "Modify", "True")], "0", "1", []),  # the old service runs no task
    ([Row("Service", "AWS::ECS::Service", "Modify", "True")], "1", "0", []),  # the new one starts none
    ([Row("Service", "AWS::ECS::Service", "Modify", "False")], "1", "1", []),
    ([Row("TaskDefinition", "AWS::ECS::TaskDefinition", "Modify", "True")], "1", "1", []),
])
def test_single_writer_guard(rows, deployed, planned, expected):
    found = service_review(rows, deployed, planned).single_writer
    assert [f.why[:len(e)] for f, e in zip(found, expected, strict=False)] == expected and len(found) == len(expected)


def with_service_replacement():
    """describe_tree as AWS would answer if the templates replaced the ECS service (moto has no nested change sets)."""
    real = changeset.describe_tree

    def describe_tree(aws, arn, path=()):
        node = real(aws, arn, path)
        node.children["ServiceStack"] = Node(
            path=("ServiceStack",), arn=f"{arn}-ServiceStack", name="nested", stack_id="id",
            stack_name="wwhd-dev-ServiceStack-X", status="CREATE_COMPLETE", execution_status="AVAILABLE", reason="",
            parameters={}, include_nested=True,
            changes=[{"Action": "Modify", "LogicalResourceId": "Service", "ResourceType": "AWS::ECS::Service",
                      "Replacement": "True"}])
        return node

    return describe_tree


def stack_parameters() -> dict[str, str]:
    stack = cfn().describe_stacks(StackName="wwhd-dev")["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_replacing_a_running_service_is_refused_without_override_and_allowed_when_scaled_to_zero(deployed, cli,
                                                                                                  monkeypatch):
    push_image("wwhd-backend-dev", "v1", "v2")  # DesiredCount 1 needs the image (preflight)
    assert cli("apply", "--env", "dev", "--desired-count", "1", "--yes").code == 0
    monkeypatch.setattr(changeset, "describe_tree", with_service_replacement())

    refused = cli("apply", "--env", "dev", "--image-tag", "v2", "--yes", "--allow-data-loss")
    assert refused.code == 1
    assert "WARNING: SINGLE WRITER: ServiceStack/Service (AWS::ECS::Service): replaced" in refused.out
    assert "refusing to apply: this change set would run a second ECS service on the same EFS data" in refused.err
    assert "python generate.py apply --env dev --desired-count 0" in refused.err
    assert stack_parameters() == {"ImageTag": "v1", "DesiredCount": "1"}  # nothing was executed

    deliberate = cli("apply", "--env", "dev", "--image-tag", "v2", "--desired-count", "0", "--yes")
    assert deliberate.code == 0, deliberate.err
    assert "SINGLE WRITER" not in deliberate.out
    assert stack_parameters() == {"ImageTag": "v2", "DesiredCount": "0"}
