"""Compatibility shims that let moto's CloudFormation emulator run our real nested templates.

Written against moto 5.2.5 (``TESTED_WITH``); every shim patches the emulator in this test process only (the
ThreadedMotoServer runs in-process), never the product code, and each says which real CloudFormation behaviour it
restores. :func:`install` applies them once and returns a function that undoes them.

1. ``!GetAtt A.B.C`` in YAML: CloudFormation splits on the first dot (``[A, B.C]``); moto splits on every dot, which
   turns ``!GetAtt StorageStack.Outputs.FileSystemId`` into the attribute ``Outputs``.
2. ``Fn::GetAtt Child.Outputs.X`` on a nested stack: CloudFormation returns the child's output; moto's Stack model
   has no attribute lookup at all.
3. Resource types moto does not model in CloudFormation (AWS::Backup::*, AWS::SecretsManager::Secret,
   AWS::CloudWatch::Alarm, AWS::SNS::TopicPolicy, AWS::S3::BucketPolicy, ...): moto skips them, so every Ref and
   GetAtt to them resolves to nothing and the consuming nested stack fails with a missing parameter. Here they
   become inert placeholders with a physical id.
4. Attributes moto does not implement on a type it models (``AWS::EFS::AccessPoint.Arn``,
   ``LoadBalancerFullName``): a deterministic placeholder value instead of dropping the property.
5. ExecuteChangeSet: moto keeps the outputs of the empty template a CREATE change set starts from and the previous
   parameters; CloudFormation's stack shows the new outputs and parameters.
6. Change set diff: moto diffs templates only, so an ImageTag change shows no resource change; CloudFormation lists
   the resources whose properties reference a changed parameter. Parameter values are compared as strings (moto
   compares the int 0 with the string "0" and finds a change that is not there).
7. UpdateTerminationProtection is not implemented; DeleteStack ignores termination protection. CloudFormation
   refuses to delete a protected stack.
8. Executing a change set: CloudFormation marks the change set EXECUTE_COMPLETE and deletes the stack's other
   change sets; moto keeps them all AVAILABLE.
9. ListStackResources: moto reports every resource as CREATE_COMPLETE, last updated when the parent stack was
   created; CloudFormation reports a nested stack's own status and when it last changed (``watch`` uses that to
   find the nested stacks an operation touched).
10. DeleteStack and DeletionPolicy ``RetainExceptOnCreate``: moto keeps only ``Retain`` and deletes the rest;
    CloudFormation treats RetainExceptOnCreate like Retain for every operation except the rollback of the create that
    made the resource (which moto never performs).
11. Speed only, no behaviour: moto parses every template it receives with PyYAML's pure-Python ``yaml.Loader``, about
    two thirds of the server's CPU in a deploy test. Where PyYAML has libyaml, moto's CloudFormation modules get the
    same loader with libyaml's parser (``yaml.CLoader``: the same constructors and resolver, so the same dicts and
    the same ``ParserError``/``ScannerError`` for what is not YAML); the tag constructors moto registers still go to
    ``yaml.Loader`` as well.
12. Speed only, no behaviour: with ``MOTO_IAM_LOAD_MANAGED_POLICIES`` (the tests that attach AWS managed policies),
    every IAM backend moto starts (one per partition, six per account, on a test's first request) decodes moto's
    5 MB of AWS managed policies and encodes each policy's document again: half the CPU of a rehearsal safety test.
    Here that is done once per test process; each backend still gets its own new policy objects, made from the same
    names, paths, dates and document strings.

Not shimmed (covered with botocore Stubber and recorded API shapes instead): nested change sets (``ChangeSetId``),
``Replacement``/``Scope``/``Details`` in changes, resource-level events, and failures (moto never yields
``*_FAILED`` or ``ROLLBACK_COMPLETE``; :func:`set_stack_status` puts a stack into a state for state-handling tests).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from datetime import datetime

import moto
import yaml
from moto.cloudformation import (
    models as cfn_models,
    parsing as cfn_parsing,
    responses as cfn_responses,
    utils as cfn_utils,
)
from moto.cloudformation.exceptions import ValidationError
from moto.iam import models as iam_models

TESTED_WITH = "5.2.5"


def install() -> Callable[[], None]:
    """Apply every shim; the returned function restores moto as it was."""
    undo: list[Callable[[], None]] = []

    def patch(owner, name, value):
        missing = object()
        old = getattr(owner, name, missing)
        setattr(owner, name, value)
        undo.append(lambda: delattr(owner, name) if old is missing else setattr(owner, name, old))

    _getatt_first_dot(patch)
    patch(cfn_models.Stack, "get_cfn_attribute", _stack_output)
    _placeholders(patch)
    _execute_refreshes(patch)
    patch(cfn_models.ChangeSet, "diff", _diff_with_parameters)
    patch(cfn_models.Stack, "has_parameters", _same_parameters)
    _termination_protection(patch)
    patch(cfn_responses.CloudFormationResponse, "list_stack_resources", _list_stack_resources)
    _retain_except_on_create(patch)
    _libyaml_parser(patch)
    patch(iam_models.IAMBackend, "_init_aws_policies", _aws_policies_parsed_once)

    def restore():
        for step in reversed(undo):
            step()

    return restore


# 1 ------------------------------------------------------------------------------------------------------------------


def _getatt_first_dot(patch) -> None:
    original = cfn_utils.yaml_tag_constructor

    def constructor(loader, tag, node):
        if tag == "!GetAtt" and isinstance(node, yaml.ScalarNode):
            return {"Fn::GetAtt": node.value.split(".", 1)}
        return original(loader, tag, node)

    for module in (cfn_models, cfn_responses, cfn_utils):
        patch(module, "yaml_tag_constructor", constructor)


# 2 ------------------------------------------------------------------------------------------------------------------


def _stack_output(self, attribute: str):
    if not attribute.startswith("Outputs."):
        raise NotImplementedError(attribute)
    key = attribute.split(".", 1)[1]
    for output in self.outputs or []:
        if output["OutputKey"] == key:
            return output["OutputValue"]
    raise ValidationError(message=f"Output {key} not found in nested stack {self.name}")


# 3 and 4 ------------------------------------------------------------------------------------------------------------


class Placeholder:
    """A resource moto does not model: it exists, has a physical id, and answers any attribute."""

    def __init__(self, name: str, type_: str):
        self.physical_resource_id = name
        self.type = type_

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return cls(resource_name, cloudformation_json["Type"])

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                        region_name):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, *args, **kwargs):
        return None

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, attribute: str) -> str:
        return synthetic(self.physical_resource_id, attribute)


def synthetic(physical_id: str, attribute: str) -> str:
    return f"arn:aws:moto-compat:::{physical_id}/{attribute}"


def _placeholders(patch) -> None:
    resource_class = cfn_parsing.resource_class_from_type
    clean_json = cfn_parsing.clean_json

    def with_placeholders(resource_type: str):
        found = resource_class(resource_type)
        if found is None and resource_type not in cfn_parsing.NULL_MODELS:
            return Placeholder
        return found

    def clean(resource_json, resources_map):
        if isinstance(resource_json, dict) and "Fn::GetAtt" in resource_json:
            return _get_att(resource_json["Fn::GetAtt"], resources_map)
        return clean_json(resource_json, resources_map)

    patch(cfn_parsing, "resource_class_from_type", with_placeholders)
    patch(cfn_parsing, "clean_json", clean)


def _get_att(args, resources_map):
    name, attribute = args[0], args[1]
    resource = resources_map.get(name)
    if resource is None:
        raise ValidationError(message=f"Template error: instance of Fn::GetAtt references undefined resource {name}")
    with contextlib.suppress(AttributeError, NotImplementedError):
        value = resource.get_cfn_attribute(attribute)
        if value is not None:
            return value
    if isinstance(resource, cfn_models.Stack):
        raise ValidationError(message=f"nested stack {name} has no attribute {attribute}")
    return synthetic(getattr(resource, "physical_resource_id", name), attribute)


# 5 and 8 ------------------------------------------------------------------------------------------------------------


def _execute_refreshes(patch) -> None:
    execute = cfn_models.CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name, stack_name=None):
        change_set = self.describe_change_set(change_set_name)
        execute(self, change_set_name, stack_name)
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.output_map = stack._create_output_map()
        for arn, other in list(self.change_sets.items()):
            if other.stack_id == stack.stack_id and other is not change_set:
                del self.change_sets[arn]

    patch(cfn_models.CloudFormationBackend, "execute_change_set", execute_change_set)


# 6 ------------------------------------------------------------------------------------------------------------------


def _as_strings(parameters: dict | None) -> dict[str, str]:
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in (parameters or {}).items()}


def _changed_parameters(stack, parameters: dict) -> set[str]:
    """Keys whose value differs from the stack's resolved value (defaults included), compared as strings."""
    current = _as_strings(stack.resource_map.resolved_parameters)
    return {k for k, v in _as_strings(parameters).items() if current.get(k) != v}


