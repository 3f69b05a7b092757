"""The ACM certificate for the API's domain, validated through DNS records in the Route 53 hosted zone.

A stack of its own, before the load balancer (which needs the certificate ARN) and apart from the dns stack (whose
alias record needs the load balancer): one "dns/certificate" stack would make a cycle. Skipped when params give an
existing ``certificate_arn``. Not stateful: a new certificate is free and validates by itself.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import acm as acm_actions
from awacs.aws import Allow, Condition, ForAllValuesStringEquals, Statement, StringEquals
from troposphere import Ref, Template, certificatemanager as acm

from ._arns import arn
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


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """Requesting the certificate, pinned to the domain and DNS validation (ACM User Guide, "Use condition keys with
    ACM"), and managing certificates by ARN (their ids are random)."""
    if not enabled(p):
        return []
    domain = given(p.domain, "domain")
    certificates = arn("acm", "certificate/*")  # certificate ids are random
    return [
        Statement(
            # RequestCertificate has no resource-level permission: "*", pinned to our name and DNS validation.
            Sid="RequestCertificate", Effect=Allow, Action=[acm_actions.RequestCertificate], Resource=["*"],
            Condition=Condition([
                ForAllValuesStringEquals("acm:DomainNames", [domain.name]),
                StringEquals("acm:ValidationMethod", "DNS"),
            ]),
        ),
        Statement(
            Sid="Certificates", Effect=Allow,
            Action=[acm_actions.AddTagsToCertificate, acm_actions.DeleteCertificate, acm_actions.DescribeCertificate,
                    acm_actions.ListTagsForCertificate, acm_actions.RemoveTagsFromCertificate,
                    acm_actions.UpdateCertificateOptions],
            Resource=[certificates],
        ),
    ]
