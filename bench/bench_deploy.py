"""Benchmark of the deploy commands against a local moto server: API calls and wall time.

    .venv/bin/python bench/bench_deploy.py [--repeat 5]

What it measures (numbers are printed, never asserted):

1. ``plan`` of an unchanged environment (dev, already deployed): the common CI case. Target: no uploads, a few
   calls per stack. Calls are counted per operation by the session factory (``Aws.calls``; ``Aws.attempts`` counts
   HTTP attempts, so retries would show up there).
2. ``plan`` with a change (a new image tag): the same, plus describing the change set and reading the deployed
   templates for the IAM, network and cost diff (one ListStackResources of the root, one GetTemplate per stack; an
   unchanged plan reads none). Against AWS, DescribeChangeSet also runs once per nested change set, which moto does
   not create.
3. ``apply`` polling: an operation that stays in progress for ``--rounds`` polls, then completes. Moto finishes
   every operation before it answers, so the bench holds the root in UPDATE_IN_PROGRESS (through the test suite's
   moto compatibility layer) and releases it after the last poll. Reported: calls per poll round while nothing
   happens, the whole apply's calls, and how many polls the production backoff (2 s, x1.5, at most 15 s) makes in
   ten minutes of waiting.

Wall times come from moto on this machine; against AWS each call costs 50-300 ms more, which is why the call
counts are the numbers to watch.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from moto.cloudformation import models as cfn_models
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: run as a script

import templates
from deploy import operations, pipeline
from deploy.aws import connect
from deploy.context import Ctx, PlanOptions
from deploy.ui import Out, Poller
from deploy.verbs import apply as apply_verb, bootstrap as bootstrap_verb, plan as plan_verb
from templates.config import load_params
from tests.deploy import moto_compat

REPO = Path(__file__).resolve().parent.parent
REGION = "us-west-2"


class Quiet(Out):
    """Collects nothing: the bench measures, it does not show reviews."""

    def line(self, text: str = "", style: str = "") -> None:
        pass


def start_moto() -> tuple[ThreadedMotoServer, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def isolate(endpoint: str, home: Path) -> None:
    """Dummy credentials and the local endpoint only: the bench never talks to AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=REGION,
                      AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE=str(home / "none"),
                      AWS_SHARED_CREDENTIALS_FILE=str(home / "none"), AWS_EC2_METADATA_DISABLED="true")


def ctx(home: Path, poller: Poller | None = None) -> Ctx:
    p = load_params("dev", home / "params")
    return Ctx(p=p, aws=connect(None, REGION), out=Quiet(stdout=open(os.devnull, "w")), home=home,
                        poller=poller or Poller(sleep=lambda s: None))


def bench_plan(home: Path, repeat: int, title: str, options=lambda: PlanOptions()) -> None:
    """Median wall time and the API calls of one ``plan`` (``options`` gives each run its PlanOptions)."""
    times, calls = [], Counter()
    for _ in range(repeat):
        c = ctx(home)
        started = time.perf_counter()
        assert plan_verb.plan(c, options()) == 0
        times.append(time.perf_counter() - started)
        calls = c.aws.calls
    total = sum(calls.values())
    children = len(templates.enabled_stacks(c.p))
    print(f"plan, {title} (1 root + {children} nested stacks)")
    print(f"  wall time: median {statistics.median(times):.3f}s, min {min(times):.3f}s over {repeat} runs")
    print(f"  API calls: {total} ({total / (children + 1):.1f} per stack); uploads: {calls['s3:PutObject']}")
    for op, n in sorted(calls.items()):
        print(f"    {op:<40} {n}")


def bench_apply_polling(home: Path, rounds: int) -> None:
    real_execute = cfn_models.CloudFormationBackend.execute_change_set
    held: dict = {}

    def hold(backend, change_set_name, stack_name=None):  # the operation starts and keeps going
        stack = backend.stacks[backend.describe_change_set(change_set_name).stack_id]
        stack.status = "UPDATE_IN_PROGRESS"
        stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
        held.update(backend=backend, name=change_set_name)

    sleeps: list[float] = []
    totals: list[int] = []  # API calls made so far, at each poll

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        totals.append(sum(c.aws.calls.values()))
        if len(sleeps) == rounds and held:
            real_execute(held["backend"], held["name"])  # the operation completes

    cfn_models.CloudFormationBackend.execute_change_set = hold
    try:
        c = ctx(home, Poller(sleep=sleep))
        planned = pipeline.plan(c, PlanOptions(image_tag=f"bench{time.time_ns()}"))
        before = Counter(c.aws.calls)
        started = time.perf_counter()
        final, _ = operations.execute(c, c.p.stack_name, planned.arn, planned.review.change_set_name)
        took = time.perf_counter() - started
    finally:
        cfn_models.CloudFormationBackend.execute_change_set = real_execute
    watching = c.aws.calls - before
    per_round = [b - a for a, b in itertools.pairwise(totals)]
    print(f"apply polling: an operation held in progress for {rounds} polls, then complete ({final.status})")
    print(f"  wall time of execute + watch (sleeps skipped): {took:.3f}s; polls: {len(sleeps)}")
    print(f"  API calls: {sum(watching.values())} in all; per poll round while nothing happens: "
          f"{statistics.median(per_round):g} (DescribeStackEvents + DescribeStacks of the root)")
    for op, n in sorted(watching.items()):
        print(f"    {op:<40} {n}")
    print(f"  backoff intervals (s): {', '.join(f'{s:g}' for s in sleeps[:8])}{' ...' if len(sleeps) > 8 else ''}")
    print(f"  polls in 10 minutes of waiting with the production backoff: {polls_in(600)}")


def polls_in(seconds: float) -> int:
    waited, polls = 0.0, 0
    for delay in Poller().intervals():
        if waited + delay > seconds:
            return polls
        waited += delay
        polls += 1
    return polls  # pragma: no cover


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="plan runs to time (median reported)")
    parser.add_argument("--rounds", type=int, default=10, help="polls the held operation lasts")
    args = parser.parse_args()
    server, endpoint = start_moto()
    restore = moto_compat.install()
    home = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    try:
        shutil.copytree(REPO / "params", home / "params")
        isolate(endpoint, home)
        os.chdir(home)
        setup = ctx(home)
        assert bootstrap_verb.bootstrap(setup, yes=True) == 0
        assert apply_verb.apply(setup, PlanOptions(image_tag="v1"), yes=True) == 0
        bench_plan(home, args.repeat, "unchanged dev environment")
        bench_plan(home, args.repeat, "a new image tag",
                   lambda: PlanOptions(image_tag=f"bench{time.time_ns()}"))
        bench_apply_polling(home, args.rounds)
    finally:
        restore()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
