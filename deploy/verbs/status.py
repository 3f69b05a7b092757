"""``status``: the stack's state, outputs, nested stacks and latest events; ``--watch`` follows a running operation to
its end."""

from __future__ import annotations

from datetime import UTC, datetime

from ..aws import Aws, aws_errors, check_account
from ..context import Ctx
from ..errors import DeployError
from ..operations import SUCCESS, failed, follow
from ..stacks import StackInfo, describe, nested_stacks
from ..watch import Watch, duration, recovery

OPERATION_STARTS = {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS"}


def status(ctx: Ctx, watch: bool = False, events: int = 10) -> int:
    check_account(ctx.aws, ctx.p.account_id, ctx.env)  # another account would answer "no such stack", misleadingly
    info = describe(ctx.aws, ctx.p.stack_name)
    if info is None:
        raise DeployError(f"no stack {ctx.p.stack_name} in {ctx.p.region}",
                          f"create it: {ctx.command('plan')}, then apply")
    _show_stack(ctx, info)
    nested = nested_stacks(ctx.aws, info.id)
    _show_nested(ctx, nested)
    _show_events(ctx, info, nested, events)
    if watch and info.busy:
        return _watch_running(ctx, info)
    if info.status not in SUCCESS and not info.busy and info.exists and info.status != "UPDATE_ROLLBACK_COMPLETE":
        for line in recovery(ctx.aws, ctx.p, info):
            ctx.out.line(line)
    return 0


def _show_stack(ctx: Ctx, info: StackInfo) -> None:
    ctx.out.heading(f"{info.name}: {info.status}")
    if info.reason:
        ctx.out.line(f"reason: {info.reason}")
    if info.updated:
        ctx.out.line(f"last change: {info.updated.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    ctx.out.line(f"termination protection: {'on' if info.termination_protection else 'off'}")
    if info.parameters:
        ctx.out.line("parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(info.parameters.items())))
    if info.outputs:
        ctx.out.table("outputs", ["Output", "Value"], [[k, v] for k, v in sorted(info.outputs.items())])


def _show_nested(ctx: Ctx, nested: dict[tuple[str, ...], str]) -> None:
    rows = []
    for path, physical in nested.items():
        child = describe(ctx.aws, physical)
        rows.append(["/".join(path), child.status if child else "(deleted)", child.reason if child else ""])
    if rows:
        ctx.out.table("nested stacks", ["Stack", "Status", "Reason"], rows)


def _show_events(ctx: Ctx, info: StackInfo, nested: dict[tuple[str, ...], str], limit: int) -> None:
    """The latest events across the root and nested stacks (first page of each), oldest of them first."""
    found = []
    for label, stack in [("root", info.id)] + [("/".join(p), s) for p, s in nested.items()]:
        with aws_errors():
            page = ctx.aws.cfn.describe_stack_events(StackName=stack)["StackEvents"]
        found += [(e["Timestamp"], label, e) for e in page[:limit]]
    if not found:
        return
    ctx.out.line("latest events:")
    for ts, label, e in sorted(found, key=lambda x: (x[0], x[1]))[-limit:]:
        what = "(stack)" if e.get("PhysicalResourceId") == e["StackId"] else e.get("LogicalResourceId", "")
        ctx.out.event(ts.strftime("%Y-%m-%d %H:%M:%S"), label, what, e.get("ResourceType", ""),
                      e.get("ResourceStatus", ""), e.get("ResourceStatusReason", ""))


def _watch_running(ctx: Ctx, info: StackInfo) -> int:
    """``status --watch``: follow the running operation from its start to its end."""
    since = _operation_start(ctx.aws, info.id)
    ctx.out.line(f"watching {info.name} ({info.status}) until it ends; Ctrl-C stops watching only")
    final, seconds = follow(ctx, Watch(ctx.aws, info, since, set(), ctx.out, ctx.poller), ctx.poller.clock())
    if final is not None and final.status in SUCCESS:
        ctx.out.line(f"{final.name}: {final.status} (watched {duration(seconds)})", "bold green")
        return 0
    return failed(ctx, final)


def _operation_start(aws: Aws, stack_id: str) -> datetime | None:
    with aws_errors():
        page = aws.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    starts = [e["Timestamp"] for e in page if e.get("PhysicalResourceId") == e["StackId"]
              and e.get("ResourceStatus") in OPERATION_STARTS]
    return starts[0] if starts else (page[0]["Timestamp"] if page else None)
