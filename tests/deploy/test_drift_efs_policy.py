"""Drift of the EFS file system policy: EFS stores a statement's ``Resource: "*"`` as the file system's own ARN
(hashicorp/terraform-provider-aws#32077), which drift detection reports as NOT_EQUAL every night. Recorded with the
routed Stubber of tests/deploy/recorded_drift.py (responses shaped as DescribeStackResourceDrifts documents them):
the stored form is ignored with its reason and source; any other policy change stays drift."""

from __future__ import annotations

import copy
import json

import pytest

from deploy import drift
from deploy.ui import Out, Poller
from templates import storage
from templates.config import load_params

from .recorded import ACCOUNT, REGION
from .recorded_drift import World, beside, modified, routed

FS_ID = "fs-0123456789abcdef0"
OWN_ARN = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{FS_ID}"
OTHER_ARN = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0fedcba9876543210"


def template_policy() -> dict:
    """The policy as the template declares it (CloudFormation resolves the Sub in ExpectedProperties)."""
    policy = storage.build(load_params("prod")).to_dict()["Resources"]["FileSystem"]["Properties"]["FileSystemPolicy"]
    text = json.dumps(policy).replace('{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}',
                                      json.dumps(f"arn:aws:iam::{ACCOUNT}:root"))
    return json.loads(text)


def stored(policy: dict, arn: str = OWN_ARN) -> dict:
    """As EFS returns it: every Resource "*" replaced by ``arn`` (a string, as the console shows it)."""
    out = copy.deepcopy(policy)
    for s in out["Statement"]:
        if s.get("Resource") in ("*", ["*"]):
            s["Resource"] = arn
    return out


def file_system(differences: list[tuple[str, str, str, str]]) -> drift.Resource:
    w = World("prod")
    w.drifts[(("StorageStack",), "FileSystem")] = {**modified({}, {}, differences), "PhysicalResourceId": FS_ID}
    aws, stubber = routed()
    w.expect(stubber)
    report = drift.detect(aws, w.stacks[0].name, Poller(), Out(), lambda verb, *extra: f"python generate.py {verb}",
                          also=beside("prod"))
    stubber.assert_no_pending_responses()
    return next(r for s in report.stacks for r in s.resources if r.logical_id == "FileSystem")


def test_the_whole_policy_in_its_stored_form_is_ignored_with_reason_and_source():
    policy = template_policy()
    assert all(s["Resource"] == ["*"] for s in policy["Statement"])  # what the template says
    fs = file_system([("/FileSystemPolicy", json.dumps(policy), json.dumps(stored(policy)), "NOT_EQUAL")])
    assert fs.status == "IGNORED"
    assert ("stores a file system policy statement's Resource \"*\" as the file "
            "system's own ARN" in fs.differences[0].ignored)
    assert "terraform-provider-aws/issues/32077" in fs.differences[0].ignored


@pytest.mark.parametrize("path, expected, actual", [
    ("/FileSystemPolicy/Statement/0/Resource", '["*"]', json.dumps(OWN_ARN)),
    ("/FileSystemPolicy/Statement/1/Resource/0", '"*"', json.dumps(OWN_ARN)),
    ("/FileSystemPolicy/Statement/2/Resource", '"*"', json.dumps([OWN_ARN])),
])
def test_the_stored_form_at_any_depth_is_ignored(path, expected, actual):
    assert file_system([(path, expected, actual, "NOT_EQUAL")]).status == "IGNORED"


def test_another_file_systems_arn_is_drift():
    fs = file_system([("/FileSystemPolicy/Statement/0/Resource/0", '"*"', json.dumps(OTHER_ARN), "NOT_EQUAL")])
    assert fs.status == "MODIFIED" and fs.security and not fs.differences[0].ignored


def test_a_real_policy_change_beside_the_stored_form_is_drift():
    policy = template_policy()
    changed = stored(policy)
    changed["Statement"] = [s for s in changed["Statement"] if s["Sid"] != "DenyWithoutAccessPoint"]  # by hand
    fs = file_system([("/FileSystemPolicy", json.dumps(policy), json.dumps(changed), "NOT_EQUAL")])
    assert fs.status == "MODIFIED" and fs.security and not fs.differences[0].ignored
    assert drift.guidance(fs).startswith("security-relevant")
