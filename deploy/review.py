"""The review of a change set hierarchy: one model, four renderings, and the data-loss guard.

The model is built once from the described change sets (:class:`deploy.changeset.Node`) and is plain data, so the
terminal view, the rich view, the JSON for CI and the Markdown for a pull request comment always agree.

Replacement comes from ``ResourceChange.Replacement``: ``True`` (will be replaced), ``Conditional`` (may be,
depending on a value known only while executing) or ``False``. Per property, ``Details[].Target.RequiresRecreation``
says ``Always``, ``Conditionally`` or ``Never``; with ``IncludePropertyValues`` the details also carry
``BeforeValue`` / ``AfterValue``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from templates.stateful import STATEFUL

from .changeset import Node
from .stacks import STACK_TYPE
from .ui import Out

SYMBOL = {"Add": "+", "Modify": "~", "Remove": "-", "Import": "<", "Dynamic": "?"}
REPLACEMENT = {"True": "REPLACE", "Conditional": "may replace"}
RECREATION_ORDER = {"": 0, "Never": 1, "Conditionally": 2, "Always": 3}
SECURITY_PREFIXES = ("AWS::IAM::", "AWS::EC2::SecurityGroup")
SECURITY_TYPES = {"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::KMS::Key",
                  "AWS::SecretsManager::ResourcePolicy", "AWS::Lambda::Permission"}
VALUE_WIDTH = 80


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


@dataclass
class Review:
    stack_name: str
    change_set_arn: str
    change_set_name: str
    change_set_type: str
    include_nested: bool
    parameters: dict[str, str]
    stacks: list[StackReview]
    no_changes: bool = False

    @property
    def data_loss(self) -> list[Finding]:
        return data_loss(self)

    @property
    def security(self) -> list[tuple[str, Row]]:
        return [(s.label, r) for s in self.stacks for r in s.rows if r.security]

    def counts(self) -> dict[str, int]:
        rows = [r for s in self.stacks for r in s.rows if not _is_nested_row(r)]
        return _count(rows)


# --- building -----------------------------------------------------------------------------------------------------


def build(tree: Node, change_set_type: str) -> Review:
    stacks = [StackReview(n.path, n.stack_name, n.arn, sorted((_row(rc) for rc in n.changes), key=lambda r: r.logical_id))
              for n in tree.walk()]
    return Review(tree.stack_name, tree.arn, tree.name, change_set_type, tree.include_nested, dict(sorted(tree.parameters.items())),
                  stacks, no_changes=tree.no_changes)


def empty(stack_name: str, change_set_type: str, parameters: dict[str, str]) -> Review:
    """The review of a plan that found nothing to change (for the JSON and Markdown files)."""
    return Review(stack_name, "", "", change_set_type, True, dict(sorted(parameters.items())), [], no_changes=True)


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
            "ResourceAttribute": f"{entity}", "DirectModification": "template", "Automatic": "nested stack"}.get(source, source)
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

    Also the nested stacks that hold stateful resources when they are removed, or modified without a nested change
    set to look inside (then the guard cannot prove the data survives).
    """
    found = []
    for stack in review.stacks:
        owner = stack.path[-1] if stack.path else None
        for row in stack.rows:
            why = _loss(row, owner)
            if why:
                found.append(Finding(stack.label, row.logical_id, row.type, why))
    return found


def _loss(row: Row, owner: str | None) -> str:
    if owner is not None and row.logical_id in STATEFUL.get(owner, ()):
        if row.action == "Remove":
            return "removed (retained by its DeletionPolicy, but orphaned: the app would start on empty storage)"
        if row.replacement == "True":
            return "replaced: a new, empty resource takes its place"
        if row.replacement == "Conditional":
            return "may be replaced: a new, empty resource may take its place"
    if row.type == STACK_TYPE and row.logical_id in STATEFUL:
        if row.action == "Remove":
            return f"nested stack removed with its stateful resources ({', '.join(STATEFUL[row.logical_id])})"
        if row.action == "Modify" and not row.nested_change_set:
            return "changes, but without a nested change set the guard cannot see whether its stateful resources survive"
    return ""


# --- renderings ---------------------------------------------------------------------------------------------------


def show(review: Review, out: Out) -> None:
    """The terminal review: per stack its rows and changed properties, then the summary and warnings."""
    out.heading(f"Plan for {review.stack_name} ({review.change_set_type}): change set {review.change_set_name}")
    if review.parameters:
        out.line("parameters: " + ", ".join(f"{k}={v}" for k, v in review.parameters.items()))
    if not review.include_nested:
        out.warn("nested change sets are not included: nested stacks show as one row each")
    for stack in review.stacks:
        _show_stack(stack, out)
    _show_warnings(review, out)
    out.line(f"Summary: {summary_text(review.counts())} across {len(review.stacks)} stack(s)", "bold")


