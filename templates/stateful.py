"""The committed list of stateful logical ids: the resources whose replacement or deletion loses data.

Deletion policies (checked by ``checks/guardrails.py``): a stateful resource with a fixed physical name (secret, ECR
repository, backup vault) is ``RetainExceptOnCreate``, so a rolled-back first create removes it and the retry does
not fail on its name; one without (file system, access points) is ``Retain``, also on a rolled-back create. Both keep
``UpdateReplacePolicy: Retain``.

Logical ids are an API: renaming one makes CloudFormation create a new resource and drop the old (retained, but
orphaned, and the app would start on an empty file system). ``tests/test_policy.py`` fails when a rendered template's
retained resources differ from this list, so changing either needs changing both, on purpose. The deploy stage uses
the same list to stop a change set that would replace or delete one of them, and to write the prod stack policy.
"""

from __future__ import annotations

# nested stack logical id -> logical ids of its stateful resources (present when the stack and resource exist)
STATEFUL: dict[str, tuple[str, ...]] = {
    "StorageStack": ("AppAccessPoint", "BackupVault", "FileSystem", "QdrantAccessPoint"),
    "SecretsStack": ("JwtSecretSecret", "OpenaiApiKeySecret"),
    "ClusterStack": ("Repository",),
    "LoadBalancerStack": ("AccessLogsBucket",),  # prod's ALB access logs
}

# Retained although they hold no data of ours: the resources ``plan --adopt`` may import by their fixed names (the
# seed's cluster and log group; CloudFormation imports only resources whose DeletionPolicy is Retain or
# RetainExceptOnCreate). Production environments only (templates/cluster.py).
ADOPTABLE: dict[str, tuple[str, ...]] = {"ClusterStack": ("Cluster", "LogGroup")}

# The resources a stack policy must never let CloudFormation replace or delete (their loss loses data immediately).
PROTECTED: dict[str, tuple[str, ...]] = {"StorageStack": ("AppAccessPoint", "FileSystem", "QdrantAccessPoint")}

