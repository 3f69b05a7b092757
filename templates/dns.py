"""The alias record that points the API's domain at the load balancer. Not stateful."""

from __future__ import annotations

from enum import StrEnum

from awacs import route53 as route53_actions
from awacs.aws import Allow, Condition, ForAllValuesStringLike, Statement
from troposphere import Template, route53

from ._arns import arn
from ._common import new_template, outputs, param
from .config import EnvParams, given

COMPONENT = "dns"


class In(StrEnum):
    LoadBalancerDnsName = "LoadBalancerDnsName"
    LoadBalancerCanonicalHostedZoneId = "LoadBalancerCanonicalHostedZoneId"


class Out(StrEnum):
    ServiceDomainName = "ServiceDomainName"


def enabled(p: EnvParams) -> bool:
    return p.domain is not None


def build(p: EnvParams) -> Template:
    domain = given(p.domain, "domain")
    t = new_template(p, f"Route 53 alias {domain.name} -> ALB")
    t.add_resource(route53.RecordSetType(
        "AliasRecord",
        HostedZoneId=domain.hosted_zone_id,
        Name=f"{domain.name}.",
        Type="A",
        AliasTarget=route53.AliasTarget(
            DNSName=param(t, In.LoadBalancerDnsName, description="DNS name of the ALB."),
            HostedZoneId=param(t, In.LoadBalancerCanonicalHostedZoneId, description="The ALB's canonical hosted zone."),
            EvaluateTargetHealth=True,
        ),
    ))
    outputs(t, {Out.ServiceDomainName: domain.name})
    return t


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """The alias record and the certificate's validation record (``templates/certificate.py``: CloudFormation writes
    it under this role), in the one hosted zone, under the API's name."""
    if not enabled(p):
        return []
    domain = given(p.domain, "domain")
    zone = arn("route53", f"hostedzone/{domain.hosted_zone_id}", region=False, account=False)
    name = domain.name.lower()
    return [
        Statement(
            Sid="ApiRecords", Effect=Allow, Action=[route53_actions.ChangeResourceRecordSets], Resource=[zone],
            # Route 53 Developer Guide, "Using IAM policy conditions for fine-grained access control": normalized
            # names are lower case without the trailing dot. "_*.<name>" is ACM's validation CNAME.
            Condition=Condition(ForAllValuesStringLike(
                "route53:ChangeResourceRecordSetsNormalizedRecordNames", [name, f"_*.{name}"])),
        ),
        Statement(
            Sid="ReadZone", Effect=Allow,
            Action=[route53_actions.GetHostedZone, route53_actions.ListResourceRecordSets], Resource=[zone],
        ),
        Statement(
            Sid="WaitForChanges", Effect=Allow, Action=[route53_actions.GetChange],
            Resource=[arn("route53", "change/*", region=False, account=False)],
        ),
        Statement(
            # ListHostedZones has no resource-level permission: "*".
            Sid="ListZones", Effect=Allow, Action=[route53_actions.ListHostedZones], Resource=["*"],
        ),
    ]
