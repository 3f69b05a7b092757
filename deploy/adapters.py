"""One adapter per deploy command: arguments in, exit code out. Imported only when a deploy command runs, so
``python generate.py`` (no AWS) does not pay for boto3 and rich at start-up.

Exit codes: 0 success (including "no changes"), 1 a failed deploy or a state we refuse to act on, 2 bad input
(arguments, params, credentials for the wrong account, no template bucket), 130 Ctrl-C while watching. Errors are
printed without a traceback, with the command that fixes them.
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError, ParamValidationError

from templates.config import IMAGE_TAG_PATTERN, ParamsError, load_params, project_dir

from . import commands
from . import verify as checklist
from .aws import aws_errors, connect, error_code, error_message
from .commands import Ctx, Interrupted, PlanOptions
from .errors import BadInput, DeployError
from .package import PULL_REQUEST_PREFIX
from .ui import make_out

ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")



def bootstrap(args) -> int:
    return _run(args, lambda ctx: commands.bootstrap(ctx, wait=args.wait))


def package(args) -> int:
    return _run(args, lambda ctx: commands.package_cmd(ctx, _tag(args), args.desired_count))


def plan(args) -> int:
    return _run(args, lambda ctx: commands.plan(ctx, _plan_options(args)))


def apply(args) -> int:
    return _run(args, lambda ctx: commands.apply(ctx, _plan_options(args), args.change_set, args.yes, args.allow_data_loss))


def status(args) -> int:
    return _run(args, lambda ctx: commands.status(ctx, args.watch, args.events))


def destroy(args) -> int:
    return _run(args, lambda ctx: commands.destroy(ctx, args.yes, args.wait))


def verify(args) -> int:
    return _run(args, lambda ctx: checklist.verify(ctx, _since(args), args.http))


def _since(args) -> int:
    if args.since < 1:
        raise BadInput(f"--since {args.since} is not a number of minutes of 1 or more",
                       f"python generate.py verify --env {args.env} --since 15")
    return args.since


def _plan_options(args) -> PlanOptions:
    return PlanOptions(image_tag=_tag(args), desired_count=args.desired_count, json_file=getattr(args, "json", None),
                       markdown_file=getattr(args, "markdown", None), role_arn=_role(args), wait=args.wait,
                       key_prefix=PULL_REQUEST_PREFIX if getattr(args, "pull_request", False) else "")


def _role(args) -> str | None:
    role = args.role_arn
    if role is not None and not ROLE_ARN.fullmatch(role):
        raise BadInput(f"--role-arn {role!r} is not an IAM role ARN",
                       "pass the ci stack's output CloudFormationExecutionRoleArn: "
                       "python generate.py status --env ENV lists it")
    return role


def _tag(args) -> str | None:
    tag = args.image_tag
    if tag is not None and not re.fullmatch(IMAGE_TAG_PATTERN, tag):
        raise BadInput(f"--image-tag {tag!r} is not a Docker image tag other than 'latest' "
                       "(letters, digits, _ . -; at most 128; a moving tag makes deploys unreproducible)",
                       "pass the image's immutable tag, e.g. the git SHA: --image-tag $(git rev-parse --short HEAD)")
    return tag


def _run(args, command) -> int:
    """Build the context, run, and turn outcomes into messages and exit codes."""
    out = make_out()
    try:
        ctx = _context(args, out)
        with aws_errors():  # credentials and connection problems anywhere become messages
            return command(ctx)
    except Interrupted:
        out.error(commands.interrupted_message(args.env or "ENV"))
        return commands.INTERRUPTED
    except ParamsError as e:
        out.error(e.render())
        return 2
    except DeployError as e:
        out.error(f"error: {e.render()}")
        return e.exit_code
    except ParamValidationError as e:  # a value botocore refuses before sending it: the user's input
        out.error(f"error: {e}")
        return 2
    except ClientError as e:  # anything AWS refused that no command turned into a better message
        operation = e.operation_name or "the request"
        out.error(f"error: AWS refused {operation}: {error_code(e)}: {error_message(e)}")
        return 1


def _context(args, out) -> Ctx:
    env = _env(args)
    home = project_dir()
    p = load_params(env, home / "params")
    if args.region and args.region != p.region:
        p = p.model_copy(update={"region": args.region})
    return Ctx(p=p, aws=connect(args.profile, p.region), out=out, home=home, profile=args.profile,
               region_given=args.region)


def _env(args) -> str:
    env = args.env or (args.envs[0] if len(getattr(args, "envs", None) or []) == 1 else None)
    if not env:
        raise BadInput(f"--env is required for {args.command}", f"python generate.py {args.command} --env dev")
    args.env = env
    return env

