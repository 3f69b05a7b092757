"""The typed parameters of one environment, loaded from ``params/<env>.yaml``.

Three layers of validation, all run once by :func:`load_params`:

0. :mod:`templates._params_file` reads the file defensively: a regular file of at most 1 MiB, plain YAML only,
   no duplicate keys, bounded nesting and numbers; anything else is a problem with its key path, never a crash.
1. pydantic checks the shape: types, formats (account, VPC, subnet, ARN ids), unknown keys (with the closest name).
2. :func:`rule_problems` checks the business rules that need several fields at once (Fargate CPU/memory
   pairs, containers fit the task, a single writer on EFS, HTTPS in production) and names the key path of each.
   They run even when pydantic refused some values (on the rest, defaults in their place), except the rules that
   read a refused key: one mistake, one line.

Why rules live in a function and not in a pydantic ``model_validator``: a model validator can only report its
problems at the model's own location, so "task.memory" would be reported as "(root)". A separate pass keeps
the key path exact and lets every problem be reported at once. :func:`load_params` is the only way the rest of
the code obtains an :class:`EnvParams`, so a model that breaks a rule never reaches a template.

No secret values live here, ever: a secret is a name or an ARN, or "generate one".
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from templates import _params_file

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"

# ---------------------------------------------------------------------------------------------------------------
# Formats. Each pattern is the documented shape of the id; the message says what is allowed.

AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
VpcId = Annotated[str, StringConstraints(pattern=r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")]
SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")]
HostedZoneId = Annotated[str, StringConstraints(pattern=r"^Z[0-9A-Z]{1,31}$")]
AcmArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")]
OidcProviderArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$")
]
# The typed sentinel for a value nobody has confirmed yet (the seed's secret ARNs until `discover` prints them, the
# backend repository until its owner confirms it). The model accepts it only in the fields typed ``...OrUnconfirmed``;
# offline generation renders it as is, and every command that talks to AWS refuses it (deploy/preflight.py, exit 2).
UNCONFIRMED = "UNCONFIRMED"


def _or_unconfirmed(pattern: str) -> str:
    """``pattern`` (anchored ``^...$``) or exactly the sentinel."""
    return rf"^(?:{UNCONFIRMED}|{pattern[1:-1]})$"


SECRET_ARN_PATTERN = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
SecretArnOrUnconfirmed = Annotated[str, StringConstraints(pattern=_or_unconfirmed(SECRET_ARN_PATTERN))]
SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")]
DomainName = Annotated[
    str, StringConstraints(pattern=r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,20}$")]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
# An image tag as Docker defines it, minus "latest": a moving tag makes a deploy unreproducible.
IMAGE_TAG_PATTERN = r"^(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
ImageTag = Annotated[str, StringConstraints(pattern=IMAGE_TAG_PATTERN)]
EcrRepositoryName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$", max_length=256)]
# Container images referenced by a fixed tag or digest, never latest.
ImageRef = Annotated[str,
                     StringConstraints(pattern=r"^[a-z0-9./_-]+(:(?!latest$)[A-Za-z0-9_.-]{1,128}|@sha256:[0-9a-f]{64})$")]
GITHUB_REPO_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
GithubRepoOrUnconfirmed = Annotated[str, StringConstraints(pattern=_or_unconfirmed(GITHUB_REPO_PATTERN))]
# AWS Backup cron: cron(Minutes Hours Day-of-month Month Day-of-week Year).
BackupCron = Annotated[str, StringConstraints(pattern=r"^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$")]
LogGroupName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_/.#-]{1,512}$")]

# The values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)

# Fargate task sizes (Linux): CPU units -> allowed memory in MiB. From "Task CPU and memory" in the ECS
# Developer Guide (AWS Fargate task sizes).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


class Strict(BaseModel):
    """Unknown keys are refused, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")


# ---------------------------------------------------------------------------------------------------------------
# Sections