def _show_stack(stack: StackReview, out: Out) -> None:
    title = f"{stack.label} ({stack.stack_name}): {summary_text(_count(stack.rows))}"
    if not stack.rows:
        out.line(f"{title}\n  no resource changes")
        return
    rows = []
    for r in stack.rows:
        rows.append([f"{SYMBOL.get(r.action, r.action)} {r.action}", r.logical_id, r.type, REPLACEMENT.get(r.replacement, ""),
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
    if value is None:
        return "(none)"
    return value if len(value) <= VALUE_WIDTH else value[: VALUE_WIDTH - 3] + "..."


def _show_warnings(review: Review, out: Out) -> None:
    for finding in review.data_loss:
        out.warn(f"DATA LOSS: {finding}")
    if review.data_loss:
        out.line("  apply refuses this change set unless given --allow-data-loss", "bold red")
    if review.security:
        out.line("security-relevant changes (IAM, security groups, resource policies):", "bold yellow")
        for label, r in review.security:
            out.line(f"  {label}/{r.logical_id}  {r.type}  {r.action}")


def as_json(review: Review) -> dict:
    """For CI: the change set ARN to apply, every change, the guard's findings. Keys sorted by the writer."""
    return {
        "stackName": review.stack_name,
        "changeSetArn": review.change_set_arn or None,
        "changeSetName": review.change_set_name or None,
        "changeSetType": review.change_set_type,
        "includeNestedStacks": review.include_nested,
        "noChanges": review.no_changes,
        "parameters": review.parameters,
        "summary": review.counts(),
        "dataLoss": [vars(f) for f in review.data_loss],
        "security": [{"stack": label, "logicalId": r.logical_id, "type": r.type, "action": r.action} for label, r in review.security],
        "stacks": [{
            "path": s.label, "stackName": s.stack_name, "changeSetId": s.change_set_id,
            "changes": [{
                "logicalId": r.logical_id, "type": r.type, "action": r.action, "replacement": r.replacement or None,
                "physicalId": r.physical_id or None, "nestedChangeSetId": r.nested_change_set or None,
                "properties": [vars(pc) for pc in r.properties],
            } for r in s.rows],
        } for s in review.stacks],
    }


def json_text(review: Review) -> str:
    return json.dumps(as_json(review), indent=2, sort_keys=True) + "\n"


def markdown(review: Review) -> str:
    """For a pull request comment or a job summary: a table per stack, values folded in details."""
    head = f"### Plan for `{review.stack_name}`"
    if review.no_changes:
        return f"{head}\n\nNo changes.\n"
    lines = [head, "", f"{review.change_set_type} change set `{review.change_set_name}`: "
                       f"**{summary_text(review.counts())}** across {len(review.stacks)} stack(s).", ""]
    if review.parameters:
        lines += ["Parameters: " + ", ".join(f"`{k}={v}`" for k, v in review.parameters.items()), ""]
    if not review.include_nested:
        lines += ["> [!NOTE]", "> Nested change sets are not included: each nested stack shows as one row.", ""]
    if review.data_loss:
        lines += ["> [!CAUTION]", "> **Data loss**: `apply` refuses this change set unless given `--allow-data-loss`."]
        lines += [f"> - `{f.stack}/{f.logical_id}` ({f.type}): {f.why}" for f in review.data_loss] + [""]
    if review.security:
        lines += ["> [!IMPORTANT]", "> Security-relevant changes:"]
        lines += [f"> - `{label}/{r.logical_id}` {r.type}: {r.action}" for label, r in review.security] + [""]
    for s in review.stacks:
        lines += _md_stack(s)
    return "\n".join(lines).rstrip() + "\n"


def _md_stack(s: StackReview) -> list[str]:
    lines = [f"#### {s.label} (`{s.stack_name}`): {summary_text(_count(s.rows))}", ""]
    if not s.rows:
        return lines + ["No resource changes.", ""]
    lines += ["| Action | Resource | Type | Replacement | Changed |", "|---|---|---|---|---|"]
    for r in s.rows:
        changed = "<br>".join(f"`{_md(pc.path)}`" for pc in r.properties)
        lines.append(f"| {SYMBOL.get(r.action, '')} {r.action} | `{r.logical_id}` | {r.type} | "
                     f"{REPLACEMENT.get(r.replacement, '')} | {changed} |")
    values = [(r, pc) for r in s.rows for pc in r.properties if pc.before is not None or pc.after is not None]
    if values:
        lines += ["", "<details><summary>Before and after</summary>", "",
                  "| Resource | Property | Before | After | Recreation | Cause |", "|---|---|---|---|---|---|"]
        lines += [f"| `{r.logical_id}` | `{_md(pc.path)}` | {_md_value(pc.before)} | {_md_value(pc.after)} | "
                  f"{pc.recreation} | {_md('; '.join(pc.causes))} |" for r, pc in values]
        lines += ["", "</details>"]
    return lines + [""]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_value(value: str | None) -> str:
    return "" if value is None else f"`{_md(_short(value))}`"
