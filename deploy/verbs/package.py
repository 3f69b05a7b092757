"""``package``: preflight, the guardrails, the upload of the templates to S3, and the console's quick-create link."""

from __future__ import annotations

from .. import preflight
from ..aws import check_account
from ..built import build
from ..context import Ctx
from ..package import quick_create_url
from ..pipeline import upload
from ..stacks import describe


def package(ctx: Ctx, image_tag: str | None = None, desired_count: int | None = None) -> int:
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    built = build(ctx.p)  # once: preflight and the upload read it
    preflight.enforce(ctx, preflight.run(ctx, account, describe(ctx.aws, ctx.p.stack_name), image_tag, desired_count,
                                         built=built))
    packaged = upload(ctx, account, built)
    ctx.out.line(f"quick-create: {quick_create_url(ctx.p, packaged.root_url, image_tag, desired_count)}")
    return 0
