"""Taking over the seed (issue 7): discover and preflight over the seed's hand-made state, recreated in moto by the
same module an operator runs in a scratch account (scripts/recreate_seed.py)."""

from __future__ import annotations

import json

import boto3
import pytest
import yaml

from scripts.recreate_seed import recreate

from .conftest import REGION

MOTO_ACCOUNT = "123456789012"
ZONE = "wwhd-takeover.net"  # not a reserved example domain
# moto's hosted zone ids do not have AWS's form (Z...), which params require: the zone is checked with Stubber below.
ZONE_ID = "Z0TAKEOVER0ZONE"


@pytest.fixture
def seed(moto, project, monkeypatch):
    """The seed's resources in moto (AWS managed policies loaded: the seed attaches two of them)."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    return recreate(boto3.Session(), REGION)


def write_prod(project, seed, **changes) -> dict:
    """params/prod.yaml in the scratch project, pointed at the recreated seed: its account, VPC and subnets,
    confirmed values; ``changes`` (dotted keys) on top."""
    path = project / "params" / "prod.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(account_id=MOTO_ACCOUNT)
    data["network"].update(vpc_id=seed.vpc_id, subnet_ids=seed.subnet_ids)
    data["domain"] = {"name": f"api.{ZONE}", "hosted_zone_id": ZONE_ID}
    data["monitoring"]["alarm_email"] = f"ops@{ZONE}"
    data["ci"]["github_repository"] = "wwhd/wwhd-backend"
    for var, arn in seed.secret_arns.items():
        data["secrets"][var]["arn"] = arn
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(yaml.safe_dump(data))
    return data


# --- discover --------------------------------------------------------------------------------------------------------


def test_discover_finds_the_seed_and_prints_the_secret_arns_to_set(seed, project, cli):
    # prod.yaml still holds UNCONFIRMED secret ARNs: discover is how they get confirmed, so it runs anyway
    write_prod(project, seed, **{"secrets.JWT_SECRET.arn": "UNCONFIRMED", "secrets.OPENAI_API_KEY.arn": "UNCONFIRMED"})
    result = cli("discover", "--env", "prod", "--json", str(project / "found.json"))
    assert result.code == 0, result.out + result.err
    found = json.loads((project / "found.json").read_text())
    by_kind = {}
    for f in found["found"]:
        by_kind.setdefault(f["kind"], []).append(f)
    # the real ARNs, with the random suffix Secrets Manager added
    assert found["params"] == {f"secrets.{var}.arn": arn for var, arn in seed.secret_arns.items()}
    for var, arn in seed.secret_arns.items():
        assert f"  secrets.{var}.arn: {arn}" in result.out
    assert [(f["name"], f["action"]) for f in by_kind["ECS cluster"]] == [("wwhd-cluster", "adopt")]
    assert [(f["name"], f["action"]) for f in by_kind["log group"]] == [("/ecs/wwhd-backend", "adopt")]
    fs = by_kind["EFS file system"][0]
    assert fs["name"] == seed.file_system_id and fs["details"]["encrypted"] is False
    assert fs["details"]["numberOfMountTargets"] == 3 and "not importable" in fs["why"]
    assert fs["action"] == "leave to the operator" and "nothing to copy" in fs["why"]  # moto meters 0 bytes
    assert [f["name"] for f in by_kind["EFS access point"]] == [seed.access_point_id]
    assert len(by_kind["EFS mount target"]) == 3
    assert sorted(f["name"] for f in by_kind["IAM role"]) == ["wwhd-dev-ecs-execution-role", "wwhd-dev-ecs-task-role"]
    assert sorted(f["arn"] for f in by_kind["security group"]) == sorted([seed.ecs_security_group,
                                                                          seed.efs_security_group])
    td = by_kind["task definition"][0]
    assert td["name"] == "wwhd-backend:1" and td["details"]["secrets"] == seed.secret_arns
    assert found["running"] == [] and found["missing"] == []
    assert "running: nothing (no service, no RUNNING task)" in result.out
    assert "next: adopt wwhd-cluster, /ecs/wwhd-backend: python generate.py plan --env prod --adopt" in result.out


def test_discover_reports_what_runs_and_what_is_missing(seed, project, cli):
    write_prod(project, seed)
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_service(cluster="wwhd-cluster", serviceName="wwhd-backend", taskDefinition="wwhd-backend:1",
                       desiredCount=0, launchType="FARGATE")
    boto3.client("logs", region_name=REGION).delete_log_group(logGroupName="/ecs/wwhd-backend")
    result = cli("discover", "--env", "prod")
    assert result.code == 0, result.err
    assert "running: service arn:aws:ecs:us-west-2:123456789012:service/wwhd-cluster/wwhd-backend" in result.out
    assert "not found: log group /ecs/wwhd-backend" in result.out
    assert "next: something of the seed runs (listed above): stop it before migrating data" in result.out


# --- placeholders ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "apply", "package", "bootstrap", "status"])
def test_every_aws_command_refuses_the_committed_prod_placeholders_before_any_call(moto, project, cli, command):
    result = cli(command, "--env", "prod")
    assert result.code == 2, result.out + result.err
    for key in ("domain.name", "domain.hosted_zone_id", "monitoring.alarm_email", "ci.github_repository",
                "secrets.JWT_SECRET.arn", "secrets.OPENAI_API_KEY.arn"):
        assert f"\n  {key}: " in result.err, key
    assert "no AWS call was made" in result.err and "Traceback" not in result.err
    assert ("secrets.JWT_SECRET.arn: still UNCONFIRMED; set the confirmed value of secrets.JWT_SECRET.arn in "
            "params/prod.yaml (python generate.py discover --env prod prints the seed's ARNs)") in result.err
    # the account check would have said "these credentials are for account 123456789012": it never ran
    assert "credentials" not in result.err
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []


def test_offline_generation_still_builds_prod_with_its_placeholders(project, cli):
    result = cli("--env", "prod", "--no-lint")
    assert result.code == 0, result.err
    assert "UNCONFIRMED/JWT_SECRET" in (project / "output" / "prod" / "service.yaml").read_text()


@pytest.mark.parametrize("host, expected", [
    ("api.wwhd.example.com", True), ("example.org", True), ("wwhd.test", True), ("x.invalid", True),
    ("localhost", True), ("a.localhost", True), ("wwhd.example", True),
    ("myexample.com", False), ("api.wwhd.io", False), ("example.com.au", False),
])
def test_reserved_example_domains_per_rfc_2606_and_6761(host, expected):
    from deploy.preflight import reserved

    assert reserved(host) is expected


# --- preflight collisions and references -----------------------------------------------------------------------------


def _checks(result_out: str) -> list[str]:
    """The preflight lines (status or fix), whitespace collapsed."""
    return [" ".join(line.split()) for line in result_out.splitlines() if line.startswith("  ") and line.split()[0] in
            {"PASS", "WARN", "BLOCK", "fix:"}]


def test_plan_blocks_the_seeds_names_before_any_change_set(seed, project, cli):
    write_prod(project, seed)
    result = cli("plan", "--env", "prod", "--json", str(project / "plan.json"), "--markdown", str(project / "plan.md"))
    assert result.code == 1, result.out + result.err
    lines = _checks(result.out)
    assert ("BLOCK identity stack wwhd-prod-identity: does not exist: the app's roles (and CI's) are "
            "created there first" in lines)
    assert "BLOCK ECS cluster wwhd-cluster: exists outside this stack (made by hand): the create would fail" in lines
    assert "BLOCK log group /ecs/wwhd-backend: exists outside this stack (made by hand): the create would fail" in lines
    assert ("fix: adopt it: python generate.py plan --env prod --adopt; or free the name: aws logs delete-log-group "
            "--log-group-name /ecs/wwhd-backend --region us-west-2 (deletes its log events)") in lines
    assert "PASS ECS service wwhd-backend in wwhd-cluster: name is free" in lines
    assert f"PASS VPC {seed.vpc_id}: exists (172.31.0.0/16)" in lines
    assert any(line.startswith(f"PASS subnets {', '.join(seed.subnet_ids)}: in {seed.vpc_id}, one per "
                               "Availability Zone")
               for line in lines)
    for var, arn in sorted(seed.secret_arns.items()):
        assert f"PASS secret {arn} ({var}): exists (full ARN)" in lines
    assert f"BLOCK hosted zone {ZONE_ID}: does not exist in this account" in lines
    # the seed's repository as the CLI makes it: mutable, no scan; and the default tag was never pushed
    assert "WARN ECR repository wwhd-dev-backend: tags are mutable: a pushed tag can be moved to another image" in lines
    assert "WARN ECR repository wwhd-dev-backend: no scan on push" in lines
    assert "BLOCK image wwhd-dev-backend:2025-11-07: no such tag in the repository, and DesiredCount is 1" in lines
    assert ("PASS IAM OIDC provider token.actions.githubusercontent.com: none in this account: the identity "
            "stack creates it" in lines)
    assert "error: preflight: 5 blocking problem(s) above; nothing was uploaded and no change set created" in result.err
    # nothing exists afterwards: no stack, no change set
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks()["Stacks"] == []
    assert cfn.list_change_sets(StackName="wwhd-prod")["Summaries"] == []  # moto lists every stack's here
    review = json.loads((project / "plan.json").read_text())
    assert review["blocked"] is True and review["changeSetArn"] is None
    assert {(c["status"], c["subject"]) for c in review["preflight"]} >= {("BLOCK", "ECS cluster wwhd-cluster"),
                                                                           ("BLOCK", "log group /ecs/wwhd-backend")}
    md = (project / "plan.md").read_text()
    assert "**Blocked by preflight**" in md and "| BLOCK | log group /ecs/wwhd-backend |" in md


def test_subnets_sharing_an_availability_zone_block(seed, project, cli):
    ec2 = boto3.client("ec2", region_name=REGION)
    zone = ec2.describe_subnets(SubnetIds=[seed.subnet_ids[0]])["Subnets"][0]["AvailabilityZone"]
    extra = ec2.create_subnet(VpcId=seed.vpc_id, CidrBlock="172.31.64.0/20",
                              AvailabilityZone=zone)["Subnet"]["SubnetId"]
    write_prod(project, seed, **{"network.subnet_ids": [seed.subnet_ids[0], extra]})
    result = cli("plan", "--env", "prod")
    assert result.code == 1
    assert any(line.startswith(f"BLOCK subnets {seed.subnet_ids[0]}, {extra}: two subnets in {zone}") for line in
               _checks(result.out))


def test_a_dev_secret_name_still_held_by_a_deleted_secret_blocks_the_retry(moto, project, cli):
    """A rolled-back first create leaves a deleted secret's name taken for its recovery window."""
    sm = boto3.client("secretsmanager", region_name=REGION)
    arn = sm.create_secret(Name="wwhd-dev/dev/jwt-secret", SecretString="x")["ARN"]
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    result = cli("plan", "--env", "dev")
    assert result.code == 1, result.out + result.err
    lines = _checks(result.out)
    assert any(line.startswith("BLOCK secret wwhd-dev/dev/jwt-secret (JWT_SECRET, generated): scheduled for deletion")
               for line in lines)
    assert (f"fix: free it now: aws secretsmanager delete-secret --secret-id {arn} --force-delete-without-recovery "
            f"--region us-west-2;") in " ".join(lines)
    assert "PASS secret wwhd-dev/dev/openai-api-key (OPENAI_API_KEY, generated): name is free" in lines


