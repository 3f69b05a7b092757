"""Preflight: read-only checks that run inside ``plan``, ``package`` and ``apply`` before any change set exists.

A change set finds a name collision or a missing reference only when it executes, halfway through the nested stacks
(issue 7). These checks find them first, each a line ``PASS`` / ``WARN`` / ``BLOCK`` with its evidence and the exact
fix. A BLOCK stops the command before anything is uploaded or created (exit 1); placeholders stop every command
that talks to AWS before its first call (exit 2).

The checks and the AWS rules behind them:

* **placeholders**: host names under the reserved example domains (RFC 2606 section 2 and 3: ``.test``, ``.example``,
  ``.invalid``, ``.localhost``, ``example.com``/``.net``/``.org``; RFC 6761 section 6 makes them special-use), any
  value containing ``PLACEHOLDER``, and the typed sentinel ``UNCONFIRMED`` (templates/config.py).
* **fixed names the templates create** (cluster, log group, generated secrets, the ECR repository when created, the
  ECS service, the IAM OIDC provider of ``token.actions.githubusercontent.com``): CloudFormation fails a create whose
  physical name exists ("AlreadyExists"); IAM allows one OIDC provider per URL per account
  (CreateOpenIDConnectProvider: EntityAlreadyExists); a secret scheduled for deletion keeps its name until the
  recovery window ends (DeleteSecret: 7 to 30 days). A name is ours when the resource belongs to this stack's
  hierarchy (ListStackResources of the root and its nested stacks) or carries the tag CloudFormation adds,
  ``aws:cloudformation:stack-name`` ("Resource tags", CloudFormation User Guide). Otherwise: BLOCK, with the two
  ways out (adopt with ``plan --adopt``, or free the name with the AWS CLI command shown).
* **references the templates do not create**: the VPC, its subnets (distinct Availability Zones: EFS allows one
  mount target per Availability Zone, CreateMountTarget), the public hosted zone that serves the domain (an alias
  record and ACM DNS validation need it), a given certificate (``ISSUED``, and covering the domain: a wildcard
  covers one label, ACM User Guide), referenced secrets (the full ARN exists), the ECR repository (a mutable tag or
  no scan on push is a WARN), a given OIDC provider, and the image tag whenever ``DesiredCount`` is 1 (the circuit
  breaker fails the deploy otherwise).
* **simulated permissions** (``plan --role-arn``): the CloudFormation execution role, asked of IAM with
  ``iam:SimulatePrincipalPolicy`` for the handler actions of every resource type the templates hold, on the ARNs they
  imply (deploy/simulate.py). A denial is a BLOCK naming the action and resource, a result the simulation could not
  decide for a missing context value a WARN, all allowed one PASS. Without ``--role-arn`` the line says it did not
  run (``SKIP``): the caller's own credentials are not what CloudFormation would use.

The checks run concurrently (a bounded thread pool; boto3 clients are thread-safe, so they are made before the
threads start) and their order in the output is fixed, so the same state prints the same lines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from checks.template_walk import Templates
from templates import IDENTITY
from templates.config import UNCONFIRMED, EnvParams, unconfirmed
from templates.names import GITHUB_OIDC_HOST, identity_stack_name
from templates.root import Param

from . import identity
from .aws import aws_errors, error_code, error_message
from .built import Built, build
from .errors import BadInput, DeployError, aws_cli
from .markdown import code as md_code, text as md_text
from .schema import SCHEMA_VERSION
from .stacks import STACK_TYPE, StackInfo
from .ui import Out

PASS, WARN, BLOCK = "PASS", "WARN", "BLOCK"
SKIP = "SKIP"  # a check that did not run; the evidence says why
WORKERS = 8
RESERVED_SUFFIXES = (".test", ".example", ".invalid", ".localhost", "example.com", "example.net", "example.org")
STACK_TAG = "aws:cloudformation:stack-name"
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"}
SERVICES = ("ec2", "ecs", "ecr", "logs", "secretsmanager", "iam", "route53", "acm", "cloudformation")


@dataclass(frozen=True)
class Check:
    status: str
    subject: str
    evidence: str
    fix: str = ""


@dataclass
class Facts:
    """What every check may need, read once before the checks start."""

    account: str
    owned: Owned | set[str] = field(default_factory=set)  # physical ids of this stack's hierarchy
    image_tag: str = ""
    desired_count: int = 1
    adopt: bool = False  # plan --adopt: what ImportExistingResources can import by name is imported, not a collision
    role_arn: str | None = None  # plan --role-arn: the CloudFormation execution role to simulate
    pull_request: bool = False  # plan --pull-request: proposes changes, so a stale identity stack is expected
    # rollback: the release's own templates (root and nested, read back and verified), checked instead of today's
    templates: Templates | None = None
    acts_as_role: bool = False  # CloudFormation acts as a role (--role-arn given, or the stack's RoleARN)
    built: Built | None = None  # this run's templates (deploy/built.py); None: each check builds what it needs


def _identity_now(ctx, facts: Facts) -> identity.Built:
    """Today's identity stack: from this run's templates, or built alone (a rollback builds none of today's app
    templates: a stack module that no longer builds must not stop it)."""
    return facts.built.identity if facts.built is not None else identity.built(ctx.p)


# --- placeholders (offline) ------------------------------------------------------------------------------------------


def reserved(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in {"localhost", *(s.lstrip(".") for s in RESERVED_SUFFIXES)} or host.endswith(
        tuple(s if s.startswith(".") else "." + s for s in RESERVED_SUFFIXES))


def placeholders(p: EnvParams, discover: str | None = None) -> list[Check]:
    """Every value in the params that is not real yet, by key path (``discover``: the command that finds the seed's
    secret ARNs, as the user would run it)."""
    discover = discover or f"python generate.py discover --env {p.env}"
    found = []
    hosts = {"domain.name": p.domain.name if p.domain else None,
             "monitoring.alarm_email": p.monitoring.alarm_email.rsplit("@", 1)[1] if p.monitoring.alarm_email else None}
    for loc, host in hosts.items():
        if host and reserved(host):
            found.append(Check(BLOCK, loc, f"{host} is a reserved example domain (RFC 2606, RFC 6761)",
                               f"set the real value of {loc} in params/{p.env}.yaml"))
    for loc, value in _leaves(p.model_dump(mode="json", exclude={"env"})):
        if "PLACEHOLDER" in str(value):  # the marker ids carry, e.g. Z0000000000000PLACEHOLDER
            found.append(Check(BLOCK, loc, f"{value} is a placeholder",
                               f"set the real value of {loc} in params/{p.env}.yaml"))
    for loc in unconfirmed(p):
        found.append(Check(BLOCK, loc, f"still {UNCONFIRMED}",
                           f"set the confirmed value of {loc} in params/{p.env}.yaml"
                           + (f" ({discover} prints the seed's ARNs)" if loc.startswith("secrets.") else "")))
    return found


def _leaves(value, loc: str = ""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{loc}.{k}" if loc else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{loc}[{i}]")
    elif value is not None:
        yield loc, value


def refuse_placeholders(ctx) -> None:
    """Before any AWS call: a command that talks to AWS never acts on values that are not real (exit 2)."""
    p = ctx.p
    found = placeholders(p, ctx.command("discover"))
    if found:
        listed = "\n".join(f"  {c.subject}: {c.evidence}; {c.fix}" for c in found)
        raise BadInput(f"params/{p.env}.yaml holds {len(found)} placeholder(s); no AWS call was made\n{listed}",
                       f"set the real values in params/{p.env}.yaml (offline generation still works: "
                       f"python generate.py build --env {p.env})")


# --- running ---------------------------------------------------------------------------------------------------------


def run(ctx, account: str, info: StackInfo | None, image_tag: str | None = None,
        desired_count: int | None = None, adopt: bool = False, role_arn: str | None = None,
        pull_request: bool = False, templates: Templates | None = None, built: Built | None = None) -> list[Check]:
    """Every check, concurrently; the result in a fixed order. ``built``: this run's templates (deploy/built.py;
    when not given, as in a rollback, each check builds only what it needs); ``templates``: what will be deployed when
    it is not what the params build today (``rollback``: a release's templates); the checks that read templates read
    those."""
    for service in SERVICES:  # make the clients before the threads: creating them is not thread-safe
        ctx.aws.client(service)
    deployed = info.parameters if info and info.exists else {}
    facts = Facts(account, Owned(ctx, info),
                  image_tag or deployed.get(Param.ImageTag) or ctx.p.image.default_tag,
                  desired_count if desired_count is not None else int(deployed.get(Param.DesiredCount,
                                                                                   ctx.p.service.desired_count)),
                  adopt, role_arn, pull_request, templates, bool(role_arn or (info and info.role_arn)),
                  built)
    checks = [c for c in CHECKS if c is not _oidc or ctx.p.ci is not None]
    if templates is not None:
        checks.append(_release_iam)
    with aws_errors(), ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda check: _guarded(check, ctx, facts), checks))
    return [c for found in results for c in found]


def _guarded(check: Callable, ctx, facts: Facts) -> list[Check]:
    """A check AWS does not let us run is a WARN that says which permission is missing, not a pass."""
    try:
        return check(ctx, facts)
    except ClientError as e:
        if error_code(e) in DENIED:
            return [Check(WARN, check.__name__.strip("_").replace("_", " "),
                          f"not allowed to check ({e.operation_name}: {error_message(e)})",
                          "run with the identity stack's plan role, which may read everything preflight checks")]
        raise


def enforce(ctx, checks: list[Check]) -> None:
    show(checks, ctx.out)
    blocked = [c for c in checks if c.status == BLOCK]
    if blocked:
        raise DeployError(f"preflight: {len(blocked)} blocking problem(s) above; nothing was uploaded and no change "
                          "set created", f"fix each BLOCK as its fix says, then: {ctx.again()}")


class Owned:
    """The physical ids of this stack's hierarchy, read only when a name exists without CloudFormation's tag (on AWS,
    resources CloudFormation makes carry it; the lookup is the fallback). DescribeStackResources answers a whole stack
    in one call (up to 100 resources)."""

    def __init__(self, ctx, info: StackInfo | None):
        self.ctx, self.info = ctx, info
        self._ids: set[str] | None = None
        self._lock = threading.Lock()

    def __contains__(self, physical_id: str) -> bool:
        with self._lock:
            if self._ids is None:
                self._ids = self._read()
        return physical_id in self._ids

    def _read(self) -> set[str]:
        if self.info is None or not self.info.exists:
            return set()
        ids, stacks = set(), [self.info.id]
        while stacks:
            found = self.ctx.aws.cfn.describe_stack_resources(StackName=stacks.pop())["StackResources"]
            ids |= {r["PhysicalResourceId"] for r in found if r.get("PhysicalResourceId")}
            stacks += [r["PhysicalResourceId"]
                       for r in found if r["ResourceType"] == STACK_TYPE and r.get("PhysicalResourceId")]
        return ids


def _ours(ctx, facts: Facts, ids: tuple[str, ...], tags: dict[str, str]) -> bool:
    stack = tags.get(STACK_TAG, "")
    return stack == ctx.p.stack_name or stack.startswith(ctx.p.stack_name + "-") or any(i in facts.owned for i in ids)


def _aws(ctx, *words: str) -> str:
    """An AWS CLI command that runs as printed, with this environment's region and the --profile given."""
    return aws_cli(ctx.p.region, *words)


def _collision(ctx, facts: Facts, what: str, ids: tuple[str, ...], tags: dict[str, str], free: str,
               adopt: str | None = None, importable: bool = False) -> Check:
    if _ours(ctx, facts, ids, tags):
        return Check(PASS, what, f"exists and belongs to {ctx.p.stack_name}")
    owner = tags.get(STACK_TAG)
    if importable and facts.adopt and not owner:  # deploy/adopt.py imports it by name, with its properties as found
        return Check(PASS, what, "exists outside any stack: imported as it is (plan --adopt, ImportExistingResources)")
    evidence = f"exists outside this stack ({f'stack {owner}' if owner else 'made by hand'}): the create would fail"
    way_in = adopt or f"adopt it: {ctx.command('plan', '--adopt')}"
    return Check(BLOCK, what, evidence, f"{way_in}; or free the name: {free}")


# --- fixed names the templates create --------------------------------------------------------------------------------


def _cluster(ctx, facts: Facts) -> list[Check]:
    name = ctx.p.cluster.name
    if not name:
        return [Check(PASS, "ECS cluster", "name generated by CloudFormation: cannot collide")]
    clusters = [c for c in ctx.aws.client("ecs").describe_clusters(clusters=[name], include=["TAGS"])["clusters"]
                if c["status"] != "INACTIVE"]
    what = f"ECS cluster {name}"
    if not clusters:
        return [Check(PASS, what, "name is free")]
    c = clusters[0]
    return [_collision(ctx, facts, what, (name, c["clusterArn"]), _tags(c.get("tags", []), "key", "value"),
                       _aws(ctx, "ecs", "delete-cluster", "--cluster", name), importable=True)]


def _service(ctx, facts: Facts) -> list[Check]:
    cluster, name = ctx.p.cluster.name, ctx.p.task.family
    if not cluster:
        return [Check(PASS, f"ECS service {name}", "in a cluster the stack creates: cannot collide")]
    what = f"ECS service {name} in {cluster}"
    try:
        found = [s for s in ctx.aws.client("ecs").describe_services(cluster=cluster, services=[name],
                                                                     include=["TAGS"]).get("services", [])
                 if s["status"] != "INACTIVE"]
    except ClientError as e:
        # ECS API Reference, DescribeServices errors: ClusterNotFoundException when the cluster does not exist yet
        # (the stack's first create makes it): then no service can hold the name either
        if error_code(e) != "ClusterNotFoundException":
            raise
        return [Check(PASS, what, f"name is free (no cluster {cluster} yet)")]
    if not found:
        return [Check(PASS, what, "name is free")]
    s = found[0]
    return [_collision(ctx, facts, what, (s["serviceArn"], name), _tags(s.get("tags", []), "key", "value"),
                       _aws(ctx, "ecs", "delete-service", "--cluster", cluster, "--service", name, "--force"))]


def _log_group(ctx, facts: Facts) -> list[Check]:
    name = ctx.p.logs.group_name
    logs = ctx.aws.client("logs")
    groups = [g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name]
    what = f"log group {name}"
    if not groups:
        return [Check(PASS, what, "name is free")]
    tags = logs.list_tags_for_resource(resourceArn=groups[0]["logGroupArn"]).get("tags", {})
    return [_collision(ctx, facts, what, (name,), tags,
                       _aws(ctx, "logs", "delete-log-group", "--log-group-name", name) + " (deletes its log events)",
                       importable=True)]


def _generated_secrets(ctx, facts: Facts) -> list[Check]:
    sm = ctx.aws.client("secretsmanager")
    out = []
    for var, s in sorted(ctx.p.secrets.items()):
        if not s.generate:
            continue
        what = f"secret {s.name} ({var}, generated)"
        try:
            d = sm.describe_secret(SecretId=s.name)
        except ClientError as e:
            if error_code(e) != "ResourceNotFoundException":
                raise
            out.append(Check(PASS, what, "name is free"))
            continue
        tags = _tags(d.get("Tags", []), "Key", "Value")
        if d.get("DeletedDate") and not _ours(ctx, facts, (d["ARN"],), tags):
            free = _aws(ctx, "secretsmanager", "delete-secret", "--secret-id", d["ARN"],
                        "--force-delete-without-recovery")
            keep = _aws(ctx, "secretsmanager", "restore-secret", "--secret-id", d["ARN"])
            out.append(Check(BLOCK, what,
                             f"scheduled for deletion on {d.get('DeletedDate')}: the name stays taken until then",
                             f"free it now: {free}; "
                             f"or keep it: {keep} and "
                             f"set secrets.{var}.arn: {d['ARN']} (instead of generate) in params/{ctx.env}.yaml"))
            continue
        out.append(_collision(ctx, facts, what, (d["ARN"],), tags,
                              _aws(ctx, "secretsmanager", "delete-secret", "--secret-id", d["ARN"]),
                              adopt=f"reference it: set secrets.{var}.arn: {d['ARN']} (instead of generate) in "
                                    f"params/{ctx.env}.yaml"))
    return out


def _oidc(ctx, facts: Facts) -> list[Check]:
    arn = ctx.p.ci.oidc_provider_arn or f"arn:aws:iam::{facts.account}:oidc-provider/{GITHUB_OIDC_HOST}"
    what = f"IAM OIDC provider {GITHUB_OIDC_HOST}"
    try:
        d = ctx.aws.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except ClientError as e:
        if error_code(e) != "NoSuchEntity":
            raise
        if ctx.p.ci.oidc_provider_arn:
            return [Check(BLOCK, what, f"ci.oidc_provider_arn {arn} does not exist",
                          f"remove ci.oidc_provider_arn from params/{ctx.env}.yaml (the identity stack then "
                          "creates it)")]
        return [Check(PASS, what, "none in this account: the identity stack creates it")]
    if ctx.p.ci.oidc_provider_arn:
        return [Check(PASS, what, f"exists: {arn}")]
    return [_collision(ctx, facts, what, (arn,), _tags(d.get("Tags", []), "Key", "Value"),
                       _aws(ctx, "iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
                       + " (breaks every role that trusts it)",
                       adopt=f"reference it: set ci.oidc_provider_arn: {arn} in params/{ctx.env}.yaml")]


# --- what the templates reference ------------------------------------------------------------------------------------


def _network(ctx, facts: Facts) -> list[Check]:
    n = ctx.p.network
    if n.creates_vpc:
        return [Check(PASS, "VPC", "created by the network stack")]
    ec2 = ctx.aws.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [n.vpc_id]}])["Vpcs"]
    if not vpcs:
        return [Check(BLOCK, f"VPC {n.vpc_id}", "does not exist in this account and region",
                      f"set network.vpc_id in params/{ctx.env}.yaml: {_aws(ctx, 'ec2', 'describe-vpcs')} lists them")]
    out = [Check(PASS, f"VPC {n.vpc_id}", f"exists ({vpcs[0].get('CidrBlock', '')})")]
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(
        Filters=[{"Name": "subnet-id", "Values": list(n.subnet_ids)}])["Subnets"]}
    missing = [s for s in n.subnet_ids if s not in subnets]
    elsewhere = [s for s, d in subnets.items() if d["VpcId"] != n.vpc_id]
    zones = [subnets[s]["AvailabilityZone"] for s in n.subnet_ids if s in subnets]
    shared = sorted({z for z in zones if zones.count(z) > 1})
    what = f"subnets {', '.join(n.subnet_ids)}"
    fix = f"set network.subnet_ids in params/{ctx.env}.yaml: " + _aws(
        ctx, "ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={n.vpc_id}")
    if missing:
        out.append(Check(BLOCK, what, f"not found: {', '.join(missing)}", fix))
    elif elsewhere:
        out.append(Check(BLOCK, what, f"not in {n.vpc_id}: {', '.join(sorted(elsewhere))}", fix))
    elif shared:
        out.append(Check(BLOCK, what, f"two subnets in {', '.join(shared)}: EFS allows one mount target per "
                                      "Availability Zone", fix + " (one subnet per Availability Zone)"))
    else:
        out.append(Check(PASS, what, f"in {n.vpc_id}, one per Availability Zone ({', '.join(zones)})"))
    return out


