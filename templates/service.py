"""The task definition (FastAPI + Qdrant sharing one EFS) and the ECS service behind the target group. Not stateful,
but it is the one writer of the stateful data, so its deployment is built to never run two tasks at once.

AWS rules this module follows (ECS Developer Guide):

* Single writer. SQLite and Qdrant (RocksDB) both write the EFS data; two tasks at once corrupt them, and Qdrant
  refuses to start with a lock error. "Deployment configuration": with ``maximumPercent`` 100 the scheduler may not
  start a new task until an old one has stopped, and ``minimumHealthyPercent`` 0 lets it stop the only task first. The
  desired count is 0 or 1 (a root parameter), there is no auto scaling, and the service has a fixed ``ServiceName``:
  CloudFormation cannot replace a custom-named resource in place, so an update that would need a *second* service
  (and a second writer, since CloudFormation creates the replacement before deleting the old one) fails instead.
* The deployment circuit breaker (rolling update controller only) rolls back to the last good task definition.
* Fargate platform 1.4.0 or later is required for EFS volumes; ``LATEST`` is 1.4.0 or later. A volume that uses an
  access point must enable transit encryption; with IAM authorization the task role is the EFS identity.
* ``dependsOn`` with condition ``HEALTHY`` requires the dependency to have a container health check: the app starts
  only after Qdrant answers. ECS API reference, ContainerDependency: "When a dependency is defined for container
  startup, for container shutdown it is reversed": Qdrant starts first and stops last, so the app (SQLite) has
  closed before Qdrant (RocksDB) gets its SIGTERM, and never writes to a Qdrant that is going away.
* Stop timeouts (ECS API reference, ContainerDefinition ``stopTimeout``: "For tasks that use the Fargate launch type,
  the max stop timeout value is 120 seconds", default 30): the time between SIGTERM and SIGKILL. Qdrant gets the
  maximum, 120 s: on SIGTERM it flushes RocksDB's memtables and its WAL, and on EFS every fsync is a network round
  trip. The app gets 60 s: a SQLite transaction and the WAL checkpoint on close take well under a second, and by the
  time ECS stops the task the load balancer has drained its connections (``deregistration_delay``). A container
  that exits sooner costs nothing; the timeouts only bound a slow one. :func:`worst_case_outage` adds them up.
* Health checks run inside each container, so they may only use what its image ships. The Qdrant image has no curl
  or wget (qdrant/qdrant#3491, #4250: refused upstream for security), but v1.7.x is built on Debian slim and has
  bash: the check opens ``/dev/tcp`` with bash builtins and asks Qdrant's ``/readyz`` (added in Qdrant 1.5.0,
  qdrant/qdrant#2409, and always open even with an API key; the seed's ``/health`` is not a Qdrant endpoint). The app
  image is built by the backend repository, not here, and the only record of what it ships is the seed's task
  definition, whose app health check is ``curl http://localhost:8000/health``: so the app check is that curl, in the
  ``CMD-SHELL`` form of the ECS documentation's example (``curl -f ... || exit 1``: ``-f`` fails on HTTP errors,
  ``|| exit 1`` gives the exit code Docker defines as unhealthy). It does not assume a ``python`` binary (a slim
  or distroless Python image may have only ``python3``, or none on ``PATH``).

Hardening: both containers run as ``1000:1000`` (the uid/gid the EFS access points already enforce; Qdrant publishes
``-unprivileged`` images, the params default) with a read-only root file system (unless ``service.debug_shell``, below),
and write only to their EFS volumes. Why not task-scoped scratch volumes: on Fargate a bind-mount volume is created
``root``-owned with mode ``0755`` unless the image declares that path as a ``VOLUME`` with its own ownership (ECS
Developer Guide, "Use bind mounts with Amazon ECS"; aws/containers-roadmap#938), so uid 1000 could not write there.
The EFS access points create their root directories as 1000:1000. So:

* Qdrant writes its snapshots (``QDRANT__STORAGE__SNAPSHOTS_PATH``, default ``./snapshots`` under ``/qdrant``) and its
  start-up marker (``QDRANT_INIT_FILE_PATH``, default ``./.qdrant-initialized``; read in Qdrant's ``startup.rs``, a
  failed write only logs a warning) under ``/qdrant/storage``; nothing else of ``/qdrant`` is written.
* The app's temporary files go to its data volume through ``TMPDIR=/data`` (Python's ``tempfile`` and SQLite honour
  it; a ``TMPDIR`` that does not exist would be skipped, so it names the volume's root, which always does).

ECS Exec and the read-only root, one switch (``service.debug_shell``, default false in every environment). The ECS
Developer Guide ("Monitor Amazon ECS containers with ECS Exec", Considerations) says the SSM agent ECS Exec bind-mounts
into each container needs a writable container file system, and that ``readonlyRootFilesystem`` is not supported with
ECS Exec (the note was added after aws-containers/amazon-ecs-exec-checker#21; support is still the open request
aws/containers-roadmap#1359, whose only workaround, writable volumes on the agent's directories, is undocumented by
AWS). So the two are one switch and no container ever has both:

* off (the default, prod's normal state): ``EnableExecuteCommand`` false, every container ``ReadonlyRootFilesystem``
  true, no ECS Exec channels in the task role (templates/iam.py);
* on (temporary, to debug): ``EnableExecuteCommand`` true and every container ``ReadonlyRootFilesystem`` false. The
  agent then writes its state and logs (``/var/lib/amazon``, ``/var/log/amazon``) into each container's own writable
  layer, so no agent volume is declared in either mode: with a writable root the agent needs none, and each
  container's agent keeps its own directories (never one volume shared by two agents' state and IPC files).

Dev has no other default: dev is where a container that writes outside its volume must fail first, before prod, so it
runs the hardened task too; the switch is one line in ``params/dev.yaml``. The plan review flags the switch turning on
as access widening (checks/access_diff.py), and README "A debug shell" gives the commands that turn it on and back.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import ecs as ecs_actions
from awacs.aws import Allow, Statement
from troposphere import Ref, Template, ecs

from . import secrets
from ._arns import arn, cluster_arn, cluster_name, service_arn
from ._common import image_uri, new_template, outputs, param, subnet_ids, tags
from .config import IMAGE_TAG_PATTERN, EnvParams

COMPONENT = "service"
APP, QDRANT = "fastapi", "qdrant"
APP_VOLUME, QDRANT_VOLUME = "app-data", "qdrant-storage"
APP_DATA_PATH, QDRANT_DATA_PATH = "/data", "/qdrant/storage"
RUN_AS = "1000:1000"  # uid:gid of the EFS access points (storage stack)
# Where each image writes besides its data (see the module docstring): fixed, not params.
QDRANT_WRITES = {
    "QDRANT__STORAGE__SNAPSHOTS_PATH": f"{QDRANT_DATA_PATH}/snapshots",
    "QDRANT_INIT_FILE_PATH": f"{QDRANT_DATA_PATH}/.qdrant-initialized",
}
APP_WRITES = {"TMPDIR": APP_DATA_PATH}


class In(StrEnum):
    ImageTag = "ImageTag"
    DesiredCount = "DesiredCount"
    ClusterName = "ClusterName"
    AppSecurityGroupId = "AppSecurityGroupId"
    TargetGroupArn = "TargetGroupArn"
    FileSystemId = "FileSystemId"
    AppAccessPointId = "AppAccessPointId"
    QdrantAccessPointId = "QdrantAccessPointId"
    ExecutionRoleArn = "ExecutionRoleArn"
    TaskRoleArn = "TaskRoleArn"
    SubnetIds = "SubnetIds"
    # plus one <Name>SecretArn per generated secret (secrets.output_names)


class Out(StrEnum):
    ServiceName = "ServiceName"
    TaskDefinitionArn = "TaskDefinitionArn"


def build(p: EnvParams) -> Template:
    t = new_template(p, "task definition (FastAPI + Qdrant on EFS) and the single-writer ECS service")
    task = _task_definition(t, p)
    service = _service(t, p, task)
    outputs(t, {Out.ServiceName: service.ServiceName, Out.TaskDefinitionArn: Ref(task)})
    return t


def _log(p: EnvParams, prefix: str) -> ecs.LogConfiguration:
    return ecs.LogConfiguration(LogDriver="awslogs", Options={
        "awslogs-group": p.logs.group_name,  # known at build time; ClusterName orders us after the cluster stack
        "awslogs-region": Ref("AWS::Region"),
        "awslogs-stream-prefix": prefix,
        # A slow log API must not block the app's stdout; 25 MiB of buffer before lines are dropped.
        "mode": "non-blocking",
        "max-buffer-size": "25m",
    })


def _env(pairs: dict[str, str]) -> list[ecs.Environment]:
    return [ecs.Environment(Name=k, Value=v) for k, v in sorted(pairs.items())]


def read_only_root(p: EnvParams) -> bool:
    """Every container's root file system is read-only unless the debug shell (ECS Exec) is on: never both."""
    return not p.service.debug_shell


