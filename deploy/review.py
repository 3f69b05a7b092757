"""The review of a change set hierarchy: one model, four renderings, and the guards (data loss, single writer).

The model is built once from the described change sets (:class:`deploy.changeset.Node`) and is plain data, so the
terminal view, the rich view, the JSON for CI and the Markdown for a pull request comment always agree.

Replacement comes from ``ResourceChange.Replacement``: ``True`` (will be replaced), ``Conditional`` (may be,
depending on a value known only while executing) or ``False``. Per property, ``Details[].Target.RequiresRecreation``
says ``Always``, ``Conditionally`` or ``Never``; with ``IncludePropertyValues`` the details also carry
``BeforeValue`` / ``AfterValue``.

Beside the change set, ``plan`` attaches a :class:`deploy.diff.TemplateDiff`: the IAM statements, security group
rules and monthly cost that differ between the deployed templates and the planned ones. A change that widens access
is marked in every rendering (``WIDENS`` in text, yellow in a terminal, a ``> [!WARNING]`` block in Markdown,
``"widens": true`` in JSON); a change that only narrows says ``NARROWS``. Conditions read as IAM evaluates them (see
:mod:`checks.access_diff`). A review rebuilt from a change set alone (``apply --change-set``) has no diff: ``plan``
showed it.

The single-writer guard: CloudFormation replaces a resource by creating the new one before deleting the old, so a
replaced ``AWS::ECS::Service`` would run a second task on the same EFS data while the old one still runs (and with our
fixed ``ServiceName`` the replacement fails anyway, after a long wait). ``apply`` refuses such a change set, with no
override flag, unless no task can overlap: the deployed or the planned ``DesiredCount`` is 0.

Parameters show deployed -> planned in every rendering (JSON: ``parameters`` planned, ``deployedParameters``, and
``parameterChanges``).

Who CloudFormation acts as (:class:`ActsAs`, JSON ``actsAs``): CreateChangeSet's ``RoleARN`` is the role it assumes
when it executes the change set, and "if you don't specify a value, CloudFormation uses the role that was previously
associated with the stack. If no role is available, CloudFormation uses a temporary session that is generated from
your user credentials" (CloudFormation API reference, CreateChangeSet and UpdateStack, ``RoleARN``). So once CI has
deployed with ``--role-arn``, an operator's plan without it still runs as that role; every rendering says so.
DescribeChangeSet returns no ``RoleARN`` (API reference, DescribeChangeSet response elements), so a review rebuilt
from a change set alone (``apply --change-set``) can only name the stack's role and says that it is not certain.

Everything in the review that AWS or a template supplies is data. The terminal renderings go through
:class:`deploy.ui.Out`, which strips control characters. In Markdown each value goes through :mod:`deploy.markdown`
(the one escaping for every Markdown output): as text or in a ``<code>`` element, readable in the raw file, and no
element can open from inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from checks.access_diff import element_text
from checks.template_walk import Templates
from templates import ROOT
from templates.root import Param
from templates.stateful import STATEFUL

from . import adopt as adoption, markdown as markdown_values, preflight
from .adopt import Found
from .changeset import Node
from .diff import STEMS, TemplateDiff
from .markdown import FOLD_ROWS, code as md_code, fold as _md_fold, text as md_text
from .schema import SCHEMA_VERSION
from .stacks import STACK_TYPE
from .ui import Out, clean

SYMBOL = {"Add": "+", "Modify": "~", "Remove": "-", "Import": "<", "Dynamic": "?"}
REPLACEMENT = {"True": "REPLACE", "Conditional": "may replace"}
RECREATION_ORDER = {"": 0, "Never": 1, "Conditionally": 2, "Always": 3}
SECURITY_PREFIXES = ("AWS::IAM::", "AWS::EC2::SecurityGroup")
SECURITY_TYPES = {"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::KMS::Key",
                  "AWS::SecretsManager::ResourcePolicy", "AWS::Lambda::Permission"}
VALUE_WIDTH = 80
SERVICE_TYPE = "AWS::ECS::Service"


class DriftSection(Protocol):
    """What deploy.drift's Report and Skipped give a plan's review (duck-typed: this module does not import drift)."""

    def show_section(self, out: Out) -> None: ...
    def markdown_section(self) -> list[str]: ...
    def as_json(self) -> dict: ...


@dataclass
class PropertyChange:
    path: str
    before: str | None = None
    after: str | None = None
    recreation: str = ""
    causes: list[str] = field(default_factory=list)


@dataclass
class Row:
    logical_id: str
    type: str
    action: str
    replacement: str = ""
    physical_id: str = ""
    properties: list[PropertyChange] = field(default_factory=list)
    nested_change_set: str = ""

    @property
    def security(self) -> bool:
        return self.type.startswith(SECURITY_PREFIXES) or self.type in SECURITY_TYPES


@dataclass
class StackReview:
    path: tuple[str, ...]
    stack_name: str
    change_set_id: str
    rows: list[Row]

    @property
    def label(self) -> str:
        return "/".join(self.path) or "root"


@dataclass(frozen=True)
class Finding:
    """A stateful resource this change set would lose (or could, where the guard cannot see inside)."""

    stack: str
    logical_id: str
    type: str
    why: str

    def __str__(self) -> str:
        return f"{self.stack}/{self.logical_id} ({self.type}): {self.why}"


GIVEN, STACK, CALLER = "given", "stack", "caller"  # where ActsAs.role_arn comes from (JSON actsAs.source)


@dataclass(frozen=True)
class ActsAs:
    """The identity CloudFormation acts as when it executes the change set (module docstring: the RoleARN rule).

    ``certain`` is False in a review rebuilt from a described change set: a ``--role-arn`` given to that plan would
    win over the stack's role, and DescribeChangeSet does not return it."""

    role_arn: str | None
    source: str  # GIVEN: plan --role-arn; STACK: the role associated with the stack; CALLER: no role at all
    certain: bool = True

    @property
    def why(self) -> str:
        """Why this identity, for every rendering (after the ARN, or alone for the caller)."""
        if self.source == GIVEN:
            return "the role given with --role-arn"
        if self.certain:
            return {STACK: "the stack's service role, used because no --role-arn was given",
                    CALLER: "your own credentials (no service role)"}[self.source]
        hidden = "(DescribeChangeSet does not return the role a change set was created with)"
        return {STACK: f"the stack's service role, unless the plan gave another with --role-arn {hidden}",
                CALLER: f"your own credentials (no service role), unless the plan gave --role-arn {hidden}",
                }[self.source]

    def __str__(self) -> str:
        return f"{self.role_arn} ({self.why})" if self.role_arn else self.why


