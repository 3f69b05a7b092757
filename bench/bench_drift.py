"""Benchmark of ``drift`` over the dev and prod hierarchies, against recorded responses: API calls and wall time.

    .venv/bin/python bench/bench_drift.py [--latency 0.05] [--poll 0.2] [--repeat 3]

moto does not implement drift detection, so the responses come from the test suite's recording
(tests/deploy/recorded_drift.py: botocore Stubber answering by request, validated against the service model), with a
simulated network latency per call (``--latency`` seconds) and a simulated detection time per stack: each stack
answers DETECTION_IN_PROGRESS for one poll per three resources it holds, polled every ``--poll`` seconds. Against
AWS a detection takes seconds to minutes, so the waits dominate; the point is the shape:

* ``drift`` (deploy/drift.py): all detections started at once on a bounded pool, polled together each round, results
  read at once. Wall time should be close to the slowest single stack.
* ``one by one``: what a script that detects each stack in turn does (start, poll until done, read), for
  comparison: wall time close to the sum over the stacks.

Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: run as a script
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

from deploy import drift
from deploy.ui import Out, Poller
from tests.deploy.recorded_drift import World, beside, routed

REPO = Path(__file__).resolve().parent.parent


class Quiet(Out):
    def line(self, text: str = "", style: str = "") -> None:
        pass


def world(env: str) -> World:
    w = World(env)
    for s in w.stacks:
        w.rounds[s.path] = max(1, len(s.resources) // 3)
    return w


def concurrent(env: str, latency: float, poll: float) -> tuple[float, int, dict]:
    w = world(env)
    aws, stubber = routed(latency)
    w.expect(stubber)
    started = time.perf_counter()
    report = drift.detect(aws, w.stacks[0].name, Poller(first=poll, factor=1.0, longest=poll), Quiet(), lambda *a: "",
                          also=beside(env))
    elapsed = time.perf_counter() - started
    stubber.assert_no_pending_responses()
    assert report.ok
    return elapsed, sum(aws.calls.values()), dict(aws.calls)


def one_by_one(env: str, latency: float, poll: float) -> tuple[float, int, float]:
    """Each stack in turn: start, poll until done, read. Also returns the slowest single stack's time."""
    w = world(env)
    aws, stubber = routed(latency)
    w.expect(stubber)
    poller = Poller(first=poll, factor=1.0, longest=poll)
    started = time.perf_counter()
    info = drift.describe(aws, w.stacks[0].name)
    slowest = 0.0
    identity = drift.describe(aws, beside(env)["identity"])  # checked beside the hierarchy, as drift does
    targets = drift.hierarchy(aws, info.id) + [drift._Target(("identity",), identity.id,
                                                            drift.list_resources(aws, identity.id))]
    for target in targets:
        t0 = time.perf_counter()
        s = drift.StackDrift(target.path, target.stack_id)
        drift._start(aws, s)
        for delay in poller.intervals():
            poller.wait(delay)
            drift._status(aws, s)
            if s.detection:
                break
        drift._read(aws, s, target)
        slowest = max(slowest, time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    stubber.assert_no_pending_responses()
    return elapsed, sum(aws.calls.values()), slowest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.05, help="simulated seconds per API call (default 0.05)")
    ap.add_argument("--poll", type=float, default=0.2, help="seconds between status polls (default 0.2)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"latency {args.latency:.3f} s per call, poll every {args.poll:.2f} s, one in-progress poll per 3 resources; "
          f"median of {args.repeat}; pool of {drift.MAX_PARALLEL}")
    for env in ("dev", "prod"):
        w = world(env)
        runs = [concurrent(env, args.latency, args.poll) for _ in range(args.repeat)]
        seq = [one_by_one(env, args.latency, args.poll) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        calls, per_op = runs[0][1], runs[0][2]
        print(f"{env}: {len(w.stacks)} stacks, {sum(len(s.resources) for s in w.stacks)} resources, "
              f"slowest stack {max(w.rounds.values())} in-progress poll(s)")
        print(f"  drift       {wall:6.2f} s  {calls} calls  "
              + ", ".join(f"{k.split(':')[1]} {v}" for k, v in sorted(per_op.items())))
        print(f"  one by one  {statistics.median(r[0] for r in seq):6.2f} s  {seq[0][1]} calls  "
              f"(slowest single stack alone {statistics.median(r[2] for r in seq):.2f} s)")


if __name__ == "__main__":
    main()
