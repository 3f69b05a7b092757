"""``verify``: check a deployed environment against the seed's testing checklist (infra-change-001), read-only.

One line per checklist item, in the seed's order: PASS, FAIL or SKIP with its evidence (ids, counts, ages, reasons),
then a summary. Exit code 0 when nothing FAILs (every SKIP says why), 1 when something does; no stack or credentials
for another account are bad input (2), raised before any check runs.

Read-only by construction: only Describe*/List* calls and GetCallerIdentity. Never GetSecretValue: a secret is
checked with DescribeSecret, and ECS injecting it is proven by the task running (ECS stops a task whose secrets it
cannot fetch). Nothing runs inside the task: the SQLite and Qdrant items need a shell in the container, so they are
SKIPs that print the ``aws ecs execute-command`` an operator can run.

Nothing is found by a hard-coded name. The root stack's outputs name the cluster, service, log group, file system
and URL; the nested stacks' resources, chosen by type, give the access points, target group and load balancer; the
deployed service and its task definition give the subnets, containers, log prefixes, secrets and volumes.

``Deployed`` reads each AWS answer once and remembers refusals too, so checks share answers and a refused call fails
only the checks that need it (with the refusal as evidence) instead of ending the run.

API shapes relied on (AWS API references):
- ECS DescribeServices: ``services[].status``, ``desiredCount``/``runningCount``/``pendingCount``,
  ``deployments[]`` with ``status`` PRIMARY|ACTIVE|INACTIVE and ``rolloutState`` IN_PROGRESS|COMPLETED|FAILED
  (+ ``rolloutStateReason``; ECS rolling deployments only), ``events[]`` newest first, ``enableExecuteCommand``,
  ``networkConfiguration.awsvpcConfiguration.subnets``, ``loadBalancers[].containerName``; a missing service is a
  ``failures[]`` entry, not an error.
- ECS DescribeTasks: ``containers[].healthStatus`` HEALTHY|UNHEALTHY|UNKNOWN ("UNKNOWN" also when the container
  defines no health check), ``containers[].networkInterfaces[].privateIpv4Address``, ``containers[].managedAgents``
  (ExecuteCommandAgent), ``attachments[]`` (ElasticNetworkInterface, details ``subnetId``/``privateIPv4Address``),
  ``stoppedReason``/``stopCode``; stopped tasks stay visible for at least an hour.
- EFS DescribeFileSystems/DescribeMountTargets/DescribeAccessPoints: ``LifeCycleState`` creating|available|updating|
  deleting|deleted|error; a mount target has ``SubnetId``, ``MountTargetId``, ``IpAddress``, ``AvailabilityZoneName``.
- Logs DescribeLogStreams: with ``orderBy=LastEventTime`` no name prefix may be given; ``lastEventTimestamp`` is
  milliseconds since the epoch and "updates on an eventual consistency basis ... typically in less than an hour",
  hence ``--since`` and the hint printed when a stream looks stale.
- ELBv2 DescribeTargetHealth: ``TargetHealthDescriptions[].Target.Id``/``Port`` and ``TargetHealth.State``
  (initial|healthy|unhealthy|unused|draining|unavailable) with ``Reason`` (e.g. Target.ResponseCodeMismatch,
  Target.Timeout) and ``Description``; no reason when healthy.
- Secrets Manager DescribeSecret: ``DeletedDate`` is present only when the secret is scheduled for deletion.
- ECS Exec (container mode) splits ``--command`` with github.com/google/shlex (aws/amazon-ssm-agent,
  agent/session/shell/shell_unix.go) and runs it without a shell: the printed commands quote for that.
"""

from __future__ import annotations

import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from templates._common import stack_id
from templates.config import EnvParams

from .aws import Aws, aws_errors, error_code, error_message
from .errors import Shell, aws_cli, suggest
from .stacks import STACK_TYPE, StackInfo, list_resources
from .watch import duration

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
STYLE = {PASS: "green", FAIL: "bold red", SKIP: "yellow"}
STREAMS_READ = 10  # newest log streams read: a task writes one per container
HTTP_TIMEOUT = 5.0
SEED_SQLITE_PATH = "/data/wwhd.db"  # the seed's SQLITE_PATH, used only if the task definition does not set one
SEED_QDRANT_URL = "http://localhost:6333"

ACCESS_POINT = "AWS::EFS::AccessPoint"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"


class Unavailable(Exception):
    """Something a check needs is not there; the message is the evidence."""


@dataclass(frozen=True)
class Verdict:
    status: str
    evidence: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    number: int
    item: str
    verdict: Verdict

    @property
    def status(self) -> str:
        return self.verdict.status

    def lines(self) -> list[str]:
        head = f"{self.status}  {self.number}. {self.item}: {self.verdict.evidence}"
        return [head] + [f"        {d}" for d in self.verdict.details]


