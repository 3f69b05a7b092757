"""One function per CLI command. Each takes a :class:`Ctx` and its options, prints through ``ctx.out`` and returns
the exit code; outcomes that end a command early are raised as :class:`deploy.errors.DeployError` (exit 1) or
:class:`deploy.errors.BadInput` (exit 2) and printed by ``deploy.cli``.

The order inside every command is the same: check the account, check the stack's state, and only then change
anything (upload, create, execute, delete).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

from checks import guardrails
from templates import IDENTITY as templates_identity, app_templates as templates_app, build_all as templates_build_all
from templates.config import EnvParams
from templates.names import (
    PULL_REQUEST_PREFIX,
    TOOL,
    default_bucket,
    identity_stack_name,
    shared_stack_tags,
    stack_tags,
)
from templates.root import Param

from . import adopt as adoption, bootstrap as boot, changeset, diff, drift, history, identity, preflight, review
from .aws import Aws, aws_errors, check_account
from .errors import EXIT, INVOCATION, BadInput, DeployError, again, aws_cli, explain, suggest
from .package import (
    Packaged,
    content_key,
    object_url,
    package,
    quick_create_url,
    template_bucket,
    upload,
)
from .retained import retained
from .stacks import (
    NEEDS_DELETE,
    STACK_TYPE,
    StackInfo,
    change_set_type,
    describe,
    needs_delete,
    nested_stacks,
    protect,
    refuse_unless_idle,
    wait_until_idle,
)
from .ui import Out, Poller
from .watch import Event, Watch, duration, latest_event, recovery, show_failure

SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE"}
OPERATION_STARTS = {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS"}


@dataclass
class Ctx:
    """What every command needs: the environment, AWS, the terminal, the clock."""

    p: EnvParams
    aws: Aws
    out: Out
    home: Path
    poller: Poller = field(default_factory=Poller)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    last_events: list[Event] = field(default_factory=list)  # of the last watched operation, for failure summaries

    @property
    def env(self) -> str:
        return self.p.env

    def command(self, verb: str, *extra: str) -> str:
        """A command that runs as printed: this verb for this environment, with the --region and --profile the user
        gave, then ``extra`` (flags and values, quoted for a POSIX shell)."""
        return suggest(verb, self.env, *extra)

    def again(self, *extra: str, drop: tuple[str, ...] = ()) -> str:
        """This command again, with every flag the user gave it (``--adopt``, ``--image-tag``...), ``extra`` added
        or replacing one, ``drop`` left out (deploy/errors.py, ``again``)."""
        return again(self.env, *extra, drop=drop)


@dataclass(frozen=True)
class PlanOptions:
    image_tag: str | None = None
    desired_count: int | None = None
    json_file: Path | None = None
    markdown_file: Path | None = None
    role_arn: str | None = None
    wait: bool = False
    drift: bool | None = None  # None: on for production environments
    adopt: bool = False  # import the resources of ours that exist outside any stack (deploy/adopt.py)
    key_prefix: str = ""  # "pr": a pull request's plan (deploy/package.py PULL_REQUEST_PREFIX)


@dataclass
class Planned:
    review: review.Review
    arn: str
    info: StackInfo | None
    template_url: str | None = None  # the root's S3 URL when this run planned it (deploy/history.py records it)


class Interrupted(DeployError):
    """Ctrl-C while watching: the operation goes on in CloudFormation (exit 130)."""

    exit_code = EXIT["interrupted"]


# --- bootstrap ----------------------------------------------------------------------------------------------------


def bootstrap(ctx: Ctx, wait: bool = False, yes: bool = False) -> int:
    """Create or update the template bucket's stack, the boundary's, then the environment's identity stack; a second
    run finds no changes."""
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    bucket = template_bucket(ctx.aws, ctx.p, account)
    name = boot.stack_name(bucket, default_bucket(account, ctx.p.region))
    info = _idle(ctx, describe(ctx.aws, name), wait, "bootstrap")
    if info and info.status in NEEDS_DELETE:
        raise DeployError(f"{name} is {info.status}: it can only be deleted (the bucket is retained)",
                          f"{aws_cli(ctx.p.region, 'cloudformation', 'delete-stack', '--stack-name', name)}, then "
                          f"{ctx.again()}")
    cs_type = "CREATE" if info is None or not info.exists else "UPDATE"
    req = changeset.Request(stack_name=name, name=changeset.change_set_name(f"{name}-", "", ctx.now()), type=cs_type,
                            parameters=[], capabilities=(), tags=shared_stack_tags(ctx.p),
                            template_body=boot.template_body(ctx.p, bucket), nested=False,
                            description=f"{TOOL} bootstrap: template bucket {bucket}")
    if info is not None and cs_type == "UPDATE" and boot.bucket_problems(ctx.aws, bucket, account) is None:
        # The stack lists a bucket that is gone: CloudFormation would call it up to date and package would keep
        # saying "run bootstrap". Delete the stack (the bucket is Retain and gone: nothing else is lost) and create it.
        ctx.out.warn(f"the template bucket {bucket} no longer exists, but {name} still lists it: deleting {name} "
                     "and creating it again")
        final, _ = _delete(ctx, info)
        if final is not None and final.status != "DELETE_COMPLETE":
            return _failed(ctx, final)
        return bootstrap(ctx, wait, yes)  # --yes holds on this path too
    arn, req, desc = changeset.create_and_wait(ctx.aws, req, ctx.out, ctx.poller)
    if changeset.no_changes(desc):
        changeset.delete(ctx.aws, arn)
        _healthy_bucket(ctx, bucket, account)
        ctx.out.line(f"{name} is up to date: template bucket s3://{bucket}")
        return _boundary_stack(ctx, name, bucket, wait) or _identity_stack(ctx, bucket, account, wait, yes)
    _require_created(desc)
    ctx.out.line(f"{'creating' if cs_type == 'CREATE' else 'updating'} {name}: template bucket s3://{bucket}")
    final, _ = _execute(ctx, name, arn, req.name)
    if final is not None and final.status in SUCCESS:
        _healthy_bucket(ctx, bucket, account)
        ctx.out.line(f"template bucket ready: s3://{bucket}")
        code = _boundary_stack(ctx, name, bucket, wait) or _identity_stack(ctx, bucket, account, wait, yes)
        if code == 0:
            ctx.out.line(f"next: {ctx.command('plan')}")
        return code
    return _failed(ctx, final)


def _boundary_stack(ctx: Ctx, bucket_stack: str, bucket: str, wait: bool) -> int:
    """Create or update the permissions boundary's own stack (templates/bootstrap.build_boundary); idempotent."""
    name = boot.boundary_stack_name(bucket_stack)
    info = _idle(ctx, describe(ctx.aws, name), wait, "bootstrap")
    if info and info.status in NEEDS_DELETE:
        raise DeployError(f"{name} is {info.status}: it can only be deleted",
                          f"{aws_cli(ctx.p.region, 'cloudformation', 'delete-stack', '--stack-name', name)}, then "
                          f"{ctx.again()}")
    cs_type = "CREATE" if info is None or not info.exists else "UPDATE"
    req = changeset.Request(stack_name=name, name=changeset.change_set_name(f"{name}-", "", ctx.now()), type=cs_type,
                            # a named IAM policy: CAPABILITY_NAMED_IAM
                            parameters=[], capabilities=("CAPABILITY_NAMED_IAM",), tags=shared_stack_tags(ctx.p),
                            template_body=boot.boundary_body(ctx.p, bucket), nested=False,
                            description=f"{TOOL} bootstrap: permissions boundary of the app roles")
    created = _single_change_set(ctx, req, f"{name} is up to date: permissions boundary {bucket}-boundary")
    if created is None:
        return 0
    arn, req = created
    ctx.out.line(f"{'creating' if cs_type == 'CREATE' else 'updating'} {name}: permissions boundary")
    final, _ = _execute(ctx, name, arn, req.name)
    if final is not None and final.status in SUCCESS:
        ctx.out.line(f"permissions boundary ready: {bucket}-boundary")
        return 0
    return _failed(ctx, final)


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


