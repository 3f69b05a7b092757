"""Stack states through the CLI: busy stacks are refused (or waited for), failed creations must be deleted first,
failed rollbacks get their advice, and Ctrl-C stops only the watching. moto never reaches these states by itself,
so tests put the stack there with moto_compat.set_stack_status."""

from __future__ import annotations

import json

import boto3
import pytest
from moto.cloudformation import models as cfn_models

from deploy import adapters as deploy_adapters, operations
from deploy.operations import change_set_type
from deploy.stacks import StackInfo
from deploy.ui import Out, Poller
from templates.config import load_params

from . import moto_compat
from .conftest import REGION


def status_of(name: str) -> str:
    return (boto3.client("cloudformation", region_name=REGION)
            .describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


@pytest.mark.parametrize("status, expected", [
    (None, "CREATE"), ("REVIEW_IN_PROGRESS", "CREATE"), ("CREATE_COMPLETE", "UPDATE"), ("UPDATE_COMPLETE", "UPDATE"),
    ("UPDATE_ROLLBACK_COMPLETE", "UPDATE"), ("IMPORT_COMPLETE", "UPDATE"),
    ("UPDATE_IN_PROGRESS", "another operation is running"),
    ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "another operation"),
    ("ROLLBACK_IN_PROGRESS", "another operation"), ("ROLLBACK_COMPLETE", "can only be deleted"),
    ("DELETE_FAILED", "can only be deleted"), ("UPDATE_ROLLBACK_FAILED", "its rollback"),
    ("UPDATE_FAILED", "rollback disabled"),
])
def test_change_set_type_for_every_state(status, expected):
    info = StackInfo("arn", "wwhd-dev", status) if status else None
    try:
        assert change_set_type(info, load_params("dev")) == expected
    except Exception as e:  # DeployError with the reason
        assert expected in str(e), e


def test_a_busy_stack_is_refused_with_the_way_to_wait(deployed, cli):
    moto_compat.set_stack_status("wwhd-dev", "UPDATE_IN_PROGRESS", "User Initiated")
    result = cli("plan", "--env", "dev", "--image-tag", "v2")
    assert result.code == 1
    assert "wwhd-dev is UPDATE_IN_PROGRESS: another operation is running" in result.err
    assert "python generate.py status --env dev --watch, or add --wait to plan" in result.err


def test_wait_polls_until_the_running_operation_ends(deployed, cli, monkeypatch):
    moto_compat.set_stack_status("wwhd-dev", "UPDATE_IN_PROGRESS", "User Initiated")
    waits = []

    def operation_ends(self, delay):
        waits.append(delay)
        moto_compat.set_stack_status("wwhd-dev", "UPDATE_COMPLETE")

    monkeypatch.setattr(Poller, "wait", operation_ends)
    result = cli("plan", "--env", "dev", "--image-tag", "v2", "--wait")
    assert result.code == 0, result.err
    assert "waiting: wwhd-dev is UPDATE_IN_PROGRESS" in result.out and "~ ServiceStack" in result.out
    assert waits == [2.0]


def free_retained_names() -> None:
    """Free the fixed names a deleted dev stack leaves behind: the retained ECR repository (preflight blocks a new
    create on it, as CloudFormation would fail it) and the log group, which moto keeps though its DeletionPolicy is
    Delete."""
    boto3.client("ecr", region_name="us-west-2").delete_repository(repositoryName="wwhd-backend-dev", force=True)
    boto3.client("logs", region_name="us-west-2").delete_log_group(logGroupName="/ecs/wwhd-backend-dev")


def test_rollback_complete_must_be_deleted_first(deployed, cli):
    moto_compat.set_stack_status("wwhd-dev", "ROLLBACK_COMPLETE",
                                 "The following resource(s) failed to create: [StorageStack].")
    result = cli("apply", "--env", "dev", "--yes")
    assert result.code == 1
    assert "wwhd-dev is ROLLBACK_COMPLETE: its creation failed and was rolled back" in result.err
    assert "fix: python generate.py destroy --env dev, then plan again" in result.err
    assert cli("destroy", "--env", "dev", "--yes").code == 0
    free_retained_names()
    again = cli("plan", "--env", "dev")
    assert again.code == 0 and "(CREATE)" in again.out