def _hosted_zone(ctx, facts: Facts) -> list[Check]:
    d = ctx.p.domain
    if d is None:
        return []
    what = f"hosted zone {d.hosted_zone_id}"
    fix = f"set domain.hosted_zone_id in params/{ctx.env}.yaml: {_aws(ctx, 'route53', 'list-hosted-zones-by-name')}"
    try:
        zone = ctx.aws.client("route53").get_hosted_zone(Id=d.hosted_zone_id)["HostedZone"]
    except ClientError as e:
        if error_code(e) not in {"NoSuchHostedZone", "InvalidInput"}:
            raise
        return [Check(BLOCK, what, "does not exist in this account", fix)]
    zone_name = zone["Name"].rstrip(".").lower()
    if not (d.name == zone_name or d.name.endswith("." + zone_name)):
        return [Check(BLOCK, what, f"serves {zone_name}, not {d.name}", fix)]
    if zone.get("Config", {}).get("PrivateZone"):
        return [Check(BLOCK, what, f"{zone_name} is a private zone: the API's alias and the certificate's DNS "
                                   "validation need the public zone", fix)]
    return [Check(PASS, what, f"public zone {zone_name} serves {d.name}")]


def _certificate(ctx, facts: Facts) -> list[Check]:
    d = ctx.p.domain
    if d is None:
        return []
    if not d.certificate_arn:
        return [Check(PASS, f"certificate for {d.name}", "created by the certificate stack (DNS validation)")]
    what = f"certificate {d.certificate_arn}"
    fix = f"set domain.certificate_arn in params/{ctx.env}.yaml, or remove it to have the certificate stack create one"
    try:
        c = ctx.aws.client("acm").describe_certificate(CertificateArn=d.certificate_arn)["Certificate"]
    except ClientError as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
        return [Check(BLOCK, what, "does not exist", fix)]
    names = [c.get("DomainName", ""), *c.get("SubjectAlternativeNames", [])]
    if c.get("Status") != "ISSUED":
        return [Check(BLOCK, what, f"status {c.get('Status')}, not ISSUED", fix)]
    if not any(_covers(n, d.name) for n in names):
        return [Check(BLOCK, what, f"covers {', '.join(sorted(set(names)))}, not {d.name}", fix)]
    return [Check(PASS, what, f"ISSUED, covers {d.name}")]