def _single_change_set(ctx: Ctx, req: changeset.Request, up_to_date: str) -> tuple[str, changeset.Request] | None:
    """Create a change set of one stack that is not nested and wait for it; None, saying ``up_to_date`` and leaving no
    change set behind, when it changes nothing."""
    arn, req, desc = changeset.create_and_wait(ctx.aws, req, ctx.out, ctx.poller)
    if changeset.no_changes(desc):
        changeset.delete(ctx.aws, arn)
        ctx.out.line(up_to_date)
        return None
    _require_created(desc)
    return arn, req


def _identity_stack(ctx: Ctx, bucket: str, account: str, wait: bool, yes: bool) -> int:
    """Create or update ``<root>-identity`` (deploy/identity.py) as the caller, never through a service role: review
    the change set (what changes, which IAM access widens), ask, execute, follow. Guardrails first, as for the app."""
    want = identity.built(ctx.p)
    _guardrails(ctx, {name: t.to_dict() for name, t in templates_build_all(ctx.p).items()})
    info = _idle(ctx, describe(ctx.aws, want.name), wait, "bootstrap")
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
        final, _ = _delete(ctx, info)
        if final is not None and final.status != "DELETE_COMPLETE":
            return _failed(ctx, final)
        info = None
    else:
        changeset.clean_up(ctx.aws, want.name, f"{want.name}-")
    key = content_key(want.name, want.body)
    upload(ctx.aws, ctx.p, bucket, account, key, want.body)
    cs_type = "CREATE" if info is None or not info.exists else "UPDATE"
    req = changeset.Request(
        stack_name=want.name, name=changeset.change_set_name(f"{want.name}-", "", ctx.now()), type=cs_type,
        template_url=object_url(bucket, ctx.p.region, key), parameters=[], capabilities=identity.CAPABILITIES,
        tags=stack_tags(ctx.p), nested=False,
        description=f"{TOOL}: {want.name} (IAM roles; an operator's deploy)")
    created = _single_change_set(ctx, req, f"{want.name} is up to date: the environment's IAM roles")
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
    final, seconds = _execute(ctx, want.name, arn, req.name)
    if final is None or final.status not in SUCCESS:
        return _failed(ctx, final)
    if ctx.p.production:
        with aws_errors():
            ctx.aws.cfn.update_termination_protection(EnableTerminationProtection=True, StackName=want.name)
    ctx.out.line(f"{final.name}: {final.status} in {duration(seconds)}", "bold green")
    for key_, value in sorted(final.outputs.items()):
        ctx.out.line(f"  {key_} = {value}")
    return 0


