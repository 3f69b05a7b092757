"""``plan``: the pipeline (deploy/pipeline.py) up to a reviewed change set, then the command that applies it (or,
when it would lose data, why apply will refuse it)."""

from __future__ import annotations

from .. import pipeline, review
from ..context import Ctx, PlanOptions


def plan(ctx: Ctx, opts: PlanOptions) -> int:
    planned = pipeline.plan(ctx, opts)
    if planned and not opts.key_prefix:  # a pull request's change set is for review only
        if planned.review.data_loss:  # never a command that carries the override: a copied hint would switch it off
            ctx.out.line(f"apply will refuse change set {planned.review.change_set_name}; it would lose:", "bold red")
            for finding in planned.review.data_loss:
                ctx.out.line(f"  {finding}")
            ctx.out.line(review.REFUSES)
        else:
            ctx.out.line(f"apply it: {ctx.command('apply', '--change-set', planned.review.change_set_name)}")
    return 0
