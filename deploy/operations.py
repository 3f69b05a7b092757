"""The shared engine of the verbs: run an operation on a stack and follow it to its end, and the states a stack must
be in first. Every verb that changes a stack goes through here, so executing, deleting, waiting and reporting a
failure read the same everywhere.

- :func:`execute` executes a change set and follows it (:func:`follow`); Ctrl-C stops the watching, not the deploy.
- :func:`delete_stack` deletes a stack and follows it; :func:`delete_confirmed` also says whether it is gone
  (``DELETE_COMPLETE``) and reports the failure when it is not.
- :func:`idle` and :func:`ready`: the stack's state before acting (busy: refuse, or wait with ``--wait``; a state that
  only allows deleting: offer the delete).
- :func:`change_set_kind` is the one CREATE/UPDATE choice; :func:`change_set_type` adds the states no change set may
  be planned in.
- :func:`single_change_set`: the change set of one stack that is not nested, or None when it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from templates.config import EnvParams

from . import changeset
from .aws import aws_errors
from .context import Ctx
from .errors import EXIT, DeployError, aws_cli, explain, suggest
from .stacks import NEEDS_DELETE, StackInfo, describe, needs_delete, refuse_unless_idle, wait_until_idle
from .watch import Watch, latest_event, recovery, show_failure

SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE"}


class Interrupted(DeployError):
    """Ctrl-C while watching: the operation goes on in CloudFormation (exit 130)."""

    exit_code = EXIT["interrupted"]


# --- which change set ---------------------------------------------------------------------------------------------


def change_set_kind(info: StackInfo | None) -> str:
    """THE CREATE/UPDATE choice: CREATE while no stack exists (none, or one that only holds an unexecuted CREATE change
    set, REVIEW_IN_PROGRESS), else UPDATE."""
    return "CREATE" if info is None or not info.exists else "UPDATE"


def change_set_type(info: StackInfo | None, p: EnvParams) -> str:
    """CREATE or UPDATE for the next change set of the app's root, or the reason nothing may be planned now."""
    if change_set_kind(info) == "CREATE":
        return "CREATE"
    assert info is not None
    refuse_unless_idle(info, p)
    if info.status in NEEDS_DELETE:
        raise needs_delete(info, p)
    if info.status == "UPDATE_ROLLBACK_FAILED":
        resume = aws_cli(p.region, "cloudformation", "continue-update-rollback", "--stack-name", info.name)
        raise DeployError(f"{info.name} is UPDATE_ROLLBACK_FAILED: an update failed and so did its rollback",
                          f"{suggest('status', p.env)} prints the complete command, "
                          f"{resume}"
                          " with --resources-to-skip")
    if info.status == "UPDATE_FAILED":  # only when rollback was disabled
        raise DeployError(f"{info.name} is UPDATE_FAILED with rollback disabled",
                          aws_cli(p.region, "cloudformation", "rollback-stack", "--stack-name", info.name))
    return "UPDATE"


def require_created(desc: dict) -> None:
    if desc["Status"] != "CREATE_COMPLETE":
        raise DeployError(f"change set {desc.get('ChangeSetName')} {desc['Status']}: {desc.get('StatusReason', '')}",
                          "fix the template or parameters named above, then plan again")


def single_change_set(ctx: Ctx, req: changeset.Request, up_to_date: str) -> tuple[str, changeset.Request] | None:
    """Create a change set of one stack that is not nested and wait for it; None, saying ``up_to_date`` and leaving no
    change set behind, when it changes nothing."""
    arn, req, desc = changeset.create_and_wait(ctx.aws, req, ctx.out, ctx.poller)
    if changeset.no_changes(desc):
        changeset.delete(ctx.aws, arn)
        ctx.out.line(up_to_date)
        return None
    require_created(desc)
    return arn, req


# --- executing, deleting and watching -----------------------------------------------------------------------------