def acts_as(given: str | None, stack_role: str | None, certain: bool = True) -> ActsAs:
    """The role given with ``--role-arn``; else the stack's associated role (DescribeStacks ``RoleARN``); else the
    caller's own credentials: the order CreateChangeSet's ``RoleARN`` documents."""
    if given:
        return ActsAs(given, GIVEN)
    if stack_role:
        return ActsAs(stack_role, STACK, certain)
    return ActsAs(None, CALLER, certain)


REVIEW_ONLY = ("Review only: a pull request's change set. It is never applied: `apply` refuses it and the deploy role "
               "is denied ExecuteChangeSet on it; main plans its own.")


@dataclass(frozen=True)
class Review:
    """What a plan shows and apply's guards read: built whole by :func:`build` or :func:`empty`, never changed after."""

    stack_name: str
    change_set_arn: str
    change_set_name: str
    change_set_type: str
    include_nested: bool
    parameters: dict[str, str]
    stacks: list[StackReview]
    no_changes: bool = False
    deployed_parameters: dict[str, str] = field(default_factory=dict)
    diff: TemplateDiff | None = None  # deployed vs planned templates; None when not compared
    preflight: list = field(default_factory=list)  # deploy.preflight.Check, run before the change set existed
    # deploy.drift.Report or .Skipped when plan checked drift (rendered by them; None: not asked for)
    drift: DriftSection | None = None
    acts_as: ActsAs | None = None  # who CloudFormation acts as; None: not known to this review
    review_only: bool = False  # a pull request's change set: shown for review, never applied
    # nested stack logical id -> {logical id: type} of the stateful resources its deployed or planned template holds
    # (see :func:`stateful_held`); a nested stack missing here (or None) was not read back, and the guard assumes the
    # worst for it
    holds: dict[str, dict[str, str]] | None = None
    adopted: list[Found] | None = None  # plan --adopt: what is imported as it is found (None: not asked for)

    @property
    def data_loss(self) -> list[Finding]:
        return data_loss(self)

    @property
    def single_writer(self) -> list[Finding]:
        return single_writer(self)

    @property
    def security(self) -> list[tuple[str, Row]]:
        return [(s.label, r) for s in self.stacks for r in s.rows if r.security]

    def counts(self) -> dict[str, int]:
        rows = [r for s in self.stacks for r in s.rows if not _is_nested_row(r)]
        return _count(rows)


# --- building -----------------------------------------------------------------------------------------------------


def build(tree: Node, change_set_type: str, diff: TemplateDiff | None = None,
          deployed_parameters: dict[str, str] | None = None, acts_as: ActsAs | None = None, *,
          holds: dict[str, dict[str, str]] | None = None, checks: list | None = None,
          drift: DriftSection | None = None, review_only: bool = False, adopted: list[Found] | None = None) -> Review:
    """The whole review of a described change set: every field given here, none set afterwards."""
    stacks = [StackReview(n.path, n.stack_name, n.arn,
                          sorted((_row(rc) for rc in n.changes), key=lambda r: r.logical_id))
              for n in tree.walk()]
    return Review(tree.stack_name, tree.arn, tree.name, change_set_type, tree.include_nested,
                  dict(sorted(tree.parameters.items())),
                  stacks, no_changes=tree.no_changes,
                  deployed_parameters=dict(sorted((deployed_parameters or {}).items())),
                  diff=diff, preflight=list(checks or []), drift=drift, acts_as=acts_as, review_only=review_only,
                  holds=holds, adopted=adopted)