def _same_parameters(self, other: dict) -> bool:
    return not _changed_parameters(self, other)


def _diff_with_parameters(self) -> list:
    resource_map = self.stack.resource_map
    actions = resource_map.build_change_set_actions(self.template_dict)
    changed = _changed_parameters(self.stack, self.parameters) if self.stack.status != "REVIEW_IN_PROGRESS" else set()
    new = self.template_dict.get("Resources", {})
    for name, resource in new.items():
        if name in actions["Add"] or name in actions["Modify"]:
            continue
        if changed & set(cfn_parsing.get_references_from_template(resource)):
            actions["Modify"][name] = {"LogicalResourceId": name, "ResourceType": resource["Type"]}
    return [cfn_models.Change(action=action, logical_resource_id=name, resource_type=r["ResourceType"])
            for action, resources in actions.items() for name, r in resources.items()]


# 7 ------------------------------------------------------------------------------------------------------------------


def _termination_protection(patch) -> None:
    def update_termination_protection(self):
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        stack.enable_termination_protection = self._get_bool_param("EnableTerminationProtection", False)
        return cfn_responses.ActionResult({"StackId": stack.stack_id})

    delete_stack = cfn_models.CloudFormationBackend.delete_stack

    def guarded_delete(self, name_or_stack_id):
        for stack in self.stacks.values():
            if name_or_stack_id in (stack.name, stack.stack_id) and stack.enable_termination_protection:
                raise ValidationError(message=f"Stack [{stack.name}] cannot be deleted while "
                                              "TerminationProtection is enabled")
        return delete_stack(self, name_or_stack_id)

    patch(cfn_responses.CloudFormationResponse, "update_termination_protection", update_termination_protection)
    patch(cfn_models.CloudFormationBackend, "delete_stack", guarded_delete)