def test_names_the_stack_owns_pass_on_the_next_plan(deployed, cli, project):
    result = cli("plan", "--env", "dev", "--image-tag", "v2", "--json", str(project / "plan.json"),
                 "--markdown", str(project / "plan.md"))
    assert result.code == 0, result.out + result.err
    lines = _checks(result.out)
    assert "PASS log group /ecs/wwhd-backend-dev: exists and belongs to wwhd-dev" in lines
    assert "PASS ECR repository wwhd-backend-dev: exists and belongs to wwhd-dev" in lines
    assert "PASS image wwhd-backend-dev:v2: not needed yet: DesiredCount 0" in lines
    assert not [line for line in lines if line.startswith("BLOCK")]
    review = json.loads((project / "plan.json").read_text())
    # SKIP: no --role-arn
    assert review["changeSetArn"] and {c["status"] for c in review["preflight"]} <= {"PASS", "WARN", "SKIP"}
    assert {"status": "PASS", "subject": "log group /ecs/wwhd-backend-dev",
            "evidence": "exists and belongs to wwhd-dev",
            "fix": None} in review["preflight"]
    md = (project / "plan.md").read_text()
    assert ("#### Preflight" in md
            and "| PASS | log group /ecs/wwhd-backend-dev | exists and belongs to wwhd-dev |" in md)


def test_preflight_in_a_terminal_keeps_brackets_and_every_column():
    import io

    from rich.console import Console

    from deploy.preflight import Check, show
    from deploy.ui import Rich

    buf = io.StringIO()
    show([Check("BLOCK", "log group [x]", "exists outside this stack", "aws logs delete-log-group")],
         Rich(console=Console(file=buf, width=200, highlight=False)))
    text = buf.getvalue()
    assert "Preflight: 0 pass, 0 warn, 1 block" in text
    assert "log group [x]" in text and "aws logs delete-log-group" in text
