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
    assert workflow["permissions"] == {}  # each job says what it needs


def test_check_job_runs_freshness_lint_and_tests(workflow):
    scripts = " ".join(runs(workflow["jobs"]["check"]))
    assert "pip install -e '.[test]'" in scripts
    assert "python generate.py check" in scripts
    assert "npm ci --prefix tests/contract/iam-engine" in scripts  # the contract suite's IAM engine
    assert "python generate.py && git diff --exit-code" in scripts  # lint (cfn-lint + guardrails) on a fresh build
    assert "python -m pytest" in scripts


def test_plan_job_posts_the_markdown_review_as_the_job_summary(workflow):
    job = workflow["jobs"]["plan"]
    assert job["needs"] == ["check", "push"] and job["permissions"]["id-token"] == "write"
    commands = [argv for script in runs(job) for argv in generate_commands(script)]
    plan = next(argv for argv in commands if argv[0] == "plan")
    assert plan[plan.index("--env") + 1] == "prod"
    markdown = plan[plan.index("--markdown") + 1]
    assert any(f"cat {markdown} >> \"$GITHUB_STEP_SUMMARY\"" in script for script in runs(job))
    assert "--role-arn" in plan and "--json" in plan
    upload = next(step for step in uses(job) if step["uses"].startswith("actions/upload-artifact@"))
    # relative to the project's folder (INFRA_DIR), where the plan step runs
    assert upload["with"]["path"] == "${{ vars.INFRA_DIR || '.' }}/" + plan[plan.index("--json") + 1]
    assert job["defaults"]["run"]["working-directory"] == "${{ vars.INFRA_DIR || '.' }}"


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
    for name in ("push", "plan", "apply"):
        creds = next(s for s in uses(workflow["jobs"][name])
                     if s["uses"].startswith("aws-actions/configure-aws-credentials@"))
        assert "vars.AWS_" in creds["with"]["role-to-assume"]
    roles = {s["with"]["role-to-assume"] for j in ("push", "plan", "apply") for s in uses(workflow["jobs"][j])
             if "role-to-assume" in s.get("with", {})}
    assert roles == {"${{ github.event_name == 'pull_request' && vars.AWS_PULL_REQUEST_ROLE_ARN || "
                     "vars.AWS_PLAN_ROLE_ARN }}",
                     "${{ vars.AWS_DEPLOY_ROLE_ARN }}"}


def test_every_generate_command_exists_and_parses(workflow):
    parser = generate.build_parser()
    subcommands = set(parser._subparsers._group_actions[0].choices)  # the registered commands
    commands = [argv for job in workflow["jobs"].values() for script in runs(job) for argv in generate_commands(script)]
    assert len(commands) >= 5
    for argv in commands:
        args = parser.parse_args(argv)  # SystemExit on anything the parser does not know
        if argv and not argv[0].startswith("-"):
            assert argv[0] in subcommands
            if hasattr(args, "env"):  # the AWS verbs take one --env; build and check take --env to narrow
                assert args.env in environments(), argv


