"""Rule ``retry``: a failed first create can be retried."""

from __future__ import annotations

from collections.abc import Iterator

from ..template_walk import Templates, props, resources
from ._base import Rule, Violation
from .stateful import RETAINING

# Resource type -> the property that gives it a fixed physical name. A retained leftover with a fixed name blocks the
# retry of a failed first create (CloudFormation: "... already exists"); one with a generated name does not.
NAME_PROPERTY = {
    "AWS::SecretsManager::Secret": "Name",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::Backup::BackupVault": "BackupVaultName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::S3::Bucket": "BucketName",
}
REASON_KEY = "deletion-policy-reason"  # Metadata.wwhd-infra.<this>, written by templates/_common.py retain(reason=)


class Retry(Rule):
    """A failed first create can be retried. A retained resource with a fixed name is ``RetainExceptOnCreate``: a
    rolled-back create deletes it, where a ``Retain`` leftover would keep its name and make the retry fail with
    "already exists". One without a fixed name stays ``Retain``: its leftover does not block the retry, and a create
    that got as far as starting the service may already have written data to it."""

    id = "retry"
    title = "A retained resource lets a failed first create be retried"
    source = ('AWS CloudFormation Template Reference, "DeletionPolicy attribute" (RetainExceptOnCreate: deleted '
              "when the stack operation that created it rolls back)")
    suppression = ("``Metadata.wwhd-infra.deletion-policy-reason`` on the resource, with the reason "
                   "(``retain(resource, reason=...)`` in ``templates/_common.py`` writes it)")

    def check(self, templates: Templates) -> Iterator[Violation]:
        for stem, rid, r in resources(templates):
            policy = r.get("DeletionPolicy")
            if policy not in RETAINING:
                continue
            named = bool(props(r).get(NAME_PROPERTY.get(r["Type"], ""), None))
            reason = (r.get("Metadata") or {}).get("wwhd-infra", {}).get(REASON_KEY)
            if named and policy == "Retain" and not reason:
                yield self.violation(stem, rid, f"fixed {NAME_PROPERTY[r['Type']]}: a leftover of a rolled-back first "
                                     "create blocks the retry; use RetainExceptOnCreate, or give the reason "
                                     "(retain(..., reason=))")
            if not named and policy == "RetainExceptOnCreate" and not reason:
                yield self.violation(stem, rid, "no fixed name: keep Retain (a rolled-back create may already have "
                                     "written data to it, and its leftover does not block a retry)")