# --- what is deployed, read once ----------------------------------------------------------------------------------


@dataclass
class Deployed:
    """The environment's AWS answers, each read once (refusals too) and shared by the checks."""

    aws: Aws
    p: EnvParams
    stack: StackInfo
    now: datetime
    since: timedelta
    http: bool = False
    _cache: dict = field(default_factory=dict)

    def _once(self, key, fetch: Callable):
        if key not in self._cache:
            try:
                with aws_errors():  # expired or missing credentials end the run (exit 2); refusals fail one check
                    self._cache[key] = (fetch(), None)
            except (ClientError, Unavailable) as e:
                self._cache[key] = (None, e)
        value, error = self._cache[key]
        if error is not None:
            raise error
        return value

    # stack

    def output(self, key: str) -> str:
        value = self.stack.outputs.get(key)
        if not value:
            raise Unavailable(f"stack {self.stack.name} ({self.stack.status}) has no output {key}")
        return value

    def resources_of(self, stem: str, type_: str) -> list[str]:
        """Physical ids of the resources of ``type_`` in the nested stack of module ``stem``."""
        logical = stack_id(stem)
        root = self._once("root", lambda: list_resources(self.aws, self.stack.id))
        nested = next((r.get("PhysicalResourceId") for r in root
                       if r["LogicalResourceId"] == logical and r["ResourceType"] == STACK_TYPE), None)
        if not nested:
            raise Unavailable(f"stack {self.stack.name} has no nested stack {logical}")
        rows = self._once(("nested", logical), lambda: list_resources(self.aws, nested))
        return [r["PhysicalResourceId"] for r in rows if r["ResourceType"] == type_ and r.get("PhysicalResourceId")]

    def one_of(self, stem: str, type_: str) -> str:
        found = self.resources_of(stem, type_)
        if len(found) != 1:
            raise Unavailable(f"nested stack {stack_id(stem)} has {len(found)} {type_} resources, expected 1")
        return found[0]

    # ECS

    @property
    def ecs(self):
        return self.aws.client("ecs")

    @property
    def cluster(self) -> str:
        return self.output("ClusterName")

    def service(self) -> dict:
        def fetch():
            name = self.output("ServiceName")
            answer = self.ecs.describe_services(cluster=self.cluster, services=[name])
            if not answer.get("services"):
                why = "; ".join(f"{f.get('arn', name)}: {f.get('reason', '')}" for f in answer.get("failures", []))
                raise Unavailable(f"no service {name} in cluster {self.cluster} ({why or 'not found'})")
            return answer["services"][0]
        return self._once("service", fetch)

    @property
    def desired(self) -> int:
        return self.service()["desiredCount"]

    def tasks(self, desired_status: str) -> list[dict]:
        def fetch():
            arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=self.output("ServiceName"),
                                       desiredStatus=desired_status)["taskArns"]
            if not arns:
                return []
            return self.ecs.describe_tasks(cluster=self.cluster, tasks=arns[:100])["tasks"]
        return self._once(("tasks", desired_status), fetch)

    def task(self) -> dict | None:
        """The service's task to check: a RUNNING one if any, else one still starting, else None."""
        tasks = self.tasks("RUNNING")
        running = [t for t in tasks if t.get("lastStatus") == "RUNNING"]
        return next(iter(running or tasks), None)

    def running_task(self) -> dict | None:
        task = self.task()
        return task if task and task.get("lastStatus") == "RUNNING" else None

    def stopped_task(self) -> dict | None:
        """The service's most recently stopped task (ECS keeps them visible for about an hour)."""
        stopped = self.tasks("STOPPED")
        epoch = datetime.min.replace(tzinfo=UTC)
        return max(stopped, key=lambda t: t.get("stoppedAt") or t.get("createdAt") or epoch, default=None)

    def task_definition(self) -> dict:
        """The running task's task definition, else the service's (its PRIMARY deployment's)."""
        task = self.task()
        arn = task["taskDefinitionArn"] if task else self.service()["taskDefinition"]
        return self._once(("taskdef", arn),
                          lambda: self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])

    def app_container(self) -> str:
        """The container the load balancer sends traffic to (the FastAPI app)."""
        for lb in self.service().get("loadBalancers", []):
            if lb.get("containerName"):
                return lb["containerName"]
        return self.task_definition()["containerDefinitions"][0]["name"]

    # EFS, logs, secrets, load balancer

    def file_system(self) -> dict:
        fs = self.output("FileSystemId")
        return self._once("fs", lambda: self.aws.client("efs").describe_file_systems(FileSystemId=fs)["FileSystems"][0])

    def mount_targets(self) -> list[dict]:
        fs = self.output("FileSystemId")
        return self._once("mts", lambda: self.aws.client("efs").describe_mount_targets(FileSystemId=fs)["MountTargets"])

    def access_points(self) -> list[dict]:
        fs = self.output("FileSystemId")
        return self._once("aps", lambda: self.aws.client("efs").describe_access_points(FileSystemId=fs)["AccessPoints"])

    def log_group(self) -> dict:
        name = self.output("LogGroupName")

        def fetch():
            groups = self.aws.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
            found = next((g for g in groups if g["logGroupName"] == name), None)
            if found is None:
                raise Unavailable(f"no log group {name}")
            return found
        return self._once("log-group", fetch)

    def log_streams(self) -> list[dict]:
        name = self.output("LogGroupName")
        return self._once("log-streams", lambda: self.aws.client("logs").describe_log_streams(
            logGroupName=name, orderBy="LastEventTime", descending=True, limit=STREAMS_READ)["logStreams"])

    def secret(self, secret_id: str) -> dict:
        return self._once(("secret", secret_id),
                          lambda: self.aws.client("secretsmanager").describe_secret(SecretId=secret_id))

    def listeners(self, load_balancer: str) -> list[dict]:
        return self._once("listeners", lambda: self.aws.client("elbv2").describe_listeners(
            LoadBalancerArn=load_balancer)["Listeners"])

    def target_health(self, target_group: str) -> list[dict]:
        return self._once("targets", lambda: self.aws.client("elbv2").describe_target_health(
            TargetGroupArn=target_group)["TargetHealthDescriptions"])

    def health_check_path(self, target_group: str) -> str:
        return self._once("tg", lambda: self.aws.client("elbv2").describe_target_groups(
            TargetGroupArns=[target_group])["TargetGroups"][0].get("HealthCheckPath", "/"))


