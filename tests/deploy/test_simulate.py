"""Simulated permissions of the CloudFormation execution role (``plan --role-arn``).

moto 5.2 does not implement ``SimulatePrincipalPolicy`` (no ``simulate`` handler in ``moto/iam``), so these tests use
botocore's Stubber, with responses shaped as the IAM API Reference documents them: ``SimulatePolicyResponse``
(``EvaluationResults``, ``IsTruncated``, ``Marker``), each ``EvaluationResult`` with ``EvalActionName``,
``EvalResourceName``, ``EvalDecision`` (``allowed`` / ``explicitDeny`` / ``implicitDeny``), ``MatchedStatements``
(``SourcePolicyId``, ``SourcePolicyType``, ``StartPosition``, ``EndPosition``), ``MissingContextValues`` and, in the
current form, ``ResourceSpecificResults``. The Stubber validates both the request and the response against botocore's
model of the API."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from deploy import preflight, simulate
from deploy.aws import Aws
from deploy.context import Ctx
from deploy.ui import Out
from templates import build_all, identity
from templates.config import load_params

REGION = "us-west-2"
ACCOUNT = "018025611404"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/wwhd-prod-CiStack-1A2B3C-CloudFormationExecutionRole-4D5E6F"
LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/wwhd-backend"
POLICY = f"arn:aws:iam::{ACCOUNT}:policy/wwhd-prod-CiStack-1A2B3C-ExecutionComputePolicy-7G8H9I"


@pytest.fixture(autouse=True)
def one_call_at_a_time(monkeypatch):
    """The Stubber answers in order: one request at a time makes the order the probes' (sorted) order."""
    monkeypatch.setattr(simulate, "CALLS_AT_ONCE", 1)


def _ctx(p):
    aws = Aws(boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"), REGION)
    return Ctx(p=p, aws=aws, out=Out(), home=Path("."))


def _probes(p):
    built = {name: t.to_dict() for name, t in build_all(p).items()}
    return simulate.probes(p, built, ACCOUNT, "aws", ROLE)[0]


def _statement(line: int) -> dict:
    return {"SourcePolicyId": POLICY, "SourcePolicyType": "IAM Policy",
            "StartPosition": {"Line": line, "Column": 9}, "EndPosition": {"Line": line + 12, "Column": 10}}


def _result(action: str, resource: str, decision: str = "allowed", missing: list[str] | None = None) -> dict:
    return {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision,
            "MatchedStatements": [_statement(4)] if decision != "implicitDeny" else [],
            "MissingContextValues": missing or []}


def _stub(p, verdict=lambda action, resource: ("allowed", None)):
    """A stubbed IAM client that expects exactly the probes' requests, in order, and answers each action on each
    resource with ``verdict``."""
    ctx = _ctx(p)
    stub = Stubber(ctx.aws.client("iam"))
    asked = _probes(p)
    for probe in asked:
        results = [_result(a, r, *verdict(a, r)) for a in probe.actions for r in probe.resources]
        stub.add_response("simulate_principal_policy", {"EvaluationResults": results, "IsTruncated": False},
                          probe.request(ROLE))
    stub.activate()
    return ctx, stub, asked


def _run(ctx, role=ROLE):
    return preflight._simulated_permissions(ctx, preflight.Facts(ACCOUNT, role_arn=role))


def test_all_allowed_is_one_pass_with_the_count():
    p = load_params("prod")
    ctx, stub, asked = _stub(p)
    checks = _run(ctx)
    stub.assert_no_pending_responses()
    pairs = sum(len(x.actions) * len(x.resources) for x in asked)
    assert [(c.status, c.subject) for c in checks] == [("PASS", f"execution role {ROLE}")]
    assert checks[0].evidence.startswith(f"{pairs} action-resource pairs allowed")
    assert f"{len(asked)} SimulatePrincipalPolicy requests" in checks[0].evidence
    assert len(asked) < 40  # batched: many actions per request, not one request per action


def test_a_denied_action_is_a_block_naming_action_and_resource():
    p = load_params("prod")
    ctx, stub, _ = _stub(p, lambda a, r: ("implicitDeny", None) if a == "logs:PutRetentionPolicy" and r == LOG_GROUP
                         else ("allowed", None))
    checks = _run(ctx)
    stub.assert_no_pending_responses()
    assert [(c.status, c.subject, c.evidence) for c in checks] == [
        ("BLOCK", f"execution role: logs:PutRetentionPolicy on {LOG_GROUP}", "implicitDeny: no statement allows it")]
    assert "templates/execution_role.py" in checks[0].fix and f"--role-arn {ROLE}" in checks[0].fix


def test_an_explicit_deny_names_the_policy_that_denies():
    p = load_params("prod")
    ctx, stub, _ = _stub(p, lambda a, r: ("explicitDeny", None) if a == "ecs:UpdateCluster" else ("allowed", None))
    checks = _run(ctx)
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/wwhd-cluster"
    assert [(c.status, c.subject, c.evidence) for c in checks] == [
        ("BLOCK", f"execution role: ecs:UpdateCluster on {cluster}", f"explicitDeny: denied by {POLICY}")]


def test_missing_context_is_a_warn():
    p = load_params("prod")
    efs = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}"
    ctx, stub, _ = _stub(p, lambda a, r: ("implicitDeny",
                                          ["aws:RequestTag/app"]) if a == "elasticfilesystem:TagResource"
                         else ("allowed", None))
    checks = _run(ctx)
    stub.assert_no_pending_responses()
    assert {c.status for c in checks} == {"WARN"}
    # one sample ARN per resource type, in the format AWS gives it (never a pattern: deploy/simulate.py)
    assert [c.subject for c in checks] == [f"execution role: elasticfilesystem:TagResource on {efs}:{kind}"
                                           for kind in ("access-point/fsap-0123456789abcdef0",
                                                        "file-system/fs-0123456789abcdef0")]
    assert "aws:RequestTag/app" in checks[0].evidence
    assert checks[0].fix.startswith("see the statements: aws iam simulate-principal-policy --policy-source-arn")