def _covers(pattern: str, host: str) -> bool:
    """ACM: a wildcard name covers exactly one label (``*.example.com`` covers ``api.example.com`` only)."""
    pattern, host = pattern.lower(), host.lower()
    if pattern.startswith("*."):
        return host.count(".") == pattern.count(".") and host.endswith(pattern[1:])
    return pattern == host


def _referenced_secrets(ctx, facts: Facts) -> list[Check]:
    sm = ctx.aws.client("secretsmanager")
    out = []
    for var, s in sorted(ctx.p.secrets.items()):
        if s.generate:
            continue
        ref = s.arn or s.name
        what = f"secret {ref} ({var})"
        try:
            d = sm.describe_secret(SecretId=ref)
        except ClientError as e:
            if error_code(e) != "ResourceNotFoundException":
                raise
            out.append(Check(BLOCK, what, "does not exist", f"set secrets.{var}.arn in params/{ctx.env}.yaml: "
                                                            f"{ctx.command('discover')} lists the seed's secrets"))
            continue
        if d.get("DeletedDate"):
            out.append(Check(BLOCK, what, f"scheduled for deletion on {d['DeletedDate']}",
                             _aws(ctx, "secretsmanager", "restore-secret", "--secret-id", d["ARN"])))
        elif s.arn and d["ARN"] != s.arn:
            out.append(Check(BLOCK, what, f"the secret's full ARN is {d['ARN']}",
                             f"set secrets.{var}.arn: {d['ARN']} in params/{ctx.env}.yaml"))
        elif not s.arn:
            out.append(Check(WARN, what, f"referenced by name (a partial ARN); its full ARN is {d['ARN']}",
                             f"set secrets.{var}.arn: {d['ARN']} in params/{ctx.env}.yaml"))
        else:
            out.append(Check(PASS, what, "exists (full ARN)"))
    return out