class CreateVpc(Strict):
    """A VPC of our own: public subnets only, tasks get a public IP (no NAT gateway, see README)."""

    cidr: str = "10.40.0.0/16"
    az_count: int = Field(2, ge=2, le=3, description="Availability zones; the ALB needs at least two.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError as e:
            raise ValueError(f"not an IPv4 network in CIDR form ({e})") from None
        if not 16 <= net.prefixlen <= 24:
            raise ValueError("prefix length must be between /16 and /24 (VPC limits, room for /26 subnets)")
        return v

    def subnet_cidrs(self) -> list[str]:
        """One subnet per AZ, each a quarter of the VPC: deterministic and leaves room to grow."""
        net = ipaddress.IPv4Network(self.cidr)
        return [str(s) for s in list(net.subnets(prefixlen_diff=2))[: self.az_count]]


class Network(Strict):
    """Either an existing VPC (vpc_id + subnet_ids) or ``create``."""

    vpc_id: VpcId | None = None
    subnet_ids: list[SubnetId] | None = Field(None, description="Task, ALB and EFS mount target subnets.")
    create: CreateVpc | None = None
    assign_public_ip: bool = Field(
        True, description="Tasks in public subnets need a public IP to reach ECR, Secrets Manager and logs."
    )

    @property
    def creates_vpc(self) -> bool:
        return self.create is not None


class Image(Strict):
    repository: EcrRepositoryName = Field(description="ECR repository of the app image, in the environment's account.")
    create_repository: bool = Field(False, description="Create the repository (retained) instead of using one.")
    default_tag: ImageTag = Field(description="Default of the root ImageTag parameter; each deploy passes its own.")


class Task(Strict):
    family: str = Field("wwhd-backend", pattern=r"^[A-Za-z0-9_-]{1,255}$")
    cpu: int = 1024
    memory: int = 2048
    cpu_architecture: Literal["X86_64", "ARM64"] = "X86_64"


# A dynamic reference to a secret (CloudFormation User Guide, "Get values stored in other services using dynamic
# references"): in a container's plain environment CloudFormation would resolve it into the task definition, where
# anyone with ecs:DescribeTaskDefinition reads it in clear text. Secrets go through `secrets:` (ECS injects them).
SECRET_REFERENCE = re.compile(r"\{\{resolve:(secretsmanager|ssm-secure):", re.IGNORECASE)


def no_secret_references(environment: dict[str, str]) -> dict[str, str]:
    found = sorted(k for k, v in environment.items() if SECRET_REFERENCE.search(v))
    if found:
        raise ValueError(f"{', '.join(found)}: a {{{{resolve:secretsmanager:...}}}} or {{{{resolve:ssm-secure:...}}}} "
                         "value would be resolved into the task definition in plain text; name the secret under "
                         "`secrets:` instead (ECS injects it at start)")
    return environment


class AppContainer(Strict):
    cpu: int = Field(768, ge=0)
    memory: int = Field(1536, ge=6, description="Hard limit in MiB (Docker's minimum is 6).")
    port: int = Field(8000, ge=1, le=65535)
    health_check_path: str = Field("/health", pattern=r"^/[A-Za-z0-9/_.-]*$")
    environment: dict[EnvVarName, str] = Field(
        default_factory=lambda: {
            "APP_ENV": "production",
            "QDRANT_URL": "http://localhost:6333",
            "SQLITE_PATH": "/data/wwhd.db",
            "LOG_LEVEL": "INFO",
        }
    )
    _secret_free = field_validator("environment")(no_secret_references)


class QdrantContainer(Strict):
    # the non-root build of the seed's version (Qdrant docs, "Security": *-unprivileged images run as uid 1000)
    image: ImageRef = "qdrant/qdrant:v1.7.4-unprivileged"
    cpu: int = Field(256, ge=0)
    memory: int = Field(512, ge=6)
    port: int = Field(6333, ge=1, le=65535)
    environment: dict[EnvVarName, str] = Field(
        default_factory=lambda: {"QDRANT__SERVICE__HTTP_PORT": "6333", "QDRANT__LOG_LEVEL": "INFO"}
    )
    _secret_free = field_validator("environment")(no_secret_references)


class Containers(Strict):
    app: AppContainer = AppContainer()
    qdrant: QdrantContainer = QdrantContainer()


class SecretRef(Strict):
    """One secret injected into the app container as an environment variable.

    ``generate: true`` creates the secret with a random value (CloudFormation GenerateSecretString); the value never
    passes through this repository. Otherwise the secret exists already and is referenced by ``arn`` (preferred: the
    full ARN with its 6-character suffix, as ECS documents for ``valueFrom``) or by ``name`` (a partial ARN is built).
    """

    name: SecretName | None = None
    arn: SecretArnOrUnconfirmed | None = Field(None,
                                               description=f"Full ARN, or {UNCONFIRMED} until `discover` prints it.")
    generate: bool = False
    description: str = ""


class Service(Strict):
    desired_count: int = Field(
        1, ge=0, description="Default of the root DesiredCount parameter: 0 (stopped) or 1 (the single writer)."
    )
    health_check_grace_period: int = Field(120, ge=0, le=2147483647)
    debug_shell: bool = Field(
        False,
        description="Temporary: ECS Exec on (`aws ecs execute-command` into the task) AND both containers' root file "
                    "systems writable, together (ECS Exec does not support a read-only root file system). Off: no "
                    "shell, read-only roots. Turn it back to false when done (README \"A debug shell\").",
    )


class Backup(Strict):
    schedule: BackupCron = "cron(0 5 * * ? *)"
    delete_after_days: int = Field(35, ge=1, le=36500)
    move_to_cold_storage_after_days: int | None = Field(None, ge=1)


class Storage(Strict):
    throughput_mode: Literal["bursting", "elastic", "provisioned"] = "bursting"
    provisioned_throughput_mibps: float | None = Field(None, ge=1, le=3414)
    transition_to_ia_days: Literal[1, 7, 14, 30, 60, 90, 180, 270, 365] | None = 30
    backup: Backup = Backup()


class Logs(Strict):
    group_name: LogGroupName = "/ecs/wwhd-backend"
    retention_days: int = 30

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, v: int) -> int:
        if v not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))} (CloudWatch Logs values)")
        return v


