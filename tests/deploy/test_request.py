"""What a plan asks CloudFormation for: parameters (given, else the previous value on UPDATE, else the template's
default on CREATE), capabilities (IAM always, AUTO_EXPAND only for a Transform), tags and the service role."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.context import Ctx, PlanOptions
from deploy.package import Packaged, uses_transform
from deploy.pipeline import _parameters, _request
from deploy.stacks import StackInfo
from templates.config import load_params

DEPLOYED = StackInfo("arn", "wwhd-prod", "UPDATE_COMPLETE", parameters={"ImageTag": "2025-11-07", "DesiredCount": "1"})


@pytest.mark.parametrize("info, kind, opts, expected", [
    (DEPLOYED, "UPDATE", PlanOptions(image_tag="abc1234"),
     [{"ParameterKey": "ImageTag", "ParameterValue": "abc1234"},
      {"ParameterKey": "DesiredCount", "UsePreviousValue": True}]),
    (DEPLOYED, "UPDATE", PlanOptions(),
     [{"ParameterKey": "ImageTag", "UsePreviousValue": True},
      {"ParameterKey": "DesiredCount", "UsePreviousValue": True}]),
    (DEPLOYED, "UPDATE", PlanOptions(desired_count=0),
     [{"ParameterKey": "ImageTag", "UsePreviousValue": True}, {"ParameterKey": "DesiredCount", "ParameterValue": "0"}]),
    (None, "CREATE", PlanOptions(), []),
    (None, "CREATE", PlanOptions(image_tag="v1"), [{"ParameterKey": "ImageTag", "ParameterValue": "v1"}]),
])
def test_parameters(info, kind, opts, expected):
    assert _parameters(info, kind, opts) == expected


def packaged(transform: bool) -> Packaged:
    return Packaged("bucket", "https://bucket.s3.us-west-2.amazonaws.com/wwhd-prod/x.yaml", Path("root.yaml"), "",
                    {}, has_transform=transform)


@pytest.mark.parametrize("transform, capabilities", [(False, ("CAPABILITY_IAM",)),
                                                     (True, ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"))])
def test_request_capabilities_tags_role_and_name(transform, capabilities):
    ctx = Ctx(p=load_params("prod"), aws=None, out=None, home=Path("."),
              now=lambda: datetime(2025, 11, 7, 12, 0, 0, tzinfo=UTC))
    req = _request(ctx, DEPLOYED, "UPDATE", packaged(transform),
                   PlanOptions(role_arn="arn:aws:iam::018025611404:role/x"))
    assert req.capabilities == capabilities
    assert req.tags == {"app": "wwhd", "env": "prod", "managed-by": "wwhd-infra"}
    assert req.role_arn == "arn:aws:iam::018025611404:role/x" and req.nested
    assert req.name == "wwhd-prod-20251107120000-2025-11-07"  # the deployed tag when none is given


@pytest.mark.parametrize("body, expected", [
    ("AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n", False),
    ("Transform: AWS::Serverless-2016-10-31\nResources: {}\n", True),
    ("Resources:\n  X:\n    Fn::Transform:\n      Name: AWS::Include\n", True),
    ("Description: mentions a Transform in prose\n", False),
])
def test_auto_expand_only_for_templates_with_a_transform(body, expected):
    assert uses_transform(body) is expected


def test_no_generated_template_has_a_transform():
    from templates import render

    for env in ("dev", "prod"):
        assert not any(uses_transform(body) for body in render(load_params(env)).values())
