"""The identity stack: every IAM resource of one environment, in a top-level stack of its own. Not stateful.

``<root>-identity`` holds the app's three roles (``templates/iam.py``) and, for an environment deployed by CI, the
GitHub OIDC provider and the GitHub roles (``templates/ci.py``) and the CloudFormation execution role
(``templates/execution_role.py``, composed from what each stack module declares its resources need). No app stack
(the root and its nested stacks) holds an IAM resource; the root computes the app roles' ARNs from their fixed names
(``iam.role_arns``).

Why a stack apart, deployed only by ``python generate.py bootstrap --env NAME`` with the operator's own credentials:

* CloudFormation keeps the service role a stack was last deployed with: "CloudFormation uses this role for all
  future operations on the stack ... If you don't specify a value, CloudFormation uses the role that was previously
  associated with the stack" (CloudFormation API Reference, CreateChangeSet, ``RoleARN``). Once CI has deployed the
  root with its execution role, every later change set of that hierarchy runs as that role, an operator's too. So
  whatever the execution role may not do could never be deployed in that hierarchy again. This stack is never
  given a service role (``bootstrap`` creates its change sets without ``RoleARN``, and refuses a stack that has one),
  so it always runs with the credentials of the operator who deploys it.
* The execution role then needs no IAM write at all: it creates no role and puts or attaches no policy, so it
  cannot grant itself or anything it creates more than it has (the privilege-escalation actions scanners flag are
  simply not in its policies), and changing who may do what is always a reviewed operator's deploy.
* The GitHub roles may read this stack (preflight checks it is current) but never change it: their change-set grants
  name the root and ``<root>-*Stack-*`` only.

It is built into ``output/<env>/identity.yaml`` with the app's templates, so it is linted, scanned and guarded like
them; ``package`` never uploads it with the app's stacks, and a plan of the app stacks refuses to go on while the
deployed identity stack differs from this template (``deploy/identity.py``).
"""

from __future__ import annotations

from troposphere import GetAtt, Template

from . import ci, iam
from ._common import new_template, outputs
from .config import EnvParams

STEM = "identity"


def build(p: EnvParams) -> Template:
    what = "the app's IAM roles" + (", GitHub Actions OIDC roles and the CloudFormation execution role" if ci.enabled(p)
                                    else "")
    t = new_template(p, f"identity stack: {what}; deployed by an operator (bootstrap), never by CI")
    roles = iam.add(t, p)
    outputs(t, {out: GetAtt(role, "Arn") for out, role in roles.items()}, {
        iam.Out.ExecutionRoleArn: "ECS task execution role (image pull, logs, injected secrets)",
        iam.Out.TaskRoleArn: "ECS task role (the app's identity: EFS through the access points)",
        iam.Out.BackupRoleArn: "AWS Backup's service role for the file system",
    })
    if ci.enabled(p):
        outputs(t, ci.add(t, p), ci.OUTPUT_DESCRIPTIONS)
    return t
