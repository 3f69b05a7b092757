"""The alias record that points the API's domain at the load balancer. Not stateful."""

from __future__ import annotations

from enum import StrEnum

from troposphere import Template, route53

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
