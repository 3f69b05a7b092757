"""``plan``'s pipeline, shared by ``plan``, ``apply`` and ``rollback``: the account guard; the stack's state;
preflight (a BLOCK stops before anything is uploaded); drift of the deployed hierarchy (``--drift``); packaging (the
guardrails over the built templates, then the upload); the change set over the whole nested hierarchy; the deployed
templates read back for the IAM, security group and cost diff; the review and its renderings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from checks import guardrails
from checks.template_walk import Templates
from templates import IDENTITY as templates_identity, app_templates as templates_app
from templates.names import TOOL, stack_tags
from templates.root import Param

from . import adopt as adoption, changeset, diff, drift, identity, preflight, review
from .aws import check_account
from .context import Ctx, Planned, PlanOptions
from .errors import DeployError
from .operations import change_set_type, ready, require_created
from .package import Packaged, package, template_bucket
from .stacks import StackInfo, describe


def plan(ctx: Ctx, opts: PlanOptions, source: Callable[[Ctx, str], Packaged] | None = None) -> Planned | None:
    """Package, create the change set (nested), describe it all, print and write the review; None if no changes.
    ``source(ctx, account)`` replaces packaging with templates already in S3 (``rollback``: a recorded release)."""
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    info = ready(ctx, describe(ctx.aws, ctx.p.stack_name), opts.wait, "plan")
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
        def adjust(built: Templates) -> None:
            adopted.extend(adoption.find(ctx.aws, ctx.p.stack_name, built))
            adoption.as_found(built, adopted)
    packaged = given or package_templates(ctx, account, adjust if opts.adopt else None, opts.key_prefix)
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
    require_created(desc)
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


def package_templates(ctx: Ctx, account: str, adjust: Callable[[Templates], None] | None = None,
                      key_prefix: str = "") -> Packaged:
    """The guardrails, then the upload (deploy/package.py), said on the terminal."""
    bucket = template_bucket(ctx.aws, ctx.p, account)
    packaged = package(ctx.aws, ctx.p, ctx.home, bucket, check=lambda built: enforce_guardrails(ctx, built),
                       owner=account, adjust=adjust, key_prefix=key_prefix)
    ctx.out.line(f"packaged to s3://{bucket}: {len(packaged.uploaded)} uploaded, {len(packaged.skipped)} unchanged")
    for key in packaged.uploaded:
        ctx.out.line(f"  uploaded {key}")
    ctx.out.line(f"root template: {packaged.root_url}")
    ctx.out.line(f"packaged root: {_shown(packaged.root_file, ctx.home)}")
    return packaged


def enforce_guardrails(ctx: Ctx, built: Templates) -> None:
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
