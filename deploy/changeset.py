"""Change sets: traceable names, creation (nested first), waiting, recursive description, clean-up.

CloudFormation rules this module encodes:

* Change set names match ``[a-zA-Z][-a-zA-Z0-9]*`` and are at most 128 characters.
* ``IncludeNestedStacks=True`` makes one change set per nested stack; DescribeChangeSet returns the ChangeSetId of a
  nested change set in ``ResourceChange.ChangeSetId`` of the nested stack's row.
* ExecuteChangeSet on the root executes the nested change sets; nested change sets cannot be executed or deleted
  on their own.
* A change set with nothing to do ends ``FAILED`` with a reason saying so: that is "no changes", not an error.
* A nested change set that cannot be created fails the root with "Nested change set <arn> was not successfully
  created"; the real reason is on the nested change set.
* Executing a change set makes CloudFormation delete the stack's other change sets; the ones that failed or had no
  changes before that stay, which is what :func:`clean_up` removes.
* Imports reach nested stacks only through the root's change set with its nested change sets: CloudFormation User
  Guide, "Import AWS resources into a CloudFormation stack automatically": "For nested stacks, create the change set
  from the root stack". So when nesting fails, a plan that imports (``ImportExistingResources``, ``plan --adopt``) is
  refused (:class:`NestingRefused`) instead of retried flat: a flat change set would still carry the import flag but
  update the nested stacks as opaque rows, and their creates would fail with "already exists" half way. A plan that
  imports nothing keeps the flat retry (the review then shows each nested stack as one row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from .aws import Aws, aws_errors, error_code, error_message
from .errors import BadInput, DeployError, aws_cli, suggest
from .stacks import STACK_TYPE
from .ui import Out, Poller

NAME_PATTERN = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
NESTED_FAILED = re.compile(r"Nested change set (arn:\S+?)(?:\s|$)")
DONE = {"CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED"}


def change_set_name(prefix: str, tag: str, now: datetime) -> str:
    """``<prefix><UTC yyyymmddHHMMSS>-<sanitised tag>``: unique per second, says when and what, sorts by time.

    The time comes first so that what follows ``<stack>-`` is always a digit: no image tag can make a name begin with
    ``<stack>-pr-``, the pull request's prefix (``templates/ci.py`` denies the deploy role ``ExecuteChangeSet`` on
    those, and ``apply`` refuses them)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    clean = re.sub(r"[^a-zA-Z0-9-]+", "-", tag).strip("-")
    room = 128 - len(prefix) - len(stamp) - 1
    name = f"{prefix}{stamp}-{clean[:room].rstrip('-')}" if clean else f"{prefix}{stamp}"
    assert NAME_PATTERN.fullmatch(name) and len(name) <= 128, name
    return name


def review_only(stack_name: str, name_or_arn: str, pull_request_prefix: str) -> bool:
    """A pull request's change set (``<stack>-pr-...``), given by name or by ARN
    (``arn:<partition>:cloudformation:<region>:<account>:changeSet/<name>/<id>``): for review only, never executed.
    Case does not matter here, so a look-alike is refused too."""
    name = name_or_arn.split(":changeSet/", 1)[1].split("/", 1)[0] if ":changeSet/" in name_or_arn else name_or_arn
    return name.lower().startswith(f"{stack_name}-{pull_request_prefix}-".lower())


@dataclass(frozen=True)
class Request:
    """Everything CreateChangeSet needs; ``nested`` is dropped to False when AWS cannot nest."""

    stack_name: str
    name: str
    type: str
    parameters: list[dict]
    capabilities: tuple[str, ...]
    tags: dict[str, str]
    template_url: str = ""
    template_body: str = ""
    role_arn: str | None = None
    description: str = ""
    nested: bool = True
    import_existing: bool = False  # ImportExistingResources: plan --adopt (deploy/adopt.py)


@dataclass
class Node:
    """One described change set and, below it, the nested ones by the nested stack's logical id."""

    path: tuple[str, ...]
    arn: str
    name: str
    stack_id: str
    stack_name: str
    status: str
    execution_status: str
    reason: str
    parameters: dict[str, str]
    changes: list[dict]
    include_nested: bool
    children: dict[str, Node] = field(default_factory=dict)

    def walk(self):
        yield self
        for logical in sorted(self.children):
            yield from self.children[logical].walk()

    @property
    def no_changes(self) -> bool:
        return self.status == "FAILED" and any(m in self.reason for m in NO_CHANGES)