# --- small readers ------------------------------------------------------------------------------------------------


def short_id(arn: str) -> str:
    """``...:task/wwhd-cluster/0123abcd`` -> ``0123abcd``; ``...:task-definition/wwhd-backend:7`` ->
    ``wwhd-backend:7``."""
    return arn.rsplit("/", 1)[-1]


def age(seconds: float) -> str:
    """``12s``, ``40m00s``, ``3h05m``, ``2d03h``: short enough for a line, exact enough to compare with --since."""
    seconds = int(max(seconds, 0))
    if seconds < 3600:
        return duration(seconds)
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _containers(td: dict) -> list[dict]:
    return td.get("containerDefinitions", [])


def _task_ip(task: dict) -> str | None:
    for c in task.get("containers", []):
        for ni in c.get("networkInterfaces", []):
            if ni.get("privateIpv4Address"):
                return ni["privateIpv4Address"]
    return _eni_detail(task, "privateIPv4Address")


def _eni_detail(task: dict, name: str) -> str | None:
    for a in task.get("attachments", []):
        if a.get("type") == "ElasticNetworkInterface":
            for d in a.get("details", []):
                if d.get("name") == name:
                    return d.get("value")
    return None


def _start_hint(d: Deployed) -> str:
    return f"start it: {suggest('apply', d.p.env, '--desired-count', '1')} (stack parameter DesiredCount=1)"


def _stopped_line(task: dict) -> str:
    when = f" at {_utc(task['stoppedAt'])}" if task.get("stoppedAt") else ""
    why = ": ".join(x for x in (task.get("stopCode", ""), task.get("stoppedReason", "")) if x) or "no reason given"
    exits = [f"{c['name']} {c.get('reason') or 'exit ' + str(c['exitCode'])}" for c in task.get("containers", [])
             if c.get("reason") or c.get("exitCode") not in (None, 0)]
    return f"last stopped task {short_id(task['taskArn'])}{when}: {why}" + (f" ({'; '.join(exits)})" if exits else "")


def _without_task(d: Deployed, found: list[str], needs: str, mentions: tuple[str, ...] = ()) -> Verdict:
    """The verdict when a check needs a RUNNING task and there is none: SKIP when the service is meant to be stopped,
    FAIL otherwise, with the last stopped task's reason (only if it mentions one of ``mentions``, when given)."""
    prefix = "; ".join(found + [""]) if found else ""
    if d.desired == 0:
        return Verdict(SKIP, f"{prefix}{needs} needs a running task, and desiredCount is 0", (_start_hint(d),))
    task = d.task()
    if task is not None:
        return Verdict(FAIL, f"{prefix}task {short_id(task['taskArn'])} is {task.get('lastStatus')}, not RUNNING")
    stopped = d.stopped_task()
    if stopped is not None:
        line = _stopped_line(stopped)
        if not mentions or any(m in line.lower() for m in mentions):
            return Verdict(FAIL, f"{prefix}no RUNNING task; the {line}")
    return Verdict(FAIL, f"{prefix}no RUNNING task (see item 1)")


# --- the checks, in the seed's order ------------------------------------------------------------------------------


