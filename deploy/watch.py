"""Follow a stack operation across the root and its nested stacks, then explain how it ended.

Why not a waiter: a waiter says "failed" and nothing else, and nested failures surface on the root only as
"Embedded stack ... was not successfully created". We read the events of every stack the operation touches, so the
real reason (inside the nested stack) is shown, live and again in the summary.

Cost: each round reads the root's events and those of the nested stacks that are in progress (learned from the
root's events: a nested stack's row carries its stack ARN as PhysicalResourceId), newest first and only until
the first event already seen or older than the operation. When the root has nothing new, one DescribeStacks
confirms whether it has ended. After the end, a sweep reads the nested stacks the operation touched (by their
LastUpdatedTimestamp) that were not followed live: one call when everything was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from templates.config import EnvParams

from .aws import Aws, aws_errors, error_message
from .errors import aws_cli, suggest
from .retained import left_by_rollback, leftover_lines
from .stacks import STACK_TYPE, StackInfo, describe, list_resources, nested_stacks
from .ui import Out, Poller, clean

ECHOES = ("Embedded stack", "The following resource(s) failed", "Resource creation cancelled",
          "Resource update cancelled", "Resource deletion cancelled")
HEARTBEAT_SECONDS = 60.0
SLOW_ECS_SECONDS = 600.0


@dataclass(frozen=True)
class Event:
    id: str
    stack_id: str
    stack_label: str
    logical_id: str
    physical_id: str
    type: str
    status: str
    reason: str
    timestamp: datetime

    @property
    def is_stack_level(self) -> bool:
        return self.type == STACK_TYPE and self.physical_id == self.stack_id

    @property
    def nested_stack(self) -> str:
        """The nested stack this row of a parent stack is about ('' for other rows)."""
        return self.physical_id if self.type == STACK_TYPE and self.physical_id and not self.is_stack_level else ""


def latest_event(aws: Aws, stack_id: str) -> tuple[datetime | None, set[str]]:
    """The newest event's time and the ids on the first page: the line between before and after an operation."""
    with aws_errors():
        page = aws.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    return (page[0]["Timestamp"] if page else None), {e["EventId"] for e in page}


