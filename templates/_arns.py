"""ARNs built from names known at build time, shared by the app's roles (``templates/iam.py``), the GitHub roles
(``templates/ci.py``) and the execution-role statements each stack module declares for its resources
(``templates/execution_role.py`` composes them). Partition, account and region come from pseudo parameters, so a
template is the same for any account. No resources here; the names themselves are ``templates/names.py``'s or the
params'."""

from __future__ import annotations

from awacs.aws import ArnEquals, Condition
from troposphere import Sub

from .config import EnvParams
from .names import identity_stack_name, template_bucket


def arn(service: str, resource: str, region: bool = True, account: bool = True) -> Sub:
    return Sub(
        "arn:${AWS::Partition}:%s:%s:%s:%s"
        % (service, "${AWS::Region}" if region else "", "${AWS::AccountId}" if account else "", resource)
    )


def log_group_arn(p: EnvParams) -> Sub:
    return arn("logs", f"log-group:{p.logs.group_name}:*")


def ecr_repository_arn(p: EnvParams) -> Sub:
    return arn("ecr", f"repository/{p.image.repository}")


# --- CloudFormation stacks and the template bucket --------------------------------------------------------------------


def app_stacks(p: EnvParams) -> list[Sub]:
    """The root stack and its nested stacks, any stack id; never the identity stack."""
    return [arn("cloudformation", f"stack/{p.stack_name}/*"), *nested_stacks(p)]


def nested_stacks(p: EnvParams) -> list[Sub]:
    """CloudFormation names a nested stack ``<root>-<LogicalId>-<random>`` and every nested stack's logical id ends in
    ``Stack`` (``templates/_common.stack_id``), so this matches them and not ``<root>-identity``."""
    return [arn("cloudformation", f"stack/{p.stack_name}-*Stack-*/*")]


def identity_stack(p: EnvParams) -> Sub:
    return arn("cloudformation", f"stack/{identity_stack_name(p)}/*")


def bucket_arn(p: EnvParams, key: str = "") -> Sub:
    """The template bucket, or the objects under ``key`` (``/<prefix>/*``)."""
    return arn("s3", template_bucket(p) + key, region=False, account=False)


def template_keys(p: EnvParams, key_prefix: str = "") -> Sub:
    """Where ``package`` puts this app's templates: ``<root>/<sha256>.yaml``, a pull request's under ``pr/``."""
    return bucket_arn(p, f"/{key_prefix + '/' if key_prefix else ''}{p.stack_name}/*")


def template_url(p: EnvParams, key_prefix: str = "") -> Sub:
    """The URLs ``deploy/package.py`` (object_url) gives the root template under ``key_prefix``."""
    prefix = f"{key_prefix}/" if key_prefix else ""
    return Sub(f"https://{template_bucket(p)}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}/{prefix}{p.stack_name}/*")


# --- ECS --------------------------------------------------------------------------------------------------------------


def cluster_name(p: EnvParams) -> str:
    """The fixed name, or the name CloudFormation generates in the cluster stack (``<root>-ClusterStack-..``)."""
    return p.cluster.name or f"{p.stack_name}-*"


def cluster_arn(p: EnvParams) -> Sub:
    return arn("ecs", f"cluster/{cluster_name(p)}")


def service_arn(p: EnvParams) -> Sub:
    # The service's name is fixed to the task family (service.py); service ARNs carry the cluster name.
    return arn("ecs", f"service/{cluster_name(p)}/{p.task.family}")


# --- Secrets Manager --------------------------------------------------------------------------------------------------


def generated_secret_arns(p: EnvParams) -> list[Sub]:
    """The secrets the secrets stack generates, by name: ``<name>-??????`` (the six characters Secrets Manager
    appends)."""
    return [arn("secretsmanager", f"secret:{s.name}-??????") for _, s in sorted(p.secrets.items()) if s.generate]


# --- EC2 --------------------------------------------------------------------------------------------------------------


def ec2_arns(*types: str) -> list[Sub]:
    """Every EC2 resource of each type in this account and region (EC2 ids are random)."""
    return [arn("ec2", f"{kind}/*") for kind in types]


def vpc_arn(p: EnvParams) -> Sub:
    return arn("ec2", f"vpc/{p.network.vpc_id}")


def in_existing_vpc(p: EnvParams) -> dict:
    """Pin EC2 mutations to the environment's VPC when it is known at build time (VPC User Guide policy examples):
    keyword arguments of a ``Statement``."""
    if p.network.creates_vpc:
        return {}
    return {"Condition": Condition(ArnEquals("ec2:Vpc", vpc_arn(p)))}
