"""Who CloudFormation acts as, in every review (deploy/review.py ActsAs).

The rule (CloudFormation API reference, CreateChangeSet and UpdateStack, ``RoleARN``): CloudFormation uses the given
role for this and all future operations on the stack; "if you don't specify a value, CloudFormation uses the role that
was previously associated with the stack. If no role is available, CloudFormation uses a temporary session that is
generated from your user credentials". DescribeStacks returns that role as ``Stack.RoleARN``; DescribeChangeSet
returns none. moto keeps the ``RoleARN`` of a CREATE change set on the stack it creates, as CloudFormation does.
"""

from __future__ import annotations

import io
import json

import boto3
import pytest
from rich.console import Console

from deploy import changeset, review, simulate
from deploy.aws import Aws
from deploy.stacks import describe
from deploy.ui import Out, Rich

from . import recorded as r
from .conftest import REGION

ROLE = "arn:aws:iam::123456789012:role/wwhd-dev-CloudFormationExecutionRole"
OTHER = "arn:aws:iam::123456789012:role/ops/wwhd-dev-OperatorDeployRole"


@pytest.fixture
def allowed(monkeypatch):
    """``--role-arn`` runs the simulated-permissions preflight; moto has no SimulatePrincipalPolicy, so IAM's answer
    is "allowed" for every probe (tests/deploy/test_simulate.py covers the denials)."""
    monkeypatch.setattr(simulate, "simulate", lambda iam, role_arn, asked: [
        simulate.Finding(a, res, "allowed") for x in asked for a in x.actions for res in x.resources])


@pytest.fixture
def with_role(moto, project, cli, allowed, shared_setup):
    """dev created by a change set that named the execution role (as CI does): the stack keeps that role. Made once
    per test process (tests/deploy/moto_state.py)."""

    def make():
        assert cli("bootstrap", "--env", "dev", "--yes").code == 0
        return cli("apply", "--env", "dev", "--image-tag", "v1", "--role-arn", ROLE, "--yes")

    result = shared_setup("with_role", make)
    assert result.code == 0, result.out + result.err
    assert f"acts as: {ROLE} (the role given with --role-arn)" in result.out
    return result


def lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_describe_carries_the_stacks_role(with_role):
    info = describe(Aws(boto3.Session(region_name=REGION), REGION), "wwhd-dev")
    assert info.status == "CREATE_COMPLETE" and info.role_arn == ROLE


def test_describe_of_a_stack_without_a_role_has_none(deployed):
    assert describe(Aws(boto3.Session(region_name=REGION), REGION), "wwhd-dev").role_arn is None


def test_a_plan_without_role_arn_says_it_acts_as_the_stacks_role(with_role, project, cli):
    plan = cli("plan", "--env", "dev", "--image-tag", "v2", "--json", "plan.json", "--markdown", "plan.md")
    assert plan.code == 0, plan.err
    assert f"acts as: {ROLE} (the stack's service role, used because no --role-arn was given)" in lines(plan.out)
    planned = json.loads((project / "plan.json").read_text())
    assert planned["actsAs"] == {"roleArn": ROLE, "source": "stack", "certain": True}
    md = (project / "plan.md").read_text()
    assert (f"> [!IMPORTANT]\n> **Acts as**: {review.md_code(ROLE)} "
            f"({review.md_text(review.ActsAs(ROLE, 'stack').why)}).") in md

    # apply --change-set rebuilds the review from DescribeChangeSet, which has no RoleARN: the stack's, not certain
    applied = cli("apply", "--env", "dev", "--change-set", planned["changeSetName"])
    assert applied.code == 0, applied.err
    assert (f"acts as: {ROLE} (the stack's service role, unless the plan gave another with --role-arn "
            "(DescribeChangeSet does not return the role a change set was created with))" in lines(applied.out))


def test_an_unchanged_plan_still_records_who_would_act(with_role, project, cli):
    same = cli("plan", "--env", "dev", "--json", "same.json")
    assert same.code == 0 and "No changes" in same.out
    unchanged = json.loads((project / "same.json").read_text())
    assert unchanged["noChanges"] is True
    assert unchanged["actsAs"] == {"roleArn": ROLE, "source": "stack", "certain": True}


def test_a_plan_with_role_arn_says_given(with_role, project, cli):
    plan = cli("plan", "--env", "dev", "--image-tag", "v2", "--role-arn", OTHER, "--json", "plan.json",
               "--markdown", "plan.md")
    assert plan.code == 0, plan.err
    assert f"acts as: {OTHER} (the role given with --role-arn)" in lines(plan.out)
    assert "stack's service role" not in plan.out
    assert json.loads((project / "plan.json").read_text())["actsAs"] == {"roleArn": OTHER, "source": "given",
                                                                         "certain": True}
    md = (project / "plan.md").read_text()
    assert f"\n**Acts as**: {review.md_code(OTHER)} (the role given with --role-arn).\n" in md
    assert "[!IMPORTANT]\n> **Acts as**" not in md


