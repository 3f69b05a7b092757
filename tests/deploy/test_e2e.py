"""End to end through the CLI against moto: bootstrap, plan (create), apply, outputs, no-change plan, image-tag
change, apply, status, destroy. Every step runs ``generate.py`` as a user would and checks the exit code, what is
printed, and what exists in the (emulated) account afterwards."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import boto3
from moto.cloudformation import models as cfn_models

from . import moto_compat
from .conftest import REGION

BUCKET = "wwhd-infra-123456789012-us-west-2"


def cfn():
    return boto3.client("cloudformation", region_name=REGION)


def pending(stack: str) -> list[str]:
    """Change sets of a stack that were not executed."""
    return [s["ChangeSetName"] for s in cfn().list_change_sets(StackName=stack)["Summaries"]
            if s["StackName"] == stack and s["ExecutionStatus"] != "EXECUTE_COMPLETE"]


def stack_parameters(name: str) -> dict[str, str]:
    stack = cfn().describe_stacks(StackName=name)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_bootstrap_creates_the_bucket_once_and_is_idempotent(moto, project, cli):
    first = cli("bootstrap", "--env", "dev", "--yes")
    assert first.code == 0, first.err
    assert f"template bucket ready: s3://{BUCKET}" in first.out
    s3 = boto3.client("s3", region_name=REGION)
    encryption = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    again = cli("bootstrap", "--env", "dev", "--yes")
    assert again.code == 0, again.err
    assert "wwhd-infra-bootstrap is up to date" in again.out
    assert pending("wwhd-infra-bootstrap") == []  # the no-change set is gone
    # the permissions boundary of CI-created roles, in its own stack (templates/bootstrap.py)
    assert "permissions boundary ready" in first.out and "wwhd-infra-bootstrap-boundary is up to date" in again.out
    policies = boto3.client("iam").list_policies(Scope="Local")["Policies"]
    assert f"{BUCKET}-boundary" in {p["PolicyName"] for p in policies}
    assert pending("wwhd-infra-bootstrap-boundary") == []


def test_full_lifecycle(moto, project, cli):
    boot = cli("bootstrap", "--env", "dev", "--yes")
    assert boot.code == 0, boot.err
    # the identity stack first: the app's roles, by their fixed names, created as the caller (no service role)
    assert "wwhd-dev-identity: CREATE_COMPLETE" in boot.out
    identity = cfn().describe_stacks(StackName="wwhd-dev-identity")["Stacks"][0]
    assert "RoleARN" not in identity
    roles = {r["RoleName"]: r["Path"] for r in boto3.client("iam").list_roles(PathPrefix="/wwhd/dev/")["Roles"]}
    assert roles == {"wwhd-dev-task": "/wwhd/dev/", "wwhd-dev-task-execution": "/wwhd/dev/",
                     "wwhd-dev-backup": "/wwhd/dev/"}

    # plan (create): a CREATE change set, reviewed, written as JSON and Markdown
    plan = cli("plan", "--env", "dev", "--image-tag", "v1", "--json", "plan.json", "--markdown", "plan.md")
    assert plan.code == 0, plan.err
    assert "Plan for wwhd-dev (CREATE)" in plan.out
    assert "+ StorageStack  AWS::CloudFormation::Stack  Add" in plan.out
    review = json.loads((project / "plan.json").read_text())
    assert review["changeSetType"] == "CREATE" and review["changeSetArn"].startswith("arn:aws:cloudformation:")
    assert review["summary"]["add"] == 8 and not review["noChanges"]  # 8 nested stacks; no IAM among them
    assert (project / "plan.md").read_text().startswith("### Plan for <code>wwhd-dev</code>")

    # apply the reviewed change set by name
    apply = cli("apply", "--env", "dev", "--change-set", review["changeSetName"])
    assert apply.code == 0, apply.err
    assert "wwhd-dev: CREATE_COMPLETE in" in apply.out
    assert "StorageStack  (stack)  CREATE_COMPLETE" in apply.out  # nested stacks' events are shown too
    assert "FileSystemId = fs-" in apply.out  # outputs at the end
    tags = {t["Key"]: t["Value"] for t in cfn().describe_stacks(StackName="wwhd-dev")["Stacks"][0]["Tags"]}
    assert tags == {"app": "wwhd", "env": "dev", "managed-by": "wwhd-infra"}

    # status: state, outputs, every nested stack
    status = cli("status", "--env", "dev")
    assert status.code == 0
    assert "wwhd-dev: CREATE_COMPLETE" in status.out and "ServiceUrl" in status.out
    assert status.out.count("CREATE_COMPLETE") >= 10

    # nothing changed: "No changes", exit 0, no change set left behind
    same = cli("plan", "--env", "dev", "--json", "same.json")
    assert same.code == 0, same.err
    assert "No changes" in same.out and "0 uploaded, 9 unchanged" in same.out
    assert json.loads((project / "same.json").read_text())["noChanges"] is True
    assert pending("wwhd-dev") == []

    # an image-tag change: only the service stack changes, the previous DesiredCount is kept
    update = cli("plan", "--env", "dev", "--image-tag", "v2", "--json", "update.json")
    assert update.code == 0, update.err
    assert "~ ServiceStack  AWS::CloudFormation::Stack  Modify" in update.out
    assert "parameters (deployed -> planned): DesiredCount=0, ImageTag=v1 -> v2" in update.out
    planned = json.loads((project / "update.json").read_text())
    assert re.fullmatch(r"wwhd-dev-\d{14}-v2", planned["changeSetName"]) and planned["summary"]["modify"] == 1
    assert cli("apply", "--env", "dev", "--change-set", planned["changeSetArn"]).code == 0
    assert stack_parameters("wwhd-dev") == {"ImageTag": "v2", "DesiredCount": "0"}

    # destroy: retained data is listed with how to remove it, the file system survives
    destroy = cli("destroy", "--env", "dev", "--yes", "--identity")
    assert destroy.code == 0, destroy.err
    assert "StorageStack/FileSystem  AWS::EFS::FileSystem  fs-" in destroy.out
    assert "aws efs delete-file-system --file-system-id fs-" in destroy.out
    assert "aws secretsmanager delete-secret" in destroy.out
    assert [s["StackName"] for s in cfn().list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])[
        "StackSummaries"] if s["StackName"].startswith("wwhd-dev")] == []
    assert "wwhd-dev-identity deleted in" in destroy.out  # after the app stacks that used its roles
    assert len(boto3.client("efs", region_name=REGION).describe_file_systems()["FileSystems"]) == 1
    again = cli("destroy", "--env", "dev", "--yes")  # README: 1, no stack (a wrong --env or --region must not pass)
    assert again.code == 1 and again.err.startswith("error: nothing to destroy: there is no stack wwhd-dev")
    assert "fix: check the environment and region: python generate.py status --env dev" in again.err


def test_apply_plans_and_confirms_with_yes(deployed):
    assert "Plan for wwhd-dev (CREATE)" in deployed.out
    assert "wwhd-dev: CREATE_COMPLETE" in deployed.out
    assert stack_parameters("wwhd-dev")["ImageTag"] == "v1"


def test_apply_without_a_terminal_needs_yes_and_keeps_the_change_set(deployed, cli):
    result = cli("apply", "--env", "dev", "--image-tag", "v3")
    assert result.code == 2
    assert "--yes" in result.err and re.search(r"--change-set wwhd-dev-\d{14}-v3\b", result.err)
    assert [bool(re.fullmatch(r"wwhd-dev-\d{14}-v3", n)) for n in pending("wwhd-dev")] == [True]
    assert stack_parameters("wwhd-dev")["ImageTag"] == "v1"


def test_apply_of_an_unchanged_environment_exits_0(deployed, cli):
    result = cli("apply", "--env", "dev", "--yes")
    assert result.code == 0 and "No changes" in result.out
    assert "ExecuteChangeSet" not in result.out


def test_package_prints_the_quick_create_link(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    result = cli("package", "--env", "dev", "--image-tag", "abc123")
    assert result.code == 0, result.err
    root_url = next(line.split(": ", 1)[1] for line in result.out.splitlines() if line.startswith("root template: "))
    link = next(line.split(": ", 1)[1] for line in result.out.splitlines() if line.startswith("quick-create: "))
    parts = urlsplit(link)
    assert parts.netloc == f"{REGION}.console.aws.amazon.com" and parts.query == f"region={REGION}"
    route, query = parts.fragment.split("?", 1)
    assert route == "/stacks/quickcreate"
    assert parse_qs(query) == {"templateURL": [root_url], "stackName": ["wwhd-dev"], "param_ImageTag": ["abc123"],
                               "param_DesiredCount": ["0"]}
    assert root_url.startswith(f"https://{BUCKET}.s3.{REGION}.amazonaws.com/wwhd-dev/")
    assert ((project / "output/dev/packaged/root.yaml").read_text()
            .count(f"https://{BUCKET}.s3.{REGION}.amazonaws.com/") == 8)


def test_a_failed_update_shows_the_nested_reason_the_final_state_and_the_way_on(deployed, cli, monkeypatch):
    reason = "Resource handler returned message: \"ECS Deployment Circuit Breaker was triggered\""
    monkeypatch.setattr(cfn_models.CloudFormationBackend, "execute_change_set",
                        moto_compat.failing_update("ServiceStack", "Service", "AWS::ECS::Service", reason))
    result = cli("apply", "--env", "dev", "--image-tag", "broken", "--yes")
    assert result.code == 1
    lines = result.out.splitlines()
    failures = lines[lines.index("first failures:") + 1:]
    assert failures[0] == f"  ServiceStack/Service (AWS::ECS::Service) UPDATE_FAILED: {reason}"
    assert not failures[1].startswith("  ")  # the parent's "Embedded stack" echo is not a cause
    assert "final state: UPDATE_ROLLBACK_COMPLETE" in result.out
    assert "  python generate.py plan --env dev" in result.out
    assert "ServiceStack  Service  AWS::ECS::Service  UPDATE_FAILED" in result.out  # seen live, inside the nested stack


def test_a_pull_request_plan_packages_under_its_own_prefix_and_offers_no_apply(moto, project, cli):
    """The pull-request role may write only ``pr/<root>/`` keys (templates/ci.py): ``plan --pull-request`` puts every
    template there and never suggests applying its change set."""
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    r = cli("plan", "--env", "dev", "--pull-request")
    assert r.code == 0, r.err
    keys = [o["Key"] for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)["Contents"]]
    identity = [k for k in keys if k.startswith("wwhd-dev-identity/")]  # bootstrap's, under its own stack's prefix
    assert len(identity) == 1 and keys != identity
    assert all(k.startswith("pr/wwhd-dev/") for k in keys if k not in identity), keys
    assert "apply it:" not in r.out
    # named so the pull-request role may create and delete it (cloudformation:ChangeSetName "wwhd-dev-pr-*")
    names = [c["ChangeSetName"] for c in boto3.client("cloudformation", region_name=REGION).list_change_sets(
        StackName="wwhd-dev")["Summaries"]]
    # moto lists every stack's change sets here (bootstrap's identity stack's among them)
    ours = [n for n in names if n.startswith("wwhd-dev-") and not n.startswith("wwhd-dev-identity-")]
    assert ours and all(n.startswith("wwhd-dev-pr-") for n in ours), names
    # a pull request's plan says it is for review only, in its JSON and its Markdown
    assert cli("plan", "--env", "dev", "--pull-request", "--json", str(project / "pr.json"), "--markdown",
               str(project / "pr.md")).code == 0
    pr = json.loads((project / "pr.json").read_text())
    assert pr["reviewOnly"] is True and pr["changeSetName"].startswith("wwhd-dev-pr-")
    assert "Review only" in (project / "pr.md").read_text()
    # ... and apply refuses it, by name and by ARN, and nothing runs
    for given in (pr["changeSetName"], pr["changeSetArn"]):
        refused = cli("apply", "--env", "dev", "--change-set", given, "--yes")
        assert refused.code == 2, refused.out + refused.err
        assert "is a pull request's (wwhd-dev-pr-*): it is for review only" in refused.err
        assert refused.err.rstrip().splitlines()[-1].startswith("fix: merge the pull request")
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName="wwhd-dev")["Stacks"][0]
    assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"  # never executed


def test_apply_refuses_a_pull_request_s_change_set_before_any_call(project, cli, monkeypatch):
    """No AWS endpoint answers here (a closed port): a call would fail with exit 3, the refusal is exit 2."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    arn = "arn:aws:cloudformation:us-west-2:123456789012:changeSet/wwhd-dev-pr-20261206120000/0f1e2d3c"
    for given in ("wwhd-dev-pr-20261206120000", arn, "WWHD-DEV-PR-x"):
        r = cli("apply", "--env", "dev", "--change-set", given, "--yes")
        assert r.code == 2 and "for review only" in r.err, r.err


def test_a_tag_that_begins_with_pr_still_plans_from_main(moto, project, cli):
    """main's change sets begin with the time, so an image tag "pr-7" stays out of the pull request's names."""
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    r = cli("plan", "--env", "dev", "--image-tag", "pr-7", "--json", str(project / "plan.json"))
    assert r.code == 0, r.err
    planned = json.loads((project / "plan.json").read_text())
    assert re.fullmatch(r"wwhd-dev-\d{14}-pr-7", planned["changeSetName"]) and planned["reviewOnly"] is False
    assert "apply it:" in r.out
    applied = cli("apply", "--env", "dev", "--change-set", planned["changeSetName"], "--yes")
    assert applied.code == 0, applied.err
    assert "wwhd-dev: CREATE_COMPLETE" in applied.out