def _repository(ctx, facts: Facts) -> list[Check]:
    name = ctx.p.image.repository
    ecr = ctx.aws.client("ecr")
    what = f"ECR repository {name}"
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as e:
        if error_code(e) != "RepositoryNotFoundException":
            raise
        if ctx.p.image.create_repository:
            return [Check(PASS, what, "name is free: the cluster stack creates it")] + _image(ctx, facts, exists=False)
        return [Check(BLOCK, what, "does not exist", f"create it, or set image.repository in params/{ctx.env}.yaml: "
                                                     f"{_aws(ctx, 'ecr', 'describe-repositories')} lists them")]
    out = []
    if ctx.p.image.create_repository:
        tags = _tags(ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", []), "Key", "Value")
        out.append(_collision(ctx, facts, what, (name, repo["repositoryArn"]), tags,
                              _aws(ctx, "ecr", "delete-repository", "--repository-name", name, "--force")
                              + " (deletes its images)",
                              adopt=f"use it: set image.create_repository: false in params/{ctx.env}.yaml"))
    settings = []
    if repo.get("imageTagMutability", "MUTABLE") != "IMMUTABLE":
        settings.append(("tags are mutable: a pushed tag can be moved to another image",
                         _aws(ctx, "ecr", "put-image-tag-mutability", "--repository-name", name,
                              "--image-tag-mutability", "IMMUTABLE")))
    if not repo.get("imageScanningConfiguration", {}).get("scanOnPush"):
        settings.append(("no scan on push",
                         _aws(ctx, "ecr", "put-image-scanning-configuration", "--repository-name", name,
                              "--image-scanning-configuration", "scanOnPush=true")))
    if not ctx.p.image.create_repository:
        out += [Check(WARN, what, why, fix)
                for why, fix in settings] or [Check(PASS, what, "immutable tags, scan on push")]
    return out + _image(ctx, facts, exists=True)


def _image(ctx, facts: Facts, exists: bool) -> list[Check]:
    """With DesiredCount 1 the service starts a task at once: its image must exist, or the deploy fails."""
    name, tag = ctx.p.image.repository, facts.image_tag
    what = f"image {name}:{tag}"
    if facts.desired_count != 1:
        return [Check(PASS, what, "not needed yet: DesiredCount 0")]
    later = (f"create with no task first: {ctx.command('plan', '--desired-count', '0')}, push the image, then plan "
             "with --desired-count 1")
    if not exists:
        return [Check(BLOCK, what, "the repository is created empty by this deploy, and DesiredCount is 1", later)]
    try:
        found = ctx.aws.client("ecr").describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])["imageDetails"]
    except ClientError as e:
        if error_code(e) != "ImageNotFoundException":
            raise
        found = []
    if not found:
        return [Check(BLOCK, what, "no such tag in the repository, and DesiredCount is 1",
                      f"push {name}:{tag} first (or pass the tag of a pushed image with --image-tag); or {later}")]
    counts = found[0].get("imageScanFindingsSummary", {}).get("findingSeverityCounts", {})
    serious = {k: v for k, v in sorted(counts.items()) if k in {"CRITICAL", "HIGH"} and v}
    if serious:
        return [Check(WARN, what, "scan findings: " + ", ".join(f"{k} {v}" for k, v in serious.items()),
                      _aws(ctx, "ecr", "describe-image-scan-findings", "--repository-name", name, "--image-id",
                           f"imageTag={tag}"))]
    return [Check(PASS, what, f"exists ({found[0].get('imageDigest', '')})")]