# --- package ------------------------------------------------------------------------------------------------------


def package_cmd(ctx: Ctx, image_tag: str | None = None, desired_count: int | None = None) -> int:
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    preflight.enforce(ctx, preflight.run(ctx, account, describe(ctx.aws, ctx.p.stack_name), image_tag, desired_count))
    packaged = _package(ctx, account)
    ctx.out.line(f"quick-create: {quick_create_url(ctx.p, packaged.root_url, image_tag, desired_count)}")
    return 0


def _package(ctx: Ctx, account: str, adjust: Callable[[dict[str, dict]], None] | None = None,
             key_prefix: str = "") -> Packaged:
    bucket = template_bucket(ctx.aws, ctx.p, account)
    packaged = package(ctx.aws, ctx.p, ctx.home, bucket, check=lambda built: _guardrails(ctx, built), owner=account,
                       adjust=adjust, key_prefix=key_prefix)
    ctx.out.line(f"packaged to s3://{bucket}: {len(packaged.uploaded)} uploaded, {len(packaged.skipped)} unchanged")
    for key in packaged.uploaded:
        ctx.out.line(f"  uploaded {key}")
    ctx.out.line(f"root template: {packaged.root_url}")
    ctx.out.line(f"packaged root: {_shown(packaged.root_file, ctx.home)}")
    return packaged


def _guardrails(ctx: Ctx, built: dict[str, dict]) -> None:
    """Our own rules (checks/guardrails.py) over exactly what would be uploaded: a violation stops before any upload."""
    violations = guardrails.check(built)
    if violations:
        listed = "\n".join(f"  {v}" for v in violations)
        raise DeployError(f"refusing to package {ctx.p.stack_name}: the templates break {len(violations)} guardrail(s) "
                          f"(checks/guardrails.py); nothing was uploaded and no change set created\n{listed}",
                          f"fix params/{ctx.env}.yaml or the template module named above; python "
                          "generate.py build --env "
                          f"{ctx.env} --no-lint lists the same violations")


def _shown(path: Path, home: Path) -> str:
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)


# --- plan ---------------------------------------------------------------------------------------------------------


def plan(ctx: Ctx, opts: PlanOptions) -> int:
    planned = _plan(ctx, opts)
    if planned and not opts.key_prefix:  # a pull request's change set is for review only
        if planned.review.data_loss:  # never a command that carries the override: a copied hint would switch it off
            ctx.out.line(f"apply will refuse change set {planned.review.change_set_name}; it would lose:", "bold red")
            for finding in planned.review.data_loss:
                ctx.out.line(f"  {finding}")
            ctx.out.line(review.REFUSES)
        else:
            ctx.out.line(f"apply it: {ctx.command('apply', '--change-set', planned.review.change_set_name)}")
    return 0