def _volume(t: Template, name: str, access_point: In) -> ecs.Volume:
    return ecs.Volume(Name=name, EFSVolumeConfiguration=ecs.EFSVolumeConfiguration(
        FilesystemId=param(t, In.FileSystemId, description="EFS file system (storage stack)."),
        TransitEncryption="ENABLED",
        AuthorizationConfig=ecs.AuthorizationConfig(AccessPointId=param(t, access_point), IAM="ENABLED"),
    ))


def qdrant_health_command(port: int) -> list[str]:
    script = (f'exec 3<>/dev/tcp/127.0.0.1/{port} && printf "GET /readyz HTTP/1.0\\r\\n\\r\\n" >&3 '
              '&& read -r status <&3 && [[ "$status" == *" 200 "* ]]')
    return ["CMD", "bash", "-c", script]


def app_health_command(port: int, path: str) -> list[str]:
    """The seed's check (curl, which the seed's image has), failing on HTTP errors and within the check's timeout."""
    return ["CMD-SHELL", f"curl -fsS --max-time 4 -o /dev/null http://localhost:{port}{path} || exit 1"]


# Seconds (see the module docstring). Fargate's maximum stop timeout is 120.
APP_STOP_TIMEOUT, QDRANT_STOP_TIMEOUT = 60, 120
# Start periods. ECS API reference, HealthCheck ``startPeriod``: a grace period "to provide containers time to
# bootstrap before failed health checks count towards the maximum number of retries", 0 to 300 seconds; "If a health
# check succeeds within the startPeriod, then the container is considered healthy". So a long start period costs
# nothing when the container starts fast (the first passing check ends it); its only price is noticing later a
# container that never becomes ready (start period + retries x interval), a deploy the circuit breaker rolls back
# anyway. Too short a start period is worse: a healthy but slow start is marked UNHEALTHY, the task is replaced (and
# reads the same data again), and the circuit breaker rolls back a good deploy.
# * Qdrant opens every collection's segments (RocksDB and mmapped vectors) from EFS before /readyz answers 200. In
#   bursting mode a file system's baseline is 50 KiB/s per GiB stored (EFS User Guide, "Throughput modes"; 100 MiB/s
#   bursts only while credits last), so a small file system without credits reads a few hundred MiB in minutes, not
#   seconds: Qdrant gets the maximum, 300 s.
# * The app starts only once Qdrant is HEALTHY (dependsOn), then opens SQLite on EFS and connects to Qdrant: the same
#   reasoning, with much less to read, gives 120 s: the service's default health check grace period
#   (``service.health_check_grace_period``; ECS API reference, CreateService ``healthCheckGracePeriodSeconds``: the
#   scheduler ignores unhealthy load balancer and container health checks "after a task has first started").
QDRANT_START_PERIOD, APP_START_PERIOD = 300, 120
QDRANT_CHECK = {"Interval": 15, "Timeout": 5, "Retries": 3, "StartPeriod": QDRANT_START_PERIOD}
APP_CHECK = {"Interval": 15, "Timeout": 5, "Retries": 3, "StartPeriod": APP_START_PERIOD}
# Assumed, not configured: Fargate provisioning (ENI), image pulls and the EFS mounts of a new task, and the app and
# Qdrant starting up. About a minute for these images; the README says it is an assumption.
ASSUMED_TASK_START = 60