def empty(stack_name: str, change_set_type: str, parameters: dict[str, str], checks: list | None = None, *,
          drift: DriftSection | None = None, acts_as: ActsAs | None = None, review_only: bool = False) -> Review:
    """The review of a plan that found nothing to change (for the JSON and Markdown files): deployed == planned."""
    values = dict(sorted(parameters.items()))
    return Review(stack_name, "", "", change_set_type, True, values, [], no_changes=True,
                  deployed_parameters=dict(values) if change_set_type == "UPDATE" else {}, preflight=list(checks or []),
                  drift=drift, acts_as=acts_as, review_only=review_only)


@dataclass(frozen=True)
class ParameterChange:
    key: str
    before: str | None  # deployed value; None: not deployed (CREATE) or a new parameter
    after: str | None  # planned value; None: no longer passed

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def __str__(self) -> str:
        if not self.changed:
            return f"{self.key}={self.after}"
        return f"{self.key}={_short(self.before)} -> {_short(self.after)}"


def parameter_changes(review: Review) -> list[ParameterChange]:
    """Every parameter as deployed -> planned; on CREATE nothing is deployed and only planned values are shown."""
    if review.change_set_type == "CREATE":
        return [ParameterChange(k, v, v) for k, v in review.parameters.items()]
    keys = sorted(set(review.parameters) | set(review.deployed_parameters))
    return [ParameterChange(k, review.deployed_parameters.get(k), review.parameters.get(k)) for k in keys]


def _row(rc: dict) -> Row:
    return Row(
        logical_id=rc["LogicalResourceId"], type=rc.get("ResourceType", ""), action=rc.get("Action", ""),
        replacement=rc.get("Replacement", "") if rc.get("Action") == "Modify" else "",
        physical_id=rc.get("PhysicalResourceId", ""), properties=_properties(rc.get("Details", [])),
        nested_change_set=rc.get("ChangeSetId", ""),
    )


def _properties(details: list[dict]) -> list[PropertyChange]:
    """One entry per changed path; several causes of the same change are merged, the strongest recreation wins."""
    merged: dict[str, PropertyChange] = {}
    for d in details:
        target = d.get("Target", {})
        path = _path(target)
        change = merged.setdefault(path, PropertyChange(path))
        change.before = change.before if change.before is not None else target.get("BeforeValue")
        change.after = change.after if change.after is not None else target.get("AfterValue")
        recreation = target.get("RequiresRecreation", "")
        if RECREATION_ORDER.get(recreation, 0) > RECREATION_ORDER.get(change.recreation, 0):
            change.recreation = recreation
        cause = _cause(d)
        if cause and cause not in change.causes:
            change.causes.append(cause)
    return [merged[k] for k in sorted(merged)]


def _path(target: dict) -> str:
    """``Properties/ContainerDefinitions/0/Image`` from Path when AWS gives one, else attribute and name."""
    if target.get("Path"):
        return target["Path"].strip("/")
    attribute, name = target.get("Attribute", ""), target.get("Name", "")
    return f"{attribute}/{name}" if name and name != attribute else attribute


def _cause(detail: dict) -> str:
    source, entity = detail.get("ChangeSource", ""), detail.get("CausingEntity", "")
    text = {"ParameterReference": f"parameter {entity}", "ResourceReference": f"ref {entity}",
            "ResourceAttribute": f"{entity}", "DirectModification": "template",
            "Automatic": "nested stack"}.get(source, source)
    return f"{text} (known at execution)" if detail.get("Evaluation") == "Dynamic" and text else text


def _is_nested_row(row: Row) -> bool:
    """A nested stack's own row when its change set is described below: counted there, not twice."""
    return row.type == STACK_TYPE and bool(row.nested_change_set)


def _count(rows: list[Row]) -> dict[str, int]:
    counts = {"add": 0, "modify": 0, "remove": 0, "replace": 0, "conditional": 0}
    for r in rows:
        key = {"Add": "add", "Modify": "modify", "Remove": "remove", "Import": "add"}.get(r.action)
        if key:
            counts[key] += 1
        if r.replacement == "True":
            counts["replace"] += 1
        elif r.replacement == "Conditional":
            counts["conditional"] += 1
    return counts


def summary_text(counts: dict[str, int]) -> str:
    replaced = [f"{counts['replace']} replaced"] if counts["replace"] else []
    replaced += [f"{counts['conditional']} may be replaced"] if counts["conditional"] else []
    extra = f" ({', '.join(replaced)})" if replaced else ""
    return f"{counts['add']} to add, {counts['modify']} to modify{extra}, {counts['remove']} to remove"


