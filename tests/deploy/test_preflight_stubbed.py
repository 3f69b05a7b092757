"""Preflight checks where moto does not answer as AWS does, with botocore's Stubber and responses shaped as the API
references document them: ECR DescribeImages scan findings (ECR API Reference, ImageDetail,
ImageScanFindingsSummary), Route 53 GetHostedZone (moto's zone ids lack AWS's ``Z...`` form), ACM
DescribeCertificate (moto cannot issue), EFS DescribeFileSystems of a file system that holds data (moto meters 0)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from deploy import preflight
from deploy.aws import Aws
from deploy.context import Ctx
from deploy.ui import Out
from deploy.verbs import discover
from templates.config import load_params

REGION = "us-west-2"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
REPO_ARN = "arn:aws:ecr:us-west-2:018025611404:repository/wwhd-dev-backend"
CERT = "arn:aws:acm:us-west-2:018025611404:certificate/12345678-1234-1234-1234-123456789012"


class Stubs:
    def __init__(self, p):
        self.aws = Aws(boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"), REGION)
        self.ctx = Ctx(p=p, aws=self.aws, out=Out(), home=Path("."))
        self.stubbers = {}

    def __call__(self, service: str) -> Stubber:
        if service not in self.stubbers:
            self.stubbers[service] = Stubber(self.aws.client(service))
            self.stubbers[service].activate()
        return self.stubbers[service]

    def done(self):
        for s in self.stubbers.values():
            s.assert_no_pending_responses()


def prod(**domain):
    p = load_params("prod")
    if domain:
        p = p.model_copy(update={"domain": p.domain.model_copy(update=domain)})
    return p


def repository(mutability="IMMUTABLE", scan=True) -> dict:
    return {"repositories": [{
        "repositoryArn": REPO_ARN, "registryId": "018025611404", "repositoryName": "wwhd-dev-backend",
        "repositoryUri": "018025611404.dkr.ecr.us-west-2.amazonaws.com/wwhd-dev-backend", "createdAt": NOW,
        "imageTagMutability": mutability, "imageScanningConfiguration": {"scanOnPush": scan},
        "encryptionConfiguration": {"encryptionType": "AES256"}}]}


def image(counts: dict) -> dict:
    return {"imageDetails": [{
        "registryId": "018025611404", "repositoryName": "wwhd-dev-backend", "imageDigest": "sha256:" + "a" * 64,
        "imageTags": ["2025-11-07"], "imageSizeInBytes": 123456789, "imagePushedAt": NOW,
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindingsSummary": {"imageScanCompletedAt": NOW, "vulnerabilitySourceUpdatedAt": NOW,
                                     "findingSeverityCounts": counts},
        "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json"}]}


@pytest.mark.parametrize("counts, expected", [
    ({"CRITICAL": 2, "HIGH": 1, "LOW": 7}, ("WARN", "scan findings: CRITICAL 2, HIGH 1")),
    ({"LOW": 7, "MEDIUM": 3}, ("PASS", "exists (sha256:" + "a" * 64 + ")")),
])
def test_image_scan_findings_of_the_deployed_tag(counts, expected):
    st = Stubs(prod())
    st("ecr").add_response("describe_repositories", repository(), {"repositoryNames": ["wwhd-dev-backend"]})
    st("ecr").add_response("describe_images", image(counts),
                           {"repositoryName": "wwhd-dev-backend", "imageIds": [{"imageTag": "2025-11-07"}]})
    checks = preflight._repository(st.ctx, preflight.Facts("018025611404", image_tag="2025-11-07", desired_count=1))
    st.done()
    assert [(c.status, c.subject) for c in checks] == [("PASS", "ECR repository wwhd-dev-backend"),
                                                       (expected[0], "image wwhd-dev-backend:2025-11-07")]
    assert checks[1].evidence == expected[1]
    if expected[0] == "WARN":
        assert checks[1].fix == ("aws ecr describe-image-scan-findings --repository-name wwhd-dev-backend --image-id "
                                 "imageTag=2025-11-07 --region us-west-2")


def test_no_image_is_needed_at_desired_count_0():
    st = Stubs(prod())
    st("ecr").add_response("describe_repositories", repository(mutability="MUTABLE", scan=False))
    checks = preflight._repository(st.ctx, preflight.Facts("018025611404", image_tag="nope", desired_count=0))
    st.done()  # no DescribeImages call
    assert [c.status for c in checks] == ["WARN", "WARN", "PASS"]
    assert checks[0].fix == ("aws ecr put-image-tag-mutability --repository-name wwhd-dev-backend "
                             "--image-tag-mutability IMMUTABLE --region us-west-2")


def zone(name: str, private: bool = False) -> dict:
    return {"HostedZone": {"Id": "/hostedzone/Z0TAKEOVER0ZONE", "Name": name, "CallerReference": "seed",
                           "Config": {"Comment": "", "PrivateZone": private}, "ResourceRecordSetCount": 4},
            "DelegationSet": {"NameServers": ["ns-1.awsdns-01.org", "ns-2.awsdns-02.net"]}}


@pytest.mark.parametrize("answer, status, evidence", [
    (zone("wwhd-takeover.net."), "PASS", "public zone wwhd-takeover.net serves api.wwhd-takeover.net"),
    (zone("other.net."), "BLOCK", "serves other.net, not api.wwhd-takeover.net"),
    (zone("wwhd-takeover.net.", private=True), "BLOCK", "wwhd-takeover.net is a private zone"),
])
def test_the_hosted_zone_must_be_public_and_serve_the_domain(answer, status, evidence):
    st = Stubs(prod(name="api.wwhd-takeover.net", hosted_zone_id="Z0TAKEOVER0ZONE"))
    st("route53").add_response("get_hosted_zone", answer, {"Id": "Z0TAKEOVER0ZONE"})
    [check] = preflight._hosted_zone(st.ctx, preflight.Facts("018025611404"))
    st.done()
    assert check.status == status and check.evidence.startswith(evidence)


def certificate(status: str, *names: str) -> dict:
    return {"Certificate": {"CertificateArn": CERT, "DomainName": names[0], "SubjectAlternativeNames": list(names),
                            "Status": status, "Type": "AMAZON_ISSUED", "KeyAlgorithm": "RSA_2048"}}


@pytest.mark.parametrize("answer, status", [
    (certificate("ISSUED", "*.wwhd-takeover.net"), "PASS"),
    (certificate("ISSUED", "wwhd-takeover.net", "*.api.wwhd-takeover.net"), "BLOCK"),  # a wildcard covers one label
    (certificate("PENDING_VALIDATION", "api.wwhd-takeover.net"), "BLOCK"),
])
def test_a_given_certificate_is_issued_and_covers_the_domain(answer, status):
    st = Stubs(prod(name="api.wwhd-takeover.net", certificate_arn=CERT))
    st("acm").add_response("describe_certificate", answer, {"CertificateArn": CERT})
    [check] = preflight._certificate(st.ctx, preflight.Facts("018025611404"))
    st.done()
    assert check.status == status


def test_discover_sends_a_file_system_with_data_to_migrate_data():
    st = Stubs(prod())
    fs = {"OwnerId": "018025611404", "CreationToken": "wwhd-data-1762473600", "FileSystemId": "fs-00b8168893587fd61",
          "FileSystemArn": "arn:aws:elasticfilesystem:us-west-2:018025611404:file-system/fs-00b8168893587fd61",
          "CreationTime": NOW, "LifeCycleState": "available", "NumberOfMountTargets": 3,
          "SizeInBytes": {"Value": 734003200, "Timestamp": NOW, "ValueInIA": 0, "ValueInStandard": 734003200,
                          "ValueInArchive": 0},
          "PerformanceMode": "generalPurpose", "Encrypted": False, "ThroughputMode": "bursting", "Tags": []}
    st("efs").add_response("describe_file_systems", {"FileSystems": [fs]})
    st("efs").add_client_error("describe_file_system_policy", "PolicyNotFound", "None", 404,
                               {"FileSystemId": fs["FileSystemId"]})
    st("efs").add_response("describe_access_points", {"AccessPoints": []}, {"FileSystemId": fs["FileSystemId"]})
    st("efs").add_response("describe_mount_targets", {"MountTargets": []}, {"FileSystemId": fs["FileSystemId"]})
    d = discover.Discovery("018025611404", REGION)
    discover._file_systems(st.ctx, d)
    st.done()
    [found] = d.found
    assert found.action == "migrate data" and "holds 734003200 metered bytes" in found.why
    assert "not importable: created without encryption" in found.why
    assert d.params == {"migrate-data --from": "fs-00b8168893587fd61"}
    discover._next_steps(st.ctx, d)
    assert "copy the data: python generate.py migrate-data --env prod --from fs-00b8168893587fd61" in d.next_steps
