"""The CI roles' rules that no local server can show, judged by the IAM engine against the rendered identity
template: a pull request's change set never runs, and only the deploy role records releases."""

from __future__ import annotations

import pytest

from templates import bootstrap, identity
from templates.config import load_params
from templates.names import template_bucket

from .iam_engine import Engine, Request, role_policy_set
from .resolve import Place, Resolver, literal_policy

ACCOUNT = "018025611404"
REGION = "us-west-2"
GITHUB_ROLES = ("GitHubPullRequestRole", "GitHubPlanRole", "GitHubDeployRole", "GitHubDriftRole")
STACK_ID = "5e1f4a20-d2b3-11f0-8e0a-0a1b2c3d4e5f"  # a sample of the UUID in a stack or change set ARN


def _prod():
    prod = load_params("prod")
    return prod.model_copy(update={"ci": prod.ci.model_copy(update={"github_repository": "wwhd/wwhd-backend"})})


@pytest.fixture(scope="module")
def engine():
    p = _prod()
    template = identity.build(p).to_dict()
    place = Place(ACCOUNT, REGION, f"{p.stack_name}-identity")
    e = Engine(ACCOUNT)
    for role in GITHUB_ROLES:
        e.sets[role] = role_policy_set(template, role, place)
    bucket = Resolver({}, place).value({"Fn::Sub": template_bucket(p)})  # the default name carries the account
    policy = bootstrap.build(p, bucket).to_dict()["Resources"]["TemplateBucketPolicy"]["Properties"]["PolicyDocument"]
    e.resource_policies["bucket"] = literal_policy(Resolver({}, Place(ACCOUNT, REGION, "bootstrap")), policy)
    e.bucket = bucket  # test-only: the bucket the policies name
    return e


def _verdicts(engine, requests):
    return {(v.request.identity, v.request.resource, v.request.context): v for v in engine.judge(requests)}


CHANGE_SETS = {
    "main's, by name": ("wwhd-prod-20261206120000-abc1234", True),
    "main's, tag beginning with pr": ("wwhd-prod-20261206120000-pr-7", True),
    "a pull request's, by name": ("wwhd-prod-pr-20261206120000", False),
    "main's, by ARN": (f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/wwhd-prod-20261206120000-v1/{STACK_ID}",
                       True),
    "a pull request's, by ARN": (
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/wwhd-prod-pr-20261206120000/{STACK_ID}", False),
}


@pytest.mark.parametrize("case", sorted(CHANGE_SETS))
def test_the_deploy_role_never_executes_a_pull_request_s_change_set(engine, case):
    """cloudformation:ChangeSetName (a condition key of ExecuteChangeSet) in both forms AWS may send."""
    name, allowed = CHANGE_SETS[case]
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/wwhd-prod/{STACK_ID}"
    [verdict] = engine.judge([Request("GitHubDeployRole", "cloudformation:ExecuteChangeSet", stack,
                                      context=(("cloudformation:ChangeSetName", name),))])
    assert verdict.allowed is allowed, verdict.explain()
    if not allowed:
        assert verdict.result == "ExplicitlyDenied" and verdict.deny == ("deploy:NeverExecutePullRequestChangeSets",)


def test_no_other_github_role_may_execute_any_change_set(engine):
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/wwhd-prod/{STACK_ID}"
    requests = [Request(role, "cloudformation:ExecuteChangeSet", stack,
                        context=(("cloudformation:ChangeSetName", "wwhd-prod-20261206120000-v1"),))
                for role in GITHUB_ROLES if role != "GitHubDeployRole"]
    assert [v.result for v in engine.judge(requests)] == ["ImplicitlyDenied"] * len(requests)


def test_only_the_deploy_role_writes_release_records_and_no_ci_role_reads_them(engine):
    new = f"arn:aws:s3:::{engine.bucket}/releases/wwhd-prod/20261206T120000.000000Z-wwhd-prod-20261206115900-v1.json"
    old = f"arn:aws:s3:::{engine.bucket}/history/wwhd-prod/20261130T120000.000000Z-wwhd-prod-v1-20261130115900.json"
    tls = (("aws:SecureTransport", "true"),)
    requests = [Request(role, action, key, context=tls, resource_policy="bucket")
                for role in GITHUB_ROLES for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject")
                for key in (new, old)]
    allowed = {(v.request.identity, v.request.action, v.request.resource) for v in engine.judge(requests) if v.allowed}
    assert allowed == {("GitHubDeployRole", "s3:PutObject", new)}


def test_the_bucket_refuses_plain_http_even_to_the_deploy_role(engine):
    key = f"arn:aws:s3:::{engine.bucket}/releases/wwhd-prod/x.json"
    [verdict] = engine.judge([Request("GitHubDeployRole", "s3:PutObject", key, resource_policy="bucket",
                                      context=(("aws:SecureTransport", "false"),))])
    assert verdict.result == "ExplicitlyDenied"
