"""Structural tests of params variants the committed environments do not use, so every branch of the modules is
built and checked at least once."""

from __future__ import annotations

from pathlib import Path

from checks import guardrails

from .helpers import build_variant, only, props, resources


def _build(tmp_path: Path, env: str, **changes) -> dict[str, dict]:
    built = build_variant(tmp_path, env, **changes)
    assert guardrails.check(built) == []  # every variant the params allow stays within the guardrails
    return built


def test_provisioned_throughput_is_passed_to_efs(tmp_path):
    t = _build(tmp_path, "dev", storage__throughput_mode="provisioned", storage__provisioned_throughput_mibps=8)
    fs = props(t["storage"]["Resources"]["FileSystem"])
    assert fs["ThroughputMode"] == "provisioned" and fs["ProvisionedThroughputInMibps"] == 8
    assert "BurstCreditBalanceLowAlarm" not in t["monitoring"]["Resources"]  # credits exist only when bursting


def test_elastic_throughput_has_no_provisioned_value(tmp_path):
    fs = props(_build(tmp_path, "dev", storage__throughput_mode="elastic")["storage"]["Resources"]["FileSystem"])
    assert fs["ThroughputMode"] == "elastic" and "ProvisionedThroughputInMibps" not in fs


def test_an_existing_certificate_replaces_the_certificate_stack(tmp_path):
    arn = "arn:aws:acm:us-west-2:018025611404:certificate/0b4b0a3e-2c31-4f0b-9c43-8e4f3c2a1b00"
    t = _build(tmp_path, "prod", domain__certificate_arn=arn)
    assert "certificate" not in t and "dns" in t
    listener = props(t["load_balancer"]["Resources"]["HttpsListener"])
    assert listener["Certificates"] == [{"CertificateArn": arn}]
    assert "CertificateArn" not in t["load_balancer"].get("Parameters", {})


def test_an_existing_oidc_provider_is_referenced_not_created(tmp_path):
    arn = "arn:aws:iam::018025611404:oidc-provider/token.actions.githubusercontent.com"
    t = _build(tmp_path, "prod", ci__oidc_provider_arn=arn)["identity"]
    assert not resources(t, "AWS::IAM::OIDCProvider")
    trust = props(t["Resources"]["GitHubDeployRole"])["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Federated": arn}


def test_without_container_insights_there_is_no_task_count_alarm(tmp_path):
    """DesiredTaskCount/RunningTaskCount exist only in ECS/ContainerInsights (CloudWatch User Guide, "Amazon ECS
    Container Insights metrics"): without it the alarm could never fire, so it is left out."""
    t = _build(tmp_path, "dev", cluster__container_insights="disabled")
    assert "TasksBelowDesiredAlarm" not in t["monitoring"]["Resources"]
    assert props(only(t["cluster"], "AWS::ECS::Cluster"))["ClusterSettings"] == [
        {"Name": "containerInsights", "Value": "disabled"}]


def test_three_azs_give_three_subnets_and_mount_targets(tmp_path):
    t = _build(tmp_path, "dev", network__create={"cidr": "10.50.0.0/16", "az_count": 3})
    assert sorted(resources(t["network"], "AWS::EC2::Subnet")) == ["PublicSubnetA", "PublicSubnetB", "PublicSubnetC"]
    assert sorted(resources(t["storage"], "AWS::EFS::MountTarget")) == ["MountTargetA", "MountTargetB", "MountTargetC"]


def test_private_subnets_turn_off_the_public_ip(tmp_path):
    t = _build(tmp_path, "prod", network__assign_public_ip=False)
    svc = props(only(t["service"], "AWS::ECS::Service"))
    assert svc["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def test_an_existing_secret_by_arn_is_used_verbatim(tmp_path):
    arn = "arn:aws:secretsmanager:us-west-2:018025611404:secret:wwhd-dev/openai-api-key-AbC123"
    t = _build(tmp_path, "prod", secrets__OPENAI_API_KEY={"arn": arn})
    app = props(only(t["service"], "AWS::ECS::TaskDefinition"))["ContainerDefinitions"][1]
    assert {"Name": "OPENAI_API_KEY", "ValueFrom": arn} in app["Secrets"]
    execution = t["identity"]["Resources"]["ExecutionRole"]
    read = [s for pol in props(execution)["Policies"] for s in pol["PolicyDocument"]["Statement"]
            if s["Sid"] == "ReadInjectedSecrets"][0]
    assert arn in read["Resource"]
