#!/usr/bin/env python3
"""Time `python generate.py` as a user runs it: medians of interleaved runs, with each run's peak memory.

Scenarios, each run in a fresh process in a scratch copy of the project (the repository is not touched):

* cold:     every environment, generate + lint, with an empty lint cache (first run on a fresh clone, and CI)
* warm:     the same with nothing changed (checks/unchanged.py answers before generate.py imports anything)
* generate: every environment, --no-lint (always the full work: only the plain forms take the short path)
* check:    `check` (CI's freshness proof; answered like warm when nothing changed since a run proved it)

The runs of the scenarios (and of a baseline checkout, if given) are interleaved: run 1 of each, then run 2 of each,
..., so a machine that gets busier or quieter during the benchmark shifts every scenario alike. Peak memory is the
largest resident set of any one process of the run (the linter's forked processes included), in MiB; CPU is
the user + system time of all of them (on a busy machine the wall time grows, the CPU time hardly).

Usage: python bench/bench_generate.py [--runs N] [--baseline DIR] [--fifo]
(DIR: another checkout, e.g. `git worktree add --detach /tmp/base main`, run by the same interpreter: before/after.
--fifo: on a machine others share, run under the real-time SCHED_FIFO policy, Linux and root only, so their load does
not count; it pauses half a second between runs to let them go on.)
Numbers go to docs/speed.md; tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {  # name -> (arguments, empty the lint cache before each run)
    "cold (generate + lint, empty cache)": ([], True),
    "warm (generate + lint, nothing changed)": ([], False),
    "generate only (--no-lint)": (["--no-lint"], False),
    "check": (["check"], False),
}


def run(checkout: Path, cwd: Path, args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS in MiB of one `generate.py` process (wait4 counts the process and the
    descendants it waited for: their CPU time summed, their resident sets' largest)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(checkout / "generate.py"), *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{checkout}/generate.py {' '.join(args)} failed: {proc.stderr.read().decode()}")
    return took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with, run interleaved")
    parser.add_argument("--fifo", action="store_true", help="real-time scheduling (Linux, root): ignore others' load")
    args = parser.parse_args()
    pause = 0.0
    if args.fifo:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))  # inherited by every generate.py it runs
        except (AttributeError, PermissionError) as e:
            raise SystemExit(f"--fifo needs Linux and root (SCHED_FIFO): {e}") from e
        pause = 0.5
    checkouts = {"": ROOT} | ({"baseline ": args.baseline.resolve()} if args.baseline else {})
    samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        works = {}
        for label, checkout in checkouts.items():
            work = works[label] = Path(tmp) / (label.strip() or "current")
            for name in ("params", "output"):
                shutil.copytree(checkout / name, work / name, ignore=shutil.ignore_patterns("packaged"))
            run(checkout, work, [])  # fill the lint cache for the warm scenario (and warm the OS file cache)
        for _ in range(args.runs):
            for name, (argv, cold) in SCENARIOS.items():
                for label, checkout in checkouts.items():
                    cache = works[label] / ".cache"
                    if cold:
                        shutil.rmtree(cache, ignore_errors=True)
                    samples.setdefault((label, name), []).append(run(checkout, works[label], argv))
                    time.sleep(pause)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.runs} interleaved runs each"
          + (", SCHED_FIFO" if args.fifo else ""))
    print(f"{'scenario':52} {'median':>8} {'min':>8} {'max':>8} {'CPU':>8} {'peak RSS':>10}  (medians)")
    for (label, name), got in samples.items():
        times, cpus, peaks = zip(*got, strict=True)
        print(f"{label + name:52} {statistics.median(times):7.2f}s {min(times):7.2f}s {max(times):7.2f}s"
              f" {statistics.median(cpus):7.2f}s {statistics.median(peaks):6.0f} MiB")


if __name__ == "__main__":
    main()