class Cluster(Strict):
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,255}$", description="Physical name; default: generated.")
    container_insights: Literal["enabled", "enhanced", "disabled"] = "enabled"


class LoadBalancer(Strict):
    idle_timeout: int = Field(60, ge=1, le=4000)
    deregistration_delay: int = Field(30, ge=0, le=3600, description="Seconds; one task, so drain briefly.")
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    ingress_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])

    @field_validator("ingress_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.IPv4Network(c, strict=True)
            except ValueError as e:
                raise ValueError(f"{c!r} is not an IPv4 CIDR ({e})") from None
        return v


class Domain(Strict):
    name: DomainName = Field(description="The API's host name, e.g. api.example.com.")
    hosted_zone_id: HostedZoneId = Field(description="Route 53 public hosted zone that holds `name`.")
    certificate_arn: AcmArn | None = Field(None, description="Use this ACM certificate instead of creating one.")


class Monitoring(Strict):
    alarm_email: Email | None = None
    cpu_high_percent: int = Field(80, ge=1, le=100)
    memory_high_percent: int = Field(80, ge=1, le=100)
    latency_p95_seconds: float = Field(2.0, gt=0)
    http_5xx_per_5min: int = Field(10, ge=1)
    efs_io_limit_percent: int = Field(90, ge=1, le=100)
    efs_throughput_percent: int = Field(90, ge=1, le=100)


class Ci(Strict):
    github_repository: GithubRepoOrUnconfirmed = Field(
        description=f"owner/name of the backend repository, or {UNCONFIRMED} until its owner confirms it.")
    branch: str = Field("main", pattern=r"^[A-Za-z0-9_./-]+$")
    deploy_environment: str = Field("production", pattern=r"^[A-Za-z0-9_ .-]+$",
                                    description="GitHub environment the apply job runs in (protected).")
    oidc_provider_arn: OidcProviderArn | None = Field(None, description="Existing provider; default: create one.")
    template_bucket: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                                        description="Bucket `bootstrap` made; default: wwhd-infra-<account>-<region>.")


class EnvParams(Strict):
    """Everything one environment needs, validated."""

    env: Slug = Field(description="Set from the file name; not written in the file.")
    app: Slug = "wwhd"
    production: bool = Field(False, description="Production: HTTPS required, stack protection on deploy.")
    account_id: AccountId | None = Field(
        None, description="Deploys refuse any other account; templates use AWS::AccountId, so unset means any account."
    )
    region: Region
    network: Network
    image: Image
    task: Task = Task()
    containers: Containers = Containers()
    secrets: dict[EnvVarName, SecretRef] = Field(default_factory=dict)
    service: Service = Service()
    storage: Storage = Storage()
    logs: Logs = Logs()
    cluster: Cluster = Cluster()
    load_balancer: LoadBalancer = LoadBalancer()
    domain: Domain | None = None
    monitoring: Monitoring = Monitoring()
    ci: Ci | None = None

    @property
    def stack_name(self) -> str:
        return f"{self.app}-{self.env}"

    @property
    def https(self) -> bool:
        return self.domain is not None


