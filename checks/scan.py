"""Third-party security scanners over the generated templates: checkov and cfripper, with our suppressions.

They add generic AWS security checks to cfn-lint (validity) and ``checks/guardrails.py`` (rules about this app):
encryption choices, public ingress, wildcard resources, privilege escalation. Every finding is either fixed in
``templates/`` or accepted on its resource with a one-line reason (``templates._common.scan_ignore``), so a clean scan
means "nothing new", and each accepted finding is reviewable where the resource is built.

How the suppressions reach each scanner:

* checkov reads ``Metadata.checkov.skip`` (``id``, ``comment``) of a resource itself.
* cfripper has no per-resource suppression. It takes *filters* (``--rules-filters-folder``: Python files defining
  ``FILTERS``) that turn the findings they match to mode ``ALLOWED``. For each template we write one filter per
  entry of ``Metadata.wwhd-infra.cfripper-allow``, matching that rule and that logical id. A cfripper run applies
  its filters to every template it reads, so one run reads only templates whose filters are the same (most have
  none): a filter never reaches a resource of the same id in a template that did not accept it.

Why subprocesses, from their own virtualenv: checkov pins ``boto3==1.35.49``, ``packaging<24`` and ``networkx<2.7``.
Installed beside the project it downgrades boto3 (which ``deploy/`` uses) by nine minor versions and breaks pytest
9.2's ``packaging>=24``; so there is no ``scan`` extra. The scanners live in a virtualenv of their own (README,
"Security scanners"), found by :func:`scanner_bin`.

Scanner limits, and what we do about them:

* cfripper parses templates with pycfmodel, whose models predate ``Tags`` on ``AWS::ElasticLoadBalancingV2::Listener``
  (valid CloudFormation: cfn-lint's schemas and troposphere have it) and reject the whole template. cfripper reads
  a copy without those tags; no cfripper rule looks at tags.
* cfripper evaluates one template at a time; nested-stack parameters stay unresolved ``Ref`` s.
* checkov runs with ``--skip-download``: otherwise it calls the Prisma Cloud API for guideline links.
* A scanner that crashes or cannot parse a template is a finding too (rule ``scanner-error``): a scan that did not
  look must not pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cfn_tools  # cfn-flip, a troposphere dependency: CloudFormation YAML (short-form tags) to plain data

from templates._common import CFRIPPER_RULE, CHECKOV_RULE

# The versions the templates were last scanned clean with. Newer ones add rules: upgrade on purpose, then rescan.
TESTED = ("checkov==3.3.30", "cfripper==1.22.1")
SCAN_VENV = Path(".cache") / "scan-venv"  # relative to the project; .cache/ is git-ignored
VENV_VARIABLE = "WWHD_SCAN_VENV"
SCANNERS = ("checkov", "cfripper")
# Properties valid in CloudFormation that pycfmodel (cfripper's parser) does not know yet, by resource type.
CFRIPPER_UNKNOWN = {"AWS::ElasticLoadBalancingV2::Listener": ("Tags",)}
SCANNER_ERROR = "scanner-error"


@dataclass(frozen=True, order=True)
class Finding:
    path: str       # output/<env>/<stem>.yaml
    resource: str   # logical id; "" for a finding about the whole template
    scanner: str    # checkov | cfripper
    rule: str       # CKV_AWS_26, EC2SecurityGroupMissingEgressRule, scanner-error
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.resource}" if self.resource else self.path
        return f"{where}: [{self.scanner} {self.rule}] {self.message}"


@dataclass(frozen=True, order=True)
class Suppression:
    resource: str
    scanner: str
    rule: str
    reason: str


class ScannersMissing(RuntimeError):
    """checkov or cfripper is not installed where we look; the message says how to install them."""


def install_hint() -> str:
    return (
        "checkov and cfripper are not installed. They cannot share the project's virtualenv (checkov pins "
        "boto3==1.35.49 and packaging<24), so give them their own:\n"
        f"    python3 -m venv {SCAN_VENV} && {SCAN_VENV}/bin/pip install -q {' '.join(TESTED)}\n"
        f"then run `python generate.py scan` again (or point {VENV_VARIABLE} at another virtualenv that has them)."
    )


def scanner_bin(home: Path) -> Path:
    """The folder with both scanners' commands: ``$WWHD_SCAN_VENV/bin``, else ``<home>/.cache/scan-venv/bin``, else
    this interpreter's folder, else ``PATH``."""
    chosen = os.environ.get(VENV_VARIABLE)
    if chosen:
        candidates = [Path(chosen) / "bin"]
    else:
        candidates = [home / SCAN_VENV / "bin", Path(sys.executable).parent]
        on_path = [shutil.which(s) for s in SCANNERS]
        first = on_path[0]
        if all(on_path) and first is not None:
            candidates.append(Path(first).parent)
    for folder in candidates:
        if all((folder / s).is_file() for s in SCANNERS):
            return folder
    where = f"{VENV_VARIABLE}={chosen}" if chosen else ", ".join(str(c) for c in candidates)
    raise ScannersMissing(f"{install_hint()}\n(looked in {where})")


