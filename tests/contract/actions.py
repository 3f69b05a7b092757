"""Operation -> IAM authorization: for each API operation a CI job calls, the IAM action(s) it needs, on which resource
ARN(s), with which condition keys, built from the recorded call's parameters and response.

Sources (Service Authorization Reference, "Actions, resources, and condition keys for <service>", unless a line says
otherwise): an operation is authorized as the action of the same name on the resource types listed for it; where
that reference lists no resource type, the request is made on ``*``. The engine (tests/contract/iam_engine.py) checks
each ARN against its own copy of that reference and answers ``Error`` for a resource type the action does not take, so
a wrong row here fails loudly instead of passing by accident.

Rows that are not "the action of the same name":

* ``sts:GetCallerIdentity``: none. STS API Reference, GetCallerIdentity: "No permissions are required to perform
  this operation."
* ``s3:HeadObject`` -> ``s3:GetObject`` on the object; ``ListObjectsV2`` -> ``s3:ListBucket`` on the bucket (with
  ``s3:prefix``). A HeadObject answered 404 also needs ``s3:ListBucket``: S3 API Reference, HeadObject, "If you have
  the s3:ListBucket permission on the bucket, Amazon S3 returns an HTTP status code 404 Not Found error. If you don't
  have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Forbidden error": without it the upload
  step would read "forbidden", not "missing".
* Every S3 request carries ``aws:SecureTransport`` = true (botocore speaks HTTPS to AWS), and the template bucket's
  policy (templates/bootstrap.py, TLS only) is its resource policy.
* ``cloudformation:CreateChangeSet``: the action on the stack with ``cloudformation:RoleArn``,
  ``cloudformation:TemplateUrl``, ``cloudformation:ChangeSetName`` (and the request's tags as ``aws:RequestTag/*``,
  ``aws:TagKeys``); plus ``iam:PassRole`` on ``RoleARN`` with ``iam:PassedToService`` = cloudformation.amazonaws.com
  (CloudFormation User Guide, "CloudFormation service role": the caller needs iam:PassRole to name a role); plus
  ``cloudformation:TagResource`` on the stack when the request has tags (the Service Authorization Reference lists it
  as a dependent action of CreateChangeSet); plus ``s3:GetObject`` on the ``TemplateURL``'s object: CloudFormation
  fetches the template with the caller's access ("TemplateURL must reference a valid S3 object to which you have
  access", the CreateChangeSet error quoted in aws/copilot-cli#1695; templates/bootstrap.py relies on the same rule).
* Change set operations named by ARN (``DescribeChangeSet``, ``ExecuteChangeSet``, ``DeleteChangeSet``): authorized
  on the change set's *stack*; the stack comes from the call's ``StackName`` or from the ``StackId`` a recorded
  DescribeChangeSet of that change set answered. ``cloudformation:ChangeSetName`` carries the value as the call gave
  it (AWS does not document which form the key takes for an ARN: issue 14 point 4).
* ``iam:SimulatePrincipalPolicy``: on the simulated principal (``PolicySourceArn``; IAM API Reference).
* The push job's ``docker login`` / ``docker push``: ECR User Guide, "IAM permissions for pushing an image to an
  Amazon ECR private repository": ``ecr:GetAuthorizationToken`` on ``*`` (``aws ecr get-login-password``), and
  ``ecr:CompleteLayerUpload``, ``ecr:UploadLayerPart``, ``ecr:InitiateLayerUpload``,
  ``ecr:BatchCheckLayerAvailability``, ``ecr:PutImage``, ``ecr:BatchGetImage`` on the repository.

Stack ARNs: a call that names a stack by name is authorized on its ARN ``stack/<name>/<id>``; the id comes from the
recorded responses (every StackId and nested stack ARN the run saw), or a fixed sample id for a stack never seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .record import Call

CLOUDFORMATION = "cloudformation.amazonaws.com"
SAMPLE_STACK_ID = "00000000-0000-4000-8000-000000000000"
_STACK_ARN = re.compile(r"arn:aws[a-z-]*:cloudformation:[^:]+:\d{12}:stack/([^/]+)/[0-9a-f-]+")
_CHANGE_SET_ARN = re.compile(r"arn:aws[a-z-]*:cloudformation:[^:]+:\d{12}:changeSet/")
TLS = (("aws:SecureTransport", "true"),)


@dataclass(frozen=True)
class Need:
    """One IAM request a call makes: ``action`` on ``resource`` with ``context``; ``bucket`` names the S3 bucket
    whose policy is the resource policy."""

    action: str
    resource: str
    context: tuple = ()
    bucket: str | None = None


@dataclass
class Place:
    """What the ARNs are built from: the account and region, and what the run learned (stack ids, the stack of
    each change set)."""

    account: str
    region: str
    partition: str = "aws"
    stacks: dict[str, str] = field(default_factory=dict)  # stack name -> stack ARN
    change_sets: dict[str, str] = field(default_factory=dict)  # change set ARN -> stack ARN

    def learn(self, calls: Iterable[Call]) -> Place:
        for c in calls:
            for text in _strings(c.response):
                for m in _STACK_ARN.finditer(text):
                    self.stacks.setdefault(m.group(1), m.group(0))
            if c.operation == "DescribeChangeSet" and c.response and c.response.get("ChangeSetId"):
                self.change_sets[c.response["ChangeSetId"]] = c.response["StackId"]
        return self

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account if account else ''}:"
                f"{resource}")

    def stack(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return self.stacks.get(name_or_arn) or self.arn("cloudformation", f"stack/{name_or_arn}/{SAMPLE_STACK_ID}")

    def change_set_stack(self, params: dict) -> str:
        if params.get("StackName"):
            return self.stack(params["StackName"])
        name = params["ChangeSetName"]
        if name in self.change_sets:
            return self.change_sets[name]
        raise KeyError(f"the stack of change set {name} is unknown: name it with StackName or record its "
                       "DescribeChangeSet")


def _strings(value) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


# --- the rows ----------------------------------------------------------------------------------------------------

Row = Callable[[Call, Place], list[Need]]


def _same(resource: Callable[[Call, Place], list[str]]) -> Row:
    """The action named like the operation, on each resource."""
    return lambda c, pl: [Need(c.name, r) for r in resource(c, pl)]


def _star(c: Call, pl: Place) -> list[str]:
    return ["*"]


def _stack(c: Call, pl: Place) -> list[str]:
    return [pl.stack(c.params["StackName"])]


def _none(c: Call, pl: Place) -> list[Need]:
    return []


def _s3_object(action: str) -> Row:
    def row(c: Call, pl: Place) -> list[Need]:
        bucket = c.params["Bucket"]
        needs = [Need(action, f"arn:{pl.partition}:s3:::{bucket}/{c.params['Key']}", TLS, bucket)]
        if c.operation == "HeadObject" and c.error in ("404", "NoSuchKey", "NotFound"):
            needs.append(Need("s3:ListBucket", f"arn:{pl.partition}:s3:::{bucket}",
                              TLS + (("s3:prefix", c.params["Key"]),), bucket))
        return needs
    return row


def _s3_bucket(action: str) -> Row:
    def row(c: Call, pl: Place) -> list[Need]:
        bucket = c.params["Bucket"]
        context = TLS + ((("s3:prefix", c.params["Prefix"]),) if "Prefix" in c.params else ())
        return [Need(action, f"arn:{pl.partition}:s3:::{bucket}", context, bucket)]
    return row


def _create_change_set(c: Call, pl: Place) -> list[Need]:
    p = c.params
    stack = pl.stack(p["StackName"])
    tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
    context = [("cloudformation:ChangeSetName", p["ChangeSetName"])]
    if "RoleARN" in p:
        context.append(("cloudformation:RoleArn", p["RoleARN"]))
    if "TemplateURL" in p:
        context.append(("cloudformation:TemplateUrl", p["TemplateURL"]))
    if tags:
        context += [(f"aws:RequestTag/{k}", v) for k, v in sorted(tags.items())]
        context.append(("aws:TagKeys", tuple(sorted(tags))))
    needs = [Need("cloudformation:CreateChangeSet", stack, tuple(context))]
    if tags:
        needs.append(Need("cloudformation:TagResource", stack,
                          tuple((f"aws:RequestTag/{k}", v) for k, v in sorted(tags.items()))
                          + (("aws:TagKeys", tuple(sorted(tags))),)))
    if "RoleARN" in p:
        needs.append(Need("iam:PassRole", p["RoleARN"], (("iam:PassedToService", CLOUDFORMATION),)))
    if "TemplateURL" in p:
        bucket, key = _s3_url(p["TemplateURL"])
        needs.append(Need("s3:GetObject", f"arn:{pl.partition}:s3:::{bucket}/{key}", TLS, bucket))
    return needs


def _s3_url(url: str) -> tuple[str, str]:
    """Bucket and key of a virtual-hosted-style URL (https://<bucket>.s3.<region>.amazonaws.com/<key>), the form
    deploy/package.py gives CloudFormation."""
    parts = urlsplit(url)
    return parts.hostname.split(".s3.", 1)[0], parts.path.lstrip("/")


def _change_set(c: Call, pl: Place) -> list[Need]:
    return [Need(c.name, pl.change_set_stack(c.params), (("cloudformation:ChangeSetName", c.params["ChangeSetName"]),))]


def _each(key: str, build: Callable[[str, Place], str]) -> Callable[[Call, Place], list[str]]:
    return lambda c, pl: [build(v, pl) for v in (c.params[key] if isinstance(c.params[key], list) else [c.params[key]])]


def _ecr_repository(c: Call, pl: Place) -> list[str]:
    names = c.params.get("repositoryNames") or [c.params["repositoryName"]]
    return [pl.arn("ecr", f"repository/{n}") for n in names]


def _ecs_cluster(name: str, pl: Place) -> str:
    return name if name.startswith("arn:") else pl.arn("ecs", f"cluster/{name}")


def _ecs_services(c: Call, pl: Place) -> list[str]:
    cluster = c.params.get("cluster", "default").rsplit("/", 1)[-1]
    return [s if s.startswith("arn:") else pl.arn("ecs", f"service/{cluster}/{s}") for s in c.params["services"]]


def _secret(c: Call, pl: Place) -> list[str]:
    given = c.params["SecretId"]
    if given.startswith("arn:"):
        return [given]
    return [(c.response or {}).get("ARN") or pl.arn("secretsmanager", f"secret:{given}-AbCdEf")]


def _hosted_zone(c: Call, pl: Place) -> list[str]:
    return [pl.arn("route53", f"hostedzone/{c.params['Id'].rsplit('/', 1)[-1]}", region=False, account=False)]


def _docker_push(c: Call, pl: Place) -> list[Need]:
    repository = pl.arn("ecr", f"repository/{c.params['repositoryName']}")
    return [Need(f"ecr:{a}", repository) for a in ("BatchCheckLayerAvailability", "InitiateLayerUpload",
                                                    "UploadLayerPart", "CompleteLayerUpload", "PutImage",
                                                    "BatchGetImage")]


ACTIONS: dict[str, Row] = {
    "sts:GetCallerIdentity": _none,
    # CloudFormation: stacks
    **{f"cloudformation:{op}": _same(_stack) for op in (
        "DescribeStacks", "DescribeStackEvents", "DescribeStackResource", "DescribeStackResources",
        "ListStackResources", "GetTemplate", "ListChangeSets", "SetStackPolicy", "UpdateTerminationProtection",
        "DetectStackDrift", "DetectStackResourceDrift", "DescribeStackResourceDrifts")},
    "cloudformation:DescribeStackDriftDetectionStatus": _same(_star),  # takes a detection id: no resource type
    "cloudformation:CreateChangeSet": _create_change_set,
    "cloudformation:DescribeChangeSet": _change_set,
    "cloudformation:ExecuteChangeSet": _change_set,
    "cloudformation:DeleteChangeSet": _change_set,
    # S3: the template bucket
    "s3:HeadObject": _s3_object("s3:GetObject"),
    "s3:GetObject": _s3_object("s3:GetObject"),
    "s3:PutObject": _s3_object("s3:PutObject"),
    "s3:ListObjectsV2": _s3_bucket("s3:ListBucket"),
    "s3:GetBucketLocation": _s3_bucket("s3:GetBucketLocation"),
    # preflight's reads
    "ec2:DescribeVpcs": _same(_star),
    "ec2:DescribeSubnets": _same(_star),
    "logs:DescribeLogGroups": _same(_star),
    "logs:ListTagsForResource": _same(_each("resourceArn", lambda v, pl: v)),
    "ecs:DescribeClusters": _same(_each("clusters", _ecs_cluster)),
    "ecs:DescribeServices": _same(_ecs_services),
    "secretsmanager:DescribeSecret": _same(_secret),
    "ecr:DescribeRepositories": _same(_ecr_repository),
    "ecr:DescribeImages": _same(_ecr_repository),
    "ecr:DescribeImageScanFindings": _same(_ecr_repository),
    "ecr:ListTagsForResource": _same(_each("resourceArn", lambda v, pl: v)),
    "ecr:GetAuthorizationToken": _same(_star),  # no resource-level permission
    "route53:GetHostedZone": _same(_hosted_zone),
    "acm:DescribeCertificate": _same(_each("CertificateArn", lambda v, pl: v)),
    "iam:GetOpenIDConnectProvider": _same(_each("OpenIDConnectProviderArn", lambda v, pl: v)),
    "iam:SimulatePrincipalPolicy": _same(_each("PolicySourceArn", lambda v, pl: v)),
    # the push job's docker client (not an AWS API operation: the registry's own protocol, authorized as these)
    "docker:push": _docker_push,
    "docker:login": _none,  # uses the token `aws ecr get-login-password` got: no call to AWS of its own
}


def needs(call: Call, place: Place) -> list[Need]:
    if call.name not in ACTIONS:
        raise KeyError(f"{call.name} is not in the operation -> action table (tests/contract/actions.py)")
    return ACTIONS[call.name](call, place)
