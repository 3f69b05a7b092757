"""The bootstrap stack's template: the bucket is encrypted, versioned, closed to the public, TLS-only, expires old
objects, is retained with its stack, and is the same for every environment (so bootstrap stays idempotent)."""

from __future__ import annotations

from deploy import bootstrap
from templates import bootstrap as bootstrap_template
from templates.config import load_params

BUCKET = "wwhd-infra-018025611404-us-west-2"


def template(env="prod") -> dict:
    return bootstrap_template.build(load_params(env), BUCKET).to_dict()


def test_bucket_is_encrypted_versioned_private_and_expires_old_objects():
    bucket = template()["Resources"]["TemplateBucket"]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert props["BucketName"] == BUCKET
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert (set(props["PublicAccessBlockConfiguration"].values()) == {True}
            and len(props["PublicAccessBlockConfiguration"]) == 4)
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    lifecycle = props["LifecycleConfiguration"]["Rules"][0]
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30} and lifecycle["ExpirationInDays"] == 365


def test_bucket_policy_denies_every_request_without_tls():
    statement = template()["Resources"]["TemplateBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement == [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": ["s3:*"],
        "Resource": [{"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{BUCKET}"},
                     {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{BUCKET}/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": False}},
    }]


def test_the_same_template_for_every_environment():
    assert template("prod") == template("dev")  # one bucket per account and region serves them all


def test_stack_name_follows_the_bucket():
    assert bootstrap.stack_name(BUCKET, BUCKET) == "wwhd-infra-bootstrap"
    assert bootstrap.stack_name("my.templates", BUCKET) == "wwhd-infra-bootstrap-my-templates"


def test_the_boundary_has_a_stack_of_its_own():
    """Re-creating the bucket's stack (bootstrap heals a deleted bucket so) never touches the policy roles use."""
    assert "PermissionsBoundary" not in template()["Resources"]
    boundary = (bootstrap_template.build_boundary(load_params("prod"), BUCKET)
                .to_dict()["Resources"]["PermissionsBoundary"])
    assert boundary["Properties"]["ManagedPolicyName"] == f"{BUCKET}-boundary"
    assert bootstrap.boundary_stack_name("wwhd-infra-bootstrap") == "wwhd-infra-bootstrap-boundary"
    assert len(bootstrap.boundary_stack_name("x" * 128)) == 128
