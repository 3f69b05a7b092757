"""The temporary stack of ``migrate-data``: the network path to the seed's file system and the one-off copy task.

Not a nested stack of an environment and not in ``output/`` (like ``bootstrap.py``): ``migrate-data`` deploys it as
its own stack ``<stack>-migrate`` through a reviewed change set, runs the task, and deletes the stack, which removes
the path again. What exists only at run time (the source file system, its security group, our stacks' ids, the image
tag the service runs) comes in as stack parameters, so the template is the same for every run and is linted as it is
(``tests/deploy/test_migrate.py``). It creates no IAM: the task uses the environment's two ECS roles from the
identity stack (``<stack>-identity``, templates/iam.py), passed in as parameters.

* Path: a security group of its own for the task (egress only: NFS to the two file systems' groups, HTTPS for the
  image pull from the environment's ECR repository and for CloudWatch Logs) and one ingress rule on each file
  system's group from it. The rule on the seed's group is the only change to a seed resource, and it goes with the
  stack.
* Task: three EFS volumes. The source through its root directory, mounted read-only (``readOnly`` on the mount point:
  the copy cannot write to it), with transit encryption, and with IAM authorization only when the seed's file system
  has a file system policy (``SourceIam``, from EFS DescribeFileSystemPolicy; ``PolicyNotFound`` means the default
  policy, which lets any client that reaches a mount target in, so an anonymous mount works). With a policy the
  identity is the task role, and the policy must allow it ``ClientMount`` and ``ClientRootAccess`` (the statement
  ``discover`` prints; the copy reads as root so that every file is readable whatever its mode; without
  ``ClientWrite`` EFS keeps the mount read-only as well). The new file system is mounted through our two access points
  with IAM authorization as the task role, exactly as the service mounts it (storage.py). Logs go to the
  environment's log group, prefix ``migrate``.
* Image: the app's own image from the environment's ECR repository (``image.repository``) at the tag the service
  runs (``ImageTag``, read from the root stack by deploy/migrate.py), pulled by the identity stack's execution role,
  which already may pull exactly that repository and write to that log group. Never an anonymous public pull: Docker
  Hub limits anonymous pulls per IP and its tags are mutable, and a private subnet without a NAT cannot reach it. The
  app runs FastAPI, so its image has Python; the program needs only Python 3.9+ and its standard library. The seed's
  app health check is ``CMD-SHELL`` (so the image has ``/bin/sh``), and a slim image may call Python ``python3`` only:
  the entry point is ``/bin/sh`` choosing ``python3`` or ``python`` (and replacing the image's own entry point, which
  starts the web server); an image with neither ends with the report line "refused" and exit 3.
* The program is ``deploy/copy_data.py``, passed as text to ``python -c``; the copy differs from the dry run only by
  ``MIGRATE_EXECUTE=1`` in a RunTask container override (the program is too long for a command override: RunTask
  allows 8 KiB of overrides), so both run the same task definition.
"""

from __future__ import annotations

from enum import StrEnum

from troposphere import GetAtt, Output, Parameter, Ref, Template, ec2, ecs

from ._common import image_uri, new_template, tags
from .config import IMAGE_TAG_PATTERN, EnvParams

COMPONENT = "migrate"
CONTAINER = "copy"
RUN_AS = "0:0"  # root reads every source file whatever its mode; writes go through the access points as 1000:1000
# /bin/sh -c LINE copy ARGS...: $0 is "copy", "$@" the program's arguments (``command``).
PYTHON = ('p=$(command -v python3 || command -v python) || { echo \'{"event": "refused", "reason": "the app image has '
          'neither python3 nor python on PATH"}\'; exit 3; }; exec "$p" "$@"')
ENTRY_POINT = ["/bin/sh", "-c", PYTHON, CONTAINER]
SOURCE_PATH, APP_PATH, QDRANT_PATH = "/mnt/source", "/mnt/app", "/mnt/qdrant"
NFS = 2049


class In(StrEnum):
    VpcId = "VpcId"
    SourceFileSystemId = "SourceFileSystemId"
    SourceSecurityGroupId = "SourceSecurityGroupId"
    FileSystemId = "FileSystemId"
    FileSystemSecurityGroupId = "FileSystemSecurityGroupId"
    AppAccessPointId = "AppAccessPointId"
    QdrantAccessPointId = "QdrantAccessPointId"
    TaskRoleArn = "TaskRoleArn"
    ExecutionRoleArn = "ExecutionRoleArn"
    ImageTag = "ImageTag"
    SourceIam = "SourceIam"


class Out(StrEnum):
    TaskDefinitionArn = "TaskDefinitionArn"
    SecurityGroupId = "SecurityGroupId"


PARAMETER_TYPES = {In.VpcId: "AWS::EC2::VPC::Id", In.SourceSecurityGroupId: "AWS::EC2::SecurityGroup::Id",
                   In.FileSystemSecurityGroupId: "AWS::EC2::SecurityGroup::Id"}


def stack_name(p: EnvParams) -> str:
    return f"{p.stack_name}-migrate"


