"""Upload the rendered templates to S3 under content-addressed keys and write the packaged root.

Why content addressing (``<stack>/<sha256 of the bytes>.yaml``): an unchanged child keeps its key, so a second
``package`` uploads nothing and CloudFormation sees an unchanged ``TemplateURL`` (the nested stack is not touched);
a key, once written, never changes meaning, so an old root or quick-create link keeps working.

Order matters: every child is uploaded (or found) before the root is uploaded, so a failure part way never leaves a
root that points at a child that is not there. What is uploaded is worked out first, without a call (:func:`bundle`:
a child's key depends only on its bytes, the root names the children's keys), so ``plan`` runs the guardrails over
every template as it would be deployed and a violation stops before anything reaches S3. The templates are built
once per run (deploy/built.py); ``Packaged.templates`` carries the dicts for the plan's diff.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from botocore.exceptions import ClientError

import templates
from checks import freshness
from checks.template_walk import Templates
from templates._yaml import dump as dump_yaml
from templates.config import EnvParams
from templates.names import default_bucket

from .aws import Aws, aws_errors, caller_account, error_code, error_message
from .built import build
from .errors import BadInput, DeployError, suggest
from .stacks import STACK_TYPE

ROOT_FILE = f"{templates.ROOT}.yaml"


@dataclass
class Packaged:
    """What ``package`` produced: the root's S3 URL and file, which keys were uploaded or already there, and the
    templates themselves as dicts (what ``plan`` compares with the deployed ones)."""

    bucket: str
    root_url: str
    root_file: Path
    root_body: str
    urls: dict[str, str]
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    has_transform: bool = False
    templates: Templates = field(default_factory=dict)  # {stem: template dict} as uploaded (root with S3 URLs)


def template_bucket(aws: Aws, p: EnvParams, account: str | None = None) -> str:
    """``ci.template_bucket`` from the params, else ``wwhd-infra-<account>-<region>`` (what ``bootstrap`` makes)."""
    if p.ci and p.ci.template_bucket:
        return p.ci.template_bucket
    return default_bucket(account or caller_account(aws), p.region)


def object_url(bucket: str, region: str, key: str) -> str:
    """The virtual-hosted S3 URL, the form CloudFormation documents for ``TemplateURL``."""
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


# Pull-request plans package under their own prefix (``pr/<stack>/...``): the pull-request role may write only there,
# and the main plan and deploy roles never read it (templates/ci.py), so a pull request cannot replace what main runs.


CONTENT_KEY = re.compile(r"[A-Za-z][-A-Za-z0-9]*/[0-9a-f]{64}\.yaml")  # <stack>/<sha256>.yaml (content_key)


def content_key(stack_name: str, body: str, key_prefix: str = "") -> str:
    prefix = f"{key_prefix}/" if key_prefix else ""
    return f"{prefix}{stack_name}/{hashlib.sha256(body.encode('utf-8')).hexdigest()}.yaml"


@dataclass(frozen=True)
class Bundle:
    """What ``package`` uploads, worked out without a call: each child's YAML under its content-addressed key, and the
    root with those keys' URLs (the guardrails judge it before anything reaches S3)."""

    children: dict[str, str]  # {stem: YAML}, sorted by stem
    urls: dict[str, str]  # {stem: S3 URL}
    templates: Templates  # {stem: template dict} as uploaded: the children, the root with S3 URLs
    root_body: str
    key_prefix: str = ""

    @property
    def root(self) -> dict:
        return self.templates[templates.ROOT]


def bundle(p: EnvParams, bucket: str, app: Templates, key_prefix: str = "") -> Bundle:
    """The root and its children (``app``, as built: the root with the relative ``TemplateURL``s of ``output/``) as they
    are uploaded: each child dumped once, and a copy of the root whose nested stacks point at the children's
    content-addressed S3 URLs."""
    children = {stem: dump_yaml(d) for stem, d in sorted(app.items()) if stem != templates.ROOT}
    urls = {stem: object_url(bucket, p.region, content_key(p.stack_name, body, key_prefix))
            for stem, body in children.items()}
    s3 = {templates.local_url(stem): url for stem, url in urls.items()}
    root = copy.deepcopy(app[templates.ROOT])
    for resource in root["Resources"].values():
        if resource.get("Type") == STACK_TYPE:
            resource["Properties"]["TemplateURL"] = s3[resource["Properties"]["TemplateURL"]]
    dicts = {stem: root if stem == templates.ROOT else d for stem, d in app.items()}
    return Bundle(children, urls, dicts, dump_yaml(root), key_prefix)


