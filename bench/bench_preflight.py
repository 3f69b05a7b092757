"""Benchmark of preflight against a local moto server holding the recreated seed: API calls and wall time.

    .venv/bin/python bench/bench_preflight.py [--repeat 5]

Runs the prod preflight (every check: names, references, image) over the seed's state as scripts/recreate_seed.py
makes it, with the thread pool as shipped (``preflight.WORKERS``) and with one worker, and prints the calls per
operation and the median wall time of each. Moto answers in about a millisecond; against AWS each call costs
50-300 ms, so the concurrent run's advantage grows with latency: the call count and the longest chain of dependent
calls (the repository check: DescribeRepositories, then DescribeImages) are the numbers to watch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: run as a script

from bench.bench_deploy import Quiet, isolate, start_moto
from deploy import preflight
from deploy.aws import connect
from deploy.context import Ctx
from scripts.recreate_seed import recreate
from templates.config import load_params
from tests.deploy.conftest import confirm_prod, push_image

REPO = Path(__file__).resolve().parent.parent
REGION = "us-west-2"


def run(home: Path, workers: int, repeat: int) -> tuple[float, float, dict[str, int], int]:
    """Seconds of the first run (it makes the nine boto3 clients), median of the later runs (clients made), calls of
    one run, checks per run."""
    preflight.WORKERS = workers
    p = load_params("prod", home / "params")
    aws = connect(None, REGION)
    times, calls, checks = [], {}, 0
    for _ in range(repeat + 1):
        aws.calls.clear()
        ctx = Ctx(p=p, aws=aws, out=Quiet(stdout=open(os.devnull, "w")), home=home)
        started = time.perf_counter()
        found = preflight.run(ctx, "123456789012", None)
        times.append(time.perf_counter() - started)
        calls, checks = dict(aws.calls), len(found)
    return times[0], statistics.median(times[1:]), calls, checks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    server, endpoint = start_moto()
    home = Path(tempfile.mkdtemp(prefix="bench-preflight-"))
    try:
        shutil.copytree(REPO / "params", home / "params")
        isolate(endpoint, home)
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        seed = recreate(boto3.Session(), REGION)
        push_image("wwhd-dev-backend", "2025-11-07")
        confirm_prod(home, account_id=seed.account,
                     network={"vpc_id": seed.vpc_id, "subnet_ids": seed.subnet_ids, "assign_public_ip": True})
        shipped = preflight.WORKERS
        for workers in (shipped, 1):
            first, seconds, calls, checks = run(home, workers, args.repeat)
            print(f"preflight, {workers} worker(s): {checks} checks, {sum(calls.values())} calls; first run (makes "
                  f"the clients) {first * 1000:.0f} ms, then median {seconds * 1000:.0f} ms over {args.repeat} runs")
        for op, n in sorted(calls.items()):
            print(f"  {op}: {n}")
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
