"""``plan``'s pipeline, shared by ``plan``, ``apply`` and ``rollback``, one step after the other over one built value:

    build once -> preflight -> drift -> guardrails -> upload -> change set -> diff -> review (constructed whole)
    -> render

The account guard and the stack's state come first; the templates are then built once (deploy/built.py) and every
later step reads that value: preflight (its simulated permissions and the identity check included; a BLOCK stops
before anything is uploaded), the guardrails over exactly what would be uploaded, the upload, the change set over the
whole nested hierarchy, the deployed templates read back for the IAM, security group and cost diff, the review and its
renderings. ``rollback`` gives the pipeline a release's templates (read back from S3 and verified) instead, and
``plan --adopt`` an adjusted copy of the built ones: data, not callbacks.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import templates
from checks import guardrails
from checks.template_walk import Templates
from templates import IDENTITY as templates_identity, app_templates as templates_app
from templates.names import TOOL, stack_tags
from templates.root import Param

from . import adopt as adoption, changeset, diff, drift, identity, preflight, review
from .aws import check_account
from .built import Built, build
from .context import Ctx, Planned, PlanOptions
from .errors import DeployError
from .operations import change_set_type, ready, require_created
from .package import Packaged, bundle, package, template_bucket
from .stacks import StackInfo, describe


def plan(ctx: Ctx, opts: PlanOptions, release: Packaged | None = None) -> Planned | None:
    """Build once, then: preflight, drift, the guardrails and the upload, the change set (nested), the diff and the
    review, printed and written; None if no changes. ``release``: templates already in S3 planned instead of the
    params' (``rollback``: a recorded release, read back and verified), as data; ``plan --adopt`` plans an adjusted
    copy of the built templates."""
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    info = ready(ctx, describe(ctx.aws, ctx.p.stack_name), opts.wait, "plan")
    cs_type = change_set_type(info, ctx.p)
    # once: every step below reads this value. A rollback plans a release's templates and builds none of today's
    # (preflight builds only what a check of it needs): a stack module that no longer builds must not stop a rollback.
    built = build(ctx.p) if release is None else None
    checks = preflight.run(ctx, account, info, opts.image_tag, opts.desired_count, opts.adopt, opts.role_arn,
                           pull_request=bool(opts.key_prefix),
                           templates=templates_app(release.templates) if release else None, built=built)
    if any(c.status == preflight.BLOCK for c in checks):
        preflight.write_blocked(ctx.p.stack_name, checks, opts.json_file, opts.markdown_file)
    preflight.enforce(ctx, checks)  # before anything is uploaded or created
    drifted = _plan_drift(ctx, info, opts)
    # --adopt: read what exists under our names; its properties as found are what is uploaded (deploy/adopt.py)
    if built is None:
        assert release is not None, "only a rollback plans without building"
        adopted, packaged = None, release
    else:
        adopted = adoption.find(ctx.aws, ctx.p.stack_name, built.app) if opts.adopt else None
        packaged = upload(ctx, account, built, adopted or [], opts.key_prefix)
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
        _write(opts, review.empty(ctx.p.stack_name, cs_type, _shown_parameters(req, info), checks, drift=drifted,
                                  acts_as=who, review_only=bool(opts.key_prefix)))
        return None
    require_created(desc)
    tree = changeset.describe_tree(ctx.aws, arn)
    deployed = info.parameters if info and info.exists else {}
    # Read back only when there is something to review: an unchanged plan costs no extra call.
    before = diff.deployed_templates(ctx.aws, ctx.p.stack_name, packaged.templates) if cs_type == "UPDATE" else None
    after = packaged.templates
    if before is not None and _identity_differs(checks):
        # a pull request that changes IAM: its review shows what the identity stack would grant (bootstrap deploys it)
        want = built.identity if built is not None else identity.built(ctx.p)
        before = {**before, templates_identity: identity.deployed(ctx.aws, want.name).template or {}}
        after = {**after, templates_identity: want.template}
    result = review.build(
        tree, cs_type, diff.compare(before, after, ctx.p.region, ctx.env, deployed, tree.parameters), deployed, who,
        holds=review.stateful_held(before, packaged.templates),  # what the data-loss guard weighs
        checks=checks, drift=drifted,
        review_only=bool(opts.key_prefix),  # a pull request's: never applied (apply and the deploy role refuse it)
        adopted=adopted)
    review.show(result, ctx.out)
    _write(opts, result)
    return Planned(result, arn, info, packaged.root_url)


def upload(ctx: Ctx, account: str, built: Built, adopted: list[adoption.Found] | None = None,
           key_prefix: str = "") -> Packaged:
    """The guardrails over exactly what would be uploaded (the templates' own values: what adopt imports as found is
    not theirs to judge), then the upload (deploy/package.py), said on the terminal."""
    bucket = template_bucket(ctx.aws, ctx.p, account)
    bundled = bundle(ctx.p, bucket, adoption.adjusted(built.app, adopted or []), key_prefix)
    enforce_guardrails(ctx, {**built.app, templates.ROOT: bundled.root})  # before anything reaches S3
    packaged = package(ctx.aws, ctx.p, ctx.home, bucket, owner=account, bundled=bundled)
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


def _write(opts: PlanOptions, result: review.Review) -> None:
    json_text = review.json_text(result) if opts.json_file else ""
    markdown = review.markdown(result) if opts.markdown_file else ""
    for path, text in ((opts.json_file, json_text), (opts.markdown_file, markdown)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