def check_service(d: Deployed) -> Verdict:
    """1. ECS service starts successfully."""
    s = d.service()
    desired, running, pending = s["desiredCount"], s["runningCount"], s.get("pendingCount", 0)
    primary = next((x for x in s.get("deployments", []) if x.get("status") == "PRIMARY"), None)
    facts = [f"{d.cluster}/{s['serviceName']} {s['status']}",
             f"{running} of {desired} task(s) running" + (f", {pending} pending" if pending else "")]
    if primary:
        rollout = primary.get("rolloutState", "no rolloutState")
        facts.append(f"PRIMARY deployment {primary['id']} {rollout} ({short_id(primary.get('taskDefinition', '?'))})")
    problems = []
    if s["status"] != "ACTIVE":
        problems.append(f"the service is {s['status']}, not ACTIVE")
    if desired > 1:
        problems.append(f"desiredCount {desired} breaks the single writer: SQLite and Qdrant on EFS allow one task; "
                        "set DesiredCount=1")
    if desired == 0 and not problems:
        return Verdict(SKIP, "; ".join(facts) + "; desiredCount 0: the service is stopped", (_start_hint(d),))
    if running != desired:
        problems.append(f"runningCount {running} is not desiredCount {desired}")
    if primary is None:
        problems.append("no PRIMARY deployment")
    elif primary.get("rolloutState") != "COMPLETED":
        why = primary.get("rolloutStateReason", "")
        problems.append(f"the PRIMARY deployment is {primary.get('rolloutState', 'without rolloutState')}"
                        + (f": {why}" if why else ""))
    if not problems:
        return Verdict(PASS, "; ".join(facts))
    details = []
    events = s.get("events", [])
    if events and (running != desired or (primary and primary.get("rolloutState") != "COMPLETED")):
        latest = events[0]  # newest first
        details.append(f"last service event ({_utc(latest['createdAt'])}): {latest['message']}")
    return Verdict(FAIL, "; ".join(problems) + " | " + "; ".join(facts), tuple(details))


def check_health(d: Deployed) -> Verdict:
    """2. Health check endpoints respond (FastAPI and Qdrant): the containers' own health checks, as ECS reports
    them."""
    task = d.running_task()
    if task is None:
        return _without_task(d, [], "container health")
    definitions = {c["name"]: c for c in _containers(d.task_definition())}
    containers = {c["name"]: c for c in task.get("containers", [])}
    seen, problems, details = [], [], []
    for name in sorted(set(definitions) | set(containers)):
        c = containers.get(name)
        if c is None:
            problems.append(f"{name} is in the task definition but not in the task")
            continue
        state, health = c.get("lastStatus", "?"), c.get("healthStatus", "UNKNOWN")
        seen.append(f"{name} {state} {health}")
        if state == "RUNNING" and health == "HEALTHY":
            continue
        if state != "RUNNING":
            problems.append(f"{name} is {state}" + (f" ({c['reason']})" if c.get("reason") else ""))
        if health != "HEALTHY":
            defined = bool(definitions.get(name, {}).get("healthCheck"))
            problems.append(f"{name} is {health}: " + ("its health check fails (or is still in its start period)"
                                                       if defined else "it defines no health check"))
        logs = definitions.get(name, {}).get("logConfiguration", {}).get("options", {})
        if logs.get("awslogs-group"):  # the awslogs stream of this container in this task
            stream = f"{logs.get('awslogs-stream-prefix')}/{name}/{short_id(task['taskArn'])}"
            details.append(f"{name}'s output: " + aws_cli(d.p.region, "logs", "tail", logs["awslogs-group"],
                                                          "--log-stream-names", stream,
                                                          "--since", f"{int(d.since.total_seconds() // 60)}m"))
    facts = f"task {short_id(task['taskArn'])} {task.get('healthStatus', 'UNKNOWN')}: {', '.join(seen)}"
    if problems:
        return Verdict(FAIL, "; ".join(problems) + " | " + facts, tuple(details))
    return Verdict(PASS, facts)


