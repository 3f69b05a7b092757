"""``verify``: the deployed environment against the seed's testing checklist (deploy/verify.py), read-only; with
``--drift``, the hierarchy's drift as a last item."""

from __future__ import annotations

from datetime import timedelta

from .. import drift, identity
from ..aws import check_account
from ..context import Ctx
from ..errors import BadInput, DeployError
from ..stacks import describe
from ..verify import CHECKLIST, FAIL, PASS, SKIP, STYLE, Deployed, Result, Verdict, run_check


def check_drift(ctx: Ctx) -> Verdict:
    """Opt-in (``--drift``) last item: the deployed hierarchy's drift (deploy/drift.py); FAIL on drift or a failed
    detection. Not read-only in the strict sense: it starts CloudFormation drift detections (which change nothing)."""
    report = drift.detect(ctx.aws, ctx.p.stack_name, ctx.poller, ctx.out, ctx.command,
                          also=identity.beside(ctx.p))
    details = tuple(f"{s.label}/{r.logical_id} ({r.type}): {r.status}" for s, r in report.drifted)
    details += tuple(f"{s.label}: detection failed: {s.reason}" for s in report.failed)
    return Verdict(PASS if report.ok else FAIL, drift.summary_text(report), details + (
        (f"details: {ctx.command('drift')}",) if details else ()))


def verify(ctx: Ctx, since_minutes: int = 15, http: bool = False, drift: bool = False) -> int:
    """Check the deployed environment against the seed's testing checklist; 0 when nothing fails, else 1."""
    account = check_account(ctx.aws, ctx.p.account_id, ctx.env)
    info = describe(ctx.aws, ctx.p.stack_name)
    if info is None or not info.exists:
        raise BadInput(f"no stack {ctx.p.stack_name} in {ctx.p.region} (account {account}): nothing to verify",
                       f"deploy it first: {ctx.command('plan')}, then apply")
    ctx.out.heading(f"verify {info.name} ({ctx.p.region}, account {account}, {info.status}): "
                    "the testing checklist of infra-change-001")
    if info.busy:
        ctx.out.warn(f"{info.name} is {info.status}: what is checked may change when the operation ends")
    d = Deployed(ctx.aws, ctx.p, info, now=ctx.now(), since=timedelta(minutes=since_minutes), http=http)
    results = [Result(n, item, run_check(d, check)) for n, (item, check) in enumerate(CHECKLIST, 1)]
    if drift:
        results.append(Result(len(results) + 1, "Deployed resources match the templates (drift)", check_drift(ctx)))
    for r in results:
        lines = r.lines()
        ctx.out.line(lines[0], STYLE[r.status])
        for extra in lines[1:]:
            ctx.out.line(extra)
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, SKIP)}
    failed = counts[FAIL] > 0
    ctx.out.line(f"summary: {counts[PASS]} PASS, {counts[FAIL]} FAIL, {counts[SKIP]} SKIP of {len(results)} items: "
                 + ("NOT verified" if failed else "verified" + (" (each SKIP says why)" if counts[SKIP] else "")),
                 STYLE[FAIL] if failed else STYLE[PASS])
    if failed:
        raise DeployError(f"{counts[FAIL]} of {len(results)} checklist item(s) failed (FAIL above): the deployment is "
                          "not verified", f"fix each FAIL as the lines under it say, then verify again: {ctx.again()}")
    return 0
