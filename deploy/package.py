"""Upload the rendered templates to S3 under content-addressed keys and write the packaged root.

Why content addressing (``<stack>/<sha256 of the bytes>.yaml``): an unchanged child keeps its key, so a second
``package`` uploads nothing and CloudFormation sees an unchanged ``TemplateURL`` (the nested stack is not touched);
a key, once written, never changes meaning, so an old root or quick-create link keeps working.

Order matters: every child is uploaded (or found) before the root is uploaded, so a failure part way never leaves a
root that points at a child that is not there. The root is *built* first, though (a child's key depends only on its
bytes), so ``check`` (the guardrails) sees every template as it would be deployed and a violation stops before
anything reaches S3. Each template is built once; ``Packaged.templates`` carries the dicts for the plan's diff.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
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
from templates.root import build as build_root

from .aws import Aws, aws_errors, caller_account, error_code, error_message
from .errors import BadInput, DeployError, suggest

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


def package(aws: Aws, p: EnvParams, home: Path, bucket: str,
            check: Callable[[Templates], None] | None = None, owner: str | None = None,
            adjust: Callable[[Templates], None] | None = None, key_prefix: str = "") -> Packaged:
    """Build the templates (the root with the children's S3 URLs), let ``check`` refuse them before anything is
    uploaded, upload the children, then the root, and write the root; nothing of the root exists if a child failed.
    ``adjust`` may change the children's dicts in place before they are dumped (``plan --adopt`` writes the
    properties of the resources it imports as found); ``check`` still sees the templates' own values."""
    built = templates.app_templates(templates.build_all(p))  # the identity stack is bootstrap's (deploy/identity.py)
    dicts = {stem: t.to_dict() for stem, t in built.items()}
    target = None
    if adjust is not None:
        target = copy.deepcopy(dicts)  # the guardrails judge the templates' own values, not the adjusted ones
        adjust(dicts)
    children = {stem: dump_yaml(d) for stem, d in sorted(dicts.items()) if stem != templates.ROOT}
    urls = {stem: object_url(bucket, p.region, content_key(p.stack_name, body, key_prefix))
            for stem, body in children.items()}
    root = build_root(p, {stem: t for stem, t in built.items() if stem != templates.ROOT}, lambda stem: urls[stem])
    dicts[templates.ROOT] = root.to_dict()
    root_body = dump_yaml(dicts[templates.ROOT])
    if check is not None:
        check({**(target or dicts), templates.ROOT: dicts[templates.ROOT]})
    owner = owner or caller_account(aws)
    uploaded: list[str] = []
    skipped: list[str] = []
    for body in children.values():
        key = content_key(p.stack_name, body, key_prefix)
        (uploaded if upload(aws, p, bucket, owner, key, body) else skipped).append(key)
    root_key = content_key(p.stack_name, root_body, key_prefix)
    (uploaded if upload(aws, p, bucket, owner, root_key, root_body) else skipped).append(root_key)
    freshness.refuse_unsafe(home / "output" / p.env)  # a link at output/<env> is never written through
    root_file = home / "output" / p.env / "packaged" / ROOT_FILE
    _write_atomically(root_file, root_body)
    transform = any(map(uses_transform, [root_body, *children.values()]))
    return Packaged(bucket, object_url(bucket, p.region, root_key), root_file, root_body, urls, uploaded, skipped,
                    transform, dicts)


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
