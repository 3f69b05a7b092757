"""The IAM contract of the GitHub roles (issue 14, point 1): every AWS call each CI job makes, recorded against the
local moto server the way the workflows run the CLI, mapped to IAM actions, resources and condition keys
(tests/contract/actions.py), and judged by an IAM policy engine (tests/contract/iam_engine.py) against the policies
the identity template renders for the role that runs the job.
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import moto.settings
import pytest
from botocore.stub import Stubber
from moto.route53.models import HostedZoneIdentifier
from moto.utilities.id_generator import moto_id_manager

from deploy import adapters
from templates.config import load_params
from tests.contract import actions, contract
from tests.contract.record import Call, recording

from . import recorded
from .conftest import REGION, REPO, confirm_prod, push_image
from .recorded_drift import World, routed

ACCOUNT = "123456789012"  # moto's account
ZONE = "wwhd-contract.net"
ZONE_ID = "Z0CONTRACT0ZONE"  # params require Route 53's form (Z...): moto's zone gets this id (moto_id_manager)
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/wwhd-prod-cloudformation-execution"
FIRST, SHA = "a" * 40, "b" * 40  # image tags: commit SHAs, as the push job tags them

WORKFLOW = REPO / ".github" / "workflows" / "deploy-backend.yml"
_CACHE: dict = {}  # one recorded run per job, shared by every test of this module


def _prod_as_ci_meets_it(project, monkeypatch) -> None:
    """The account as an operator leaves it before CI's first run: the network, the seed's repository and secrets,
    a public hosted zone and an issued certificate, params/prod.yaml confirmed; ``bootstrap`` done (template bucket,
    boundary, identity stack)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    by_zone = {}
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        by_zone.setdefault(s["AvailabilityZone"], s["SubnetId"])
    subnets = [by_zone[z] for z in sorted(by_zone)][:3]
    sm = boto3.client("secretsmanager", region_name=REGION)
    secrets = {v: {"arn": sm.create_secret(Name=f"wwhd-dev/{v}", SecretString="rehearsal")["ARN"], "description": v}
               for v in ("OPENAI_API_KEY", "JWT_SECRET")}
    zone = HostedZoneIdentifier(ACCOUNT, f"{ZONE}.", None)
    moto_id_manager.set_custom_id(zone, ZONE_ID)
    try:
        boto3.client("route53").create_hosted_zone(Name=ZONE, CallerReference="contract")
    finally:
        moto_id_manager.unset_custom_id(zone)
    # An issued certificate (moto issues a requested one after ACM_VALIDATION_WAIT seconds): with the certificate
    # stack's own, moto's load balancer refuses the listener (its placeholder certificate is not in ACM).
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", -1)
    certificate = boto3.client("acm", region_name=REGION).request_certificate(DomainName=f"api.{ZONE}")
    boto3.client("ecr", region_name=REGION).create_repository(repositoryName="wwhd-dev-backend")
    push_image("wwhd-dev-backend", "2025-11-07", FIRST, SHA)
    confirm_prod(project, account_id=ACCOUNT,
                 network={"vpc_id": vpc, "subnet_ids": subnets, "assign_public_ip": True},
                 domain={"name": f"api.{ZONE}", "hosted_zone_id": ZONE_ID,
                         "certificate_arn": certificate["CertificateArn"]},
                 secrets=secrets)


def _run(cli, *argv: str) -> None:
    result = cli(*argv)
    assert result.code == 0, f"{' '.join(argv)}: {result.out[-3000:]}{result.err}"


