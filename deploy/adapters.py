"""One adapter per deploy command: arguments in, exit code out. Imported only when a deploy command runs, so
``python generate.py`` (no AWS) does not pay for boto3 and rich at start-up.

Exit codes: 0 success (including "no changes"), 1 a failed deploy or a state we refuse to act on, 2 bad input
(arguments, params, credentials for the wrong account, no template bucket), 130 Ctrl-C while watching. Errors are
printed without a traceback, with the command that fixes them.
"""

from __future__ import annotations

import os
import re

from templates.config import IMAGE_TAG_PATTERN, environments, load_params, project_dir
from templates.names import PULL_REQUEST_PREFIX  # one definition for the roles and the packaging

from . import preflight
from .aws import DEFAULT_TIMEOUT, connect
from .context import Ctx, PlanOptions
from .errors import INVOCATION, BadInput, Invocation, suggest
from .ui import make_out
from .verbs import (
    apply as apply_verb,
    bootstrap as bootstrap_verb,
    destroy as destroy_verb,
    discover as discover_verb,
    drift as drift_verb,
    package as package_verb,
    plan as plan_verb,
    status as status_verb,
    verify as verify_verb,
)

ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")



def bootstrap(args) -> int:
    return _run(args, lambda ctx: bootstrap_verb.bootstrap(ctx, wait=args.wait, yes=args.yes))


def package(args) -> int:
    return _run(args, lambda ctx: package_verb.package(ctx, _tag(args), args.desired_count))


def plan(args) -> int:
    return _run(args, lambda ctx: plan_verb.plan(ctx, _plan_options(args)))


def apply(args) -> int:
    return _run(args, lambda ctx: apply_verb.apply(ctx, _plan_options(args), args.change_set, args.yes,
                                                  args.allow_data_loss, args.review))


def status(args) -> int:
    return _run(args, lambda ctx: status_verb.status(ctx, args.watch, args.events))


def destroy(args) -> int:
    return _run(args, lambda ctx: destroy_verb.destroy(ctx, args.yes, args.wait, args.identity))


def drift(args) -> int:
    return _run(args, lambda ctx: drift_verb.drift(ctx, args.json, args.markdown))


def migrate_data(args) -> int:
    from .verbs import migrate as migrate_verb

    return _run(args, lambda ctx: migrate_verb.migrate_data(ctx, args.source, args.execute, args.yes, args.seed_family))


def verify(args) -> int:
    return _run(args, lambda ctx: verify_verb.verify(ctx, _since(args), args.http, args.drift))


def discover(args) -> int:
    # Read-only, and the way to learn the values UNCONFIRMED stands for: the one AWS command placeholders do not stop.
    return _run(args, lambda ctx: discover_verb.discover(ctx, args.json), placeholders_ok=True)


def history(args) -> int:
    from .verbs import history as history_verb

    return _run(args, lambda ctx: history_verb.history(ctx, args.json))


def rollback(args) -> int:
    from .verbs import rollback as rollback_verb

    return _run(args, lambda ctx: rollback_verb.rollback(ctx, args.to, args.yes, args.allow_data_loss, _role(args),
                                                         args.wait))


def _since(args) -> int:
    if args.since < 1:
        raise BadInput(f"--since {args.since} is not a number of minutes of 1 or more",
                       _again(args, "--since", "15"))
    return args.since


def _again(args, *extra: str) -> str:
    return suggest(args.command, args.env, *extra)


def _plan_options(args) -> PlanOptions:
    return PlanOptions(image_tag=_tag(args), desired_count=args.desired_count, json_file=getattr(args, "json", None),
                       markdown_file=getattr(args, "markdown", None), role_arn=_role(args), wait=args.wait,
                       drift=args.drift, adopt=getattr(args, "adopt", False),
                       key_prefix=PULL_REQUEST_PREFIX if getattr(args, "pull_request", False) else "")


def _role(args) -> str | None:
    role = args.role_arn
    if role is not None and not ROLE_ARN.fullmatch(role):
        raise BadInput(f"--role-arn {role!r} is not an IAM role ARN",
                       "pass the identity stack's output CloudFormationExecutionRoleArn, which "
                       f"{suggest('status', args.env)} lists")
    return role


