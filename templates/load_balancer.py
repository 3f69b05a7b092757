"""The internet-facing ALB, the app's target group and the listeners. Not stateful.

With a domain: HTTPS on 443 with the certificate and a TLS 1.3 policy, and port 80 answering with a permanent redirect
to HTTPS. Without one (dev): port 80 forwards to the app. The target group registers task IPs (``awsvpc`` tasks need
target type ``ip``) on the app port and checks ``/health``; one task, so a short deregistration delay keeps deploys
quick (the service stops the old task before starting the new one anyway).
"""

from __future__ import annotations

from enum import StrEnum

from troposphere import GetAtt, Ref, Sub, Template, elasticloadbalancingv2 as elb

from ._common import new_template, outputs, param, scan_ignore, subnet_ids, tags, vpc_id
from .config import EnvParams

COMPONENT = "load-balancer"
HEALTH_CHECK_INTERVAL, HEALTHY_THRESHOLD = 15, 2  # also the deploy outage's last step (service.worst_case_outage)
_NO_DOMAIN = "this environment has no domain, so no certificate: plain HTTP by design (a domain in params turns on HTTPS)"


class In(StrEnum):
    LoadBalancerSecurityGroupId = "LoadBalancerSecurityGroupId"
    CertificateArn = "CertificateArn"
    VpcId = "VpcId"
    SubnetIds = "SubnetIds"


class Out(StrEnum):
    LoadBalancerArn = "LoadBalancerArn"
    LoadBalancerDnsName = "LoadBalancerDnsName"
    LoadBalancerCanonicalHostedZoneId = "LoadBalancerCanonicalHostedZoneId"
    LoadBalancerFullName = "LoadBalancerFullName"
    TargetGroupArn = "TargetGroupArn"
    TargetGroupFullName = "TargetGroupFullName"
    ServiceUrl = "ServiceUrl"


def build(p: EnvParams) -> Template:
    t = new_template(p, "internet-facing ALB, target group and listeners" + (" (HTTPS)" if p.https else " (HTTP)"))
    alb = _load_balancer(t, p)
    tg = _target_group(t, p)
    _listeners(t, p, alb, tg)
    url = f"https://{p.domain.name}" if p.https else Sub("http://${LoadBalancer.DNSName}")
    outputs(t, {
        Out.LoadBalancerArn: Ref(alb),
        Out.LoadBalancerDnsName: GetAtt(alb, "DNSName"),
        Out.LoadBalancerCanonicalHostedZoneId: GetAtt(alb, "CanonicalHostedZoneID"),
        Out.LoadBalancerFullName: GetAtt(alb, "LoadBalancerFullName"),
        Out.TargetGroupArn: Ref(tg),
        Out.TargetGroupFullName: GetAtt(tg, "TargetGroupFullName"),
        Out.ServiceUrl: url,
    })
    return t


def _attributes(pairs: dict[str, object]) -> list:
    return [elb.LoadBalancerAttributes(Key=k, Value=str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in pairs.items()]


def _load_balancer(t: Template, p: EnvParams) -> elb.LoadBalancer:
    return t.add_resource(scan_ignore(elb.LoadBalancer(
        "LoadBalancer",
        Type="application",
        Scheme="internet-facing",
        IpAddressType="ipv4",
        Subnets=subnet_ids(t, p),
        SecurityGroups=[param(t, In.LoadBalancerSecurityGroupId, "AWS::EC2::SecurityGroup::Id")],
        LoadBalancerAttributes=_attributes({
            "idle_timeout.timeout_seconds": p.load_balancer.idle_timeout,
            # Refuse requests with malformed headers instead of passing them to the app (request smuggling).
            "routing.http.drop_invalid_header_fields.enabled": True,
            "routing.http.desync_mitigation_mode": "defensive",
        }),
        Tags=tags(p, COMPONENT),
    ), {
        "PublicELBCheckerRule": "internet-facing by design: the ALB is how clients reach the API (security stack: "
                                "80/443 in, only the app port out to the task)",
        "CKV_AWS_91": "not yet: access logs need an S3 bucket (SSE-S3 only) with a policy for the ELB log delivery "
                      "account, a lifecycle and CI role permissions; until then ALB metrics and app logs are the record",
    }))


def _target_group(t: Template, p: EnvParams) -> elb.TargetGroup:
    app = p.containers.app
    return t.add_resource(elb.TargetGroup(
        "TargetGroup",
        TargetType="ip",
        Protocol="HTTP",
        Port=app.port,
        VpcId=vpc_id(t, p),
        HealthCheckEnabled=True,
        HealthCheckProtocol="HTTP",
        HealthCheckPath=app.health_check_path,
        HealthCheckIntervalSeconds=HEALTH_CHECK_INTERVAL,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=HEALTHY_THRESHOLD,
        UnhealthyThresholdCount=3,
        Matcher=elb.Matcher(HttpCode="200"),
        TargetGroupAttributes=[
            elb.TargetGroupAttribute(Key="deregistration_delay.timeout_seconds",
                                     Value=str(p.load_balancer.deregistration_delay)),
        ],
        Tags=tags(p, COMPONENT),
    ))


def _listeners(t: Template, p: EnvParams, alb: elb.LoadBalancer, tg: elb.TargetGroup) -> None:
    forward = [elb.Action(Type="forward", TargetGroupArn=Ref(tg))]
    if not p.https:
        t.add_resource(scan_ignore(elb.Listener(
            "HttpListener", LoadBalancerArn=Ref(alb), Port=80, Protocol="HTTP", DefaultActions=forward,
            Tags=tags(p, COMPONENT),
        ), {rule: _NO_DOMAIN for rule in ("CKV_AWS_2", "CKV_AWS_103")}))
        return
    certificate = p.domain.certificate_arn or param(t, In.CertificateArn, description="ACM certificate (certificate stack).")
    t.add_resource(elb.Listener(
        "HttpsListener", LoadBalancerArn=Ref(alb), Port=443, Protocol="HTTPS", SslPolicy=p.load_balancer.ssl_policy,
        Certificates=[elb.Certificate(CertificateArn=certificate)], DefaultActions=forward, Tags=tags(p, COMPONENT),
    ))
    t.add_resource(elb.Listener(
        "HttpListener", LoadBalancerArn=Ref(alb), Port=80, Protocol="HTTP",
        DefaultActions=[elb.Action(Type="redirect", RedirectConfig=elb.RedirectConfig(
            Protocol="HTTPS", Port="443", Host="#{host}", Path="/#{path}", Query="#{query}", StatusCode="HTTP_301"))],
        Tags=tags(p, COMPONENT),
    ))