def test_per_resource_results_are_read_when_the_simulator_aggregates():
    """The current simulator returns one result per action; the decision of each resource is in
    ResourceSpecificResults (EvalResourceName, EvalResourceDecision)."""
    p = load_params("prod")
    ctx = _ctx(p)
    probe = next(x for x in _probes(p) if LOG_GROUP in x.resources)
    stub = Stubber(ctx.aws.client("iam"))
    results = [{"EvalActionName": a, "EvalResourceName": "*",
                "EvalDecision": "implicitDeny" if a == "logs:CreateLogGroup" else "allowed",
                "ResourceSpecificResults": [
                    {"EvalResourceName": r, "EvalResourceDecision":
                        "implicitDeny" if a == "logs:CreateLogGroup" and r == LOG_GROUP else "allowed",
                     "MatchedStatements": [], "MissingContextValues": []} for r in probe.resources]}
               for a in probe.actions]
    stub.add_response("simulate_principal_policy", {"EvaluationResults": results, "IsTruncated": False},
                      probe.request(ROLE))
    with stub:
        found = simulate.simulate(ctx.aws.client("iam"), ROLE, [probe])
    denied = [(f.action, f.resource) for f in found if f.decision != "allowed"]
    assert denied == [("logs:CreateLogGroup", LOG_GROUP)]
    assert len(found) == len(probe.actions) * len(probe.resources)


def test_every_page_is_read():
    p = load_params("prod")
    ctx = _ctx(p)
    probe = next(x for x in _probes(p) if LOG_GROUP in x.resources)
    first, rest = probe.actions[:1], probe.actions[1:]
    stub = Stubber(ctx.aws.client("iam"))
    stub.add_response("simulate_principal_policy", {"EvaluationResults": [_result(a, LOG_GROUP) for a in first],
                                                    "IsTruncated": True, "Marker": "page-2"}, probe.request(ROLE))
    stub.add_response("simulate_principal_policy",
                      {"EvaluationResults": [_result(a, LOG_GROUP, "implicitDeny") for a in rest],
                       "IsTruncated": False},
                      {**probe.request(ROLE), "Marker": "page-2"})
    with stub:
        found = simulate.simulate(ctx.aws.client("iam"), ROLE, [probe])
    assert [f.action for f in found if f.decision == "implicitDeny"] == list(rest)


