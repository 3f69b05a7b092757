"""Rule ``single-writer``: one task at most on the shared EFS data."""

from __future__ import annotations

from collections.abc import Iterator

from ..template_walk import Templates, props, resources
from ._base import Rule, Violation


class SingleWriter(Rule):
    """The ECS service can never run two tasks on the shared EFS data. The task writes one SQLite file and the Qdrant
    storage, neither made for two writers over NFS: so at most one task (``DesiredCount`` 0 or 1, also as the
    parameter's allowed values), a rolling update that stops the old task before starting the new one
    (``MaximumPercent`` 100; ECS's default of 200 starts the new task first), a fixed ``ServiceName`` (a service
    that CloudFormation can replace would run beside its replacement) and no auto scaling of the service."""

    id = "single-writer"
    title = "At most one task writes the shared EFS data"
    source = ('AWS CloudFormation Template Reference, "AWS::ECS::Service DeploymentConfiguration" (MaximumPercent: '
              "the upper limit of RUNNING or PENDING tasks during a rolling update, default 200) and "
              '"AWS::ECS::Service" (ServiceName: "Update requires: Replacement")')
    suppression = "none"

    def check(self, templates: Templates) -> Iterator[Violation]:
        for stem, rid, r in resources(templates, "AWS::ECS::Service"):
            p = props(r)
            dc = p.get("DeploymentConfiguration", {})
            if dc.get("MaximumPercent", 200) > 100:
                yield self.violation(stem, rid, "MaximumPercent above 100 starts the new task before the old stops")
            count = p.get("DesiredCount")
            if isinstance(count, dict) and "Ref" in count:
                allowed = templates[stem].get("Parameters", {}).get(count["Ref"], {}).get("AllowedValues")
                if not allowed or any(int(v) > 1 for v in allowed):
                    yield self.violation(stem, rid, f"DesiredCount parameter {count['Ref']} must allow only 0 or 1")
            elif not isinstance(count, int) or count > 1:
                yield self.violation(stem, rid, "DesiredCount must be 0 or 1")
            if not p.get("ServiceName"):
                yield self.violation(stem, rid, "a service without a fixed name can be replaced (two services at once)")
        for stem, rid, r in resources(templates, "AWS::ApplicationAutoScaling::ScalableTarget"):
            if props(r).get("ServiceNamespace") == "ecs":
                yield self.violation(stem, rid, "no auto scaling of the single-writer service")