# --- the guard ----------------------------------------------------------------------------------------------------


def data_loss(review: Review) -> list[Finding]:
    """Stateful resources (templates.stateful.STATEFUL) removed or replaced, matched by nested stack and logical id.

    Also the nested stacks removed, or modified without a nested change set to look inside, whose deployed or
    planned template holds a stateful resource (:attr:`Review.holds`): the guard cannot prove that data survives.
    A nested stack that holds none on either side loses nothing, whatever its name (prod's cluster stack has no
    repository). Where the templates were not read back, the stacks named in ``STATEFUL`` are assumed to hold data.
    """
    found = []
    for stack in review.stacks:
        owner = stack.path[-1] if stack.path else None
        for row in stack.rows:
            why = _loss(row, owner, review.holds)
            if why:
                found.append(Finding(stack.label, row.logical_id, row.type, why))
    return found


def _loss(row: Row, owner: str | None, holds: dict[str, dict[str, str]] | None) -> str:
    if owner is not None and row.logical_id in STATEFUL.get(owner, ()):
        if row.action == "Remove":
            return "removed (retained by its DeletionPolicy, but orphaned: the app would start on empty storage)"
        if row.replacement == "True":
            return "replaced: a new, empty resource takes its place"
        if row.replacement == "Conditional":
            return "may be replaced: a new, empty resource may take its place"
    if row.type != STACK_TYPE or not (row.action == "Remove" or (row.action == "Modify" and not row.nested_change_set)):
        return ""
    if holds is not None and row.logical_id in holds:
        held = holds[row.logical_id]
        if not held:
            return ""
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(held.items()))
    elif row.logical_id in STATEFUL:
        listed = ", ".join(STATEFUL[row.logical_id]) + " (its templates were not read back)"
    else:
        return ""
    if row.action == "Remove":
        return f"nested stack removed with its stateful resources: {listed}"
    return f"changes, but without a nested change set the guard cannot see whether these survive: {listed}"


# The types of the resources in templates.stateful.STATEFUL (tests/deploy/test_protection.py checks every rendered
# one): a resource of these types under any logical id also counts as data a nested stack holds.
STATEFUL_TYPES = frozenset({"AWS::EFS::FileSystem", "AWS::EFS::AccessPoint", "AWS::Backup::BackupVault",
                            "AWS::SecretsManager::Secret", "AWS::ECR::Repository", "AWS::S3::Bucket"})


def stateful_held(deployed: Templates | None, planned: Templates | None) -> dict[str, dict[str, str]]:
    """``{nested stack logical id: {logical id: type}}``: the stateful resources (named in ``STATEFUL`` for that
    stack, or of a ``STATEFUL_TYPES`` type) in the deployed template of each nested stack read back (GetTemplate,
    :func:`deploy.diff.deployed_templates`) or in its planned one. Only stacks whose deployed template was read are
    keys: for the others nothing is known. Both arguments map a template stem (``storage``) to a template."""
    ids = {stem: stack for stack, stem in STEMS.items()}
    found: dict[str, dict[str, str]] = {}
    for stem, template in (deployed or {}).items():
        if stem == ROOT or not isinstance(template, dict):
            continue
        stack = ids.get(stem, stem)
        held: dict[str, str] = {}
        for source in (template, (planned or {}).get(stem)):
            resources = source.get("Resources") if isinstance(source, dict) else None
            for logical_id, resource in (resources or {}).items() if isinstance(resources, dict) else ():
                kind = resource.get("Type", "") if isinstance(resource, dict) else ""
                if logical_id in STATEFUL.get(stack, ()) or kind in STATEFUL_TYPES:
                    held.setdefault(str(logical_id), str(kind))
        found[stack] = held
    return found


# What every rendering and hint says about a data-loss finding. It names no flag to copy: the override is typed by
# the person who decided the loss, after reading ``apply --help`` (a printed command would switch the guard off).
REFUSES = ("apply refuses this change set: it would lose the data listed. To do it on purpose, back that data up "
           "first, then give apply its data-loss override yourself (see: python generate.py apply --help); "
           "otherwise change the templates so these resources keep their logical ids, and plan again.")


def single_writer(review: Review) -> list[Finding]:
    """ECS services this change set replaces (or may), or removes while adding another in the same stack: in both
    cases CloudFormation starts the new service before the old one is gone. None when the deployed or the planned
    ``DesiredCount`` is 0 (then one of the two services runs no task)."""
    count = str(Param.DesiredCount)
    if "0" in (review.deployed_parameters.get(count), review.parameters.get(count)):
        return []
    found = []
    for stack in review.stacks:
        services = [r for r in stack.rows if r.type == SERVICE_TYPE]
        added = [r.logical_id for r in services if r.action == "Add"]
        for row in services:
            if row.replacement in ("True", "Conditional"):
                verb = "replaced" if row.replacement == "True" else "may be replaced"
                found.append(Finding(stack.label, row.logical_id, row.type,
                                     f"{verb}: CloudFormation starts the new service before it deletes the old one"))
            elif row.action == "Remove" and added:
                found.append(Finding(stack.label, row.logical_id, row.type,
                                     f"removed while {', '.join(added)} is added: both run until the old one is "
                                     "deleted"))
    return found