def check_efs(d: Deployed) -> Verdict:
    """3. EFS volume mounts correctly: the file system, a mount target per task subnet, the stack's access points,
    the task definition's volumes through them, and a RUNNING task (Fargate mounts the volumes before any container
    starts; a failed mount stops the task)."""
    fs_id = d.output("FileSystemId")
    fs = d.file_system()
    problems, facts, details = [], [], []
    if fs["LifeCycleState"] != "available":
        problems.append(f"file system {fs_id} is {fs['LifeCycleState']}")
    facts.append(f"{fs_id} {fs['LifeCycleState']}")

    subnets = d.service().get("networkConfiguration", {}).get("awsvpcConfiguration", {}).get("subnets", [])
    if not subnets:
        problems.append("the service's network configuration names no subnets")
    targets = {m["SubnetId"]: m for m in d.mount_targets()}
    for subnet in subnets:
        m = targets.get(subnet)
        if m is None:
            problems.append(f"no mount target in task subnet {subnet}")
            details.append(f"{subnet}: no mount target")
            continue
        details.append(f"{subnet}: {m['MountTargetId']} {m['LifeCycleState']}"
                       + (f" ({m.get('IpAddress')}, {m.get('AvailabilityZoneName')})" if m.get("IpAddress") else ""))
        if m["LifeCycleState"] != "available":
            problems.append(f"mount target {m['MountTargetId']} in {subnet} is {m['LifeCycleState']}")
    ready = sum(1 for s in subnets if targets.get(s, {}).get("LifeCycleState") == "available")
    facts.append(f"mount targets available in {ready} of {len(subnets)} task subnets")

    ours = d.resources_of("storage", ACCESS_POINT)
    if not ours:
        problems.append(f"nested stack {stack_id('storage')} lists no access point")
    points = {a["AccessPointId"]: a for a in d.access_points()}
    for ap in ours:
        state = points.get(ap, {}).get("LifeCycleState", "missing")
        if state != "available":
            problems.append(f"access point {ap} is {state}")
    if ours:
        ready_points = all(points.get(a, {}).get("LifeCycleState") == "available" for a in ours)
        facts.append(f"access points {', '.join(ours)}" + (" available" if ready_points else ""))

    td = d.task_definition()
    used = set()
    for v in td.get("volumes", []):
        cfg = v.get("efsVolumeConfiguration")
        if not cfg:
            continue
        ap = cfg.get("authorizationConfig", {}).get("accessPointId")
        used.add(ap)
        where = [f"{c['name']}:{m['containerPath']}" for c in _containers(td) for m in c.get("mountPoints", [])
                 if m.get("sourceVolume") == v["name"]]
        details.append(f"volume {v['name']}: {cfg['fileSystemId']} via {ap or 'no access point'} (transit encryption "
                       f"{cfg.get('transitEncryption', 'DISABLED')}) at {', '.join(where) or 'nowhere'}")
        if cfg["fileSystemId"] != fs_id:
            problems.append(f"volume {v['name']} uses {cfg['fileSystemId']}, not the stack's {fs_id}")
        if ap not in ours:
            problems.append(f"volume {v['name']} uses access point {ap}, not one of the stack's")
        if not where:
            problems.append(f"volume {v['name']} is mounted in no container")
    for ap in ours:
        if ap not in used:
            problems.append(f"access point {ap} is used by no volume of {short_id(td['taskDefinitionArn'])}")
    if problems:
        return Verdict(FAIL, "; ".join(problems) + " | " + "; ".join(facts), tuple(details))

    task = d.running_task()
    if task is None:
        return _without_task(d, facts, "proving the mounts", mentions=("efs", "mount", "volume", "nfs"))
    subnet = _eni_detail(task, "subnetId")
    there = f" in {subnet} (mount target {targets[subnet]['MountTargetId']})" if subnet in targets else ""
    facts.append(f"task {short_id(task['taskArn'])} RUNNING{there} with {len(used)} EFS volume(s) mounted")
    return Verdict(PASS, "; ".join(facts), tuple(details))


def _exec_state(d: Deployed, task: dict | None, container: str) -> tuple[bool, str]:
    """(usable, description) of ECS Exec for the service and the running task's container."""
    on = bool(d.service().get("enableExecuteCommand"))
    if not on:
        return False, "ECS Exec is off on the service (enableExecuteCommand false)"
    if task is None:
        return True, "ECS Exec is on (service)"
    agent = next((a for c in task.get("containers", []) if c["name"] == container
                  for a in c.get("managedAgents", []) if a.get("name") == "ExecuteCommandAgent"), None)
    if not task.get("enableExecuteCommand") or agent is None:
        return False, (f"ECS Exec is on (service) but not in task {short_id(task['taskArn'])}, started before it was "
                       "enabled: force a new deployment")
    return agent.get("lastStatus") == "RUNNING", ("ECS Exec is on (service) and its agent is "
                                                  f"{agent.get('lastStatus')} "
                                                  f"in {container}")


def exec_command(d: Deployed, task: dict | None, container: str, python: str) -> str:
    """The ``aws ecs execute-command`` that runs ``python -c <python>`` in ``container`` of the running task, built by
    :func:`aws_cli` like every printed ``aws`` command (quoted, with the region and the ``--profile`` given)."""
    inner = f"python -c {shlex.quote(python)}"  # split by the agent's shlex, run without a shell
    task_ref = short_id(task["taskArn"]) if task else Shell("$(" + aws_cli(
        d.p.region, "ecs", "list-tasks", "--cluster", d.cluster, "--service-name", d.output("ServiceName"),
        "--desired-status", "RUNNING", "--query", "taskArns[0]", "--output", "text") + ")")
    return aws_cli(d.p.region, "ecs", "execute-command", "--cluster", d.cluster, "--task", task_ref,
                   "--container", container, "--interactive", "--command", inner)


