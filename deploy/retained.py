"""What survives ``destroy`` (resources whose DeletionPolicy is Retain, found in the deployed templates), and what a
rolled-back first create left behind.

Why the deployed templates and not a fresh render: what CloudFormation will keep is decided by the templates it
holds now, which may be older than the working tree. For each kept resource we print how to remove it by hand,
because deleting data must stay a deliberate, separate act.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from .aws import Aws, aws_errors
from .errors import Shell, aws_cli
from .stacks import STACK_TYPE, StackInfo, list_resources, nested_stacks

RETAINING = {"Retain", "RetainExceptOnCreate"}
# Removal order: what depends on a thing goes before it (access points before their file system).
ORDER = {"AWS::EFS::AccessPoint": 0, "AWS::EFS::FileSystem": 1}


@dataclass(frozen=True)
class Retained:
    stack: str
    logical_id: str
    type: str
    physical_id: str

    def removal(self, region: str) -> list[str]:
        """The commands that delete it for good (data included), each runnable as printed (deploy/errors.py,
        ``aws_cli``: quoted, with the region and the --profile given)."""
        pid = self.physical_id

        def aws(*words: str) -> str:
            return aws_cli(region, *words)

        vault = ("--backup-vault-name", pid)
        points = aws("backup", "list-recovery-points-by-backup-vault", *vault, "--query",
                     "RecoveryPoints[].RecoveryPointArn", "--output", "text")
        delete_point = aws("backup", "delete-recovery-point", *vault, "--recovery-point-arn",
                           Shell(chr(34) + "$arn" + chr(34)))
        return {
            "AWS::EFS::AccessPoint": [aws("efs", "delete-access-point", "--access-point-id", pid)],
            "AWS::EFS::FileSystem": [aws("efs", "delete-file-system", "--file-system-id", pid)
                                     + "  # after its mount targets are gone (the stack deletes them)"],
            "AWS::Backup::BackupVault": [
                # every recovery point first (a shell loop over the ARNs the first command lists), then the vault
                f"for arn in $({points}); "
                f"do {delete_point}; done",
                aws("backup", "delete-backup-vault", *vault)],
            "AWS::SecretsManager::Secret": [aws("secretsmanager", "delete-secret", "--secret-id", pid,
                                                "--recovery-window-in-days", "7")],
            "AWS::ECR::Repository": [aws("ecr", "delete-repository", "--repository-name", pid, "--force")],
            "AWS::Logs::LogGroup": [aws("logs", "delete-log-group", "--log-group-name", pid)],
            "AWS::ECS::Cluster": [aws("ecs", "delete-cluster", "--cluster", pid)],
            "AWS::S3::Bucket": [aws("s3", "rb", f"s3://{pid}", "--force") + "  # versioned: delete old versions first"],
        }.get(self.type, [f"delete {self.type} {pid} in the console or with its service's CLI"])


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation YAML: short-form intrinsics (``!Ref``, ``!GetAtt``) become opaque values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def retained(aws: Aws, root: StackInfo) -> list[Retained]:
    """Every resource with a retaining DeletionPolicy in the root and its nested stacks, with its physical id."""
    stacks = {("root",): root.id, **nested_stacks(aws, root.id)}
    found = []
    for path, stack_id in stacks.items():
        label = "/".join(path)
        listed = [r for r in list_resources(aws, stack_id) if r.get("ResourceStatus") != "DELETE_COMPLETE"]
        physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed}
        if not physical:
            continue  # nothing left in it (e.g. rolled back): nothing to keep, no template to read
        for logical, resource in sorted(_resources(aws, stack_id).items()):
            if isinstance(resource, dict) and resource.get("DeletionPolicy") in RETAINING and logical in physical:
                found.append(Retained(label, logical, resource.get("Type", ""),
                                      physical[logical] or "(id not reported)"))
    return sorted(found, key=lambda r: (ORDER.get(r.type, 0), r.stack, r.logical_id))


def _resources(aws: Aws, stack_id: str) -> dict:
    with aws_errors():
        body = aws.cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
    template = body if isinstance(body, dict) else yaml.load(body, Loader=_Loader)  # safe loader subclass
    return (template or {}).get("Resources", {}) or {}


def left_by_rollback(aws: Aws, root_id: str) -> list[Retained]:
    """What a rolled-back create kept: resources in ``DELETE_SKIPPED`` in the root and its (deleted) nested stacks.

    Those are the ``Retain`` ones (file system, access points); ``RetainExceptOnCreate`` ones were deleted by the
    rollback. No template is read: the status says it. API reference, ListStackResources: "For deleted stacks,
    ListStackResources returns resource information for up to 90 days after the stack has been deleted" (by stack
    id, which the root's rows for its nested stacks carry as PhysicalResourceId).
    """
    stacks = {("root",): root_id, **nested_stacks(aws, root_id)}
    found = [Retained("/".join(path), r["LogicalResourceId"], r["ResourceType"],
                      r.get("PhysicalResourceId") or "(id not reported)")
             for path, stack_id in stacks.items() for r in list_resources(aws, stack_id)
             if r.get("ResourceStatus") == "DELETE_SKIPPED" and r["ResourceType"] != STACK_TYPE]
    return sorted(found, key=lambda r: (ORDER.get(r.type, 0), r.stack, r.logical_id))


def leftover_lines(kept: list[Retained], region: str) -> list[str]:
    """The failure summary's part about what a rolled-back create kept, with the commands that remove it."""
    if not kept:
        return ["the rollback kept nothing: every resource it created was deleted"]
    lines = ["the rollback kept these (no fixed names, so they do not block the retry; they are new and hold only "
             "what the failed create wrote). Keep them, or remove them for good:"]
    for r in kept:
        lines.append(f"  {r.stack}/{r.logical_id} ({r.type} {r.physical_id}):")
        lines += [f"    {command}" for command in r.removal(region)]
    return lines