# 9 ------------------------------------------------------------------------------------------------------------------


def _list_stack_resources(self):
    stack, resources = self.cloudformation_backend.list_stack_resources(self._get_param("StackName"))

    def summary(resource) -> dict:
        nested = isinstance(resource, cfn_models.Stack)
        changed = resource.events[-1].timestamp if nested and resource.events else stack.creation_time
        return {"ResourceStatus": resource.status if nested else "CREATE_COMPLETE",
                "LogicalResourceId": getattr(resource, "logical_resource_id", ""), "LastUpdatedTimestamp": changed,
                "PhysicalResourceId": getattr(resource, "physical_resource_id", ""),
                "ResourceType": getattr(resource, "cf_resource_type", "")}

    return cfn_responses.ActionResult({"StackResourceSummaries": [summary(r) for r in resources]})


# --- state helpers for tests ----------------------------------------------------------------------------------------


# 10 -----------------------------------------------------------------------------------------------------------------


def _retain_except_on_create(patch) -> None:
    original = cfn_parsing.ResourceMap.delete

    def delete(self):
        saved = {k: v.get("DeletionPolicy") for k, v in self._resource_json_map.items()}
        for v in self._resource_json_map.values():
            if v.get("DeletionPolicy") == "RetainExceptOnCreate":
                v["DeletionPolicy"] = "Retain"
        try:
            return original(self)
        finally:
            for k, v in self._resource_json_map.items():
                if saved.get(k) is not None:
                    v["DeletionPolicy"] = saved[k]

    patch(cfn_parsing.ResourceMap, "delete", delete)


# 11 -----------------------------------------------------------------------------------------------------------------


class _CfnLoader(getattr(yaml, "CLoader", yaml.Loader)):
    """``yaml.Loader`` with libyaml's parser; a class of its own, so moto's tag constructors land here only."""


