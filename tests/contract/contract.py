"""Judge recorded CI jobs against the GitHub roles the identity template renders.

Each job runs as one role (``.github/workflows/deploy-backend.yml`` and ``drift.yml``): its calls become IAM requests
(tests/contract/actions.py), judged in one batch by the engine (tests/contract/iam_engine.py) against that role's
policies as ``templates.identity.build(p)`` renders them, every intrinsic resolved for the test's account and
region (tests/contract/resolve.py), with the template bucket's policy (``templates.bootstrap.build``) as the resource
policy of S3 requests. Nothing here copies a policy: whatever the templates render at test time is what is judged.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from templates import bootstrap, identity
from templates.config import EnvParams
from templates.names import template_bucket

from . import actions
from .iam_engine import Engine, PolicySet, Request, Verdict, role_policy_set
from .record import Call
from .resolve import Place as Where, Resolver, literal_policy

# job -> the role that runs it (the workflows' role-to-assume)
ROLES = {
    "pull-request plan": "GitHubPullRequestRole",
    "main plan": "GitHubPlanRole",
    "push": "GitHubDeployRole",
    "apply": "GitHubDeployRole",
    "status": "GitHubDeployRole",
    "drift": "GitHubDriftRole",
}


@dataclass(frozen=True)
class Judged:
    job: str
    role: str
    call: Call
    need: actions.Need
    verdict: Verdict

    @property
    def allowed(self) -> bool:
        return self.verdict.allowed

    def explain(self, template: dict) -> str:
        role = self.role
        grants = granting(template, role, self.need.action) or ["none: no statement of the role names this action"]
        return (f"{self.job} ({role}): {self.call.name}: {self.need.action} on {self.need.resource} "
                f"{dict(self.need.context) if self.need.context else ''}-> {self.verdict.result}"
                f"{f' ({self.verdict.errors})' if self.verdict.errors else ''}; "
                f"statements naming it: {', '.join(grants)}")


def rendered(p: EnvParams) -> dict:
    return identity.build(p).to_dict()


def engine(p: EnvParams, template: dict, account: str) -> Engine:
    where = Where(account, p.region, f"{p.stack_name}-identity")
    e = Engine(account)
    for role in sorted(set(ROLES.values())):
        e.sets[role] = role_policy_set(template, role, where)
    bucket = bucket_name(p, account)
    policy = bootstrap.build(p, bucket).to_dict()["Resources"]["TemplateBucketPolicy"]["Properties"]["PolicyDocument"]
    e.resource_policies[bucket] = literal_policy(Resolver({}, where), policy)
    return e


def bucket_name(p: EnvParams, account: str) -> str:
    return Resolver({}, Where(account, p.region, p.stack_name)).value({"Fn::Sub": template_bucket(p)})


def judge(p: EnvParams, template: dict, account: str, jobs: dict[str, list[Call]],
          roles: dict[str, str] | None = None) -> list[Judged]:
    """Every call of every job as IAM requests of the job's role (``ROLES``, or ``roles``), in one engine run."""
    roles = {**ROLES, **(roles or {})}
    place = actions.Place(account, p.region).learn(c for calls in jobs.values() for c in calls)
    e = engine(p, template, account)
    items: list[tuple[str, Call, actions.Need]] = []
    for job, calls in jobs.items():
        for call in calls:
            items += [(job, call, n) for n in actions.needs(call, place)]
    requests = [Request(roles[job], n.action, n.resource, n.context,
                        n.bucket if n.bucket in e.resource_policies else None, why=f"{job}: {call.name}")
                for job, call, n in items]
    return [Judged(job, roles[job], call, n, v) for (job, call, n), v in zip(items, e.judge(requests), strict=True)]


def granting(template: dict, role: str, action: str) -> list[str]:
    """``<policy>:<Sid>`` of the role's Allow statements whose Action names ``action`` (wildcards too)."""
    props = template["Resources"][role]["Properties"]
    found = []
    for pol in props.get("Policies", []):
        for i, s in enumerate(pol["PolicyDocument"]["Statement"]):
            names = s.get("Action", [])
            names = [names] if isinstance(names, str) else names
            if s.get("Effect") == "Allow" and any(fnmatch.fnmatchcase(action.lower(), n.lower()) for n in names):
                found.append(f"{pol['PolicyName']}:{s.get('Sid', i)}")
    return found


def without_statement(template: dict, role: str, sid: str) -> dict:
    """A copy of the rendered template with statement ``sid`` removed from ``role``'s inline policies."""
    import copy

    out = copy.deepcopy(template)
    removed = 0
    for pol in out["Resources"][role]["Properties"]["Policies"]:
        before = pol["PolicyDocument"]["Statement"]
        pol["PolicyDocument"]["Statement"] = [s for s in before if s.get("Sid") != sid]
        removed += len(before) - len(pol["PolicyDocument"]["Statement"])
    if removed != 1:
        raise ValueError(f"{role} has {removed} statements with Sid {sid}")
    return out


__all__ = ["ROLES", "Judged", "rendered", "engine", "judge", "granting", "without_statement", "PolicySet"]


# --- the push job: its shell `aws` and `docker` commands, read from the workflow ---------------------------------

_AWS_WORDS = re.compile(r"(?<![\w-])aws\s+([a-z0-9-]+)\s+([a-z0-9-]+)")
_DOCKER_WORDS = re.compile(r"(?<![\w-])docker\s+(login|push)\b")
# AWS CLI commands that are not named after an API operation (AWS CLI Command Reference, ecr get-login-password:
# "retrieves an authentication token using the GetAuthorizationToken API")
CLI_CUSTOM = {("ecr", "get-login-password"): "GetAuthorizationToken"}


def shell_calls(workflow: Path, job: str, repository: str) -> list[Call]:
    """Every ``aws <service> <command>`` and ``docker login|push`` in the run scripts of ``job``, in order, as calls
    on the app's repository (the only repository the job names)."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    steps = yaml.safe_load(workflow.read_text())["jobs"][job]["steps"]
    calls = []
    for step in steps:
        for line in step.get("run", "").splitlines():
            for service, command in _AWS_WORDS.findall(line):
                model = session.get_service_model(service)
                operation = CLI_CUSTOM.get((service, command)) or next(
                    op for op in model.operation_names if xform_name(op, "-") == command)
                params = {"repositoryName": repository} if service == "ecr" else {}
                calls.append(Call(model.signing_name, operation, params))
            for verb in _DOCKER_WORDS.findall(line):
                calls.append(Call("docker", verb, {"repositoryName": repository}))
    return calls
