"""scripts/rehearse.py: the scratch-account rehearsal, end to end against the local server (every open question SKIP
there), its safety refusals and clean-up, and each real-AWS check with Stubber answers shaped as the API references
document them (so its code has run before the day it matters)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from scripts import rehearse
from scripts.recreate_seed import recreate

from .conftest import REGION, push_image

ZONE = "wwhd-rehearsal.net"
ZONE_ID = "Z0REHEARSAL0ZONE"


def _zone():
    from moto.route53.models import HostedZoneIdentifier
    from moto.utilities.id_generator import moto_id_manager

    zone = HostedZoneIdentifier("123456789012", f"{ZONE}.", None)
    moto_id_manager.set_custom_id(zone, ZONE_ID)
    try:
        boto3.client("route53").create_hosted_zone(Name=f"{ZONE}.", CallerReference="rehearsal")
    finally:
        moto_id_manager.unset_custom_id(zone)


def argv(tmp_path, *extra):
    cert = boto3.client("acm", region_name=REGION).request_certificate(DomainName=f"api.{ZONE}")["CertificateArn"]
    return ["--certificate-arn", cert, "--region", REGION, "--domain", f"api.{ZONE}", "--hosted-zone-id", ZONE_ID, "--image-tag", "v1",
            "--workdir", str(tmp_path / "work"), "--run-id", "abc123", *extra]


@pytest.fixture
def seeded_moto(moto, monkeypatch):
    from moto import settings as moto_settings

    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", -1)  # moto issues after 60 s, ACM once DNS validates
    return moto


def test_the_whole_rehearsal_runs_against_the_local_server_with_every_open_question_skip(
        seeded_moto, tmp_path, capsys):
    _zone()
    code = rehearse.main(argv(tmp_path, "--yes"), on_repository=lambda repo, tag: push_image(repo, tag),
                         poll=lambda s: None)
    out, err = capsys.readouterr()
    report = json.loads((tmp_path / "work" / "report.json").read_text())
    assert report["local"] is True
    steps = {s["name"]: s["code"] for s in report["steps"]}
    assert steps.get("apply (adopt)") == 0, (out, err, report["steps"])
    assert [c["key"] for c in report["checks"]] == list(rehearse.OPEN_QUESTIONS)
    assert {c["status"] for c in report["checks"]} == {"SKIP"}, report["checks"]
    assert report["left"] == [], report["left"]
    assert code == 0, (out, err)
