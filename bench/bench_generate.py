#!/usr/bin/env python3
"""Time `python generate.py` as a user runs it: medians of several runs, and each run's peak memory (max RSS).

Scenarios, each in a fresh process in a scratch copy of the project (the repository is not touched):

* cold:     every environment, generate + lint, with an empty lint cache (first run on a fresh clone)
* warm:     the same with nothing changed (the lint cache answers; cfn-lint is not even imported)
* generate: every environment, --no-lint
* check:    --check (CI's freshness proof)

Usage: python bench/bench_generate.py [--runs N]. Numbers go to the README; tests never assert them.
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


def run(cwd: Path, args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MiB of one `generate.py` process."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "generate.py"), *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"generate.py {' '.join(args)} failed: {proc.stderr.read().decode()}")
    return took, usage.ru_maxrss / 1024


def scenario(cwd: Path, args: list[str], runs: int, before=None) -> dict:
    times, peaks = [], []
    for _ in range(runs):
        if before:
            before()
        t, m = run(cwd, args)
        times.append(t)
        peaks.append(m)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "peak_mib": max(peaks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("params", "output"):
            shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("packaged"))
        cache = work / ".cache"
        results = {
            "cold (generate + lint, empty cache)": scenario(work, [], args.runs,
                                                            before=lambda: shutil.rmtree(cache, ignore_errors=True)),
            "warm (generate + lint, nothing changed)": scenario(work, [], args.runs),
            "generate only (--no-lint)": scenario(work, ["--no-lint"], args.runs),
            "--check": scenario(work, ["--check"], args.runs),
        }
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.runs} runs each")
    print(f"{'scenario':42} {'median':>8} {'min':>8} {'max':>8} {'peak RSS':>10}")
    for name, r in results.items():
        print(f"{name:42} {r['median_s']:7.2f}s {r['min_s']:7.2f}s {r['max_s']:7.2f}s {r['peak_mib']:7.0f} MiB")


if __name__ == "__main__":
    main()
