"""The deploy history (``history``) and the one-command rollback to the last good release (``rollback``).

A *release* is what one successful ``apply`` deployed: the root template's S3 URL, the root parameters, the change set,
the stack's final status and time, who (the STS caller ARN) and, when known, the git commit.

Where it lives: one JSON object per release in the template bucket, ``releases/<stack>/<UTC time>-<change set>.json``,
written with ``ExpectedBucketOwner`` like every other S3 call of ours (deploy/package.py). Records written before
this prefix existed, under ``history/<stack>/``, are read too (``LEGACY_PREFIX``); nothing needs moving.

Why not derive it from CloudFormation: DescribeStacks and GetTemplate describe only what is deployed now; no API returns
the ``TemplateURL`` an earlier update used, nor who ran it from which commit, and stack events keep neither. The root
URL is what makes a rollback exact: package.py names every template by the SHA-256 of its bytes, so the root's URL pins
every nested template byte for byte (``<stack>/<sha256>.yaml`` never changes meaning).

Who may write and read them (templates/ci.py): CI's deploy role may only *write* ``releases/<root>/*``
(``s3:PutObject``, statement ``RecordReleases``), so every CI apply records its release; no other CI role may write
there (the plan role is assumable by more jobs than the deploy role, so it must not be able to forge a release), and
none may read or delete a record. ``history`` and ``rollback`` are operator commands: they read the records with an
operator's own credentials. The bucket is versioned, TLS-only and never public.

Expiry: the bucket's lifecycle rule (templates/bootstrap.py, no prefix filter) expires every object 365 days after it
was *first* uploaded, records and templates alike (S3 API reference, LifecycleExpiration ``Days``: "the lifetime, in
days, of the objects", counted by S3 from the object's creation; in our versioned bucket an expired object gets a
delete marker, so GetObject answers NoSuchKey). package.py skips a key that already holds the same bytes, so a
child template unchanged for a year can expire although a recent release uses it (the next ``plan`` uploads it
again). So before a release is offered, ``rollback`` reads its root and checks every nested template it names is
still there, and refuses with the forward deploy that brings the same image back if one is gone.

Recording never fails a deploy: the stack is deployed whatever happens to the record; a record that cannot be
written is a warning saying that this release cannot be rolled back to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from templates.names import RELEASES_PREFIX

from . import diff
from .aws import aws_errors, caller_account, error_code
from .errors import BadInput
from .package import CONTENT_KEY, object_url, template_bucket

if TYPE_CHECKING:
    from .context import Ctx, Planned
    from .stacks import StackInfo

PREFIX = RELEASES_PREFIX
LEGACY_PREFIX = "history"  # where releases were recorded before RELEASES_PREFIX: still read, never written
GOOD = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
MISSING = {"404", "NoSuchKey", "NotFound"}


def prefix(stack: str) -> str:
    return f"{PREFIX}/{stack}/"


# Bounds on what is read back: a record is a few hundred bytes; a template at most CloudFormation's 1 MB for a
# template in S3 (CloudFormation User Guide, "CloudFormation quotas": template body size in an S3 object).
MAX_RECORD_BYTES = 64 * 1024
MAX_TEMPLATE_BYTES = 1024 * 1024
MAX_RECORD_DEPTH = 8  # {"parameters": {...}} is 2 deep


class Foreign(ValueError):
    """A record or template that is not what this tool wrote; the message says why."""


def template_key(url: object, bucket: str, region: str, stack: str) -> str:
    """The key of one of our content-addressed templates (``<stack>/<sha256>.yaml``) when ``url`` is *exactly* the URL
    ``package.object_url`` gives it in our bucket; :class:`Foreign` otherwise. Exact: another host, user info, a
    port, a query or a fragment all differ from the rebuilt URL, so a record can never make us read, review or deploy
    anything but our own object, and what is sent to CloudFormation is always the rebuilt URL, never the record's."""
    if not isinstance(url, str):
        raise Foreign("its template URL is not a string")
    key = unquote(urlsplit(url).path.lstrip("/"))
    if not CONTENT_KEY.fullmatch(key) or not key.startswith(f"{stack}/"):
        raise Foreign(f"{url[:200]!r} is not a content-addressed template of {stack}")
    if url != object_url(bucket, region, key):
        raise Foreign(f"{url[:200]!r} is not exactly {object_url(bucket, region, key)}")
    return key


