"""The VPC of an environment that creates its own (dev): public subnets in two or three AZs, no NAT gateway.

Why public subnets only: a Fargate task with a public IP reaches ECR, Secrets Manager, CloudWatch Logs and Docker Hub
through the internet gateway, which costs nothing, where a NAT gateway costs about $32 a month per AZ, half the seed's
whole budget. Nothing can reach the task through its public IP: the app security group accepts port 8000 from the
ALB's security group only. Not stateful.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import ec2 as ec2_actions
from awacs.aws import Allow, Statement
from troposphere import GetAZs, Ref, Select, Template, ec2

from ._arns import ec2_arns
from ._common import join_ids, new_template, outputs, subnet_keys, tags
from .config import EnvParams, given

COMPONENT = "network"


class In(StrEnum):
    pass


class Out(StrEnum):
    VpcId = "VpcId"
    SubnetIds = "SubnetIds"


def enabled(p: EnvParams) -> bool:
    return p.network.creates_vpc


def build(p: EnvParams) -> Template:
    t = new_template(p, "VPC with public subnets for the ALB, the task and the EFS mount targets")
    vpc, route_table = _vpc(t, p)
    subnets = _subnets(t, p, vpc, route_table)
    outputs(t, {Out.VpcId: Ref(vpc), Out.SubnetIds: join_ids(Ref(s) for s in subnets)})
    return t


def _vpc(t: Template, p: EnvParams) -> tuple[ec2.VPC, ec2.RouteTable]:
    vpc = t.add_resource(ec2.VPC(
        "Vpc", CidrBlock=given(p.network.create, "network.create").cidr, EnableDnsHostnames=True, EnableDnsSupport=True,
        Tags=tags(p, COMPONENT, p.stack_name),
    ))
    igw = t.add_resource(ec2.InternetGateway("InternetGateway", Tags=tags(p, COMPONENT)))
    attach = t.add_resource(ec2.VPCGatewayAttachment("GatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw)))
    route_table = t.add_resource(ec2.RouteTable("PublicRouteTable", VpcId=Ref(vpc), Tags=tags(p, COMPONENT)))
    t.add_resource(ec2.Route(
        "DefaultRoute", RouteTableId=Ref(route_table), DestinationCidrBlock="0.0.0.0/0", GatewayId=Ref(igw),
        DependsOn=attach.title,  # a route to a gateway not yet attached fails
    ))
    return vpc, route_table


def _subnets(t: Template, p: EnvParams, vpc: ec2.VPC, route_table: ec2.RouteTable) -> list[ec2.Subnet]:
    subnets = []
    for i, (key, cidr) in enumerate(zip(subnet_keys(p), given(p.network.create, "network.create").subnet_cidrs(),
                                        strict=True)):
        subnet = t.add_resource(ec2.Subnet(
            f"PublicSubnet{key}", VpcId=Ref(vpc), CidrBlock=cidr, AvailabilityZone=Select(i, GetAZs("")),
            # Tasks ask for a public IP explicitly (AssignPublicIp); nothing else should get one by default.
            MapPublicIpOnLaunch=False,
            Tags=tags(p, COMPONENT, f"{p.stack_name}-public-{key.lower()}"),
        ))
        t.add_resource(ec2.SubnetRouteTableAssociation(
            f"PublicSubnet{key}RouteTable", SubnetId=Ref(subnet), RouteTableId=Ref(route_table)))
        subnets.append(subnet)
    return subnets


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """The VPC, subnets, gateway and routes when the environment creates them (this stack is ``enabled``), and the
    tags of every EC2 resource the environment creates: these and, in every environment, the security stack's groups
    (so this tag statement is there with or without this stack)."""
    statements = []
    tagged = ["security-group"]
    if enabled(p):
        tagged = ["internet-gateway", "route-table", "security-group", "subnet", "vpc"]
        statements.append(Statement(
            Sid="OwnVpc", Effect=Allow,
            Action=[
                ec2_actions.AssociateRouteTable, ec2_actions.AttachInternetGateway,
                ec2_actions.CreateInternetGateway, ec2_actions.CreateRoute, ec2_actions.CreateRouteTable,
                ec2_actions.CreateSubnet, ec2_actions.CreateVpc, ec2_actions.DeleteInternetGateway,
                ec2_actions.DeleteRoute, ec2_actions.DeleteRouteTable, ec2_actions.DeleteSubnet,
                ec2_actions.DeleteVpc, ec2_actions.DescribeVpcAttribute, ec2_actions.DetachInternetGateway,
                ec2_actions.DisassociateRouteTable, ec2_actions.ModifySubnetAttribute,
                ec2_actions.ModifyVpcAttribute, ec2_actions.ReplaceRoute, ec2_actions.ReplaceRouteTableAssociation,
                # the rest of the VPC, subnet and gateway attachment handlers (cfn-lint's schemas)
                ec2_actions.Action("AssociateSubnetCidrBlock"), ec2_actions.Action("AttachVpnGateway"),
                ec2_actions.Action("CreateVpcEncryptionControl"), ec2_actions.Action("DescribeVpcEncryptionControls"),
                ec2_actions.Action("DetachVpnGateway"), ec2_actions.Action("DisassociateSubnetCidrBlock"),
                ec2_actions.Action("ModifyVpcTenancy"),
            ],
            Resource=ec2_arns("internet-gateway", "ipam-pool", "route-table", "subnet", "vpc",
                              "vpc-encryption-control", "vpn-gateway"),
        ))
    statements.append(Statement(
        Sid="TagNetwork", Effect=Allow, Action=[ec2_actions.CreateTags, ec2_actions.DeleteTags],
        Resource=ec2_arns(*tagged),
    ))
    return statements
