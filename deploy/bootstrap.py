"""The bootstrap stack's name and body; its template lives in ``templates/bootstrap.py`` (deploy builds nothing)."""

from __future__ import annotations

import re

from templates import bootstrap as template
from templates._yaml import dump
from templates.config import EnvParams
from templates.names import BOOTSTRAP_STACK


def stack_name(bucket: str, default_bucket: str) -> str:
    """One bootstrap stack per bucket: the default bucket's is ``wwhd-infra-bootstrap``."""
    if bucket == default_bucket:
        return BOOTSTRAP_STACK
    return f"{BOOTSTRAP_STACK}-{re.sub(r'[^a-zA-Z0-9-]', '-', bucket)}"[:128]


def template_body(p: EnvParams, bucket: str) -> str:
    return dump(template.build(p, bucket).to_dict())


def boundary_stack_name(bucket_stack: str) -> str:
    """The permissions boundary's stack, beside the bucket's (``templates/bootstrap.build_boundary``)."""
    return f"{bucket_stack[:128 - len('-boundary')]}-boundary"


def boundary_body(p: EnvParams, bucket: str) -> str:
    return dump(template.build_boundary(p, bucket).to_dict())


# --- the bucket itself ----------------------------------------------------------------------------------------------
# A stack that says "up to date" proves nothing about its bucket: someone may have deleted it, or turned off its
# encryption or versioning, outside CloudFormation (which neither notices nor puts it back on a no-change update). So
# bootstrap looks at the bucket itself. Every call names the expected owner (ExpectedBucketOwner): bucket names are
# global, and a deleted bucket's name can be taken by another account, whose bucket would otherwise receive our
# templates ("Verifying bucket ownership with bucket owner condition", Amazon S3 User Guide).

MISSING = {"404", "NoSuchBucket", "NotFound"}
NOT_OURS = {"403", "AccessDenied", "Forbidden"}


def bucket_problems(aws, bucket: str, owner: str) -> list[str] | None:
    """None when the bucket does not exist; else what differs from the template (empty: as built)."""
    from botocore.exceptions import ClientError

    from .aws import error_code
    from .errors import BadInput

    s3 = aws.s3
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
    except ClientError as e:
        if error_code(e) in MISSING:
            return None
        if error_code(e) in NOT_OURS:
            raise BadInput(f"the template bucket {bucket} exists but not in account {owner} (or these credentials "
                           "may not read it): bucket names are global and another account may hold this one",
                           "choose a bucket name of your own in params (ci.template_bucket), "
                           "then bootstrap again") from None
        raise
    problems = []
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=owner)[
            "ServerSideEncryptionConfiguration"]["Rules"]
        if not any(r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") == "AES256" for r in rules):
            problems.append("default encryption is not SSE-S3 (AES256)")
    except ClientError as e:
        if error_code(e) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        problems.append("no default encryption")
    if s3.get_bucket_versioning(Bucket=bucket, ExpectedBucketOwner=owner).get("Status") != "Enabled":
        problems.append("versioning is not enabled")
    try:
        block = s3.get_public_access_block(Bucket=bucket, ExpectedBucketOwner=owner)["PublicAccessBlockConfiguration"]
        if not all(block.get(k) for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                                          "RestrictPublicBuckets")):
            problems.append("public access is not fully blocked")
    except ClientError as e:
        if error_code(e) != "NoSuchPublicAccessBlockConfiguration":
            raise
        problems.append("no public access block")
    return problems


def repair_bucket(aws, p: EnvParams, bucket: str, owner: str) -> None:
    """Put the template's encryption, versioning and public access block back on a drifted bucket, with the values of
    the template itself (``templates/bootstrap.py``), so the two cannot disagree."""
    props = template.build(p, bucket).to_dict()["Resources"]["TemplateBucket"]["Properties"]
    rules = [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
              "BucketKeyEnabled": r.get("BucketKeyEnabled", False)}
             for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
    aws.s3.put_bucket_encryption(Bucket=bucket, ExpectedBucketOwner=owner,
                                 ServerSideEncryptionConfiguration={"Rules": rules})
    aws.s3.put_bucket_versioning(Bucket=bucket, ExpectedBucketOwner=owner,
                                 VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]})
    aws.s3.put_public_access_block(Bucket=bucket, ExpectedBucketOwner=owner,
                                   PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