def package(aws: Aws, p: EnvParams, home: Path, bucket: str, owner: str | None = None,
            bundled: Bundle | None = None) -> Packaged:
    """Upload the children, then the root, and write the root; nothing of the root exists if a child failed.
    ``bundled``: what to upload, its key prefix included (deploy/pipeline.py gives the templates it built and judged);
    without it, the params' templates, built here, under the main keys."""
    if bundled is None:
        bundled = bundle(p, bucket, build(p).app)
    owner = owner or caller_account(aws)
    uploaded: list[str] = []
    skipped: list[str] = []
    for body in bundled.children.values():
        key = content_key(p.stack_name, body, bundled.key_prefix)
        (uploaded if upload(aws, p, bucket, owner, key, body) else skipped).append(key)
    root_key = content_key(p.stack_name, bundled.root_body, bundled.key_prefix)
    (uploaded if upload(aws, p, bucket, owner, root_key, bundled.root_body) else skipped).append(root_key)
    freshness.refuse_unsafe(home / "output" / p.env)  # a link at output/<env> is never written through
    root_file = home / "output" / p.env / "packaged" / ROOT_FILE
    _write_atomically(root_file, bundled.root_body)
    transform = any(map(uses_transform, [bundled.root_body, *bundled.children.values()]))
    return Packaged(bucket, object_url(bucket, p.region, root_key), root_file, bundled.root_body, bundled.urls,
                    uploaded, skipped, transform, bundled.templates)


def uses_transform(body: str) -> bool:
    """A top-level ``Transform`` or an ``Fn::Transform``: the stack then needs CAPABILITY_AUTO_EXPAND."""
    return bool(re.search(r"^Transform:|Fn::Transform|!Transform\b", body, re.MULTILINE))


def upload(aws: Aws, p: EnvParams, bucket: str, owner: str, key: str, body: str) -> bool:
    """Put ``key`` unless it already holds exactly these bytes; True when uploaded.

    The key names the content. In CI only ``main``'s plan and deploy roles may write ``<root>/`` keys (a pull request
    writes under ``pr/``, templates/ci.py), so an existing key holds what ``main`` put there; the comparison with
    S3's own SHA-256 checksum (stored because we upload with ``ChecksumAlgorithm=SHA256``, returned by the same
    HeadObject with ``ChecksumMode=ENABLED``) costs no extra call and still catches a stray upload by an operator:
    anything else is overwritten.
    """
    raw = body.encode("utf-8")
    checksum = base64.b64encode(hashlib.sha256(raw).digest()).decode()
    with aws_errors():
        try:
            head = aws.s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED", ExpectedBucketOwner=owner)
            if head.get("ChecksumSHA256") == checksum:
                return False
        except ClientError as e:
            if error_code(e) not in {"404", "NoSuchKey", "NotFound"}:
                raise _upload_error(p, bucket, key, e) from None
        try:
            aws.s3.put_object(Bucket=bucket, Key=key, Body=raw, ContentType="text/yaml", ChecksumAlgorithm="SHA256",
                              ExpectedBucketOwner=owner)
        except ClientError as e:
            raise _upload_error(p, bucket, key, e) from None
    return True


def _upload_error(p: EnvParams, bucket: str, key: str, e: ClientError) -> DeployError:
    # HeadObject answers 404 for a missing bucket as for a missing key; PutObject then says NoSuchBucket.
    if error_code(e) == "NoSuchBucket":
        return BadInput(f"the template bucket {bucket} does not exist in this account and region",
                        f"create it (or re-create it) once per account and region: {suggest('bootstrap', p.env)}")
    if error_code(e) in {"403", "AccessDenied"}:
        return DeployError(f"access denied to s3://{bucket}/{key}: the bucket is owned by another account "
                           "(ExpectedBucketOwner), or these credentials may not write to it",
                           f"check the bucket with {suggest('bootstrap', p.env)}, or set ci.template_bucket in params")
    return DeployError(f"upload of s3://{bucket}/{key} failed: {error_code(e)} {error_message(e)}; the root template "
                       "was not uploaded, so nothing points at a missing child", "run the same command again")


def _write_atomically(path: Path, text: str) -> None:
    """Readers (and a concurrent run) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def quick_create_url(p: EnvParams, root_url: str, image_tag: str | None = None,
                     desired_count: int | None = None) -> str:
    """The console's quick-create page for the packaged root, with the root parameters filled in."""
    query = urlencode({
        "templateURL": root_url,
        "stackName": p.stack_name,
        "param_ImageTag": image_tag or p.image.default_tag,
        "param_DesiredCount": str(p.service.desired_count if desired_count is None else desired_count),
    }, quote_via=quote, safe="")
    return (f"https://{p.region}.console.aws.amazon.com/cloudformation/home?region={p.region}"
            f"#/stacks/quickcreate?{query}")