def worst_case_outage(p: EnvParams) -> dict[str, int]:
    """Seconds without a healthy target in one deploy, worst case, by step (the single writer's price).

    With ``maximumPercent`` 100 and ``minimumHealthyPercent`` 0 the old task stops before the new one starts:
    the target is deregistered (traffic stops) and drains; ECS then stops the app (SIGTERM, up to its stop
    timeout), then Qdrant (reverse dependency order, up to its stop timeout); the new task starts (assumed); the app
    starts when Qdrant's health check passes (up to one interval after Qdrant is ready); the target becomes healthy
    after ``HealthyThresholdCount`` passing checks, up to one interval after registration plus that many intervals.
    """
    from .load_balancer import HEALTH_CHECK_INTERVAL, HEALTHY_THRESHOLD

    return {
        "deregistration delay (connections drain)": p.load_balancer.deregistration_delay,
        "app stops (stop timeout)": APP_STOP_TIMEOUT,
        "Qdrant stops (stop timeout)": QDRANT_STOP_TIMEOUT,
        "new task provisioned, images pulled, containers started (assumed)": ASSUMED_TASK_START,
        "Qdrant health check passes (one interval)": QDRANT_CHECK["Interval"],
        "load balancer health checks pass (one interval + healthy threshold x interval)":
            HEALTH_CHECK_INTERVAL * (1 + HEALTHY_THRESHOLD),
    }


