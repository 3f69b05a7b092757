"""What a change set does to access and cost: the deployed templates (before) against the packaged ones (after).

A change set says *which* resources change; reviewers also need to know *what access widens* and *what it costs*.
Both come from the templates, so this module reads the deployed templates back (``GetTemplate`` with
``TemplateStage=Original`` on the root and on each nested stack found with one ``ListStackResources`` of the root)
and hands them, with the templates ``package`` just rendered, to the pure comparisons in ``checks``
(:func:`checks.access_diff.iam_diff`, :func:`checks.access_diff.sg_diff`, :func:`checks.cost.delta`). Nothing here
builds resources.

Parsing: CloudFormation returns a YAML body as the text we uploaded (short-form tags: ``!GetAtt A.B``), and botocore
already decodes a JSON body into a dict. The loader below turns YAML into the long form troposphere's ``to_dict``
produces (``{"Fn::GetAtt": ["A", "B.C"]}``: split on the first dot, as CloudFormation does), on PyYAML's C loader:
the same result as cfn_flip's loader (checked by a test) at a tenth of its time, and without cfn-lint's 0.4 s import.
Timestamps stay strings (``AWSTemplateFormatVersion: 2010-09-09`` unquoted is a string to CloudFormation).

Cost: :func:`checks.cost.estimate` reads the running task count from the root's ``DesiredCount`` default. Here the
default is replaced by the value the stack runs with (before) and the value the change set sets (after), so
``plan --desired-count 1`` shows what starting the service costs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import yaml
from botocore.exceptions import ClientError

import templates
from checks.access_diff import IamChange, RuleChange, iam_diff, sg_diff
from checks.cost import Delta, Estimate, delta, estimate
from checks.template_walk import Templates
from templates._common import stack_id

from .aws import Aws, aws_errors, error_code, error_message
from .stacks import STACK_TYPE, list_resources

STEMS = {stack_id(templates.stem(m)): templates.stem(m) for m in templates.STACKS}

try:
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - a PyYAML built without libyaml
    _Base = yaml.SafeLoader  # type: ignore[misc, assignment]  # the same interface; types-PyYAML declares them apart


class _Loader(_Base):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _intrinsic(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        return {name: value.split(".", 1) if name == "Fn::GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    assert isinstance(node, yaml.MappingNode)  # YAML's third and last kind of node
    return {name: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _intrinsic)


def parse(body) -> dict:
    """A template body as ``GetTemplate`` returns it (YAML text, JSON text, or a dict botocore decoded) as a dict."""
    if isinstance(body, dict):
        return body
    return yaml.load(body, Loader=_Loader) or {}  # a SafeLoader with CloudFormation's tags


def stem_of(logical_id: str) -> str:
    """``StorageStack`` -> ``storage`` (the key templates.render uses); an unknown nested stack keeps its id."""
    return STEMS.get(logical_id, logical_id)


def deployed_templates(aws: Aws, stack_name: str, planned: Templates | None = None) -> Templates | None:
    """``{stem: template}`` of the deployed root and its nested stacks; None when the stack does not exist yet.

    When the deployed root equals the planned one, so do the children: the root names each child by a
    content-addressed URL (the sha256 of its bytes), so equal roots mean byte-identical children and they need not
    be read back (a new image tag or desired count, the usual deploy, then costs one GetTemplate, not one per stack).
    This trusts that nested stacks change only through their root, as CloudFormation intends.
    """
    root = _template(aws, stack_name)
    if root is None:
        return None
    if planned is not None and planned.get(templates.ROOT) == root:
        return copy.deepcopy(planned)
    found = {templates.ROOT: root}
    for r in list_resources(aws, stack_name):
        if r["ResourceType"] == STACK_TYPE and r.get("PhysicalResourceId"):
            child = _template(aws, r["PhysicalResourceId"])
            if child is not None:
                found[stem_of(r["LogicalResourceId"])] = child
    return found


def _template(aws: Aws, stack: str) -> dict | None:
    try:
        with aws_errors():
            body = aws.cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    except ClientError as e:
        if error_code(e) == "ValidationError" and "does not exist" in error_message(e):
            return None
        raise
    return parse(body)


# --- the comparison (pure) ----------------------------------------------------------------------------------------


@dataclass
class TemplateDiff:
    """IAM, network and cost changes between the deployed and the planned templates."""

    created: bool  # nothing deployed yet: everything is added
    iam: list[IamChange] = field(default_factory=list)
    network: list[RuleChange] = field(default_factory=list)
    cost: Delta | None = None
    cost_error: str = ""

    @property
    def widening_iam(self) -> list[IamChange]:
        return [c for c in self.iam if c.widens]

    @property
    def widening_network(self) -> list[RuleChange]:
        return [c for c in self.network if c.widens]

    @property
    def widens(self) -> bool:
        return bool(self.widening_iam or self.widening_network)


def with_parameters(built: Templates, values: dict[str, str]) -> Templates:
    """A copy whose root parameter defaults are the given values (what the stack runs with, or the change set sets)."""
    root = built.get(templates.ROOT)
    if not root or not values:
        return built
    params = root.get("Parameters", {})
    if not any(k in params for k in values):
        return built
    out = dict(built)
    out[templates.ROOT] = copy.deepcopy(root)
    for key, value in values.items():
        if key in params and value != "":
            out[templates.ROOT]["Parameters"][key]["Default"] = value
    return out


def compare(before: Templates | None, after: Templates, region: str, env: str = "",
            before_parameters: dict[str, str] | None = None,
            after_parameters: dict[str, str] | None = None) -> TemplateDiff:
    """IAM and security group changes and the monthly cost delta; a cost that cannot be estimated says why."""
    result = TemplateDiff(created=before is None, iam=iam_diff(before, after), network=sg_diff(before, after))
    try:
        old = (estimate(with_parameters(before, before_parameters or {}), region, env) if before is not None
               else Estimate(env, region, ()))
        new = estimate(with_parameters(after, after_parameters or {}), region, env)
        result.cost = delta(old, new)
    except (ValueError, KeyError, TypeError) as e:  # e.g. a deployed template from another tool's hand
        result.cost_error = f"the cost could not be estimated: {e}"
    return result
