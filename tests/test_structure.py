"""Structural tests: partial matches on the built templates, one group per stack, each rule named with its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import templates
from templates import ROOT, enabled_stacks, stem
from templates._common import stack_id
from templates.config import IMAGE_TAG_PATTERN, load_params
from templates.iam import role_arns

from .helpers import actions, assert_subset, build_variant, only, props, resources, statements

ENVS = ("dev", "prod")


# --- module contract ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_each_module_outputs_exactly_what_its_out_enum_promises(env, built):
    p = load_params(env)
    for module in enabled_stacks(p):
        t = built[env][stem(module)]
        promised = set(module.Out)
        if module is templates.secrets:
            promised = set(templates.secrets.output_names(p))
        assert set(t.get("Outputs", {})) == promised, stem(module)


@pytest.mark.parametrize("env", ENVS)
def test_each_module_takes_only_parameters_named_in_its_in_enum(env, built):
    p = load_params(env)
    for module in enabled_stacks(p):
        declared = set(module.In) | {templates.secrets.output_name(v) for v in p.secrets}
        assert set(built[env][stem(module)].get("Parameters", {})) <= declared, stem(module)


def test_stacks_per_environment(built):
    assert set(built["dev"]) == {"network", "security", "storage", "secrets", "cluster", "load_balancer",
                                 "service", "monitoring", "identity", ROOT}
    assert set(built["prod"]) == {"security", "storage", "cluster", "certificate",
                                  "load_balancer", "service", "dns", "monitoring", "identity", ROOT}


# --- root ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_root_wires_every_child_parameter_from_a_sibling_output_or_a_root_parameter(env, built):
    root = built[env][ROOT]
    stacks = resources(root, "AWS::CloudFormation::Stack")
    assert set(stacks) == {stack_id(s) for s in built[env] if s not in (ROOT, "identity")}  # identity: a stack apart
    identity_roles = {k: v.to_dict() for k, v in role_arns(load_params(env)).items()}
    for sid, res in stacks.items():
        child_stem = next(s for s in built[env] if stack_id(s) == sid)
        assert props(res)["TemplateURL"] == f"{child_stem}.yaml"
        wired = props(res).get("Parameters", {})
        assert set(wired) == set(built[env][child_stem].get("Parameters", {}))
        for name, value in wired.items():
            if "Ref" in value:
                assert value["Ref"] in root["Parameters"]
            elif "Fn::Sub" in value:  # an identity stack role, by its fixed name; the identity stack outputs it too
                assert value == identity_roles[name]
                role = built[env]["identity"]["Outputs"][name]["Value"]["Fn::GetAtt"][0]
                path, role_name = built[env]["identity"]["Resources"][role]["Properties"]["Path"], \
                    built[env]["identity"]["Resources"][role]["Properties"]["RoleName"]
                assert value["Fn::Sub"].endswith(f":role{path}{role_name}")
            else:
                producer, attr = value["Fn::GetAtt"]
                assert attr == f"Outputs.{name}", \
                    "output key == consumer parameter name (docs/design.md, Where a value lives)"
                producer_stem = next(s for s in built[env] if stack_id(s) == producer)
                assert name in built[env][producer_stem]["Outputs"]


@pytest.mark.parametrize("env", ENVS)
def test_root_parameters_are_labelled_constrained_and_defaulted(env, built):
    root = built[env][ROOT]
    tag = root["Parameters"]["ImageTag"]
    assert tag["AllowedPattern"] == IMAGE_TAG_PATTERN and tag["Default"] == load_params(env).image.default_tag
    assert not re.fullmatch(IMAGE_TAG_PATTERN, "latest") and re.fullmatch(IMAGE_TAG_PATTERN, "3f9c2ab")
    assert root["Parameters"]["DesiredCount"]["AllowedValues"] == ["0", "1"]
    interface = root["Metadata"]["AWS::CloudFormation::Interface"]
    assert interface["ParameterGroups"][0]["Parameters"] == ["ImageTag", "DesiredCount"]
    assert set(interface["ParameterLabels"]) == {"ImageTag", "DesiredCount"}
    assert {"ServiceUrl", "ClusterName", "ServiceName", "FileSystemId", "LogGroupName"} <= set(root["Outputs"])


def test_root_suppresses_only_w3002_with_a_reason(prod):
    meta = prod[ROOT]["Metadata"]
    assert meta["cfn-lint"]["config"]["ignore_checks"] == ["W3002"]
    assert "package" in meta["wwhd-infra"]["lint-suppressions"]["W3002"]


# --- network -------------------------------------------------------------------------------------------------------


def test_dev_creates_a_vpc_with_public_subnets_in_two_azs(dev):
    t = dev["network"]
    subnets = resources(t, "AWS::EC2::Subnet")
    assert sorted(subnets) == ["PublicSubnetA", "PublicSubnetB"]
    azs = [props(s)["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values()]
    assert sorted(azs) == [0, 1]
    assert_subset({"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": {"Ref": "InternetGateway"}},
                  props(only(t, "AWS::EC2::Route")))
    assert not resources(t, "AWS::EC2::NatGateway")


# --- security ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env,ports", [("dev", {80}), ("prod", {80, 443})])
def test_only_the_alb_is_open_to_the_internet(built, env, ports):
    t = built[env]["security"]
    ingress = resources(t, "AWS::EC2::SecurityGroupIngress")
    open_ = {props(r)["FromPort"] for r in ingress.values() if props(r).get("CidrIp") == "0.0.0.0/0"}
    assert open_ == ports
    for r in ingress.values():
        if props(r).get("CidrIp"):
            assert props(r)["GroupId"] == {"Fn::GetAtt": ["LoadBalancerSecurityGroup", "GroupId"]}


def test_app_port_only_from_alb_and_nfs_only_from_app(prod):
    t = prod["security"]
    assert_subset({"FromPort": 8000, "ToPort": 8000,
                   "SourceSecurityGroupId": {"Fn::GetAtt": ["LoadBalancerSecurityGroup", "GroupId"]},
                   "GroupId": {"Fn::GetAtt": ["AppSecurityGroup", "GroupId"]}},
                  props(t["Resources"]["AppIngressLoadBalancer"]))
    assert_subset({"FromPort": 2049, "SourceSecurityGroupId": {"Fn::GetAtt": ["AppSecurityGroup", "GroupId"]},
                   "GroupId": {"Fn::GetAtt": ["FileSystemSecurityGroup", "GroupId"]}},
                  props(t["Resources"]["FileSystemIngressApp"]))


def test_no_qdrant_port_rule_containers_share_localhost(built):
    """Both containers are in one awsvpc task: they share a network namespace (ECS Developer Guide, "awsvpc network
    mode"), so Qdrant on 6333 is reached over localhost and needs no security group rule (the seed had one)."""
    for env in ENVS:
        for r in built[env]["security"]["Resources"].values():
            assert props(r).get("FromPort") != 6333


# --- storage -------------------------------------------------------------------------------------------------------


def test_file_system_is_encrypted_retained_and_refuses_non_tls(prod):
    fs = prod["storage"]["Resources"]["FileSystem"]
    assert fs["DeletionPolicy"] == fs["UpdateReplacePolicy"] == "Retain"
    assert_subset({"Encrypted": True, "PerformanceMode": "generalPurpose", "ThroughputMode": "bursting"}, props(fs))
    deny = props(fs)["FileSystemPolicy"]["Statement"][0]
    assert_subset({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, deny)


@pytest.mark.parametrize("env,count", [("dev", 2), ("prod", 3)])
def test_one_mount_target_per_task_subnet(built, env, count):
    """EFS allows one mount target per AZ; the task must find one in each subnet it may run in."""
    mts = resources(built[env]["storage"], "AWS::EFS::MountTarget")
    assert len(mts) == count
    if env == "prod":
        assert sorted(props(m)["SubnetId"] for m in mts.values()) == sorted(load_params("prod").network.subnet_ids)
        assert "MountTarget677d281e" in mts  # keyed by subnet id, never by list index


def test_access_points_posix_user_and_creation_info(prod):
    """EFS User Guide, "Creating the root directory for an access point": without CreationInfo a missing root
    directory makes every mount fail."""
    aps = resources(prod["storage"], "AWS::EFS::AccessPoint")
    assert {rid: props(a)["RootDirectory"]["Path"] for rid, a in aps.items()} == {
        "AppAccessPoint": "/wwhd-data", "QdrantAccessPoint": "/wwhd-data/qdrant"}
    for a in aps.values():
        assert a["DeletionPolicy"] == "Retain"
        assert_subset({"PosixUser": {"Uid": "1000", "Gid": "1000"},
                       "RootDirectory": {"CreationInfo": {"OwnerUid": "1000", "OwnerGid": "1000",
                                                          "Permissions": "755"}}},
                      props(a))


def test_backup_plan_from_params(prod):
    t = prod["storage"]
    p = load_params("prod").storage.backup
    rule = props(only(t, "AWS::Backup::BackupPlan"))["BackupPlan"]["BackupPlanRule"][0]
    assert_subset({"ScheduleExpression": p.schedule, "Lifecycle": {"DeleteAfterDays": p.delete_after_days},
                   "TargetBackupVault": {"Ref": "BackupVault"}}, rule)
    assert (props(only(t, "AWS::Backup::BackupSelection"))["BackupSelection"]["Resources"]
            == [{"Fn::GetAtt": ["FileSystem", "Arn"]}])
    # fixed name (<stack>-vault): a rolled-back first create removes it, or the retry would fail on the name
    assert t["Resources"]["BackupVault"]["DeletionPolicy"] == "RetainExceptOnCreate"
    assert t["Resources"]["BackupVault"]["UpdateReplacePolicy"] == "Retain"


# --- iam -----------------------------------------------------------------------------------------------------------


def test_execution_role_reads_exactly_the_injected_secrets(prod):
    """ECS Developer Guide, "Required IAM permissions for Amazon ECS secrets": the task *execution* role reads the
    secrets ECS injects into a container."""
    role = prod["identity"]["Resources"]["ExecutionRole"]
    secret_stmt = next(s for s in statements(role) if "secretsmanager:GetSecretValue" in actions(s))
    # prod's secrets are still UNCONFIRMED: rendered as the partial ARN of UNCONFIRMED/<VAR> (templates/secrets.py)
    assert secret_stmt["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
                    "UNCONFIRMED/JWT_SECRET-??????"},
        {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
                    "UNCONFIRMED/OPENAI_API_KEY-??????"},
    ]
    injected = only(prod["service"], "AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"][1]["Secrets"]
    assert [s["Name"] for s in injected] == ["JWT_SECRET", "OPENAI_API_KEY"]


def test_task_role_mounts_efs_only_through_the_access_points(prod):
    role = prod["identity"]["Resources"]["TaskRole"]
    efs = next(s for s in statements(role) if "elasticfilesystem:ClientMount" in actions(s))
    assert actions(efs) == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert efs["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:"
                                           "file-system/*"}]
    # this environment's file system by the tags the storage stack gives it, only through an access point and a
    # mount target; the file system policy denies any mount without an access point whatever the identity policy says
    fs_tags = {t["Key"]: t["Value"]
               for t in only(prod["storage"], "AWS::EFS::FileSystem")["Properties"]["FileSystemTags"]}
    assert efs["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{k}": fs_tags[k] for k in ("app", "env", "component")},
        "Null": {"elasticfilesystem:AccessPointArn": "false"},
        "Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}
    fs_policy = only(prod["storage"], "AWS::EFS::FileSystem")["Properties"]["FileSystemPolicy"]["Statement"]
    deny = next(s for s in fs_policy if s["Sid"] == "DenyWithoutAccessPoint")
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert set(deny["Action"]) == {"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite",
                                   "elasticfilesystem:ClientRootAccess"}
    assert deny["Condition"] == {"Null": {"elasticfilesystem:AccessPointArn": "true"}}
    assert not any(a.startswith("secretsmanager:") for s in statements(role) for a in actions(s))