class Watch:
    """One operation on one root stack, followed until it ends (or the user presses Ctrl-C)."""

    def __init__(self, aws: Aws, root: StackInfo, since: datetime | None, baseline: set[str], out: Out, poller: Poller):
        self.aws, self.root, self.since, self.out, self.poller = aws, root, since, out, poller
        self.seen: set[str] = set(baseline)
        self.labels: dict[str, str] = {root.id: "root", root.name: "root"}
        self.active: dict[str, str] = {}  # nested stack id -> label, while in progress
        self.finished: set[str] = set()  # nested stacks followed live to their end
        self.events: list[Event] = []
        self.started = poller.clock()
        self.final: StackInfo | None = None

    # -- the loop ------------------------------------------------------------------------------------------------

    def run(self) -> StackInfo | None:
        last_news = self.poller.clock()
        with self.out.progress(f"{self.root.name}: waiting for events") as update:
            for delay in self.poller.intervals():
                root_news = self._round()
                now = self.poller.clock()
                if root_news:
                    last_news = now
                if self._ended(root_news):
                    break
                update(self._progress_text(now))
                if now - last_news >= HEARTBEAT_SECONDS and not self.out.rich:
                    self.out.line(self._progress_text(now))
                    last_news = now
                self.poller.wait(delay)
        self._sweep()
        self.final = describe(self.aws, self.root.id) or self.final
        return self.final

    def _round(self) -> bool:
        """Read new events of the root and the active nested stacks; True when the root had news."""
        root_news = self._read(self.root.id, "root")
        for stack_id, label in list(self.active.items()):
            self._read(stack_id, label)
        return bool(root_news)

    def _ended(self, root_news: bool) -> bool:
        ends = [e for e in self.events if e.stack_id == self.root.id and e.is_stack_level]
        if ends and not ends[-1].status.endswith("_IN_PROGRESS"):
            return True
        if root_news:
            return False
        self.final = describe(self.aws, self.root.id)
        return self.final is None or not self.final.status.endswith("_IN_PROGRESS")

    def _sweep(self, stack_id: str | None = None, prefix: tuple[str, ...] = ()) -> None:
        """After the end: nested stacks the operation touched but we did not follow to their end, recursively.

        ListStackResources gives each nested stack's LastUpdatedTimestamp, so one call per level finds the stacks
        changed since the operation started; only those are read. After a normal run every touched stack was
        followed live, and the sweep costs one call.
        """
        try:
            resources = list_resources(self.aws, stack_id or self.root.id)
        except ClientError:
            return  # a deleted root lists no resources; the events read live are all there is
        for r in resources:
            physical = r.get("PhysicalResourceId", "")
            if r["ResourceType"] != STACK_TYPE or not physical or physical in self.finished:
                continue
            if self.since is not None and r.get("LastUpdatedTimestamp") and r["LastUpdatedTimestamp"] < self.since:
                continue  # untouched by this operation
            path = prefix + (r["LogicalResourceId"],)
            self.labels.setdefault(physical, "/".join(path))
            self._read(physical, self.labels[physical])
            self._sweep(physical, path)

    # -- reading -------------------------------------------------------------------------------------------------

    def _read(self, stack_id: str, label: str) -> list[Event]:
        """New events of one stack, oldest first; printed, remembered, nested stacks discovered."""
        new = []
        with aws_errors():
            pages = self.aws.cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id)
            for page in pages:
                fresh = [e for e in page["StackEvents"] if self._is_new(e)]
                new += fresh
                if len(fresh) < len(page["StackEvents"]):
                    break  # reached what we have seen or what is older than the operation
        events = [self._event(e, label) for e in reversed(new)]
        for e in events:
            self.seen.add(e.id)
            self.events.append(e)
            self._track(e)
            self._print(e)
        return events

    def _is_new(self, e: dict) -> bool:
        return e["EventId"] not in self.seen and (self.since is None or e["Timestamp"] >= self.since)

    def _event(self, e: dict, label: str) -> Event:
        self.labels.setdefault(e["StackId"], label)
        return Event(e["EventId"], e["StackId"], self.labels.get(e["StackId"], label), e.get("LogicalResourceId", ""),
                     e.get("PhysicalResourceId", ""), e.get("ResourceType", ""), e.get("ResourceStatus", ""),
                     e.get("ResourceStatusReason", ""), e["Timestamp"])

    def _track(self, e: Event) -> None:
        """A parent's row for a nested stack starts or stops our polling of that stack."""
        if not e.nested_stack:
            return
        label = e.logical_id if e.stack_label == "root" else f"{e.stack_label}/{e.logical_id}"
        self.labels.setdefault(e.nested_stack, label)
        if e.status.endswith("_IN_PROGRESS"):
            self.active[e.nested_stack] = label
        elif e.nested_stack in self.active:
            del self.active[e.nested_stack]
            self._read(e.nested_stack, label)  # its last events, before we stop asking
            self.finished.add(e.nested_stack)

    def _print(self, e: Event) -> None:
        what = "(stack)" if e.is_stack_level else e.logical_id
        self.out.event(e.timestamp.strftime("%H:%M:%S"), e.stack_label, what, "" if e.is_stack_level else e.type,
                       e.status, e.reason)

    # -- progress ------------------------------------------------------------------------------------------------

    def in_progress(self) -> list[Event]:
        """Resources whose latest event is *_IN_PROGRESS: what the operation is waiting on."""
        latest: dict[tuple[str, str], Event] = {}
        for e in self.events:
            latest[(e.stack_id, e.logical_id)] = e
        return [e for e in latest.values() if e.status.endswith("_IN_PROGRESS") and e.type != STACK_TYPE]

    def _progress_text(self, now: float) -> str:
        elapsed = duration(now - self.started)
        waiting = self.in_progress()
        if not waiting:
            return f"{self.root.name}: in progress after {elapsed}"
        names = ", ".join(f"{e.stack_label}/{e.logical_id} ({e.type})" for e in waiting[:3])
        text = f"{self.root.name}: in progress after {elapsed}; waiting on {names}"
        slow_ecs = [e for e in waiting if e.type == "AWS::ECS::Service" and now - self.started >= SLOW_ECS_SECONDS]
        if slow_ecs:
            text += ("; ECS waits until the service is stable: read its events with "
                     + aws_cli(self.aws.region, "ecs", "describe-services", *ecs_service_args(slow_ecs[0].physical_id),
                               "--query", "services[0].events[:5]"))
        return text