def _plan(ctx: Ctx, opts: PlanOptions, source: Callable[[Ctx, str], Packaged] | None = None) -> Planned | None:
    """Package, create the change set (nested), describe it all, print and write the review; None if no changes.
    ``source(ctx, account)`` replaces packaging with templates already in S3 (``rollback``: a recorded release)."""
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    info = _ready(ctx, describe(ctx.aws, ctx.p.stack_name), opts.wait, "plan")
    cs_type = change_set_type(info, ctx.p)
    given = source(ctx, account) if source else None  # rollback: a release's templates, read back and verified
    checks = preflight.run(ctx, account, info, opts.image_tag, opts.desired_count, opts.adopt, opts.role_arn,
                           pull_request=bool(opts.key_prefix),
                           templates=templates_app(given.templates) if given else None)
    if any(c.status == preflight.BLOCK for c in checks):
        preflight.write_blocked(ctx.p.stack_name, checks, opts.json_file, opts.markdown_file)
    preflight.enforce(ctx, checks)  # before anything is uploaded or created
    drifted = _plan_drift(ctx, info, opts)
    adopted: list[adoption.Found] = []
    if opts.adopt:  # read what exists under our names and upload its properties as found (deploy/adopt.py)
        def adjust(built: dict[str, dict]) -> None:
            adopted.extend(adoption.find(ctx.aws, ctx.p.stack_name, built))
            adoption.as_found(built, adopted)
    packaged = given or _package(ctx, account, adjust if opts.adopt else None, opts.key_prefix)
    req = _request(ctx, info, cs_type, packaged, opts)
    if adopted:
        req = replace(req, import_existing=True)
    arn, req, desc = changeset.create_and_wait(ctx.aws, req, ctx.out, ctx.poller)
    # CreateChangeSet RoleARN: the given role, else the one associated with the stack, else the caller's credentials
    who = review.acts_as(opts.role_arn, info.role_arn if info else None)
    if changeset.no_changes(desc):
        changeset.delete(ctx.aws, arn)  # nothing to review or apply; leave no clutter
        if drifted is not None:
            drifted.show_section(ctx.out)
        ctx.out.line(f"No changes: {ctx.p.stack_name} already matches the templates and parameters")
        unchanged = review.empty(ctx.p.stack_name, cs_type, _shown_parameters(req, info), checks)
        unchanged.drift = drifted
        unchanged.acts_as = who
        unchanged.review_only = bool(opts.key_prefix)
        _write(opts, unchanged)
        return None
    _require_created(desc)
    tree = changeset.describe_tree(ctx.aws, arn)
    deployed = info.parameters if info and info.exists else {}
    # Read back only when there is something to review: an unchanged plan costs no extra call.
    before = diff.deployed_templates(ctx.aws, ctx.p.stack_name, packaged.templates) if cs_type == "UPDATE" else None
    after = packaged.templates
    if before is not None and _identity_differs(checks):
        # a pull request that changes IAM: its review shows what the identity stack would grant (bootstrap deploys it)
        want = identity.built(ctx.p)
        before = {**before, templates_identity: identity.deployed(ctx.aws, want.name).template or {}}
        after = {**after, templates_identity: want.template}
    compared = diff.compare(before, after, ctx.p.region, ctx.env, deployed, tree.parameters)
    result = review.build(tree, cs_type, compared, deployed, who)
    result.holds = review.stateful_held(before, packaged.templates)  # what the data-loss guard weighs
    result.preflight = checks
    result.drift = drifted
    result.review_only = bool(opts.key_prefix)  # a pull request's: never applied (apply and the deploy role refuse it)
    review.show(result, ctx.out)
    if opts.adopt:
        adoption.show(adopted, ctx.out)
    _write(opts, result, adopted)
    return Planned(result, arn, info, packaged.root_url)


def _identity_differs(checks: list) -> bool:
    """Preflight found the identity stack missing or different (only a pull request's plan gets this far then)."""
    return any(c.subject.startswith("identity stack ") and c.status != preflight.PASS for c in checks)


def _plan_drift(ctx: Ctx, info: StackInfo | None, opts: PlanOptions) -> drift.Report | drift.Skipped | None:
    """``--drift`` (default on for production): the deployed hierarchy's drift, for the top of the review. A change
    set compares templates, not reality: without this the reviewer approves a change whose effect on hand-changed
    resources nobody has seen."""
    wanted = ctx.p.production if opts.drift is None else opts.drift
    if not wanted:
        return drift.Skipped("--no-drift") if ctx.p.production else None
    if info is None or not info.exists:
        return drift.Skipped("nothing is deployed yet")
    if info.status not in drift.DETECTABLE:
        return drift.Skipped(f"{info.name} is {info.status}; CloudFormation detects drift only after an operation "
                             "completed")
    return drift.detect(ctx.aws, ctx.p.stack_name, ctx.poller, ctx.out, ctx.command, also=identity.beside(ctx.p))


