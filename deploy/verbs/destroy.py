"""``destroy``: delete the app's stacks after a typed confirmation, list what is retained and how to remove it by
hand; ``--identity`` deletes the identity stack after them."""

from __future__ import annotations

from templates.names import identity_stack_name

from ..aws import check_account
from ..context import Ctx
from ..errors import BadInput, DeployError, aws_cli
from ..operations import delete_confirmed, idle
from ..retained import Retained, retained
from ..stacks import describe
from ..watch import duration


def destroy(ctx: Ctx, yes: bool = False, wait: bool = False, with_identity: bool = False) -> int:
    check_account(ctx.aws, ctx.p.account_id, ctx.env)
    info = idle(ctx, describe(ctx.aws, ctx.p.stack_name), wait, "destroy")
    if info is None and with_identity and describe(ctx.aws, identity_stack_name(ctx.p)) is not None:
        return _destroy_identity(ctx, True, yes)  # the app's stacks are gone already: only the roles are left
    if info is None:  # README: exit 1, as status does: a wrong --env or --region should not pass silently
        raise DeployError(f"nothing to destroy: there is no stack {ctx.p.stack_name} in {ctx.p.region}",
                          f"check the environment and region: {ctx.command('status')}")
    if info.termination_protection:
        raise DeployError(f"{info.name} has termination protection (production); deleting it is a deliberate act",
                          aws_cli(ctx.p.region, "cloudformation", "update-termination-protection",
                                  "--no-enable-termination-protection", "--stack-name", info.name)
                          + f", then {ctx.again()}")
    kept = retained(ctx.aws, info) if info.exists else []
    _show_retained(ctx, kept, before=True)
    also = f", then {identity_stack_name(ctx.p)} (the IAM roles)" if with_identity else ""
    if not yes and not _confirmed(ctx, f"Delete stack {info.name} and its nested stacks{also}?", info.name):
        return 1
    gone = delete_confirmed(ctx, info)
    if not gone.ok:
        return 1
    ctx.out.line(f"{info.name} deleted in {duration(gone.seconds)}", "bold green")
    _show_retained(ctx, kept, before=False)
    return _destroy_identity(ctx, with_identity, True)  # confirmed with the app's stacks above


def _destroy_identity(ctx: Ctx, wanted: bool, yes: bool) -> int:
    """``--identity``: the identity stack goes after the app stacks that use its roles (it holds no data), as the
    caller (it never has a service role, deploy/identity.py). Without it, it stays, and the next plan needs no
    bootstrap. Deleting it alone asks as destroy does: type its name, or ``--yes``."""
    name = identity_stack_name(ctx.p)
    info = describe(ctx.aws, name)
    if info is None:
        return 0
    if not wanted:
        ctx.out.line(f"kept {name} (the IAM roles; no data, no cost): {ctx.command('destroy', '--identity')} after "
                     "the app's stacks are gone deletes it too")
        return 0
    if info.termination_protection:
        ctx.out.warn(f"{name} (the IAM roles) has termination protection and is kept; to delete it: "
                     + aws_cli(ctx.p.region, "cloudformation", "update-termination-protection",
                               "--no-enable-termination-protection", "--stack-name", name)
                     + ", then " + aws_cli(ctx.p.region, "cloudformation", "delete-stack", "--stack-name", name))
        return 0
    if not yes and not _confirmed(ctx, f"Delete stack {name} (the environment's IAM roles)?", name):
        return 1
    gone = delete_confirmed(ctx, info)
    if not gone.ok:
        return 1
    ctx.out.line(f"{name} deleted in {duration(gone.seconds)}", "bold green")
    return 0


def _confirmed(ctx: Ctx, question: str, name: str) -> bool:
    """The stack's name typed at the prompt; without a terminal to ask, the same command with ``--yes`` (exit 2)."""
    if ctx.out.confirm_typed(question, name):
        return True
    if not ctx.out.interactive:
        raise BadInput("destroy needs a confirmation and there is no terminal to ask", ctx.again("--yes"))
    ctx.out.line("not deleted")
    return False


def _show_retained(ctx: Ctx, kept: list[Retained], before: bool) -> None:
    if not kept:
        if before:
            ctx.out.line("nothing is retained: every resource is deleted with the stack")
        return
    if before:
        ctx.out.line("these resources are retained (DeletionPolicy: Retain) and keep their data:")
        for r in kept:
            ctx.out.line(f"  {r.stack}/{r.logical_id}  {r.type}  {r.physical_id}")
        return
    ctx.out.line("retained, with their data; to remove them by hand (irreversible):")
    for r in kept:
        ctx.out.line(f"  {r.stack}/{r.logical_id} ({r.type} {r.physical_id}):")
        for command in r.removal(ctx.p.region):
            ctx.out.line(f"    {command}")
