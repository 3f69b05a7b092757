"""``apply``: execute a reviewed change set (``--change-set``, its review shown again and its drift repeated), or
plan one and confirm; then the guards, execution and release record of deploy/applying.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from templates.names import PULL_REQUEST_PREFIX

from .. import changeset, diff, drift, pipeline, review
from ..applying import apply_planned, confirmed
from ..aws import check_account
from ..context import Ctx, Planned, PlanOptions
from ..errors import BadInput, DeployError
from ..operations import change_set_kind
from ..stacks import STACK_TYPE, describe


def apply(ctx: Ctx, opts: PlanOptions, change_set: str | None = None, yes: bool = False,
          allow_data_loss: bool = False, review_file: Path | None = None) -> int:
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
        planned = pipeline.plan(ctx, opts)
        if planned is None:
            return 0
        if not yes and not confirmed(ctx, planned):
            return 1
    return apply_planned(ctx, planned, opts, allow_data_loss)


def _given_flags(opts: PlanOptions) -> list[str]:
    """--image-tag and --desired-count as they were given, for a suggested ``plan``."""
    flags = []
    if opts.image_tag:
        flags += ["--image-tag", opts.image_tag]
    if opts.desired_count is not None:
        flags += ["--desired-count", str(opts.desired_count)]
    return flags


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
    cs_type = change_set_kind(info)
    deployed = info.parameters if info and info.exists else {}
    # DescribeChangeSet has no RoleARN: name the stack's role (or the caller), marked not certain (deploy/review.py)
    who = review.acts_as(None, info.role_arn if info else None, certain=False)
    result = review.build(changeset.describe_tree(ctx.aws, desc["ChangeSetId"]), cs_type, deployed_parameters=deployed,
                          acts_as=who)
    if any(r.type == STACK_TYPE and not r.nested_change_set for s in result.stacks for r in s.rows):
        # The deployed templates say which nested stacks hold data (only what is deployed can be lost); the planned
        # nested templates of a change set planned earlier are not read back (plan's own review weighed them).
        result = replace(result, holds=review.stateful_held(diff.deployed_templates(ctx.aws, ctx.p.stack_name), None))
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