def test_no_full_access_managed_policies(built):
    for env in ENVS:
        for t in built[env].values():
            for r in resources(t, "AWS::IAM::Role").values():
                assert not any("FullAccess" in str(a) for a in props(r).get("ManagedPolicyArns", []))


# --- cluster -------------------------------------------------------------------------------------------------------


def test_cluster_and_log_group(prod):
    t = prod["cluster"]
    assert_subset({"ClusterName": "wwhd-cluster", "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
                   "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
                  props(only(t, "AWS::ECS::Cluster")))
    assert_subset({"LogGroupName": "/ecs/wwhd-backend", "RetentionInDays": 90}, props(only(t, "AWS::Logs::LogGroup")))


def test_dev_creates_an_immutable_retained_repository(dev):
    repo = only(dev["cluster"], "AWS::ECR::Repository")
    assert (repo["DeletionPolicy"], repo["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    assert_subset({"RepositoryName": "wwhd-backend-dev", "ImageTagMutability": "IMMUTABLE"}, props(repo))


# --- load balancer -------------------------------------------------------------------------------------------------


def test_target_group_registers_task_ips_on_8000_with_health_check(prod):
    """awsvpc tasks register by IP: target type must be ip (ECS Developer Guide, "Use a load balancer")."""
    assert_subset({"TargetType": "ip", "Port": 8000, "Protocol": "HTTP", "HealthCheckPath": "/health"},
                  props(only(prod["load_balancer"], "AWS::ElasticLoadBalancingV2::TargetGroup")))
    assert_subset({"Scheme": "internet-facing", "Type": "application"},
                  props(only(prod["load_balancer"], "AWS::ElasticLoadBalancingV2::LoadBalancer")))


def test_prod_serves_https_and_redirects_http(prod):
    listeners = resources(prod["load_balancer"], "AWS::ElasticLoadBalancingV2::Listener")
    assert_subset({"Port": 443, "Protocol": "HTTPS", "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                   "Certificates": [{"CertificateArn": {"Ref": "CertificateArn"}}]}, props(listeners["HttpsListener"]))
    assert_subset({"Port": 80, "DefaultActions": [{"Type": "redirect",
                                                   "RedirectConfig": {"Protocol": "HTTPS", "StatusCode": "HTTP_301"}}]},
                  props(listeners["HttpListener"]))


def test_dev_without_domain_forwards_http(dev):
    listener = only(dev["load_balancer"], "AWS::ElasticLoadBalancingV2::Listener")
    assert_subset({"Port": 80, "Protocol": "HTTP", "DefaultActions": [{"Type": "forward"}]}, props(listener))


# --- service -------------------------------------------------------------------------------------------------------


def _containers(t):
    return {c["Name"]: c for c in props(only(t, "AWS::ECS::TaskDefinition"))["ContainerDefinitions"]}


def test_task_definition_matches_the_seed(prod):
    task = props(only(prod["service"], "AWS::ECS::TaskDefinition"))
    assert_subset({"Family": "wwhd-backend", "Cpu": "1024", "Memory": "2048", "NetworkMode": "awsvpc",
                   "RequiresCompatibilities": ["FARGATE"]}, task)
    c = _containers(prod["service"])
    assert_subset({"Cpu": 768, "Memory": 1536, "PortMappings": [{"ContainerPort": 8000}],
                   "Environment": [{"Name": "APP_ENV", "Value": "production"}, {"Name": "LOG_LEVEL", "Value": "INFO"},
                                   {"Name": "QDRANT_URL", "Value": "http://localhost:6333"},
                                   {"Name": "SQLITE_PATH", "Value": "/data/wwhd.db"},
                                   {"Name": "TMPDIR", "Value": "/data"}],
                   }, c["fastapi"])
    assert c["fastapi"]["MountPoints"][0] == {"ContainerPath": "/data", "SourceVolume": "app-data", "ReadOnly": False}
    assert_subset({"Image": "qdrant/qdrant:v1.7.4-unprivileged", "Cpu": 256, "Memory": 512,
                   "PortMappings": [{"ContainerPort": 6333}],
                   }, c["qdrant"])
    assert {e["Name"] for e in c["qdrant"]["Environment"]} >= {"QDRANT__LOG_LEVEL", "QDRANT__SERVICE__HTTP_PORT"}
    assert c["qdrant"]["MountPoints"][0]["ContainerPath"] == "/qdrant/storage"
    image = c["fastapi"]["Image"]["Fn::Sub"]
    assert image[0].endswith("/wwhd-dev-backend:${Tag}") and image[1] == {"Tag": {"Ref": "ImageTag"}}


def test_efs_volumes_use_access_points_with_transit_encryption_and_iam(prod):
    """ECS Developer Guide, "Amazon EFS volumes": an access point requires transit encryption; IAM authorization
    makes the task role the EFS identity."""
    volumes = {v["Name"]: v["EFSVolumeConfiguration"]
               for v in props(only(prod["service"], "AWS::ECS::TaskDefinition"))["Volumes"]
               if "EFSVolumeConfiguration" in v}
    assert volumes["app-data"]["AuthorizationConfig"] == {"AccessPointId": {"Ref": "AppAccessPointId"},
                                                          "IAM": "ENABLED"}
    assert volumes["qdrant-storage"]["AuthorizationConfig"]["AccessPointId"] == {"Ref": "QdrantAccessPointId"}
    assert {v["TransitEncryption"] for v in volumes.values()} == {"ENABLED"}


def test_app_starts_only_after_qdrant_is_healthy_and_checks_use_what_images_ship(prod):
    """ECS: dependsOn HEALTHY needs a container health check on the dependency. The Qdrant image ships neither curl
    nor wget (qdrant/qdrant#3491), so its check uses bash builtins against /readyz."""
    c = _containers(prod["service"])
    assert c["fastapi"]["DependsOn"] == [{"ContainerName": "qdrant", "Condition": "HEALTHY"}]
    qcmd = c["qdrant"]["HealthCheck"]["Command"]
    assert qcmd[:3] == ["CMD", "bash", "-c"] and "/dev/tcp/127.0.0.1/6333" in qcmd[3] and "/readyz" in qcmd[3]
    assert not any(tool in " ".join(qcmd) for tool in ("curl", "wget"))
    acmd = c["fastapi"]["HealthCheck"]["Command"]
    # the seed's app check used curl (the one record of what the app image ships); no python binary assumed
    assert acmd == ["CMD-SHELL", "curl -fsS --max-time 4 -o /dev/null http://localhost:8000/health || exit 1"]


def test_stop_timeouts_let_sqlite_and_rocksdb_close_and_the_app_stops_first(prod):
    """ECS: Fargate's maximum stopTimeout is 120 s; shutdown runs in reverse dependency order, so the app (which
    depends on Qdrant) gets SIGTERM first and Qdrant last."""
    c = _containers(prod["service"])
    assert c["qdrant"]["StopTimeout"] == 120 and c["fastapi"]["StopTimeout"] == 60
    assert all(x["StopTimeout"] <= 120 for x in c.values())
    assert {d["ContainerName"] for d in c["fastapi"]["DependsOn"]} == {"qdrant"} and "DependsOn" not in c["qdrant"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_start_periods_fit_efs_and_stay_within_ecs_limits(built, env):
    """ECS API reference, HealthCheck startPeriod: 0 to 300 s, and a passing check ends it early. Qdrant loads its
    collections from EFS (bursting: 50 KiB/s per GiB without credits): at least 120 s, here the maximum. The app starts
    after Qdrant is healthy and gets the service's grace period."""
    c = _containers(built[env]["service"])
    qdrant, app = c["qdrant"]["HealthCheck"]["StartPeriod"], c["fastapi"]["HealthCheck"]["StartPeriod"]
    assert 120 <= qdrant <= 300 and qdrant == 300
    assert 120 <= app <= 300
    grace = props(only(built[env]["service"], "AWS::ECS::Service"))["HealthCheckGracePeriodSeconds"]
    assert app <= grace  # neither ECS nor the ALB counts a failure while the app is in its start period


def test_the_worst_case_deploy_outage_follows_the_templates_and_is_in_the_readme(prod):
    from templates.service import worst_case_outage

    steps = worst_case_outage(load_params("prod"))
    tg = only(prod["load_balancer"], "AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]
    drain = {a["Key"]: a["Value"] for a in tg["TargetGroupAttributes"]}["deregistration_delay.timeout_seconds"]
    c = _containers(prod["service"])
    assert list(steps.values())[:3] == [int(drain), c["fastapi"]["StopTimeout"], c["qdrant"]["StopTimeout"]]
    assert list(steps.values())[-1] == tg["HealthCheckIntervalSeconds"] * (1 + tg["HealthyThresholdCount"])
    total = sum(steps.values())
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"worst case {total} s ({total / 60:.1f} min)" in readme


def test_both_containers_log_to_the_log_group(prod):
    for name, c in _containers(prod["service"]).items():
        assert_subset({"LogDriver": "awslogs",
                       "Options": {"awslogs-group": "/ecs/wwhd-backend", "awslogs-stream-prefix": name}},
                      c["LogConfiguration"])


def test_service_is_a_single_writer_behind_the_target_group(prod):
    """ECS Developer Guide, "Deployment configuration": maximumPercent 100 means a new task starts only after the
    old one stopped; minimumHealthyPercent 0 allows stopping it first."""
    svc = props(only(prod["service"], "AWS::ECS::Service"))
    assert_subset({"DesiredCount": {"Ref": "DesiredCount"}, "LaunchType": "FARGATE", "ServiceName": "wwhd-backend",
                   "DeploymentConfiguration": {"MinimumHealthyPercent": 0, "MaximumPercent": 100,
                                               "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}},
                   "LoadBalancers": [{"ContainerName": "fastapi", "ContainerPort": 8000,
                                      "TargetGroupArn": {"Ref": "TargetGroupArn"}}]},
                  svc)
    assert prod["service"]["Parameters"]["DesiredCount"]["AllowedValues"] == ["0", "1"]
    for env_templates in (prod,):
        for t in env_templates.values():
            assert not resources(t, "AWS::ApplicationAutoScaling::ScalableTarget")


# --- secrets -------------------------------------------------------------------------------------------------------


def test_prod_references_the_seeds_secrets_and_dev_generates_its_own(prod, dev, tmp_path):
    """Issue 7 item 4: prod keeps the seed's secret values (referenced by full ARN), generates none."""
    assert "secrets" not in prod
    confirmed = "arn:aws:secretsmanager:us-west-2:018025611404:secret:wwhd-dev/JWT_SECRET-AbC123"
    built = build_variant(tmp_path, "prod", secrets__JWT_SECRET__arn=confirmed)
    task = only(built["service"], "AWS::ECS::TaskDefinition")
    injected = {s["Name"]: s["ValueFrom"] for s in props(task)["ContainerDefinitions"][1]["Secrets"]}
    assert injected["JWT_SECRET"] == confirmed
    secrets = resources(dev["secrets"], "AWS::SecretsManager::Secret")
    assert sorted(secrets) == ["JwtSecretSecret", "OpenaiApiKeySecret"]
    assert_subset({"Name": "wwhd-dev/dev/jwt-secret", "GenerateSecretString": {"PasswordLength": 64}},
                  props(secrets["JwtSecretSecret"]))
    assert secrets["JwtSecretSecret"]["DeletionPolicy"] == "RetainExceptOnCreate"  # a retry must not meet its name
    assert secrets["JwtSecretSecret"]["UpdateReplacePolicy"] == "Retain"
    assert "SecretString" not in props(secrets["JwtSecretSecret"])


# --- monitoring, dns, certificate, ci --------------------------------------------------------------------------------


def test_alarms_notify_the_topic_and_prod_mails_the_operator(prod, dev):
    alarms = resources(prod["monitoring"], "AWS::CloudWatch::Alarm")
    assert {"TasksBelowDesiredAlarm", "Target5xxAlarm", "UnhealthyTargetsAlarm", "LatencyAlarm", "CpuHighAlarm",
            "MemoryHighAlarm", "EfsIoLimitAlarm", "EfsThroughputAlarm"} <= set(alarms)
    for a in alarms.values():
        assert props(a)["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert props(only(prod["monitoring"], "AWS::SNS::Subscription"))["Endpoint"] == "ops@wwhd.example.com"
    assert not resources(dev["monitoring"], "AWS::SNS::Subscription")
    only(prod["monitoring"], "AWS::CloudWatch::Dashboard")


def test_certificate_validates_in_the_hosted_zone_and_alias_points_at_the_alb(prod):
    d = load_params("prod").domain
    cert = props(only(prod["certificate"], "AWS::CertificateManager::Certificate"))
    assert_subset({"DomainName": d.name, "ValidationMethod": "DNS",
                   "DomainValidationOptions": [{"DomainName": d.name, "HostedZoneId": d.hosted_zone_id}]}, cert)
    alias = props(only(prod["dns"], "AWS::Route53::RecordSet"))
    assert_subset({"Name": f"{d.name}.", "Type": "A", "AliasTarget": {"DNSName": {"Ref": "LoadBalancerDnsName"}}},
                  alias)


def test_ci_roles_are_pinned_to_the_repository(prod):
    t = prod["identity"]
    repo = load_params("prod").ci.github_repository
    roles = resources(t, "AWS::IAM::Role")
    for name in ("GitHubPlanRole", "GitHubDeployRole"):
        trust = props(roles[name])["AssumeRolePolicyDocument"]["Statement"][0]
        assert actions(trust) == ["sts:AssumeRoleWithWebIdentity"]
        text = str(trust["Condition"])
        assert "token.actions.githubusercontent.com:aud" in text and "sts.amazonaws.com" in text
        subs = trust["Condition"].get("StringEquals", {}).get("token.actions.githubusercontent.com:sub") or \
            trust["Condition"].get("StringLike", {}).get("token.actions.githubusercontent.com:sub")
        subs = subs if isinstance(subs, list) else [subs]
        assert subs and all(s.startswith(f"repo:{repo}:") for s in subs)
    deploy_trust = str(props(roles["GitHubDeployRole"])["AssumeRolePolicyDocument"])
    assert "pull_request" not in deploy_trust


# --- the hardened task -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_both_containers_run_as_1000_on_a_read_only_root(built, env):
    """uid/gid 1000 is what the EFS access points enforce (storage stack); by default (service.debug_shell false)
    every root file system is read-only and ECS Exec is off."""
    for name, c in _containers(built[env]["service"]).items():
        assert c["User"] == "1000:1000" and c["ReadonlyRootFilesystem"] is True, name
    assert props(only(built[env]["service"], "AWS::ECS::Service"))["EnableExecuteCommand"] is False


def test_each_image_writes_only_to_its_volumes(prod):
    """Qdrant's snapshots and start-up marker and the app's temp files land on their EFS volumes; no container has a
    writable path that is not EFS."""
    c = _containers(prod["service"])
    q = {e["Name"]: e["Value"] for e in c["qdrant"]["Environment"]}
    assert q["QDRANT__STORAGE__SNAPSHOTS_PATH"].startswith("/qdrant/storage/")
    assert q["QDRANT_INIT_FILE_PATH"] == "/qdrant/storage/.qdrant-initialized"
    assert {e["Name"]: e["Value"] for e in c["fastapi"]["Environment"]}["TMPDIR"] == "/data"
    assert c["qdrant"]["Image"].endswith("-unprivileged")
    volumes = {v["Name"]: v for v in props(only(prod["service"], "AWS::ECS::TaskDefinition"))["Volumes"]}
    assert all("EFSVolumeConfiguration" in v for v in volumes.values())
    for container in c.values():
        assert {m["ContainerPath"] for m in container["MountPoints"]} <= {"/data", "/qdrant/storage"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_debug_shell_turns_exec_on_and_every_read_only_root_off_together(tmp_path, env):
    """ECS Developer Guide, "Monitor Amazon ECS containers with ECS Exec", Considerations: ECS Exec does not support
    a read-only root file system. With the switch on no container has both; the agent writes to each container's own
    writable layer, so no agent volume is declared (none shared by two agents)."""
    from .helpers import build_variant

    t = build_variant(tmp_path, env, service__debug_shell=True)
    assert props(only(t["service"], "AWS::ECS::Service"))["EnableExecuteCommand"] is True
    containers = _containers(t["service"])
    assert set(containers) == {"fastapi", "qdrant"}
    for name, c in containers.items():
        assert c["ReadonlyRootFilesystem"] is False, name
        assert not any(m["ContainerPath"].startswith(("/var/lib/amazon", "/var/log/amazon")) for m in c["MountPoints"])
    volumes = props(only(t["service"], "AWS::ECS::TaskDefinition"))["Volumes"]
    assert all("EFSVolumeConfiguration" in v for v in volumes)
    statements = props(t["identity"]["Resources"]["TaskRole"])["Policies"][0]["PolicyDocument"]["Statement"]
    assert "EcsExecChannels" in {s.get("Sid") for s in statements}


def test_without_the_debug_shell_the_task_role_has_no_exec_channels(prod):
    statements = props(prod["identity"]["Resources"]["TaskRole"])["Policies"][0]["PolicyDocument"]["Statement"]
    assert "EcsExecChannels" not in {s.get("Sid") for s in statements}


# --- ALB access logs -------------------------------------------------------------------------------------------------


def test_prod_alb_logs_to_a_retained_sse_s3_tls_only_bucket(prod, dev):
    """ALB User Guide, "Enable access logs": SSE-S3 only; us-west-2's ELB account 797873946194 writes AWSLogs/."""
    lb = prod["load_balancer"]["Resources"]
    bucket = lb["AccessLogsBucket"]
    assert (bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
            and "BucketName" not in bucket["Properties"])
    rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] > 0
    statements = {s["Sid"]: s for s in lb["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    write = statements["ElbWritesAccessLogs"]
    assert write["Principal"] == {"AWS": "arn:aws:iam::797873946194:root"} and write["Action"] == ["s3:PutObject"]
    assert write["Resource"] == [{"Fn::Sub": "${AccessLogsBucket.Arn}/AWSLogs/${AWS::AccountId}/*"}]
    deny = statements["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    alb = lb["LoadBalancer"]
    attributes = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == {"Ref": "AccessLogsBucket"}
    assert "deletion_protection.enabled" not in attributes  # on purpose (load_balancer.py docstring)
    assert alb["DependsOn"] == ["AccessLogsBucketPolicy"]
    assert "AccessLogsBucket" not in dev["load_balancer"]["Resources"]