def _request(ctx: Ctx, info: StackInfo | None, cs_type: str, packaged: Packaged,
             opts: PlanOptions) -> changeset.Request:
    tag = opts.image_tag or (info.parameters.get(Param.ImageTag) if info else None) or ctx.p.image.default_tag
    capabilities = ("CAPABILITY_IAM",) + (("CAPABILITY_AUTO_EXPAND",) if packaged.has_transform else ())
    return changeset.Request(
        stack_name=ctx.p.stack_name, name=changeset.change_set_name(_change_set_prefix(ctx, opts), tag, ctx.now()),
        type=cs_type,
        template_url=packaged.root_url, parameters=_parameters(info, cs_type, opts), capabilities=capabilities,
        tags=stack_tags(ctx.p), role_arn=opts.role_arn,
        description=f"{TOOL}: {ctx.p.stack_name} image {tag}",
    )


def _change_set_prefix(ctx: Ctx, opts: PlanOptions) -> str:
    """``<stack>-``, and ``<stack>-pr-`` for a pull request's plan: its role may create and delete only those
    (templates/ci.py, cloudformation:ChangeSetName)."""
    return f"{ctx.p.stack_name}-{opts.key_prefix}-" if opts.key_prefix else f"{ctx.p.stack_name}-"


def _parameters(info: StackInfo | None, cs_type: str, opts: PlanOptions) -> list[dict]:
    """Given values; on UPDATE the previous value of the others; on CREATE the template's defaults."""
    given: dict[Param, object] = {Param.ImageTag: opts.image_tag, Param.DesiredCount: opts.desired_count}
    out: list[dict] = []
    for key, value in given.items():
        if value is not None:
            out.append({"ParameterKey": str(key), "ParameterValue": str(value)})
        elif cs_type == "UPDATE" and info and key in info.parameters:
            out.append({"ParameterKey": str(key), "UsePreviousValue": True})
    return out


def _shown_parameters(req: changeset.Request, info: StackInfo | None) -> dict[str, str]:
    previous = info.parameters if info else {}
    return {x["ParameterKey"]: x.get("ParameterValue", previous.get(x["ParameterKey"], "")) for x in req.parameters}