def _tag(args) -> str | None:
    tag = args.image_tag
    if tag is not None and not re.fullmatch(IMAGE_TAG_PATTERN, tag):
        raise BadInput(f"--image-tag {tag!r} is not a Docker image tag other than 'latest' "
                       "(letters, digits, _ . -; at most 128; a moving tag makes deploys unreproducible)",
                       "pass the image's immutable tag, e.g. the git SHA: --image-tag $(git rev-parse --short HEAD)")
    return tag


def _run(args, command, placeholders_ok: bool = False) -> int:
    """Build the context, refuse placeholders (before any AWS call), and run. Whatever the command raises is turned
    into ``error:``/``fix:`` and an exit code by the one boundary around every command (``deploy.errors.boundary``,
    in ``generate.main``)."""
    ctx = _context(args, make_out())
    if not placeholders_ok:
        preflight.refuse_placeholders(ctx)
    return command(ctx)


REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def _context(args, out) -> Ctx:
    env = _env(args)
    home = project_dir()
    p = load_params(env, home / "params")
    INVOCATION.set(Invocation(args.command, None, args.profile))
    if args.region is not None and not REGION.fullmatch(args.region):
        raise BadInput(f"--region {args.region!r} is not an AWS region name (like us-west-2)",
                       suggest(args.command, env, '--region', p.region))
    if args.region and args.region != p.region:
        p = p.model_copy(update={"region": args.region})
    timeout = _timeout(args)
    INVOCATION.set(Invocation(args.command, args.region, args.profile, given_flags(args)))
    return Ctx(p=p, aws=connect(args.profile, p.region, timeout), out=out, home=home)


NOT_REPEATED = {"env", "profile", "region", "help", "debug"}  # suggest() writes the first three itself


def given_flags(args) -> tuple[tuple[str, str | None], ...]:
    """The flags of this verb whose values differ from their defaults, as (option, value) in the parser's order, so
    a fix that repeats the verb repeats them (deploy/errors.py, ``again``)."""
    import argparse

    parser = getattr(args, "verb_parser", None)
    found: list[tuple[str, str | None]] = []
    for action in getattr(parser, "_actions", ()):  # argparse keeps no public list of a parser's options
        if not action.option_strings or action.dest in NOT_REPEATED:
            continue
        value = getattr(args, action.dest, action.default)
        if value == action.default or value is None:
            continue
        option = max(action.option_strings, key=len) if not isinstance(action, argparse.BooleanOptionalAction) \
            else (action.option_strings[0] if value else action.option_strings[1])
        if isinstance(value, bool) or action.nargs == 0:
            found.append((option, None))
        else:
            found.append((option, f"{value:g}" if isinstance(value, float) else str(value)))
    return tuple(found)


def _timeout(args) -> float:
    """--timeout, else WWHD_AWS_TIMEOUT, else 60 seconds: how long an unanswering endpoint is tried, retries
    included."""
    given = args.timeout
    source = "--timeout"
    if given is None and os.environ.get("WWHD_AWS_TIMEOUT"):
        source = "WWHD_AWS_TIMEOUT"
        try:
            given = float(os.environ["WWHD_AWS_TIMEOUT"])
        except ValueError:
            given = float("nan")
    if given is None:
        return DEFAULT_TIMEOUT
    if not (1 <= given <= 3600):
        raise BadInput(f"{source} {given} is not a number of seconds from 1 to 3600",
                       f"{source}={DEFAULT_TIMEOUT:.0f}" if source != "--timeout" else "--timeout 60")
    return given


def _env(args) -> str:
    env = args.env or (args.envs[0] if len(getattr(args, "envs", None) or []) == 1 else None)
    if not env:
        known = environments(project_dir() / "params")
        raise BadInput(f"--env is required for {args.command} (one of: {', '.join(known) or 'none in params/'})",
                       suggest(args.command, known[0] if known else "dev"))
    args.env = env
    return env