# --- renderings ---------------------------------------------------------------------------------------------------


def show(review: Review, out: Out) -> None:
    """The terminal review: per stack its rows and changed properties, then the summary and warnings."""
    out.heading(f"Plan for {review.stack_name} ({review.change_set_type}): change set {review.change_set_name}")
    if review.review_only:
        out.line(REVIEW_ONLY, "bold")
    if review.acts_as is not None:  # yellow when no --role-arn was given: a role the reviewer did not choose
        out.line(f"acts as: {review.acts_as}", "bold" if review.acts_as.source == GIVEN else "bold yellow")
    if review.drift is not None:
        review.drift.show_section(out)
    params = parameter_changes(review)
    if params and out.rich:
        out.table("parameters (deployed -> planned)", ["Parameter", "Deployed", "Planned", ""],
                  [[p.key, _short(p.before), _short(p.after), "changed" if p.changed else ""] for p in params])
    elif params:
        out.line(f"parameters{'' if review.change_set_type == 'CREATE' else ' (deployed -> planned)'}: "
                 + ", ".join(str(p) for p in params))
    if not review.include_nested:
        out.warn("nested change sets are not included: nested stacks show as one row each")
    for stack in review.stacks:
        _show_stack(stack, out)
    if review.diff is not None:
        _show_diff(review.diff, out)
    _show_warnings(review, out)
    out.line(f"Summary: {summary_text(review.counts())} across {len(review.stacks)} stack(s)", "bold")
    if review.adopted is not None:
        adoption.show(review.adopted, out)


def _show_stack(stack: StackReview, out: Out) -> None:
    title = f"{stack.label} ({stack.stack_name}): {summary_text(_count(stack.rows))}"
    if not stack.rows:
        out.line(f"{title}\n  no resource changes")
        return
    rows = []
    for r in stack.rows:
        rows.append([f"{SYMBOL.get(r.action, r.action)} {r.action}", r.logical_id, r.type,
                     REPLACEMENT.get(r.replacement, ""),
                     "\n".join(_property_line(pc) for pc in r.properties) if out.rich else ""])
    if out.rich:
        out.table(title, ["Action", "Resource", "Type", "Replacement", "Changes"], rows)
        return
    out.line(title)
    for r in stack.rows:
        flag = f"  {REPLACEMENT[r.replacement]}" if r.replacement in REPLACEMENT else ""
        out.line(f"  {SYMBOL.get(r.action, '?')} {r.logical_id}  {r.type}  {r.action}{flag}".rstrip())
        for pc in r.properties:
            out.line(f"      {_property_line(pc)}")


def _property_line(pc: PropertyChange) -> str:
    parts = [pc.path]
    if pc.before is not None or pc.after is not None:
        parts.append(f": {_short(pc.before)} -> {_short(pc.after)}")
    if pc.recreation in ("Always", "Conditionally"):
        parts.append(f"  [recreation: {pc.recreation}]")
    if pc.causes:
        parts.append(f"  ({'; '.join(pc.causes)})")
    return "".join(parts)


def _short(value: str | None) -> str:
    """One line of at most VALUE_WIDTH characters, control characters removed."""
    if value is None:
        return "(none)"
    value = clean(value)
    return value if len(value) <= VALUE_WIDTH else value[: VALUE_WIDTH - 3] + "..."


def _show_warnings(review: Review, out: Out) -> None:
    for finding in review.data_loss:
        out.warn(f"DATA LOSS: {finding}")
    if review.data_loss:
        out.line(f"  {REFUSES}", "bold red")
    for finding in review.single_writer:
        out.warn(f"SINGLE WRITER: {finding}")
    if review.single_writer:
        out.line("  apply refuses this change set: two tasks would write the same EFS data", "bold red")
    if review.diff is not None and review.diff.widens:
        out.warn(f"access widens: {_widening_summary(review.diff)} (marked WIDENS above)")
    if review.security:
        out.line("security-relevant changes (IAM, security groups, resource policies):", "bold yellow")
        for label, r in review.security:
            out.line(f"  {label}/{r.logical_id}  {r.type}  {r.action}")


def _widening_summary(diff: TemplateDiff) -> str:
    parts = []
    if diff.widening_iam:
        parts.append(f"{len(diff.widening_iam)} IAM change(s)")
    if diff.widening_network:
        internet = sum(1 for c in diff.widening_network if c.internet)
        parts.append(f"{len(diff.widening_network)} security group rule(s)" + (f", {internet} open to the internet"
                                                                              if internet else ""))
    return " and ".join(parts)


