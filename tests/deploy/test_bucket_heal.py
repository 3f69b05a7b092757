"""bootstrap looks at the template bucket itself: a bucket deleted or changed outside CloudFormation is put back
(no more "package: run bootstrap" / "bootstrap: up to date" loop), and every S3 call names the expected owner."""

from __future__ import annotations

import boto3
from botocore.awsrequest import AWSResponse

from deploy.aws import Aws

from .conftest import REGION
from .test_faults import DENIED, Raw

BUCKET = "wwhd-infra-123456789012-us-west-2"


def s3():
    return boto3.client("s3", region_name=REGION)


def _empty_and_delete(bucket: str) -> None:
    client = s3()
    for v in client.list_object_versions(Bucket=bucket).get("Versions", []):
        client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    client.delete_bucket(Bucket=bucket)


def test_a_deleted_bucket_is_recreated_by_bootstrap_and_package_works_again(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    _empty_and_delete(BUCKET)
    stuck = cli("package", "--env", "dev")
    assert stuck.code == 2 and "python generate.py bootstrap --env dev" in stuck.err
    healed = cli("bootstrap", "--env", "dev", "--yes")
    assert healed.code == 0, healed.err
    assert f"the template bucket {BUCKET} no longer exists" in healed.out
    assert s3().get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert cli("package", "--env", "dev").code == 0


def test_a_drifted_bucket_is_put_back_to_the_template(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    s3().put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3().delete_public_access_block(Bucket=BUCKET)
    again = cli("bootstrap", "--env", "dev", "--yes")
    assert again.code == 0, again.err
    assert "changed outside CloudFormation (versioning is not enabled; no public access block)" in again.out
    assert s3().get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert all(s3().get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    quiet = cli("bootstrap", "--env", "dev", "--yes")
    assert quiet.code == 0 and "changed outside" not in quiet.out and "is up to date" in quiet.out


def test_every_s3_call_names_the_expected_owner(moto, project, cli, monkeypatch):
    seen = []
    original = Aws.client

    def recording(self, service):
        client = original(self, service)
        if service == "s3" and not getattr(client, "_recorded", False):
            client.meta.events.register("provide-client-params.s3",
                                        lambda params, model, **_: seen.append((model.name, dict(params))))
            client._recorded = True
        return client

    monkeypatch.setattr(Aws, "client", recording)
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    assert cli("plan", "--env", "dev", "--image-tag", "v1").code == 0
    assert {name for name, _ in seen} >= {"HeadBucket", "GetBucketVersioning", "HeadObject", "PutObject"}
    assert [name for name, params in seen if params.get("ExpectedBucketOwner") != "123456789012"] == []


def test_a_bucket_name_held_by_another_account_is_bad_input(moto, project, cli, monkeypatch):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    original = Aws.client

    def foreign(self, service):
        client = original(self, service)
        if service == "s3":
            client.meta.events.register_first(
                "before-send.s3.HeadBucket", lambda request, **_: AWSResponse(request.url, 403,
                                                                              {"x-amz-request-id": "1"}, Raw(DENIED)))
        return client

    monkeypatch.setattr(Aws, "client", foreign)
    result = cli("bootstrap", "--env", "dev", "--yes")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"the template bucket {BUCKET} exists but not in account 123456789012" in result.err
    assert "ci.template_bucket" in result.err
