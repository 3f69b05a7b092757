"""The temporary stack of ``migrate-data``: the network path to the seed's file system and the one-off copy task.

Not a nested stack of an environment and not in ``output/`` (like ``bootstrap.py``): ``migrate-data`` deploys it as
its own stack ``<stack>-migrate`` through a reviewed change set, runs the task, and deletes the stack, which removes
the path again. What exists only at run time (the source file system, its security group, our stacks' ids) comes in
as stack parameters, so the template is the same for every run and is linted as it is (``tests/test_migrate.py``).

* Path: a security group of its own for the task (egress only: NFS to the two file systems' groups, HTTPS for the
  image pull from Docker Hub and for CloudWatch Logs) and one ingress rule on each file system's group from it. The
  rule on the seed's group is the only change to a seed resource, and it goes with the stack.
* Task: three EFS volumes. The source through its root directory, mounted read-only (``readOnly`` on the mount point:
  the copy cannot write to it), with transit encryption (the seed's file system has no file system policy, so no IAM
  authorization); the new file system through our two access points with IAM authorization as the app's task role,
  exactly as the service mounts it (storage.py). Logs go to the environment's log group, prefix ``migrate``.
* Image: ``python:3.12.7-alpine3.20`` from Docker Hub's official Python images, pinned to the patch release and the
  Alpine release (the program needs only Python 3.9+ and its standard library; a digest would pin the bytes, but
  none can be looked up from this offline build; change ``IMAGE`` to ``python@sha256:...`` to pin them).
* The program is ``deploy/copy_data.py``, passed as text to ``python -c``; the copy differs from the dry run only by
  ``MIGRATE_EXECUTE=1`` in a RunTask container override (the program is too long for a command override: RunTask
  allows 8 KiB of overrides), so both run the same task definition.
"""

from __future__ import annotations

from enum import StrEnum

from troposphere import GetAtt, Output, Parameter, Ref, Template, ec2, ecs

from ._common import new_template, tags
from .config import EnvParams

COMPONENT = "migrate"
IMAGE = "python:3.12.7-alpine3.20"
CONTAINER = "copy"
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


class Out(StrEnum):
    TaskDefinitionArn = "TaskDefinitionArn"
    SecurityGroupId = "SecurityGroupId"


PARAMETER_TYPES = {In.VpcId: "AWS::EC2::VPC::Id", In.SourceSecurityGroupId: "AWS::EC2::SecurityGroup::Id",
                   In.FileSystemSecurityGroupId: "AWS::EC2::SecurityGroup::Id"}


def stack_name(p: EnvParams) -> str:
    return f"{p.stack_name}-migrate"


def command(script: str) -> list[str]:
    return ["python", "-c", script, "--src", SOURCE_PATH, "--dst-app", APP_PATH, "--dst-qdrant", QDRANT_PATH]


def build(p: EnvParams, script: str) -> Template:
    t = new_template(p, "one-off data migration from the seed's file system (temporary; deleted after the run)")
    for name in In:
        t.add_parameter(Parameter(str(name), Type=PARAMETER_TYPES.get(name, "String"), Description=str(name)))
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
                                   Description="HTTPS: image pull (Docker Hub), CloudWatch Logs")],
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
        else:
            config["RootDirectory"] = "/"
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
            Name=CONTAINER, Image=IMAGE, Cpu=256, Memory=512, Essential=True, Command=command(script),
            MountPoints=[ecs.MountPoint(SourceVolume="source", ContainerPath=SOURCE_PATH, ReadOnly=True),
                         ecs.MountPoint(SourceVolume="app", ContainerPath=APP_PATH, ReadOnly=False),
                         ecs.MountPoint(SourceVolume="qdrant", ContainerPath=QDRANT_PATH, ReadOnly=False)],
            LogConfiguration=ecs.LogConfiguration(LogDriver="awslogs", Options={
                "awslogs-group": p.logs.group_name, "awslogs-region": Ref("AWS::Region"),
                "awslogs-stream-prefix": COMPONENT}),
        )],
        Tags=tags(p, COMPONENT),
    ))
