"""The nightly drift role can read every resource type it must check: drift detection reads each resource with
the caller's credentials, and a denied read would only show as an unexplained failed detection.

Source of truth: each type's ``handlers.read.permissions`` in the registry schemas cfn-lint ships
(``cfnlint.schema.PROVIDER_SCHEMA_MANAGER``, us-west-2); the role is read from the committed output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from templates._read_permissions import READ_PERMISSIONS

REPO = Path(__file__).resolve().parents[1]
ENVS_WITH_CI = sorted(p.parent.name for p in REPO.glob("output/*/identity.yaml") if "GitHubDriftRole:" in p.read_text())


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _intrinsic)


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_Loader)


def _schema_reads(type_: str) -> set[str]:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-west-2", type_).schema
    return set(schema.get("handlers", {}).get("read", {}).get("permissions", []))


def _granted(env: str) -> dict[str, list]:
    """action -> the Resource lists of the drift role's Allow statements that name it."""
    role = _load(REPO / "output" / env / "identity.yaml")["Resources"]["GitHubDriftRole"]
    granted: dict[str, list] = {}
    for policy in role["Properties"]["Policies"]:
        for s in policy["PolicyDocument"]["Statement"]:
            assert s["Effect"] == "Allow"
            for a in s["Action"]:
                granted.setdefault(a, []).append(s["Resource"])
    return granted


def test_some_environment_has_a_ci_stack():
    assert ENVS_WITH_CI == ["prod"]


@pytest.mark.parametrize("env", ENVS_WITH_CI)
def test_drift_role_covers_every_types_read_permissions(env):
    types = {r["Type"] for f in (REPO / "output" / env).glob("*.yaml") for r in _load(f)["Resources"].values()}
    granted = _granted(env)
    missing = {t: sorted(_schema_reads(t) - set(granted)) for t in sorted(types)}
    assert {t: m for t, m in missing.items() if m} == {}
    assert all(set(READ_PERMISSIONS[t]) >= _schema_reads(t) for t in types)  # the table is not stale either


@pytest.mark.parametrize("env", ENVS_WITH_CI)
def test_drift_role_is_read_only_and_detects_drift(env):
    granted = _granted(env)
    for needed in ("cloudformation:DetectStackDrift", "cloudformation:DescribeStackDriftDetectionStatus",
                   "cloudformation:DescribeStackResourceDrifts", "cloudformation:ListStackResources",
                   "cloudformation:DescribeStacks", "cloudformation:DetectStackResourceDrift"):
        assert needed in granted
    writes = [a for a in granted if a.split(":", 1)[1].startswith(("Create", "Delete", "Put", "Update", "Execute",
                                                                  "Tag", "Untag", "Set", "Modify", "Attach"))]
    assert writes == []
    # a secret's value only for the app's own secrets (prod creates none: it references the seed's)
    assert granted.get("secretsmanager:GetSecretValue", []) != [["*"]]