def record_ci(project, cli, monkeypatch, env: str = "prod") -> dict[str, list[Call]]:
    """deploy-backend.yml's AWS jobs for ``env``, recorded after an operator's bootstrap and first create."""
    execution_role = EXECUTION_ROLE.replace("wwhd-prod-", f"wwhd-{env}-")
    if env == "prod":
        _prod_as_ci_meets_it(project, monkeypatch)
    # Everything below records; iam:SimulatePrincipalPolicy (plan --role-arn) is answered "allowed" by the recorder
    # (the local server lacks it): its decision is not under test, the plan role's permission to call it is. Drift
    # detection (plan and apply on production) is answered as a finished, in-sync detection for the same reason.
    with recording(monkeypatch, answer_drift=True) as rec:
        _run(cli, "bootstrap", "--env", env, "--yes")
        # The root's first create, as an operator (not recorded)
        _run(cli, "apply", "--env", env, "--role-arn", execution_role, "--image-tag", FIRST, "--yes")
        rec.take()
        jobs = {}
        # .github/workflows/deploy-backend.yml, job "plan" on a pull request (pull-request role)
        _run(cli, "plan", "--env", env, "--role-arn", execution_role, "--pull-request", "--no-drift", "--json",
             "pr.json", "--markdown", "pr.md")
        jobs["pull-request plan"] = rec.take()
        # job "plan" on main, after the push job pushed the image tagged with the commit SHA (plan role)
        _run(cli, "plan", "--env", env, "--role-arn", execution_role, "--image-tag", SHA, "--no-drift", "--json",
             "plan.json", "--markdown", "plan.md")
        jobs["main plan"] = rec.take()
        planned = json.loads((project / "plan.json").read_text())
        assert planned["changeSetType"] == "UPDATE" and not planned["noChanges"]
        # job "apply" (deploy role): the planned change set by ARN, with the review file; then its status step
        _run(cli, "apply", "--env", env, "--change-set", planned["changeSetArn"], "--review", "plan.json",
             "--no-drift")
        jobs["apply"] = rec.take()
        _run(cli, "status", "--env", env)
        jobs["status"] = rec.take()
    return jobs


# --- the recorded jobs, once per session -------------------------------------------------------------------------


@pytest.fixture
def ci(moto, project, cli, monkeypatch) -> dict:
    """deploy-backend.yml's jobs against the local server (recorded once), and its push job from the YAML."""
    if "jobs" not in _CACHE:
        jobs = record_ci(project, cli, monkeypatch)
        p = load_params("prod", project / "params")
        jobs["push"] = contract.shell_calls(WORKFLOW, "push", p.image.repository)
        _CACHE.update(jobs=jobs, p=p)
    return _CACHE


@pytest.fixture
def nightly(project, cli, monkeypatch) -> dict:
    """drift.yml's job: the local server has no drift detection, so the CLI answers from the Stubber recordings of
    the drift tests (tests/deploy/recorded_drift.py), recorded once; that recording's account is prod's."""
    if "drift" not in _CACHE:
        confirm_prod(project, account_id=recorded.ACCOUNT)  # the placeholders are refused before any call
        with recording(monkeypatch) as rec, monkeypatch.context() as m:
            aws, stubber = routed()
            sts = Stubber(aws.client("sts"))
            sts.activate()
            sts.add_response("get_caller_identity", {"UserId": "AROAEXAMPLE:wwhd-drift", "Account": recorded.ACCOUNT,
                                                     "Arn": f"arn:aws:sts::{recorded.ACCOUNT}:assumed-role/drift/ci"})
            m.setattr(adapters, "connect", lambda profile, region, timeout=60: aws)
            World("prod").expect(stubber)
            _run(cli, "drift", "--env", "prod", "--markdown", "drift.md")
            stubber.assert_no_pending_responses()
            calls = rec.take()
        _CACHE["drift"] = {"drift": calls}
        _CACHE["drift_p"] = load_params("prod", project / "params")
    return _CACHE


@pytest.fixture
def dev(moto, project, cli, monkeypatch) -> dict:
    """The same jobs for dev, which renders no CI roles: judged with prod's ``ci`` section (as
    tests/deploy/test_preflight_permissions.py does), recorded once."""
    if "dev" not in _CACHE:
        # a fresh local server state, as the moto fixture gives each test (another recording may have run first)
        urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST"), timeout=10).close()
        jobs = record_ci(project, cli, monkeypatch, "dev")
        p = load_params("dev", project / "params")
        ci_section = load_params("prod").ci.model_copy(update={"github_repository": "wwhd/wwhd-backend"})
        _CACHE["dev"] = {"jobs": jobs, "p": p.model_copy(update={"ci": ci_section})}
    return _CACHE["dev"]


def verdicts(state: dict, template: dict | None = None) -> list[contract.Judged]:
    """Every job judged against the rendered identity template (one engine run for the local server's jobs, one for
    the drift job, which the recording places in prod's own account); cached for the unmodified template."""
    key = "verdicts" if template is None else None
    if key and key in state:
        return state[key]
    out = []
    if "jobs" in state:
        p = state["p"]
        out += contract.judge(p, template or contract.rendered(p), ACCOUNT, state["jobs"])
    if "drift" in state:
        p = state["drift_p"]
        out += contract.judge(p, template or contract.rendered(p), recorded.ACCOUNT, state["drift"])
    if key:
        state[key] = out
    return out