PARAMETER_RULES: dict[In, dict[str, object]] = {
    In.ImageTag: {"AllowedPattern": IMAGE_TAG_PATTERN, "Description": "the app image's tag (the service's ImageTag)"},
    In.SourceIam: {"AllowedValues": ["ENABLED", "DISABLED"],
                   "Description": "IAM authorization for the source mount: ENABLED when it has a file system policy"},
}


def command(script: str) -> list[str]:
    """The arguments after the entry point's Python: ``-c <program> --src ... --dst-app ... --dst-qdrant ...``."""
    return ["-c", script, "--src", SOURCE_PATH, "--dst-app", APP_PATH, "--dst-qdrant", QDRANT_PATH]


def build(p: EnvParams, script: str) -> Template:
    t = new_template(p, "one-off data migration from the seed's file system (temporary; deleted after the run)")
    for name in In:
        rules = PARAMETER_RULES.get(name, {"Description": str(name)})
        t.add_parameter(Parameter(str(name), Type=PARAMETER_TYPES.get(name, "String"), **rules))
    sg = _path(t, p)
    task = _task(t, p, script)
    t.add_output(Output(str(Out.TaskDefinitionArn), Value=Ref(task)))
    t.add_output(Output(str(Out.SecurityGroupId), Value=GetAtt(sg, "GroupId")))
    return t


def _path(t: Template, p: EnvParams) -> ec2.SecurityGroup:
    sg = t.add_resource(ec2.SecurityGroup(
        "MigrateSecurityGroup", GroupDescription=f"{p.stack_name} migrate-data task: NFS to both file systems",
        VpcId=Ref(In.VpcId), Tags=tags(p, COMPONENT, f"{p.stack_name}-migrate"),
        SecurityGroupEgress=[
            ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=NFS, ToPort=NFS, DestinationSecurityGroupId=Ref(group),
                                  Description=what)
            for group, what in ((In.SourceSecurityGroupId, "NFS to the seed's file system"),
                                (In.FileSystemSecurityGroupId, "NFS to the new file system"))
        ] + [ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0",
                                   Description="HTTPS: image pull (ECR), CloudWatch Logs")],
    ))
    for title, group, what in (("SourceIngressMigrate", In.SourceSecurityGroupId, "seed's"),
                               ("FileSystemIngressMigrate", In.FileSystemSecurityGroupId, "new")):
        t.add_resource(ec2.SecurityGroupIngress(
            title, GroupId=Ref(group), IpProtocol="tcp", FromPort=NFS, ToPort=NFS,
            SourceSecurityGroupId=GetAtt(sg, "GroupId"),
            Description=f"NFS from {p.stack_name} migrate-data to the {what} file system (removed with the stack)"))
    return sg


def _task(t: Template, p: EnvParams, script: str) -> ecs.TaskDefinition:
    def efs(name: str, fs: In, access_point: In | None) -> ecs.Volume:
        config = {"FilesystemId": Ref(fs), "TransitEncryption": "ENABLED"}
        if access_point:
            config["AuthorizationConfig"] = ecs.AuthorizationConfig(AccessPointId=Ref(access_point), IAM="ENABLED")
        else:  # the seed's root; IAM (as the task role) only when its file system policy needs it
            config["RootDirectory"] = "/"
            config["AuthorizationConfig"] = ecs.AuthorizationConfig(IAM=Ref(In.SourceIam))
        return ecs.Volume(Name=name, EFSVolumeConfiguration=ecs.EFSVolumeConfiguration(**config))

    return t.add_resource(ecs.TaskDefinition(
        "TaskDefinition",
        Family=stack_name(p),
        Cpu="256", Memory="512", NetworkMode="awsvpc", RequiresCompatibilities=["FARGATE"],
        RuntimePlatform=ecs.RuntimePlatform(OperatingSystemFamily="LINUX", CpuArchitecture="X86_64"),
        ExecutionRoleArn=Ref(In.ExecutionRoleArn), TaskRoleArn=Ref(In.TaskRoleArn),
        Volumes=[efs("source", In.SourceFileSystemId, None), efs("app", In.FileSystemId, In.AppAccessPointId),
                 efs("qdrant", In.FileSystemId, In.QdrantAccessPointId)],
        ContainerDefinitions=[ecs.ContainerDefinition(
            Name=CONTAINER, Image=image_uri(p, Ref(In.ImageTag)), Cpu=256, Memory=512, Essential=True,
            EntryPoint=ENTRY_POINT, Command=command(script), User=RUN_AS,
            MountPoints=[ecs.MountPoint(SourceVolume="source", ContainerPath=SOURCE_PATH, ReadOnly=True),
                         ecs.MountPoint(SourceVolume="app", ContainerPath=APP_PATH, ReadOnly=False),
                         ecs.MountPoint(SourceVolume="qdrant", ContainerPath=QDRANT_PATH, ReadOnly=False)],
            LogConfiguration=ecs.LogConfiguration(LogDriver="awslogs", Options={
                "awslogs-group": p.logs.group_name, "awslogs-region": Ref("AWS::Region"),
                "awslogs-stream-prefix": COMPONENT}),
        )],
        Tags=tags(p, COMPONENT),
    ))