def _compared(diff: TemplateDiff) -> str:
    return "nothing deployed -> planned templates" if diff.created else "deployed -> planned templates"


def _show_diff(diff: TemplateDiff, out: Out) -> None:
    """IAM, then security groups, then cost; widening lines in yellow."""
    widening = len(diff.widening_iam)
    out.line(f"IAM ({_compared(diff)}): " + (f"{len(diff.iam)} change(s), {widening} widen(s) access" if diff.iam
                                            else "no change"), "bold yellow" if widening else "bold")
    for c in diff.iam:
        out.line(f"  {c}", "yellow" if c.widens else "green" if c.narrows else "")
        for sign, fields in (("+", c.added), ("-", c.removed)):
            for name, items in fields:
                out.line(f"      {sign} {element_text(name, items)}")
    widening = len(diff.widening_network)
    out.line(f"security groups ({_compared(diff)}): " + (
        f"{len(diff.network)} rule change(s), {widening} widen(s) access" if diff.network else "no change"),
        "bold yellow" if widening else "bold")
    for rule in diff.network:
        out.line(f"  {rule}", ("bold yellow" if rule.internet else "yellow") if rule.widens
                 else "green" if rule.narrows else "")
    if diff.cost is None:
        out.line(f"cost: {diff.cost_error}", "bold")
        return
    lines = str(diff.cost).rstrip("\n").splitlines()
    out.line(f"cost (monthly estimate, {_compared(diff)}): {lines[0]}", "bold")
    for line in lines[1:]:
        out.line(line)


def finding_json(f: Finding) -> dict:
    return {"stack": f.stack, "logicalId": f.logical_id, "type": f.type, "why": f.why}


def as_json(review: Review) -> dict:
    """For CI: the change set ARN to apply, every change, the guard's findings. Keys sorted by the writer; every key
    camelCase; every list present, empty when there is nothing (``imported``: what ``plan --adopt`` imports). What
    the workflow and ``apply --review`` read (``noChanges``, ``changeSetArn``, ``drift``) keeps its name."""
    return {
        "schemaVersion": SCHEMA_VERSION,
        "stackName": review.stack_name,
        "changeSetArn": review.change_set_arn or None,
        "changeSetName": review.change_set_name or None,
        "changeSetType": review.change_set_type,
        "includeNestedStacks": review.include_nested,
        "noChanges": review.no_changes,
        "reviewOnly": review.review_only,
        "actsAs": None if review.acts_as is None else {
            "roleArn": review.acts_as.role_arn, "source": review.acts_as.source, "certain": review.acts_as.certain},
        "parameters": review.parameters,
        "deployedParameters": review.deployed_parameters,
        "parameterChanges": [{"key": p.key, "before": p.before, "after": p.after}
                             for p in parameter_changes(review) if p.changed and review.change_set_type != "CREATE"],
        "summary": review.counts(),
        "preflight": preflight.as_json(review.preflight),
        "dataLoss": [finding_json(f) for f in review.data_loss],
        "singleWriter": [finding_json(f) for f in review.single_writer],
        "imported": adoption.as_json(review.adopted or []),
        **_json_diff(review.diff),
        "drift": review.drift.as_json() if review.drift is not None else None,
        "security": [{"stack": label, "logicalId": r.logical_id, "type": r.type, "action": r.action}
                     for label, r in review.security],
        "stacks": [{
            "path": s.label, "stackName": s.stack_name, "changeSetId": s.change_set_id,
            "changes": [{
                "logicalId": r.logical_id, "type": r.type, "action": r.action, "replacement": r.replacement or None,
                "physicalId": r.physical_id or None, "nestedChangeSetId": r.nested_change_set or None,
                "properties": [{"path": pc.path, "before": pc.before, "after": pc.after,
                                "recreation": pc.recreation or None, "causes": list(pc.causes)} for pc in r.properties],
            } for r in s.rows],
        } for s in review.stacks],
    }


