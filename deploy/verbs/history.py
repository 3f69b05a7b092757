"""``history``: the releases ``apply`` recorded (deploy/history.py), newest first, the deployed one marked."""

from __future__ import annotations

import json
from pathlib import Path

from .. import history as records
from ..aws import check_account
from ..context import Ctx
from ..package import template_bucket
from ..stacks import describe
from ..ui import clean


def history(ctx: Ctx, json_file: Path | None = None) -> int:
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    bucket = template_bucket(ctx.aws, ctx.p, account)
    found = records.releases(ctx, bucket, account)
    info = describe(ctx.aws, ctx.p.stack_name)
    now = records.current(ctx, found, info, bucket, account)
    if json_file:
        doc = {"stack": ctx.p.stack_name, "bucket": bucket, "current": now,
               "releases": [{**r, "current": r["id"] == now} for r in found]}
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if not found:
        ctx.out.line(f"no releases recorded for {ctx.p.stack_name} in s3://{bucket}/{records.prefix(ctx.p.stack_name)}")
        return 0
    ctx.out.line(f"releases of {ctx.p.stack_name}, newest first (s3://{bucket}/{records.prefix(ctx.p.stack_name)}):")
    for r in found:
        params = r["parameters"]
        mark = "*" if r["id"] == now else " "
        def shown(value) -> str:
            return clean(str(value if value is not None else "?"))

        fields = [shown(r.get("time")), f"image {shown(params.get('ImageTag'))}",
                  f"desired {shown(params.get('DesiredCount'))}", shown(r.get("status")), shown(r.get("changeSet")),
                  f"by {shown(r.get('who'))}"] + ([f"commit {shown(r['commit'])[:12]}"
                                                   + (" (dirty work tree)" if r.get("dirty") else "")]
                                                  if r.get("commit") else [])
        if r.get("restored"):
            fields.append(f"ROLLBACK from {shown(r.get('rolledBackFrom') or 'an unrecorded state')} "
                          f"to {shown(r['restored'])}")
        ctx.out.line(f"{mark} " + "  ".join(fields))
        ctx.out.line(f"    id {clean(r['id'])}")
    if now is None and info is not None and info.exists:
        ctx.out.warn(f"{ctx.p.stack_name} runs no recorded release (deployed another way, or the record was lost)")
    else:
        ctx.out.line("* = deployed now")
    return 0