def _qdrant(t: Template, p: EnvParams) -> ecs.ContainerDefinition:
    q = p.containers.qdrant
    return ecs.ContainerDefinition(
        Name=QDRANT, Image=q.image, Cpu=q.cpu, Memory=q.memory, Essential=True,
        PortMappings=[ecs.PortMapping(ContainerPort=q.port, Protocol="tcp", Name="qdrant-http")],
        Environment=_env({**q.environment, **QDRANT_WRITES}),
        User=RUN_AS,
        ReadonlyRootFilesystem=read_only_root(p),
        MountPoints=[ecs.MountPoint(SourceVolume=QDRANT_VOLUME, ContainerPath=QDRANT_DATA_PATH, ReadOnly=False)],
        HealthCheck=ecs.HealthCheck(Command=qdrant_health_command(q.port), **QDRANT_CHECK),
        StopTimeout=QDRANT_STOP_TIMEOUT,  # RocksDB flushes to EFS on SIGTERM; stops last (reverse dependency order)
        # RocksDB keeps many files open; Qdrant's docs ask for a high open-files limit.
        Ulimits=[ecs.Ulimit(Name="nofile", SoftLimit=65535, HardLimit=65535)],
        LogConfiguration=_log(p, QDRANT),
    )


def _app(t: Template, p: EnvParams) -> ecs.ContainerDefinition:
    a = p.containers.app
    return ecs.ContainerDefinition(
        Name=APP, Image=image_uri(p, param(t, In.ImageTag, description="App image tag.",
                                           AllowedPattern=IMAGE_TAG_PATTERN)),
        Cpu=a.cpu, Memory=a.memory, Essential=True,
        PortMappings=[ecs.PortMapping(ContainerPort=a.port, Protocol="tcp", Name="http")],
        Environment=_env({**a.environment, **APP_WRITES}),
        User=RUN_AS,
        ReadonlyRootFilesystem=read_only_root(p),
        Secrets=[ecs.Secret(Name=var, ValueFrom=secrets.secret_value_from(t, p, var)) for var in sorted(p.secrets)],
        MountPoints=[ecs.MountPoint(SourceVolume=APP_VOLUME, ContainerPath=APP_DATA_PATH, ReadOnly=False)],
        DependsOn=[ecs.ContainerDependency(ContainerName=QDRANT, Condition="HEALTHY")],
        HealthCheck=ecs.HealthCheck(Command=app_health_command(a.port, a.health_check_path), **APP_CHECK),
        StopTimeout=APP_STOP_TIMEOUT,  # SQLite finishes its transaction and closes; stops before Qdrant
        LogConfiguration=_log(p, APP),
    )


