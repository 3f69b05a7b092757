#!/usr/bin/env python3
"""wwhd-infra: generate, check and deploy the W.W.H.D. backend's CloudFormation.

    python generate.py                 build every environment in params/ into output/<env>/ and lint it
    python generate.py --env prod      only prod
    python generate.py --check         fail if output/ (or params/schema.json) is not what the params produce
    python generate.py --diagram       print each environment's stacks and wiring as a Mermaid diagram
    python generate.py --cost          print each environment's estimated monthly cost, read from its templates
    python generate.py --scan          also run checkov and cfripper over output/ (installed apart: README)
    python generate.py <command> ...   deploy commands: bootstrap, package, plan, apply, status, destroy, verify

Thin by design: parse arguments, call one function per command, print, set the exit code. Exit codes: 0 success,
1 a check or a deploy failed, 2 bad input (params, arguments), which is printed without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # first: a plain build starts loading cfn-lint in a fork meanwhile (checks/lint.py)
    from checks.lint import prestart_early
    prestart_early(sys.argv[1:])

try:
    from checks import freshness, guardrails
    from checks.cost import cost_table
    from checks.diagram import mermaid
    from checks.lint import env_groups, lint, prestart
    from templates import ROOT, build_all
    from templates._yaml import dump as dump_yaml
    from templates.config import ParamsError, Problem, environments, json_schema, load_params, project_dir
except ModuleNotFoundError as missing:  # run by an interpreter without the install step: say how, no traceback
    print(f"{missing.name} is not installed for {sys.executable}: install the project first (README, Quickstart):\n"
          "  python3 -m venv .venv && . .venv/bin/activate && pip install -q -e . && python generate.py", file=sys.stderr)
    sys.exit(2)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def _selected(args, params_dir: Path) -> list[str]:
    envs = args.envs or environments(params_dir)
    if not envs:
        raise ParamsError(params_dir, [Problem("", "no params/<env>.yaml here; run from the repository root")])
    return envs


def cmd_build(args) -> int:
    started = time.perf_counter()
    home = project_dir()
    # cfn-lint loads in a forked process while we generate (checks/lint.py: prestart; skipped on a warm run)
    prestarted = None if args.no_lint or args.check or args.diagram or args.cost else prestart(home, args.envs)
    params_dir, out_dir = home / "params", home / "output"
    envs = _selected(args, params_dir)
    problems = []
    loaded = {}
    for env in envs:  # validate every environment before writing anything
        try:
            loaded[env] = load_params(env, params_dir)
        except ParamsError as e:
            problems.append(e.render())
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    built = {env: {stem: t.to_dict() for stem, t in build_all(p).items()} for env, p in loaded.items()}
    if args.diagram:
        for env, templates in built.items():
            print(f"%% {env}\n{mermaid(templates)}", end="")
        return EXIT_OK
    if args.cost:
        for env, templates in built.items():
            print(cost_table(env, templates, loaded[env].region), end="")
        return EXIT_OK
    rendered = {env: {f"{stem}.yaml": dump_yaml(t) for stem, t in ts.items()} for env, ts in built.items()}
    schema = _schema_text()
    if args.check:
        return _scanned(args, home, _check(home, out_dir, rendered, schema))
    for env, files in rendered.items():
        freshness.write(out_dir / env, files)
    schema_file = params_dir / "schema.json"
    if not schema_file.is_file() or schema_file.read_text() != schema:
        schema_file.write_text(schema)
    generated = time.perf_counter() - started
    print(f"generated {sum(map(len, rendered.values()))} templates for {', '.join(rendered)} in {generated:.2f}s")
    violations = _guardrails(built)
    if args.no_lint:
        return _scanned(args, home, EXIT_FAILED if violations else EXIT_OK)
    return _scanned(args, home, _lint(home, out_dir, loaded, prestarted) or (EXIT_FAILED if violations else EXIT_OK))


def _guardrails(built: dict) -> int:
    """Our own rules (checks/guardrails.py); cheap, so they run on every build."""
    found = 0
    for env, templates in built.items():
        for v in guardrails.check(templates):
            print(f"output/{env}: {v}", file=sys.stderr)
            found += 1
    if found:
        print(f"guardrails: {found} violation(s)", file=sys.stderr)
    return found


def _scanned(args, home: Path, code: int) -> int:
    """With ``--scan``: checkov and cfripper over the environments' output (checks/scan.py), after everything else."""
    if not args.scan:
        return code
    from checks import scan  # only with --scan

    started = time.perf_counter()
    try:
        findings = scan.scan(home, _selected(args, home / "params"))
    except scan.ScannersMissing as e:
        print(f"--scan: {e}", file=sys.stderr)
        return max(code, EXIT_BAD_INPUT)
    if findings:
        print("\n".join(map(str, findings)), file=sys.stderr)
        print(f"scan: {len(findings)} finding(s) not fixed or suppressed (templates/_common.scan_ignore)", file=sys.stderr)
        return max(code, EXIT_FAILED)
    print(f"scan: checkov and cfripper clean ({time.perf_counter() - started:.1f}s)")
    return code


def _check(home: Path, out_dir: Path, rendered: dict, schema: str) -> int:
    stale = [f"output/{env}/{name}" for env, files in rendered.items() for name in freshness.stale(out_dir / env, files)]
    schema_file = home / "params" / "schema.json"
    if not schema_file.is_file() or schema_file.read_text() != schema:
        stale.append("params/schema.json")
    if stale:
        print("stale generated files (run `python generate.py` and commit the result):", file=sys.stderr)
        print("\n".join(f"  {s}" for s in stale), file=sys.stderr)
        return EXIT_FAILED
    print(f"output/ is fresh for {', '.join(rendered)}")
    return EXIT_OK


def _lint(home: Path, out_dir: Path, loaded: dict, prestarted=None) -> int:
    started = time.perf_counter()
    regions = sorted({p.region for p in loaded.values()})
    cwd = os.getcwd()
    os.chdir(home)  # cfn-lint resolves the root's relative TemplateURLs from where it runs
    try:
        groups = {k: v for env in loaded for k, v in env_groups(out_dir.relative_to(home) / env, ROOT).items()}
        findings = lint(groups, regions, cache_file=Path(".cache") / "cfn-lint.json", prestarted=prestarted)
    finally:
        os.chdir(cwd)
    took = time.perf_counter() - started
    if findings:
        print("\n".join(map(str, findings)), file=sys.stderr)
        print(f"cfn-lint: {len(findings)} finding(s) in {len(groups)} templates", file=sys.stderr)
        return EXIT_FAILED
    print(f"cfn-lint: {len(groups)} templates clean ({took:.2f}s)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wwhd-infra", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--env", dest="envs", action="append", metavar="NAME",
                        help="environment to build (repeatable); default: every params/*.yaml")
    parser.add_argument("--check", action="store_true", help="compare output/ with a fresh render; write nothing")
    parser.add_argument("--no-lint", action="store_true", help="generate only")
    parser.add_argument("--diagram", action="store_true", help="print a Mermaid diagram of the stacks; write nothing")
    parser.add_argument("--cost", action="store_true",
                        help="print an offline monthly cost estimate of each environment (checks/cost.py); write nothing")
    parser.add_argument("--scan", action="store_true",
                        help="also run checkov and cfripper over output/ (their own virtualenv: README, Security scanners)")
    parser.set_defaults(func=cmd_build)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    try:
        from deploy.cli import register
    except ImportError:  # pragma: no cover - the deploy package is optional while it is built
        register = None
    if register:
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ParamsError as e:
        print(e.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
