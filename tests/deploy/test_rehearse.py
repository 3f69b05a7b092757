"""scripts/rehearse.py: the scratch-account rehearsal, end to end against the local server (every open question SKIP
there), its safety refusals and clean-up, and each real-AWS check with Stubber answers shaped as the API references
document them (so its code has run before the day it matters)."""

from __future__ import annotations

import json

import boto3
import pytest

from scripts import rehearse
from scripts.recreate_seed import recreate

from .conftest import REGION, push_image

ZONE = "wwhd-rehearsal.net"
# a stack of one WaitConditionHandle stands for "a stack of that name exists"; moto models no such resource and says so
ANY_STACK = pytest.mark.filterwarnings("ignore:Tried to parse AWS..CloudFormation..WaitConditionHandle:UserWarning")
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
    return ["--certificate-arn", cert, "--region", REGION, "--domain", f"api.{ZONE}", "--hosted-zone-id", ZONE_ID,
            "--image-tag", "v1",
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
    assert [s["name"] for s in report["steps"] if s["code"] is not None] == [
        "discover", "bootstrap", "plan --adopt", "apply (adopt)", "migrate-data (dry run)", "start the service",
        "bootstrap (debug shell)", "apply (debug shell on)", "verify", "history", "rollback", "destroy"]
    # the steps moto can run succeed; the copy task never runs there and verify finds no running task (SKIP above)
    assert {s["name"]: s["code"] for s in report["steps"] if s["code"]} == {"migrate-data (dry run)": 1, "verify": 1}
    assert "not run locally: moto implements no DetectStackDrift" in [s["summary"] for s in report["steps"]]
    # the debug shell was on for verify: the params the run wrote say so
    written = (tmp_path / "work" / "params" / "reh-abc123.yaml").read_text()
    assert "debug_shell: true" in written and "account_id: '123456789012'" in written
    # every value through deploy/markdown.py: backticks from the questions are escaped, the table is intact
    md = (tmp_path / "work" / "report.md").read_text()
    assert "| the deploy's real downtime | SKIP | local server (AWS_ENDPOINT_URL)" in md
    assert "\\`cloudformation:ChangeSetName\\`" in md
    # nothing of the run is left in the account
    cfn = boto3.client("cloudformation", region_name=REGION)
    # moto keeps a root's nested stacks after the root is deleted, untagged and without ParentId, under names it
    # never listed as the root's resources: nothing identifies them as the run's, so the clean-up leaves them (on
    # AWS a nested stack is deleted with its root, and one that outlives it names its root in RootId: DescribeStacks)
    left = [s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert all(n.startswith("wwhd-reh-abc123-") and n.rsplit("-", 2)[1].endswith("Stack") for n in left), left
    assert "wwhd-reh-abc123" not in left and "wwhd-reh-abc123-identity" not in left
    assert not [n for n in left if n.startswith("wwhd-infra-")]
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
    assert boto3.client("efs", region_name=REGION).describe_file_systems()["FileSystems"] == []
    assert boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"] == []
    assert boto3.client("ecr", region_name=REGION).describe_repositories()["repositories"] == []
    assert "report: " in out and "0 pass, 0 fail, 12 skip; completed" in out


# --- safety ----------------------------------------------------------------------------------------------------------


def _refused(tmp_path, capsys, *extra):
    code = rehearse.main(argv(tmp_path, *extra), on_repository=lambda repo, tag: push_image(repo, tag),
                         poll=lambda s: None)
    out, err = capsys.readouterr()
    return code, out, err


def _nothing_created():
    assert boto3.client("cloudformation", region_name=REGION).describe_stacks()["Stacks"] == []
    assert boto3.client("ecs", region_name=REGION).list_clusters()["clusterArns"] == []


def test_without_yes_it_prints_the_plan_and_the_cost_and_names_the_command_with_yes(seeded_moto, tmp_path, capsys):
    code, out, err = _refused(tmp_path, capsys)
    assert code == 2
    assert "Estimated cost of one run" in out and "USD  total" in out
    assert "recreate the seed, discover, bootstrap, plan --adopt" in out
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: nothing was created: the rehearsal creates billable resources and needs --yes")
    assert lines[1].startswith("fix: run it: python scripts/rehearse.py --certificate-arn ") and lines[1].endswith(
        "--run-id abc123 --yes")
    assert len(lines) == 2 and "Traceback" not in err
    _nothing_created()


def test_an_account_named_in_any_params_file_is_refused(seeded_moto, tmp_path, capsys, monkeypatch):
    params = tmp_path / "params"
    params.mkdir()
    (params / "stage.yaml").write_text('account_id: "123456789012"\nregion: us-west-2\n')
    monkeypatch.setattr(rehearse, "PARAMS_DIR", params)
    code, out, err = _refused(tmp_path, capsys, "--yes")
    assert code == 2
    assert err.splitlines() == [
        "error: account 123456789012 is named in params/stage.yaml: the rehearsal runs only in a scratch account",
        "fix: use credentials of a scratch account that no params/*.yaml names (--profile P)"]
    _nothing_created()


def test_a_run_id_too_long_for_the_names_it_makes_is_refused_before_anything_is_created(capsys):
    from templates import config
    from templates.config import load_params

    longest = "a" * rehearse.RUN_ID_MAX
    assert rehearse.parse(argv_without_aws("--run-id", longest)).run_id == longest
    p = load_params("prod").model_copy(update={"env": f"reh-{longest}"})  # the params file the run writes
    assert p.stack_name == f"wwhd-reh-{longest}" and config._names(p) == []
    for bad in (longest + "a", "ABC", "a-b", ""):
        with pytest.raises(SystemExit) as exited:
            rehearse.parse(argv_without_aws("--run-id", bad))
        assert exited.value.code == 2
        assert "--run-id: " in capsys.readouterr().err


def argv_without_aws(*extra):
    return ["--region", REGION, "--domain", f"api.{ZONE}", "--hosted-zone-id", ZONE_ID, "--image-tag", "v1", *extra]


def test_the_committed_params_name_prod_s_account():
    assert rehearse.accounts_in_params(rehearse.PARAMS_DIR) == {"018025611404": "prod.yaml"}


@ANY_STACK
def test_an_account_with_a_wwhd_stack_is_refused(seeded_moto, tmp_path, capsys):
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="wwhd-dev", TemplateBody=json.dumps(
        {"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}))
    code, out, err = _refused(tmp_path, capsys, "--yes")
    assert code == 2
    assert err.startswith("error: account 123456789012 already holds 1 of the seed's names or wwhd-* stacks: "
                          "stack wwhd-dev (CREATE_COMPLETE)\n")
    assert "fix: use an empty scratch account (params/dev.yaml names no account_id" in err
    assert boto3.client("ecs", region_name=REGION).list_clusters()["clusterArns"] == []


@pytest.mark.parametrize("make, named", [
    (lambda: boto3.client("ecs", region_name=REGION).create_cluster(clusterName="wwhd-cluster"),
     "ECS cluster wwhd-cluster"),
    (lambda: boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/ecs/wwhd-backend"),
     "log group /ecs/wwhd-backend"),
    (lambda: boto3.client("iam").create_role(RoleName="wwhd-dev-ecs-task-role", AssumeRolePolicyDocument="{}"),
     "IAM role wwhd-dev-ecs-task-role"),
    (lambda: boto3.client("ecr", region_name=REGION).create_repository(repositoryName="wwhd-dev-backend"),
     "ECR repository wwhd-dev-backend"),
    (lambda: boto3.client("secretsmanager", region_name=REGION).create_secret(Name="wwhd-dev/OTHER", SecretString="x"),
     "secret wwhd-dev/OTHER"),
    (lambda: boto3.client("ec2", region_name=REGION).create_security_group(GroupName="wwhd-efs-sg", Description="x"),
     "security group wwhd-efs-sg"),
])
def test_an_account_holding_a_seed_name_is_refused(seeded_moto, tmp_path, capsys, make, named):
    make()
    code, out, err = _refused(tmp_path, capsys, "--yes")
    assert code == 2, out + err
    assert err.startswith("error: account 123456789012 already holds 1 of the seed's names or wwhd-* stacks: " + named)
    assert len(err.strip().splitlines()) == 2


# --- clean-up only what carries the run's tag -------------------------------------------------------------------------


@ANY_STACK
def test_cleanup_deletes_the_runs_resources_and_leaves_an_untagged_look_alike(seeded_moto, tmp_path):
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
               for i, z in enumerate(zones)]
    seed = recreate(boto3.Session(), REGION, vpc, subnets, tags={rehearse.RUN_TAG: "abc123"})
    # an untagged look-alike of each kind, made by someone else
    efs = boto3.client("efs", region_name=REGION)
    other_fs = efs.create_file_system(CreationToken="wwhd-data-other")["FileSystemId"]
    other_sg = ec2.create_security_group(GroupName="wwhd-ecs-sg-other", Description="x", VpcId=vpc)["GroupId"]
    sm = boto3.client("secretsmanager", region_name=REGION)
    other_secret = sm.create_secret(Name="wwhd-dev/KEEP", SecretString="x")["ARN"]
    other_tagged = sm.create_secret(Name="wwhd-dev/OTHER-RUN", SecretString="x",
                                    Tags=[{"Key": rehearse.RUN_TAG, "Value": "zzz999"}])["ARN"]
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/ecs/wwhd-backend-keep")
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName="wwhd-reh-abc123-lookalike", TemplateBody=json.dumps(
        {"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}))  # the name, not the tag

    report = rehearse.Report("abc123", "123456789012", REGION, True, "t")
    rehearse.cleanup(lambda s: boto3.client(s, region_name=REGION), "abc123", "reh-abc123", report, set(),
                     poll=lambda s: None)
    assert report.left == []
    assert f"EFS file system {seed.file_system_id}" in report.deleted
    assert {f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]} == {other_fs}
    assert [g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"] if g["GroupName"] != "default"] == [other_sg]
    assert sorted(s["ARN"] for s in sm.list_secrets()["SecretList"]) == sorted([other_secret, other_tagged])
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/ecs/wwhd-backend-keep"]
    assert boto3.client("ecs", region_name=REGION).describe_clusters(clusters=["wwhd-cluster"])["clusters"][0][
        "status"] == "INACTIVE"
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == ["wwhd-reh-abc123-lookalike"]
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]  # not created by the run: no tag, kept


def test_recreate_without_tags_sets_none(seeded_moto):
    seed = recreate(boto3.Session(), REGION)
    fs = boto3.client("efs", region_name=REGION).describe_file_systems(FileSystemId=seed.file_system_id)
    assert fs["FileSystems"][0]["Tags"] == []
    assert boto3.client("logs", region_name=REGION).list_tags_log_group(logGroupName="/ecs/wwhd-backend")["tags"] == {}


def test_ctrl_c_still_cleans_up(seeded_moto, tmp_path, capsys, monkeypatch):
    _zone()

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(rehearse.Rehearsal, "wait_for_image", interrupt)  # after the seed exists
    code = rehearse.main(argv(tmp_path, "--yes"), poll=lambda s: None)
    out, err = capsys.readouterr()
    assert code == 130
    assert err.startswith("error: interrupted:") and "\nfix: read the report's Clean-up section" in err
    report = json.loads((tmp_path / "work" / "report.json").read_text())
    assert report["outcome"] == "interrupted (Ctrl-C)" and report["left"] == []
    assert "ECS cluster wwhd-cluster" in report["deleted"]
    assert boto3.client("efs", region_name=REGION).describe_file_systems()["FileSystems"] == []
