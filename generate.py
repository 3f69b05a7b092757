#!/usr/bin/env python3
"""wwhd-infra: generate, check and deploy the W.W.H.D. backend's CloudFormation.

    python generate.py                      build every environment in params/ into output/<env>/ and lint it
    python generate.py build --env prod     only prod (--no-lint: generate only; --scan: also checkov and cfripper)
    python generate.py check                fail if output/ (or params/schema.json) is not what the params produce
    python generate.py cost [--env prod]    each environment's estimated monthly cost, read from its templates
    python generate.py diagram              each environment's stacks and wiring as a Mermaid diagram
    python generate.py scan                 checkov and cfripper over output/ (installed apart: README)
    python generate.py <verb> --env NAME    talks to AWS: bootstrap, package, plan, apply, status, destroy, verify, ...

One style: a verb, then its flags (rain and the CDK CLI read this way).

Thin by design: parse arguments, call one function per command, print, set the exit code. Every failure ends in
one ``error:`` line and one ``fix:`` line, through one boundary (:func:`main`), with an exit code from the one table
in ``deploy/errors.py`` (README "Exit codes"); a traceback only with ``--debug``.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # first, before any other import:
    from checks.unchanged import answer  # a plain build or check where nothing changed answers from .cache

    if (_answered := answer(sys.argv[1:], __file__)) is not None:
        sys.exit(_answered)
    from checks.lint import prestart_early  # a plain build starts loading cfn-lint in a fork meanwhile

    prestart_early(sys.argv[1:])

import argparse
import json
import os
import time
from pathlib import Path

try:
    from checks import freshness, guardrails, unchanged
    from checks.cost import cost_table
    from checks.diagram import mermaid
    from checks.lint import env_groups, lint, prestart
    from deploy.errors import EXIT, BadInput, DeployError, boundary, rerun
    from templates import ROOT, build_all
    from templates._yaml import dump as dump_yaml
    from templates.config import ParamsError, Problem, environments, json_schema, load_params, project_dir
except ModuleNotFoundError as missing:  # run by an interpreter without the install step: say how, no traceback
    print(f"error: {missing.name} is not installed for {sys.executable}\n"
          "fix: install the project first (README, Quickstart): "
          "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e . && python generate.py", file=sys.stderr)
    sys.exit(2)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = EXIT["ok"], EXIT["failed"], EXIT["bad-input"]
CODE = Path(__file__).resolve().parent  # the checkout whose sources the "nothing changed" key covers
OFFLINE_VERBS = ("build", "check", "cost", "diagram", "scan")
# The flags of earlier releases, given without a verb: the command that does what each did (``--scan`` built, linted,
# then scanned) and why it is refused. Refused, not translated: a verb is the one spelling (README, Commands).
OLD_FLAGS = {
    "--check": (("check",), "--check is no longer a flag; the verb is check"),
    "--cost": (("cost",), "--cost is no longer a flag; the verb is cost"),
    "--diagram": (("diagram",), "--diagram is no longer a flag; the verb is diagram"),
    "--scan": (("build", "--scan"), "--scan without a verb is no longer a flag; the verb is build, with --scan"),
}


def _schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def _selected(args, params_dir: Path) -> list[str]:
    envs = args.envs or environments(params_dir)
    if not envs:
        raise ParamsError(params_dir, [Problem("", "no params/<env>.yaml here; run from the repository root")])
    return envs


def _loaded(args, params_dir: Path) -> dict:
    """Every selected environment validated before anything is written: all problems at once, or the params."""
    problems, loaded = [], {}
    for env in _selected(args, params_dir):
        try:
            loaded[env] = load_params(env, params_dir)
        except ParamsError as e:
            problems.append(e)
    if problems:
        raise ParamsErrors(problems)
    return loaded


class ParamsErrors(Exception):
    """The problems of several params files, printed together (exit 2)."""

    def __init__(self, errors: list[ParamsError]):
        super().__init__("\n".join(e.render() for e in errors))


def cmd_offline(args) -> int:
    """build, check, cost, diagram and scan: read params, render in memory, then the verb's own step."""
    started = time.perf_counter()
    home = project_dir()
    # cfn-lint loads in a forked process while we generate (checks/lint.py: prestart; skipped on a warm run)
    prestarted = prestart(home, args.envs) if args.verb == "build" and not args.no_lint else None
    # what every environment's result is made from, as the run starts: recorded with a good result (checks/unchanged.py)
    before = unchanged.started(home, CODE) if args.envs is None and args.verb in ("build", "check") else None
    params_dir, out_dir = home / "params", home / "output"
    loaded = _loaded(args, params_dir)
    built = {env: {stem: t.to_dict() for stem, t in build_all(p).items()} for env, p in loaded.items()}
    if args.verb == "diagram":
        for env, templates in built.items():
            print(f"%% {env}\n{mermaid(templates)}", end="")
        return EXIT_OK
    if args.verb == "cost":
        for env, templates in built.items():
            print(cost_table(env, templates, loaded[env].region), end="")
        return EXIT_OK
    if args.verb == "scan":
        return _scanned(home, list(loaded), EXIT_OK)
    rendered = {env: {f"{stem}.yaml": dump_yaml(t) for stem, t in ts.items()} for env, ts in built.items()}
    schema = _schema_text()
    for env in rendered:  # a symbolic link or a file at output/<env>: refused before anything is written or compared
        freshness.refuse_unsafe(out_dir / env)
    if args.verb == "check":
        code = _check(home, out_dir, rendered, schema)
        if code == EXIT_OK and before:
            unchanged.record(home, CODE, before, rendered, schema, clean=False)
        return code
    for env, files in rendered.items():
        for name in freshness.write(out_dir / env, files):
            print(f"removed output/{name}, left by an interrupted run")
    schema_file = params_dir / "schema.json"
    if not schema_file.is_file() or schema_file.read_text() != schema:
        schema_file.write_text(schema)
    generated = time.perf_counter() - started
    print(f"generated {sum(map(len, rendered.values()))} templates for {', '.join(rendered)} in {generated:.2f}s")
    violations = _guardrails(built, home)
    code = EXIT_FAILED if violations else EXIT_OK
    if not args.no_lint:
        code = _lint(home, out_dir, loaded, prestarted) or code
    if code == EXIT_OK and before:
        unchanged.record(home, CODE, before, rendered, schema, clean=not args.no_lint)
    return _scanned(home, list(loaded), code) if args.scan else code


