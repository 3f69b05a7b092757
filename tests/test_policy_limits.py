"""Every role of the identity stack stays within IAM's quotas (IAM User Guide, "IAM and AWS STS quotas"):

* a customer managed policy holds at most 6,144 characters;
* the inline policies of one role hold at most 10,240 characters in all;
* a role has at most 10 managed policies attached (the default quota; more only by a quota increase).

IAM does not count white space, so a policy is measured as its JSON without white space, with every intrinsic
resolved (``tests/contract/resolve.py``) in a place whose names are at least as long as AWS's longest: the partition
``aws-us-gov``, the Region ``us-isof-south-1`` and the URL suffix ``amazonaws.com.cn``. The execution role's
statements are composed from the stack modules' (``templates/execution_role.py``): a statement added there lands in
one of its managed policies, and this is what says when that policy must be split."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from templates import build_all, config
from templates.config import load_params

from .contract.resolve import Place, Resolver, literal_policy

MANAGED_POLICY_CHARACTERS = 6144
INLINE_CHARACTERS_PER_ROLE = 10240
MANAGED_POLICIES_PER_ROLE = 10


@dataclass(frozen=True)
class Longest(Place):
    """A place whose partition, Region and URL suffix are at least as long as any AWS has."""

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn"


def _dev_with_ci():
    """dev renders no CI roles: give it prod's ``ci`` section (tests/contract/test_probes.py does the same). dev is the
    environment that creates its VPC and generates its secrets, so its execution role has statements prod's lacks."""
    return load_params("dev").model_copy(update={"ci": load_params("prod").ci.model_copy(
        update={"github_repository": "wwhd/wwhd-backend"})})


def _dev_with_ci_and_domain():
    """... and prod's domain: the certificate and DNS statements too, every statement the execution role can hold."""
    return _dev_with_ci().model_copy(update={"domain": load_params("prod").domain})


def _longest_names():
    """... with the longest app and environment names the params allow: the stack names in the ARNs grow with them.
    The backup vault's name bounds the stack name to 17 characters (templates/config.py ``derived_names``)."""
    p = _dev_with_ci_and_domain().model_copy(update={"app": "a" * 5, "env": "e" * 11})
    assert config._names(p) == [] and config._names(p.model_copy(update={"app": "a" * 6})) != []
    return p


PARAMS = {"prod": lambda: load_params("prod"), "dev": lambda: load_params("dev"), "dev-with-ci": _dev_with_ci,
          "dev-with-ci-and-domain": _dev_with_ci_and_domain, "longest-names": _longest_names}


def characters(document: dict) -> int:
    """What IAM counts: the policy's JSON without white space."""
    return len(json.dumps(document, separators=(",", ":")))


def measure(name: str) -> dict[str, dict]:
    """``{role: {"managed": {policy: characters}, "inline": characters, "attached": count}}`` of the identity stack."""
    p = PARAMS[name]()
    identity = build_all(p)["identity"].to_dict()
    resources = identity["Resources"]
    resolver = Resolver(identity, Longest(account="123456789012", region="us-isof-south-1",
                                          stack=f"{p.stack_name}-identity", partition="aws-us-gov"))
    roles = {}
    for role, r in resources.items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        props = r["Properties"]
        attached = props.get("ManagedPolicyArns", [])
        ours = [a["Ref"] for a in attached if isinstance(a, dict) and "Ref" in a]
        roles[role] = {
            "managed": {policy: characters(literal_policy(resolver, resources[policy]["Properties"]["PolicyDocument"]))
                        for policy in ours},
            "inline": sum(characters(literal_policy(resolver, inline["PolicyDocument"]))
                          for inline in props.get("Policies", [])),
            "attached": len(attached),
        }
    return roles


@pytest.mark.parametrize("name", PARAMS)
def test_every_managed_policy_of_every_role_is_under_iam_s_size_quota(name):
    for role, m in measure(name).items():
        for policy, size in m["managed"].items():
            assert size < MANAGED_POLICY_CHARACTERS, f"{role}: {policy} has {size} characters"


@pytest.mark.parametrize("name", PARAMS)
def test_every_role_has_at_most_ten_managed_policies(name):
    for role, m in measure(name).items():
        assert m["attached"] <= MANAGED_POLICIES_PER_ROLE, f"{role}: {m['attached']} managed policies"


@pytest.mark.parametrize("name", PARAMS)
def test_every_role_s_inline_policies_are_under_iam_s_size_quota(name):
    for role, m in measure(name).items():
        assert m["inline"] < INLINE_CHARACTERS_PER_ROLE, f"{role}: {m['inline']} characters inline"


def test_the_execution_role_is_measured():
    """The measure reaches the execution role's managed policies (a policy it missed could never fail above)."""
    for name in ("prod", "dev-with-ci", "dev-with-ci-and-domain"):
        execution = measure(name)["CloudFormationExecutionRole"]
        assert len(execution["managed"]) == execution["attached"] >= 4
        assert all(size > 1000 for size in execution["managed"].values())
    assert "CloudFormationExecutionRole" not in measure("dev")  # dev as committed has no CI deploy


def test_characters_count_no_white_space():
    assert characters({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}) == len(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}')