# --- suppressions, as the templates write them (pure) ----------------------------------------------------------------


def suppressions(template: dict) -> list[Suppression]:
    """Every scanner suppression of one template, from its resources' Metadata."""
    found = []
    for rid, r in (template.get("Resources") or {}).items():
        meta = r.get("Metadata") or {}
        for entry in (meta.get("checkov") or {}).get("skip", []):
            found.append(Suppression(rid, "checkov", str(entry.get("id", "")), str(entry.get("comment") or "")))
        for entry in (meta.get("wwhd-infra") or {}).get("cfripper-allow", []):
            found.append(Suppression(rid, "cfripper", str(entry.get("id", "")), str(entry.get("comment") or "")))
    return sorted(found)


def malformed(s: Suppression) -> str | None:
    """Why a suppression is not acceptable, or None: it needs a rule id of its scanner's shape and a reason."""
    shape = CHECKOV_RULE if s.scanner == "checkov" else CFRIPPER_RULE
    if not shape.match(s.rule):
        return f"{s.rule!r} is not a {s.scanner} rule id"
    if not s.reason.strip():
        return f"{s.rule}: no reason given"
    return None


def load(path: Path) -> dict:
    return cfn_tools.load_yaml(path.read_text(encoding="utf-8")) or {}


# --- checkov -----------------------------------------------------------------------------------------------------


def run_checkov(home: Path, files: list[Path], bin_dir: Path) -> list[Finding]:
    """One checkov process over every template (it scans each file on its own; ``--quiet`` reports only failures)."""
    cmd = [str(bin_dir / "checkov"), "--framework", "cloudformation", "--output", "json", "--quiet", "--compact",
           "--skip-download", "--file", *(str(f) for f in files)]
    proc = subprocess.run(cmd, cwd=home, capture_output=True, text=True, check=False)
    try:
        reports = json.loads(proc.stdout)
    except ValueError:
        return [Finding("output", "", "checkov", SCANNER_ERROR, f"exit {proc.returncode}: {_tail(proc.stderr)}")]
    found = []
    for report in reports if isinstance(reports, list) else [reports]:
        results = report.get("results") or {}
        for c in results.get("failed_checks", []):
            found.append(Finding(_relative(home, c.get("file_abs_path") or c["file_path"]),
                                 c["resource"].split(".", 1)[-1], "checkov", c["check_id"], c["check_name"]))
        for path in results.get("parsing_errors", []):
            found.append(Finding(_relative(home, path), "", "checkov", SCANNER_ERROR, "could not parse the template"))
        if (report.get("summary") or {}).get("parsing_errors") and not results.get("parsing_errors"):
            found.append(Finding("output", "", "checkov", SCANNER_ERROR, "could not parse some templates"))
    return found


# --- cfripper ----------------------------------------------------------------------------------------------------


def cfripper_filters(template: dict) -> str:
    """Python source of the ``FILTERS`` that accept this template's ``cfripper-allow`` entries, by rule and logical
    id."""
    lines = ["from cfripper.config.filter import Filter", "from cfripper.model.enums import RuleMode", "",
             "FILTERS = ["]
    for s in suppressions(template):
        if s.scanner == "cfripper":
            lines.append(f"    Filter(reason={s.reason!r}, rule_mode=RuleMode.ALLOWED, rules={{{s.rule!r}}}, "
                         f"eval={{'eq': [{{'ref': 'logical_id'}}, {s.resource!r}]}}),")
    return "\n".join([*lines, "]", ""])