def test_the_requests_carry_the_actions_arns_and_context_the_templates_imply():
    p = load_params("prod")
    asked = _probes(p)
    by_resource: dict[str, list[simulate.Probe]] = {}
    for x in asked:
        for r in x.resources:
            by_resource.setdefault(r, []).append(x)

    def actions(resource, context=()):
        return {a for x in by_resource[resource] if x.context == context for a in x.actions}

    # fixed names from params, in the log-group ARN format of the Service Authorization Reference (no ":*")
    assert {"logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource"} <= actions(LOG_GROUP)
    assert LOG_GROUP + ":*" not in by_resource
    # never a pattern inside a requested ARN: the simulator reads it as a name (IAM API Reference,
    # SimulatePrincipalPolicy; cloud-custodian issue 4612); nested stacks as CloudFormation names them
    assert not [r for r in by_resource if r != "*" and ("*" in r or "?" in r)]
    nested = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/wwhd-prod-StorageStack-1A2B3C4D5E6F7/" \
             "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert "cloudformation:UpdateStack" in actions(nested)
    # actions without a resource type are asked on "*"; the others on the types the reference requires
    assert {"ec2:DescribeSubnets", "logs:DescribeLogGroups", "route53:ListHostedZones"} <= {
        a for x in by_resource["*"] for a in x.actions}
    assert actions(f"arn:aws:route53:::change/{simulate.CHANGE_ID}",
                   (("route53:ChangeResourceRecordSetsNormalizedRecordNames", "stringList", ("api.wwhd.example.com",)),)
                   ) == {"route53:GetChange"}
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/wwhd-cluster"
    assert {"ecs:CreateCluster", "ecs:UpdateCluster"} <= actions(cluster)
    # prod's log group and cluster are Retain (adopted from the seed): their deletes are never asked
    assert "logs:DeleteLogGroup" not in actions(LOG_GROUP) and "ecs:DeleteCluster" not in actions(cluster)
    # the condition keys of the role's policies get the templates' values
    vpc = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{p.network.vpc_id}"
    sg = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0123456789abcdef0"
    assert "ec2:AuthorizeSecurityGroupIngress" in actions(sg, (("ec2:Vpc", "string", (vpc,)),))
    eni = f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/eni-0123456789abcdef0"
    assert "ec2:CreateNetworkInterface" in actions(eni, (("ec2:Vpc", "string", (vpc,)),))
    fs = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0"
    encrypted = (("elasticfilesystem:Encrypted", "boolean", ("true",)),)
    assert "elasticfilesystem:PutLifecycleConfiguration" in actions(fs, encrypted)
    assert "elasticfilesystem:CreateFileSystem" in actions("*", encrypted)  # no resource type: on "*"
    # the identity stack's roles, by their fixed names: each passed only to the service that uses it
    role = f"arn:aws:iam::{ACCOUNT}:role/wwhd/prod/wwhd-prod-"
    to_ecs, to_backup = (("iam:PassedToService", "string", ("ecs-tasks.amazonaws.com",)),), (
        ("iam:PassedToService", "string", ("backup.amazonaws.com",)),)
    assert actions(role + "task", to_ecs) == actions(role + "task-execution", to_ecs) == {"iam:PassRole"}
    assert actions(role + "backup", to_backup) == {"iam:PassRole"}
    assert not by_resource.get(role + "backup", []) or not actions(role + "backup", to_ecs)
    assert actions(ROLE, (("iam:PassedToService", "string", ("cloudformation.amazonaws.com",)),)) == {"iam:PassRole"}
    # acm:RequestCertificate has no resource type: asked on "*" with the request's context
    assert "acm:RequestCertificate" in actions("*", (("acm:DomainNames", "stringList", (p.domain.name,)),
                                                     ("acm:ValidationMethod", "string", ("DNS",))))
    # the file system and its access points are Retain: CloudFormation never deletes them, so neither is asked
    every = {a for x in asked for a in x.actions}
    assert "elasticfilesystem:DeleteFileSystem" not in every and "elasticfilesystem:DeleteAccessPoint" not in every
    # only IAM action names (handler lists hold API names such as s3:REST.PUT.OBJECT)
    from checks.execution_role import is_iam_action

    assert every and all(is_iam_action(a) for a in every)
    # the wire form: ContextEntries as the API Reference names them
    req = next(x for x in asked if x.context == encrypted).request(ROLE)
    assert req["ContextEntries"] == [{"ContextKeyName": "elasticfilesystem:Encrypted", "ContextKeyValues": ["true"],
                                      "ContextKeyType": "boolean"}]
    assert req["PolicySourceArn"] == ROLE


def test_retain_except_on_create_resources_are_asked_their_delete():
    """dev's generated secrets are RetainExceptOnCreate: a rolled-back first create deletes them."""
    p = load_params("dev")
    secret_probes = [x for x in _probes(p) if any(":secret:" in r for r in x.resources)]
    assert secret_probes and all("secretsmanager:DeleteSecret" in x.actions for x in secret_probes)


def test_context_keys_come_from_the_rendered_ci_template():
    p = load_params("prod")
    built = {name: t.to_dict() for name, t in build_all(p).items()}
    keys = simulate.condition_keys(built)
    assert {"ec2:Vpc", "elasticfilesystem:Encrypted", "iam:PassedToService", "iam:AWSServiceName"} <= keys
    assert simulate.condition_keys({k: v for k, v in built.items() if k != "identity"}) is None


def test_without_role_arn_it_is_reported_as_not_run_and_calls_nothing():
    ctx = _ctx(load_params("prod"))
    with Stubber(ctx.aws.client("iam")) as stub:  # any IAM call would fail: no responses queued
        checks = _run(ctx, role=None)
        stub.assert_no_pending_responses()
    assert [(c.status, c.subject) for c in checks] == [("SKIP", "execution role permissions")]
    assert checks[0].evidence.startswith("not run: simulated only for plan --role-arn")
    out = []
    preflight.show(checks, type("O", (), {"rich": False, "line": lambda self, s: out.append(s)})())
    assert out[0] == "Preflight: 0 pass, 0 warn, 0 block, 1 not run"
    assert preflight.as_json(checks)[0]["status"] == "SKIP"