# --- simulated permissions --------------------------------------------------------------------------------------------


def _simulated_permissions(ctx, facts: Facts) -> list[Check]:
    from . import simulate

    role = facts.role_arn
    what = "execution role permissions"
    if not role:
        return [Check(SKIP, what, "not run: simulated only for plan --role-arn (the CloudFormation execution role "
                                  "that CI passes; the caller's own credentials are not what CloudFormation uses)")]
    if facts.templates is not None:  # a release: its app templates, with today's identity stack (the role's policies)
        built = {**facts.templates, IDENTITY: _identity_now(ctx, facts).template}
    else:
        built = (facts.built or build(ctx.p)).templates
    asked, unmapped = simulate.probes(ctx.p, built, facts.account, role.split(":")[1], role)
    try:
        found = simulate.simulate(ctx.aws.client("iam"), role, asked)
    except ClientError as e:
        if error_code(e) != "NoSuchEntity":
            raise
        return [Check(BLOCK, f"execution role {role}", "does not exist",
                      "pass the identity stack's CloudFormationExecutionRoleArn output as --role-arn: " +
                      _aws(ctx, "cloudformation", "describe-stacks", "--stack-name", identity_stack_name(ctx.p),
                           "--query",
                           "Stacks[0].Outputs[?OutputKey=='CloudFormationExecutionRoleArn'].OutputValue",
                           "--output", "text"))]
    out = [Check(WARN, f"execution role: {t}", "not simulated: no ARN rule for this resource type",
                 "add its ARN rule to deploy/simulate.py") for t in unmapped]
    denied: dict[tuple[str, str], list[simulate.Finding]] = {}
    undecided: dict[tuple[str, tuple[str, ...]], list[simulate.Finding]] = {}
    for f in found:
        if f.decision == "allowed":
            continue
        if f.decision == "implicitDeny" and f.missing:
            undecided.setdefault((f.resource, tuple(sorted(f.missing))), []).append(f)
        else:
            denied.setdefault((f.resource, f.decision), []).append(f)
    retry = ctx.command("plan", "--role-arn", role)
    # a release (rollback) that needs what today's role does not grant: the way out is forward, not a wider role
    forward = (f"the release needs a permission today's execution role does not grant: deploy the same image with "
               f"today's templates instead: {ctx.command('apply', '--image-tag', facts.image_tag)}")
    for (resource, decision), fs in sorted(denied.items()):
        actions = sorted({f.action for f in fs})
        by = sorted({s for f in fs for s in f.statements})
        why = "denied by " + ", ".join(by) if decision == "explicitDeny" and by else (
            "explicitly denied" if decision == "explicitDeny" else "no statement allows it")
        out.append(Check(BLOCK, f"execution role: {', '.join(actions)} on {resource}", f"{decision}: {why}",
                         forward if facts.templates is not None else
                         f"grant it to {simulate.EXECUTION_ROLE} (templates/execution_role.py), deploy the "
                         f"identity stack with {ctx.command('bootstrap')}, then: {retry}"))
    for (resource, missing), fs in sorted(undecided.items()):
        actions = sorted({f.action for f in fs})
        out.append(Check(WARN, f"execution role: {', '.join(actions)} on {resource}",
                         f"undecided: its conditions use {', '.join(missing)}, which the simulation had no value for",
                         "see the statements: " + _aws(ctx, "iam", "simulate-principal-policy", "--policy-source-arn",
                                                       role, "--action-names", *actions, "--resource-arns", resource)))
    if not denied and not undecided:
        pairs = len(found)
        out.append(Check(PASS, f"execution role {role}",
                         f"{pairs} action-resource pairs allowed ({len({f.action for f in found})} actions; "
                         f"{len(asked)} SimulatePrincipalPolicy requests)"))
    return out


