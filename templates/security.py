"""All security groups and their rules, in one stack so that groups can name each other without stack cycles.

Traffic allowed, and nothing else:

    internet --80/443--> ALB --8000--> task (app container) --2049--> EFS mount targets
    task --443--> AWS APIs, ECR, Docker Hub, OpenAI

Departures from the seed (README "Differences from the seed"): port 8000 is open to the ALB's group only, not
0.0.0.0/0; there is no 6333 rule, because both containers share the task's network namespace (awsvpc) and talk over
localhost, which security groups never see. Rules are separate resources so groups can reference each other. Not
stateful.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import ec2 as ec2_actions
from awacs.aws import Allow, Statement
from troposphere import GetAtt, Template, ec2

from ._arns import ec2_arns, in_existing_vpc, vpc_arn
from ._common import new_template, outputs, scan_ignore, tags, vpc_id
from .config import EnvParams

COMPONENT = "security"
NFS_PORT = 2049

# Scanner findings accepted, with the reason each resource carries (templates/_common.scan_ignore).
_EGRESS_SEPARATE = ("egress is declared by separate AWS::EC2::SecurityGroupEgress resources in this template (they "
                    "replace the default allow-all); cfripper reads inline rules only")
_PUBLIC = ("the internet-facing ALB is the public entry point; only the ALB's group is open, the tasks accept the "
           "ALB only")
_PUBLIC_ALB_443 = {"EC2SecurityGroupIngressOpenToWorldRule": _PUBLIC}
_PUBLIC_ALB_80 = {**_PUBLIC_ALB_443, "CKV_AWS_260": _PUBLIC + "; with HTTPS, port 80 only redirects to 443"}


class In(StrEnum):
    VpcId = "VpcId"


class Out(StrEnum):
    LoadBalancerSecurityGroupId = "LoadBalancerSecurityGroupId"
    AppSecurityGroupId = "AppSecurityGroupId"
    FileSystemSecurityGroupId = "FileSystemSecurityGroupId"


def build(p: EnvParams) -> Template:
    t = new_template(p, "security groups: internet -> ALB -> task -> EFS")
    vpc = vpc_id(t, p)
    alb = _group(t, p, vpc, "LoadBalancerSecurityGroup", "ALB: HTTP(S) from the internet")
    app = _group(t, p, vpc, "AppSecurityGroup", "ECS task: app port from the ALB only")
    efs = _group(t, p, vpc, "FileSystemSecurityGroup", "EFS mount targets: NFS from the task only")
    _load_balancer_rules(t, p, alb, app)
    _app_rules(t, p, alb, app, efs)
    _file_system_rules(t, app, efs)
    outputs(t, {
        Out.LoadBalancerSecurityGroupId: GetAtt(alb, "GroupId"),
        Out.AppSecurityGroupId: GetAtt(app, "GroupId"),
        Out.FileSystemSecurityGroupId: GetAtt(efs, "GroupId"),
    })
    return t


def _group(t: Template, p: EnvParams, vpc, title: str, description: str) -> ec2.SecurityGroup:
    # A group with no egress rule of ours gets AWS's default allow-all egress; each group below declares its egress,
    # which replaces that default.
    return t.add_resource(scan_ignore(ec2.SecurityGroup(
        title, GroupDescription=f"{p.stack_name} {description}", VpcId=vpc,
        Tags=tags(p, COMPONENT, f"{p.stack_name}-{title.removesuffix('SecurityGroup').lower()}"),
    ), {"EC2SecurityGroupMissingEgressRule": _EGRESS_SEPARATE}))


def _load_balancer_rules(t: Template, p: EnvParams, alb, app) -> None:
    ports = [443, 80] if p.https else [80]  # 80 stays open with HTTPS: it only redirects to 443
    for port in ports:
        for i, cidr in enumerate(p.load_balancer.ingress_cidrs):
            suffix = "" if i == 0 else str(i + 1)
            rule = t.add_resource(ec2.SecurityGroupIngress(
                f"LoadBalancerIngress{port}{suffix}", GroupId=GetAtt(alb, "GroupId"), IpProtocol="tcp",
                FromPort=port, ToPort=port, CidrIp=cidr, Description=f"HTTP{'S' if port == 443 else ''} from {cidr}",
            ))
            if cidr == "0.0.0.0/0":
                scan_ignore(rule, _PUBLIC_ALB_80 if port == 80 else _PUBLIC_ALB_443)
    t.add_resource(ec2.SecurityGroupEgress(
        "LoadBalancerEgressApp", GroupId=GetAtt(alb, "GroupId"), IpProtocol="tcp",
        FromPort=p.containers.app.port, ToPort=p.containers.app.port, DestinationSecurityGroupId=GetAtt(app, "GroupId"),
        Description="To the app container (targets and health checks)",
    ))


def _app_rules(t: Template, p: EnvParams, alb, app, efs) -> None:
    port = p.containers.app.port
    t.add_resource(ec2.SecurityGroupIngress(
        "AppIngressLoadBalancer", GroupId=GetAtt(app, "GroupId"), IpProtocol="tcp", FromPort=port, ToPort=port,
        SourceSecurityGroupId=GetAtt(alb, "GroupId"),
        Description="App port from the ALB only",
    ))
    t.add_resource(ec2.SecurityGroupEgress(
        "AppEgressHttps", GroupId=GetAtt(app, "GroupId"), IpProtocol="tcp", FromPort=443, ToPort=443,
        CidrIp="0.0.0.0/0",
        Description="HTTPS to AWS APIs (ECR, Secrets Manager, Logs), Docker Hub and OpenAI; no VPC endpoints",
    ))
    t.add_resource(ec2.SecurityGroupEgress(
        "AppEgressNfs", GroupId=GetAtt(app, "GroupId"), IpProtocol="tcp", FromPort=NFS_PORT, ToPort=NFS_PORT,
        DestinationSecurityGroupId=GetAtt(efs, "GroupId"), Description="NFS to the EFS mount targets",
    ))


def _file_system_rules(t: Template, app, efs) -> None:
    t.add_resource(ec2.SecurityGroupIngress(
        "FileSystemIngressApp", GroupId=GetAtt(efs, "GroupId"), IpProtocol="tcp", FromPort=NFS_PORT, ToPort=NFS_PORT,
        SourceSecurityGroupId=GetAtt(app, "GroupId"), Description="NFS from the ECS task only",
    ))
    # Mount targets never open connections; replace the default allow-all egress with a rule that matches nothing.
    t.add_resource(ec2.SecurityGroupEgress(
        "FileSystemEgressNone", GroupId=GetAtt(efs, "GroupId"), IpProtocol="icmp", FromPort=252, ToPort=86,
        CidrIp="255.255.255.255/32", Description="No egress (placeholder rule replaces the default allow-all)",
    ))


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """The EC2 reads every network resource needs, and the security groups and their rules.

    EC2 ids are random, so EC2 resources are scoped by account, region and type; with an existing VPC, security
    group changes are pinned to it by ``ec2:Vpc``. Tagging the groups is the network's tag statement
    (``templates/network.py``), which covers every EC2 type the environment creates.
    """
    vpc = ec2_arns("vpc") if p.network.creates_vpc else [vpc_arn(p)]
    return [
        Statement(
            # EC2 Describe* actions have no resource-level permissions: "*". DescribeAvailabilityZones is Fn::GetAZs.
            Sid="DescribeNetwork", Effect=Allow,
            Action=[
                # DescribeAccountAttributes, DescribeAddresses: ELB CreateLoadBalancer calls these
                ec2_actions.DescribeAccountAttributes, ec2_actions.DescribeAddresses,
                ec2_actions.DescribeAvailabilityZones, ec2_actions.DescribeInstances,
                ec2_actions.DescribeInternetGateways, ec2_actions.DescribeIpamPools, ec2_actions.DescribeNetworkAcls,
                ec2_actions.DescribeNetworkInterfaceAttribute, ec2_actions.DescribeNetworkInterfaces,
                ec2_actions.DescribeRouteTables, ec2_actions.DescribeSecurityGroupRules,
                ec2_actions.DescribeSecurityGroups, ec2_actions.DescribeSubnets, ec2_actions.DescribeVpcs,
                ec2_actions.DescribeVpnGateways,
            ],
            Resource=["*"],
        ),
        Statement(
            Sid="CreateSecurityGroups", Effect=Allow, Action=[ec2_actions.CreateSecurityGroup],
            Resource=vpc + ec2_arns("security-group"),
        ),
        Statement(
            Sid="SecurityGroupRules", Effect=Allow,
            Action=[
                ec2_actions.AuthorizeSecurityGroupEgress, ec2_actions.AuthorizeSecurityGroupIngress,
                ec2_actions.DeleteSecurityGroup, ec2_actions.RevokeSecurityGroupEgress,
                ec2_actions.RevokeSecurityGroupIngress, ec2_actions.UpdateSecurityGroupRuleDescriptionsEgress,
                ec2_actions.UpdateSecurityGroupRuleDescriptionsIngress,
            ],
            Resource=ec2_arns("security-group"),
            **in_existing_vpc(p),
        ),
        Statement(
            # the optional security-group-rule resource of Authorize* (tags on new rules), outside the ec2:Vpc pin
            Sid="SecurityGroupRuleResources", Effect=Allow,
            Action=[ec2_actions.AuthorizeSecurityGroupEgress, ec2_actions.AuthorizeSecurityGroupIngress],
            Resource=ec2_arns("security-group-rule"),
        ),
    ]