def verified(key: str, body: bytes) -> bytes:
    """``body`` if its SHA-256 is the one its content-addressed key names; :class:`Foreign` otherwise."""
    if hashlib.sha256(body).hexdigest() != key.rsplit("/", 1)[-1].removesuffix(".yaml"):
        raise Foreign(f"{key} does not hold the bytes its name's SHA-256 says")
    return body


def parse_template(key: str, body: bytes) -> tuple[str, dict]:
    """The text and the parsed template of a verified object; :class:`Foreign` for anything that is not a
    CloudFormation template (not UTF-8, not YAML, not a mapping with a Resources mapping)."""
    try:
        text = body.decode("utf-8")
        template = diff.parse(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Foreign(f"{key} is not a readable template ({type(e).__name__})") from None
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise Foreign(f"{key} is not a CloudFormation template (no Resources mapping)")
    return text, template


def release_id(when, change_set: str) -> str:
    """``20261130T195900.123456Z-wwhd-dev-v1-20261130195858``: sorts by time (microseconds: two records of one second
    keep their order), names the change set."""
    return f"{when:%Y%m%dT%H%M%S.%fZ}-{change_set}"


# --- recording (apply) --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollback:
    """What a rollback's record says: the release it rolled back from (None: the stack ran no recorded release) and
    the release it restored."""

    rolled_back_from: str | None
    restored: str


def record(ctx: Ctx, planned: Planned, final: StackInfo, rollback: Rollback | None = None) -> dict | None:
    """Write the release ``apply`` just deployed; on any failure warn and go on (the deploy itself succeeded)."""
    try:
        return _record(ctx, planned, final, rollback)
    except Exception as e:  # the stack is deployed: a lost record must not turn success into failure
        ctx.out.warn(f"deployed, but the release was not recorded ({type(e).__name__}: {e}); rollback cannot offer "
                     f"it. To record a deploy of the same state later: {ctx.command('apply')}")
        return None


def _record(ctx: Ctx, planned: Planned, final: StackInfo, rollback: Rollback | None) -> dict:
    account = caller_account(ctx.aws)
    bucket = template_bucket(ctx.aws, ctx.p, account)
    url = planned.template_url or _deployed_url(ctx, bucket, account)
    when = ctx.now()
    rid = release_id(when, planned.review.change_set_name)
    with aws_errors():
        who = ctx.aws.client("sts").get_caller_identity()["Arn"]
    release = {
        "id": rid,
        "stack": ctx.p.stack_name,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "templateUrl": url,
        "parameters": dict(sorted(final.parameters.items())),
        "changeSet": planned.review.change_set_name,
        "changeSetArn": planned.arn,
        "status": final.status,
        "who": who,
        **_commit(ctx.home),
        **({"rolledBackFrom": rollback.rolled_back_from, "restored": rollback.restored} if rollback else {}),
    }
    body = json.dumps(release, indent=2, sort_keys=True).encode("utf-8")
    with aws_errors():
        ctx.aws.s3.put_object(Bucket=bucket, Key=f"{prefix(ctx.p.stack_name)}{rid}.json", Body=body,
                              ContentType="application/json", ChecksumAlgorithm="SHA256", ExpectedBucketOwner=account)
    ctx.out.line(f"recorded release {rid}")
    return release


def _deployed_url(ctx: Ctx, bucket: str, account: str) -> str | None:
    """``apply --change-set``: the root's URL from the deployed root's bytes, kept only when the content-addressed
    object under that name holds exactly those bytes (S3's SHA-256 checksum, as package.py stores it). GetTemplate
    with ``TemplateStage=Original`` returns "the user-submitted template" (CloudFormation API reference, GetTemplate);
    if AWS ever returned other bytes the checksum would not match and the release is recorded without a URL (history
    shows it; rollback does not offer it)."""
    from .package import content_key, object_url

    with aws_errors():
        body = ctx.aws.cfn.get_template(StackName=ctx.p.stack_name, TemplateStage="Original")["TemplateBody"]
    if not isinstance(body, str):
        return None
    key = content_key(ctx.p.stack_name, body)
    if _checksum(ctx, bucket, account, key) != base64.b64encode(hashlib.sha256(body.encode()).digest()).decode():
        return None
    return object_url(bucket, ctx.p.region, key)


def _checksum(ctx: Ctx, bucket: str, account: str, key: str) -> str | None:
    try:
        with aws_errors():
            head = ctx.aws.s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED", ExpectedBucketOwner=account)
    except ClientError as e:
        if error_code(e) in MISSING:
            return None
        raise
    return head.get("ChecksumSHA256", "")


def _commit(home: Path) -> dict:
    """``commit``: ``git rev-parse HEAD`` when this is a git checkout, else ``GITHUB_SHA``, else None; ``dirty``:
    whether the work tree had changes to tracked or untracked files (``git status --porcelain``), so a release built
    from an uncommitted edit never looks like that commit; None when unknown."""
    def git(*argv: str) -> str | None:
        try:
            done = subprocess.run(["git", *argv], cwd=home, capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    head = (git("rev-parse", "HEAD") or "").strip()
    if len(head) in (40, 64):
        status = git("status", "--porcelain", "--untracked-files=normal")
        return {"commit": head, "dirty": None if status is None else bool(status.strip())}
    return {"commit": os.environ.get("GITHUB_SHA") or None, "dirty": None}


# --- reading ------------------------------------------------------------------------------------------------------


def releases(ctx: Ctx, bucket: str, account: str) -> list[dict]:
    """Every recorded release of this stack, newest first (ids sort by time). A record that is malformed, too large,
    too deep, foreign (another stack, a template URL that is not exactly one of ours) or unreadable is skipped with
    one warning naming its key: one bad record never stops ``history`` or ``rollback``."""
    keys = []
    with aws_errors():
        try:
            for where in (prefix(ctx.p.stack_name), f"{LEGACY_PREFIX}/{ctx.p.stack_name}/"):
                pages = ctx.aws.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=where, ExpectedBucketOwner=account)
                for page in pages:
                    keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        except ClientError as e:
            if error_code(e) == "NoSuchBucket":
                raise BadInput(f"the template bucket {bucket} does not exist in this account and region",
                               f"create it: {ctx.command('bootstrap')}") from None
            raise
    found = []
    seen: set[str] = set()
    # newest first across both prefixes: a key's last part is the release id, which sorts by time
    for key in sorted(keys, key=lambda k: (k.rsplit("/", 1)[-1], k.startswith(PREFIX)), reverse=True):
        try:
            data = _record_of(ctx, bucket, account, key)
        except Foreign as e:
            ctx.out.warn(f"s3://{bucket}/{key} is not a release record of ours ({e}): skipped")
            continue
        if data is None or data["id"] in seen:  # gone meanwhile; or one release under both prefixes (copied by hand)
            continue
        seen.add(data["id"])
        found.append(data)
    return found


def _record_of(ctx: Ctx, bucket: str, account: str, key: str) -> dict | None:
    body = _get(ctx, bucket, account, key, MAX_RECORD_BYTES)
    if body is None:
        return None
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Foreign(f"not JSON: {type(e).__name__}") from None
    return _valid(data, key, bucket, ctx.p.region, ctx.p.stack_name)


def _depth(value, limit: int) -> int:
    """How deep ``value`` nests (iteratively: no recursion on what a stranger wrote), stopping past ``limit``."""
    deepest, todo = 0, [(value, 1)]
    while todo and deepest <= limit:
        v, d = todo.pop()
        deepest = max(deepest, d)
        if isinstance(v, dict):
            todo += [(x, d + 1) for x in v.values()]
        elif isinstance(v, list):
            todo += [(x, d + 1) for x in v]
    return deepest


def _valid(data, key: str, bucket: str, region: str, stack: str) -> dict:
    """A record as _record writes it, or :class:`Foreign` saying why not. Anyone who may write to the bucket may
    write there too, so every field used is checked for its type before any is read (the others are shown as text,
    cleaned by ``Out``), and the template URL must be exactly one of ours (:func:`template_key`)."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise Foreign("no id")
    if _depth(data, MAX_RECORD_DEPTH) > MAX_RECORD_DEPTH:
        raise Foreign(f"nested deeper than {MAX_RECORD_DEPTH}")
    if key.rsplit("/", 1)[-1] != f"{data['id']}.json":
        raise Foreign("its id is not its name")
    if data.get("stack") not in (None, stack):
        raise Foreign(f"a record of another stack, {str(data.get('stack'))[:80]!r}")
    params = data.get("parameters")
    if not (isinstance(params, dict) and all(isinstance(v, str) for v in params.values())):
        raise Foreign("its parameters are not text")
    for field_ in ("rollbackOf", "restored", "status", "time", "changeSet"):
        if data.get(field_) is not None and not isinstance(data[field_], str):
            raise Foreign(f"{field_} is not text")
    if data.get("templateUrl") is not None:
        template_key(data["templateUrl"], bucket, region, stack)
    return data


def _get(ctx: Ctx, bucket: str, account: str, key: str, limit: int) -> bytes | None:
    """The object's bytes, None if it is gone; :class:`Foreign` if it is larger than ``limit`` (read no further)."""
    try:
        with aws_errors():
            got = ctx.aws.s3.get_object(Bucket=bucket, Key=key, ExpectedBucketOwner=account)
            if got.get("ContentLength", 0) > limit:
                got["Body"].close()
                raise Foreign(f"larger than {limit} bytes")
            body = got["Body"].read(limit + 1)
    except ClientError as e:
        if error_code(e) in MISSING:
            return None
        raise
    if len(body) > limit:
        raise Foreign(f"larger than {limit} bytes")
    return body


def read_template(ctx: Ctx, bucket: str, account: str, key: str) -> tuple[str, dict] | None:
    """A content-addressed template read back: bounded, checked against the SHA-256 in its key, parsed; None if
    gone."""
    body = _get(ctx, bucket, account, key, MAX_TEMPLATE_BYTES)
    return None if body is None else parse_template(key, verified(key, body))


def current(ctx: Ctx, found: list[dict], info: StackInfo | None, bucket: str, account: str) -> str | None:
    """The id of the release the stack runs now: the newest whose parameters are the deployed ones and whose root is
    the deployed root (GetTemplate, compared as parsed templates); None when it runs something never recorded."""
    if info is None or not info.exists:
        return None
    deployed = None
    for release in found:
        if release.get("parameters") != info.parameters or not release.get("templateUrl"):
            continue
        if deployed is None:
            with aws_errors():
                deployed = diff.parse(ctx.aws.cfn.get_template(StackName=info.id, TemplateStage="Original")
                                      ["TemplateBody"])
        key = template_key(release["templateUrl"], bucket, ctx.p.region, ctx.p.stack_name)
        try:
            read = read_template(ctx, bucket, account, key)
        except Foreign as e:
            ctx.out.warn(f"release {release['id']}: {e}")
            continue
        if read is not None and read[1] == deployed:
            return release["id"]
    return None
