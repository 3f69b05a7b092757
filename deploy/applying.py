"""Applying a planned change set, shared by ``apply`` and ``rollback``: the confirmation, the single-writer and
data-loss guards, production protection, executing and following it, the summary, the release record and the drift of
what was just deployed.
"""

from __future__ import annotations

from . import adopt as adoption, changeset, drift, history, identity, review
from .context import Ctx, Planned, PlanOptions
from .errors import INVOCATION, BadInput, DeployError
from .history import Rollback
from .operations import SUCCESS, change_set_type, execute, failed, ready
from .stacks import StackInfo, describe, protect
from .watch import duration


def apply_planned(ctx: Ctx, planned: Planned, opts: PlanOptions, allow_data_loss: bool = False,
                  rollback: Rollback | None = None) -> int:
    """Guard the data, protect production, execute the change set and follow it to the end, then record the
    release."""
    info = ready(ctx, describe(ctx.aws, ctx.p.stack_name), opts.wait, "apply")
    change_set_type(info, ctx.p)  # refuses the states no change set may run in (e.g. UPDATE_ROLLBACK_FAILED)
    _guard(ctx, planned.review, allow_data_loss)
    if ctx.p.production and info and info.exists:
        protect(ctx.aws, info, ctx.out)  # before executing: the policy must already cover this update
    final, seconds = execute(ctx, ctx.p.stack_name, planned.arn, planned.review.change_set_name)
    if final is None or final.status not in SUCCESS:
        return failed(ctx, final)
    if ctx.p.production and not (info and info.exists):
        protect(ctx.aws, final, ctx.out)  # a new stack gets its protection as soon as it exists
    _summary(ctx, planned.review, final, seconds)
    history.record(ctx, planned, final, rollback)  # a warning, never a failure, when it cannot be written
    if adoption.imports(planned.review):
        for line in adoption.next_steps(ctx.command):
            ctx.out.line(line)
    if info and info.exists and (ctx.p.production if opts.drift is None else opts.drift):
        _after_apply_drift(ctx)
    return 0


def confirmed(ctx: Ctx, planned: Planned) -> bool:
    """Ask before executing a change set planned in this run; without a terminal, refuse with the command that
    applies the kept change set."""
    if not ctx.out.interactive:
        raise BadInput("apply needs a confirmation and there is no terminal to ask (the change set is kept for review)",
                       _apply_kept(ctx, planned.review.change_set_name))
    if ctx.out.confirm(f"Apply change set {planned.review.change_set_name} to {ctx.p.stack_name}?"):
        return True
    ctx.out.line(f"not applied; the change set is kept: {planned.review.change_set_name}")
    return False


def _apply_kept(ctx: Ctx, name: str) -> str:
    """``apply --change-set NAME --yes``: from ``apply``, with the user's other flags (not those the change set fixed);
    from another verb (``rollback``), plain."""
    if INVOCATION.get().verb != "apply":
        return ctx.command("apply", "--change-set", name, "--yes")
    return ctx.again("--change-set", name, "--yes", drop=("--image-tag", "--desired-count", "--adopt"))


def _after_apply_drift(ctx: Ctx) -> None:
    """Drift of what was just deployed: a resource the update did not touch keeps its hand-made change."""
    report = drift.detect(ctx.aws, ctx.p.stack_name, ctx.poller, ctx.out, ctx.command, also=identity.beside(ctx.p))
    drift.show(report, ctx.out, heading=False)
    if not report.ok:
        ctx.out.warn(f"applied, but the deployed stacks still differ from the templates (above); "
                     f"to see it again: {ctx.command('drift')}")


def _guard(ctx: Ctx, result: review.Review, allow_data_loss: bool) -> None:
    """Stop before executing when the ECS service would be replaced while it runs (two writers on EFS; no override),
    or when stateful resources would be removed or replaced (or cannot be checked)."""
    writers = result.single_writer
    if writers:
        listed = "\n".join(f"  {f}" for f in writers)
        raise DeployError(
            f"refusing to apply: this change set would run a second ECS service on the same EFS data (single writer)\n"
            f"{listed}",
            "to replace the service deliberately, scale it to 0 in the same deploy: "
            f"{ctx.command('apply', '--desired-count', '0')} "
            f"(the new service starts without a task, the old one's task stops when it is "
            f"deleted), then {ctx.command('apply', '--desired-count', '1')}. The service has a fixed name "
            f"(task.family): CloudFormation replaces it only when that name changes too")
    findings = result.data_loss
    if not findings:
        return
    listed = "\n".join(f"  {f}" for f in findings)
    if not allow_data_loss:
        raise DeployError(f"refusing to apply: this change set would lose data\n{listed}",
                          "change the templates so the stateful resources keep their logical ids and replacement-free "
                          "properties; only if losing them is intended: back the data up, then give apply its "
                          "data-loss override yourself (python generate.py apply --help)")
    ctx.out.warn(f"--allow-data-loss given; applying although\n{listed}")
    if ctx.p.production:
        ctx.out.warn("the production stack policy still denies replacing or deleting the EFS file system and access "
                     "points; CloudFormation will fail the update unless that policy is changed by hand first")


def _summary(ctx: Ctx, result: review.Review, final: StackInfo, seconds: float) -> None:
    ctx.out.line(f"{final.name}: {final.status} in {duration(seconds)} ({review.summary_text(result.counts())})",
                 "bold green")
    for key, value in sorted(final.outputs.items()):
        ctx.out.line(f"  {key} = {value}")
    removed = changeset.clean_up(ctx.aws, ctx.p.stack_name, f"{ctx.p.stack_name}-", keep=result.change_set_arn)
    if removed:
        ctx.out.line(f"removed {len(removed)} old change set(s) of ours: {', '.join(removed)}")


