"""The identity stack on AWS (moto server): ``bootstrap`` creates it as the caller, with a review it asks about; a
second run finds nothing to do; a stack with a service role is refused; ``plan`` checks it before anything else."""

from __future__ import annotations

from pathlib import Path

import boto3

from deploy import identity
from templates.config import load_params

from .conftest import REGION


def cfn():
    return boto3.client("cloudformation", region_name=REGION)


def test_bootstrap_without_a_terminal_needs_yes_and_keeps_the_change_set(moto, project, cli):
    result = cli("bootstrap", "--env", "dev")
    assert result.code == 2
    assert "wwhd-dev-identity changes IAM roles and there is no terminal to ask" in result.err
    assert "fix: python generate.py bootstrap --env dev --yes" in result.err
    # reviewed, not executed: the roles are listed, the stack waits in REVIEW_IN_PROGRESS with its change set
    assert "+ TaskRole  AWS::IAM::Role  Add" in result.out
    assert "acts as: your own credentials (no service role)" in result.out  # never a service role (deploy/identity.py)
    stack = cfn().describe_stacks(StackName="wwhd-dev-identity")["Stacks"][0]
    assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"
    names = [c["ChangeSetName"] for c in cfn().list_change_sets(StackName="wwhd-dev-identity")["Summaries"]]
    assert len([n for n in names if n.startswith("wwhd-dev-identity-")]) == 1, names  # moto lists every stack's
    assert boto3.client("iam").list_roles(PathPrefix="/wwhd/dev/")["Roles"] == []

    again = cli("bootstrap", "--env", "dev", "--yes")
    assert again.code == 0, again.err
    assert "wwhd-dev-identity: CREATE_COMPLETE" in again.out
    assert "RoleARN" not in cfn().describe_stacks(StackName="wwhd-dev-identity")["Stacks"][0]
    quiet = cli("bootstrap", "--env", "dev")  # nothing to review: no question, no --yes needed
    assert quiet.code == 0, quiet.err
    assert "wwhd-dev-identity is up to date" in quiet.out


def test_the_uploaded_template_is_the_committed_one_under_its_own_prefix(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    want = identity.built(load_params("dev", project / "params"))
    assert want.body == (Path(__file__).resolve().parents[2] / "output/dev/identity.yaml").read_text()
    s3 = boto3.client("s3", region_name=REGION)
    bucket = s3.list_buckets()["Buckets"][0]["Name"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="wwhd-dev-identity/")["Contents"]]
    assert len(keys) == 1
    assert s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read().decode() == want.body


def test_an_identity_stack_with_a_service_role_is_refused(moto, project, cli):
    """A stack keeps the service role it was given (CreateChangeSet RoleARN): bootstrap would run as that role."""
    role = boto3.client("iam").create_role(RoleName="someone-elses", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    cfn().create_stack(StackName="wwhd-dev-identity", RoleARN=role,
                       TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}')
    result = cli("bootstrap", "--env", "dev", "--yes")
    assert result.code == 1
    assert f"wwhd-dev-identity has the service role {role}" in result.err
    assert "aws cloudformation delete-stack --stack-name wwhd-dev-identity --region us-west-2" in result.err
    assert boto3.client("iam").list_roles(PathPrefix="/wwhd/dev/")["Roles"] == []


def test_plan_passes_the_identity_stack_only_as_built(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    plan = cli("plan", "--env", "dev")
    assert plan.code == 0, plan.err
    assert "PASS  identity stack wwhd-dev-identity: CREATE_COMPLETE, as the templates build it" in plan.out


def test_a_ci_plan_against_a_changed_identity_stack_blocks(moto, project, cli, monkeypatch):
    """With --role-arn (CI) as without: the execution role could not deploy roles the app stacks now need. (moto has
    no SimulatePrincipalPolicy: the simulation answers "allowed"; test_simulate.py tests its requests.)"""
    from deploy import simulate

    from .test_plan_diff import edit_params

    monkeypatch.setattr(simulate, "simulate", lambda iam, role, asked: [
        simulate.Finding(a, r, "allowed") for x in asked for a in x.actions for r in x.resources])
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    edit_params(project, service={"debug_shell": True})  # the task role gains the ECS Exec channels
    result = cli("plan", "--env", "dev", "--role-arn",
                 "arn:aws:iam::123456789012:role/wwhd-dev-cloudformation-execution")
    assert result.code == 1
    assert "BLOCK identity stack wwhd-dev-identity: differs from the templates" in result.out
    assert "TaskRole" in result.out and "python generate.py bootstrap --env dev" in result.out
    # stopped before anything was uploaded or created for the app
    assert "wwhd-dev" not in [x["StackName"] for x in cfn().list_stacks()["StackSummaries"]]


def test_same_and_differences_compare_templates_not_text():
    want = identity.built(load_params("dev"))
    assert identity.same(identity.parse(want.body), want)
    changed = identity.parse(want.body)
    changed["Resources"]["TaskRole"]["Properties"]["Description"] = "edited by hand"
    del changed["Outputs"]["BackupRoleArn"]
    assert not identity.same(changed, want)
    assert identity.differences(changed, want) == ["TaskRole", "Outputs"]
    assert not identity.same(None, want) and identity.differences(None, want) == []


def test_destroy_keeps_the_identity_stack_unless_asked_and_its_hint_runs(deployed, cli):
    kept = cli("destroy", "--env", "dev", "--yes")
    assert kept.code == 0, kept.err
    hint = "python generate.py destroy --env dev --identity"
    assert f"kept wwhd-dev-identity (the IAM roles; no data, no cost): {hint}" in kept.out
    assert cfn().describe_stacks(StackName="wwhd-dev-identity")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    from .test_state import free_retained_names

    free_retained_names()  # what destroy keeps by design (secrets, log group) would block a new create's names
    assert cli("plan", "--env", "dev").code == 0  # no bootstrap needed to start again
    gone = cli(*hint.split()[2:], "--yes")  # the printed command, as printed (plus --yes: no terminal here)
    assert gone.code == 0, gone.err
    assert "wwhd-dev-identity deleted in" in gone.out
    assert "wwhd-dev-identity" not in [x["StackName"] for x in cfn().list_stacks()["StackSummaries"]
                                       if x["StackStatus"] != "DELETE_COMPLETE"]


def test_a_rolled_back_first_create_is_replaced_and_a_failed_delete_names_the_way_out(moto, project, cli):
    from . import moto_compat

    # a first create that rolled back holds none of its roles (never retained): modelled by a stack without them
    cfn().create_stack(StackName="wwhd-dev-identity",
                       TemplateBody='{"Resources": {"Leftover": {"Type": "AWS::SNS::Topic"}}}')
    moto_compat.set_stack_status("wwhd-dev-identity", "ROLLBACK_COMPLETE", "The following resource(s) failed to create")
    retried = cli("bootstrap", "--env", "dev", "--yes")  # no delete by hand
    assert retried.code == 0, retried.err
    assert "wwhd-dev-identity: CREATE_COMPLETE" in retried.out
    moto_compat.set_stack_status("wwhd-dev-identity", "DELETE_FAILED", "role in use")
    failed = cli("bootstrap", "--env", "dev", "--yes")
    assert failed.code == 1
    assert "wwhd-dev-identity is DELETE_FAILED" in failed.err
    assert ("fix: aws cloudformation delete-stack --stack-name wwhd-dev-identity --region us-west-2, then "
            "python generate.py bootstrap --env dev") in failed.err