class _YamlWithLibyaml:
    """The ``yaml`` module as moto's CloudFormation modules see it: ``Loader`` is :class:`_CfnLoader`."""

    Loader = _CfnLoader

    def __getattr__(self, name):
        return getattr(yaml, name)

    @staticmethod
    def add_multi_constructor(tag_prefix, multi_constructor, Loader=None):  # PyYAML's signature
        yaml.add_multi_constructor(tag_prefix, multi_constructor, Loader)  # what moto did: yaml.Loader gets it too
        (Loader or _CfnLoader).add_multi_constructor(tag_prefix, multi_constructor)


def _libyaml_parser(patch) -> None:
    if getattr(yaml, "__with_libyaml__", False):
        for module in (cfn_models, cfn_responses):
            patch(module, "yaml", _YamlWithLibyaml())


# 12 -----------------------------------------------------------------------------------------------------------------


@functools.cache
def _aws_policy_fields() -> tuple[tuple[str, dict], ...]:
    """What moto's ``AWSManagedPolicy.from_data`` reads from its data, read once (moto 5.2.5's iam/models.py)."""
    return tuple((name, {"default_version_id": data.get("DefaultVersionId"), "path": data.get("Path"),
                         "document": json.dumps(data.get("Document")),
                         "create_date": datetime.fromisoformat(data["CreateDate"]),
                         "update_date": datetime.fromisoformat(data["UpdateDate"])})
                 for name, data in json.loads(iam_models.aws_managed_policies_data).items())


def _aws_policies_parsed_once(self) -> list:
    if not iam_models.load_iam_aws_managed_policies():
        return []
    return [iam_models.AWSManagedPolicy(name, account_id=self.account_id, region=self.region_name, **fields)
            for name, fields in _aws_policy_fields()]


def backend(account: str = "123456789012", region: str = "us-west-2") -> cfn_models.CloudFormationBackend:
    return cfn_models.cloudformation_backends[account][region]


def set_stack_status(name: str, status: str, reason: str = "", account: str = "123456789012",
                     region: str = "us-west-2") -> None:
    """Put a stack into a state moto never reaches by itself (moto has no failures), with its stack-level event."""
    stack = next(s for s in backend(account, region).stacks.values() if s.name == name)
    stack.status = status
    stack._add_stack_event(status, resource_status_reason=reason or None)


def failing_update(nested_logical: str, resource: str, resource_type: str, reason: str):
    """An ExecuteChangeSet whose update fails inside a nested stack and rolls back, reported the way CloudFormation
    reports it (moto itself never fails): the nested resource's UPDATE_FAILED with its own reason, the parent's
    "Embedded stack ... was not successfully updated" echo, then UPDATE_ROLLBACK_COMPLETE. Nothing is changed."""

    def execute(backend, change_set_name, stack_name=None):
        change_set = backend.describe_change_set(change_set_name)
        root = backend.stacks[change_set.stack_id]
        nested = root.resource_map[nested_logical]

        def row(stack, logical, physical, type_, status, why=None):
            stack.events.append(cfn_models.Event(stack.stack_id, stack.name, logical, physical, type_, status, why,
                                                 None))

        root._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
        row(root, nested_logical, nested.stack_id, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS")
        nested._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
        row(nested, resource, f"{resource}-physical", resource_type, "UPDATE_IN_PROGRESS")
        row(nested, resource, f"{resource}-physical", resource_type, "UPDATE_FAILED", reason)
        failed = f"The following resource(s) failed to update: [{resource}]."
        nested._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=failed)
        nested._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        row(root, nested_logical, nested.stack_id, "AWS::CloudFormation::Stack", "UPDATE_FAILED",
            f"Embedded stack {nested.stack_id} was not successfully updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS "
            f"with reason: {failed}")
        root._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS",
                              resource_status_reason=f"The following resource(s) failed to update: [{nested_logical}].")
        row(root, nested_logical, nested.stack_id, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE")
        root._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        root.status = nested.status = "UPDATE_ROLLBACK_COMPLETE"
        change_set.execution_status = "EXECUTE_FAILED"

    return execute


def version_note() -> str:
    return "" if moto.__version__ == TESTED_WITH else f"moto {moto.__version__}; shims tested with {TESTED_WITH}"