def create(aws: Aws, req: Request) -> str:
    """Start creating the change set; its ARN."""
    kwargs = dict(
        StackName=req.stack_name, ChangeSetName=req.name, ChangeSetType=req.type,
        **({"TemplateURL": req.template_url} if req.template_url else {"TemplateBody": req.template_body}),
        Parameters=req.parameters, Capabilities=list(req.capabilities), IncludeNestedStacks=req.nested,
        Tags=[{"Key": k, "Value": v} for k, v in sorted(req.tags.items())],
    )
    if req.description:  # the API refuses an empty one
        kwargs["Description"] = req.description[:1024]
    if req.role_arn:
        kwargs["RoleARN"] = req.role_arn
    if req.import_existing:
        kwargs["ImportExistingResources"] = True
    with aws_errors():
        return aws.cfn.create_change_set(**kwargs)["Id"]


def wait(aws: Aws, arn: str, poller: Poller) -> dict:
    """Poll with backoff until the change set is created or has failed; the first page of its description."""
    for delay in poller.intervals():
        desc = _describe_page(aws, arn)
        if desc["Status"] in DONE:
            return desc
        poller.wait(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def create_and_wait(aws: Aws, req: Request, out: Out, poller: Poller) -> tuple[str, Request, dict]:
    """Create with nested change sets; when AWS cannot nest, say so and create it again without them."""
    try:
        arn = create(aws, req)
    except ClientError as e:
        if not (req.nested and _nesting_refused(e)):
            raise
        return _without_nesting(aws, req, error_message(e), None, out, poller)
    desc = wait(aws, arn, poller)
    if req.nested and desc["Status"] == "FAILED" and not no_changes(desc):
        nested_reason = _nested_failure(aws, desc)
        if nested_reason is not None:
            return _without_nesting(aws, req, nested_reason, arn, out, poller)
    return arn, req, desc


class NestingRefused(DeployError):
    """Nested change sets failed for a plan that imports: never retried without them (module docstring)."""


def _without_nesting(aws: Aws, req: Request, why: str, failed_arn: str | None, out: Out,
                     poller: Poller) -> tuple[str, Request, dict]:
    if failed_arn:
        delete(aws, failed_arn)  # frees the name
    if req.import_existing:
        env = req.tags.get("env", "")
        raise NestingRefused(
            f"CloudFormation could not create nested change sets for {req.stack_name} ({why}), and plan --adopt never "
            "retries without them: AWS imports into nested stacks only through the root stack's change set with its "
            "nested change sets (CloudFormation User Guide, \"Import AWS resources into a CloudFormation stack "
            "automatically\"); a flat change set would fail with \"already exists\" half way",
            f"fix the cause above (a nested stack's reason is its template or parameters), then run "
            f"{suggest('plan', env, '--adopt')} again; nothing was created")
    out.warn(f"CloudFormation could not create nested change sets ({why}); retrying without them: the review shows "
             "each nested stack as one row, not the resources inside it")
    flat = replace(req, nested=False)
    arn = create(aws, flat)
    return arn, flat, wait(aws, arn, poller)


def _nesting_refused(e: ClientError) -> bool:
    """CreateChangeSet refused IncludeNestedStacks itself (e.g. combined with a feature nested sets lack)."""
    return error_code(e) == "ValidationError" and "nested" in error_message(e).lower()


def _nested_failure(aws: Aws, desc: dict) -> str | None:
    """The nested change set's own reason when the root failed only because a nested one did, else None."""
    match = NESTED_FAILED.search(desc.get("StatusReason", ""))
    if not match:
        return None
    try:
        nested = _describe_page(aws, match.group(1))
    except ClientError:
        return desc.get("StatusReason", "")
    return f"{nested.get('StackName', '?')}: {nested.get('StatusReason') or desc.get('StatusReason', '')}"


def no_changes(desc: dict) -> bool:
    """A change set that failed only because there was nothing to change."""
    return desc["Status"] == "FAILED" and any(m in desc.get("StatusReason", "") for m in NO_CHANGES)


def _describe_page(aws: Aws, arn: str, token: str | None = None) -> dict:
    kwargs = {"ChangeSetName": arn, "IncludePropertyValues": True}
    if token:
        kwargs["NextToken"] = token
    with aws_errors():
        return aws.cfn.describe_change_set(**kwargs)


def describe_all(aws: Aws, arn: str) -> dict:
    """One change set with every page of its Changes."""
    desc = _describe_page(aws, arn)
    changes = list(desc.get("Changes", []))
    token = desc.get("NextToken")
    while token:
        page = _describe_page(aws, arn, token)
        changes += page.get("Changes", [])
        token = page.get("NextToken")
    return {**desc, "Changes": changes}


def describe_tree(aws: Aws, arn: str, path: tuple[str, ...] = ()) -> Node:
    """The change set and every nested change set below it, recursively."""
    desc = describe_all(aws, arn)
    node = Node(
        path=path, arn=desc["ChangeSetId"], name=desc["ChangeSetName"], stack_id=desc["StackId"],
        stack_name=desc["StackName"], status=desc["Status"], execution_status=desc.get("ExecutionStatus", ""),
        reason=desc.get("StatusReason", ""), include_nested=bool(desc.get("IncludeNestedStacks")),
        parameters={x["ParameterKey"]: x.get("ParameterValue", "") for x in desc.get("Parameters", []) or []},
        changes=[c["ResourceChange"] for c in desc["Changes"] if c.get("Type", "Resource") == "Resource"],
    )
    for rc in node.changes:
        # DescribeChangeSet returns the ChangeSetId of a nested change set in ResourceChange.ChangeSetId.
        if rc.get("ResourceType") == STACK_TYPE and rc.get("ChangeSetId"):
            node.children[rc["LogicalResourceId"]] = describe_tree(aws, rc["ChangeSetId"],
                                                                   path + (rc["LogicalResourceId"],))
    return node


def find(aws: Aws, stack_name: str, name_or_arn: str, env: str) -> dict:
    """A change set given by the user: by ARN, or by name within the environment's stack."""
    try:
        with aws_errors():
            return aws.cfn.describe_change_set(ChangeSetName=name_or_arn, StackName=stack_name)
    except ClientError as e:
        if error_code(e) in {"ChangeSetNotFound", "ChangeSetNotFoundException", "ValidationError"}:
            raise BadInput(f"no change set {name_or_arn!r} for stack {stack_name} ({error_message(e)})",
                           "list them: " + aws_cli(aws.region, "cloudformation", "list-change-sets", "--stack-name",
                                                    stack_name)
                           + f"; or plan a new one: {suggest('plan', env)}") from None
        raise


def delete(aws: Aws, arn: str) -> None:
    with aws_errors():
        aws.cfn.delete_change_set(ChangeSetName=arn)


def clean_up(aws: Aws, stack_name: str, prefix: str, keep: str = "") -> list[str]:
    """Delete our unexecuted change sets of this stack (name starts with ``prefix``); their names."""
    deleted = []
    with aws_errors():
        pages = aws.cfn.get_paginator("list_change_sets").paginate(StackName=stack_name)
        summaries = [s for page in pages for s in page.get("Summaries", [])]
    for s in sorted(summaries, key=lambda s: s["ChangeSetName"]):
        ours = s.get("StackName") == stack_name and s["ChangeSetName"].startswith(prefix)
        pending = not s.get("ExecutionStatus", "").startswith("EXECUTE_")
        if ours and pending and s["ChangeSetId"] != keep and not s.get("ParentChangeSetId"):
            try:
                delete(aws, s["ChangeSetId"])
                deleted.append(s["ChangeSetName"])
            except ClientError as e:  # one that vanished meanwhile is fine; clean-up never fails a deploy
                if error_code(e) not in {"ChangeSetNotFound", "ValidationError", "InvalidChangeSetStatus"}:
                    raise DeployError(f"could not delete change set {s['ChangeSetName']}: {error_message(e)}") from None
    return deleted
