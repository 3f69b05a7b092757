"""Faults and bad input: throttling is retried, a failed upload leaves no root pointing at missing children, the
wrong account is refused before anything changes, a missing bucket names bootstrap, user mistakes exit 2 without a
traceback."""

from __future__ import annotations

import itertools
import time

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.retries import bucket

from deploy import package as pkg
from deploy.aws import connect
from deploy.errors import DeployError
from templates.config import load_params

from .conftest import REGION, confirm_prod

BUCKET = "wwhd-infra-123456789012-us-west-2"
THROTTLED = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
             b"</Error><RequestId>1</RequestId></ErrorResponse>")
DENIED = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
          b"<RequestId>1</RequestId></Error>")


class Raw:
    """The raw body botocore reads from an HTTP response."""

    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


def fail(times: int, status: int, body: bytes, when=lambda request: True):
    """A before-send hook that answers ``times`` matching requests itself, with an error; then lets them through."""
    seen = []

    def hook(request, **_):
        if when(request) and len(seen) < times:
            seen.append(request.url)
            return AWSResponse(request.url, status, {"x-amz-request-id": "1"}, Raw(body))  # as AWS answers
        return None

    return hook, seen


def test_throttling_is_retried_by_the_client(moto, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)  # botocore's backoff, recorded instead of waited
    ticks = itertools.count(step=5.0)  # the adaptive rate limiter's clock: refilled at once, so it never waits
    monkeypatch.setattr(bucket.Clock, "current_time", lambda self: next(ticks))
    aws = connect(None, REGION)
    hook, seen = fail(2, 400, THROTTLED)
    aws.cfn.meta.events.register("before-send.cloudformation.DescribeStacks", hook)
    assert aws.cfn.describe_stacks()["Stacks"] == []
    assert len(seen) == 2 and len(slept) == 2  # one backoff before each retry
    assert aws.calls["cloudformation:DescribeStacks"] == 1 and aws.attempts["cloudformation:DescribeStacks"] == 3
    assert aws.cfn.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 11}  # 10 retries


def test_a_failed_upload_leaves_no_root_pointing_at_missing_children(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    aws = connect(None, REGION)
    uploads = []
    hook, seen = fail(1, 403, DENIED, when=lambda request: len(uploads) == 4)  # the fourth upload is refused
    aws.s3.meta.events.register("before-send.s3.PutObject",
                                lambda request, **kw: uploads.append(request.url) or hook(request))
    p = load_params("dev", project / "params")

    with pytest.raises(DeployError, match="access denied to s3://"):
        pkg.package(aws, p, project, BUCKET)

    root_key = pkg.content_key(p.stack_name, pkg.templates.render(p, lambda stem: "x")["root.yaml"])
    keys = [o["Key"] for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET).get("Contents", [])
            if o["Key"].startswith(f"{p.stack_name}/")]  # not bootstrap's identity template
    assert len(keys) == 3 and root_key not in keys  # the first three children only
    assert not (project / "output/dev/packaged/root.yaml").exists()

    again = pkg.package(connect(None, REGION), p, project, BUCKET)
    assert len(again.skipped) == 3 and len(again.uploaded) == 6  # five children and the root; nothing twice
    assert again.uploaded[-1] == again.root_url.split(".amazonaws.com/")[1]  # the root last
    assert (project / "output/dev/packaged/root.yaml").read_text() == again.root_body


def test_an_object_planted_under_a_content_key_is_overwritten(moto, project, cli):
    """Anyone who may write to the bucket could put other bytes under a content-addressed key; package trusts an
    existing object only when S3's SHA-256 checksum of it matches, and uploads otherwise."""
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    p = load_params("dev", project / "params")
    first = pkg.package(connect(None, REGION), p, project, BUCKET)
    s3 = boto3.client("s3", region_name=REGION)
    victim = first.urls["service"].split(".amazonaws.com/")[1]
    s3.put_object(Bucket=BUCKET, Key=victim, Body=b"Resources: {}\n")  # planted, no checksum of ours

    again = pkg.package(connect(None, REGION), p, project, BUCKET)

    assert again.uploaded == [victim]
    body = s3.get_object(Bucket=BUCKET, Key=victim)["Body"].read().decode()
    assert body == pkg.templates.render(p)["service.yaml"]


def test_a_missing_bucket_names_bootstrap(moto, project, cli):
    first = cli("plan", "--env", "dev")  # nothing bootstrapped: the identity stack is missing, and bootstrap makes it
    assert first.code == 1
    assert "BLOCK identity stack wwhd-dev-identity: does not exist" in first.out
    assert "python generate.py bootstrap --env dev" in first.out
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    s3 = boto3.resource("s3", region_name=REGION)
    s3.Bucket(BUCKET).object_versions.delete()  # the bucket is versioned: every version goes before the bucket
    s3.Bucket(BUCKET).delete()
    result = cli("plan", "--env", "dev")
    assert result.code == 2
    assert f"the template bucket {BUCKET} does not exist" in result.err
    assert "python generate.py bootstrap --env dev" in result.err
    assert "Traceback" not in result.err


def test_the_wrong_account_is_refused_before_anything_changes(moto, project, cli):
    confirm_prod(project)  # the committed placeholders would be refused first (test_takeover.py)
    result = cli("apply", "--env", "prod", "--yes")
    assert result.code == 2
    assert ("these credentials are for account 123456789012, but params/prod.yaml deploys to "
            "account 018025611404" in result.err)
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
    assert boto3.client("cloudformation", region_name=REGION).describe_stacks()["Stacks"] == []


@pytest.mark.parametrize("argv, message", [
    (["plan"], "--env is required for plan"),
    (["plan", "--env", "nope"], "no such environment 'nope'"),
    (["plan", "--env", "dev", "--image-tag", "latest"], "--image-tag 'latest' is not a Docker image tag"),
    (["apply", "--env", "dev", "--change-set", "x", "--image-tag", "v2"], "fixed when a change set is planned"),
    (["plan", "--env", "dev", "--profile", "nobody"], "could not be found"),
    (["plan", "--env", "dev", "--role-arn", "cfn-exec"], "--role-arn 'cfn-exec' is not an IAM role ARN"),
])
def test_user_mistakes_exit_2_with_a_message(moto, project, cli, argv, message):
    result = cli(*argv)
    assert result.code == 2, result.err
    assert message in result.err and "Traceback" not in result.err


def test_no_credentials_exit_2_with_how_to_get_them(moto, project, cli, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("status", "--env", "dev")
    assert result.code == 2 and "no AWS credentials found" in result.err and "--profile" in result.err


def test_argparse_mistakes_exit_2(cli):
    assert cli("plan", "--env", "dev", "--desired-count", "3").code == 2
    assert cli("apply", "--bogus").code == 2


def test_the_network_fence_refuses_aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    sts = boto3.client("sts", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(EndpointConnectionError, match="sts.us-west-2.amazonaws.com") as refused:
        sts.get_caller_identity()
    assert "only loopback is allowed" in str(refused.value.kwargs["error"])  # the fence, not the network


def test_env_before_the_command_works_too(moto, project, cli):
    result = cli("--env", "dev", "status")
    assert result.code == 1 and "no stack wwhd-dev in us-west-2" in result.err


def test_package_never_writes_through_a_linked_output_folder(moto, project, cli, tmp_path_factory):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (project / "output").mkdir(exist_ok=True)
    (project / "output" / "dev").symlink_to(elsewhere)
    result = cli("package", "--env", "dev")
    assert result.code == 2 and "output/dev: is a symbolic link" in result.err and "Traceback" not in result.err
    assert list(elsewhere.iterdir()) == []
