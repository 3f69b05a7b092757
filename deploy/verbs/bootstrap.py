"""``bootstrap``: the template bucket's stack, the permissions boundary's, then the environment's identity stack
(its IAM roles, reviewed and confirmed). A second run finds no changes."""

from __future__ import annotations

from templates import IDENTITY as templates_identity
from templates.names import TOOL, default_bucket, shared_stack_tags, stack_tags

from .. import bootstrap as boot, changeset, diff, identity, review
from ..aws import aws_errors, check_account
from ..built import build
from ..context import Ctx
from ..errors import BadInput, DeployError, aws_cli
from ..operations import (
    SUCCESS,
    change_set_kind,
    delete_confirmed,
    execute,
    failed,
    idle,
    require_created,
    single_change_set,
)
from ..package import content_key, object_url, template_bucket, upload
from ..pipeline import enforce_guardrails
from ..stacks import NEEDS_DELETE, StackInfo, describe
from ..watch import duration


def bootstrap(ctx: Ctx, wait: bool = False, yes: bool = False) -> int:
    """Create or update the template bucket's stack, the boundary's, then the environment's identity stack; a second
    run finds no changes."""
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    bucket = template_bucket(ctx.aws, ctx.p, account)
    name = boot.stack_name(bucket, default_bucket(account, ctx.p.region))
    info, req = _shared_stack(ctx, name, wait, "it can only be deleted (the bucket is retained)", (),
                              boot.template_body(ctx.p, bucket), f"template bucket {bucket}")
    cs_type = req.type
    if info is not None and cs_type == "UPDATE" and boot.bucket_problems(ctx.aws, bucket, account) is None:
        # The stack lists a bucket that is gone: CloudFormation would call it up to date and package would keep
        # saying "run bootstrap". Delete the stack (the bucket is Retain and gone: nothing else is lost) and create it.
        ctx.out.warn(f"the template bucket {bucket} no longer exists, but {name} still lists it: deleting {name} "
                     "and creating it again")
        if not delete_confirmed(ctx, info).ok:
            return 1
        return bootstrap(ctx, wait, yes)  # --yes holds on this path too
    arn, req, desc = changeset.create_and_wait(ctx.aws, req, ctx.out, ctx.poller)
    if changeset.no_changes(desc):
        changeset.delete(ctx.aws, arn)
        _healthy_bucket(ctx, bucket, account)
        ctx.out.line(f"{name} is up to date: template bucket s3://{bucket}")
        return _boundary_stack(ctx, name, bucket, wait) or _identity_stack(ctx, bucket, account, wait, yes)
    require_created(desc)
    ctx.out.line(f"{'creating' if cs_type == 'CREATE' else 'updating'} {name}: template bucket s3://{bucket}")
    final, _ = execute(ctx, name, arn, req.name)
    if final is not None and final.status in SUCCESS:
        _healthy_bucket(ctx, bucket, account)
        ctx.out.line(f"template bucket ready: s3://{bucket}")
        code = _boundary_stack(ctx, name, bucket, wait) or _identity_stack(ctx, bucket, account, wait, yes)
        if code == 0:
            ctx.out.line(f"next: {ctx.command('plan')}")
        return code
    return failed(ctx, final)


def _shared_stack(ctx: Ctx, name: str, wait: bool, only_delete: str, capabilities: tuple[str, ...], body: str,
                  what: str) -> tuple[StackInfo | None, changeset.Request]:
    """One of the account's bootstrap stacks (not nested, tagged ``env: shared``): idle or waited for, refused when it
    can only be deleted (``only_delete`` says why), and the change set request that creates or updates it."""
    info = idle(ctx, describe(ctx.aws, name), wait, "bootstrap")
    if info and info.status in NEEDS_DELETE:
        raise DeployError(f"{name} is {info.status}: {only_delete}",
                          f"{aws_cli(ctx.p.region, 'cloudformation', 'delete-stack', '--stack-name', name)}, then "
                          f"{ctx.again()}")
    req = changeset.Request(stack_name=name, name=changeset.change_set_name(f"{name}-", "", ctx.now()),
                            type=change_set_kind(info), parameters=[], capabilities=capabilities,
                            tags=shared_stack_tags(ctx.p), template_body=body, nested=False,
                            description=f"{TOOL} bootstrap: {what}")
    return info, req


def _boundary_stack(ctx: Ctx, bucket_stack: str, bucket: str, wait: bool) -> int:
    """Create or update the permissions boundary's own stack (templates/bootstrap.build_boundary); idempotent."""
    name = boot.boundary_stack_name(bucket_stack)
    # a named IAM policy: CAPABILITY_NAMED_IAM
    _, req = _shared_stack(ctx, name, wait, "it can only be deleted", ("CAPABILITY_NAMED_IAM",),
                           boot.boundary_body(ctx.p, bucket), "permissions boundary of the app roles")
    cs_type = req.type
    created = single_change_set(ctx, req, f"{name} is up to date: permissions boundary {bucket}-boundary")
    if created is None:
        return 0
    arn, req = created
    ctx.out.line(f"{'creating' if cs_type == 'CREATE' else 'updating'} {name}: permissions boundary")
    final, _ = execute(ctx, name, arn, req.name)
    if final is not None and final.status in SUCCESS:
        ctx.out.line(f"permissions boundary ready: {bucket}-boundary")
        return 0
    return failed(ctx, final)


