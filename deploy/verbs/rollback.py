"""``rollback``: plan the previous good release (or ``--to``) exactly as recorded (deploy/history.py), review it like
``plan``, apply it like ``apply``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import templates

from .. import diff, history as records, pipeline
from ..applying import apply_planned, confirmed
from ..aws import check_account
from ..context import Ctx, PlanOptions
from ..errors import BadInput, DeployError
from ..history import Rollback
from ..operations import idle
from ..package import ROOT_FILE, Packaged, object_url, template_bucket, uses_transform
from ..stacks import STACK_TYPE, describe


@dataclass
class Target:
    release: dict
    packaged: Packaged


def rollback(ctx: Ctx, to: str | None = None, yes: bool = False, allow_data_loss: bool = False,
             role_arn: str | None = None, wait: bool = False) -> int:
    """Plan the previous good release (or ``--to``) exactly as recorded, review it like ``plan``, apply it like
    ``apply`` (the same confirmation, data-loss and single-writer guards and production protection)."""
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    info = describe(ctx.aws, ctx.p.stack_name)
    if info is None or not info.exists:
        raise DeployError(f"no stack {ctx.p.stack_name} in {ctx.p.region}: there is nothing to roll back",
                          f"deploy it: {ctx.command('apply')}")
    info = idle(ctx, info, wait, "rollback")
    bucket = template_bucket(ctx.aws, ctx.p, account)
    found = records.releases(ctx, bucket, account)
    now = records.current(ctx, found, info, bucket, account)
    release = _pick(ctx, found, now, to)
    target = _load(ctx, release, bucket, account)
    params = release["parameters"]
    ctx.out.line(f"rolling back {ctx.p.stack_name} to release {release['id']} (image {params.get('ImageTag')}, "
                 f"desired count {params.get('DesiredCount')}, {release.get('status')} at {release.get('time')})")
    opts = PlanOptions(image_tag=params.get("ImageTag"), desired_count=_count(ctx, release), role_arn=role_arn,
                       wait=wait)
    planned = pipeline.plan(ctx, opts, release=target.packaged)  # the release's templates, not the params'

    if planned is None:
        return 0
    if not yes and not confirmed(ctx, planned):
        return 1
    return apply_planned(ctx, planned, opts, allow_data_loss,
                         Rollback(rolled_back_from=now, restored=release["id"]))


def _pick(ctx: Ctx, found: list[dict], now: str | None, to: str | None) -> dict:
    if to is not None:
        for r in found:
            if r["id"] == to:
                if not r.get("templateUrl"):
                    raise DeployError(f"release {to} recorded no template URL: it cannot be deployed again",
                                      f"pick another one from: {ctx.command('history')}")
                return r
        raise BadInput(f"no release {to!r} of {ctx.p.stack_name}", f"pick an id from: {ctx.command('history')}")
    ids = [r["id"] for r in found]
    deployed = next((r for r in found if r["id"] == now), None)
    if deployed is not None and deployed.get("restored") in ids:
        # the stack runs a rollback: go on back from the release it restored, never forward to what it undid
        older = found[ids.index(deployed["restored"]) + 1:]
    else:
        older = found[ids.index(now) + 1:] if now in ids else found
    if now is None and found:
        ctx.out.warn(f"{ctx.p.stack_name} runs no recorded release: rolling back to the newest good one")
    for r in older:
        same = deployed is not None and (r.get("templateUrl"), r.get("parameters")) == (
            deployed.get("templateUrl"), deployed.get("parameters"))
        if r.get("status") in records.GOOD and r.get("templateUrl") and not same:
            return r
    raise DeployError(f"no earlier good release of {ctx.p.stack_name} to roll back to "
                      f"({len(found)} recorded{', the newest is deployed now' if now else ''})",
                      f"see what is recorded: {ctx.command('history')}")


def _count(ctx: Ctx, release: dict) -> int | None:
    value = (release.get("parameters") or {}).get("DesiredCount")
    if value is None:
        return None
    if value not in ("0", "1"):
        raise DeployError(f"release {release['id']} recorded DesiredCount {value!r}, not 0 or 1",
                          f"pick another one from: {ctx.command('history')}")
    return int(value)


def _load(ctx: Ctx, release: dict, bucket: str, account: str) -> Target:
    """The release's root and every nested template it names, read back from S3 and each checked against the SHA-256
    in its key before anything is planned; refuse if any is gone or is not what its name says. The URLs handed on
    are rebuilt from bucket, region and key (:func:`template_key`), never the recorded strings."""
    params = release.get("parameters") or {}
    forward = [*(["--image-tag", params["ImageTag"]] if params.get("ImageTag") else []),
               *(["--desired-count", params["DesiredCount"]] if params.get("DesiredCount") in ("0", "1") else [])]
    instead = f"deploy the same image with today's templates instead: {ctx.command('apply', *forward)}"

    def gone(key: str) -> DeployError:
        return DeployError(f"release {release['id']} cannot be restored: s3://{bucket}/{key} is gone (the template "
                           "bucket expires objects 365 days after their first upload, or it was deleted)", instead)

    def read(url: object) -> tuple[str, str, dict]:
        try:
            key = records.template_key(url, bucket, ctx.p.region, ctx.p.stack_name)
            got = records.read_template(ctx, bucket, account, key)
        except records.Foreign as e:
            raise DeployError(f"release {release['id']} is refused: {e}", instead) from None
        if got is None:
            raise gone(key)
        return key, *got

    root_key, root_text, root = read(release["templateUrl"])
    root_url = object_url(bucket, ctx.p.region, root_key)
    loaded = {templates.ROOT: root}
    urls, bodies = {}, [root_text]
    for logical_id, resource in sorted(root["Resources"].items()):
        if not isinstance(resource, dict) or resource.get("Type") != STACK_TYPE:
            continue
        key, text, child = read((resource.get("Properties") or {}).get("TemplateURL"))
        stem = diff.stem_of(logical_id)
        urls[stem] = object_url(bucket, ctx.p.region, key)
        bodies.append(text)
        loaded[stem] = child
    ctx.out.line(f"release {release['id']}: root and {len(urls)} nested template(s) found in s3://{bucket}, each "
                 "the bytes its SHA-256 name says")
    ctx.out.line(f"root template: {root_url}")
    packaged = Packaged(bucket, root_url, Path(ROOT_FILE), root_text, urls, skipped=[root_key, *urls.values()],
                        has_transform=any(map(uses_transform, bodies)), templates=loaded)
    return Target(release, packaged)
