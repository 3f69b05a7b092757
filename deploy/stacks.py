"""What state a stack is in, what may be done to it now, its nested stacks, and prod protection.

CloudFormation rules this module encodes:

* A stack whose status ends in ``_IN_PROGRESS`` accepts no new operation until it ends.
* A stack in ``REVIEW_IN_PROGRESS`` was created by a CREATE change set that was never executed: the next change set
  is again of type CREATE.
* A stack in ``ROLLBACK_COMPLETE`` (its creation failed) can only be deleted; so can ``ROLLBACK_FAILED`` and
  ``DELETE_FAILED`` stacks.
* ``UPDATE_ROLLBACK_FAILED`` needs ``ContinueUpdateRollback``, usually skipping the resources that cannot roll back.
* Termination protection is set on the root only; nested stacks follow their root.
* A stack policy applies only to the stack it is set on, so the storage stack gets its own.
* DescribeStacks returns ``Stack.RoleARN``, the service role associated with the stack (absent when there is none):
  a change set created without ``RoleARN`` runs as it (CreateChangeSet API reference, ``RoleARN``; see
  :class:`deploy.review.ActsAs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from botocore.exceptions import ClientError

from templates.config import EnvParams
from templates.stateful import PROTECTED

from .aws import Aws, aws_errors, error_code, error_message
from .errors import DeployError, suggest
from .ui import Out, Poller

NEEDS_DELETE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED"}
STACK_TYPE = "AWS::CloudFormation::Stack"


@dataclass
class StackInfo:
    """The parts of DescribeStacks the commands use."""

    id: str
    name: str
    status: str
    reason: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    termination_protection: bool = False
    updated: datetime | None = None
    role_arn: str | None = None  # Stack.RoleARN: the service role CloudFormation acts as when none is given

    @property
    def busy(self) -> bool:
        return self.status.endswith("_IN_PROGRESS") and self.status != "REVIEW_IN_PROGRESS"

    @property
    def exists(self) -> bool:
        """False for a stack that only holds an unexecuted CREATE change set."""
        return self.status != "REVIEW_IN_PROGRESS"


def describe(aws: Aws, name_or_id: str) -> StackInfo | None:
    """The stack, or None when there is none (DescribeStacks answers ValidationError "does not exist")."""
    with aws_errors():
        try:
            stack = aws.cfn.describe_stacks(StackName=name_or_id)["Stacks"][0]
        except ClientError as e:
            if error_code(e) == "ValidationError" and "does not exist" in error_message(e):
                return None
            raise
    return _info(stack)


def _info(s: dict) -> StackInfo:
    return StackInfo(
        id=s["StackId"], name=s["StackName"], status=s["StackStatus"], reason=s.get("StackStatusReason", ""),
        parameters={x["ParameterKey"]: x.get("ParameterValue", "") for x in s.get("Parameters", [])},
        outputs={x["OutputKey"]: x.get("OutputValue", "") for x in s.get("Outputs", []) or []},
        termination_protection=bool(s.get("EnableTerminationProtection")),
        updated=s.get("LastUpdatedTime") or s.get("CreationTime"),
        role_arn=s.get("RoleARN") or None,
    )


def refuse_unless_idle(info: StackInfo, p: EnvParams, command: str = "plan") -> None:
    if info.busy:
        raise DeployError(f"{info.name} is {info.status}: another operation is running and CloudFormation accepts "
                          "no other until it ends",
                          f"wait for it: {suggest('status', p.env, '--watch')}, or add --wait to {command}")


def needs_delete(info: StackInfo, p: EnvParams) -> DeployError:
    why = {"ROLLBACK_COMPLETE": "its creation failed and was rolled back",
           "ROLLBACK_FAILED": "its creation failed and so did the rollback",
           "CREATE_FAILED": "its creation failed",
           "DELETE_FAILED": "an earlier delete failed"}[info.status]
    return DeployError(f"{info.name} is {info.status}: {why}; a stack in this state can only be deleted before "
                       "trying again", f"{suggest('destroy', p.env)}, then plan again")


def wait_until_idle(aws: Aws, info: StackInfo | None, out: Out, poller: Poller) -> StackInfo | None:
    """``--wait``: poll with backoff until the running operation ends; print each status change once."""
    shown = ""
    for delay in poller.intervals():
        if info is None or not info.busy:
            return info
        if info.status != shown:
            out.line(f"waiting: {info.name} is {info.status}")
            shown = info.status
        poller.wait(delay)
        info = describe(aws, info.id)
    return info  # pragma: no cover - intervals() never ends


def nested_stacks(aws: Aws, stack: str, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """``{logical path: physical id}`` of every nested stack below ``stack``, depth first, sorted."""
    found = {}
    for r in list_resources(aws, stack):
        if r["ResourceType"] == STACK_TYPE and r.get("PhysicalResourceId"):
            path = prefix + (r["LogicalResourceId"],)
            found[path] = r["PhysicalResourceId"]
            found.update(nested_stacks(aws, r["PhysicalResourceId"], path))
    return dict(sorted(found.items()))


def list_resources(aws: Aws, stack: str) -> list[dict]:
    with aws_errors():
        pages = aws.cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
        return sorted((r for page in pages for r in page["StackResourceSummaries"]),
                      key=lambda r: r["LogicalResourceId"])


# --- prod protection ---------------------------------------------------------------------------------------------


def stack_policy(protected: tuple[str, ...]) -> str:
    """Allow every update except replacing or deleting the protected resources.

    A stack policy denies everything it does not allow, hence the explicit ``Update:*`` allow first.
    """
    return json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["Update:Replace", "Update:Delete"], "Principal": "*",
         "Resource": [f"LogicalResourceId/{r}" for r in sorted(protected)]},
    ]}, sort_keys=True)


def protect(aws: Aws, info: StackInfo, out: Out) -> None:
    """Production: termination protection on the root, and stack policies on the root and the storage stack."""
    nested = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in list_resources(aws, info.id)
              if r["ResourceType"] == STACK_TYPE and r.get("PhysicalResourceId")}
    with aws_errors():
        if not info.termination_protection:
            aws.cfn.update_termination_protection(EnableTerminationProtection=True, StackName=info.id)
        # On the root, the nested stack holding the data may not be replaced or removed either.
        aws.cfn.set_stack_policy(StackName=info.id, StackPolicyBody=stack_policy(tuple(sorted(PROTECTED))))
        for logical, resources in sorted(PROTECTED.items()):
            if logical in nested:
                aws.cfn.set_stack_policy(StackName=nested[logical], StackPolicyBody=stack_policy(resources))
    shielded = ", ".join(f"{s}/{r}" for s, rs in sorted(PROTECTED.items()) for r in rs)
    out.line(f"protection: termination protection on {info.name}; stack policies deny replacing or deleting {shielded}")