def _guardrails(built: dict, home: Path) -> int:
    """Our own rules (checks/guardrails.py); cheap, so they run on every build (the execution-role rule's schema
    reads are cached in .cache, keyed by what they depend on)."""
    from checks import execution_role

    execution_role.use_cache(home / ".cache" / "execution-role.json")
    found = 0
    for env, templates in built.items():
        for v in guardrails.check(templates):
            print(f"output/{env}: {v}", file=sys.stderr)
            found += 1
    if found:
        print(f"guardrails: {found} violation(s)", file=sys.stderr)
    return found


def _scanned(home: Path, envs: list[str], code: int) -> int:
    """checkov and cfripper over the environments' output (checks/scan.py), after everything else."""
    from checks import scan  # only when scanning

    started = time.perf_counter()
    try:
        findings = scan.scan(home, envs)
    except scan.ScannersMissing as e:
        raise DeployError(f"scan: {e}", "python3 -m venv .cache/scan-venv && .cache/scan-venv/bin/pip install -q "
                                        "checkov==3.3.30 cfripper==1.22.1 (README, Security scanners)",
                          exit_code=EXIT_BAD_INPUT) from None
    if findings:
        print("\n".join(map(str, findings)), file=sys.stderr)
        print(f"scan: {len(findings)} finding(s) not fixed or suppressed (templates/_common.scan_ignore)",
              file=sys.stderr)
        return max(code, EXIT_FAILED)
    print(f"scan: checkov and cfripper clean ({time.perf_counter() - started:.1f}s)")
    return code


def _check(home: Path, out_dir: Path, rendered: dict, schema: str) -> int:
    stale = [f"output/{env}/{name}" for env, files in rendered.items()
             for name in freshness.stale(out_dir / env, files)]
    stale += [f"output/{p.name} (left by an interrupted run; generating removes it)"
              for env in rendered for p in freshness.leftovers(out_dir / env)]
    schema_file = home / "params" / "schema.json"
    if not schema_file.is_file() or schema_file.read_text() != schema:
        stale.append("params/schema.json")
    if stale:
        print("\n".join(f"stale: {s}" for s in stale), file=sys.stderr)
        print("error: generated files are stale\nfix: python generate.py, then commit the result", file=sys.stderr)
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