def _write(opts: PlanOptions, result: review.Review, adopted: list | None = None) -> None:
    json_text = review.json_text(result, adoption.as_json(adopted or [])) if opts.json_file else ""
    markdown = review.markdown(result) + adoption.markdown(adopted or []) if opts.markdown_file else ""
    for path, text in ((opts.json_file, json_text), (opts.markdown_file, markdown)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def _require_created(desc: dict) -> None:
    if desc["Status"] != "CREATE_COMPLETE":
        raise DeployError(f"change set {desc.get('ChangeSetName')} {desc['Status']}: {desc.get('StatusReason', '')}",
                          "fix the template or parameters named above, then plan again")


# --- apply --------------------------------------------------------------------------------------------------------


def apply(ctx: Ctx, opts: PlanOptions, change_set: str | None = None, yes: bool = False,
          allow_data_loss: bool = False, review_file: Path | None = None,
          source: Callable[[Ctx, str], Packaged] | None = None, rollback: history.Rollback | None = None) -> int:
    """Execute a reviewed change set (or plan one and confirm), guard the data, follow it to the end."""
    if change_set:
        _refuse_review_only(ctx, change_set)  # before any call
        if opts.image_tag or opts.desired_count is not None:
            raise BadInput("--image-tag and --desired-count are fixed when a change set is planned",
                           f"plan a new one: {ctx.command('plan', *_given_flags(opts))}")
        planned = _reviewed(ctx, change_set)
        if planned is None:
            return 0
        _repeat_drift(ctx, planned, review_file)
    else:
        planned = _plan(ctx, opts, source)
        if planned is None:
            return 0
        if not yes and not _confirmed(ctx, planned):
            return 1
    info = _ready(ctx, describe(ctx.aws, ctx.p.stack_name), opts.wait, "apply")
    change_set_type(info, ctx.p)  # refuses the states no change set may run in (e.g. UPDATE_ROLLBACK_FAILED)
    _guard(ctx, planned.review, allow_data_loss)
    if ctx.p.production and info and info.exists:
        protect(ctx.aws, info, ctx.out)  # before executing: the policy must already cover this update
    final, seconds = _execute(ctx, ctx.p.stack_name, planned.arn, planned.review.change_set_name)
    if final is None or final.status not in SUCCESS:
        return _failed(ctx, final)
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


def _given_flags(opts: PlanOptions) -> list[str]:
    """--image-tag and --desired-count as they were given, for a suggested ``plan``."""
    flags = []
    if opts.image_tag:
        flags += ["--image-tag", opts.image_tag]
    if opts.desired_count is not None:
        flags += ["--desired-count", str(opts.desired_count)]
    return flags


def _after_apply_drift(ctx: Ctx) -> None:
    """Drift of what was just deployed: a resource the update did not touch keeps its hand-made change."""
    report = drift.detect(ctx.aws, ctx.p.stack_name, ctx.poller, ctx.out, ctx.command, also=identity.beside(ctx.p))
    drift.show(report, ctx.out, heading=False)
    if not report.ok:
        ctx.out.warn(f"applied, but the deployed stacks still differ from the templates (above); "
                     f"to see it again: {ctx.command('drift')}")


def _refuse_review_only(ctx: Ctx, name_or_arn: str) -> None:
    """A pull request's change set is for review only: its templates come from ``pr/`` and its parameters from the
    pull request. The deploy role is denied ``ExecuteChangeSet`` on it too (``templates/ci.py``); this refuses it
    before any call, by name or by ARN."""
    if changeset.review_only(ctx.p.stack_name, name_or_arn, PULL_REQUEST_PREFIX):
        raise BadInput(f"change set {name_or_arn} is a pull request's ({ctx.p.stack_name}-{PULL_REQUEST_PREFIX}-*): "
                       "it is for review only and is never applied",
                       f"merge the pull request; main plans its own change set, or plan one here: "
                       f"{ctx.command('plan')}")


def _reviewed(ctx: Ctx, name_or_arn: str) -> Planned | None:
    """A change set planned earlier: check it belongs here and can run, then show its review again."""
    check_account(ctx.aws, ctx.p.account_id, ctx.env)
    desc = changeset.find(ctx.aws, ctx.p.stack_name, name_or_arn, ctx.env)
    _refuse_review_only(ctx, desc["ChangeSetName"])  # the name AWS knows it by, whatever was given
    if desc["StackName"] != ctx.p.stack_name:
        raise BadInput(f"change set {desc['ChangeSetName']} is for stack {desc['StackName']}, not {ctx.p.stack_name}",
                       "pass the --env the change set was planned for")
    if changeset.no_changes(desc):
        ctx.out.line(f"No changes: change set {desc['ChangeSetName']} has nothing to apply")
        return None
    if desc.get("ExecutionStatus") != "AVAILABLE" or desc["Status"] != "CREATE_COMPLETE":
        raise DeployError(f"change set {desc['ChangeSetName']} cannot be executed: {desc['Status']}, "
                          f"{desc.get('ExecutionStatus')} {desc.get('StatusReason', '')}".rstrip(),
                          f"plan again: {ctx.command('plan')}")
    info = describe(ctx.aws, ctx.p.stack_name)
    cs_type = "CREATE" if info is None or not info.exists else "UPDATE"
    deployed = info.parameters if info and info.exists else {}
    # DescribeChangeSet has no RoleARN: name the stack's role (or the caller), marked not certain (deploy/review.py)
    who = review.acts_as(None, info.role_arn if info else None, certain=False)
    result = review.build(changeset.describe_tree(ctx.aws, desc["ChangeSetId"]), cs_type, deployed_parameters=deployed,
                          acts_as=who)
    if any(r.type == STACK_TYPE and not r.nested_change_set for s in result.stacks for r in s.rows):
        # The deployed templates say which nested stacks hold data (only what is deployed can be lost); the planned
        # nested templates of a change set planned earlier are not read back (plan's own review weighed them).
        result.holds = review.stateful_held(diff.deployed_templates(ctx.aws, ctx.p.stack_name), None)
    review.show(result, ctx.out)
    return Planned(result, desc["ChangeSetId"], info)


def _repeat_drift(ctx: Ctx, planned: Planned, review_file: Path | None) -> None:
    """Repeat the drift warning of a reviewed change set: from its plan's JSON review when given, else (production)
    by detecting again the resources CloudFormation's latest detection found drifted. A warning, not a refusal:
    applying does not make drift worse, but it does not repair it either."""
    if review_file is not None:
        recorded = _review_drift(ctx, planned, review_file)
        if recorded is None:
            return
        if not recorded.get("checked"):
            ctx.out.warn(f"drift was not checked when this change set was planned ({recorded.get('skipped')})")
            return
        lines = [f"{s['path']}/{r['logicalId']} ({r['type']}): {r['status']}" for s in recorded["stacks"]
                 for r in s["resources"] if r["status"] in drift.DRIFTED]
        lines += [f"{s['path']}: detection failed: {s['reason']}" for s in recorded["stacks"]
                  if s["detectionStatus"] != "DETECTION_COMPLETE"]
    elif ctx.p.production:
        again = drift.recorded(ctx.aws, ctx.p.stack_name)
        if not again:
            return
        report = drift.detect(ctx.aws, ctx.p.stack_name, ctx.poller, ctx.out, ctx.command, only=again)
        lines = [f"{s.label}/{r.logical_id} ({r.type}): {r.status}" for s, r in report.drifted]
        lines += [f"{s.label}: detection failed: {s.reason}" for s in report.failed]
    else:
        return
    for line in lines:
        ctx.out.warn(f"DRIFT: {line}")
    if lines:
        ctx.out.line("  this change set does not reset drift the templates do not change; "
                     f"details: {ctx.command('drift')}", "bold yellow")


def _review_drift(ctx: Ctx, planned: Planned, path: Path) -> dict | None:

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadInput(f"--review {path}: cannot read the plan's JSON review ({e})",
                       f"pass the file plan wrote with --json: {ctx.command('plan', '--json', str(path))}") from None
    if not isinstance(data, dict) or data.get("changeSetArn") != planned.arn:
        raise BadInput(f"--review {path} is the review of another change set, not {planned.review.change_set_name}",
                       "pass the --json file of the plan that created this change set")
    return data.get("drift")


def _confirmed(ctx: Ctx, planned: Planned) -> bool:
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


# --- executing and watching ---------------------------------------------------------------------------------------


def _execute(ctx: Ctx, stack_name: str, arn: str, token: str) -> tuple[StackInfo | None, float]:
    """Execute and follow until the end; (final state, seconds). Ctrl-C stops the watching, not the deploy."""
    before = describe(ctx.aws, stack_name)
    assert before is not None, "a stack with a change set exists (REVIEW_IN_PROGRESS at least)"
    since, baseline = latest_event(ctx.aws, before.id)
    started = ctx.poller.clock()
    try:
        # ExecuteChangeSet on the root executes the nested change sets too. The token makes a retried call (botocore
        # retries a dropped connection) idempotent: CloudFormation ignores a second execute with the same token.
        ctx.aws.cfn.execute_change_set(ChangeSetName=arn, ClientRequestToken=token[:128])
    except Exception as e:  # noqa: BLE001 - only AWS's errors are translated; anything else is re-raised
        if not _from_aws(e) or isinstance(e, ClientError):
            raise
        err = explain(e, [])
        raise DeployError(f"{err.message}, while asking CloudFormation to execute {token}: it may have started",
                          f"see whether it runs and follow it: {ctx.command('status', '--watch')}",
                          err.exit_code) from None
    return _follow(ctx, Watch(ctx.aws, before, since, baseline, ctx.out, ctx.poller), started)


def _follow(ctx: Ctx, watch: Watch, started: float) -> tuple[StackInfo | None, float]:
    goes_on = "the operation goes on in CloudFormation (nothing was cancelled)"
    try:
        final = watch.run()
    except KeyboardInterrupt:
        raise Interrupted(f"stopped watching; {goes_on}",
                          f"keep watching: {ctx.command('status', '--watch')}") from None
    except Exception as e:  # noqa: BLE001 - AWS's errors while watching: the deploy itself is not affected
        if not _from_aws(e):
            raise
        err = explain(e, [])
        raise DeployError(f"{err.message}; stopped watching, {goes_on}",
                          f"follow it again: {ctx.command('status', '--watch')}", err.exit_code) from None
    ctx.last_events = watch.events  # for the failure summary
    return final, ctx.poller.clock() - started


def _failed(ctx: Ctx, final: StackInfo | None) -> int:
    show_failure(ctx.last_events, ctx.out)
    state = f"{final.status}: {final.reason}".rstrip(": ") if final else "the stack no longer exists"
    ctx.out.line(f"final state: {state}", "bold red")
    for line in recovery(ctx.aws, ctx.p, final):
        ctx.out.line(line)
    return 1


def _from_aws(e: BaseException) -> bool:
    return type(e).__module__.startswith(("botocore", "boto3"))


# --- stack state before acting ------------------------------------------------------------------------------------


def _idle(ctx: Ctx, info: StackInfo | None, wait: bool, command: str) -> StackInfo | None:
    if info is not None and info.busy:
        if not wait:
            refuse_unless_idle(info, ctx.p, command)
        info = wait_until_idle(ctx.aws, info, ctx.out, ctx.poller)
    return info


def _ready(ctx: Ctx, info: StackInfo | None, wait: bool, command: str) -> StackInfo | None:
    """Idle (or waited for), and not in a state that only allows deleting; offer the delete when someone can answer."""
    info = _idle(ctx, info, wait, command)
    if info is None or info.status not in NEEDS_DELETE:
        return info
    err = needs_delete(info, ctx.p)
    if ctx.out.interactive and ctx.out.confirm(f"{err.message}. Delete {info.name} now?"):
        final, _ = _delete(ctx, info)
        if final is not None and final.status != "DELETE_COMPLETE":
            _failed(ctx, final)
            raise DeployError(f"{info.name} could not be deleted ({final.status})")
        return None
    raise err


# --- status -------------------------------------------------------------------------------------------------------


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
    final, seconds = _follow(ctx, Watch(ctx.aws, info, since, set(), ctx.out, ctx.poller), ctx.poller.clock())
    if final is not None and final.status in SUCCESS:
        ctx.out.line(f"{final.name}: {final.status} (watched {duration(seconds)})", "bold green")
        return 0
    return _failed(ctx, final)


def _operation_start(aws: Aws, stack_id: str) -> datetime | None:
    with aws_errors():
        page = aws.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    starts = [e["Timestamp"] for e in page if e.get("PhysicalResourceId") == e["StackId"]
              and e.get("ResourceStatus") in OPERATION_STARTS]
    return starts[0] if starts else (page[0]["Timestamp"] if page else None)


# --- drift --------------------------------------------------------------------------------------------------------


def drift_cmd(ctx: Ctx, json_file: Path | None = None, markdown_file: Path | None = None) -> int:
    """Detect drift on every stack of the hierarchy; 0 when every checked resource is in sync, 1 on drift or a
    failed detection."""
    check_account(ctx.aws, ctx.p.account_id, ctx.env)
    report = drift.detect(ctx.aws, ctx.p.stack_name, ctx.poller, ctx.out, ctx.command, also=identity.beside(ctx.p))
    drift.show(report, ctx.out)
    drift.write(report, json_file, markdown_file)
    if report.failed:
        raise DeployError(f"drift detection failed on {len(report.failed)} stack(s) (above): their drift is unknown",
                          f"correct what each stack's reason names, then run it again: {ctx.again()}")
    if not report.ok:
        raise DeployError(f"{drift.summary_text(report)}: the deployed resources differ from the templates (above)",
                          "bring each back as its \"what to do\" line says (by hand, or change the template and plan), "
                          f"then check again: {ctx.again()}")
    return 0


# --- destroy ------------------------------------------------------------------------------------------------------


def destroy(ctx: Ctx, yes: bool = False, wait: bool = False, with_identity: bool = False) -> int:
    check_account(ctx.aws, ctx.p.account_id, ctx.env)
    info = _idle(ctx, describe(ctx.aws, ctx.p.stack_name), wait, "destroy")
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
    if not yes and not ctx.out.confirm_typed(f"Delete stack {info.name} and its nested stacks{also}?", info.name):
        if not ctx.out.interactive:
            raise BadInput("destroy needs a confirmation and there is no terminal to ask",
                           ctx.again("--yes"))
        ctx.out.line("not deleted")
        return 1
    final, seconds = _delete(ctx, info)
    if final is not None and final.status != "DELETE_COMPLETE":
        return _failed(ctx, final)
    ctx.out.line(f"{info.name} deleted in {duration(seconds)}", "bold green")
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
    if not yes and not ctx.out.confirm_typed(f"Delete stack {name} (the environment's IAM roles)?", name):
        if not ctx.out.interactive:
            raise BadInput("destroy needs a confirmation and there is no terminal to ask", ctx.again("--yes"))
        ctx.out.line("not deleted")
        return 1
    final, seconds = _delete(ctx, info)
    if final is not None and final.status != "DELETE_COMPLETE":
        return _failed(ctx, final)
    ctx.out.line(f"{name} deleted in {duration(seconds)}", "bold green")
    return 0


def _delete(ctx: Ctx, info: StackInfo) -> tuple[StackInfo | None, float]:
    since, baseline = latest_event(ctx.aws, info.id)
    started = ctx.poller.clock()
    with aws_errors():
        ctx.aws.cfn.delete_stack(StackName=info.id)
    return _follow(ctx, Watch(ctx.aws, info, since, baseline, ctx.out, ctx.poller), started)


def _show_retained(ctx: Ctx, kept: list, before: bool) -> None:
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
