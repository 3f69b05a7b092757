"""Rule ``encryption``: data encrypted at rest and in transit."""

from __future__ import annotations

from collections.abc import Iterator

from ..template_walk import Templates, props, resources
from ._base import Rule, Violation


class Encryption(Rule):
    """Data is encrypted at rest and in transit: the EFS file system is encrypted (the choice is made at creation
    and cannot be changed later), every EFS volume of a task mounts with TLS (``TransitEncryption`` ENABLED), and
    where the load balancer has an HTTPS listener, its HTTP listener only redirects (it never serves the API in
    clear text)."""

    id = "encryption"
    title = "Data is encrypted at rest and in transit"
    source = ('Amazon EFS User Guide, "Encrypting data at rest" and "Encrypting data in transit"; AWS CloudFormation '
              'Template Reference, "AWS::ECS::TaskDefinition EFSVolumeConfiguration" (TransitEncryption); Elastic '
              'Load Balancing User Guide for Application Load Balancers, "Listener rules" (redirect actions)')
    suppression = "none"

    def check(self, templates: Templates) -> Iterator[Violation]:
        for stem, rid, r in resources(templates, "AWS::EFS::FileSystem"):
            if props(r).get("Encrypted") is not True:
                yield self.violation(stem, rid, "EFS must be encrypted at rest")
        for stem, rid, r in resources(templates, "AWS::ECS::TaskDefinition"):
            for v in props(r).get("Volumes", []):
                efs = v.get("EFSVolumeConfiguration")
                if efs and efs.get("TransitEncryption") != "ENABLED":
                    yield self.violation(stem, rid, f"volume {v.get('Name')}: EFS transit encryption must be ENABLED")
        for stem, rid, r in resources(templates, "AWS::ElasticLoadBalancingV2::Listener"):
            p = props(r)
            actions = p.get("DefaultActions", [])
            if (p.get("Protocol") == "HTTP" and _has_https_listener(templates[stem])
                    and any(a.get("Type") != "redirect" for a in actions)):
                yield self.violation(stem, rid, "with an HTTPS listener, HTTP must only redirect")


def _has_https_listener(t: dict) -> bool:
    listeners = resources({"": t}, "AWS::ElasticLoadBalancingV2::Listener")
    return any(props(r).get("Protocol") == "HTTPS" for _, _, r in listeners)
