"""EFS for the SQLite file and the Qdrant storage, and its AWS Backup plan. STATEFUL: the data lives here.

The file system and both access points are retained on delete, on replacement and on a rolled-back create
(DeletionPolicy and UpdateReplacePolicy Retain): they have no fixed name, so a leftover never blocks a retry, and a
create that got as far as the service may already have written data. The backup vault has a fixed name and is
``RetainExceptOnCreate`` (see ``_backups``). Their logical ids are listed in ``templates/stateful.py`` and guarded.

Layout on the file system, as the seed has it (so data copied from the hand-made file system keeps its paths)::

    /wwhd-data/wwhd.db      app container: /data/wwhd.db            (AppAccessPoint, root /wwhd-data)
    /wwhd-data/qdrant/      qdrant container: /qdrant/storage        (QdrantAccessPoint, root /wwhd-data/qdrant)

AWS rules this stack follows (EFS User Guide, "Working with access points"; ECS Developer Guide, "Amazon EFS
volumes"): an access point whose root directory does not exist yet needs ``CreationInfo`` (owner uid, gid and
permissions) or mounts fail; every NFS operation through an access point runs as its ``PosixUser``, whatever user the
container runs as; a task that mounts through an access point must enable transit encryption; with IAM authorization
the task role is the identity EFS sees. EFS allows one mount target per availability zone, so one per subnet.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import backup as backup_actions, backup_storage, ec2 as ec2_actions, elasticfilesystem as efs_actions
from awacs.aws import Allow, Bool, Condition, Deny, Null, PolicyDocument, Principal, Statement
from troposphere import GetAtt, Ref, Sub, Template, backup, efs, encode_to_dict

from ._arns import arn, ec2_arns, in_existing_vpc
from ._common import (
    keyed_subnets,
    new_template,
    outputs,
    param,
    retain,
    retain_except_on_create,
    scan_ignore,
    tag_pairs,
    tags,
)
from .config import EnvParams

COMPONENT = "storage"
DATA_ROOT = "/wwhd-data"
POSIX_UID = POSIX_GID = 1000
ROOT_PERMISSIONS = "755"


class In(StrEnum):
    FileSystemSecurityGroupId = "FileSystemSecurityGroupId"
    SubnetIds = "SubnetIds"
    BackupRoleArn = "BackupRoleArn"


class Out(StrEnum):
    FileSystemId = "FileSystemId"
    FileSystemArn = "FileSystemArn"
    AppAccessPointId = "AppAccessPointId"
    AppAccessPointArn = "AppAccessPointArn"
    QdrantAccessPointId = "QdrantAccessPointId"
    QdrantAccessPointArn = "QdrantAccessPointArn"
    BackupVaultName = "BackupVaultName"


# Access points: logical id -> root directory. The paths are the seed's layout.
ACCESS_POINTS = {"AppAccessPoint": DATA_ROOT, "QdrantAccessPoint": f"{DATA_ROOT}/qdrant"}
# The service-linked roles AWS Backup and EFS create on first use in an account: (service principal, role name).
SERVICE_LINKED_ROLES = (
    ("backup.amazonaws.com", "AWSServiceRoleForBackup"),
    ("elasticfilesystem.amazonaws.com", "AWSServiceRoleForAmazonElasticFileSystem"),
)


def build(p: EnvParams) -> Template:
    t = new_template(p, "EFS file system, access points and AWS Backup plan (stateful: retained)")
    fs = _file_system(t, p)
    _mount_targets(t, p, fs)
    aps = _access_points(t, p, fs)
    vault = _backups(t, p, fs)
    outputs(t, {
        Out.FileSystemId: Ref(fs),
        Out.FileSystemArn: GetAtt(fs, "Arn"),
        Out.AppAccessPointId: Ref(aps["AppAccessPoint"]),
        Out.AppAccessPointArn: GetAtt(aps["AppAccessPoint"], "Arn"),
        Out.QdrantAccessPointId: Ref(aps["QdrantAccessPoint"]),
        Out.QdrantAccessPointArn: GetAtt(aps["QdrantAccessPoint"], "Arn"),
        Out.BackupVaultName: Ref(vault),
    })
    return t


def _file_system_policy() -> PolicyDocument:
    """Refuse any client that does not use TLS or does not come through an access point; let IAM policies in this
    account decide the rest.

    The Allow to the account root delegates to identity policies (the task role's, ``templates/iam.py``): once a
    file system policy exists, EFS no longer grants its default open access. The Deny without an access point
    (``Null elasticfilesystem:AccessPointArn``, a condition key of the Client* actions in the Service Authorization
    Reference) keeps every NFS client inside the two access points' directories and POSIX user, whatever an identity
    policy says: the task role is scoped by the file system's tags, since it is written before the access points
    exist.
    """
    return PolicyDocument(Version="2012-10-17", Statement=[
        Statement(
            Sid="DenyWithoutTls", Effect=Deny, Principal=Principal("AWS", "*"), Action=[efs_actions.Action("*")],
            Resource=["*"], Condition=Condition(Bool("aws:SecureTransport", "false")),
        ),
        Statement(
            Sid="DenyWithoutAccessPoint", Effect=Deny, Principal=Principal("AWS", "*"),
            Action=[efs_actions.ClientMount, efs_actions.ClientWrite, efs_actions.ClientRootAccess],
            Resource=["*"], Condition=Condition(Null("elasticfilesystem:AccessPointArn", "true")),
        ),
        Statement(
            Sid="AllowIdentityPoliciesOfThisAccount", Effect=Allow,
            Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
            Action=[efs_actions.ClientMount, efs_actions.ClientWrite], Resource=["*"],
            Condition=Condition(Bool("elasticfilesystem:AccessedViaMountTarget", "true")),
        ),
    ])


def _file_system(t: Template, p: EnvParams) -> efs.FileSystem:
    s = p.storage
    lifecycle = []
    if s.transition_to_ia_days:
        lifecycle = [
            efs.LifecyclePolicy(TransitionToIA=f"AFTER_{s.transition_to_ia_days}_DAYS"),
            efs.LifecyclePolicy(TransitionToPrimaryStorageClass="AFTER_1_ACCESS"),
        ]
    optional: dict[str, object] = {}
    if s.throughput_mode == "provisioned":
        optional["ProvisionedThroughputInMibps"] = s.provisioned_throughput_mibps
    if lifecycle:
        optional["LifecyclePolicies"] = lifecycle
    return t.add_resource(scan_ignore(retain(efs.FileSystem(
        "FileSystem",
        Encrypted=True,
        PerformanceMode="generalPurpose",
        ThroughputMode=s.throughput_mode,
        # Our own plan below backs the file system up; EFS's automatic backups would make a second copy.
        BackupPolicy=efs.BackupPolicy(Status="DISABLED"),
        FileSystemPolicy=encode_to_dict(_file_system_policy()),
        FileSystemTags=tags(p, COMPONENT, f"{p.stack_name}-data"),
        **optional,
    )), {
        "WildcardResourceRule": "a file system policy's Resource * is this file system only; the Allow to the account "
                                "root delegates to IAM, where the task role is scoped to this file system's tags "
                                "and an access point",
    }))


def _mount_targets(t: Template, p: EnvParams, fs: efs.FileSystem) -> None:
    sg = param(t, In.FileSystemSecurityGroupId, "AWS::EC2::SecurityGroup::Id")
    for key, subnet in keyed_subnets(t, p):
        t.add_resource(efs.MountTarget(f"MountTarget{key}", FileSystemId=Ref(fs), SubnetId=subnet, SecurityGroups=[sg]))


def _access_points(t: Template, p: EnvParams, fs: efs.FileSystem) -> dict[str, efs.AccessPoint]:
    aps = {}
    for title, path in ACCESS_POINTS.items():
        aps[title] = t.add_resource(retain(efs.AccessPoint(
            title,
            FileSystemId=Ref(fs),
            PosixUser=efs.PosixUser(Uid=str(POSIX_UID), Gid=str(POSIX_GID)),
            RootDirectory=efs.RootDirectory(
                Path=path,
                CreationInfo=efs.CreationInfo(OwnerUid=str(POSIX_UID), OwnerGid=str(POSIX_GID),
                                              Permissions=ROOT_PERMISSIONS),
            ),
            AccessPointTags=tags(p, COMPONENT, f"{p.stack_name}-{title.removesuffix('AccessPoint').lower()}"),
        )))
    return aps


def _backups(t: Template, p: EnvParams, fs: efs.FileSystem) -> backup.BackupVault:
    """Vault (retained: it holds the recovery points), daily plan and a selection of the file system.

    The service role is the identity stack's (``templates/iam.py``): no app stack writes IAM.
    """
    b = p.storage.backup
    # The vault's name is required and fixed (``<stack>-vault``), so a leftover would block the retry of a failed first
    # create: RetainExceptOnCreate. It cannot cost backups: AWS Backup deletes only an empty vault (DeleteBackupVault
    # fails while it holds recovery points), and a vault made by a create that rolled back holds none.
    vault = t.add_resource(scan_ignore(retain_except_on_create(backup.BackupVault(
        "BackupVault", BackupVaultName=Sub("${AWS::StackName}-vault"), BackupVaultTags=tag_pairs(p, COMPONENT),
    )), {
        "CKV_AWS_166": "recovery points are encrypted with the AWS managed key aws/backup; a CMK costs ~1 USD/month, "
                       "and the key of an existing vault cannot change without replacing this retained vault",
    }))
    lifecycle = backup.LifecycleResourceType(DeleteAfterDays=b.delete_after_days)
    if b.move_to_cold_storage_after_days:
        lifecycle = backup.LifecycleResourceType(
            DeleteAfterDays=b.delete_after_days, MoveToColdStorageAfterDays=b.move_to_cold_storage_after_days)
    plan = t.add_resource(backup.BackupPlan(
        "BackupPlan",
        BackupPlan=backup.BackupPlanResourceType(
            BackupPlanName=Sub("${AWS::StackName}-efs"),
            BackupPlanRule=[backup.BackupRuleResourceType(
                RuleName="daily", TargetBackupVault=Ref(vault), ScheduleExpression=b.schedule,
                StartWindowMinutes=60, CompletionWindowMinutes=360, Lifecycle=lifecycle,
                RecoveryPointTags=tag_pairs(p, COMPONENT),
            )],
        ),
        BackupPlanTags=tag_pairs(p, COMPONENT),
    ))
    t.add_resource(backup.BackupSelection(
        "BackupSelection", BackupPlanId=Ref(plan),
        BackupSelection=backup.BackupSelectionResourceType(
            SelectionName="efs-data", Resources=[GetAtt(fs, "Arn")],
            IamRoleArn=param(t, In.BackupRoleArn, description="AWS Backup's service role (identity stack).")),
    ))
    return vault


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def mount_target_network_statements(p: EnvParams) -> list[Statement]:
    """EFS API Reference (CreateMountTarget, DeleteMountTarget): creating, modifying and deleting a mount target also
    needs EC2 network-interface actions on the mount target's ENI; with an existing VPC they are pinned to it by
    ``ec2:Vpc``. In the network policy, with the other EC2 statements."""
    return [Statement(
        Sid="MountTargetNetworkInterfaces", Effect=Allow,
        Action=[ec2_actions.CreateNetworkInterface, ec2_actions.DeleteNetworkInterface,
                ec2_actions.ModifyNetworkInterfaceAttribute],
        Resource=ec2_arns("network-interface", "security-group", "subnet"),
        **in_existing_vpc(p),
    )]


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """EFS (file system, mount targets, access points, policies) and its AWS Backup vault, plan and selection.

    No ``DeleteFileSystem``/``DeleteAccessPoint``: they are ``Retain`` (checks/execution_role.py WITHHELD), so
    CloudFormation never calls them, and a template that dropped the Retain fails to delete instead of losing data.
    The vault may be deleted (``RetainExceptOnCreate``: a rolled-back first create must remove it, or the retry meets
    its name); AWS Backup deletes only an empty vault.
    """
    file_systems = arn("elasticfilesystem", "file-system/*")
    access_points = arn("elasticfilesystem", "access-point/*")
    return [
        Statement(
            # CreateFileSystem has no resource-level permission ("*"); elasticfilesystem:Encrypted pins encryption.
            Sid="CreateEncryptedFileSystem", Effect=Allow, Action=[efs_actions.CreateFileSystem], Resource=["*"],
            Condition=Condition(Bool("elasticfilesystem:Encrypted", "true")),
        ),
        Statement(
            Sid="FileSystems", Effect=Allow,
            Action=[
                efs_actions.CreateAccessPoint, efs_actions.CreateMountTarget,
                efs_actions.CreateReplicationConfiguration, efs_actions.DeleteFileSystemPolicy,
                efs_actions.DeleteMountTarget, efs_actions.DeleteReplicationConfiguration, efs_actions.DeleteTags,
                efs_actions.DescribeBackupPolicy, efs_actions.DescribeFileSystemPolicy,
                efs_actions.DescribeFileSystems, efs_actions.DescribeLifecycleConfiguration,
                efs_actions.DescribeMountTargetSecurityGroups, efs_actions.DescribeReplicationConfigurations,
                efs_actions.ModifyMountTargetSecurityGroups, efs_actions.PutBackupPolicy,
                efs_actions.PutFileSystemPolicy, efs_actions.PutLifecycleConfiguration, efs_actions.UpdateFileSystem,
                efs_actions.UpdateFileSystemProtection,
            ],
            Resource=[file_systems],
        ),
        Statement(
            Sid="AccessPointsAndTags", Effect=Allow,
            Action=[efs_actions.DescribeAccessPoints, efs_actions.DescribeMountTargets,
                    efs_actions.ListTagsForResource, efs_actions.TagResource, efs_actions.UntagResource],
            Resource=[file_systems, access_points],
        ),
        Statement(
            Sid="BackupVault", Effect=Allow,
            Action=[backup_actions.CreateBackupVault, backup_actions.DeleteBackupVault,
                    backup_actions.DeleteBackupVaultAccessPolicy, backup_actions.DeleteBackupVaultLockConfiguration,
                    backup_actions.DeleteBackupVaultNotifications, backup_actions.DescribeBackupVault,
                    backup_actions.GetBackupVaultAccessPolicy, backup_actions.GetBackupVaultNotifications,
                    backup_actions.ListTags, backup_actions.PutBackupVaultAccessPolicy,
                    backup_actions.PutBackupVaultLockConfiguration, backup_actions.PutBackupVaultNotifications,
                    backup_actions.TagResource, backup_actions.UntagResource],
            # the vault is named "${AWS::StackName}-vault" (_backups): "<root>-StorageStack-<id>-vault"
            Resource=[arn("backup", f"backup-vault:{p.stack_name}-*")],
        ),
        Statement(
            # CreateBackupVault needs backup-storage:MountCapsule, which has no resource-level permission: "*".
            Sid="BackupVaultStorage", Effect=Allow, Action=[backup_storage.MountCapsule], Resource=["*"],
        ),
        Statement(
            Sid="BackupPlanAndSelection", Effect=Allow,
            Action=[
                backup_actions.CreateBackupPlan, backup_actions.CreateBackupSelection,
                backup_actions.DeleteBackupPlan, backup_actions.DeleteBackupSelection, backup_actions.GetBackupPlan,
                backup_actions.GetBackupSelection, backup_actions.ListTags, backup_actions.TagResource,
                backup_actions.UntagResource, backup_actions.UpdateBackupPlan,
            ],
            Resource=[arn("backup", "backup-plan:*")],  # plan ids are random
        ),
    ]