def _app_env(d: Deployed, container: str) -> dict[str, str]:
    c = next((c for c in _containers(d.task_definition()) if c["name"] == container), {})
    return {e["name"]: e.get("value", "") for e in c.get("environment", [])}


def debug_shell_hint(env: str, on: bool) -> str:
    """How to turn the debug shell (``service.debug_shell``) on or back off: the params line, then bootstrap (the
    identity stack's task role gains or loses the ECS Exec channels; plan refuses an identity stack that differs) and
    the plan that reviews the rest (commands that run as printed, with this run's --region/--profile)."""
    return (f"set service.debug_shell: {'true' if on else 'false'} in params/{env}.yaml, then run "
            f"{suggest('bootstrap', env)} (the task role's ECS Exec channels) and {suggest('plan', env)}, and apply "
            "the change set it prints")


def _in_task(d: Deployed, python: str, expect: str) -> Verdict:
    """Items that need a shell in the task: never run here; SKIP with the command and whether ECS Exec can run it.

    Always SKIP, never PASS or FAIL: verify is read-only. With ECS Exec off (``service.debug_shell`` false, the
    hardened default: templates/service.py) the SKIP says how to turn the debug shell on, and back off afterwards."""
    task = d.running_task()
    container = d.app_container()
    usable, state = _exec_state(d, task, container)
    command = exec_command(d, task, container, python)
    if not d.service().get("enableExecuteCommand"):
        if d.p.service.debug_shell:
            reset = aws_cli(d.p.region, "ecs", "update-service", "--cluster", d.cluster, "--service",
                            d.output("ServiceName"), "--enable-execute-command", "--force-new-deployment")
            why = (f"params/{d.p.env}.yaml turns service.debug_shell on, but the deployed service has not got it yet: "
                   f"{suggest('plan', d.p.env)} shows the change; apply it. If that plan says No changes, the "
                   "template already has it on and the service was changed outside CloudFormation (drift), which no "
                   f"change set resets: {reset} (a new deployment starts tasks with the agent)")
        else:
            why = ("to run it, turn the debug shell on for a while (ECS Exec on and the root file systems writable, "
                   f"together; the review flags it): {debug_shell_hint(d.p.env, True)}; afterwards turn it back off "
                   "the same way with false")
        return Verdict(SKIP, f"not run by verify (read-only; it would run inside the task); {state}",
                       (why, f"then: {command}", f"expect: {expect}"))
    where = f"task {short_id(task['taskArn'])}" if task else "no RUNNING task to run it in yet"
    lead = f"not run by verify (read-only; it would run inside the task); {state}; {where}"
    if not usable:
        return Verdict(SKIP, lead, (f"once ECS Exec works: {command}", f"expect: {expect}"))
    return Verdict(SKIP, f"{lead}; run it with:", (command, f"expect: {expect}"))


def check_sqlite(d: Deployed) -> Verdict:
    """4. SQLite database creation works: opened read-only (mode=ro fails instead of creating an empty file)."""
    path = _app_env(d, d.app_container()).get("SQLITE_PATH", SEED_SQLITE_PATH)
    python = (f'import sqlite3; db = sqlite3.connect("file:{path}?mode=ro", uri=True); '
              'print("quick_check:", db.execute("pragma quick_check").fetchone()[0], '
              '"| schema objects:", db.execute("select count(*) from sqlite_master").fetchone()[0])')
    return _in_task(d, python, "quick_check: ok | schema objects: N (more than 0 once the app has created its tables)")


def check_qdrant(d: Deployed) -> Verdict:
    """5. Qdrant API accessible at localhost:6333: from the app container, as the app reaches it."""
    url = _app_env(d, d.app_container()).get("QDRANT_URL", SEED_QDRANT_URL).rstrip("/") + "/readyz"
    python = (f'import urllib.request as u; r = u.urlopen("{url}", timeout=5); '
              'print(r.status, r.read().decode())')
    return _in_task(d, python, "200 all shards are ready")


