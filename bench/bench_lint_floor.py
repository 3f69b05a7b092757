#!/usr/bin/env python3
"""The floor of a cold `python generate.py`: what cfn-lint itself costs, measured apart (docs/speed.md).

Each number comes from fresh processes of this interpreter, median of --runs, CPU seconds (user + system) unless
noted, so that other load on the machine counts as little as possible:

* python start:        `python -c pass` (site, the editable install's finder)
* cfn-lint import:     `import cfnlint.runner`; and the same with sympy imported first, whose difference is what
                       importing sympy costs inside it (cfnlint/context/conditions/_conditions.py imports it at the top)
* rule loading:        `Runner(config).rules` after the import, with the collector off (as checks/lint.py loads them)
* linting:             every template of output/ in one process with the rules loaded, each template's CPU time
* fields() cached:     the same linting with `dataclasses.fields` memoised where cfn-lint's `Context.evolve` and
                       `Validator.evolve` call it on every hand-off (an experiment for the upstream change the docs
                       describe; the findings must stay the same, and the bench checks that they do)

It then prints the floor on two cores: start + import + rules + linting / 2 (the prestarted process and one forked
worker; generation runs alongside the import in the parent and is not on the critical path).

Usage: python bench/bench_lint_floor.py [--runs 5]
Numbers go to docs/speed.md; tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import gc, json, os, sys, time
def cpu():
    return time.process_time()
mode = sys.argv[1]
out = {}
if mode == "import-after-sympy":
    import sympy
c = cpu()
import cfnlint.runner
out["import"] = cpu() - c
if mode == "import-after-sympy":
    print(json.dumps(out)); sys.exit()
sys.path.insert(0, os.getcwd())
import checks.lint as lint
c = cpu()
lint._load_rules(freeze=True)
out["rules"] = cpu() - c
if mode == "lint-cached-fields":
    import dataclasses, functools
    import cfnlint.context.context as ctx, cfnlint.jsonschema.validators as val
    ctx.fields = val.fields = functools.lru_cache(maxsize=None)(dataclasses.fields)
if mode.startswith("lint"):
    paths = sorted(str(p) for p in __import__("pathlib").Path("output").glob("*/*.yaml"))
    regions = sys.argv[2].split(",")
    lint._preload_schemas(paths, regions)
    out["templates"], out["findings"] = {}, []
    for p in paths:
        c = cpu()
        for path, found, _ in lint._lint_group(([p], regions)):
            out["findings"] += found
        out["templates"][p] = cpu() - c
print(json.dumps(out))
"""


def child(mode: str, regions: list[str]) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, mode, ",".join(regions)], cwd=ROOT, capture_output=True,
                       text=True, check=True)
    return json.loads(r.stdout)


def cpu_of(argv: list[str]) -> float:
    proc = subprocess.Popen(argv, cwd=ROOT)
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from templates.config import environments, load_params

    regions = sorted({load_params(e).region for e in environments()})
    start = statistics.median(cpu_of([sys.executable, "-c", "pass"]) for _ in range(args.runs))
    runs = [child("lint", regions) for _ in range(args.runs)]
    sympy_first = [child("import-after-sympy", regions) for _ in range(args.runs)]
    cached = [child("lint-cached-fields", regions) for _ in range(args.runs)]
    if any(r["findings"] != runs[0]["findings"] for r in runs + cached):
        raise SystemExit("the findings differ between runs: the experiment is not valid")
    med = {k: statistics.median(r[k] for r in runs) for k in ("import", "rules")}
    per = {p: statistics.median(r["templates"][p] for r in runs) for p in runs[0]["templates"]}
    per_cached = {p: statistics.median(r["templates"][p] for r in cached) for p in cached[0]["templates"]}
    sympy = med["import"] - statistics.median(r["import"] for r in sympy_first)
    total, total_cached = sum(per.values()), sum(per_cached.values())
    floor = start + med["import"] + med["rules"] + total / 2
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, medians of {args.runs}, CPU seconds")
    print()
    print("| part | CPU |")
    print("|---|---|")
    print(f"| python start (`python -c pass`) | {start:.3f} s |")
    print(f"| `import cfnlint.runner` | {med['import']:.3f} s |")
    print(f"| of which sympy (imported by `cfnlint.context.conditions`) | {sympy:.3f} s |")
    print(f"| loading the rules | {med['rules']:.3f} s |")
    print(f"| linting the {len(per)} templates of output/ | {total:.3f} s |")
    for p, c in sorted(per.items(), key=lambda kv: -kv[1])[:3]:
        print(f"| - {p} | {c:.3f} s |")
    print(f"| linting with `dataclasses.fields` memoised in `evolve` (same findings) | {total_cached:.3f} s |")
    print()
    print(f"floor on two cores: {start:.2f} + {med['import']:.2f} + {med['rules']:.2f} + {total:.2f} / 2 = "
          f"{floor:.2f} s; without sympy's import and with fields() memoised: "
          f"{floor - sympy - (total - total_cached) / 2:.2f} s")


if __name__ == "__main__":
    main()