_Section = TypeVar("_Section")


def given(section: _Section | None, key: str) -> _Section:
    """An optional params section, read by code that runs only when it is set (a stack's ``enabled``, ``p.https``,
    ``p.network.creates_vpc``): None here is a bug in that caller, never bad input, so it fails loudly."""
    if section is None:
        raise AssertionError(f"built only when the params set `{key}`, but it is not set")
    return section


# ---------------------------------------------------------------------------------------------------------------
# Business rules


@dataclass(frozen=True)
class Problem:
    loc: str
    message: str


def _fargate(p: EnvParams) -> list[Problem]:
    cpu, mem = p.task.cpu, p.task.memory
    if cpu not in FARGATE_SIZES:
        return [Problem("task.cpu", f"{cpu} is not a Fargate CPU size; allowed: {', '.join(map(str, FARGATE_SIZES))}")]
    allowed = FARGATE_SIZES[cpu]
    if mem not in allowed:
        shown = (", ".join(map(str, allowed)) if len(allowed) <= 8
                 else f"{allowed[0]} to {allowed[-1]} in steps of {allowed[1] - allowed[0]}")
        return [Problem("task.memory", f"{mem} MiB is not valid with {cpu} CPU units on Fargate; allowed: {shown}")]
    return []


def _containers_cpu(p: EnvParams) -> list[Problem]:
    c = p.containers
    if c.app.cpu + c.qdrant.cpu > p.task.cpu:
        return [Problem("containers",
                        f"container CPU {c.app.cpu} + {c.qdrant.cpu} exceeds the task's {p.task.cpu} units")]
    return []


def _containers_memory(p: EnvParams) -> list[Problem]:
    c = p.containers
    if c.app.memory + c.qdrant.memory > p.task.memory:
        return [Problem("containers",
                        f"container memory {c.app.memory} + {c.qdrant.memory} MiB exceeds the task's "
                        f"{p.task.memory} MiB")]
    return []


def _ports(p: EnvParams) -> list[Problem]:
    if p.containers.app.port == p.containers.qdrant.port:
        return [Problem("containers.qdrant.port",
                        "the two containers share one network namespace (awsvpc): ports must differ")]
    return []


def _single_writer(p: EnvParams) -> list[Problem]:
    if p.service.desired_count > 1:
        return [Problem("service.desired_count",
                        f"{p.service.desired_count} tasks would all write the one SQLite file and "
                        "Qdrant storage on EFS "
                        "(Qdrant fails with a RocksDB lock error, SQLite over NFS corrupts); allowed: 0 or 1")]
    return []


def _network(p: EnvParams) -> list[Problem]:
    n = p.network
    if n.create and (n.vpc_id or n.subnet_ids):
        return [Problem("network", "give either `create` or `vpc_id` + `subnet_ids`, not both")]
    if not n.create:
        out = []
        if not n.vpc_id:
            out.append(Problem("network.vpc_id", "required unless `network.create` is given"))
        if not n.subnet_ids:
            out.append(Problem("network.subnet_ids", "required unless `network.create` is given"))
        elif len(n.subnet_ids) < 2:
            out.append(Problem("network.subnet_ids",
                               "an ALB needs subnets in at least two availability zones; give 2 or more"))
        elif len(set(n.subnet_ids)) != len(n.subnet_ids):
            out.append(Problem("network.subnet_ids", "duplicate subnet: EFS allows one mount target per subnet and AZ"))
        return out
    return []


def _https(p: EnvParams) -> list[Problem]:
    out = []
    if p.production and p.domain is None:
        out.append(Problem("domain",
                           "a production environment must serve HTTPS: give `domain` (name and hosted_zone_id)"))
    if p.env in {"prod", "production"} and not p.production:
        out.append(Problem("production", f"environment {p.env!r} must set `production: true`"))
    return out


