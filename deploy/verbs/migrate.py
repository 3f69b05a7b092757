"""``migrate-data``: copy the seed's file system into this environment's, through a temporary path stack and a
one-off Fargate task (deploy/migrate.py), a dry run unless ``--execute``; the path is removed afterwards."""

from __future__ import annotations

import json

from checks import guardrails
from templates import migrate as template
from templates._yaml import dump as dump_yaml
from templates.names import stack_tags

from .. import changeset, operations, review
from ..aws import aws_errors, check_account
from ..context import Ctx
from ..errors import BadInput, DeployError, aws_cli
from ..migrate import (
    EXIT,
    FILE_SYSTEM_ID,
    SCRIPT,
    SEED_FAMILY,
    Ours,
    Source,
    failure_fix,
    ours,
    parameters,
    refuse_writers,
    run_task,
    seed_read_statement,
    show,
    source,
    stream_name,
    wait_and_report,
)
from ..stacks import describe


def migrate_data(ctx: Ctx, file_system: str, execute: bool = False, yes: bool = False,
                 seed_family: str = SEED_FAMILY) -> int:
    if not FILE_SYSTEM_ID.fullmatch(file_system):
        raise BadInput(f"--from {file_system!r} is not a file system id",
                       "pass the seed's: --from fs-00b8168893587fd61")
    check_account(ctx.aws, ctx.p.account_id, ctx.env)
    o = ours(ctx)
    refuse_writers(ctx, o, seed_family)
    s = source(ctx, o, file_system)
    name = template.stack_name(ctx.p)
    earlier = describe(ctx.aws, name)
    if earlier is not None and earlier.exists:
        raise DeployError(f"{name} exists: an earlier migrate-data did not remove its path",
                          f"{aws_cli(ctx.p.region, 'cloudformation', 'delete-stack', '--stack-name', name)}, then: "
                          f"{ctx.again()}")
    if earlier is not None:  # REVIEW_IN_PROGRESS: only an unexecuted change set, no resource
        _discard(ctx, name)
    ctx.out.line(f"{'copy' if execute else 'dry run (lists and maps; --execute copies)'}: {s.file_system} "
                 f"({s.size_bytes} bytes metered) -> {o.file_system}, through {name} (removed afterwards), in the app "
                 f"image {ctx.p.image.repository}:{o.image_tag} as {o.task_role}")
    if s.policy:
        ctx.out.warn(f"{s.file_system} has a file system policy: the copy mounts it with IAM authorization as "
                     f"{o.task_role}, which its policy must allow; the statement to add: "
                     + json.dumps(seed_read_statement(o.task_role, s.arn or s.file_system), sort_keys=True)
                     + f" (also printed by {ctx.command('discover')})")
    arn = _plan(ctx, name, o, s)
    if not yes and not (ctx.out.interactive and ctx.out.confirm(f"Create {name} (the path above) and run the task?")):
        _discard(ctx, name)
        if not ctx.out.interactive:
            raise BadInput("migrate-data needs a confirmation and there is no terminal to ask",
                           ctx.again("--yes"))
        ctx.out.line("not started; nothing was changed")
        return 1
    final, _ = operations.execute(ctx, name, arn, arn.split("/")[1])  # the change set's name: unique per run
    try:
        if final is None or final.status not in operations.SUCCESS:
            raise DeployError(f"{name} could not be created ({final.status if final else 'gone'})")
        task = run_task(ctx, o, s, final.outputs[template.Out.TaskDefinitionArn],
                        final.outputs[template.Out.SecurityGroupId], execute)
        ctx.out.line(f"task {task} started; waiting for it to stop")
        code, events, why = wait_and_report(ctx, o, task)
        show(ctx, events)
    finally:
        _remove_path(ctx, name, s)
    if code != 0:
        raise DeployError(f"the migrate task ended: {EXIT.get(code, f'exit code {code}')} {why}".rstrip(),
                          failure_fix(ctx, s, why, execute))
    return _outcome(ctx, task, events, file_system, execute)


def _outcome(ctx: Ctx, task: str, events: list[dict], file_system: str, execute: bool) -> int:
    """What the task reported, and only that: a dry run is complete when its report (layout and mapping) was read, a
    copy is "copied" only after the task reported every file verified."""
    kinds = {e.get("event") for e in events}
    read_it = aws_cli(ctx.p.region, "logs", "tail", ctx.p.logs.group_name, "--log-stream-names", stream_name(task))
    if "nothing" in kinds:
        ctx.out.line("nothing to copy: the source holds no data")
        return 0
    if not execute:
        if not {"found", "done"} <= kinds:
            raise DeployError("the dry run's task ended, but its report (the source's layout and the "
                              "mapping) could not "
                              "be read from its log stream: nothing was shown, so nothing is known about the copy",
                              f"read it: {read_it}; or run it again: {ctx.again()}")
        ctx.out.line(f"dry run complete; copy with: {ctx.command('migrate-data', '--from', file_system, '--execute')}")
        return 0
    if "verified" not in kinds or "done" not in kinds:
        raise DeployError("the copy task ended, but its report says no verification (or could not be read from its log "
                          "stream): the new file system holds an unverified copy; do not start the service on it",
                          f"read the report: {read_it}; if the copy is incomplete, empty the destination by hand "
                          "(README, Taking over the seed's production, step 8), then copy again")
    ctx.out.line(f"copied and verified; start the service: {ctx.command('apply', '--desired-count', '1')}")
    return 0


def _discard(ctx: Ctx, name: str) -> None:
    """Delete a stack that holds only an unexecuted CREATE change set (REVIEW_IN_PROGRESS): nothing was created."""
    with aws_errors():
        ctx.aws.cfn.delete_stack(StackName=name)


def _remove_path(ctx: Ctx, name: str, s: Source) -> None:
    info = describe(ctx.aws, name)
    gone = operations.delete_stack(ctx, info)[0] if info is not None else None
    if gone is None or gone.status == "DELETE_COMPLETE":
        ctx.out.line(f"{name} deleted: the path to {s.file_system} is closed")
    else:
        ctx.out.warn(f"{name} is {gone.status}: the path to {s.file_system} may still be open; delete it: "
                     + aws_cli(ctx.p.region, "cloudformation", "delete-stack", "--stack-name", name))


def _plan(ctx: Ctx, name: str, o: Ours, s: Source) -> str:
    """The temporary stack as a reviewed CREATE change set; its ARN."""
    built = template.build(ctx.p, SCRIPT.read_text(encoding="utf-8")).to_dict()
    violations = guardrails.check({"migrate": built})
    if violations:  # the same rules as every environment's templates (tests/deploy/test_migrate.py keeps them clean)
        raise DeployError("the migrate template breaks guardrails:\n" + "\n".join(f"  {v}" for v in violations))
    body = dump_yaml(built)
    req = changeset.Request(stack_name=name, name=changeset.change_set_name(f"{name}-", "", ctx.now()), type="CREATE",
                            parameters=parameters(o, s), capabilities=(), template_body=body, nested=False,
                            tags=stack_tags(ctx.p),
                            description=f"migrate-data {s.file_system} -> {o.file_system} (temporary)")
    arn, req, desc = changeset.create_and_wait(ctx.aws, req, ctx.out, ctx.poller)
    if desc["Status"] != "CREATE_COMPLETE":
        _discard(ctx, name)
        raise DeployError(f"change set for {name} {desc['Status']}: {desc.get('StatusReason', '')}")
    review.show(review.build(changeset.describe_tree(ctx.aws, arn), "CREATE"), ctx.out)
    return arn
