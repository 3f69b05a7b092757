#!/usr/bin/env python3
"""`python generate.py` side by side with `cdk synth` of the equivalent CDK app (bench/cdk/): seconds and ratios.

* ours, cold: a fresh clone of this repository's HEAD (no .cache/, no __pycache__), `python generate.py`: every
  environment generated, guardrails, cfn-lint over every template;
* ours, warm: the same clone again, nothing changed (checks/unchanged.py answers);
* ours, cold, prod only: another fresh clone, `python generate.py build --env prod` (the scope of the CDK app);
* cdk synth: bench/cdk compiled ahead of time (tsc), run as
  `cdk synth --app "node dist/app.js" --no-version-reporting --no-notices -q` with CDK_DISABLE_VERSION_CHECK=1 and
  CDK_DISABLE_CLI_TELEMETRY=true: no lookups, no network (--no-notices and the telemetry switch keep the CLI from
  fetching its notices and sending telemetry, which it otherwise does).

Runs are interleaved (clone, ours cold, ours warm, cdk synth; again), so a machine that gets busier or quieter shifts
all alike; PYTHONDONTWRITEBYTECODE is unset, since users' Python caches bytecode. The median of each is printed with
the ratio cdk/ours. The CDK app is installed here with `npm ci` from the npm registry (bench/cdk/package-lock.json,
pinned versions) unless it already is; the tests never install or run it.

Usage: python bench/bench_vs_cdk.py [--runs 3] [--no-install] [--fifo]
(--fifo: on a machine others share, run every measured command under the real-time SCHED_FIFO policy, Linux and root
only, so their load does not count; it pauses half a second between runs to let them go on. Both sides get it.)
Numbers go to docs/speed.md and the README's Speed section; tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "bench" / "cdk"
SYNTH = ["node_modules/.bin/cdk", "synth", "--app", "node dist/app.js", "--no-version-reporting", "--no-notices", "-q"]
CDK_ENV = {"CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "true"}


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the process and every descendant it waited for) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}:\n{err}")
    return took, usage.ru_utime + usage.ru_stime


def install() -> None:
    """npm ci (exact versions from package-lock.json) unless node_modules matches the lock, then compile with tsc."""
    marker = CDK / "node_modules" / ".package-lock.json"
    if not marker.is_file() or marker.stat().st_mtime < (CDK / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CDK, check=True)
    subprocess.run(["node_modules/.bin/tsc", "-p", "."], cwd=CDK, check=True)


def clone(to: Path) -> None:
    """A fresh clone of HEAD: what a new developer or CI starts from (committed files only, no caches)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True)
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(to)], check=True)
    subprocess.run(["git", "checkout", "-q", head.stdout.strip()], cwd=to, check=True)


def version(argv: list[str], cwd: Path = ROOT) -> str:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True).stdout.strip().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-install", action="store_true", help="bench/cdk is installed and compiled already")
    parser.add_argument("--fifo", action="store_true", help="real-time scheduling (Linux, root): ignore others' load")
    args = parser.parse_args()
    if not args.no_install:
        install()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cdk_env = env | CDK_ENV
    samples: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": [], "prod": [], "cdk": []}
    pause = 0.0
    if args.fifo:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))  # inherited by every command it runs
        except (AttributeError, PermissionError) as e:
            raise SystemExit(f"--fifo needs Linux and root (SCHED_FIFO): {e}") from e
        pause = 0.5
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            work = Path(tmp) / f"clone-{i}"
            clone(work)
            time.sleep(pause)
            samples["cold"].append(timed([sys.executable, "generate.py"], work, env))
            time.sleep(pause)
            samples["warm"].append(timed([sys.executable, "generate.py"], work, env))
            clone(Path(tmp) / f"prod-{i}")
            time.sleep(pause)
            samples["prod"].append(timed([sys.executable, "generate.py", "build", "--env", "prod"],
                                         Path(tmp) / f"prod-{i}", env))
            shutil.rmtree(CDK / "cdk.out", ignore_errors=True)
            time.sleep(pause)
            samples["cdk"].append(timed(SYNTH, CDK, cdk_env))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f} s" for k, v in samples.items()), file=sys.stderr)
    wall = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
    cpu = {k: statistics.median(s[1] for s in v) for k, v in samples.items()}
    cdk_version = version(["node_modules/.bin/cdk", "--version"], CDK)
    lib = version(["node", "-p", "require('aws-cdk-lib/package.json').version"], CDK)
    print(f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, node "
          f"{version(['node', '--version'])}, aws-cdk {cdk_version.split()[0]}, aws-cdk-lib {lib}; "
          f"load average {os.getloadavg()[0]:.1f}{', SCHED_FIFO' if args.fifo else ''}; medians of {args.runs}")
    print()
    print("| | ours | `cdk synth` (prod) | cdk/ours |")
    print("|---|---|---|---|")
    for name, label in (("cold", "cold: fresh clone, both environments, lint included"),
                        ("warm", "warm: the same clone again, nothing changed"),
                        ("prod", "cold, prod only (`build --env prod`): the CDK app's scope")):
        print(f"| {label} | {wall[name]:.2f} s (CPU {cpu[name]:.2f} s) | {wall['cdk']:.2f} s (CPU {cpu['cdk']:.2f} s) "
              f"| {wall['cdk'] / wall[name]:.1f}x |")


if __name__ == "__main__":
    main()