def cfripper_view(template: dict) -> dict:
    """The template as cfripper can parse it: without the properties pycfmodel does not know (CFRIPPER_UNKNOWN)."""
    view = json.loads(json.dumps(template))
    for r in (view.get("Resources") or {}).values():
        for prop in CFRIPPER_UNKNOWN.get(r.get("Type"), ()):
            (r.get("Properties") or {}).pop(prop, None)
    return view


def _cfripper_result(rel: str, result_file: Path) -> list[Finding]:
    try:
        result = json.loads(result_file.read_text())
        failures, exceptions = result.get("failures") or [], result.get("exceptions") or []
    except (OSError, ValueError, AttributeError) as e:
        return [Finding(rel, "", "cfripper", SCANNER_ERROR, f"no readable result ({type(e).__name__})")]
    found = [Finding(rel, "", "cfripper", SCANNER_ERROR, str(e)) for e in exceptions]
    for f in failures:
        mode = "" if f.get("rule_mode") == "BLOCKING" else f" ({f.get('rule_mode', '').lower()} mode)"
        for rid in sorted(f.get("resource_ids") or [""]):
            found.append(Finding(rel, rid, "cfripper", f["rule"], f["reason"] + mode))
    return found


def _cfripper_run(bin_dir: Path, filters: str, templates: dict[Path, dict]) -> list[Finding]:
    """One cfripper process over ``templates``, which all have these ``filters``; a result file per template."""
    with tempfile.TemporaryDirectory(prefix="wwhd-cfripper-") as tmp:
        work = Path(tmp)
        (work / "filters").mkdir()
        (work / "filters" / "allow.py").write_text(filters)
        (work / "results").mkdir()
        names = {path: f"{i}-{path.stem}.json" for i, path in enumerate(templates)}  # unique within the run
        for path, name in names.items():
            (work / name).write_text(json.dumps(cfripper_view(templates[path])))
        # cfripper saves the result of the template named N as <output folder>/N.cfripper.results.json (its cli.py)
        cmd = [os.path.abspath(bin_dir / "cfripper"), *names.values(), "--format", "json",
               "--rules-filters-folder", "filters", "--output-folder", "results"]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 2):  # 2: findings; 1 and 3: cfripper failed, and stopped at that template
            return [Finding(str(path), "", "cfripper", SCANNER_ERROR, f"exit {proc.returncode}: {_tail(proc.stderr)}")
                    for path in templates]
        return [f for path, name in names.items()
                for f in _cfripper_result(str(path), work / "results" / f"{name}.cfripper.results.json")]


def run_cfripper(home: Path, files: list[Path], bin_dir: Path) -> list[Finding]:
    """cfripper over each template with that template's filters: one process per set of filters, two at a time. Most
    templates have none, so the committed 20 take 7 processes instead of 20, and each costs ~0.7 s to start."""
    runs: dict[str, dict[Path, dict]] = {}
    for path in files:
        template = load(home / path)
        runs.setdefault(cfripper_filters(template), {})[path] = template
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [f for part in pool.map(lambda run: _cfripper_run(bin_dir, *run), runs.items()) for f in part]


# --- both ----------------------------------------------------------------------------------------------------------


def template_files(home: Path, envs: Iterable[str]) -> list[Path]:
    """``output/<env>/*.yaml`` relative to ``home`` (never ``output/<env>/packaged/``, the deploy's copies)."""
    return [p.relative_to(home) for env in envs for p in sorted((home / "output" / env).glob("*.yaml"))]


def scan(home: Path, envs: Iterable[str], bin_dir: Path | None = None) -> list[Finding]:
    """Both scanners over ``output/<env>/`` of each environment; findings that no suppression accepts.

    Raises :class:`ScannersMissing` (with the install command) when the scanners are not installed.
    """
    bin_dir = bin_dir or scanner_bin(home)
    files = template_files(home, envs)
    if not files:
        return []
    with ThreadPoolExecutor(max_workers=1) as pool:  # checkov in the background while cfripper runs
        checkov = pool.submit(run_checkov, home, files, bin_dir)
        found = run_cfripper(home, files, bin_dir)
        found += checkov.result()
    return sorted(set(found))


def _relative(home: Path, path: str) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return str(p.relative_to(home.resolve()))
        except ValueError:
            return str(p)
    return str(p).lstrip("/")


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "(no output)"
