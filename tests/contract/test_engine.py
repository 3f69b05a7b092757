"""The engine judges as IAM does (IAM User Guide, "Policy evaluation logic"): these cases pin the behaviour the rest of
the contract suite relies on, so an engine upgrade that changed them fails here first."""

from __future__ import annotations

import pytest

from .iam_engine import Engine, PolicySet, Request

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"


def _engine(*statements, boundary=None) -> Engine:
    doc = {"Version": "2012-10-17", "Statement": list(statements)}
    e = Engine(ACCOUNT)
    e.sets["r"] = PolicySet(ROLE, [{"name": "p", "policy": doc}],
                            [{"name": "b", "policy": {"Version": "2012-10-17",
                                                      "Statement": boundary}}] if boundary else None)
    return e


def _one(e: Engine, action: str, resource: str, **kw):
    return e.judge([Request("r", action, resource, **kw)])[0]


def test_allow_deny_and_the_default_deny():
    e = _engine({"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/k/*"},
                {"Sid": "NotThis", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/k/secret"})
    assert _one(e, "s3:GetObject", "arn:aws:s3:::b/k/x").result == "Allowed"
    denied = _one(e, "s3:GetObject", "arn:aws:s3:::b/k/secret")
    assert denied.result == "ExplicitlyDenied" and denied.deny == ("p:NotThis",)
    assert _one(e, "s3:GetObject", "arn:aws:s3:::b/other/x").result == "ImplicitlyDenied"


def test_an_action_asked_on_a_resource_type_it_does_not_take_is_an_error():
    """route53:GetChange takes a change, not a hosted zone (Service Authorization Reference, Route 53)."""
    e = _engine({"Effect": "Allow", "Action": "route53:GetChange", "Resource": "*"})
    assert _one(e, "route53:GetChange", "arn:aws:route53:::hostedzone/Z1").result == "Error"
    assert _one(e, "route53:GetChange", "arn:aws:route53:::change/C1").result == "Allowed"


def test_conditions_and_the_boundary():
    e = _engine({"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
                 "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}},
                boundary=[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    assert _one(e, "iam:PassRole", ROLE, context=(("iam:PassedToService", "ecs-tasks.amazonaws.com"),)).result \
        == "ImplicitlyDenied"
    # allowed by the identity policy, outside the boundary: denied (the intersection)
    assert _one(e, "iam:PassRole", ROLE, context=(("iam:PassedToService", "cloudformation.amazonaws.com"),)).result \
        == "ImplicitlyDenied"
    open_boundary = _engine({"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
                             "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}},
                            boundary=[{"Effect": "Allow", "Action": "*", "Resource": "*"}])
    assert _one(open_boundary, "iam:PassRole", ROLE,
                context=(("iam:PassedToService", "cloudformation.amazonaws.com"),)).result == "Allowed"


@pytest.mark.parametrize(("sub", "expected"), [
    ("repo:o/r:ref:refs/heads/main", "Allowed"),
    ("repo:o/r:ref:refs/heads/mainline", "ImplicitlyDenied"),
    ("repo:o/r:pull_request", "ImplicitlyDenied"),
])
def test_a_trust_policy_matches_the_token_s_claims(sub, expected):
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                       "token.actions.githubusercontent.com:sub": "repo:o/r:ref:refs/heads/main"}}}]}
    e = Engine(ACCOUNT, resource_policies={"trust": trust})
    verdict = e.judge([Request(PROVIDER, "sts:AssumeRoleWithWebIdentity", ROLE, trust=True, resource_policy="trust",
                               context=(("token.actions.githubusercontent.com:sub", sub),
                                        ("token.actions.githubusercontent.com:aud", "sts.amazonaws.com")))])[0]
    assert verdict.result == expected
