"""The ACM certificate for the API's domain, validated through DNS records in the Route 53 hosted zone.

A stack of its own, before the load balancer (which needs the certificate ARN) and apart from the dns stack (whose
alias record needs the load balancer): one "dns/certificate" stack would make a cycle. Skipped when params give an
existing ``certificate_arn``. Not stateful: a new certificate is free and validates by itself.
"""

from __future__ import annotations

from enum import StrEnum

from troposphere import Ref, Template, certificatemanager as acm

from ._common import new_template, outputs, tags
from .config import EnvParams, given

COMPONENT = "certificate"


class In(StrEnum):
    pass


class Out(StrEnum):
    CertificateArn = "CertificateArn"


def enabled(p: EnvParams) -> bool:
    return p.domain is not None and p.domain.certificate_arn is None


def build(p: EnvParams) -> Template:
    domain = given(p.domain, "domain")
    t = new_template(p, f"ACM certificate for {domain.name}, DNS-validated in Route 53")
    cert = t.add_resource(acm.Certificate(
        "Certificate",
        DomainName=domain.name,
        ValidationMethod="DNS",
        # With HostedZoneId, CloudFormation writes the validation CNAME itself and waits for ISSUED.
        DomainValidationOptions=[acm.DomainValidationOption(DomainName=domain.name,
                                                            HostedZoneId=domain.hosted_zone_id)],
        Tags=tags(p, COMPONENT),
    ))
    outputs(t, {Out.CertificateArn: Ref(cert)})
    return t