def _secrets(p: EnvParams) -> list[Problem]:
    out = []
    for var, s in p.secrets.items():
        given = [k for k in ("name", "arn") if getattr(s, k)]
        loc = f"secrets.{var}"
        if s.generate and s.arn:
            out.append(Problem(loc, "`generate: true` creates the secret: give it a `name`, not an `arn`"))
        elif s.generate and not s.name:
            out.append(Problem(loc, "`generate: true` needs a `name` for the new secret"))
        elif not s.generate and len(given) != 1:
            out.append(Problem(loc, "give exactly one of `name` or `arn` of the existing secret (or `generate: true`)"))
        if s.arn and s.arn != UNCONFIRMED and not s.arn.split(":")[3] == p.region:
            out.append(Problem(f"{loc}.arn", f"secret is in {s.arn.split(':')[3]}, the environment in {p.region}"))
        if var in p.containers.app.environment:
            out.append(Problem(loc, f"{var} is also a plain environment variable in containers.app.environment"))
    return out


def _storage(p: EnvParams) -> list[Problem]:
    s = p.storage
    if (s.throughput_mode == "provisioned") != (s.provisioned_throughput_mibps is not None):
        return [Problem("storage.provisioned_throughput_mibps",
                        "required with throughput_mode: provisioned, refused otherwise")]
    b = s.backup
    if b.move_to_cold_storage_after_days is not None and b.delete_after_days < b.move_to_cold_storage_after_days + 90:
        return [Problem("storage.backup.delete_after_days",
                        "AWS Backup keeps cold recovery points at least 90 days: must be >= "
                        "move_to_cold_storage_after_days + 90")]
    return []


# Names that AWS limits and that are made from the stack name ``<app>-<env>``, the longest of each kind
# (tests/test_names.py keeps them equal to the names the templates build, and lints the templates of the longest
# stack name allowed, and of one character more, with cfn-lint's resource schemas):
# - IAM role names: at most 64 characters (IAM User Guide, "IAM and AWS STS quotas", "IAM name requirements"). The
#   longest is CI's CloudFormation execution role (templates/names.py ``execution_role_name``) when there is a ``ci``
#   section, else the app's task-execution role (templates/iam.py ``role_name``).
# - The backup vault's name, ``${AWS::StackName}-vault`` in the storage stack (templates/storage.py ``_backups``; its
#   plan's ``-efs`` is shorter): at most 50 characters (AWS Backup API Reference, CreateBackupVault, pattern
#   ``^[a-zA-Z0-9\-\_]{2,50}$``). The storage stack is nested, and CloudFormation names a nested stack
#   ``<root>-<logical id>-<random>``, the random part 12 or 13 characters: 13 here.
ROLE_NAME_MAX = 64
LONGEST_ROLE_SUFFIX = {True: "-cloudformation-execution", False: "-task-execution"}
BACKUP_NAME_MAX = 50
STORAGE_STACK_SUFFIX = "-StorageStack-" + "X" * 13  # the storage stack's name, after the root's
LONGEST_BACKUP_SUFFIX = "-vault"


def derived_names(p: EnvParams) -> list[tuple[str, str, int]]:
    """``(what, name, limit)`` of the longest name of each kind made from the stack name (random parts as X)."""
    return [("IAM role", p.stack_name + LONGEST_ROLE_SUFFIX[p.ci is not None], ROLE_NAME_MAX),
            ("AWS Backup vault", p.stack_name + STORAGE_STACK_SUFFIX + LONGEST_BACKUP_SUFFIX, BACKUP_NAME_MAX)]


def _names(p: EnvParams) -> list[Problem]:
    made = [(what, name, limit, limit - (len(name) - len(p.stack_name))) for what, name, limit in derived_names(p)]
    what, name, limit, room = min(made, key=lambda m: m[3])  # the tightest: within it, every name fits
    if len(p.stack_name) <= room:
        return []
    return [Problem("app", f"the stack name {p.stack_name} ({len(p.stack_name)} characters, app and the params file's "
                           f"name) is too long: {what} {name} would exceed {limit} characters (X: characters AWS "
                           f"generates); app and the environment's name may have {room - 1} characters together")]