def test_every_action_is_pinned_to_a_commit_sha_with_its_tag(workflow):
    """A tag can be moved; a full commit SHA cannot. The comment names the release it is (resolved from the action's
    own repository)."""
    lines = [line.strip() for line in WORKFLOW.read_text().splitlines() if line.strip().startswith("- uses:")]
    assert len(lines) == sum(len(uses(job)) for job in workflow["jobs"].values()) >= 10
    for line in lines:
        assert re.fullmatch(r"- uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line
    shas = {}
    for line in lines:
        action, sha = line.split()[2].split("@")
        assert shas.setdefault(action, sha) == sha, f"{action} pinned to two commits"


def test_checkouts_do_not_persist_credentials(workflow):
    for name, job in workflow["jobs"].items():
        for step in uses(job):
            if step["uses"].startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def test_each_job_has_least_permissions(workflow):
    for name, job in workflow["jobs"].items():
        perms = job["permissions"]
        assert perms.get("contents") == "read" and set(perms) <= {"contents", "id-token"}, name
        assert ("id-token" in perms) == (name in {"push", "plan", "apply"}), name  # only jobs that assume a role


def test_no_expression_inside_a_run_script(workflow):
    """Template injection: values reach scripts through env, never as ${{ }} pasted into the shell."""
    for name, job in workflow["jobs"].items():
        for script in runs(job):
            assert "${{" not in script, name


def test_a_pull_request_builds_but_pushes_nothing(workflow):
    on_pr = workflow["jobs"]["build"]
    assert on_pr["if"] == "github.event_name == 'pull_request'"
    assert "docker build" in " ".join(runs(on_pr)) and "docker push" not in " ".join(runs(on_pr))
    assert not any(s["uses"].startswith("aws-actions/") for s in uses(on_pr))
    push = workflow["jobs"]["push"]
    assert push["if"] == "github.event_name != 'pull_request'" and push["environment"] == "production"
    assert "docker push" in " ".join(runs(push))
    for name, job in workflow["jobs"].items():
        if name != "push":
            assert "docker push" not in " ".join(runs(job)), name


def test_main_pushes_the_commit_sha_and_deploys_exactly_that_tag(workflow):
    push = workflow["jobs"]["push"]
    step = next(s for s in push["steps"] if s.get("id") == "image")
    assert step["env"]["SHA"] == "${{ github.sha }}"
    assert 'echo "image_tag=$SHA" >> "$GITHUB_OUTPUT"' in step["run"]
    assert push["outputs"]["image_tag"] == "${{ steps.image.outputs.image_tag }}"
    plan_step = next(s for s in workflow["jobs"]["plan"]["steps"] if s.get("name", "").startswith("Plan"))
    assert plan_step["env"]["IMAGE_TAG"] == "${{ needs.push.outputs.image_tag }}"
    commands = [argv for argv in generate_commands(plan_step["run"]) if argv[0] == "plan"]
    pull_request, main = commands
    assert "--pull-request" in pull_request and "--image-tag" not in " ".join(pull_request)
    assert "--pull-request" not in main and '${IMAGE_TAG:+--image-tag "$IMAGE_TAG"}' in plan_step["run"]


def test_the_scan_wait_is_bounded_and_critical_findings_stop_the_deploy(workflow):
    assert int(workflow["env"]["SCAN_WAIT_SECONDS"]) <= 900
    scan = next(s for s in workflow["jobs"]["push"]["steps"] if s.get("name",
                                                                      "").startswith("Preflight the repository"))
    script = scan["run"]
    assert "describe-image-scan-findings" in script and "SCAN_WAIT_SECONDS" in script and "deadline" in script
    assert "findingSeverityCounts.CRITICAL" in script and "exit 1" in script
    assert "scanOnPush" in script  # a repository without scanning warns instead of waiting forever
    assert "imageTagMutability" in script and "::warning::" in script  # the seed's mutable repository is named
    # apply runs only after plan, which needs the push (and its scan) to have succeeded on main
    assert "needs.push.result == 'success'" in workflow["jobs"]["plan"]["if"]


def test_zizmor_finds_nothing(tmp_path):
    import shutil
    import subprocess
    import sys

    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if not Path(zizmor).exists():
        pytest.skip("zizmor not installed (setup.cfg test extras)")
    r = subprocess.run([zizmor, "--offline", "--no-progress", str(WORKFLOW.parent)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ci_plans_and_applies_never_detect_drift(workflow):
    """Drift detection reads every resource with the caller's credentials (secret values included): the plan,
    pull-request and deploy roles hold no such reads (templates/ci.py), so CI's plan and apply pass --no-drift and the
    nightly drift workflow, with its read-only role, detects drift (tests/deploy/test_ci_contract.py records the jobs
    with these flags)."""
    commands = [argv for job in ("plan", "apply") for script in runs(workflow["jobs"][job])
                for argv in generate_commands(script) if argv and argv[0] in ("plan", "apply")]
    assert len(commands) == 3 and all("--no-drift" in argv for argv in commands)


def python_snippets(script: str) -> list[str]:
    """The ``python -c '...'`` programs of a shell script, as the shell passes them."""
    return [shlex.split(f"'{m}'")[0] for m in re.findall(r"python -c '([^']*)'", script)]


def test_the_apply_jobs_own_snippets_read_a_fresh_plan_json(workflow, deployed, cli, tmp_path):
    """The deploy job decides from plan.json with two python -c programs: "no changes?" and "which change set?". Run
    exactly those, as the workflow does, against the JSON a fresh plan writes (schemaVersion 2), changed and not."""
    import json
    import subprocess
    import sys

    snippets = [s for script in runs(workflow["jobs"]["apply"]) for s in python_snippets(script)]
    assert len(snippets) == 2, snippets
    no_changes, change_set = snippets

    def run(program: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True)

    plan = tmp_path / "plan.json"
    changed = cli("plan", "--env", "dev", "--image-tag", "v2", "--json", str(plan))
    assert changed.code == 0, changed.err
    data = json.loads(plan.read_text())
    assert data["schemaVersion"] == 2 and data["imported"] == [] and data["dataLoss"] == []
    assert run(no_changes).returncode == 1  # there is something to apply
    arn = run(change_set).stdout.strip()
    assert arn == data["changeSetArn"] and arn.startswith("arn:aws:cloudformation:")
    applied = cli("apply", "--env", "dev", "--change-set", arn, "--review", str(plan))  # the step after them
    assert applied.code == 0, applied.out + applied.err

    unchanged = cli("plan", "--env", "dev", "--json", str(plan))
    assert unchanged.code == 0 and json.loads(plan.read_text())["noChanges"] is True
    assert run(no_changes).returncode == 0  # "No changes to apply."


def test_every_key_of_the_review_json_is_camel_case_and_every_list_is_present(deployed, cli, tmp_path):
    import json

    plan = tmp_path / "plan.json"
    assert cli("plan", "--env", "dev", "--image-tag", "v2", "--json", str(plan)).code == 0
    data = json.loads(plan.read_text())
    data_keys = {"parameters", "deployedParameters", "added", "removed"}  # maps of names from AWS or IAM: data

    def keys(value, path=""):
        if isinstance(value, dict):
            for k, v in value.items():
                yield path, k
                if k not in data_keys:
                    yield from keys(v, f"{path}.{k}")
        elif isinstance(value, list):
            for item in value:
                yield from keys(item, path)

    bad = [(p, k) for p, k in keys(data) if not re.fullmatch(r"[a-z]+(?:[A-Z0-9][a-z0-9]*)*", k)]
    assert not bad, bad
    for key in ("dataLoss", "singleWriter", "security", "imported", "parameterChanges", "iam", "network", "stacks",
                "preflight"):
        assert isinstance(data[key], list), key
