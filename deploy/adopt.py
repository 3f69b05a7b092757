"""Adopt (``plan --adopt``): import the seed's hand-made resources that our templates create under the same fixed
names, instead of failing on "already exists" halfway through the nested stacks.

AWS rules (CloudFormation User Guide, "Import AWS resources into a CloudFormation stack automatically"):

* ``CreateChangeSet`` with ``ImportExistingResources=True`` imports, during the deployment, the resources of the
  template that already exist; "For nested stacks, create the change set from the root stack" (we do).
* A resource is imported only if it has "a static custom name defined in your template" (no ``Ref``/``Sub``), "a
  DeletionPolicy of Retain or RetainExceptOnCreate", it does "not already belong to another CloudFormation stack",
  and its type supports import. Ours: the cluster ``ClusterName`` and the log group ``LogGroupName`` (both
  literals from params, ``templates/stateful.py`` ``ADOPTABLE``, retained in production).
* Importing applies none of the template's properties: the resource keeps what it has, while the stack would record
  the template's values (drift nobody reviewed). So the adopt change set carries the properties *as they are*
  (read here with DescribeClusters and DescribeLogGroups, and shown in the review), and the next plain ``plan``
  is a second reviewed change that brings them to the template's values (retention, Container Insights, capacity
  providers, tags). AWS recommends drift detection after an import: ``drift`` proves the end state.
* A change set imports and creates in one go: everything else is created, nothing that exists is replaced.

Not imported this way: the seed's secrets (their names are not ours; prod references them by ARN) and its EFS file
system (created without encryption, which cannot change after creation: ``migrate-data`` copies the data instead).

The properties as found are written into the rendered template here, in ``deploy/``, because only here may AWS be
read; the templates themselves (``templates/``) stay the one source of the target values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from checks.template_walk import Templates
from templates._common import stack_id
from templates.stateful import ADOPTABLE

from . import markdown as md
from .aws import Aws, aws_errors, error_code
from .errors import DeployError
from .ui import Out

# Resource type -> the property holding its fixed name (the import's identifier) and the properties we read back.
NAME = {"AWS::ECS::Cluster": "ClusterName", "AWS::Logs::LogGroup": "LogGroupName"}
RETAINING = ("Retain", "RetainExceptOnCreate")


@dataclass
class Found:
    """A resource of ours that already exists outside any stack, with its properties as found and as planned."""

    stack: str
    logical_id: str
    type: str
    name: str
    found: dict = field(default_factory=dict)  # template properties with the values AWS reports
    planned: dict = field(default_factory=dict)  # the template's properties

    def differences(self) -> list[tuple[str, object, object]]:
        """(property, as found, template value) for every property the second change will set."""
        keys = sorted(set(self.found) | set(self.planned))
        return [(k, self.found.get(k), self.planned.get(k)) for k in keys if self.found.get(k) != self.planned.get(k)]


def candidates(templates: Templates) -> list[tuple[str, str, dict]]:
    """(stem, logical id, resource) of the templates' importable resources: listed as ADOPTABLE, retained, literal
    name."""
    found = []
    for stem, template in sorted(templates.items()):
        for logical in ADOPTABLE.get(stack_id(stem), ()):
            resource = template.get("Resources", {}).get(logical)
            if not resource or resource.get("DeletionPolicy") not in RETAINING:
                continue
            name = resource.get("Properties", {}).get(NAME.get(resource["Type"], ""))
            if isinstance(name, str):  # a static custom name; Ref/Sub are not importable
                found.append((stem, logical, resource))
    return found


def read(aws: Aws, type_: str, name: str) -> dict | None:
    """The resource's properties in template terms, or None when it does not exist."""
    with aws_errors():
        if type_ == "AWS::ECS::Cluster":
            return _cluster(aws, name)
        if type_ == "AWS::Logs::LogGroup":
            return _log_group(aws, name)
    raise AssertionError(f"no reader for {type_}")  # pragma: no cover - ADOPTABLE and NAME move together


def _cluster(aws: Aws, name: str) -> dict | None:
    # ECS API reference, DescribeClusters: a missing cluster is a `failures` entry (reason MISSING); a deleted one is
    # returned with status INACTIVE. `include` SETTINGS and TAGS add those fields.
    answer = aws.client("ecs").describe_clusters(clusters=[name], include=["SETTINGS", "TAGS"])
    live = [c for c in answer.get("clusters", []) if c.get("clusterName") == name and c.get("status") != "INACTIVE"]
    if not live:
        return None
    c = live[0]
    props: dict = {"ClusterName": name}
    if c.get("capacityProviders"):
        props["CapacityProviders"] = list(c["capacityProviders"])
    if c.get("defaultCapacityProviderStrategy"):
        props["DefaultCapacityProviderStrategy"] = [
            {k: v for k, v in (("CapacityProvider", s["capacityProvider"]), ("Weight", s.get("weight")),
                               ("Base", s.get("base") or None)) if v is not None}
            for s in c["defaultCapacityProviderStrategy"]]
    if c.get("settings"):
        props["ClusterSettings"] = [{"Name": s["name"], "Value": s["value"]} for s in c["settings"]]
    if c.get("tags"):
        props["Tags"] = sorted(({"Key": t["key"], "Value": t["value"]} for t in c["tags"]), key=lambda t: t["Key"])
    return props


