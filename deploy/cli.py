"""The deploy subcommands of ``generate.py``: argument definitions only; ``deploy.adapters`` runs them."""

from __future__ import annotations

import argparse
from pathlib import Path


def _lazy(name: str):
    """The handler of one command, importing the deploy machinery (boto3, rich) only when that command runs."""
    def handler(args) -> int:
        from . import adapters

        return getattr(adapters, name)(args)

    handler.__name__ = name
    return handler


def register(subparsers, debug_flag=None) -> None:
    """Add the verbs that talk to AWS (bootstrap, package, plan, apply, status, destroy, drift, verify, discover,
    history, rollback, migrate-data) to generate.py's parser; ``debug_flag`` adds generate.py's ``--debug`` to each."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", dest="env", metavar="NAME", help="environment (params/NAME.yaml); required")
    common.add_argument("--profile", help="AWS profile (default: boto3's credential chain)")
    common.add_argument("--region", help="AWS region (default: the params file's region)")
    common.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="give up on an AWS endpoint that does not answer within this many seconds, retries "
                             "included (default: WWHD_AWS_TIMEOUT, else 60)")
    if debug_flag:
        debug_flag(common)
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument("--wait", action="store_true", help="wait for a running stack operation instead of refusing")
    planning = argparse.ArgumentParser(add_help=False)
    planning.add_argument("--image-tag", metavar="TAG", help="app image tag (default: keep the deployed one)")
    planning.add_argument("--desired-count", type=int, choices=(0, 1), help="running tasks (default: keep)")
    planning.add_argument("--drift", action=argparse.BooleanOptionalAction, default=None,
                          help="detect drift on every stack first and put it at the top of the review (default: on "
                               "when params set production: true)")
    planning.add_argument("--role-arn", metavar="ARN", help="CloudFormation service role (CI: the identity "
                                                            "stack's CloudFormationExecutionRoleArn)")

    def add(name, func, help_, parents):
        p = subparsers.add_parser(name, help=help_, description=help_, parents=[common, *parents])
        p.set_defaults(func=func, verb_parser=p)  # deploy/adapters.py reads the flags given from it
        return p

    bs = add("bootstrap", _lazy("bootstrap"),
             "create or update the template bucket and the permissions boundary (once per "
             "account and region), then the environment's identity stack (its IAM roles; review, then confirm)",
             [waiting])
    bs.add_argument("--yes", action="store_true", help="apply the identity stack's change without asking")
    pk = add("package", _lazy("package"), "upload the templates to S3 and print the console quick-create link", [])
    pk.add_argument("--image-tag", metavar="TAG", help="prefill ImageTag in the quick-create link")
    pk.add_argument("--desired-count", type=int, choices=(0, 1), help="prefill DesiredCount in the quick-create link")
    pl = add("plan", _lazy("plan"), "package, create a change set over all nested stacks and review it",
             [planning, waiting])
    pl.add_argument("--json", type=Path, metavar="FILE", help="also write the review as JSON (with the change set ARN)")
    pl.add_argument("--markdown", type=Path, metavar="FILE", help="also write the review as Markdown")
    pl.add_argument("--adopt", action="store_true",
                    help="import the resources of ours that already exist under their fixed names (the seed's cluster "
                         "and log group), as they are (ImportExistingResources); the next plan brings them to the "
                         "template's values")
    pl.add_argument("--pull-request", action="store_true",
                    help="package under the pull-request key prefix (pr/), the only one the CI pull-request role "
                         "may write; such a change set is for review, never applied")
    ap = add("apply", _lazy("apply"), "execute a reviewed change set (or plan, confirm, execute) and follow it",
             [planning, waiting])
    ap.add_argument("--change-set", metavar="NAME|ARN", help="the reviewed change set to execute")
    ap.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    ap.add_argument("--review", type=Path, metavar="FILE",
                    help="the plan's --json review of this change set: repeat the drift it recorded")
    ap.add_argument("--allow-data-loss", action="store_true",
                    help="execute even when stateful resources would be removed or replaced")
    st = add("status", _lazy("status"), "stack state, outputs, nested stacks and latest events", [])
    st.add_argument("--watch", action="store_true", help="follow a running operation until it ends")
    st.add_argument("--events", type=int, default=10, metavar="N", help="how many latest events (default 10)")
    de = add("destroy", _lazy("destroy"), "delete the stack after confirmation; list what is retained", [waiting])
    de.add_argument("--identity", action="store_true",
                    help="also delete the identity stack (the IAM roles) after the app's stacks; kept by default, so "
                         "plan works again without bootstrap")
    de.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    dr = add("drift", _lazy("drift"), "detect drift on the root and every nested stack and review it (read-only)", [])
    dr.add_argument("--json", type=Path, metavar="FILE", help="also write the drift review as JSON")
    dr.add_argument("--markdown", type=Path, metavar="FILE", help="also write the drift review as Markdown")
    mi = add("migrate-data", _lazy("migrate_data"), "copy the seed's file system into this environment's (a one-off "
                                                     "Fargate task; dry run unless --execute)", [])
    mi.add_argument("--from", dest="source", required=True, metavar="FS_ID", help="the seed's file system id (fs-...)")
    mi.add_argument("--execute", action="store_true", help="copy (default: list what is there and the mapping)")
    mi.add_argument("--yes", action="store_true", help="do not ask before creating the temporary path stack")
    mi.add_argument("--seed-family", default="wwhd-backend", metavar="FAMILY",
                    help="task definition family of the seed's tasks, refused while running (default wwhd-backend)")
    hi = add("history", _lazy("history"), "list the releases apply recorded, newest first, the deployed one marked", [])
    hi.add_argument("--json", type=Path, metavar="FILE", help="also write the releases as JSON")
    rb = add("rollback", _lazy("rollback"), "plan, review and apply the previous good release exactly as recorded "
                                            "(templates and parameters)", [waiting])
    rb.add_argument("--to", metavar="RELEASE_ID", help="the release to go back to (an id history lists; default: the "
                                                       "last good one before the deployed one)")
    rb.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rb.add_argument("--allow-data-loss", action="store_true",
                    help="execute even when stateful resources would be removed or replaced")
    rb.add_argument("--role-arn", metavar="ARN", help="CloudFormation service role (CI: the identity "
                                                      "stack's CloudFormationExecutionRoleArn)")
    ve = add("verify", _lazy("verify"), "check the deployed environment against the seed's testing checklist "
                                        "(read-only)", [])
    ve.add_argument("--since", type=int, default=15, metavar="MINUTES",
                    help="each container must have logged within this many minutes (default 15)")
    ve.add_argument("--http", action="store_true",
                    help="also GET ServiceUrl + the health check path from here (off by default)")
    ve.add_argument("--drift", action="store_true",
                    help="also detect drift on every stack (starts CloudFormation drift detections; off by default)")
    di = add("discover", _lazy("discover"), "find the seed's hand-made resources, what runs and what the file system "
                                            "holds; print the params to set (read-only)", [])
    di.add_argument("--json", type=Path, metavar="FILE", help="also write what was found as JSON")