def _tags(items: list[dict], key: str, value: str) -> dict[str, str]:
    return {t[key]: t[value] for t in items}


# Output order: names first, then references.
def _identity(ctx, facts: Facts) -> list[Check]:
    """The identity stack (deploy/identity.py) exists and is exactly what the params build: the app stacks name its
    roles by fixed ARNs, and only an operator's ``bootstrap`` may change it."""
    want = _identity_now(ctx, facts)
    found = identity.deployed(ctx.aws, want.name)
    what = f"identity stack {want.name}"
    fix = f"an operator deploys it with their own credentials: {ctx.command('bootstrap')}"
    level = WARN if facts.pull_request else BLOCK
    if found.status is None:
        return [Check(level, what, "does not exist: the app's roles (and CI's) are created there first", fix)]
    if found.status not in identity.COMPLETE:
        return [Check(level, what, f"is {found.status}", fix)]
    if not identity.same(found.template, want):
        changed = identity.differences(found.template, want)
        return [Check(level, what, "differs from the templates (IAM changes are an operator's deploy): "
                      + (", ".join(changed) if changed else "the template"), fix)]
    return [Check(PASS, what, f"{found.status}, as the templates build it")]


def _release_iam(ctx, facts: Facts) -> list[Check]:
    """A release recorded before the identity stack existed may hold IAM resources in its app stacks. Deployed as
    the execution role, which writes no IAM (templates/execution_role.py), it would fail half way: refused before any
    change set, with the forward deploy of the same image as the way out."""
    what = "release templates: IAM"
    found = sorted(f"{stem}/{logical_id} ({r.get('Type')})" for stem, t in (facts.templates or {}).items()
                   for logical_id, r in (t.get("Resources") or {}).items()
                   if isinstance(r, dict) and str(r.get("Type", "")).startswith("AWS::IAM::"))
    if not found:
        return [Check(PASS, what, "no IAM resource in the app stacks, as the identity stack requires")]
    forward = ctx.command("apply", "--image-tag", facts.image_tag)
    evidence = (f"{len(found)} IAM resource(s) in the app stacks "
                f"({', '.join(found[:4])}{', ...' if len(found) > 4 else ''}): "
                "recorded before the identity stack held every IAM resource")
    if facts.acts_as_role:
        return [Check(BLOCK, what, evidence + "; the execution role writes no IAM, so the update would fail half way",
                      f"deploy the same image with today's templates instead: {forward}")]
    return [Check(WARN, what, evidence + "; they would be created again beside the identity stack's roles",
                  f"prefer the forward deploy of the same image: {forward}")]


