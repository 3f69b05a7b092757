"""Rule ``network``: only the load balancer faces the internet."""

from __future__ import annotations

from collections.abc import Iterator

from ..template_walk import Templates, props, resources
from ._base import Rule, Violation


class Network(Rule):
    """Nothing but the load balancer accepts traffic from the internet, and it only on 80 and 443. Every other
    security group admits traffic only from another group (the task from the load balancer's, the file system from
    the task's), so the task and the file system are never reachable from outside even with a public IP address.
    An ingress rule open to ``0.0.0.0/0`` or ``::/0`` is accepted only on a group whose logical id names the load
    balancer, on one port, 80 or 443."""

    id = "network"
    title = "Only the load balancer accepts traffic from the internet"
    source = ('Amazon VPC User Guide, "Security group rules"; Elastic Load Balancing User Guide for Application Load '
              'Balancers, "Security groups for your Application Load Balancer" (restrict the targets\' groups to '
              "accept traffic solely from the load balancer's group)")
    suppression = "none"

    def check(self, templates: Templates) -> Iterator[Violation]:
        for stem, rid, r in resources(templates):
            rules = []
            if r["Type"] == "AWS::EC2::SecurityGroupIngress":
                rules = [(props(r), str(props(r).get("GroupId")))]
            elif r["Type"] == "AWS::EC2::SecurityGroup":
                rules = [(rule, rid) for rule in props(r).get("SecurityGroupIngress", [])]
            for rule, group in rules:
                if rule.get("CidrIp") == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0":
                    if ("LoadBalancer" not in group or rule.get("FromPort") not in (80, 443)
                            or rule.get("FromPort") != rule.get("ToPort")):
                        ports = f"{rule.get('FromPort')}-{rule.get('ToPort')}"
                        yield self.violation(stem, rid, f"open to the internet on {ports}")
