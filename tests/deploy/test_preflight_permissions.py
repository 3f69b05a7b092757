"""The plan role (templates/ci.py) may make exactly the reads preflight makes: the actions are derived from a moto
run over the recreated seed (counted by deploy/aws.py's call counter), not listed by hand."""

from __future__ import annotations

import boto3
import pytest

from deploy import preflight
from deploy.aws import connect
from deploy.context import Ctx
from deploy.ui import Out
from scripts.recreate_seed import recreate
from templates import identity
from templates.config import load_params

from .conftest import REGION, confirm_prod, push_image

# IAM User Guide, GetCallerIdentity: "No permissions are required to perform this operation."
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def plan_role_actions(p) -> dict[str, set[str]]:
    """Sid -> actions of the plan role's Allow statements."""
    role = identity.build(p).to_dict()["Resources"]["GitHubPlanRole"]
    statements = [s for pol in role["Properties"]["Policies"] for s in pol["PolicyDocument"]["Statement"]]
    return {s["Sid"]: set(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            for s in statements if s["Effect"] == "Allow"}


@pytest.fixture
def seeded_prod(moto, project, monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    seed = recreate(boto3.Session(), REGION)
    certificate = boto3.client("acm", region_name=REGION).request_certificate(DomainName="api.wwhd-takeover.net")
    push_image("wwhd-dev-backend", "2025-11-07")
    confirm_prod(project, account_id=seed.account,
                 network={"vpc_id": seed.vpc_id, "subnet_ids": seed.subnet_ids, "assign_public_ip": True},
                 domain={"name": "api.wwhd-takeover.net", "hosted_zone_id": "Z0TAKEOVER0ZONE",
                         "certificate_arn": certificate["CertificateArn"]})
    return load_params("prod", project / "params")


def called(p, project) -> set[str]:
    """IAM actions of the calls one preflight run made. The counter names a call by botocore's event name
    (``secrets-manager:DescribeSecret``); the IAM prefix of these services is their signing name
    (``secretsmanager``)."""
    ctx = Ctx(p=p, aws=connect(None, p.region), out=Out(), home=project)
    preflight.run(ctx, "123456789012", None)
    models = [ctx.aws.client(s).meta.service_model for s in (*preflight.SERVICES, "sts")]
    prefix = {m.service_id.hyphenize(): m.signing_name for m in models}
    actions = {f"{prefix[service]}:{operation}" for service, operation in (k.split(":") for k in ctx.aws.calls)}
    return actions - NEEDS_NO_PERMISSION


def test_the_plan_role_allows_every_read_preflight_makes_and_no_other(seeded_prod, project):
    calls = called(seeded_prod, project)
    # every kind of check ran: names, references, the image
    assert {"ecs:DescribeClusters", "ecs:DescribeServices", "logs:DescribeLogGroups", "logs:ListTagsForResource",
            "secretsmanager:DescribeSecret", "iam:GetOpenIDConnectProvider", "ec2:DescribeVpcs", "ec2:DescribeSubnets",
            "route53:GetHostedZone", "acm:DescribeCertificate", "ecr:DescribeRepositories",
            "ecr:DescribeImages"} <= calls
    allowed = plan_role_actions(seeded_prod)
    granted = set().union(*allowed.values())
    assert sorted(calls - granted) == []
    preflight_only = set().union(*(a for sid, a in allowed.items() if sid.startswith("Preflight")))
    assert sorted(preflight_only - calls) == []  # exactly: nothing granted for preflight that it does not call


def test_a_created_repository_adds_its_tag_read(moto, project):
    """dev creates its repository: preflight reads the tags of one that exists, and the plan role may."""
    boto3.client("ecr", region_name=REGION).create_repository(repositoryName="wwhd-backend-dev")
    p = load_params("dev", project / "params")
    calls = called(p, project)
    assert "ecr:ListTagsForResource" in calls
    dev_with_ci = p.model_copy(update={"ci": load_params("prod").ci.model_copy(
        update={"github_repository": "wwhd/wwhd-backend"})})
    assert "ecr:ListTagsForResource" in plan_role_actions(dev_with_ci)["PreflightRepository"]