CHECKS = (_identity, _cluster, _service, _log_group, _generated_secrets, _oidc, _network, _hosted_zone, _certificate,
          _referenced_secrets, _repository, _simulated_permissions)


# --- renderings ------------------------------------------------------------------------------------------------------


def show(checks: list[Check], out: Out) -> None:
    counts = {s: sum(c.status == s for c in checks) for s in (PASS, WARN, BLOCK, SKIP)}
    title = f"Preflight: {counts[PASS]} pass, {counts[WARN]} warn, {counts[BLOCK]} block" + (
        f", {counts[SKIP]} not run" if counts[SKIP] else "")
    if out.rich:
        out.table(title, ["Check", "Subject", "Evidence", "Fix"],
                  [[c.status, c.subject, c.evidence, c.fix] for c in checks])
        return
    out.line(title)
    for c in checks:
        out.line(f"  {c.status:<5} {c.subject}: {c.evidence}")
        if c.fix:
            out.line(f"        fix: {c.fix}")


def as_json(checks: list[Check]) -> list[dict]:
    return [{"status": c.status, "subject": c.subject, "evidence": c.evidence, "fix": c.fix or None} for c in checks]


def markdown(checks: list[Check], escape: Callable[[str], str]) -> list[str]:
    if not checks:
        return []
    lines = ["#### Preflight", "", "| | check | evidence | fix |", "|---|---|---|---|"]
    lines += [f"| {escape(c.status)} | {escape(c.subject)} | {escape(c.evidence)} | {escape(c.fix)} |" for c in checks]
    return lines + [""]


def write_blocked(stack_name: str, checks: list[Check], json_file, markdown_file) -> None:
    """The review files of a plan that preflight stopped: no change set, only the checks."""
    if json_file:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps({"schemaVersion": SCHEMA_VERSION, "stackName": stack_name, "changeSetArn": None,
                                         "noChanges": False, "blocked": True, "preflight": as_json(checks)},
                                        indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if markdown_file:
        markdown_file.parent.mkdir(parents=True, exist_ok=True)
        text = [f"### Plan for {md_code(stack_name)}", "", "**Blocked by preflight**: no change set was created.", "",
                *markdown(checks, md_text)]
        markdown_file.write_text("\n".join(text).rstrip() + "\n", encoding="utf-8")


__all__ = ["Check", "PASS", "WARN", "BLOCK", "SKIP", "placeholders", "refuse_placeholders", "run", "enforce", "show",
           "as_json", "markdown", "write_blocked", "reserved"]
