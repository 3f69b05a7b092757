"""The GitHub Actions workflow parses, has the jobs the deploy flow needs, uses OIDC (never stored keys), and every
``generate.py`` command it runs exists and parses with the real argument parser."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

import generate
from templates.config import environments, load_params

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github/workflows/deploy-backend.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def triggers(wf: dict) -> dict:
    return wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def uses(job: dict) -> list[dict]:
    return [step for step in job["steps"] if "uses" in step]


def generate_commands(script: str) -> list[list[str]]:
    """Every ``python generate.py ...`` in a shell script, as argv after the script name."""
    script = re.sub(r"\\\n\s*", " ", script)
    script = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", script)  # GitHub expressions
    script = re.sub(r"\$\{(\w+):\+[^}]*\}", "", script)  # ${VAR:+--flag "$VAR"}: absent in the worst case
    found = []
    for match in re.finditer(r"python generate\.py([^;&|\n]*)", script):
        argv = shlex.split(match.group(1).replace(">>", " "))
        found.append([re.sub(r"\$\w+", "VALUE", a) for a in argv])
    return found


def test_triggers_are_pull_requests_and_main(workflow):
    on = triggers(workflow)
    assert "pull_request" in on and on["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read"}


def test_check_job_runs_freshness_lint_and_tests(workflow):
    scripts = " ".join(runs(workflow["jobs"]["check"]))
    assert "pip install -e '.[test]'" in scripts
    assert "python generate.py --check" in scripts
    assert "python generate.py && git diff --exit-code" in scripts  # lint (cfn-lint + guardrails) on a fresh build
    assert "python -m pytest" in scripts


def test_plan_job_posts_the_markdown_review_as_the_job_summary(workflow):
    job = workflow["jobs"]["plan"]
    assert job["needs"] == "check" and job["permissions"]["id-token"] == "write"
    commands = [argv for script in runs(job) for argv in generate_commands(script)]
    plan = next(argv for argv in commands if argv[0] == "plan")
    assert plan[plan.index("--env") + 1] == "prod"
    markdown = plan[plan.index("--markdown") + 1]
    assert any(f"cat {markdown} >> \"$GITHUB_STEP_SUMMARY\"" in script for script in runs(job))
    assert "--role-arn" in plan and "--json" in plan
    upload = next(step for step in uses(job) if step["uses"].startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == plan[plan.index("--json") + 1]


def test_apply_job_executes_the_planned_change_set_in_the_protected_environment(workflow):
    job = workflow["jobs"]["apply"]
    assert job["needs"] == "plan" and "refs/heads/main" in job["if"]
    assert job["environment"] == load_params("prod").ci.deploy_environment  # the deploy role trusts only this
    assert job["concurrency"]["cancel-in-progress"] is False
    commands = [argv for script in runs(job) for argv in generate_commands(script)]
    apply = next(argv for argv in commands if argv[0] == "apply")
    assert "--change-set" in apply and "--yes" not in apply  # a change set given is the confirmation
    download = next(step for step in uses(job) if step["uses"].startswith("actions/download-artifact@"))
    assert download["with"]["name"] == "plan"


def test_aws_access_is_oidc_only(workflow):
    text = WORKFLOW.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text and "secrets." not in text
    for name in ("plan", "apply"):
        creds = next(s for s in uses(workflow["jobs"][name]) if s["uses"].startswith("aws-actions/configure-aws-credentials@"))
        assert creds["with"]["role-to-assume"].startswith("${{ vars.")
    roles = {s["with"]["role-to-assume"] for j in ("plan", "apply") for s in uses(workflow["jobs"][j]) if "role-to-assume" in s.get("with", {})}
    assert roles == {"${{ vars.AWS_PLAN_ROLE_ARN }}", "${{ vars.AWS_DEPLOY_ROLE_ARN }}"}


def test_every_generate_command_exists_and_parses(workflow):
    parser = generate.build_parser()
    subcommands = set(parser._subparsers._group_actions[0].choices)  # the registered commands
    commands = [argv for job in workflow["jobs"].values() for script in runs(job) for argv in generate_commands(script)]
    assert len(commands) >= 5
    for argv in commands:
        args = parser.parse_args(argv)  # SystemExit on anything the parser does not know
        if argv and not argv[0].startswith("-"):
            assert argv[0] in subcommands
            assert args.env in environments(), argv


def test_actions_are_pinned_to_a_version(workflow):
    for job in workflow["jobs"].values():
        for step in uses(job):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]
