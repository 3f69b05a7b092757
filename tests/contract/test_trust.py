"""Who may assume each GitHub role, judged by the IAM engine against the rendered trust policies.

The tokens: GitHub's ``sub`` claim under the repository's subject template ``repo, context, job_workflow_ref``
(templates/ci.py ``SUBJECT_CLAIM_KEYS``; GitHub Docs, "OpenID Connect reference", "Customizing the subject claims":
``repo:<owner/repo>:<context>:job_workflow_ref:<owner/repo>/<workflow file>@<ref>``). The context is
``environment:<name>`` for a job that references an environment, ``pull_request`` for a pull request's job without
one, else ``ref:<ref>``; ``pull_request_target``, ``issue_comment``, ``workflow_run`` and ``schedule`` run in the
default branch's context (GitHub Docs, "Events that trigger workflows"). IAM matches only the standard claims of a
GitHub token (GitHub Docs, "Configuring OpenID Connect in Amazon Web Services"), ``sub`` and ``aud`` here.

Each role must be assumable by exactly its own jobs of this repository's workflow files, and by nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from templates import identity
from templates.ci import DEPLOY_WORKFLOW, DRIFT_WORKFLOW, STS_AUDIENCE
from templates.config import load_params
from templates.names import GITHUB_OIDC_HOST

from .iam_engine import Engine, Request, trust_policy
from .resolve import Place

ACCOUNT = "018025611404"
REPO = "wwhd/wwhd-backend"
MAIN = "refs/heads/main"
ROLES = ("GitHubPullRequestRole", "GitHubPlanRole", "GitHubDeployRole", "GitHubDriftRole")
ROOT = Path(__file__).resolve().parents[2]


def sub(context: str, workflow: str, ref: str, repo: str = REPO) -> str:
    return f"repo:{repo}:{context}:job_workflow_ref:{repo}/{workflow}@{ref}"


# token subject -> the one role it may assume (None: none)
TOKENS = {
    # this repository's own jobs (.github/workflows/deploy-backend.yml, drift.yml)
    "pull request: plan job": (sub("pull_request", DEPLOY_WORKFLOW, "refs/pull/42/merge"), "GitHubPullRequestRole"),
    "main: plan job": (sub(f"ref:{MAIN}", DEPLOY_WORKFLOW, MAIN), "GitHubPlanRole"),
    "main: push and apply jobs (environment production)": (
        sub("environment:production", DEPLOY_WORKFLOW, MAIN), "GitHubDeployRole"),
    "nightly drift (schedule)": (sub(f"ref:{MAIN}", DRIFT_WORKFLOW, MAIN), "GitHubDriftRole"),
    # other events and files of the same repository, which GitHub runs in the default branch's context
    "pull_request_target in another file": (sub(f"ref:{MAIN}", ".github/workflows/triage.yml", MAIN), None),
    "issue_comment in another file": (sub(f"ref:{MAIN}", ".github/workflows/comment.yml", MAIN), None),
    "workflow_run in another file": (sub(f"ref:{MAIN}", ".github/workflows/after-build.yml", MAIN), None),
    "another file that references the production environment": (
        sub("environment:production", ".github/workflows/release.yml", MAIN), None),
    # the deploy workflow run from another branch (workflow_dispatch), with or without the environment
    "deploy workflow dispatched on another branch": (
        sub("ref:refs/heads/feature", DEPLOY_WORKFLOW, "refs/heads/feature"), None),
    "deploy workflow, environment production, another branch": (
        sub("environment:production", DEPLOY_WORKFLOW, "refs/heads/feature"), None),
    # a pull request's job reaching for main's roles, and main's jobs in other repositories
    "pull request claiming main's ref": (sub("pull_request", DEPLOY_WORKFLOW, MAIN), None),
    "the same workflow in a fork": (sub(f"ref:{MAIN}", DEPLOY_WORKFLOW, MAIN, repo="someone/wwhd-backend"), None),
    # the default subject template (the repository setting not made): nothing matches, CI fails closed
    "default template: main": (f"repo:{REPO}:ref:{MAIN}", None),
    "default template: pull request": (f"repo:{REPO}:pull_request", None),
    "default template: environment": (f"repo:{REPO}:environment:production", None),
}


@pytest.fixture(scope="module")
def rendered():
    prod = load_params("prod")
    p = prod.model_copy(update={"ci": prod.ci.model_copy(update={"github_repository": REPO})})
    template = identity.build(p).to_dict()
    place = Place(ACCOUNT, p.region, f"{p.stack_name}-identity")
    engine = Engine(ACCOUNT, resource_policies={role: trust_policy(template, role, place) for role in ROLES})
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB_OIDC_HOST}"
    return engine, provider


def _judge(rendered, subject: str, audience: str = STS_AUDIENCE) -> dict[str, str]:
    engine, provider = rendered
    requests = [Request(provider, "sts:AssumeRoleWithWebIdentity", f"arn:aws:iam::{ACCOUNT}:role/{role}", trust=True,
                        resource_policy=role, why=role,
                        context=((f"{GITHUB_OIDC_HOST}:sub", subject), (f"{GITHUB_OIDC_HOST}:aud", audience)))
             for role in ROLES]
    return {v.request.why: v.result for v in engine.judge(requests)}


@pytest.mark.parametrize("token", sorted(TOKENS))
def test_each_token_assumes_exactly_its_own_role(rendered, token):
    subject, role = TOKENS[token]
    verdicts = _judge(rendered, subject)
    assert {r for r, result in verdicts.items() if result == "Allowed"} == ({role} if role else set()), verdicts


def test_another_audience_assumes_nothing(rendered):
    subject, _ = TOKENS["main: plan job"]
    assert set(_judge(rendered, subject, audience="https://github.com/wwhd").values()) == {"ImplicitlyDenied"}


def test_the_workflows_have_only_the_triggers_the_trust_expects():
    """The trust cannot tell events apart within one workflow file on main (a pull_request_target added to
    deploy-backend.yml would carry main's subject): so the files' triggers are pinned here, and such a change fails
    the suite (and zizmor's dangerous-triggers audit)."""
    def on(path: str) -> set[str]:
        doc = yaml.safe_load((ROOT / path).read_text())
        return set(doc.get("on", doc.get(True)))

    assert on(DEPLOY_WORKFLOW) == {"pull_request", "push", "workflow_dispatch"}
    assert on(DRIFT_WORKFLOW) == {"schedule", "workflow_dispatch"}