# Each rule with the keys it reads. A rule is skipped when one of them is already reported (by pydantic or by an
# earlier rule): its verdict would rest on a value known to be wrong, or on the default that replaced it, and would
# only add a second, confusing error for one mistake (task.cpu 100 is "not a Fargate CPU size"; "containers exceed
# the task's 100 units" would say the same thing worse). Order matters: sizes before what must fit in them.
RULES = (
    (_fargate, ("task.cpu", "task.memory")),
    (_containers_cpu, ("task.cpu", "containers.app.cpu", "containers.qdrant.cpu")),
    (_containers_memory, ("task.memory", "containers.app.memory", "containers.qdrant.memory")),
    (_ports, ("containers.app.port", "containers.qdrant.port")),
    (_single_writer, ("service.desired_count",)),
    (_network, ("network",)),
    (_https, ("production", "domain")),
    (_secrets, ("secrets", "region", "containers.app.environment")),
    (_storage, ("storage",)),
    (_names, ("app",)),
)


def unconfirmed(p: EnvParams) -> list[str]:
    """The key paths that still hold the :data:`UNCONFIRMED` sentinel."""
    found = [f"secrets.{var}.arn" for var, s in sorted(p.secrets.items()) if s.arn == UNCONFIRMED]
    if p.ci is not None and p.ci.github_repository == UNCONFIRMED:
        found.append("ci.github_repository")
    return found


def _overlaps(a: str, b: str) -> bool:
    """One key path is the other or contains it (``task`` and ``task.cpu``; ``network.subnet_ids[1]``)."""
    a, b = sorted((a, b), key=len)
    return a in {"", "(top level)"} or b == a or b.startswith((a + ".", a + "["))


def rule_problems(p: EnvParams, reported: set[str] | frozenset[str] = frozenset()) -> list[Problem]:
    """The business rules' problems, leaving out rules that read a key in ``reported`` (see :data:`RULES`)."""
    out: list[Problem] = []
    for rule, needs in RULES:
        # A rule's own summary location ("containers") does not silence the next rule about another part of it.
        if any(_overlaps(need, r) for need in needs for r in reported) or any(pr.loc in needs for pr in out):
            continue
        out += rule(p)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Loading


class ParamsError(Exception):
    """A user's mistake in a params file: printed without a traceback, exit code 2."""

    SHOWN = 20  # a broken 1 MiB file can hold tens of thousands of problems; the first ones are enough to start

    def __init__(self, path: Path | str, problems: list[Problem]):
        self.path = str(path)
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.path}: {p.loc}: {p.message}" if p.loc else f"{self.path}: {p.message}"
                 for p in self.problems[: self.SHOWN]]
        if len(self.problems) > self.SHOWN:
            lines.append(f"{self.path}: ... and {len(self.problems) - self.SHOWN} more problems (fix these first)")
        return "\n".join(lines)


def _loc(parts: tuple) -> str:
    return _params_file.loc(parts)


def _fields_at(parts: tuple) -> list[str]:
    """The keys the model allows at ``parts`` (a mapping's location), or [] when that is not a model."""
    types: list = [EnvParams]
    for part in parts:
        nxt = []
        for t in types:
            for a in (t, *get_args(t)):  # X | None, dict[K, V], list[X]
                if isinstance(a, type) and issubclass(a, BaseModel) and part in a.model_fields:
                    nxt.append(a.model_fields[part].annotation)
                elif get_origin(a) is dict and isinstance(part, str):
                    nxt.append(get_args(a)[1])
                elif get_origin(a) is list and isinstance(part, int):
                    nxt.append(get_args(a)[0])
        types = nxt
    models = [a for t in types for a in (t, *get_args(t)) if isinstance(a, type) and issubclass(a, BaseModel)]
    return [f for f in models[0].model_fields if f != "env"] if models else []


# Keys that were renamed, with the new key and why (a renamed key is unknown; say where it went).
RENAMED: dict[tuple[str, ...], str] = {
    ("service", "enable_execute_command"): "renamed to service.debug_shell, which also makes the root file systems "
                                          "writable (ECS Exec does not support read-only ones); default false",
}


