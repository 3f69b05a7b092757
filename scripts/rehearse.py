"""Rehearse the takeover of the seed's production in a scratch AWS account, and answer the open questions.

    python scripts/rehearse.py --region us-west-2 --domain api.example-scratch.net --hosted-zone-id Z0123... \\
        --image-tag 2025-11-07 [--profile P] [--workdir DIR] [--yes] [--debug]

The steps (README.md, "Rehearsal in a scratch account"): recreate the seed (``scripts/recreate_seed.py``, every
resource tagged with this run's id), discover, bootstrap, plan --adopt, apply, migrate-data (dry run, then
--execute), start the service, turn the debug shell on (so ECS Exec is checked; the task is replaced and the outage
is measured), verify, drift, history, rollback, destroy, clean up. It drives the project's own CLI in-process
(``generate.main``) in a scratch project folder (a copy of ``params/`` plus one params file for the run); the
repository's ``params/`` is never written.

The report answers each open question (:data:`OPEN_QUESTIONS`, mirrored by README.md "What the local server cannot
rehearse") with PASS, FAIL or SKIP and the observation behind it, as Markdown and JSON.

Against the local server (``AWS_ENDPOINT_URL`` set) every open question is SKIP: moto proves code paths, never AWS's
answers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import secrets as random_values
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from deploy import markdown as md  # noqa: E402 - after the checkout is put on sys.path above
from scripts import recreate_seed  # noqa: E402 - after the checkout is put on sys.path above

PARAMS_DIR = REPO / "params"  # every account named here is refused
RUN_TAG = "wwhd-rehearsal"
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2

# The open questions only real AWS answers. README.md "What the local server cannot rehearse" lists the same
# (tests/test_rehearse.py keeps them equal); each key is a check below.
OPEN_QUESTIONS: dict[str, str] = {
    "nested-change-sets": "nested change sets: the review shows each nested stack's own rows",
    "simulator": "the policy simulator's answers for the probes' sample ARNs",
    "change-set-name": "which form `cloudformation:ChangeSetName` carries when a change set is executed by ARN",
    "github-sub": "GitHub's `sub` claim under the repository's `repo, context, job_workflow_ref` template",
    "efs-resource-tag": "EFS evaluating `aws:ResourceTag` on `ClientMount`",
    "bucket-delete-object": "the `AWS::S3::Bucket` create handler needing no `s3:DeleteObject`",
    "review-in-progress-delete": "a `REVIEW_IN_PROGRESS` identity stack deleting cleanly",
    "ecs-exec": "ECS Exec on the task as deployed",
    "qdrant-init-file": "Qdrant honouring its init-file path",
    "migrate-data": "a real `migrate-data`",
    "drift": "drift detection results",
    "downtime": "the deploy's real downtime",
}

# Estimated cost of one run (about 3 hours of resources), from checks/prices.py's us-west-2 list prices: Fargate
# 1 vCPU/2 GB (0.0494 USD/h), the ALB (0.0225 USD/h + 1 LCU 0.008), five public IPv4 addresses (0.005 USD/h
# each), Container Insights and CloudWatch metrics pro rata, 4 secrets pro rata (0.40 USD/month each), EFS and ECR
# a few MB. The hosted zone is the user's and is not counted.
RUN_HOURS = 3
COST_LINES = (("Fargate task 1 vCPU, 2 GB, up to 2 tasks during replacements", 0.0494 * RUN_HOURS * 1.5),
              ("Application Load Balancer + 1 LCU", (0.0225 + 0.008) * RUN_HOURS),
              ("public IPv4 addresses (3 ALB + 2 tasks)", 0.005 * 5 * RUN_HOURS),
              ("CloudWatch (Container Insights, alarms, dashboard, logs) pro rata", 14.0 / 730 * RUN_HOURS),
              ("Secrets Manager, 4 secrets pro rata", 4 * 0.40 / 730 * RUN_HOURS),
              ("EFS, ECR, S3: a few MB", 0.01))
AWS_ONLY = "local server (AWS_ENDPOINT_URL): moto does not answer this as AWS does"


class Refused(Exception):
    """A refusal before anything is created: one error line and one fix line."""

    def __init__(self, error: str, fix: str):
        super().__init__(error)
        self.error, self.fix = error, fix


class StepFailed(Exception):
    pass


@dataclass
class Finding:
    key: str
    status: str
    evidence: str


@dataclass
class Step:
    name: str
    command: str
    code: int | None
    summary: str


@dataclass
class Report:
    run_id: str
    account: str
    region: str
    local: bool
    started: str
    steps: list[Step] = field(default_factory=list)
    findings: dict[str, Finding] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    outcome: str = "not finished"

    def set(self, key: str, status: str, evidence: str) -> None:
        assert key in OPEN_QUESTIONS, key
        self.findings[key] = Finding(key, status, evidence)

    def ordered(self) -> list[Finding]:
        return [self.findings.get(k) or Finding(k, SKIP, "not reached: the rehearsal stopped before this check")
                for k in OPEN_QUESTIONS]

    def to_json(self) -> dict:
        return {"schemaVersion": 1, "runId": self.run_id, "account": self.account, "region": self.region,
                "local": self.local, "started": self.started, "outcome": self.outcome,
                "steps": [asdict(s) for s in self.steps],
                "checks": [{"key": f.key, "question": OPEN_QUESTIONS[f.key], "status": f.status,
                            "evidence": f.evidence} for f in self.ordered()],
                "deleted": self.deleted, "left": self.left}

    def to_markdown(self) -> str:
        t = md.text
        lines = [f"## Rehearsal {t(self.run_id)} in account {t(self.account)} ({t(self.region)})", "",
                 f"Started {t(self.started)}; outcome: **{t(self.outcome)}**"
                 + ("; against the local server: every open question is SKIP." if self.local else "."), "",
                 "### Open questions", "", "| question | result | evidence |", "|---|---|---|"]
        lines += [f"| {t(OPEN_QUESTIONS[f.key])} | {t(f.status)} | {t(f.evidence)} |" for f in self.ordered()]
        lines += ["", "### Steps", "", "| step | command | exit | summary |", "|---|---|---|---|"]
        lines += [f"| {t(s.name)} | {md.code(s.command)} | {t('' if s.code is None else s.code)} | {t(s.summary)} |"
                  for s in self.steps]
        lines += ["", "### Clean-up", ""]
        lines += [f"- deleted: {t(d)}" for d in self.deleted] or ["- nothing deleted"]
        lines += [f"- **left**: {t(x)}" for x in self.left]
        return "\n".join(lines) + "\n"


# --- safety ----------------------------------------------------------------------------------------------------------

def accounts_in_params(params_dir: Path) -> dict[str, str]:
    """Every ``account_id`` any params file names: {account: file}."""
    found = {}
    for path in sorted(params_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        if isinstance(data, dict) and data.get("account_id"):
            found[str(data["account_id"])] = path.name
    return found


def existing_seed_names(c: Callable[[str], Any]) -> list[str]:
    """What of the seed's names, or any ``wwhd-*`` stack, the account already holds (read-only calls)."""
    held = []
    cfn = c("cloudformation")
    for page in cfn.get_paginator("list_stacks").paginate():
        held += [f"stack {s['StackName']} ({s['StackStatus']})" for s in page["StackSummaries"]
                 if s["StackName"].startswith("wwhd-") and s["StackStatus"] != "DELETE_COMPLETE"]
    clusters = c("ecs").describe_clusters(clusters=[recreate_seed.CLUSTER])["clusters"]
    held += [f"ECS cluster {x['clusterName']}" for x in clusters if x.get("status") == "ACTIVE"]
    groups = c("logs").describe_log_groups(logGroupNamePrefix=recreate_seed.LOG_GROUP)["logGroups"]
    held += [f"log group {g['logGroupName']}" for g in groups if g["logGroupName"] == recreate_seed.LOG_GROUP]
    iam = c("iam")
    for role in (recreate_seed.EXECUTION_ROLE, recreate_seed.TASK_ROLE):
        try:
            iam.get_role(RoleName=role)
            held.append(f"IAM role {role}")
        except ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchEntity":
                raise
    try:
        c("ecr").describe_repositories(repositoryNames=[recreate_seed.REPOSITORY])
        held.append(f"ECR repository {recreate_seed.REPOSITORY}")
    except ClientError as e:
        if e.response["Error"]["Code"] != "RepositoryNotFoundException":
            raise
    sm = c("secretsmanager")
    for page in sm.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [recreate_seed.SECRET_PREFIX]}], IncludePlannedDeletion=True):
        held += [f"secret {s['Name']}" for s in page["SecretList"] if s["Name"].startswith(recreate_seed.SECRET_PREFIX)]
    sgs = c("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["wwhd-ecs-sg", "wwhd-efs-sg"]}])["SecurityGroups"]
    held += [f"security group {g['GroupName']} ({g['GroupId']})" for g in sgs]
    return held


def refuse_unsafe_account(c, account: str, params_dir: Path) -> None:
    named = accounts_in_params(params_dir)
    if account in named:
        raise Refused(f"account {account} is named in params/{named[account]}: the rehearsal runs only in a scratch "
                      "account", "use credentials of a scratch account that no params/*.yaml names (--profile P)")
    held = existing_seed_names(c)
    if held:
        raise Refused(f"account {account} already holds {len(held)} of the seed's names or wwhd-* stacks: "
                      + "; ".join(held), "use an empty scratch account (params/dev.yaml names no account_id, so "
                      "this check is what protects a dev account)")


def cost_lines() -> list[str]:
    total = sum(v for _, v in COST_LINES)
    return ([f"Estimated cost of one run (about {RUN_HOURS} h of resources, us-west-2 list prices):"]
            + [f"  {v:6.2f} USD  {what}" for what, v in COST_LINES]
            + [f"  {total:6.2f} USD  total (the hosted zone you give is not counted)"])


# --- the checks (each answers one open question from what AWS returned) ----------------------------------------------

def check_nested_change_sets(cfn, change_set_arn: str) -> Finding:
    """The root change set of ``plan --adopt`` (IncludeNestedStacks) names a nested change set per nested stack
    (CloudFormation API Reference, DescribeChangeSet: ``ResourceChange.ChangeSetId`` "the change set ID of the nested
    change set")."""
    cs = cfn.describe_change_set(ChangeSetName=change_set_arn)
    nested = [c["ResourceChange"] for c in cs.get("Changes", [])
              if c.get("ResourceChange", {}).get("ResourceType") == "AWS::CloudFormation::Stack"]
    with_own = [r["LogicalResourceId"] for r in nested if r.get("ChangeSetId")]
    if cs.get("IncludeNestedStacks") and nested and len(with_own) == len(nested):
        return Finding("nested-change-sets", PASS, f"{len(with_own)} nested change sets: {', '.join(with_own)}")
    return Finding("nested-change-sets", FAIL, f"IncludeNestedStacks={cs.get('IncludeNestedStacks')}; "
                   f"{len(with_own)} of {len(nested)} nested stacks have their own change set")


def check_simulator(review: dict) -> Finding:
    """``plan --role-arn``'s preflight (SimulatePrincipalPolicy against the real execution role)."""
    rows = [c for c in review.get("preflight", []) if str(c.get("subject", "")).startswith("execution role")]
    blocked = [c for c in rows if c["status"] == "BLOCK"]
    if blocked:
        return Finding("simulator", FAIL, "; ".join(f"{c['subject']}: {c['evidence']}" for c in blocked))
    passed = [c for c in rows if c["status"] == PASS]
    if passed:
        return Finding("simulator", PASS, f"{passed[0]['subject']}: {passed[0]['evidence']}")
    return Finding("simulator", FAIL, "no simulated execution-role check in the review: "
                   + ("; ".join(f"{c['status']} {c['subject']}" for c in rows) or "none"))


def check_bucket_delete_object(cfn, root_stack: str) -> Finding:
    """Every ``AWS::S3::Bucket`` of the environment's stacks reached CREATE_COMPLETE under the execution role."""
    events = []
    for stack in [root_stack] + nested_stacks(cfn, root_stack):
        for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack):
            events += [e for e in page["StackEvents"] if e.get("ResourceType") == "AWS::S3::Bucket"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    if failed:
        return Finding("bucket-delete-object", FAIL, f"{failed[0]['LogicalResourceId']}: CREATE_FAILED: "
                       f"{failed[0].get('ResourceStatusReason', '')}")
    done = sorted({e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "CREATE_COMPLETE"})
    if done:
        return Finding("bucket-delete-object", PASS, f"CREATE_COMPLETE without s3:DeleteObject: {', '.join(done)}")
    return Finding("bucket-delete-object", FAIL, "no AWS::S3::Bucket event in the environment's stacks")


def check_review_in_progress_delete(cfn, stack_name: str, tags: dict[str, str], poll=time.sleep,
                                    attempts: int = 60) -> Finding:
    """A stack created by a CREATE change set that is never executed sits in REVIEW_IN_PROGRESS (CloudFormation
    User Guide, "Create a change set"); deleting it must end DELETE_COMPLETE. The probe is a one-resource template
    under the identity stack's name pattern, tagged with the run."""
    body = json.dumps({"Resources": {"Probe": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
    cfn.create_change_set(StackName=stack_name, ChangeSetName="rehearsal-probe", ChangeSetType="CREATE",
                          TemplateBody=body, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    if status != "REVIEW_IN_PROGRESS":
        return Finding("review-in-progress-delete", FAIL, f"the probe stack is {status}, not REVIEW_IN_PROGRESS")
    stack_id = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=stack_id)
    for _ in range(attempts):
        status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status == "DELETE_COMPLETE":
            return Finding("review-in-progress-delete", PASS, f"{stack_name}: REVIEW_IN_PROGRESS, then DELETE_COMPLETE")
        if status == "DELETE_FAILED":
            reason = cfn.describe_stacks(StackName=stack_id)["Stacks"][0].get("StackStatusReason", "")
            return Finding("review-in-progress-delete", FAIL, f"{stack_name}: DELETE_FAILED: {reason}")
        poll(5)
    return Finding("review-in-progress-delete", FAIL, f"{stack_name}: still {status} after {attempts} polls")


def running_task(ecs, cluster: str, service: str) -> dict | None:
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return None
    return ecs.describe_tasks(cluster=cluster, tasks=arns[:1])["tasks"][0]


def check_efs_resource_tag(ecs, cluster: str, service: str) -> Finding:
    """The task mounts the file system through the access points as its task role; the file system policy allows
    ``ClientMount`` on ``aws:ResourceTag``. A refused mount stops the task with ResourceInitializationError (ECS
    Developer Guide, "Amazon ECS stopped task error messages")."""
    task = running_task(ecs, cluster, service)
    if task and task.get("lastStatus") == "RUNNING":
        return Finding("efs-resource-tag", PASS, f"task {task['taskArn'].rsplit('/', 1)[-1]} RUNNING with its EFS "
                       "volumes mounted (ClientMount allowed)")
    stopped = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED")["taskArns"]
    if stopped:
        t = ecs.describe_tasks(cluster=cluster, tasks=stopped[:1])["tasks"][0]
        return Finding("efs-resource-tag", FAIL, f"task stopped: {t.get('stoppedReason', 'no reason given')}")
    return Finding("efs-resource-tag", FAIL, "no task running or stopped")


def check_qdrant_init_file(ecs, cluster: str, service: str) -> Finding:
    """With a read-only root file system Qdrant can only start if it writes its init file where
    ``QDRANT_INIT_FILE_PATH`` says (templates/service.py): a HEALTHY qdrant container in the hardened task."""
    task = running_task(ecs, cluster, service)
    if not task:
        return Finding("qdrant-init-file", FAIL, "no running task")
    for c in task.get("containers", []):
        if c["name"] == "qdrant":
            if c.get("healthStatus") == "HEALTHY":
                return Finding("qdrant-init-file", PASS, "qdrant HEALTHY with a read-only root file system")
            return Finding("qdrant-init-file", FAIL, f"qdrant {c.get('lastStatus')}, health "
                           f"{c.get('healthStatus')}: {c.get('reason', '')}".rstrip(": "))
    return Finding("qdrant-init-file", FAIL, "no qdrant container in the running task")


def check_ecs_exec(ecs, cluster: str, service: str) -> Finding:
    """ECS Exec works when each container's ExecuteCommandAgent is RUNNING (ECS Developer Guide, "Monitor Amazon ECS
    containers with ECS Exec": the managed agent's status) and ExecuteCommand opens a session."""
    task = running_task(ecs, cluster, service)
    if not task:
        return Finding("ecs-exec", FAIL, "no running task")
    if not task.get("enableExecuteCommand"):
        return Finding("ecs-exec", FAIL, "the running task has enableExecuteCommand false")
    bad = []
    for c in task.get("containers", []):
        agents = {a["name"]: a for a in c.get("managedAgents", [])}
        agent = agents.get("ExecuteCommandAgent")
        if not agent or agent.get("lastStatus") != "RUNNING":
            bad.append(f"{c['name']}: agent {agent.get('lastStatus') if agent else 'missing'}"
                       + (f" ({agent['reason']})" if agent and agent.get("reason") else ""))
    if bad:
        return Finding("ecs-exec", FAIL, "; ".join(bad))
    try:
        session = ecs.execute_command(cluster=cluster, task=task["taskArn"], container="fastapi", interactive=True,
                                      command="true")["session"]
    except ClientError as e:
        return Finding("ecs-exec", FAIL, f"ExecuteCommand refused: {e.response['Error'].get('Message', '')}")
    return Finding("ecs-exec", PASS, f"agents RUNNING in every container; session {session['sessionId']} opened")


def check_migrate(dry: Step, execute: Step | None) -> Finding:
    if dry.code != 0:
        return Finding("migrate-data", FAIL, f"dry run: exit {dry.code}: {dry.summary}")
    if execute is None or execute.code != 0:
        return Finding("migrate-data", FAIL, f"--execute: exit {execute.code if execute else None}: "
                       f"{execute.summary if execute else 'not run'}")
    return Finding("migrate-data", PASS, f"dry run and copy exit 0: {execute.summary}")


def check_drift(drift: dict | None, step: Step) -> Finding:
    """``drift --json``'s review (deploy/drift.py ``as_json``): every stack detected, no resource MODIFIED or DELETED
    apart from the known false positives the review marks as ignored."""
    if drift is None:
        return Finding("drift", FAIL, f"no drift review written: exit {step.code}: {step.summary}")
    failed = [s["path"] for s in drift.get("stacks", []) if s.get("detectionStatus") == "DETECTION_FAILED"]
    drifted = [f"{s['path']}/{r['logicalId']} {r['status']}" for s in drift.get("stacks", [])
               for r in s.get("resources", []) if r.get("status") in ("MODIFIED", "DELETED")
               and not all(d.get("ignored") for d in r.get("differences") or [{}])]
    if drift.get("ok") and not failed and not drifted:
        return Finding("drift", PASS, f"{len(drift.get('stacks', []))} stacks detected, nothing drifted: "
                       f"{step.summary}")
    return Finding("drift", FAIL, "; ".join([f"detection failed: {p}" for p in failed] + drifted)
                   or f"exit {step.code}: {step.summary}")


# --- the outage -------------------------------------------------------------------------------------------------------

class TargetSampler:
    """Samples the target group's health while a deploy runs: ELBv2 reports no time of a state change, so the first
    healthy check is known to within one interval (Elastic Load Balancing API Reference, DescribeTargetHealth)."""

    def __init__(self, elbv2, target_group_arn: str, interval: float = 5.0, clock=time.time):
        self.elbv2, self.arn, self.interval, self.clock = elbv2, target_group_arn, interval, clock
        self.samples: list[tuple[float, dict[str, str]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        health = self.elbv2.describe_target_health(TargetGroupArn=self.arn)["TargetHealthDescriptions"]
        self.samples.append((self.clock(), {h["Target"]["Id"]: h["TargetHealth"]["State"] for h in health}))

    def start(self) -> TargetSampler:
        self.sample()

        def loop():
            while not self._stop.wait(self.interval):
                with contextlib.suppress(ClientError, BotoCoreError):
                    self.sample()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)


def outage(ecs, cluster: str, service: str, sampler: TargetSampler | None, since: float) -> Finding:
    """From the old task's stop (the service event "has stopped 1 running tasks", ECS Developer Guide, "Viewing
    Amazon ECS service event messages") to the first sample with a new target healthy."""
    events = ecs.describe_services(cluster=cluster, services=[service])["services"][0].get("events", [])
    stops = sorted(e["createdAt"].timestamp() for e in events
                   if "has stopped" in e["message"] and e["createdAt"].timestamp() >= since)
    if not stops:
        return Finding("downtime", FAIL, "no 'has stopped' service event after the deploy started")
    if sampler is None:
        return Finding("downtime", FAIL, "the target group was not found, so its health was not sampled")
    old = {t for t, state in sampler.samples[0][1].items() if state == "healthy"} if sampler.samples else set()
    healthy = [at for at, targets in sampler.samples
               if any(state == "healthy" and t not in old for t, state in targets.items())]
    if not healthy:
        return Finding("downtime", FAIL, "no new target became healthy while sampled")
    seconds = max(0.0, healthy[0] - stops[0])
    return Finding("downtime", PASS, f"{seconds:.0f} s (+/- {sampler.interval:.0f} s) from the old task's stop to "
                   "the new target's first healthy sample")


def nested_stacks(cfn, root: str) -> list[str]:
    out = []
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=root):
        for r in page["StackResourceSummaries"]:
            if r["ResourceType"] == "AWS::CloudFormation::Stack" and r.get("PhysicalResourceId"):
                out.append(r["PhysicalResourceId"])
                out += nested_stacks(cfn, r["PhysicalResourceId"])
    return out


def physical(cfn, root: str, resource_type: str) -> str | None:
    for stack in [root] + nested_stacks(cfn, root):
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for r in page["StackResourceSummaries"]:
                if r["ResourceType"] == resource_type:
                    return r.get("PhysicalResourceId")
    return None


# --- clean-up: only what carries this run's tag --------------------------------------------------------------------

def _has(tags, key: str, value: str) -> bool:
    if isinstance(tags, dict):
        return tags.get(key) == value
    return any((t.get("Key", t.get("key")), t.get("Value", t.get("value"))) == (key, value) for t in tags or [])


def _empty_and_delete(s3, name: str) -> None:
    """Every version and delete marker, then the bucket (S3 User Guide, "Deleting a bucket": it must be empty)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)


def cleanup(c, run_id: str, env: str, report: Report, ours_at_start: set[str], poll=time.sleep,
            nested_ids: frozenset[str] = frozenset()) -> None:
    """Delete what this run made: stacks tagged ``env: <run env>`` or ``wwhd-rehearsal: <run id>``, the bootstrap
    stacks and bucket only when they did not exist at the start (``ours_at_start``), and the seed's resources
    tagged ``wwhd-rehearsal: <run id>``. Anything else is never touched; what fails is listed as left."""

    def attempt(what: str, fn) -> None:
        try:
            fn()
            report.deleted.append(what)
        except Exception as e:  # any error: one resource's failure must not stop the rest of the clean-up
            report.left.append(f"{what}: {e}")

    cfn = c("cloudformation")
    stacks = []
    try:
        for page in cfn.get_paginator("describe_stacks").paginate():
            stacks += page["Stacks"]
    except Exception as e:  # any error: the other resources are still cleaned up
        report.left.append(f"stacks not listed, so none deleted: {e}")
    def tagged(s) -> bool:
        return _has(s.get("Tags"), RUN_TAG, run_id) or (
            s["StackName"].startswith(f"wwhd-{env}") and _has(s.get("Tags"), "env", env))

    # roots first (a nested stack goes with its root); a nested stack is the run's when its root is (RootId)
    roots = [s for s in stacks if not s.get("ParentId") and s["StackStatus"] != "DELETE_COMPLETE" and tagged(s)]
    root_ids = {s["StackId"] for s in roots}
    # a nested stack goes with its root; one that outlived it is the run's when it is a nested stack of the run's
    # root (RootId), or one the run recorded as its root's nested stack before destroy (``nested_ids``)
    mine = roots + [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE" and s not in roots and (
        (s.get("ParentId") and s.get("RootId") in root_ids) or s["StackId"] in nested_ids
        or s["StackName"] in nested_ids)]
    boot = [s for s in stacks if s["StackName"] in ours_at_start and s["StackStatus"] != "DELETE_COMPLETE"]
    for s in mine + boot:
        def delete(s=s):
            if cfn.describe_stacks(StackName=s["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE":
                return
            if s.get("EnableTerminationProtection"):
                cfn.update_termination_protection(EnableTerminationProtection=False, StackName=s["StackId"])
            cfn.delete_stack(StackName=s["StackId"])
            for _ in range(240):
                status = cfn.describe_stacks(StackName=s["StackId"])["Stacks"][0]["StackStatus"]
                if status in ("DELETE_COMPLETE", "DELETE_FAILED"):
                    break
                poll(10)
            if status != "DELETE_COMPLETE":
                raise ClientError({"Error": {"Code": status, "Message": f"stack {s['StackName']} is {status}"}},
                                  "DeleteStack")
        attempt(f"stack {s['StackName']}", delete)

    s3 = c("s3")
    for bucket in sorted(b for b in ours_at_start if b.startswith("bucket:")):
        name = bucket.split(":", 1)[1]

        try:
            s3.head_bucket(Bucket=name)
        except ClientError:
            continue
        attempt(f"bucket {name}", lambda name=name: _empty_and_delete(s3, name))

    # what the stacks retain (README "Taking over the seed's production"): the access-log bucket and the backup vault,
    # found by the house tag env=<run env> the templates set on them (output/prod/load_balancer.yaml, storage.yaml)
    for b in s3.list_buckets().get("Buckets", []):
        if not b["Name"].startswith("wwhd-") or f"bucket:{b['Name']}" in ours_at_start:
            continue
        try:
            tags = s3.get_bucket_tagging(Bucket=b["Name"]).get("TagSet", [])
        except ClientError:
            continue
        if _has(tags, "env", env) or _has(tags, RUN_TAG, run_id):
            attempt(f"bucket {b['Name']}", lambda name=b["Name"]: _empty_and_delete(s3, name))
    backup = c("backup")
    try:
        vaults = backup.list_backup_vaults().get("BackupVaultList", [])
    except (ClientError, BotoCoreError) as e:
        vaults = []
        report.left.append(f"backup vaults not listed: {e}")
    for v in vaults:
        if not v["BackupVaultName"].startswith(f"wwhd-{env}"):
            continue
        if _has(backup.list_tags(ResourceArn=v["BackupVaultArn"]).get("Tags", {}), "env", env):
            def drop_vault(name=v["BackupVaultName"]):
                for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(BackupVaultName=name):
                    for rp in page.get("RecoveryPoints", []):
                        backup.delete_recovery_point(BackupVaultName=name, RecoveryPointArn=rp["RecoveryPointArn"])
                backup.delete_backup_vault(BackupVaultName=name)
            attempt(f"backup vault {v['BackupVaultName']}", drop_vault)

    ecs, logs, efs, ec2, iam, ecr, sm = (c(x) for x in ("ecs", "logs", "efs", "ec2", "iam", "ecr", "secretsmanager"))
    # the seed's resources, and what the stacks retained (the templates' house tag env: <run env>)
    for arn in ecs.list_task_definitions(familyPrefix=recreate_seed.FAMILY)["taskDefinitionArns"]:
        if _has(ecs.list_tags_for_resource(resourceArn=arn).get("tags"), RUN_TAG, run_id):
            attempt(f"task definition {arn.rsplit('/', 1)[-1]}",
                    lambda arn=arn: ecs.deregister_task_definition(taskDefinition=arn))
    for cl in ecs.describe_clusters(clusters=[recreate_seed.CLUSTER], include=["TAGS"])["clusters"]:
        if cl.get("status") == "ACTIVE" and _has(cl.get("tags"), RUN_TAG, run_id):
            attempt(f"ECS cluster {cl['clusterName']}",
                    lambda arn=cl["clusterArn"]: ecs.delete_cluster(cluster=arn))
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/ecs/wwhd-backend"):
        for g in page["logGroups"]:
            tags = logs.list_tags_log_group(logGroupName=g["logGroupName"]).get("tags", {})
            if _has(tags, RUN_TAG, run_id) or _has(tags, "env", env):
                attempt(f"log group {g['logGroupName']}",
                        lambda g=g: logs.delete_log_group(logGroupName=g["logGroupName"]))
    for fs in efs.describe_file_systems()["FileSystems"]:
        if _has(fs.get("Tags"), RUN_TAG, run_id) or _has(fs.get("Tags"), "env", env):
            def drop_fs(fs_id=fs["FileSystemId"]):
                for ap in efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]:
                    efs.delete_access_point(AccessPointId=ap["AccessPointId"])
                for mt in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
                    efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
                for _ in range(60):
                    if not efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
                        break
                    poll(5)
                efs.delete_file_system(FileSystemId=fs_id)
            attempt(f"EFS file system {fs['FileSystemId']}", drop_fs)
    for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for s in page["SecretList"]:
            if _has(s.get("Tags"), RUN_TAG, run_id) or _has(s.get("Tags"), "env", env):
                attempt(f"secret {s['Name']}", lambda s=s: sm.delete_secret(
                    SecretId=s["ARN"], ForceDeleteWithoutRecovery=True))
    for role in (recreate_seed.EXECUTION_ROLE, recreate_seed.TASK_ROLE):
        try:
            tags = iam.list_role_tags(RoleName=role)["Tags"]
        except ClientError:
            continue
        if _has(tags, RUN_TAG, run_id):
            def drop_role(role=role):
                for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                    iam.detach_role_policy(RoleName=role, PolicyArn=p["PolicyArn"])
                for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                    iam.delete_role_policy(RoleName=role, PolicyName=name)
                iam.delete_role(RoleName=role)
            attempt(f"IAM role {role}", drop_role)
    try:
        repo = ecr.describe_repositories(repositoryNames=[recreate_seed.REPOSITORY])["repositories"][0]
        if _has(ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"], RUN_TAG, run_id):
            attempt(f"ECR repository {recreate_seed.REPOSITORY}", lambda: ecr.delete_repository(
                repositoryName=recreate_seed.REPOSITORY, force=True))
    except ClientError:
        pass
    run_filter = [{"Name": f"tag:{RUN_TAG}", "Values": [run_id]}]
    for g in ec2.describe_security_groups(Filters=run_filter)["SecurityGroups"]:
        if g.get("IpPermissions"):
            with contextlib.suppress(ClientError):
                ec2.revoke_security_group_ingress(GroupId=g["GroupId"], IpPermissions=g["IpPermissions"])
    for g in ec2.describe_security_groups(Filters=run_filter)["SecurityGroups"]:
        attempt(f"security group {g['GroupName']}", lambda g=g: ec2.delete_security_group(GroupId=g["GroupId"]))
    for sn in ec2.describe_subnets(Filters=run_filter)["Subnets"]:
        attempt(f"subnet {sn['SubnetId']}", lambda sn=sn: ec2.delete_subnet(SubnetId=sn["SubnetId"]))
    for v in ec2.describe_vpcs(Filters=run_filter)["Vpcs"]:
        attempt(f"VPC {v['VpcId']}", lambda v=v: ec2.delete_vpc(VpcId=v["VpcId"]))


# --- the run ----------------------------------------------------------------------------------------------------------

@dataclass
class Options:
    region: str
    domain: str
    hosted_zone_id: str
    image_tag: str
    workdir: Path
    report: Path
    profile: str | None = None
    run_id: str = ""
    certificate_arn: str | None = None


class Rehearsal:
    def __init__(self, opts: Options, session: boto3.Session, out=print, on_repository=None, poll=time.sleep):
        self.o, self.session, self.out, self.poll = opts, session, out, poll
        self.on_repository = on_repository  # tests push an image into moto's ECR here; on AWS: wait for a push
        self.local = bool(os.environ.get("AWS_ENDPOINT_URL"))
        # short: the stack name wwhd-reh-<run id> makes the backup vault's name, at most 50 characters
        # (templates/config.py derived_names); "rehearsal-<run id>" made one of 54, which AWS Backup refuses
        self.env = f"reh-{opts.run_id}"
        self.tags = {RUN_TAG: opts.run_id}
        self.nested: set[str] = set()  # the run's root's nested stacks, recorded after each apply

    def record_nested(self, root: str) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            self.nested |= set(nested_stacks(self.c("cloudformation"), root))

    def c(self, service: str):
        return self.session.client(service, region_name=self.o.region)

    def cli(self, name: str, *argv: str, required: bool = True, tee: Callable | None = None) -> Step:
        import generate

        words = [*argv[:1], "--env", self.env, *argv[1:]]
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                code = generate.main(words)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 2
        text = buf.getvalue()
        (self.o.workdir / "logs").mkdir(exist_ok=True)
        (self.o.workdir / "logs" / f"{len(self.report.steps):02d}-{name}.log").write_text(text)
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error:")]
        summary = errors[0] if errors else (lines[-1] if lines else "")
        step = Step(name, shlex.join(["python", "generate.py", *words]), code, summary[:300])
        self.report.steps.append(step)
        self.out(f"  {'ok ' if code == 0 else 'FAIL'} {name}: exit {code}: {step.summary}")
        if argv[0] in ("apply", "rollback"):
            self.record_nested(f"wwhd-{self.env}")
        if code != 0 and required:
            raise StepFailed(f"{name} failed (exit {code}): {summary}")
        return step

    def write_params(self, seed, debug_shell: bool = False) -> Path:
        params = self.o.workdir / "params"
        data = yaml.safe_load((REPO / "params" / "prod.yaml").read_text())
        data.update(account_id=seed.account, region=self.o.region)
        data["network"].update(vpc_id=seed.vpc_id, subnet_ids=seed.subnet_ids)
        data["domain"] = {"name": self.o.domain, "hosted_zone_id": self.o.hosted_zone_id}
        if self.o.certificate_arn:
            data["domain"]["certificate_arn"] = self.o.certificate_arn
        data["monitoring"]["alarm_email"] = f"rehearsal@{self.o.domain.split('.', 1)[-1]}"
        data["ci"]["github_repository"] = "wwhd/wwhd-backend"
        data["image"]["default_tag"] = self.o.image_tag
        data.setdefault("service", {})["debug_shell"] = debug_shell
        for var, arn in seed.secret_arns.items():
            data["secrets"][var]["arn"] = arn
        path = params / f"{self.env}.yaml"
        path.write_text(f"# rehearsal {self.o.run_id}: written by scripts/rehearse.py\n" + yaml.safe_dump(data))
        return path

    def wait_for_image(self) -> None:
        if self.on_repository:
            self.on_repository(recreate_seed.REPOSITORY, self.o.image_tag)
            return
        ecr = self.c("ecr")
        account = self.report.account
        self.out(f"  push the app's image now (waiting up to 30 min): docker tag <image> {account}.dkr.ecr."
                 f"{self.o.region}.amazonaws.com/{recreate_seed.REPOSITORY}:{self.o.image_tag} && docker push ...")
        for _ in range(180):
            try:
                ecr.describe_images(repositoryName=recreate_seed.REPOSITORY, imageIds=[{"imageTag": self.o.image_tag}])
                return
            except ClientError:
                self.poll(10)
        raise StepFailed(f"no image {recreate_seed.REPOSITORY}:{self.o.image_tag} was pushed within 30 minutes")

    def aws_only(self, key: str, fn: Callable[[], Finding]) -> None:
        if self.local:
            self.report.set(key, SKIP, AWS_ONLY)
            return
        try:
            f = fn()
        except (ClientError, BotoCoreError) as e:
            f = Finding(key, FAIL, f"AWS refused the check's call: {e}")
        self.report.findings[key] = f

    def run(self, account: str, ours_at_start: set[str]) -> Report:
        o = self.o
        self.report = r = Report(o.run_id, account, o.region, self.local,
                                 datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        r.set("github-sub", SKIP, "needs a GitHub Actions job assuming CI's role: run the deploy workflow once")
        r.set("change-set-name", SKIP, "needs CI's deploy role executing a change set by ARN: run the deploy workflow")
        o.workdir.mkdir(parents=True, exist_ok=True)
        if not (o.workdir / "params").exists():
            shutil.copytree(REPO / "params", o.workdir / "params")
        cwd = Path.cwd()
        os.chdir(o.workdir)
        try:
            self._steps()
            r.outcome = "completed"
        except StepFailed as e:
            r.outcome = f"stopped: {e}"
        except KeyboardInterrupt:
            r.outcome = "interrupted (Ctrl-C)"
            raise
        finally:
            os.chdir(cwd)
            self.out("cleaning up what carries this run's tag ...")
            try:
                cleanup(self.c, o.run_id, self.env, r, ours_at_start, poll=self.poll, nested_ids=frozenset(self.nested))
            finally:
                self.write_report()
        return r

    def write_report(self) -> None:
        self.o.report.parent.mkdir(parents=True, exist_ok=True)
        self.o.report.write_text(self.report.to_markdown())
        data = json.dumps(self.report.to_json(), indent=2, sort_keys=True) + "\n"
        self.o.report.with_suffix(".json").write_text(data)

    def _steps(self) -> None:
        o, r = self.o, self.report
        self.out(f"recreating the seed (tag {RUN_TAG}={o.run_id}) ...")
        seed = recreate_seed.recreate(self.session, o.region, tags=self.tags)
        self.write_params(seed)
        self.wait_for_image()
        cluster, service = recreate_seed.CLUSTER, "wwhd-backend"
        root = f"wwhd-{self.env}"
        self.cli("discover", "discover", "--json", "found.json")
        self.cli("bootstrap", "bootstrap", "--yes")
        plan = ["plan", "--adopt", "--desired-count", "0", "--image-tag", o.image_tag, "--json", "plan.json"]
        if not self.local:
            from templates.config import load_params
            from templates.names import execution_role_name

            role = execution_role_name(load_params(self.env, o.workdir / "params"))
            plan += ["--role-arn", f"arn:aws:iam::{r.account}:role/{role}"]
        self.cli("plan --adopt", *plan)
        review = json.loads((o.workdir / "plan.json").read_text())
        change_set = review.get("changeSetArn")
        self.aws_only("simulator", lambda: check_simulator(review))
        self.aws_only("nested-change-sets", lambda: check_nested_change_sets(self.c("cloudformation"), change_set))
        if self.local:
            # moto ignores ImportExistingResources: it creates the log group the seed holds, and re-creates it on the
            # next update. Locally (only) the log group is removed before each of those two applies; on AWS the
            # change set imports it.
            self.free_log_group_locally()
        self.cli("apply (adopt)", "apply", "--change-set", change_set, "--yes")
        self.aws_only("bucket-delete-object", lambda: check_bucket_delete_object(self.c("cloudformation"), root))

        dry = self.cli("migrate-data (dry run)", "migrate-data", "--from", seed.file_system_id, "--yes", required=False)
        execute = self.cli("migrate-data --execute", "migrate-data", "--from", seed.file_system_id, "--execute",
                           "--yes", required=False) if dry.code == 0 else None
        self.aws_only("migrate-data", lambda: check_migrate(dry, execute))

        if self.local:
            self.free_log_group_locally()
        self.cli("start the service", "apply", "--desired-count", "1", "--yes")
        ecs = self.c("ecs")
        self.aws_only("qdrant-init-file", lambda: check_qdrant_init_file(ecs, cluster, service))
        self.aws_only("efs-resource-tag", lambda: check_efs_resource_tag(ecs, cluster, service))

        # the debug shell on: bootstrap gives the task role the ECS Exec channels; the apply replaces the task
        self.write_params(seed, debug_shell=True)
        self.cli("bootstrap (debug shell)", "bootstrap", "--yes")
        sampler: TargetSampler | None = None
        if not self.local:
            tg = physical(self.c("cloudformation"), root, "AWS::ElasticLoadBalancingV2::TargetGroup")
            if tg:
                sampler = TargetSampler(self.c("elbv2"), tg).start()
        since = time.time()
        try:
            self.cli("apply (debug shell on)", "apply", "--yes")
        finally:
            if sampler:
                sampler.stop()
        self.aws_only("downtime", lambda: outage(ecs, cluster, service, sampler, since))
        self.cli("verify", "verify", required=False)
        self.aws_only("ecs-exec", lambda: check_ecs_exec(ecs, cluster, service))

        if self.local:
            r.steps.append(Step("drift", "python generate.py drift", None,
                                "not run locally: moto implements no DetectStackDrift"))
            r.set("drift", SKIP, AWS_ONLY)
        else:
            drift_step = self.cli("drift", "drift", "--json", "drift.json", required=False)
            drift_path = o.workdir / "drift.json"
            drift = json.loads(drift_path.read_text()) if drift_path.exists() else None
            self.aws_only("drift", lambda: check_drift(drift, drift_step))
        self.cli("history", "history", "--json", "history.json", required=False)
        if self.local:
            self.free_log_group_locally()
        self.cli("rollback", "rollback", "--yes", required=False)
        self.aws_only("review-in-progress-delete", lambda: check_review_in_progress_delete(
            self.c("cloudformation"), f"wwhd-{self.env}-identity-probe", self.tags, poll=self.poll))
        self.record_nested(root)
        self.lift_protection(root)
        self.cli("destroy", "destroy", "--identity", "--yes", required=False)

    def free_log_group_locally(self) -> None:
        assert self.local
        with contextlib.suppress(ClientError):
            self.c("logs").delete_log_group(logGroupName=recreate_seed.LOG_GROUP)
        self.report.steps.append(Step("local only: delete /ecs/wwhd-backend", "logs delete-log-group", None,
                                      "moto creates an imported log group instead of importing it"))

    def lift_protection(self, root: str) -> None:
        """prod-like params set termination protection (README "Production protection"); the run's own stack only."""
        cfn = self.c("cloudformation")
        try:
            stack = cfn.describe_stacks(StackName=root)["Stacks"][0]
        except ClientError:
            return
        if _has(stack.get("Tags"), "env", self.env) and stack.get("EnableTerminationProtection"):
            cfn.update_termination_protection(EnableTerminationProtection=False, StackName=root)


# --- command line -----------------------------------------------------------------------------------------------------

RUN_ID_MAX = 8  # wwhd-reh-<run id>: 17 characters of stack name at most (templates/config.py derived_names)


def _run_id(value: str) -> str:
    if not re.fullmatch(f"[a-z0-9]{{1,{RUN_ID_MAX}}}", value):
        raise argparse.ArgumentTypeError(
            f"{value!r}: at most {RUN_ID_MAX} lower-case letters and digits (the stack name wwhd-reh-<run id> makes "
            "the backup vault's name, which AWS Backup limits to 50 characters)")
    return value


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--region", required=True)
    ap.add_argument("--profile")
    ap.add_argument("--domain", required=True, help="a host name in the hosted zone (production needs HTTPS)")
    ap.add_argument("--hosted-zone-id", required=True, help="the public hosted zone of --domain in this account")
    ap.add_argument("--certificate-arn", help="an ISSUED ACM certificate for --domain (default: the certificate "
                    "stack requests one and validates it in the hosted zone)")
    ap.add_argument("--image-tag", required=True, help="the app image's tag you push into the recreated repository")
    ap.add_argument("--workdir", type=Path, help="scratch project folder (default: ./rehearsal-<run id>)")
    ap.add_argument("--report", type=Path, help="report file (default: <workdir>/report.md, and .json beside it)")
    ap.add_argument("--run-id", type=_run_id, help=argparse.SUPPRESS)
    ap.add_argument("--yes", action="store_true", help="create the resources after the cost is printed")
    ap.add_argument("--debug", action="store_true", help="tracebacks")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, session: boto3.Session | None = None, on_repository=None,
         poll=time.sleep) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    with_yes = shlex.join(["python", "scripts/rehearse.py", *[a for a in argv if a != "--yes"], "--yes"])
    rerun = shlex.join(["python", "scripts/rehearse.py", *argv])
    rerun_debug = rerun if args.debug else f"{rerun} --debug"
    try:
        session = session or boto3.Session(profile_name=args.profile)
        run_id = args.run_id or random_values.token_hex(3)
        workdir = (args.workdir or Path(f"rehearsal-{run_id}")).resolve()
        opts = Options(args.region, args.domain, args.hosted_zone_id, args.image_tag, workdir,
                       (args.report or workdir / "report.md").resolve(), args.profile, run_id, args.certificate_arn)

        def c(service: str):
            return session.client(service, region_name=args.region)

        account = c("sts").get_caller_identity()["Account"]
        refuse_unsafe_account(c, account, PARAMS_DIR)
        print(f"Rehearsal {run_id} in account {account} ({args.region}): recreate the seed, discover, bootstrap, "
              "plan --adopt, apply, migrate-data, start, debug shell on, verify, drift, history, rollback, destroy, "
              f"clean up (everything tagged {RUN_TAG}={run_id}).")
        print("\n".join(cost_lines()))
        if not args.yes:
            raise Refused("nothing was created: the rehearsal creates billable resources and needs --yes",
                          f"run it: {with_yes}")
        bucket = f"wwhd-infra-{account}-{args.region}"
        ours = {"wwhd-infra-bootstrap", "wwhd-infra-bootstrap-boundary", f"bucket:{bucket}"}
        try:
            c("s3").head_bucket(Bucket=bucket)
            ours.discard(f"bucket:{bucket}")  # it existed before: never ours to delete
        except ClientError:
            pass
        report = Rehearsal(opts, session, on_repository=on_repository, poll=poll).run(account, ours)
    except Refused as e:
        print(f"error: {e.error}", file=sys.stderr)
        print(f"fix: {e.fix}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("error: interrupted: what carries this run's tag was deleted; anything left is listed in the report",
              file=sys.stderr)
        print(f"fix: read the report's Clean-up section, then rerun: {rerun}", file=sys.stderr)
        return 130
    except (ClientError, BotoCoreError, OSError) as e:
        if args.debug:
            raise
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        print(f"fix: check the credentials and region, then rerun: {rerun_debug}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as e:  # any other error: one error line, not a traceback, unless --debug
        if args.debug:
            raise
        print(f"error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        print(f"fix: rerun with --debug for the traceback and attach it to an issue: {rerun_debug}", file=sys.stderr)
        return EXIT_FAILED
    counts = {s: sum(f.status == s for f in report.ordered()) for s in (PASS, FAIL, SKIP)}
    print(f"report: {opts.report} (and {opts.report.with_suffix('.json').name}): {counts[PASS]} pass, "
          f"{counts[FAIL]} fail, {counts[SKIP]} skip; {report.outcome}")
    if report.left:
        print(f"left: {len(report.left)} resource(s) not deleted, listed in the report", file=sys.stderr)
    if report.outcome != "completed" or counts[FAIL] or report.left:
        print(f"error: rehearsal {report.outcome}; {counts[FAIL]} check(s) failed; {len(report.left)} left",
              file=sys.stderr)
        print(f"fix: read {opts.report}, attach it to an issue; rerun after the fix: {rerun}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
