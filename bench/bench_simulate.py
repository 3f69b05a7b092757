"""What ``plan --role-arn`` asks IAM's policy simulator, per environment: requests, action-resource pairs, actions,
and the time to work them out (offline: building the templates and reading cfn-lint's handler permissions).

    .venv/bin/python bench/bench_simulate.py

No AWS call is made. Against AWS each SimulatePrincipalPolicy request costs one round trip (deploy/simulate.py runs
``CALLS_AT_ONCE`` at a time), so the request count is the number to watch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: run as a script

from deploy import simulate
from templates import build_all
from templates.config import load_params

REPO = Path(__file__).resolve().parent.parent

ROLE = "arn:aws:iam::123456789012:role/wwhd-CloudFormationExecutionRole"


def main() -> int:
    for env in ("dev", "prod"):
        p = load_params(env, REPO / "params")
        started = time.perf_counter()
        built = {name: t.to_dict() for name, t in build_all(p).items()}
        asked, unmapped = simulate.probes(p, built, "123456789012", "aws", ROLE)
        seconds = time.perf_counter() - started
        pairs = sum(len(x.actions) * len(x.resources) for x in asked)
        actions = len({a for x in asked for a in x.actions})
        print(f"{env}: {len(asked)} requests, {pairs} action-resource pairs, {actions} actions, "
              f"{len(unmapped)} unmapped types; worked out in {seconds * 1000:.0f} ms "
              f"({simulate.CALLS_AT_ONCE} requests at once)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