def test_a_fresh_stack_acts_as_the_callers_credentials(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    plan = cli("plan", "--env", "dev", "--image-tag", "v1", "--json", "plan.json", "--markdown", "plan.md")
    assert plan.code == 0, plan.err
    assert "acts as: your own credentials (no service role)" in lines(plan.out)
    assert json.loads((project / "plan.json").read_text())["actsAs"] == {"roleArn": None, "source": "caller",
                                                                         "certain": True}
    assert f"**Acts as**: {review.md_text('your own credentials (no service role)')}." in \
        (project / "plan.md").read_text()


def test_a_stack_deployed_without_a_role_acts_as_the_caller_on_update(deployed, project, cli):
    plan = cli("plan", "--env", "dev", "--image-tag", "v2", "--json", "plan.json")
    assert plan.code == 0, plan.err
    assert "acts as: your own credentials (no service role)" in lines(plan.out)
    assert json.loads((project / "plan.json").read_text())["actsAs"]["source"] == "caller"


# --- the model and its renderings, from recorded DescribeChangeSet shapes ------------------------------------------


def recorded_review(who: review.ActsAs | None) -> review.Review:
    aws, stubber = r.stubbed()
    r.expect_tree(stubber, "Conditional", False)
    result = review.build(changeset.describe_tree(aws, r.ROOT_CS), "UPDATE", acts_as=who)
    stubber.assert_no_pending_responses()
    return result


@pytest.mark.parametrize(("given", "stack", "source", "arn"), [
    (OTHER, ROLE, "given", OTHER),  # the given role wins over the stack's
    (OTHER, None, "given", OTHER),
    (None, ROLE, "stack", ROLE),
    (None, None, "caller", None),
    ("", ROLE, "stack", ROLE),  # an empty value is no role
])
def test_the_order_is_given_then_stack_then_caller(given, stack, source, arn):
    who = review.acts_as(given, stack)
    assert (who.role_arn, who.source, who.certain) == (arn, source, True)


def test_a_rebuilt_review_is_not_certain_but_a_given_role_is():
    assert review.acts_as(None, ROLE, certain=False).certain is False
    assert review.acts_as(None, None, certain=False).certain is False
    assert str(review.acts_as(None, None, certain=False)) == (
        "your own credentials (no service role), unless the plan gave --role-arn (DescribeChangeSet does not return "
        "the role a change set was created with)")


def test_every_rendering_agrees():
    who = review.acts_as(None, ROLE)
    result = recorded_review(who)
    buf = io.StringIO()
    review.show(result, Out(stdout=buf))
    text = buf.getvalue().splitlines()
    assert text[1] == f"acts as: {ROLE} (the stack's service role, used because no --role-arn was given)"
    buf = io.StringIO()
    review.show(result, Rich(console=Console(file=buf, force_terminal=True, width=200, color_system=None)))
    assert f"acts as: {ROLE} (the stack's service role, used because no --role-arn was given)" in buf.getvalue()
    assert review.as_json(result)["actsAs"] == {"roleArn": ROLE, "source": "stack", "certain": True}
    md = review.markdown(result)
    assert f"> **Acts as**: {review.md_code(ROLE)} ({review.md_text(who.why)})." in md


def test_a_review_without_the_identity_renders_none():
    result = recorded_review(None)
    buf = io.StringIO()
    review.show(result, Out(stdout=buf))
    assert "acts as" not in buf.getvalue()
    assert review.as_json(result)["actsAs"] is None
    assert "Acts as" not in review.markdown(result)


def test_markdown_renders_the_arn_inert():
    """An ARN is data (IAM allows ``+=,.@_-`` in role names and paths): it cannot open a code span, a table cell,
    HTML, a mention or a link in the pull request comment."""
    hostile = "arn:aws:iam::123456789012:role/a`b|c<script>@ops_[x](http://e.example)*"
    md = review.markdown(recorded_review(review.acts_as(hostile, None)))
    line = next(x for x in md.splitlines() if "**Acts as**" in x)
    assert line == f"**Acts as**: {review.md_code(hostile)} (the role given with --role-arn)."
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(line)
    assert html.count("<code>") == 1 and "<script>" not in html and "<a " not in html and "<em>" not in html
    assert "@\u200dops" in html  # no mention: a zero-width joiner (deploy/markdown.py)
