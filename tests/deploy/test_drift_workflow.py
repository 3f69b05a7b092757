"""The nightly drift workflow: scheduled, read-only role through OIDC, the Markdown review as the job summary, the
same action versions as the deploy workflow, and every generate.py command parses."""

from __future__ import annotations

from pathlib import Path

import yaml

import generate
from templates import ci

from .test_workflow import generate_commands, runs, triggers, uses

REPO = Path(__file__).resolve().parents[2]
DRIFT = REPO / ".github/workflows/drift.yml"
DEPLOY = REPO / ".github/workflows/deploy-backend.yml"


def _job() -> dict:
    return yaml.safe_load(DRIFT.read_text())["jobs"]["drift"]


def test_runs_every_night_and_on_demand():
    wf = yaml.safe_load(DRIFT.read_text())
    on = triggers(wf)
    assert on["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"] and "workflow_dispatch" in on
    assert wf["permissions"] == {}  # the job says what it needs
    assert wf["jobs"]["drift"]["permissions"] == {"contents": "read", "id-token": "write"}


def test_detects_prod_drift_and_posts_the_markdown():
    job = _job()
    commands = [argv for script in runs(job) for argv in generate_commands(script)]
    assert len(commands) == 1
    args = generate.build_parser().parse_args(commands[0])
    assert commands[0][0] == "drift" and args.env == "prod"
    assert any(f'cat {args.markdown} >> "$GITHUB_STEP_SUMMARY"' in s for s in runs(job))
    summary = next(s for s in job["steps"] if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["if"] == "always()"  # drift fails the job, and the review is still posted


def test_assumes_the_read_only_drift_role():
    creds = next(s for s in uses(_job()) if s["uses"].startswith("aws-actions/configure-aws-credentials@"))
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_DRIFT_ROLE_ARN }}"
    assert str(ci.Out.DriftRoleArn) == "DriftRoleArn"
    assert _job()["permissions"] == {"contents": "read", "id-token": "write"}


def test_uses_the_same_actions_as_the_deploy_workflow():
    deploy = {s["uses"] for job in yaml.safe_load(DEPLOY.read_text())["jobs"].values() for s in uses(job)}
    assert {s["uses"] for s in uses(_job())} <= deploy


def test_apply_repeats_the_plans_drift_from_its_json_review():
    jobs = yaml.safe_load(DEPLOY.read_text())["jobs"]
    apply = next(argv for s in runs(jobs["apply"]) for argv in generate_commands(s) if argv[0] == "apply")
    plan = next(argv for s in runs(jobs["plan"]) for argv in generate_commands(s) if argv[0] == "plan")
    assert apply[apply.index("--review") + 1] == plan[plan.index("--json") + 1]