# --- known gaps: calls the rendered roles deny today -------------------------------------------------------------
# Each is a strict xfail: when templates/ci.py grants the call (or the CLI stops making it), the test passes, the
# strict mark turns that into a failure, and the mark is removed.

KNOWN_GAPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, str]] = {
    # name: (jobs, actions, a part of the resource ARN, reason). None today. What this suite found, and how it was
    # closed: the deploy role could not write release records (records now go under releases/<root>/, which it
    # alone writes); the plan, pull-request and deploy roles could not detect drift, which plan and apply do on
    # production by default (the workflow passes --no-drift: drift detection reads every resource with the
    # caller's credentials, secret values included, which those roles must not have; the nightly drift job, with
    # its read-only role, is CI's drift check).
}


def _gap(j: contract.Judged) -> str | None:
    for name, (jobs, names, resource, _) in KNOWN_GAPS.items():
        if j.job in jobs and j.need.action in names and resource in j.need.resource:
            return name
    return None


def _report(judged: list[contract.Judged], template: dict) -> str:
    return "\n".join(j.explain(template) for j in judged)


# --- the contract ------------------------------------------------------------------------------------------------

JOBS = ("pull-request plan", "main plan", "push", "apply", "status", "drift")


def test_every_job_was_recorded_with_the_calls_that_define_it(ci, nightly):
    jobs = {**ci["jobs"], **nightly["drift"]}
    assert sorted(jobs) == sorted(JOBS) == sorted(contract.ROLES)
    names = {job: {c.name for c in calls} for job, calls in jobs.items()}
    pr = [c for c in jobs["pull-request plan"] if c.operation == "CreateChangeSet"]
    assert len(pr) == 1 and pr[0].params["ChangeSetName"].startswith("wwhd-prod-pr-")
    assert pr[0].params["TemplateURL"].split(".amazonaws.com/", 1)[1].startswith("pr/wwhd-prod/")
    main = [c for c in jobs["main plan"] if c.operation == "CreateChangeSet"]
    assert len(main) == 1 and main[0].params["ChangeSetType"] == "UPDATE"
    assert main[0].params["RoleARN"] == EXECUTION_ROLE
    assert {"iam:SimulatePrincipalPolicy", "s3:HeadObject", "ecr:DescribeImages"} <= names["main plan"]
    assert {"cloudformation:ExecuteChangeSet", "cloudformation:SetStackPolicy", "s3:PutObject"} <= names["apply"]
    # the apply job records its release, under the prefix only the deploy role may write (judged below)
    assert [c.params["Key"].split("/")[:2] for c in jobs["apply"] if c.name == "s3:PutObject"] == [
        ["releases", "wwhd-prod"]]
    assert {"cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents"} <= names["status"]
    assert {"cloudformation:DetectStackDrift", "cloudformation:DescribeStackDriftDetectionStatus",
            "cloudformation:DescribeStackResourceDrifts"} <= names["drift"]
    assert [c.name for c in jobs["push"]] == [
        "ecr:DescribeImages", "ecr:DescribeImages", "sts:GetCallerIdentity", "ecr:GetAuthorizationToken",
        "docker:login", "docker:push", "ecr:DescribeRepositories", "ecr:DescribeImageScanFindings",
        "ecr:DescribeImageScanFindings"]


def test_every_recorded_operation_is_in_the_operation_to_action_table(ci, nightly, dev):
    recorded_names = {c.name for calls in (*ci["jobs"].values(), *nightly["drift"].values(), *dev["jobs"].values())
                      for c in calls}
    assert sorted(recorded_names - set(actions.ACTIONS)) == []


@pytest.mark.parametrize("job", JOBS)
def test_the_role_of_each_job_allows_every_call_it_makes(ci, nightly, job):
    """Each request the job's calls make, judged by the engine against the rendered role (and the template bucket's
    policy): allowed, with a resource type the action takes; the known gaps above are judged on their own."""
    judged = [j for j in verdicts(_CACHE) if j.job == job]
    assert judged
    template = contract.rendered(_CACHE["drift_p" if job == "drift" else "p"])
    denied = [j for j in judged if not j.allowed and _gap(j) is None]
    assert not denied, f"{len(denied)} call(s) denied:\n{_report(denied, template)}"