def test_rollback_complete_is_offered_for_deletion_when_someone_can_answer(deployed, cli, monkeypatch):
    moto_compat.set_stack_status("wwhd-dev", "ROLLBACK_COMPLETE")
    delete = operations.delete_stack

    def delete_then_free(*args):  # a real rolled-back create leaves none of these names (the status is faked)
        found = delete(*args)
        free_retained_names()
        return found

    monkeypatch.setattr(operations, "delete_stack", delete_then_free)
    questions = []
    monkeypatch.setattr(deploy_adapters, "make_out",
                        lambda: Out(interactive=True, ask=lambda q: questions.append(q) or "y"))
    result = cli("plan", "--env", "dev")
    assert result.code == 0, result.err
    assert questions[0].startswith("wwhd-dev is ROLLBACK_COMPLETE") and "Delete wwhd-dev now?" in questions[0]
    assert "DELETE_COMPLETE" in result.out and "Plan for wwhd-dev (CREATE)" in result.out


def test_update_rollback_failed_gets_the_continue_update_rollback_advice(deployed, cli, project):
    assert cli("plan", "--env", "dev", "--image-tag", "v2", "--json", "p.json").code == 0  # reviewed before it broke
    moto_compat.set_stack_status("wwhd-dev", "UPDATE_ROLLBACK_FAILED")
    plan = cli("plan", "--env", "dev")
    assert plan.code == 1 and "continue-update-rollback --stack-name wwhd-dev" in plan.err
    status = cli("status", "--env", "dev")
    assert status.code == 0
    assert "  aws cloudformation continue-update-rollback --stack-name wwhd-dev" in status.out
    planned = json.loads((project / "p.json").read_text())["changeSetName"]
    apply = cli("apply", "--env", "dev", "--change-set", planned)
    assert apply.code == 1 and "is UPDATE_ROLLBACK_FAILED" in apply.err
    assert status_of("wwhd-dev") == "UPDATE_ROLLBACK_FAILED"  # nothing was executed


def test_ctrl_c_while_applying_stops_watching_not_the_deploy(deployed, cli, monkeypatch):
    def long_running(backend, change_set_name, stack_name=None):  # the operation starts and keeps going
        stack = backend.stacks[backend.describe_change_set(change_set_name).stack_id]
        stack.status = "UPDATE_IN_PROGRESS"
        stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")

    def ctrl_c(self, delay):
        raise KeyboardInterrupt

    monkeypatch.setattr(cfn_models.CloudFormationBackend, "execute_change_set", long_running)
    monkeypatch.setattr(Poller, "wait", ctrl_c)
    result = cli("apply", "--env", "dev", "--image-tag", "v2", "--yes")
    assert result.code == 130
    assert "stopped watching; the operation goes on in CloudFormation (nothing was cancelled)" in result.err
    assert "keep watching: python generate.py status --env dev --watch" in result.err
    assert status_of("wwhd-dev") == "UPDATE_IN_PROGRESS"


def test_status_watch_follows_a_running_operation_to_its_end(deployed, cli, monkeypatch):
    moto_compat.set_stack_status("wwhd-dev", "UPDATE_IN_PROGRESS", "User Initiated")
    monkeypatch.setattr(Poller, "wait", lambda self, delay: moto_compat.set_stack_status("wwhd-dev", "UPDATE_COMPLETE"))
    result = cli("status", "--env", "dev", "--watch")
    assert result.code == 0, result.err
    assert "watching wwhd-dev (UPDATE_IN_PROGRESS) until it ends" in result.out
    assert "root  (stack)  UPDATE_COMPLETE" in result.out and "wwhd-dev: UPDATE_COMPLETE (watched" in result.out


def test_a_change_set_of_another_stack_is_refused(deployed, cli):
    bootstrap_sets = (boto3.client("cloudformation", region_name=REGION)
                      .list_change_sets(StackName="wwhd-infra-bootstrap"))
    other = next(s["ChangeSetId"] for s in bootstrap_sets["Summaries"] if s["StackName"] == "wwhd-infra-bootstrap")
    result = cli("apply", "--env", "dev", "--change-set", other)
    assert result.code == 2 and "is for stack wwhd-infra-bootstrap, not wwhd-dev" in result.err


def test_an_unknown_or_executed_change_set_is_explained(deployed, cli, project):
    unknown = cli("apply", "--env", "dev", "--change-set", "wwhd-dev-nope-20250101000000")
    assert unknown.code == 2 and "no change set 'wwhd-dev-nope-20250101000000' for stack wwhd-dev" in unknown.err
    assert cli("plan", "--env", "dev", "--image-tag", "v2", "--json", "p.json").code == 0
    name = json.loads((project / "p.json").read_text())["changeSetName"]
    assert cli("apply", "--env", "dev", "--change-set", name).code == 0
    again = cli("apply", "--env", "dev", "--change-set", name)
    assert again.code == 1 and "cannot be executed: CREATE_COMPLETE, EXECUTE_COMPLETE" in again.err