def check_secrets(d: Deployed) -> Verdict:
    """6. Secrets Manager integration works: every injected secret exists and is not scheduled for deletion
    (DescribeSecret, never the value), and the task runs (ECS fetched them to start it)."""
    refs = [(s["name"], s["valueFrom"]) for c in _containers(d.task_definition()) for s in c.get("secrets", [])]
    if not refs:
        if d.p.secrets:
            return Verdict(FAIL, f"the task definition injects no secrets, but params/{d.p.env}.yaml names "
                                 f"{', '.join(sorted(d.p.secrets))}")
        return Verdict(SKIP, f"no secrets: params/{d.p.env}.yaml names none")
    problems, facts = [], []
    for name, value_from in sorted(refs):
        if value_from.startswith("arn:") and ":secretsmanager:" not in value_from:
            facts.append(f"{name} comes from {value_from}, not Secrets Manager: not checked")
            continue
        # valueFrom may end in :json-key:version-stage:version-id; the secret is the ARN's first 7 fields
        secret_id = ":".join(value_from.split(":")[:7]) if value_from.startswith("arn:") else value_from
        try:
            desc = d.secret(secret_id)
        except ClientError as e:
            problems.append(f"{name}: {secret_id}: {error_code(e)}: {error_message(e)}")
            continue
        if desc.get("DeletedDate"):
            problems.append(f"{name}: {desc.get('Name', secret_id)} is scheduled for deletion on "
                            f"{_utc(desc['DeletedDate'])}; undo: "
                            + aws_cli(d.p.region, "secretsmanager", "restore-secret", "--secret-id",
                                      desc.get("ARN", secret_id)))
        else:
            facts.append(f"{name} -> {desc.get('Name', secret_id)} exists")
    if problems:
        return Verdict(FAIL, "; ".join(problems) + (" | " + "; ".join(facts) if facts else ""))
    task = d.running_task()
    if task is None:
        return _without_task(d, facts, "proving the injection", mentions=("secret",))
    facts.append(f"task {short_id(task['taskArn'])} RUNNING, so ECS injected them")
    return Verdict(PASS, "; ".join(facts))


def check_logs(d: Deployed) -> Verdict:
    """7. CloudWatch logging active: the log group with a retention, and a recent event from every container."""
    name = d.output("LogGroupName")
    group = d.log_group()
    problems, facts, stale = [], [], []
    retention = group.get("retentionInDays")
    facts.append(f"{name} retention {retention} days" if retention else f"{name} exists")
    if not retention:
        problems.append(f"{name} has no retention: its logs are kept (and paid for) forever")
    prefixes = {}
    for c in _containers(d.task_definition()):
        conf = c.get("logConfiguration", {})
        opts = conf.get("options", {})
        if conf.get("logDriver") != "awslogs":
            problems.append(f"{c['name']} does not log to CloudWatch (log driver {conf.get('logDriver', 'none')})")
        elif opts.get("awslogs-group") != name:
            problems.append(f"{c['name']} logs to {opts.get('awslogs-group')}, not the stack's {name}")
        else:
            prefixes[c["name"]] = opts.get("awslogs-stream-prefix", "")
    if problems:
        return Verdict(FAIL, "; ".join(problems) + " | " + "; ".join(facts))

    streams = d.log_streams()
    task = d.running_task()
    limit = d.since.total_seconds()
    for container, prefix in sorted(prefixes.items()):
        mine = [s for s in streams if s["logStreamName"].startswith(f"{prefix}/")]
        expected = f"{prefix}/{container}/{short_id(task['taskArn'])}" if task else None  # awslogs stream naming
        if expected:
            chosen = next((s for s in mine if s["logStreamName"] == expected), None)
            if chosen is None:
                newest = f"; the newest {prefix}/ stream is {mine[0]['logStreamName']}" if mine else ""
                stale.append(f"{container}: the running task's stream {expected} is not among the "
                             f"{STREAMS_READ} most recent{newest}")
                continue
        else:
            chosen = mine[0] if mine else None
            if chosen is None:
                stale.append(f"{container}: no {prefix}/ stream among the {STREAMS_READ} most recent")
                continue
        last = chosen.get("lastEventTimestamp")
        if last is None:
            stale.append(f"{chosen['logStreamName']} has no events")
            continue
        seconds = (d.now - datetime.fromtimestamp(last / 1000, tz=UTC)).total_seconds()
        line = f"{chosen['logStreamName']} last event {age(seconds)} ago"
        if seconds <= limit:
            facts.append(line)
        else:
            stale.append(f"{line} (older than --since {age(limit)})")
    if stale and d.desired == 0:
        return Verdict(SKIP, "; ".join(facts + stale) + "; fresh logs need a running task, and desiredCount is 0",
                       (_start_hint(d),))
    if stale:
        return Verdict(FAIL, "; ".join(stale) + " | " + "; ".join(facts), (
            "lastEventTimestamp is eventually consistent (AWS: usually updated within an hour); if the task is "
            "healthy, a larger --since tells a lag from silence",))
    return Verdict(PASS, "; ".join(facts) + f" (within {age(limit)})")


def _forwards(listener: dict, target_group: str) -> bool:
    for a in listener.get("DefaultActions", []):
        if a.get("Type") == "forward":
            groups = [g.get("TargetGroupArn") for g in a.get("ForwardConfig", {}).get("TargetGroups", [])]
            if a.get("TargetGroupArn") == target_group or target_group in groups:
                return True
    return False


def _redirects_to_https(listener: dict) -> bool:
    return any(a.get("Type") == "redirect" and a.get("RedirectConfig", {}).get("Protocol") == "HTTPS"
               for a in listener.get("DefaultActions", []))