def _log_group(aws: Aws, name: str) -> dict | None:
    # CloudWatch Logs API reference, DescribeLogGroups: retentionInDays is absent when events never expire.
    pages = aws.client("logs").get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
    match = [g for page in pages for g in page.get("logGroups", []) if g["logGroupName"] == name]
    if not match:
        return None
    props: dict = {"LogGroupName": name}
    if match[0].get("retentionInDays"):
        props["RetentionInDays"] = match[0]["retentionInDays"]
    if match[0].get("logGroupArn"):  # the ARN without ":*", which ListTagsForResource takes
        tags = aws.client("logs").list_tags_for_resource(resourceArn=match[0]["logGroupArn"]).get("tags", {})
        if tags:
            props["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    return props


def owner(aws: Aws, physical_id: str) -> str | None:
    """The stack a resource belongs to, or None. CloudFormation API reference, DescribeStackResources: given a
    PhysicalResourceId it "returns the associated resources of the stack that the resource belongs to"; a resource in
    no stack is a ValidationError."""
    try:
        with aws_errors():
            resources = aws.cfn.describe_stack_resources(PhysicalResourceId=physical_id).get("StackResources", [])
    except ClientError as e:
        if error_code(e) == "ValidationError":
            return None
        raise
    return resources[0]["StackName"] if resources else None


def find(aws: Aws, stack_name: str, templates: Templates) -> list[Found]:
    """The importable resources that exist outside our stacks. One in a stack not ours stops the plan."""
    found = []
    for stem, logical, resource in candidates(templates):
        name = resource["Properties"][NAME[resource["Type"]]]
        props = read(aws, resource["Type"], name)
        if props is None:
            continue  # it will be created
        belongs = owner(aws, name)
        if belongs and (belongs == stack_name or belongs.startswith(f"{stack_name}-")):
            continue  # already ours (adopted before)
        if belongs:
            raise DeployError(f"{resource['Type']} {name} belongs to the stack {belongs}: CloudFormation imports only "
                              "resources that belong to no stack",
                              f"remove it from {belongs} first (DeletionPolicy Retain there, then delete it from that "
                              "template), or give ours another name in params")
        found.append(Found(stack_id(stem), logical, resource["Type"], name, props,
                           dict(resource.get("Properties", {}))))
    return found


def as_found(templates: Templates, found: list[Found]) -> None:
    """Write the properties as found into the templates to upload (in place): the import records what exists."""
    by_stack = {stack_id(stem): stem for stem in templates}
    for f in found:
        resource = templates[by_stack[f.stack]]["Resources"][f.logical_id]
        resource["Properties"] = dict(f.found)


def adjusted(templates: Templates, found: list[Found]) -> Templates:
    """What ``plan --adopt`` uploads: a copy of the built ``templates`` with the found resources' properties as found
    (:func:`as_found`); the built templates stay as they are, for the guardrails and every other step."""
    copied = copy.deepcopy(templates)
    as_found(copied, found)
    return copied


def show(found: list[Found], out: Out) -> None:
    """The review's adopt section: what is imported, as it is, and what the next plan changes."""
    if not found:
        out.line("adopt: nothing to import (no resource of ours exists under its fixed name outside our stacks)")
        return
    out.heading("Imported as they are (ImportExistingResources)")
    for f in found:
        out.line(f"  < {f.stack}/{f.logical_id}  {f.type}  {f.name}")
        for prop, now, target in f.differences():
            out.line(f"      {prop}: {_shown(now)}  (the next plan sets {_shown(target)})")
    out.line("Importing changes nothing in these resources. After apply, plan again: that second change brings them "
             "to the template's values, for review.")


def markdown(found: list[Found]) -> str:
    if not found:
        return ""
    lines = ["", "#### Imported as they are (ImportExistingResources)", "",
             "| Resource | Name | Property | As found (imported) | Next plan sets |", "|---|---|---|---|---|"]
    for f in found:
        for prop, now, target in f.differences() or [("", None, None)]:
            lines.append(f"| {md.code(f'{f.stack}/{f.logical_id}')} | {md.code(f.name)} | {md.text(prop)} | "
                         f"{md.text(_shown(now))} | {md.text(_shown(target))} |")
    return "\n".join(lines) + "\n"


def as_json(found: list[Found]) -> list[dict]:
    return [{"stack": f.stack, "logicalId": f.logical_id, "type": f.type, "name": f.name, "asFound": f.found,
             "template": f.planned} for f in found]


def _shown(value) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "(none)"
    if isinstance(value, dict):
        if set(value) == {"Name", "Value"} or set(value) == {"Key", "Value"}:
            return f"{value.get('Name', value.get('Key'))}={value['Value']}"
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def imports(review) -> bool:
    """Whether a reviewed change set imports anything (its rows say Import)."""
    return any(row.action == "Import" for stack in review.stacks for row in stack.rows)


def next_steps(command) -> list[str]:
    """After an adopt change set ran: the second change, then the drift check. ``command`` is ``Ctx.command``."""
    return ["the imported resources kept their own properties; bring them to the template's values with a second,",
            f"reviewed change: {command('plan')}  (then apply the change set it names)",
            f"then prove the end state has no drift: {command('drift')}"]