def _json_diff(diff: TemplateDiff | None) -> dict:
    if diff is None:  # not compared (a change set reviewed again alone): empty lists, templatesCompared says why
        return {"templatesCompared": False, "stackExists": None, "widens": None, "iam": [], "network": [], "cost": None,
                "costError": None}
    cost = None
    if diff.cost is not None:
        cost = {"before": round(diff.cost.before_total, 2), "after": round(diff.cost.after_total, 2),
                "delta": round(diff.cost.diff, 2), "changes": [{
                    "service": c.key[0], "item": c.key[1], "delta": round(c.diff, 2),
                    "before": round(c.before.monthly, 2) if c.before else None,
                    "after": round(c.after.monthly, 2) if c.after else None,
                    "beforeBasis": c.before.basis if c.before else None,
                    "afterBasis": c.after.basis if c.after else None,
                    "text": str(c)} for c in diff.cost.changes]}
    return {
        "templatesCompared": True, "stackExists": not diff.created, "widens": diff.widens,
        "iam": [{"stack": c.stack, "resource": c.resource, "type": c.type, "policy": c.policy,
                 "statement": c.statement or None, "change": c.change, "effect": c.effect or None,
                 "added": {k: list(v) for k, v in c.added}, "removed": {k: list(v) for k, v in c.removed},
                 "widens": c.widens, "why": list(c.why), "narrows": c.narrows, "narrowing": list(c.narrowing),
                 "verdict": c.verdict} for c in diff.iam],
        "network": [{"stack": c.stack, "group": c.group, "direction": c.direction, "protocol": c.protocol,
                     "ports": c.ports, "peer": c.peer, "change": c.change, "definedBy": c.defined_by,
                     "description": c.description or None, "widens": c.widens, "internet": c.internet,
                     "narrows": c.narrows, "note": c.note or None, "verdict": c.verdict}
                    for c in diff.network],
        "cost": cost, "costError": diff.cost_error or None,
    }


def json_text(review: Review) -> str:
    return json.dumps(as_json(review), indent=2, sort_keys=True) + "\n"


def markdown(review: Review) -> str:
    """For a pull request comment or a job summary: a table per stack, values folded in details; every value inert."""
    head = f"### Plan for {md_code(review.stack_name)}"
    drift = review.drift.markdown_section() if review.drift is not None else []
    checks = preflight.markdown(review.preflight, md_text)
    if review.no_changes:
        return "\n".join([head, "", *checks, *drift, "No changes."]) + "\n"
    lines = [head, "", *drift, f"{md_text(review.change_set_type)} change set {md_code(review.change_set_name)}: "
                       f"**{summary_text(review.counts())}** across {len(review.stacks)} stack(s).", ""]
    if review.review_only:
        lines += ["> [!NOTE]", f"> {REVIEW_ONLY}", ""]
    if review.acts_as is not None:
        lines += _md_acts_as(review.acts_as)
    params = parameter_changes(review)
    if params:
        lines += ["| Parameter | Deployed | Planned | |", "|---|---|---|---|"]
        lines += [f"| {md_code(p.key)} | {md_value(p.before) if review.change_set_type != 'CREATE' else ''} | "
                  f"{md_value(p.after)} | {'**changed**' if p.changed else ''} |" for p in params] + [""]
    if not review.include_nested:
        lines += ["> [!NOTE]", "> Nested change sets are not included: each nested stack shows as one row.", ""]
    if review.data_loss:
        lines += ["> [!CAUTION]", f"> **Data loss**: {REFUSES}"]
        lines += [f"> - {md_code(f'{f.stack}/{f.logical_id}')} ({md_text(f.type)}): {md_text(f.why)}"
                  for f in review.data_loss] + [""]
    if review.single_writer:
        lines += ["> [!CAUTION]", "> **Single writer**: `apply` refuses this change set (two tasks would write the "
                                  "same EFS data); scale `DesiredCount` to 0 in the same apply to do it deliberately."]
        lines += [f"> - {md_code(f'{f.stack}/{f.logical_id}')} ({md_text(f.type)}): {md_text(f.why)}"
                  for f in review.single_writer] + [""]
    if review.diff is not None and review.diff.widens:
        lines += _md_widening(review.diff)
    if review.security:
        lines += ["> [!IMPORTANT]", "> Security-relevant changes:"]
        lines += [f"> - {md_code(f'{label}/{r.logical_id}')} {md_text(r.type)}: {md_text(r.action)}"
                  for label, r in review.security] + [""]
    lines += checks
    if review.diff is not None:
        lines += _md_diff(review.diff)
    for s in review.stacks:
        lines += _md_stack(s)
    return "\n".join(lines).rstrip() + "\n" + adoption.markdown(review.adopted or [])


def _md_acts_as(who: ActsAs) -> list[str]:
    """One line; a ``> [!IMPORTANT]`` block when CloudFormation acts as a role nobody gave to this plan."""
    shown = md_code(who.role_arn) + " (" + md_text(who.why) + ")" if who.role_arn else md_text(who.why)
    line = f"**Acts as**: {shown}."
    return (["> [!IMPORTANT]", f"> {line}"] if who.source == STACK else [line]) + [""]


def _md_widening(diff: TemplateDiff) -> list[str]:
    lines = ["> [!WARNING]", f"> **Access widens** ({_compared(diff)}): {_widening_summary(diff)}."]
    shown = [f"> - {md_code(c.where)} {md_text(c.policy)}{(' ' + md_code(c.statement)) if c.statement else ''}: "
             f"{md_text('; '.join(c.why))}" for c in diff.widening_iam]
    shown += [f"> - {md_code(c.where)} {md_text(c.rule)}" + (" **(internet)**" if c.internet else "")
              for c in diff.widening_network]
    if len(shown) > FOLD_ROWS:
        shown = shown[:FOLD_ROWS] + [f"> - ... and {len(shown) - FOLD_ROWS} more (tables below)"]
    return lines + shown + [""]