def _unknown_key(parts: tuple) -> str:
    if tuple(map(str, parts)) in RENAMED:
        return f"unknown key; {RENAMED[tuple(map(str, parts))]}"
    allowed = _fields_at(parts[:-1])
    close = difflib.get_close_matches(str(parts[-1]), allowed, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; allowed: {', '.join(allowed)}" if allowed else "unknown key"


def _pydantic_problems(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        loc = _loc(e["loc"])
        kind = e["type"]
        if kind == "extra_forbidden":
            msg = _unknown_key(e["loc"])
        elif kind == "missing":
            msg = "required key is missing"
        elif kind == "string_pattern_mismatch":
            msg = f"{_params_file.shown(e['input'])} does not match the allowed format {e['ctx']['pattern']}"
        elif kind == "literal_error":
            msg = f"{_params_file.shown(e['input'])} is not allowed; expected {e['ctx']['expected']}"
        else:
            msg = e["msg"].removeprefix("Value error, ")
        problems.append(Problem(loc, msg))
    return problems


def project_dir() -> Path:
    """The folder with params/ and output/: the current one if it has params/, else this repository's."""
    cwd = Path.cwd()
    return cwd if (cwd / "params").is_dir() else PARAMS_DIR.parent


def environments(params_dir: Path = PARAMS_DIR) -> list[str]:
    """Every environment with a params file, sorted."""
    return sorted(f.stem for f in params_dir.glob("*.yaml"))


def load_params(env: str, params_dir: Path = PARAMS_DIR) -> EnvParams:
    """Load and validate ``params_dir/<env>.yaml``; raise :class:`ParamsError` for anything wrong.

    Reading is :mod:`templates._params_file`'s job (file type, size, YAML that Python would choke on, duplicate keys);
    then pydantic checks the shape and :func:`rule_problems` the rules, both reported together where possible.
    """
    path = params_dir / f"{env}.yaml"
    shown = _display(path)
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,20}", env):
        raise ParamsError(shown, [Problem("",
                                          f"{env!r} is not a valid environment name (lowercase letters, digits, -)")])
    if not path.exists() and not path.is_symlink():
        known = ", ".join(environments(params_dir)) or "none"
        raise ParamsError(shown, [Problem("",
                                          f"no such environment {env!r}; environments with a params file: {known}")])
    try:
        data = _params_file.read(path)
    except _params_file.Unusable as e:
        raise ParamsError(shown, [Problem(loc, message) for loc, message in e.problems]) from None
    if data is None:
        raise ParamsError(shown, [Problem("", "the file is empty; see params/dev.yaml for an example")])
    if not isinstance(data, dict):
        raise ParamsError(shown, [Problem("", f"the top level must be a mapping of keys, not a {type(data).__name__}")])
    if "env" in data:
        raise ParamsError(shown, [Problem("env", "do not set `env`: it is the file's name")])
    try:
        return _checked(EnvParams.model_validate({**data, "env": env}), shown)
    except ValidationError as e:
        refused = e
    problems = _pydantic_problems(refused)
    partial, removed = _without_errors(data, env, refused)
    if partial is not None:  # the rest is valid: its rule problems too, except those resting on a reported key
        problems += rule_problems(partial, reported={p.loc for p in problems} | removed)
    raise ParamsError(shown, problems)


def _checked(p: EnvParams, shown: str) -> EnvParams:
    problems = rule_problems(p)
    if problems:
        raise ParamsError(shown, problems)
    return p


def _without_errors(data: dict, env: str, err: ValidationError) -> tuple[EnvParams | None, set[str]]:
    """The model of ``data`` without the values pydantic refused (defaults instead), and the key paths removed.

    None when that is not valid either (a required key is missing, say): then only pydantic's problems are shown.
    """
    data = copy.deepcopy(data)
    removed: set[str] = set()
    for e in err.errors(include_url=False):
        if e["type"] == "missing":
            return None, removed
        parent, parts = None, []
        cur = data
        for part in e["loc"]:  # walk as far as the data goes; "[key]" and union tags end the walk
            if isinstance(cur, (dict, list)) and not isinstance(part, bool) and (
                    (isinstance(cur, dict) and part in cur)
                or (isinstance(cur, list) and isinstance(part, int) and part < len(cur))):
                parent, cur = cur, cur[part]
                parts.append(part)
            else:
                break
        if parent is None:
            return None, removed
        if isinstance(parent, list):
            parent[parts[-1]] = None  # keep the other items' positions; the key path is reported anyway
        else:
            del parent[parts[-1]]
        removed.add(_loc(tuple(parts)))
    try:
        return EnvParams.model_validate({**data, "env": env}), removed
    except ValidationError:
        return None, removed


def _display(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def json_schema() -> dict:
    """The schema of a params file, for editors (``params/schema.json``)."""
    schema = EnvParams.model_json_schema()
    schema["properties"].pop("env", None)
    schema["required"] = [r for r in schema.get("required", []) if r != "env"]
    schema["title"] = "wwhd-infra environment parameters"
    return schema
