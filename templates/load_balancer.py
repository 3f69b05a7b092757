"""The internet-facing ALB, the app's target group and the listeners. Not stateful.

With a domain: HTTPS on 443 with the certificate and a TLS 1.3 policy, and port 80 answering with a permanent redirect
to HTTPS. Without one (dev): port 80 forwards to the app. The target group registers task IPs (``awsvpc`` tasks need
target type ``ip``) on the app port and checks ``/health``; one task, so a short deregistration delay keeps deploys
quick (the service stops the old task before starting the new one anyway).

Production writes **access logs** to a bucket of this stack (Elastic Load Balancing User Guide for Application Load
Balancers, "Enable access logs for your Application Load Balancer"):

* SSE-S3: "The only server-side encryption option that's supported is Amazon S3-managed keys (SSE-S3)".
* The bucket policy lets the Regional Elastic Load Balancing account write ``AWSLogs/<account>/*``; for Regions
  available before August 2022 (us-west-2 among them) the principal is that Region's ELB account
  (``ELB_LOG_ACCOUNTS``; us-west-2: 797873946194), for newer Regions the service principal
  ``logdelivery.elasticloadbalancing.amazonaws.com``. Requests without TLS are denied.
* A lifecycle expires logs after ``ACCESS_LOG_DAYS``. ``Retain`` with a generated name (stateful list): the ALB
  writes a test object (``ELBAccessLogTestFile``) as soon as logging is on, so a rolled-back create could not delete
  the non-empty bucket anyway; a later stack gets a new bucket, the old one keeps its logs until the lifecycle
  empties it.

No deletion protection on the ALB: it holds no data, production stacks have termination protection and a stack
policy (``apply``), and a protected ALB would make a failed first create impossible to roll back.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import elasticloadbalancing as elb_actions
from awacs.aws import Allow, Bool, Condition, Deny, PolicyDocument, Principal, Statement
from awacs.s3 import Action as S3Action, PutObject
from troposphere import AWSHelperFn, GetAtt, Ref, Sub, Template, elasticloadbalancingv2 as elb, s3

from ._arns import arn
from ._common import new_template, outputs, param, retain, scan_ignore, subnet_ids, tags, vpc_id
from .config import EnvParams, given

COMPONENT = "load-balancer"
HEALTH_CHECK_INTERVAL, HEALTHY_THRESHOLD = 15, 2  # also the deploy outage's last step (service.worst_case_outage)
ACCESS_LOG_DAYS = 90
# Elastic Load Balancing account per Region for access logs, Regions available before August 2022 (ALB User Guide).
ELB_LOG_ACCOUNTS = {"us-west-2": "797873946194"}
ELB_LOG_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"  # Regions available as of August 2022
# The service-linked role Elastic Load Balancing creates on first use in an account: (service principal, role name).
SERVICE_LINKED_ROLES = (("elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing"),)
_NO_DOMAIN = ("this environment has no domain, so no certificate: plain HTTP by design (a domain in params turns on "
              "HTTPS)")


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
    logs = _access_logs(t, p) if p.production else None
    alb = _load_balancer(t, p, logs)
    tg = _target_group(t, p)
    _listeners(t, p, alb, tg)
    url = f"https://{given(p.domain, 'domain').name}" if p.https else Sub("http://${LoadBalancer.DNSName}")
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
    def text(v):
        return v if isinstance(v, AWSHelperFn) else str(v).lower() if isinstance(v, bool) else str(v)

    return [elb.LoadBalancerAttributes(Key=k, Value=text(v)) for k, v in pairs.items()]


def _access_logs(t: Template, p: EnvParams) -> s3.BucketPolicy:
    bucket = t.add_resource(scan_ignore(retain(s3.Bucket(
        "AccessLogsBucket",
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"))]),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="expire-access-logs", Status="Enabled", ExpirationInDays=ACCESS_LOG_DAYS,
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7))]),
        Tags=tags(p, COMPONENT),
    )), {
        "CKV_AWS_18": "this bucket is the access log destination; logging it would log the logger",
        "CKV_AWS_21": "append-only log objects that expire: versions would only keep expired logs longer",
        "S3ObjectVersioningRule": "append-only log objects that expire: versions would only keep expired logs longer",
    }))
    if p.region in ELB_LOG_ACCOUNTS:
        writer = Principal("AWS", f"arn:aws:iam::{ELB_LOG_ACCOUNTS[p.region]}:root")
    else:
        writer = Principal("Service", ELB_LOG_SERVICE)
    objects = Sub("${AccessLogsBucket.Arn}/*")
    return t.add_resource(s3.BucketPolicy(
        "AccessLogsBucketPolicy",
        Bucket=Ref(bucket),
        PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
            Statement(Sid="ElbWritesAccessLogs", Effect=Allow, Principal=writer, Action=[PutObject],
                      Resource=[Sub("${AccessLogsBucket.Arn}/AWSLogs/${AWS::AccountId}/*")]),
            Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("*"), Action=[S3Action("*")],
                      Resource=[GetAtt(bucket, "Arn"), objects],
                      Condition=Condition(Bool("aws:SecureTransport", False))),
        ]),
    ))


def _load_balancer(t: Template, p: EnvParams, logs: s3.BucketPolicy | None) -> elb.LoadBalancer:
    attributes = {
        "idle_timeout.timeout_seconds": p.load_balancer.idle_timeout,
        # Refuse requests with malformed headers instead of passing them to the app (request smuggling).
        "routing.http.drop_invalid_header_fields.enabled": True,
        "routing.http.desync_mitigation_mode": "defensive",
    }
    reasons = {
        "PublicELBCheckerRule": "internet-facing by design: the ALB is how clients reach the API (security stack: "
                                "80/443 in, only the app port out to the task)",
    }
    # No deletion_protection.enabled, on purpose (module docstring); checkov 3.3.30 has no CloudFormation check for it.
    if logs is not None:
        attributes |= {"access_logs.s3.enabled": True, "access_logs.s3.bucket": Ref("AccessLogsBucket")}
    else:
        reasons["CKV_AWS_91"] = "access logs in production only (a log bucket per environment is not worth it in dev)"
    alb = elb.LoadBalancer(
        "LoadBalancer",
        Type="application",
        Scheme="internet-facing",
        IpAddressType="ipv4",
        Subnets=subnet_ids(t, p),
        SecurityGroups=[param(t, In.LoadBalancerSecurityGroupId, "AWS::EC2::SecurityGroup::Id")],
        LoadBalancerAttributes=_attributes(attributes),
        Tags=tags(p, COMPONENT),
    )
    if logs is not None:
        alb.DependsOn = [logs.title]  # ELB checks it may write (the test object) when logging is turned on
    return t.add_resource(scan_ignore(alb, reasons))


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
    certificate = given(p.domain, "domain").certificate_arn or param(t, In.CertificateArn,
                                                                     description="ACM certificate (certificate stack).")
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


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """The ALB, target group and listeners. CloudFormation generates their names (short, not the root's prefix), so
    they are scoped by account, region and resource type. The EC2 reads CreateLoadBalancer makes are the security
    stack's DescribeNetwork (``templates/security.py``)."""
    load_balancers = arn("elasticloadbalancing", "loadbalancer/app/*")
    target_groups = arn("elasticloadbalancing", "targetgroup/*")
    listeners = arn("elasticloadbalancing", "listener/app/*")
    return [
        Statement(
            # Elastic Load Balancing Describe* actions have no resource-level permissions: "*".
            Sid="DescribeLoadBalancing", Effect=Allow,
            Action=[elb_actions.DescribeCapacityReservation, elb_actions.DescribeListenerAttributes,
                    elb_actions.DescribeListeners, elb_actions.DescribeLoadBalancerAttributes,
                    elb_actions.DescribeLoadBalancers, elb_actions.DescribeTags,
                    elb_actions.DescribeTargetGroupAttributes, elb_actions.DescribeTargetGroups,
                    elb_actions.DescribeTargetHealth],
            Resource=["*"],
        ),
        Statement(
            Sid="LoadBalancers", Effect=Allow,
            Action=[elb_actions.CreateListener, elb_actions.CreateLoadBalancer, elb_actions.DeleteLoadBalancer,
                    elb_actions.ModifyCapacityReservation, elb_actions.ModifyIpPools,
                    elb_actions.ModifyLoadBalancerAttributes, elb_actions.SetIpAddressType,
                    elb_actions.SetSecurityGroups, elb_actions.SetSubnets],
            Resource=[load_balancers],
        ),
        Statement(
            Sid="TargetGroups", Effect=Allow,
            Action=[elb_actions.CreateTargetGroup, elb_actions.DeleteTargetGroup, elb_actions.DeregisterTargets,
                    elb_actions.ModifyTargetGroup, elb_actions.ModifyTargetGroupAttributes,
                    elb_actions.RegisterTargets],
            Resource=[target_groups],
        ),
        Statement(
            Sid="Listeners", Effect=Allow,
            Action=[elb_actions.DeleteListener, elb_actions.ModifyListener, elb_actions.ModifyListenerAttributes],
            Resource=[listeners],
        ),
        Statement(
            Sid="LoadBalancingTags", Effect=Allow, Action=[elb_actions.AddTags, elb_actions.RemoveTags],
            Resource=[load_balancers, target_groups, listeners],
        ),
    ]


# AWS::S3::Bucket and AWS::S3::BucketPolicy handler permissions (cfn-lint's schemas) that are IAM actions, less
# DeleteBucket and DeleteObject (checks/execution_role.py WITHHELD: the bucket is Retain). The handlers' API names
# DeleteBucketCors/Encryption/Lifecycle/Replication are authorized by the Put*Configuration actions listed here.
ACCESS_LOG_BUCKET_ACTIONS = (
    "CreateBucket", "CreateBucketMetadataTableConfiguration", "DeleteBucketMetadataTableConfiguration",
    "DeleteBucketPolicy", "DeleteBucketWebsite",
    "GetAccelerateConfiguration", "GetAnalyticsConfiguration", "GetBucketAbac", "GetBucketAcl", "GetBucketCORS",
    "GetBucketLogging", "GetBucketMetadataTableConfiguration", "GetBucketNotification",
    "GetBucketObjectLockConfiguration", "GetBucketOwnershipControls", "GetBucketPolicy", "GetBucketPublicAccessBlock",
    "GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite", "GetEncryptionConfiguration",
    "GetIntelligentTieringConfiguration", "GetInventoryConfiguration", "GetLifecycleConfiguration",
    "GetMetricsConfiguration", "GetReplicationConfiguration", "ListBucket", "ListTagsForResource",
    "PutAccelerateConfiguration", "PutAnalyticsConfiguration", "PutBucketAbac", "PutBucketAcl", "PutBucketCORS",
    "PutBucketLogging", "PutBucketNotification", "PutBucketObjectLockConfiguration", "PutBucketOwnershipControls",
    "PutBucketPolicy", "PutBucketPublicAccessBlock", "PutBucketTagging",
    "PutBucketVersioning", "PutBucketWebsite", "PutEncryptionConfiguration", "PutIntelligentTieringConfiguration",
    "PutInventoryConfiguration", "PutLifecycleConfiguration", "PutMetricsConfiguration", "PutObjectAcl",
    "PutReplicationConfiguration", "TagResource", "UntagResource",
    "UpdateBucketMetadataAnnotationTableConfiguration", "UpdateBucketMetadataInventoryTableConfiguration",
    "UpdateBucketMetadataJournalTableConfiguration",
)


def access_log_statements(p: EnvParams) -> list[Statement]:
    """Production's access log bucket. CloudFormation generates its name from the nested stack's name, lower case:
    ``<root>-loadbalancerstack-<id>-accesslogsbucket-<id>`` (cut to 63 characters)."""
    if not p.production:
        return []
    bucket = f"{p.stack_name.lower()}-*"
    return [Statement(
        Sid="AccessLogBucket", Effect=Allow, Action=[S3Action(a) for a in ACCESS_LOG_BUCKET_ACTIONS],
        Resource=[arn("s3", bucket, region=False, account=False),
                  arn("s3", f"{bucket}/*", region=False, account=False)],
    )]