def _md_items(fields) -> str:
    """Each element with the logic IAM applies: ``Action (any of): a, b``, ``Condition (all of): X AND Y``."""
    return "<br>".join(md_code(element_text(name, items)) for name, items in fields)


def _md_verdict(c) -> str:
    if c.widens:
        return "**yes**" + (f": {md_text('; '.join(c.why))}" if getattr(c, "why", ()) else "")
    if c.narrows:
        return "no (narrows" + (f": {md_text('; '.join(c.narrowing))}" if getattr(c, "narrowing", ()) else "") + ")"
    return "no"


def _md_diff(diff: TemplateDiff) -> list[str]:
    """IAM, security groups and cost, each a section; long tables folded."""
    lines = [f"#### IAM ({_compared(diff)})", ""]
    if diff.iam:
        table = ["| | Resource | Policy | Statement | Added | Removed | Widens |", "|---|---|---|---|---|---|---|"]
        table += [f"| {c.symbol} | {md_code(c.where)} {md_text(c.type)} | {md_text(c.policy)} | "
                  f"{md_text(c.statement)}{f' ({md_text(c.effect)})' if c.effect else ''} | {_md_items(c.added)} | "
                  f"{_md_items(c.removed)} | {_md_verdict(c)} |" for c in diff.iam]
        lines += _md_fold(f"{len(diff.iam)} IAM changes, {len(diff.widening_iam)} widen access", table)
    else:
        lines += ["No IAM change.", ""]
    lines += [f"#### Security groups ({_compared(diff)})", ""]
    if diff.network:
        table = ["| | Group | Rule | Defined by | Widens |", "|---|---|---|---|---|"]
        table += [f"| {c.symbol} | {md_code(c.where)} | {md_text(c.rule)}"
                  f"{(' (' + md_text(c.note) + ')') if c.note else ''} | {md_code(c.defined_by)} | "
                  f"{('**yes**' + (', **internet**' if c.internet else '')) if c.widens else _md_verdict(c)} |"
                  for c in diff.network]
        lines += _md_fold(f"{len(diff.network)} rule changes, {len(diff.widening_network)} widen access", table)
    else:
        lines += ["No security group rule change.", ""]
    lines += ["#### Cost (monthly estimate)", ""]
    if diff.cost is None:
        lines += [md_text(diff.cost_error), ""]
    elif not diff.cost.changes:
        lines += [f"No change in the estimated cost ({diff.cost.after_total:,.2f} USD/month).", ""]
    else:
        c = diff.cost
        counts = "as planned" if diff.created else "as deployed and as planned"
        lines += [f"**{c.diff:+,.2f} USD/month** ({c.before_total:,.2f} -> {c.after_total:,.2f}), estimated by "
                  f"`checks/cost.py` from the templates, with `DesiredCount` {counts}.", ""]
        table = ["| Change | Line | Before | After |", "|---|---|---|---|"]
        table += [f"| {ch.diff:+,.2f} | {md_text(' '.join(ch.key))} | "
                  f"{md_text(ch.before.basis) if ch.before else ''} | "
                  f"{md_text(ch.after.basis) if ch.after else ''} |" for ch in c.changes]
        lines += _md_fold(f"{len(c.changes)} changed cost lines", table)
    return lines


def _md_stack(s: StackReview) -> list[str]:
    lines = [f"#### {md_text(s.label)} ({md_code(s.stack_name)}): {summary_text(_count(s.rows))}", ""]
    if not s.rows:
        return lines + ["No resource changes.", ""]
    lines += ["| Action | Resource | Type | Replacement | Changed |", "|---|---|---|---|---|"]
    for r in s.rows:
        changed = "<br>".join(md_code(pc.path) for pc in r.properties)
        lines.append(f"| {SYMBOL.get(r.action, '')} {md_text(r.action)} | {md_code(r.logical_id)} | "
                     f"{md_text(r.type)} | "
                     f"{REPLACEMENT.get(r.replacement, '')} | {changed} |")
    values = [(r, pc) for r in s.rows for pc in r.properties if pc.before is not None or pc.after is not None]
    if values:
        lines += ["", "<details><summary>Before and after</summary>", "",
                  "| Resource | Property | Before | After | Recreation | Cause |", "|---|---|---|---|---|---|"]
        lines += [f"| {md_code(r.logical_id)} | {md_code(pc.path)} | {md_value(pc.before)} | {md_value(pc.after)} | "
                  f"{md_text(pc.recreation)} | {md_text('; '.join(pc.causes))} |" for r, pc in values]
        lines += ["", "</details>"]
    return lines + [""]


def md_value(value: str | None) -> str:
    """A value as code, shortened to one line of VALUE_WIDTH characters; nothing for None."""
    return markdown_values.value(value, _short)