def execute(ctx: Ctx, stack_name: str, arn: str, token: str) -> tuple[StackInfo | None, float]:
    """Execute and follow until the end; (final state, seconds). Ctrl-C stops the watching, not the deploy."""
    before = describe(ctx.aws, stack_name)
    assert before is not None, "a stack with a change set exists (REVIEW_IN_PROGRESS at least)"
    since, baseline = latest_event(ctx.aws, before.id)
    started = ctx.poller.clock()
    try:
        # ExecuteChangeSet on the root executes the nested change sets too. The token makes a retried call (botocore
        # retries a dropped connection) idempotent: CloudFormation ignores a second execute with the same token.
        ctx.aws.cfn.execute_change_set(ChangeSetName=arn, ClientRequestToken=token[:128])
    except Exception as e:  # only AWS's errors are translated; anything else is re-raised
        if not from_aws(e) or isinstance(e, ClientError):
            raise
        err = explain(e, [])
        raise DeployError(f"{err.message}, while asking CloudFormation to execute {token}: it may have started",
                          f"see whether it runs and follow it: {ctx.command('status', '--watch')}",
                          err.exit_code) from None
    return follow(ctx, Watch(ctx.aws, before, since, baseline, ctx.out, ctx.poller), started)


def follow(ctx: Ctx, watch: Watch, started: float) -> tuple[StackInfo | None, float]:
    """Watch an operation to its end; (final state, seconds since ``started``)."""
    goes_on = "the operation goes on in CloudFormation (nothing was cancelled)"
    try:
        final = watch.run()
    except KeyboardInterrupt:
        raise Interrupted(f"stopped watching; {goes_on}",
                          f"keep watching: {ctx.command('status', '--watch')}") from None
    except Exception as e:  # AWS's errors while watching: the deploy itself is not affected
        if not from_aws(e):
            raise
        err = explain(e, [])
        raise DeployError(f"{err.message}; stopped watching, {goes_on}",
                          f"follow it again: {ctx.command('status', '--watch')}", err.exit_code) from None
    ctx.last_events = watch.events  # for the failure summary
    return final, ctx.poller.clock() - started


def failed(ctx: Ctx, final: StackInfo | None) -> int:
    """Say why the operation failed (its root causes), the final state and how to recover; exit code 1."""
    show_failure(ctx.last_events, ctx.out)
    state = f"{final.status}: {final.reason}".rstrip(": ") if final else "the stack no longer exists"
    ctx.out.line(f"final state: {state}", "bold red")
    for line in recovery(ctx.aws, ctx.p, final):
        ctx.out.line(line)
    return 1


def from_aws(e: BaseException) -> bool:
    return type(e).__module__.startswith(("botocore", "boto3"))


def delete_stack(ctx: Ctx, info: StackInfo) -> tuple[StackInfo | None, float]:
    """Delete and follow until the end; (final state, seconds)."""
    since, baseline = latest_event(ctx.aws, info.id)
    started = ctx.poller.clock()
    with aws_errors():
        ctx.aws.cfn.delete_stack(StackName=info.id)
    return follow(ctx, Watch(ctx.aws, info, since, baseline, ctx.out, ctx.poller), started)


@dataclass(frozen=True)
class Deleted:
    """How a delete ended: ``final`` is None when the stack is gone from DescribeStacks."""

    final: StackInfo | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.final is None or self.final.status == "DELETE_COMPLETE"


def delete_confirmed(ctx: Ctx, info: StackInfo) -> Deleted:
    """Delete, follow, then check it is DELETE_COMPLETE (or gone); when not, report the failure (:func:`failed`)."""
    final, seconds = delete_stack(ctx, info)
    gone = Deleted(final, seconds)
    if not gone.ok:
        failed(ctx, final)
    return gone


# --- stack state before acting ------------------------------------------------------------------------------------


def idle(ctx: Ctx, info: StackInfo | None, wait: bool, command: str) -> StackInfo | None:
    """The stack when no operation runs on it: a busy one is refused, or waited for with ``--wait``."""
    if info is not None and info.busy:
        if not wait:
            refuse_unless_idle(info, ctx.p, command)
        info = wait_until_idle(ctx.aws, info, ctx.out, ctx.poller)
    return info


def ready(ctx: Ctx, info: StackInfo | None, wait: bool, command: str) -> StackInfo | None:
    """Idle (or waited for), and not in a state that only allows deleting; offer the delete when someone can answer."""
    info = idle(ctx, info, wait, command)
    if info is None or info.status not in NEEDS_DELETE:
        return info
    err = needs_delete(info, ctx.p)
    if ctx.out.interactive and ctx.out.confirm(f"{err.message}. Delete {info.name} now?"):
        gone = delete_confirmed(ctx, info)
        if not gone.ok:
            assert gone.final is not None
            raise DeployError(f"{info.name} could not be deleted ({gone.final.status})")
        return None
    raise err