if KNOWN_GAPS:
    @pytest.mark.parametrize("gap", [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason))
                                     for name, (_, _, _, reason) in KNOWN_GAPS.items()])
    def test_known_gap(ci, nightly, gap):
        judged = [j for j in verdicts(_CACHE) if _gap(j) == gap]
        denied = [j for j in judged if not j.allowed]
        assert not denied, _report(denied, contract.rendered(_CACHE["p"]))


# --- mutations: a removed statement is named by the call it breaks ------------------------------------------------


@pytest.mark.parametrize(("role", "sid", "job", "call", "action"), [
    ("GitHubPlanRole", "TemplateObjects", "main plan", "s3:HeadObject", "s3:GetObject"),
    ("GitHubPlanRole", "TemplateObjects", "main plan", "cloudformation:CreateChangeSet", "s3:GetObject"),
    ("GitHubPlanRole", "PassExecutionRoleToCloudFormation", "main plan", "cloudformation:CreateChangeSet",
     "iam:PassRole"),
    ("GitHubPullRequestRole", "CreateChangeSetsThroughExecutionRole", "pull-request plan",
     "cloudformation:CreateChangeSet", "cloudformation:CreateChangeSet"),
    ("GitHubDeployRole", "ExecuteChangeSets", "apply", "cloudformation:ExecuteChangeSet",
     "cloudformation:ExecuteChangeSet"),
    ("GitHubDeployRole", "PushAppImage", "push", "docker:push", "ecr:PutImage"),
    ("GitHubDriftRole", "DetectDriftOnAppStacks", "drift", "cloudformation:DetectStackDrift",
     "cloudformation:DetectStackDrift"),
])
def test_a_removed_statement_fails_the_call_it_grants(ci, nightly, role, sid, job, call, action):
    p = _CACHE["drift_p" if job == "drift" else "p"]
    account = recorded.ACCOUNT if job == "drift" else ACCOUNT
    calls = nightly["drift"]["drift"] if job == "drift" else ci["jobs"][job]
    mutated = contract.without_statement(contract.rendered(p), role, sid)
    judged = contract.judge(p, mutated, account, {job: calls})
    broken = [j for j in judged if not j.allowed and _gap(j) is None]
    assert any(j.call.name == call and j.need.action == action for j in broken), _report(broken, mutated)
    message = next(j for j in broken if j.call.name == call and j.need.action == action).explain(mutated)
    assert message.startswith(f"{job} ({role}): {call}: {action} on arn:")
    # the unmutated role allows exactly these requests
    assert all(j.allowed for j in verdicts(_CACHE) if j.job == job and _gap(j) is None)


def test_the_pull_request_role_cannot_plan_from_main_s_templates(ci):
    """The negative of the pull-request plan: main's calls made as the pull-request role are refused where the
    prefixes and change set names keep the two apart (templates/ci.py: TemplateUrl and ChangeSetName conditions,
    keys under pr/ only)."""
    p = _CACHE["p"]
    judged = contract.judge(p, contract.rendered(p), ACCOUNT, {"main plan": ci["jobs"]["main plan"]},
                            roles={"main plan": "GitHubPullRequestRole"})
    denied = {(j.call.name, j.need.action) for j in judged if not j.allowed}
    assert {("cloudformation:CreateChangeSet", "cloudformation:CreateChangeSet"),
            ("cloudformation:CreateChangeSet", "s3:GetObject"), ("s3:HeadObject", "s3:GetObject")} <= denied


def test_dev_judged_with_prod_s_ci_section_allows_every_call(dev):
    """dev's plan (pull request and main), apply and status against the roles dev would render with prod's ``ci``."""
    p = dev["p"]
    template = contract.rendered(p)
    judged = contract.judge(p, template, ACCOUNT, dev["jobs"])
    assert {j.job for j in judged} == {"pull-request plan", "main plan", "apply", "status"}
    denied = [j for j in judged if not j.allowed and _gap(j) is None]
    assert not denied, f"{len(denied)} call(s) denied:\n{_report(denied, template)}"
    # the release record of dev's apply is written, under releases/ (issue 14 point 3)
    assert any(j.job == "apply" and j.need.action == "s3:PutObject" and "/releases/wwhd-dev/" in j.need.resource
               and j.allowed for j in judged)