class Parser(argparse.ArgumentParser):
    """argparse with the project's error style: usage, then ``error:`` and a ``fix:`` that runs as printed."""

    argv: list[str] = []  # this run's arguments (main), to name the verb whose --help the fix points at
    verbs: tuple[str, ...] = ()  # every verb (build_parser)

    def error(self, message: str):
        self.print_usage(sys.stderr)
        if " " in self.prog:  # a verb's own parser: "wwhd-infra plan"
            verb = self.prog.split(" ", 1)[1] + " "
        else:  # the top-level parser reports unknown arguments of every verb
            verb = next((f"{a} " for a in self.argv if a in self.verbs), "")
        print(f"error: {message}\nfix: python generate.py {verb}--help", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print a traceback with any error (for reporting a bug)")


def _offline_parsers(commands) -> None:
    envs = argparse.ArgumentParser(add_help=False)
    envs.add_argument("--env", dest="envs", action="append", metavar="NAME",
                      help="environment (repeatable); default: every params/*.yaml")
    _debug_flag(envs)
    helps = {
        "build": "validate params, write output/<env>/ and params/schema.json, run the guardrails and cfn-lint",
        "check": "compare output/ and params/schema.json with a fresh render; write nothing",
        "cost": "print an offline monthly cost estimate of each environment (checks/cost.py); write nothing",
        "diagram": "print a Mermaid diagram of the stacks and their wiring; write nothing",
        "scan": "run checkov and cfripper over output/ (their own virtualenv: README, Security scanners)",
    }
    for verb in OFFLINE_VERBS:
        p = commands.add_parser(verb, help=helps[verb], description=helps[verb], parents=[envs])
        p.set_defaults(func=cmd_offline, verb=verb, no_lint=False, scan=False)
        if verb == "build":
            p.add_argument("--no-lint", action="store_true", help="generate only (the guardrails still run)")
            p.add_argument("--scan", action="store_true", help="also run checkov and cfripper")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="wwhd-infra", description=__doc__.split("\n\n")[0],
                    formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    # No verb means build (every verb sets its own ``verb``; the deploy verbs do not read it).
    parser.add_argument("--env", dest="envs", action="append", metavar="NAME",
                        help="environment (repeatable); default: every params/*.yaml")
    parser.add_argument("--no-lint", action="store_true", help="build: generate only")
    parser.add_argument("--debug", action="store_true", help="print a traceback with any error (for reporting a bug)")
    parser.set_defaults(func=cmd_offline, verb="build", command=None, scan=False)
    commands = parser.add_subparsers(dest="command", metavar="VERB")
    _offline_parsers(commands)
    from deploy.cli import register  # argparse definitions only: imports neither boto3 nor rich

    register(commands, _debug_flag)
    Parser.verbs = tuple(commands.choices)
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    """The arguments, or :class:`BadInput` for a flag of :data:`OLD_FLAGS` given without a verb: the fix is the
    command that replaces it, with the flags given beside it that the verb takes (``--env NAME``, ``--debug``, and
    ``--no-lint`` for a build), so it runs as printed. With a verb, an old flag is just an unknown argument."""
    parser = build_parser()
    old = next((a for a in argv if a in OLD_FLAGS), None)
    if old is None:
        return parser.parse_args(argv)
    args = parser.parse_args([a for a in argv if a not in OLD_FLAGS])  # the rest must parse on its own first
    if args.command is not None:
        return parser.parse_args(argv)  # exits 2: argparse names the unknown argument and the verb's --help
    (verb, *flags), message = OLD_FLAGS[old]
    kept = [w for env in args.envs or () for w in ("--env", env)]
    kept += ["--no-lint"] if args.no_lint and verb == "build" else []
    kept += ["--debug"] if args.debug else []
    raise BadInput(message, rerun([verb, *kept, *flags]))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    with boundary(argv) as outcome:
        Parser.argv = argv
        args = _parse(argv)
        outcome.code = args.func(args)
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())
