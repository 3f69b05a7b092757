"""Resolve the intrinsic functions of a rendered template's policies into plain IAM JSON, the way CloudFormation would
for one account and region: ``Ref`` (pseudo parameters, resources), ``Fn::Sub`` (both forms), ``Fn::GetAtt`` (``Arn``
of roles, policies and the OIDC provider), ``Fn::Join``. Anything it does not know raises :class:`Unresolved`, so a
policy is never judged with a placeholder left in it.

Physical names: a resource with a fixed name (``RoleName``, ``ManagedPolicyName``) gets it; one without gets the
name CloudFormation generates, ``<stack>-<LogicalId>-<suffix>`` (CloudFormation User Guide, "Name type": "a unique
physical ID ... stack name, logical ID and a random string"), with a fixed sample suffix. Paths come from ``Path``.
Sources for the return values: the AWS::IAM::Role (Ref: name, Fn::GetAtt Arn), AWS::IAM::ManagedPolicy (Ref: ARN) and
AWS::IAM::OIDCProvider (Ref/Arn: ARN) pages of the CloudFormation template reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUFFIX = "A1B2C3D4E5F6"  # a sample of CloudFormation's random suffix for generated names
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class Unresolved(ValueError):
    """A value the resolver cannot turn into a literal."""


@dataclass(frozen=True)
class Place:
    account: str
    region: str
    stack: str
    partition: str = "aws"

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"


class Resolver:
    def __init__(self, template: dict, place: Place):
        self.resources = template.get("Resources", {})
        self.parameters = template.get("Parameters", {})
        self.place = place

    # --- physical values -----------------------------------------------------------------------------------------

    def name(self, logical_id: str) -> str:
        r = self._resource(logical_id)
        props = r.get("Properties", {})
        fixed = props.get({"AWS::IAM::Role": "RoleName",
                           "AWS::IAM::ManagedPolicy": "ManagedPolicyName"}.get(r["Type"], ""))
        if fixed is not None:
            return self.value(fixed)
        return f"{self.place.stack}-{logical_id}-{SUFFIX}"[:64]

    def arn(self, logical_id: str) -> str:
        r = self._resource(logical_id)
        pl = self.place
        path = self.value(r.get("Properties", {}).get("Path", "/"))
        match r["Type"]:
            case "AWS::IAM::Role":
                return f"arn:{pl.partition}:iam::{pl.account}:role{path}{self.name(logical_id)}"
            case "AWS::IAM::ManagedPolicy":
                return f"arn:{pl.partition}:iam::{pl.account}:policy{path}{self.name(logical_id)}"
            case "AWS::IAM::OIDCProvider":
                url = self.value(r["Properties"]["Url"]).removeprefix("https://")
                return f"arn:{pl.partition}:iam::{pl.account}:oidc-provider/{url}"
        raise Unresolved(f"no ARN rule for {logical_id} ({r['Type']})")

    def _resource(self, logical_id: str) -> dict:
        if logical_id not in self.resources:
            raise Unresolved(f"no resource {logical_id}")
        return self.resources[logical_id]

    # --- values --------------------------------------------------------------------------------------------------

    def ref(self, name: str) -> str:
        pl = self.place
        pseudo = {"AWS::AccountId": pl.account, "AWS::Region": pl.region, "AWS::Partition": pl.partition,
                  "AWS::URLSuffix": pl.url_suffix, "AWS::StackName": pl.stack}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters and "Default" in self.parameters[name]:
            return str(self.parameters[name]["Default"])
        r = self._resource(name)
        if r["Type"] == "AWS::IAM::Role":
            return self.name(name)
        if r["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::OIDCProvider"):
            return self.arn(name)
        raise Unresolved(f"no Ref rule for {name} ({r['Type']})")

    def value(self, v):
        if isinstance(v, str | int | float | bool) or v is None:
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            raise Unresolved(f"unexpected value {v!r}")
        if len(v) == 1:
            (key, arg), = v.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                if attribute != "Arn":
                    raise Unresolved(f"Fn::GetAtt {logical_id}.{attribute}")
                return self.arn(logical_id)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                values = {k: self.value(x) for k, x in variables.items()}
                return _SUB_VAR.sub(lambda m: str(values[m.group(1)] if m.group(1) in values
                                                  else self._sub_var(m.group(1))),
                                    text)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.value(x)) for x in parts)
            if key.startswith("Fn::") or key == "Condition":
                raise Unresolved(f"{key} is not resolved here")
        return {k: self.value(x) for k, x in v.items()}

    def _sub_var(self, name: str) -> str:
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.value({"Fn::GetAtt": [logical_id, attribute]})
        return self.ref(name)


def literal_policy(resolver: Resolver, document: dict) -> dict:
    """A policy document with every intrinsic resolved; raises :class:`Unresolved` on anything left."""
    out = resolver.value(document)
    text = repr(out)
    if "Fn::" in text or "'Ref'" in text or "${" in text:
        raise Unresolved(f"left unresolved in {text[:200]}")
    return out