def _healthy_bucket(ctx: Ctx, bucket: str, account: str) -> None:
    """The bucket as the template builds it: put back what was changed outside CloudFormation, and say so."""
    problems = boot.bucket_problems(ctx.aws, bucket, account)
    if problems is None:
        raise DeployError(f"the template bucket {bucket} does not exist although its stack was just deployed",
                          f"run it again: {ctx.command('bootstrap')}")
    if problems:
        ctx.out.warn(f"the template bucket {bucket} was changed outside CloudFormation ({'; '.join(problems)}): "
                     "putting the template's settings back")
        boot.repair_bucket(ctx.aws, ctx.p, bucket, account)


def _identity_stack(ctx: Ctx, bucket: str, account: str, wait: bool, yes: bool) -> int:
    """Create or update ``<root>-identity`` (deploy/identity.py) as the caller, never through a service role: review
    the change set (what changes, which IAM access widens), ask, execute, follow. Guardrails first, as for the app."""
    built = build(ctx.p)  # once: the guardrails judge every template, the identity stack is deployed from it
    want = built.identity
    enforce_guardrails(ctx, built.templates)
    info = idle(ctx, describe(ctx.aws, want.name), wait, "bootstrap")
    if info and info.status in NEEDS_DELETE - {"ROLLBACK_COMPLETE"}:  # ROLLBACK_COMPLETE is replaced below
        raise DeployError(f"{want.name} is {info.status}: a stack in this state can only be deleted before trying "
                          "again (it holds roles only, no data)",
                          aws_cli(ctx.p.region, "cloudformation", "delete-stack", "--stack-name", want.name)
                          + f", then {ctx.command('bootstrap')}")
    found = identity.deployed(ctx.aws, want.name)
    if found.role_arn:
        raise DeployError(
            f"{want.name} has the service role {found.role_arn}: CloudFormation would use it for this change set "
            "instead of your credentials, and a service role cannot be removed from a stack",
            f"delete the stack (its roles are re-created with the same names; stop the app first: "
            f"{ctx.command('apply', '--desired-count', '0')}), then {ctx.command('bootstrap')}; or: "
            + aws_cli(ctx.p.region, "cloudformation", "delete-stack", "--stack-name", want.name))
    # a change set an earlier run kept for review is replaced by this one: the review shown here is the one that runs.
    # A stack still in REVIEW_IN_PROGRESS (its first change set never ran) or ROLLBACK_COMPLETE (its first create
    # rolled back, deleting what it made; roles are never retained) holds nothing: deleted, then created anew.
    if info is not None and info.status in {"REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"}:
        if not delete_confirmed(ctx, info).ok:
            return 1
        info = None
    else:
        changeset.clean_up(ctx.aws, want.name, f"{want.name}-")
    key = content_key(want.name, want.body)
    upload(ctx.aws, ctx.p, bucket, account, key, want.body)
    cs_type = change_set_kind(info)
    req = changeset.Request(
        stack_name=want.name, name=changeset.change_set_name(f"{want.name}-", "", ctx.now()), type=cs_type,
        template_url=object_url(bucket, ctx.p.region, key), parameters=[], capabilities=identity.CAPABILITIES,
        tags=stack_tags(ctx.p), nested=False,
        description=f"{TOOL}: {want.name} (IAM roles; an operator's deploy)")
    created = single_change_set(ctx, req, f"{want.name} is up to date: the environment's IAM roles")
    if created is None:
        return 0
    arn, req = created
    tree = changeset.describe_tree(ctx.aws, arn)
    before = {templates_identity: found.template} if cs_type == "UPDATE" and found.template else None
    result = review.build(tree, cs_type, diff.compare(before, {templates_identity: want.template}, ctx.p.region,
                                                      ctx.env), {}, review.acts_as(None, found.role_arn))
    review.show(result, ctx.out)
    if not yes:
        if not ctx.out.interactive:
            raise BadInput(f"{want.name} changes IAM roles and there is no terminal to ask (the change set "
                           f"{req.name} is kept for review)", ctx.again("--yes"))
        if not ctx.out.confirm(f"Apply change set {req.name} to {want.name}?"):
            ctx.out.line(f"not applied; the change set is kept: {req.name}")
            return 1
    final, seconds = execute(ctx, want.name, arn, req.name)
    if final is None or final.status not in SUCCESS:
        return failed(ctx, final)
    if ctx.p.production:
        with aws_errors():
            ctx.aws.cfn.update_termination_protection(EnableTerminationProtection=True, StackName=want.name)
    ctx.out.line(f"{final.name}: {final.status} in {duration(seconds)}", "bold green")
    for key_, value in sorted(final.outputs.items()):
        ctx.out.line(f"  {key_} = {value}")
    return 0