def ecs_service_args(service_arn: str) -> tuple[str, ...]:
    """``--cluster C --services ARN`` from a service ARN (``arn:aws:ecs:region:account:service/cluster/name``)."""
    parts = service_arn.split(":")[-1].split("/")
    return ("--cluster", parts[1], "--services", service_arn) if len(parts) == 3 else ("--services", service_arn)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# --- how it ended -------------------------------------------------------------------------------------------------


def root_causes(events: list[Event], limit: int = 5) -> list[Event]:
    """The first failures with their own reasons: the nested resource's message, not the parents' echoes of it."""
    failed = sorted((e for e in events if e.status.endswith("_FAILED")), key=lambda e: e.timestamp)
    real = [e for e in failed if not e.reason.startswith(ECHOES)]
    return (real or failed)[:limit]


def show_failure(events: list[Event], out: Out) -> None:
    causes = root_causes(events)
    if not causes:
        out.line("no failed resource events were found (the stack's own status reason is above)")
        return
    out.line("first failures:", "bold red")
    for e in causes:
        out.line(clean(f"  {e.stack_label}/{e.logical_id} ({e.type}) {e.status}: {e.reason}"), "red")  # one line each


def resources_to_skip(aws: Aws, root_id: str) -> list[str]:
    """For ContinueUpdateRollback: resources in UPDATE_FAILED, nested ones as ``NestedStackLogicalId.LogicalId``.

    ContinueUpdateRollback runs on the root (never on a nested stack) and accepts only resources whose rollback
    failed (UPDATE_FAILED).
    """
    skip = [r["LogicalResourceId"] for r in list_resources(aws, root_id)
            if r.get("ResourceStatus") == "UPDATE_FAILED" and r["ResourceType"] != STACK_TYPE]
    for path, physical in nested_stacks(aws, root_id).items():
        skip += [f"{path[-1]}.{r['LogicalResourceId']}" for r in list_resources(aws, physical)
                 if r.get("ResourceStatus") == "UPDATE_FAILED" and r["ResourceType"] != STACK_TYPE]
    return sorted(skip)


def _leftovers(aws: Aws | None, info: StackInfo, region: str) -> list[str]:
    """What the rolled-back create kept (``aws`` None: advice without looking)."""
    if aws is None:
        return []
    try:
        return leftover_lines(left_by_rollback(aws, info.id), region)
    except ClientError as e:
        return [f"could not list what the rollback kept ({error_message(e)}); see the DELETE_SKIPPED events above"]


def recovery(aws: Aws, p: EnvParams, info: StackInfo | None) -> list[str]:
    """What to do next for the final state, as commands to run."""
    if info is None:
        return [f"the stack is gone; start again with: {suggest('plan', p.env)}"]
    status = info.status
    if status == "ROLLBACK_COMPLETE":
        return ["the stack was never created and can only be deleted before trying again:",
                f"  {suggest('destroy', p.env, '--yes')} && {suggest('apply', p.env)}",
                *_leftovers(aws, info, p.region)]
    if status in {"ROLLBACK_FAILED", "DELETE_FAILED", "CREATE_FAILED"}:
        return [f"the stack must be deleted; fix the cause above, then: {suggest('destroy', p.env)}",
                f"  (still failing? {aws_cli(p.region, 'cloudformation', 'delete-stack', '--stack-name', info.name)} "
                "--retain-resources with the logical ids that fail to delete)"]
    if status == "UPDATE_ROLLBACK_COMPLETE":
        return ["the stack is back to its previous state; fix the cause above, then plan again:",
                f"  {suggest('plan', p.env)}"]
    if status == "UPDATE_ROLLBACK_FAILED":
        skip = resources_to_skip(aws, info.id)
        args = f" --resources-to-skip {' '.join(skip)}" if skip else ""
        return ["the rollback failed; fix what blocks it if you can, else skip those resources (they may then "
                "differ from the template):",
                f"  {aws_cli(p.region, 'cloudformation', 'continue-update-rollback', '--stack-name', info.name)}{args}",
                f"  then: {suggest('status', p.env, '--watch')}"]
    if status.endswith("_IN_PROGRESS"):
        return [f"still running; keep watching: {suggest('status', p.env, '--watch')}"]
    return [suggest("status", p.env)]
