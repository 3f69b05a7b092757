"""The deploy subcommands of ``generate.py``: argument definitions and the mapping of outcomes to exit codes.

Exit codes: 0 success (including "no changes"), 1 a failed deploy or a state we refuse to act on, 2 bad input
(arguments, params, credentials for the wrong account, no template bucket), 130 Ctrl-C while watching. Errors are
printed without a traceback, with the command that fixes them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from templates.config import IMAGE_TAG_PATTERN, ParamsError, load_params

from botocore.exceptions import ClientError, ParamValidationError

from . import commands
from .aws import aws_errors, connect, error_code, error_message
from .commands import Ctx, Interrupted, PlanOptions
from .errors import BadInput, DeployError
from .ui import make_out

REPO = Path(__file__).resolve().parent.parent
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


def register(subparsers) -> None:
    """Add bootstrap, package, plan, apply, status and destroy to generate.py's parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", dest="env", metavar="NAME", help="environment (params/NAME.yaml); required")
    common.add_argument("--profile", help="AWS profile (default: boto3's credential chain)")
    common.add_argument("--region", help="AWS region (default: the params file's region)")
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument("--wait", action="store_true", help="wait for a running stack operation instead of refusing")
    planning = argparse.ArgumentParser(add_help=False)
    planning.add_argument("--image-tag", metavar="TAG", help="app image tag (default: keep the deployed one)")
    planning.add_argument("--desired-count", type=int, choices=(0, 1), help="running tasks (default: keep)")
    planning.add_argument("--role-arn", metavar="ARN", help="CloudFormation service role (CI: the ci stack's "
                                                            "CloudFormationExecutionRoleArn)")

    def add(name, func, help_, parents):
        p = subparsers.add_parser(name, help=help_, description=help_, parents=[common, *parents])
        p.set_defaults(func=func)
        return p

    add("bootstrap", _bootstrap, "create or update the template bucket's stack (once per account and region)", [waiting])
    pk = add("package", _package, "upload the templates to S3 and print the console quick-create link", [])
    pk.add_argument("--image-tag", metavar="TAG", help="prefill ImageTag in the quick-create link")
    pk.add_argument("--desired-count", type=int, choices=(0, 1), help="prefill DesiredCount in the quick-create link")
    pl = add("plan", _plan, "package, create a change set over all nested stacks and review it", [planning, waiting])
    pl.add_argument("--json", type=Path, metavar="FILE", help="also write the review as JSON (with the change set ARN)")
    pl.add_argument("--markdown", type=Path, metavar="FILE", help="also write the review as Markdown")
    ap = add("apply", _apply, "execute a reviewed change set (or plan, confirm, execute) and follow it", [planning, waiting])
    ap.add_argument("--change-set", metavar="NAME|ARN", help="the reviewed change set to execute")
    ap.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    ap.add_argument("--allow-data-loss", action="store_true",
                    help="execute even when stateful resources would be removed or replaced")
    st = add("status", _status, "stack state, outputs, nested stacks and latest events", [])
    st.add_argument("--watch", action="store_true", help="follow a running operation until it ends")
    st.add_argument("--events", type=int, default=10, metavar="N", help="how many latest events (default 10)")
    de = add("destroy", _destroy, "delete the stack after confirmation; list what is retained", [waiting])
    de.add_argument("--yes", action="store_true", help="do not ask for confirmation")


# --- one adapter per command: arguments in, exit code out ----------------------------------------------------------


def _bootstrap(args) -> int:
    return _run(args, lambda ctx: commands.bootstrap(ctx, wait=args.wait))


def _package(args) -> int:
    return _run(args, lambda ctx: commands.package_cmd(ctx, _tag(args), args.desired_count))


def _plan(args) -> int:
    return _run(args, lambda ctx: commands.plan(ctx, _plan_options(args)))


def _apply(args) -> int:
    return _run(args, lambda ctx: commands.apply(ctx, _plan_options(args), args.change_set, args.yes, args.allow_data_loss))


def _status(args) -> int:
    return _run(args, lambda ctx: commands.status(ctx, args.watch, args.events))


def _destroy(args) -> int:
    return _run(args, lambda ctx: commands.destroy(ctx, args.yes, args.wait))


def _plan_options(args) -> PlanOptions:
    return PlanOptions(image_tag=_tag(args), desired_count=args.desired_count, json_file=getattr(args, "json", None),
                       markdown_file=getattr(args, "markdown", None), role_arn=_role(args), wait=args.wait)


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
    return Ctx(p=p, aws=connect(args.profile, p.region), out=out, home=home)


def _env(args) -> str:
    env = args.env or (args.envs[0] if len(getattr(args, "envs", None) or []) == 1 else None)
    if not env:
        raise BadInput(f"--env is required for {args.command}", f"python generate.py {args.command} --env dev")
    args.env = env
    return env


def project_dir() -> Path:
    """The folder with params/ and output/: the current one if it has params/, else the repository (as generate.py)."""
    cwd = Path.cwd()
    return cwd if (cwd / "params").is_dir() else REPO
