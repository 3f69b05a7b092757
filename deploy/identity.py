"""The identity stack on AWS: what ``bootstrap`` deploys, and what ``plan`` checks before it touches the app stacks.

``templates/identity.py`` holds every IAM resource of an environment in ``<root>-identity``, a top-level stack that
is never given a service role: CloudFormation keeps using the role a stack was last deployed with ("CloudFormation
uses this role for all future operations on the stack", API Reference, CreateChangeSet ``RoleARN``), so a stack CI
has deployed once runs every later change set as CI's execution role, which may not write IAM. ``bootstrap``
therefore creates the identity stack's change sets without ``RoleARN``, as the operator who runs it, and refuses a
stack that already has a service role (it would silently be used).

``plan`` (preflight) reads the deployed identity template and compares it with the one built from the params: the app
stacks name the identity roles by fixed ARNs, so an app deploy against a missing or older identity stack would fail
half way (a task definition naming a role that does not exist, or a role without a permission the new templates
rely on). Missing or different is a BLOCK with the command that fixes it (``bootstrap``); for a pull request's plan
it is a WARN (the change is what the pull request proposes: an operator deploys it after the merge).
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

import templates
from templates import identity as identity_template
from templates._yaml import dump as dump_yaml
from templates.names import identity_stack_name

from .aws import Aws, aws_errors, error_code, error_message
from .diff import parse

# the roles have fixed names (templates/iam.py, templates/ci.py, templates/execution_role.py)
CAPABILITIES = ("CAPABILITY_NAMED_IAM",)


@dataclass(frozen=True)
class Built:
    """The identity template of the params: as a dict and as the YAML that is uploaded."""

    name: str
    template: dict
    body: str


def built(p) -> Built:
    """Only the identity template (it needs nothing from the app's templates), not every environment template. A run
    that builds every template reads the identity stack from that one build instead (deploy/built.py)."""
    return from_template(p, identity_template.build(p).to_dict())


def from_template(p, template: dict) -> Built:
    """The identity stack of ``p`` from its built template."""
    return Built(identity_stack_name(p), template, dump_yaml(template))


def beside(p) -> dict[str, str]:
    """What drift checks beside the root's hierarchy (``drift.detect(also=...)``): the identity stack."""
    return {templates.IDENTITY: identity_stack_name(p)}


@dataclass(frozen=True)
class Deployed:
    """The deployed identity stack: None fields when it does not exist."""

    status: str | None = None
    role_arn: str | None = None  # a service role associated with the stack (we never give it one)
    template: dict | None = None


def deployed(aws: Aws, name: str, with_template: bool = True) -> Deployed:
    """DescribeStacks, then GetTemplate (``Original``) when the stack exists and ``with_template``."""
    with aws_errors():
        try:
            stacks = aws.cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as e:
            if error_code(e) == "ValidationError" and "does not exist" in error_message(e):
                return Deployed()
            raise
        s = stacks[0]
        if s["StackStatus"] == "DELETE_COMPLETE":
            return Deployed()
        template = None
        if with_template and s["StackStatus"] != "REVIEW_IN_PROGRESS":
            template = parse(aws.cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"])
    return Deployed(s["StackStatus"], s.get("RoleARN"), template)


def same(deployed_template: dict | None, built_: Built) -> bool:
    """Equal as templates (both read back through the same YAML loader, so formatting and key order do not count)."""
    return deployed_template is not None and deployed_template == parse(built_.body)


def differences(deployed_template: dict | None, built_: Built) -> list[str]:
    """The logical ids (and ``Outputs``) that differ, for a message a person can act on."""
    if deployed_template is None:
        return []
    want = parse(built_.body)
    old, new = deployed_template.get("Resources", {}), want.get("Resources", {})
    changed = sorted(rid for rid in set(old) | set(new) if old.get(rid) != new.get(rid))
    if deployed_template.get("Outputs") != want.get("Outputs"):
        changed.append("Outputs")
    return changed


COMPLETE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
            "IMPORT_ROLLBACK_COMPLETE"}