def _target(t: dict) -> str:
    h = t["TargetHealth"]
    why = ": ".join(x for x in (h.get("Reason", ""), h.get("Description", "")) if x)
    return f"{t['Target']['Id']}:{t['Target'].get('Port', '?')} {h.get('State', '?')}" + (f" ({why})" if why else "")


def http_get(url: str, timeout: float = HTTP_TIMEOUT) -> tuple[int | None, str]:
    """(status, what happened) of one GET; redirects are followed (port 80 redirects to HTTPS)."""
    if not url.startswith(("http://", "https://")):
        return None, f"{url} is not an http(s) URL"
    started = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": "wwhd-infra-verify"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # http(s) only, checked above
            status, final = response.status, response.geturl()
    except urllib.error.HTTPError as e:
        status, final = e.code, e.geturl()
    except (urllib.error.URLError, OSError) as e:
        return None, f"GET {url} failed: {getattr(e, 'reason', e)}"
    took = time.monotonic() - started
    via = f" (via {final})" if final != url else ""
    return status, f"GET {url} -> {status} in {took:.2f}s{via}"


def check_load_balancer(d: Deployed) -> Verdict:
    """8. Load balancer routes traffic correctly: the listeners, one healthy target that is the running task, and
    (with --http) a real request to ServiceUrl + the health check path."""
    tg = d.one_of("load_balancer", TARGET_GROUP)
    lb = d.one_of("load_balancer", LOAD_BALANCER)
    problems, facts, details = [], [], []
    ports = {listener["Port"]: listener for listener in d.listeners(lb)}
    if d.p.https:
        https, http = ports.get(443), ports.get(80)
        if https is None or https.get("Protocol") != "HTTPS" or not _forwards(https, tg):
            problems.append("no HTTPS listener on 443 forwarding to the target group")
        if http is None or not _redirects_to_https(http):
            problems.append("port 80 does not redirect to HTTPS")
        facts.append("listeners HTTPS:443 -> target group, HTTP:80 -> HTTPS")
    else:
        http = ports.get(80)
        if http is None or http.get("Protocol") != "HTTP" or not _forwards(http, tg):
            problems.append("no HTTP listener on 80 forwarding to the target group")
        facts.append("listener HTTP:80 -> target group (no domain, so no HTTPS)")

    targets = d.target_health(tg)
    healthy = [t for t in targets if t["TargetHealth"].get("State") == "healthy"]
    details += [f"target {_target(t)}" for t in targets]
    if d.desired == 0 and not problems:
        return Verdict(SKIP, "; ".join(facts) + f"; {len(targets)} target(s): none expected with desiredCount 0",
                       tuple(details) + (_start_hint(d),))
    task = d.running_task()
    ip = _task_ip(task) if task else None
    if len(healthy) != 1:
        shown = ", ".join(_target(t) for t in targets) or "none registered"
        problems.append(f"{len(healthy)} healthy target(s), expected exactly 1: {shown}")
    elif ip is None:
        problems.append(f"healthy target {healthy[0]['Target']['Id']}, but no RUNNING task to match it to")
    elif healthy[0]["Target"]["Id"] != ip:
        problems.append(f"the healthy target {healthy[0]['Target']['Id']} is not the running task's ENI {ip}")
    else:
        assert task is not None  # ip came from it
        facts.append(f"1 healthy target {ip}:{healthy[0]['Target'].get('Port', '?')} = task "
                     f"{short_id(task['taskArn'])}'s ENI")
    if d.http:
        url = d.output("ServiceUrl").rstrip("/") + d.health_check_path(tg)
        status, said = http_get(url)
        (facts if status == 200 else problems).append(said if status == 200 or status is None
                                                       else f"{said}, expected 200")
    if problems:  # the targets are in the evidence already
        return Verdict(FAIL, "; ".join(problems) + " | " + "; ".join(facts))
    return Verdict(PASS, "; ".join(facts), tuple(details))


CHECKLIST: tuple[tuple[str, Callable[[Deployed], Verdict]], ...] = (
    ("ECS service starts successfully", check_service),
    ("Health check endpoints respond (FastAPI and Qdrant)", check_health),
    ("EFS volume mounts correctly", check_efs),
    ("SQLite database creation works", check_sqlite),
    ("Qdrant API accessible at localhost:6333", check_qdrant),
    ("Secrets Manager integration works", check_secrets),
    ("CloudWatch logging active", check_logs),
    ("Load balancer routes traffic correctly", check_load_balancer),
)


def run_check(d: Deployed, check: Callable[[Deployed], Verdict]) -> Verdict:
    """One check; what it could not read becomes its FAIL evidence instead of ending the run."""
    try:
        return check(d)
    except Unavailable as e:
        return Verdict(FAIL, str(e))
    except ClientError as e:
        return Verdict(FAIL, f"AWS refused {e.operation_name}: {error_code(e)}: {error_message(e)}")
