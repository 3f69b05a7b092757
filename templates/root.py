"""The root stack: wiring only. Each child output feeds the sibling parameters of the same name; the per-deploy
knobs (image tag, desired count) are root parameters with labels for the console.

Why ``build`` takes the built children (docs/design.md, "Where a value lives"): the wiring is derived from what
the children actually declare (their ``Parameters`` and ``Outputs``), so the root can never pass a parameter a child
does not have or miss one it needs, and a name produced by two stacks is refused at build time.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from awacs import cloudformation as cfn, s3
from awacs.aws import Allow, Statement
from troposphere import AWSHelperFn, GetAtt, Output, Parameter, Ref, Template, cloudformation

from ._arns import nested_stacks, template_keys
from ._common import disposable, lint_ignore, new_template, stack_id, tags
from .config import IMAGE_TAG_PATTERN, EnvParams
from .iam import role_arns
from .names import PULL_REQUEST_PREFIX


class Param(StrEnum):
    ImageTag = "ImageTag"
    DesiredCount = "DesiredCount"


# Root outputs: (child output, description). Shown when the producing stack exists in the environment.
ROOT_OUTPUTS = {
    "ServiceUrl": "Where the API answers",
    "ClusterName": "ECS cluster",
    "ServiceName": "ECS service",
    "LogGroupName": "CloudWatch log group of both containers",
    "FileSystemId": "EFS file system with the SQLite and Qdrant data (retained)",
    "BackupVaultName": "AWS Backup vault of the file system (retained)",
    "DashboardName": "CloudWatch dashboard",
    "AlarmTopicArn": "SNS topic the alarms notify",
}


class WiringError(ValueError):
    """A child needs a parameter no sibling produces, or two stacks produce the same output name."""


def build(p: EnvParams, children: dict[str, Template], template_url: Callable[[str], str]) -> Template:
    t = new_template(p, "root stack; wires the nested stacks")
    produced = _root_parameters(t, p)
    produced.update(role_arns(p))  # the identity stack's roles: fixed names, so known here (templates/iam.py)
    for stem, child in children.items():
        for name in child.outputs:
            if name in produced:
                raise WiringError(f"output {name!r} of {stack_id(stem)} is also produced elsewhere")
            produced[name] = GetAtt(stack_id(stem), f"Outputs.{name}")
    for stem, child in children.items():
        missing = sorted(set(child.parameters) - set(produced))
        if missing:
            raise WiringError(f"{stack_id(stem)} needs {', '.join(missing)}, which no stack produces")
        kwargs = {"Parameters": {name: produced[name] for name in child.parameters}} if child.parameters else {}
        # Nested stacks are deleted with the root; what must survive (EFS, access points, backup vault, secrets,
        # ECR repository) is retained resource by resource inside them, so it survives any way its stack goes.
        t.add_resource(disposable(cloudformation.Stack(
            stack_id(stem), TemplateURL=template_url(stem), Tags=tags(p, stem.replace("_", "-")), **kwargs,
        )))
    for name, description in ROOT_OUTPUTS.items():
        if name in produced and name not in Param.__members__:
            t.add_output(Output(name, Value=produced[name], Description=description))
    _interface(t)
    lint_ignore(t, {
        "W3002": "TemplateURL is a relative path so cfn-lint checks the nested wiring; `package` uploads the "
                 "children and rewrites it to an S3 URL (exactly what W3002 warns is needed)",
    })
    return t


def _root_parameters(t: Template, p: EnvParams) -> dict[str, AWSHelperFn]:
    t.add_parameter(Parameter(
        Param.ImageTag, Type="String", Default=p.image.default_tag, AllowedPattern=IMAGE_TAG_PATTERN,
        ConstraintDescription="a Docker image tag (letters, digits, _ . -; at most 128) other than 'latest'",
        Description=f"Tag of the app image in ECR repository {p.image.repository}; CI passes the git SHA.",
    ))
    t.add_parameter(Parameter(
        Param.DesiredCount, Type="Number", Default=str(p.service.desired_count), AllowedValues=["0", "1"],
        ConstraintDescription="0 or 1: SQLite and Qdrant on EFS allow a single writer",
        Description="Running tasks: 1 to serve, 0 to stop (e.g. before the first image is pushed).",
    ))
    return {str(name): Ref(str(name)) for name in Param}


def _interface(t: Template) -> None:
    t.set_metadata({**t.metadata, "AWS::CloudFormation::Interface": {
        "ParameterGroups": [{"Label": {"default": "Deployment"}, "Parameters": [str(x) for x in Param]}],
        "ParameterLabels": {
            str(Param.ImageTag): {"default": "App image tag"},
            str(Param.DesiredCount): {"default": "Running tasks (0 or 1)"},
        },
    }})


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """The nested stacks (AWS::CloudFormation::Stack handler) and their templates in the bucket."""
    return [
        Statement(
            Sid="NestedStacks", Effect=Allow,
            Action=[
                cfn.CreateStack, cfn.DeleteStack, cfn.DescribeStacks, cfn.GetStackPolicy, cfn.GetTemplate,
                cfn.SetStackPolicy, cfn.TagResource, cfn.UntagResource, cfn.UpdateStack,
                cfn.UpdateTerminationProtection,
                # dependent actions (checks/execution_role.py DEPENDENT): rolling back a nested stack's update
                cfn.CancelUpdateStack, cfn.ContinueUpdateRollback,
                # nested change sets, created and run by CloudFormation under this role
                cfn.CreateChangeSet, cfn.DeleteChangeSet, cfn.DescribeChangeSet, cfn.ExecuteChangeSet,
            ],
            Resource=nested_stacks(p),
        ),
        # the main keys, and a pull request's (its change set's nested stacks are read under this role too)
        Statement(Sid="ReadTemplates", Effect=Allow, Action=[s3.GetObject],
                  Resource=[template_keys(p), template_keys(p, PULL_REQUEST_PREFIX)]),
    ]