def _task_definition(t: Template, p: EnvParams) -> ecs.TaskDefinition:
    return t.add_resource(ecs.TaskDefinition(
        "TaskDefinition",
        Family=p.task.family,
        Cpu=str(p.task.cpu),
        Memory=str(p.task.memory),
        NetworkMode="awsvpc",
        RequiresCompatibilities=["FARGATE"],
        RuntimePlatform=ecs.RuntimePlatform(OperatingSystemFamily="LINUX", CpuArchitecture=p.task.cpu_architecture),
        ExecutionRoleArn=param(t, In.ExecutionRoleArn, description="ECS execution role (identity stack)."),
        TaskRoleArn=param(t, In.TaskRoleArn, description="ECS task role (identity stack)."),
        Volumes=[_volume(t, APP_VOLUME, In.AppAccessPointId), _volume(t, QDRANT_VOLUME, In.QdrantAccessPointId)],
        ContainerDefinitions=[_qdrant(t, p), _app(t, p)],
        Tags=tags(p, COMPONENT),
    ))


def _service(t: Template, p: EnvParams, task: ecs.TaskDefinition) -> ecs.Service:
    desired = param(t, In.DesiredCount, "Number", "0 (stopped) or 1: never two writers.", AllowedValues=["0", "1"])
    return t.add_resource(ecs.Service(
        "Service",
        ServiceName=p.task.family,  # fixed name: a replacement fails rather than run a second writer (see docstring)
        Cluster=param(t, In.ClusterName, description="ECS cluster (cluster stack)."),
        TaskDefinition=Ref(task),
        DesiredCount=desired,
        LaunchType="FARGATE",
        PlatformVersion="LATEST",
        DeploymentController=ecs.DeploymentController(Type="ECS"),
        DeploymentConfiguration=ecs.DeploymentConfiguration(
            MinimumHealthyPercent=0, MaximumPercent=100,
            DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
        ),
        # Rebalancing starts a task in another AZ before stopping one: not for a single writer.
        AvailabilityZoneRebalancing="DISABLED",
        HealthCheckGracePeriodSeconds=p.service.health_check_grace_period,
        NetworkConfiguration=ecs.NetworkConfiguration(AwsvpcConfiguration=ecs.AwsvpcConfiguration(
            AssignPublicIp="ENABLED" if p.network.assign_public_ip else "DISABLED",
            SecurityGroups=[param(t, In.AppSecurityGroupId, "AWS::EC2::SecurityGroup::Id")],
            Subnets=subnet_ids(t, p),
        )),
        LoadBalancers=[ecs.LoadBalancer(ContainerName=APP, ContainerPort=p.containers.app.port,
                                        TargetGroupArn=param(t, In.TargetGroupArn,
                                                             description="Target group (load_balancer stack)."))],
        EnableExecuteCommand=p.service.debug_shell,  # with writable roots only (read_only_root)
        EnableECSManagedTags=True,
        PropagateTags="SERVICE",
        Tags=tags(p, COMPONENT),
    ))


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """The service (fixed name: the task family, in the cluster's ARN) and the task definition's revisions, and the
    tags of every ECS resource: these and the cluster stack's cluster. Passing the task's roles is
    ``templates/iam.py``'s statement."""
    cluster = cluster_arn(p)
    service = service_arn(p)
    task_definitions = arn("ecs", f"task-definition/{p.task.family}:*")
    return [
        Statement(
            Sid="Service", Effect=Allow,
            Action=[ecs_actions.CreateService, ecs_actions.DeleteService, ecs_actions.DescribeServices,
                    ecs_actions.ListServiceDeployments, ecs_actions.UpdateService],
            Resource=[service],
        ),
        Statement(
            Sid="ServiceDeployments", Effect=Allow,
            Action=[ecs_actions.DescribeServiceDeployments, ecs_actions.StopServiceDeployment],
            Resource=[service, arn("ecs", f"service-deployment/{cluster_name(p)}/{p.task.family}/*")],
        ),
        Statement(Sid="RegisterTaskDefinitions", Effect=Allow, Action=[ecs_actions.RegisterTaskDefinition],
                  Resource=[task_definitions]),
        Statement(
            # DescribeTaskDefinition and DeregisterTaskDefinition have no resource-level permissions: "*".
            Sid="TaskDefinitionRevisions", Effect=Allow,
            Action=[ecs_actions.DeregisterTaskDefinition, ecs_actions.DescribeTaskDefinition], Resource=["*"],
        ),
        Statement(
            Sid="EcsTags", Effect=Allow,
            Action=[ecs_actions.ListTagsForResource, ecs_actions.TagResource, ecs_actions.UntagResource],
            Resource=[cluster, service, task_definitions],
        ),
    ]