def test_a_role_that_does_not_exist_is_a_block():
    p = load_params("prod")
    ctx = _ctx(p)
    stub = Stubber(ctx.aws.client("iam"))
    stub.add_client_error("simulate_principal_policy", "NoSuchEntity", f"The role with name {ROLE} cannot be found.",
                          404)
    with stub:
        checks = _run(ctx)
    assert [(c.status, c.subject, c.evidence)
            for c in checks] == [("BLOCK", f"execution role {ROLE}", "does not exist")]
    assert "CloudFormationExecutionRoleArn" in checks[0].fix


def test_other_errors_are_not_swallowed():
    ctx = _ctx(load_params("prod"))
    stub = Stubber(ctx.aws.client("iam"))
    stub.add_client_error("simulate_principal_policy", "InvalidInput", "bad", 400)
    with stub, pytest.raises(ClientError):
        _run(ctx)


def test_the_plan_role_may_simulate_the_execution_role_only():
    p = load_params("prod")
    resources = identity.build(p).to_dict()["Resources"]
    statements = [s for pol in resources["GitHubPlanRole"]["Properties"]["Policies"]
                  for s in pol["PolicyDocument"]["Statement"]]
    simulating = [s for s in statements if "iam:SimulatePrincipalPolicy" in s["Action"]]
    assert simulating == [{"Sid": "SimulateExecutionRole", "Effect": "Allow", "Action": ["iam:SimulatePrincipalPolicy"],
                           "Resource": [{"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}]}]


def test_a_feature_s_actions_are_asked_only_when_the_template_sets_it():
    """A log group's handler calls PutDataProtectionPolicy only for a DataProtectionPolicy: not asked without one."""
    p = load_params("prod")
    built = {name: t.to_dict() for name, t in build_all(p).items()}

    def asked():
        return {a for x in simulate.probes(p, built, ACCOUNT, "aws", ROLE)[0] if LOG_GROUP in x.resources
                for a in x.actions}

    assert "logs:PutDataProtectionPolicy" not in asked() and "logs:PutRetentionPolicy" in asked()
    group = next(r for t in built.values() for r in t["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup")
    group["Properties"]["DataProtectionPolicy"] = {"Name": "audit", "Version": "2021-06-01", "Statement": []}
    assert "logs:PutDataProtectionPolicy" in asked()
    # a boundary is never removed by our templates: its delete is not asked even where roles carry one
    assert not any("iam:DeleteRolePermissionsBoundary" in x.actions
                   for x in simulate.probes(p, built, ACCOUNT, "aws", ROLE)[0])


def test_plan_with_role_arn_blocks_on_a_denial_before_any_change_set(moto, project, cli, monkeypatch):
    """Through the command line: ``plan --role-arn`` runs the simulation inside preflight; a denial stops the plan
    (exit 1) before anything is uploaded, and the review files say why. IAM's answer is replaced here because moto
    has no SimulatePrincipalPolicy; the requests are the ones the probes build (tested above)."""
    role = "arn:aws:iam::123456789012:role/wwhd-dev-CloudFormationExecutionRole"
    seen = []

    def answer(iam, role_arn, asked):
        seen.append((role_arn, asked))
        probe = next(x for x in asked if "logs:PutRetentionPolicy" in x.actions)
        return [simulate.Finding(a, r, "implicitDeny" if a == "logs:PutRetentionPolicy" else "allowed")
                for x in asked for a in x.actions for r in x.resources if x is probe or a != "logs:PutRetentionPolicy"]

    monkeypatch.setattr(simulate, "simulate", answer)
    result = cli("plan", "--env", "dev", "--role-arn", role, "--json", str(project / "plan.json"))
    assert result.code == 1, result.out + result.err
    assert seen and seen[0][0] == role
    group = "arn:aws:logs:us-west-2:123456789012:log-group:/ecs/wwhd-backend-dev"
    assert f"BLOCK execution role: logs:PutRetentionPolicy on {group}: implicitDeny" in " ".join(result.out.split())
    review = json.loads((project / "plan.json").read_text())
    assert review["blocked"] is True and review["changeSetArn"] is None
    assert {"status": "BLOCK", "subject": f"execution role: logs:PutRetentionPolicy on {group}",
            "evidence": "implicitDeny: no statement allows it",
            "fix": "grant it to CloudFormationExecutionRole (templates/execution_role.py), deploy the identity stack "
                   "with "
                   f"python generate.py bootstrap --env dev, then: python generate.py plan --env dev --role-arn {role}"
            } in review["preflight"]
