"""``plan`` is one forward pipeline over one built value (deploy/pipeline.py, deploy/built.py; docs/design.md "The
plan pipeline"): the templates are built once per run, and every later step (the guardrails, preflight's simulation
and identity check, the upload, the diff, the review) reads that value."""

from __future__ import annotations

import io
from collections import Counter

import pytest

import templates
from deploy import simulate
from deploy.aws import connect
from deploy.context import Ctx, PlanOptions
from deploy.ui import Out
from deploy.verbs import plan as plan_verb
from templates import identity as identity_template, root as root_template
from templates.config import load_params

from .conftest import REGION

ROLE = "arn:aws:iam::123456789012:role/wwhd-dev-CloudFormationExecutionRole"


@pytest.fixture
def builds(monkeypatch) -> Counter:
    """Every call of the builders, counted: every template (``templates.build_all``), the identity stack's and the
    root's."""
    counted: Counter = Counter()

    def count(module, name: str) -> None:
        real = getattr(module, name)

        def counting(*args, **kwargs):
            counted[f"{module.__name__}.{name}"] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)

    count(templates, "build_all")
    count(identity_template, "build")
    count(root_template, "build")
    return counted


def test_a_plan_builds_its_templates_once(deployed, project, builds, monkeypatch):
    # --role-arn runs the simulated-permissions preflight, which reads the templates too; moto has no
    # SimulatePrincipalPolicy: every probe is allowed (tests/deploy/test_simulate.py covers the denials)
    monkeypatch.setattr(simulate, "simulate", lambda iam, role_arn, asked: [
        simulate.Finding(a, res, "allowed") for x in asked for a in x.actions for res in x.resources])
    builds.clear()  # what the deployed fixture built does not count
    buf = io.StringIO()
    ctx = Ctx(p=load_params("dev", project / "params"), aws=connect(None, REGION), out=Out(stdout=buf), home=project)
    assert plan_verb.plan(ctx, PlanOptions(image_tag="v2", role_arn=ROLE)) == 0
    out = buf.getvalue()
    assert "execution role permissions" in out or "action-resource pairs allowed" in out  # the simulation ran
    assert "identity stack wwhd-dev-identity" in out  # so did the identity check
    assert "packaged to s3://" in out and "apply it: " in out  # uploaded, planned and reviewed
    assert builds == Counter({"templates.build_all": 1, "templates.identity.build": 1, "templates.root.build": 1})
