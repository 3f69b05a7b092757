"""``drift``: detect drift on every stack of the hierarchy (deploy/drift.py) and review it; 0 when every checked
resource is in sync."""

from __future__ import annotations

from pathlib import Path

from .. import drift as detection, identity
from ..aws import check_account
from ..context import Ctx
from ..errors import DeployError


def drift(ctx: Ctx, json_file: Path | None = None, markdown_file: Path | None = None) -> int:
    """Detect drift on every stack of the hierarchy; 0 when every checked resource is in sync, 1 on drift or a
    failed detection."""
    check_account(ctx.aws, ctx.p.account_id, ctx.env)
    report = detection.detect(ctx.aws, ctx.p.stack_name, ctx.poller, ctx.out, ctx.command, also=identity.beside(ctx.p))
    detection.show(report, ctx.out)
    detection.write(report, json_file, markdown_file)
    if report.failed:
        raise DeployError(f"drift detection failed on {len(report.failed)} stack(s) (above): their drift is unknown",
                          f"correct what each stack's reason names, then run it again: {ctx.again()}")
    if not report.ok:
        raise DeployError(f"{detection.summary_text(report)}: the deployed resources differ from the templates (above)",
                          "bring each back as its \"what to do\" line says (by hand, or change the template and plan), "
                          f"then check again: {ctx.again()}")
    return 0
