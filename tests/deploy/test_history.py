"""Deploy history and rollback against the moto server: apply records a release, history lists them, rollback plans
the previous good release's root TemplateURL and parameters and applies it through apply's own machinery."""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC

import boto3
import pytest

REGION = "us-west-2"
STACK = "wwhd-dev"


def cfn():
    return boto3.client("cloudformation", region_name=REGION)


def s3():
    return boto3.client("s3", region_name=REGION)


def bucket() -> str:
    return next(b["Name"] for b in s3().list_buckets()["Buckets"] if b["Name"].startswith("wwhd-infra-"))


def parameters() -> dict[str, str]:
    stack = cfn().describe_stacks(StackName=STACK)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def records(prefix: str = "releases") -> list[dict]:
    name = bucket()
    keys = [o["Key"] for o in s3().list_objects_v2(Bucket=name, Prefix=f"{prefix}/{STACK}/").get("Contents", [])]
    return [json.loads(s3().get_object(Bucket=name, Key=k)["Body"].read()) for k in sorted(keys, reverse=True)]


def fix_of(err: str) -> str:
    return next(line for line in err.splitlines() if line.startswith("fix: "))[len("fix: "):]


@pytest.fixture
def two_releases(deployed, cli, shared_setup):
    """``deployed`` and a second release (image tag v2), made once per test process (tests/deploy/moto_state.py)."""
    result = shared_setup("two_releases", lambda: cli("apply", "--env", "dev", "--image-tag", "v2", "--yes"))
    assert result.code == 0, result.out + result.err
    return result


def test_apply_records_the_release_it_deployed(deployed, monkeypatch):
    [release] = records()
    assert release["parameters"]["ImageTag"] == "v1"
    assert release["status"] == "CREATE_COMPLETE"
    assert release["stack"] == STACK and re.fullmatch(r"wwhd-dev-\d{14}-v1", release["changeSet"])
    assert release["id"].endswith(release["changeSet"])
    assert release["who"].startswith("arn:aws:sts::") or release["who"].startswith("arn:aws:iam::")
    # the URL names the root by its bytes: the object under it holds what the stack runs
    key = release["templateUrl"].split(".amazonaws.com/", 1)[1]
    assert key.startswith(f"{STACK}/") and key.endswith(".yaml")
    deployed_root = cfn().get_template(StackName=STACK, TemplateStage="Original")["TemplateBody"]
    assert s3().get_object(Bucket=bucket(), Key=key)["Body"].read().decode() == deployed_root
    assert "recorded release " + release["id"] in deployed.out


def test_history_lists_newest_first_and_marks_the_deployed_one(two_releases, cli, project):
    result = cli("history", "--env", "dev", "--json", "releases.json")
    assert result.code == 0, result.err
    lines = [line for line in result.out.splitlines() if "image v" in line]
    assert len(lines) == 2
    assert lines[0].startswith("* ") and "image v2" in lines[0]
    assert lines[1].startswith("  ") and "image v1" in lines[1]
    doc = json.loads((project / "releases.json").read_text())
    assert doc["stack"] == STACK and doc["bucket"] == bucket()
    assert [r["parameters"]["ImageTag"] for r in doc["releases"]] == ["v2", "v1"]
    assert [r["current"] for r in doc["releases"]] == [True, False]
    assert doc["current"] == doc["releases"][0]["id"]
    assert set(doc["releases"][0]) >= {"id", "time", "templateUrl", "parameters", "changeSet", "changeSetArn",
                                       "status", "who", "commit", "current"}


def test_rollback_restores_the_previous_release_and_records_it(two_releases, cli):
    v1, v2 = records()[1], records()[0]
    assert "restored" not in v2 and "rolledBackFrom" not in v2
    result = cli("rollback", "--env", "dev", "--yes")
    assert result.code == 0, result.out + result.err
    assert parameters()["ImageTag"] == "v1"
    assert f"rolling back {STACK} to release {v1['id']}" in result.out
    assert "ImageTag" in result.out and "v2 -> v1" in result.out  # plan's review: parameters deployed -> planned
    newest = records()
    assert len(newest) == 3 and newest[0]["parameters"]["ImageTag"] == "v1"
    assert newest[0]["templateUrl"] == v1["templateUrl"]  # the recorded root, not a new package
    assert (newest[0]["rolledBackFrom"], newest[0]["restored"]) == (v2["id"], v1["id"])
    listed = cli("history", "--env", "dev")
    deployed_line = next(line for line in listed.out.splitlines() if line.startswith("* "))
    assert deployed_line.count("image v1") == 1 and f"ROLLBACK from {v2['id']} to {v1['id']}" in deployed_line
    # rolling back again walks further back, never forward to what the rollback undid: there is nothing before v1
    again = cli("rollback", "--env", "dev", "--yes")
    assert again.code == 1 and "no earlier good release" in again.err
    assert parameters()["ImageTag"] == "v1"


def test_a_rollback_builds_none_of_todays_app_templates(two_releases, cli, monkeypatch):
    """A rollback plans the release's own templates (deploy/pipeline.py, ``release``): a stack module that no longer
    builds today must not stop it. Only today's identity stack is built, for preflight's identity check."""
    import templates

    def broken(*args, **kwargs):
        raise ValueError("a stack module that no longer builds")

    monkeypatch.setattr(templates, "build_all", broken)
    result = cli("rollback", "--env", "dev", "--yes")
    assert result.code == 0, result.out + result.err
    assert parameters()["ImageTag"] == "v1"
    assert cli("plan", "--env", "dev").code != 0  # a plan does build today's templates: the breakage is real


def test_repeated_rollbacks_walk_back_and_a_forward_apply_resets_the_target(two_releases, cli):
    """R1 v1, R2 v2, R3 v3 deployed in turn; rollback deploys R2 (R4, "from R3"), again R1 (R5), not R3; a forward
    apply (R6) makes R5 the rollback target."""
    assert cli("apply", "--env", "dev", "--image-tag", "v3", "--yes").code == 0
    r3, r2, r1 = records()
    assert [r["parameters"]["ImageTag"] for r in (r1, r2, r3)] == ["v1", "v2", "v3"]
    assert cli("rollback", "--env", "dev", "--yes").code == 0
    r4 = records()[0]
    assert parameters()["ImageTag"] == "v2" and (r4["rolledBackFrom"], r4["restored"]) == (r3["id"], r2["id"])
    assert cli("rollback", "--env", "dev", "--yes").code == 0
    r5 = records()[0]
    assert parameters()["ImageTag"] == "v1" and (r5["rolledBackFrom"], r5["restored"]) == (r4["id"], r1["id"])
    assert cli("apply", "--env", "dev", "--image-tag", "v6", "--yes").code == 0
    assert "restored" not in records()[0]  # a forward apply is no rollback
    back = cli("rollback", "--env", "dev", "--yes")
    assert back.code == 0 and f"to release {r5['id']}" in back.out
    assert parameters()["ImageTag"] == "v1"


def test_rollback_to_a_named_release(two_releases, cli):
    v1 = records()[1]
    result = cli("rollback", "--env", "dev", "--to", v1["id"], "--yes")
    assert result.code == 0, result.out + result.err
    assert parameters()["ImageTag"] == "v1"
    unknown = cli("rollback", "--env", "dev", "--to", "20200101T000000.000000Z-nothing", "--yes")
    assert unknown.code == 2 and fix_of(unknown.err) == "pick an id from: python generate.py history --env dev"


def test_rollback_with_one_release_refuses_with_a_runnable_fix(deployed, cli):
    result = cli("rollback", "--env", "dev", "--yes")
    assert result.code == 1
    assert "no earlier good release of wwhd-dev to roll back to (1 recorded, the newest is deployed now)" in result.err
    fix = fix_of(result.err).split(": ", 1)[1]
    argv = shlex.split(fix)
    assert argv[:2] == ["python", "generate.py"]
    assert cli(*argv[2:]).code == 0
    assert parameters()["ImageTag"] == "v1"


def test_rollback_refuses_when_a_template_of_the_release_is_gone(two_releases, cli):
    v1 = records()[1]
    root = s3().get_object(Bucket=bucket(), Key=v1["templateUrl"].split(".amazonaws.com/", 1)[1])["Body"].read()
    child = next(line.split("TemplateURL:", 1)[1].strip() for line in root.decode().splitlines()
                 if "TemplateURL:" in line)
    # a child only v1 used would expire first; delete any child (the rollback must notice before planning)
    s3().delete_object(Bucket=bucket(), Key=child.split(".amazonaws.com/", 1)[1])
    stacks_before = cfn().list_change_sets(StackName=STACK)["Summaries"]
    result = cli("rollback", "--env", "dev", "--yes")
    assert result.code == 1
    assert f"release {v1['id']} cannot be restored: s3://{bucket()}/{child.split('.amazonaws.com/', 1)[1]} is gone" \
        in result.err
    assert fix_of(result.err) == ("deploy the same image with today's templates instead: python generate.py apply "
                                  "--env dev --image-tag v1 --desired-count " + v1["parameters"]["DesiredCount"])
    assert parameters()["ImageTag"] == "v2"
    assert cfn().list_change_sets(StackName=STACK)["Summaries"] == stacks_before  # nothing planned


def test_hints_carry_region_and_profile(deployed, cli, monkeypatch, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("[ops]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    result = cli("rollback", "--env", "dev", "--region", REGION, "--profile", "ops", "--yes")
    assert result.code == 1
    assert fix_of(result.err).endswith(f"python generate.py history --env dev --region {REGION} --profile ops")


def test_a_record_that_cannot_be_written_warns_and_the_deploy_succeeds(deployed, cli, monkeypatch):
    from deploy import history

    def refuse(*args, **kwargs):
        raise RuntimeError("bucket says no")

    monkeypatch.setattr(history, "_record", refuse)
    result = cli("apply", "--env", "dev", "--image-tag", "v2", "--yes")
    assert result.code == 0
    assert "release was not recorded (RuntimeError: bucket says no)" in result.err + result.out
    assert parameters()["ImageTag"] == "v2" and len(records()) == 1


def test_rollback_of_a_busy_stack_is_refused(two_releases, cli, monkeypatch):
    from deploy import stacks
    from deploy.verbs import rollback

    real = stacks.describe

    def busy(aws, name):
        info = real(aws, name)
        info.status = "UPDATE_IN_PROGRESS"
        return info

    monkeypatch.setattr(rollback, "describe", busy)
    result = cli("rollback", "--env", "dev", "--yes")
    assert result.code == 1 and "UPDATE_IN_PROGRESS" in result.err
    assert "add --wait to rollback" in result.err
    assert parameters()["ImageTag"] == "v2"


def test_outside_a_checkout_the_commit_comes_from_github_sha(monkeypatch, tmp_path):
    from deploy.history import _commit

    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    assert _commit(tmp_path) == {"commit": "a" * 40, "dirty": None}  # not a git checkout: the work tree is unknown
    monkeypatch.delenv("GITHUB_SHA")
    assert _commit(tmp_path) == {"commit": None, "dirty": None}



def test_rollback_without_a_terminal_keeps_the_change_set_and_its_apply_records_the_same_root(two_releases, cli):
    v1 = records()[1]
    result = cli("rollback", "--env", "dev")
    assert result.code == 2 and parameters()["ImageTag"] == "v2"
    fix = fix_of(result.err)
    argv = shlex.split(fix)
    assert argv[2:6] == ["apply", "--env", "dev", "--change-set"] and argv[-1] == "--yes"
    applied = cli(*argv[2:])
    assert applied.code == 0, applied.out + applied.err
    assert parameters()["ImageTag"] == "v1"
    newest = records()[0]
    # apply --change-set does not know the URL: it is found from the deployed root's bytes and S3's checksum
    assert newest["templateUrl"] == v1["templateUrl"] and newest["parameters"] == v1["parameters"]


def test_history_of_an_environment_without_records(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    result = cli("history", "--env", "dev")
    assert result.code == 0 and "no releases recorded for wwhd-dev" in result.out


def test_release_ids_sort_by_time_within_one_second():
    from datetime import datetime

    from deploy.history import release_id

    first = release_id(datetime(2026, 1, 1, 12, 0, 0, 1000, tzinfo=UTC), "wwhd-dev-v2-20260101120000")
    second = release_id(datetime(2026, 1, 1, 12, 0, 0, 900000, tzinfo=UTC), "wwhd-dev-v1-20260101120000")
    assert sorted([second, first]) == [first, second]


def test_records_under_the_old_prefix_still_read_and_roll_back(two_releases, cli):
    """Releases recorded before the releases/ prefix, under history/<stack>/, are listed beside the new ones and
    can be rolled back to; nothing moves them."""
    name = bucket()
    older, newer = records()[1], records()[0]
    s3().delete_object(Bucket=name, Key=f"releases/{STACK}/{older['id']}.json")
    s3().put_object(Bucket=name, Key=f"history/{STACK}/{older['id']}.json", Body=json.dumps(older).encode())
    listed = cli("history", "--env", "dev")
    assert listed.code == 0, listed.err
    assert [line.split()[1] for line in listed.out.splitlines() if line.strip().startswith("id ")] == [
        newer["id"], older["id"]]
    rolled = cli("rollback", "--env", "dev", "--yes")
    assert rolled.code == 0, rolled.out + rolled.err
    assert parameters()["ImageTag"] == "v1"
    assert records()[0]["parameters"]["ImageTag"] == "v1"  # the rollback itself is recorded under releases/


def test_a_foreign_object_under_history_is_skipped_and_fields_are_shown_as_data(two_releases, cli):
    name = bucket()
    forged = {**records()[0], "id": "29991231T000001.000000Z-x", "who": "me\n* 2099 image evil\x1b[31m"}
    s3().put_object(Bucket=name, Key=f"history/{STACK}/29991231T000000.000000Z-junk.json", Body=b"[1, 2]")
    s3().put_object(Bucket=name, Key=f"history/{STACK}/{forged['id']}.json", Body=json.dumps(forged).encode())
    result = cli("history", "--env", "dev")
    assert result.code == 0, result.err
    assert "29991231T000000.000000Z-junk.json is not a release record of ours (no id): skipped" in result.out
    assert "\x1b" not in result.out and "\n* 2099" not in result.out
    assert sum(1 for line in result.out.splitlines() if "image v" in line) == 3


def test_without_a_template_bucket_history_is_bad_input_and_rollback_has_nothing_to_do(moto, project, cli):
    listed = cli("history", "--env", "dev")
    assert listed.code == 2 and "the template bucket wwhd-infra-123456789012-us-west-2 does not exist" in listed.err
    assert fix_of(listed.err) == "create it: python generate.py bootstrap --env dev"
    result = cli("rollback", "--env", "dev", "--yes")
    assert result.code == 1 and "no stack wwhd-dev in us-west-2: there is nothing to roll back" in result.err
    assert fix_of(result.err) == "deploy it: python generate.py apply --env dev"


def test_rollback_keeps_applys_data_loss_guard(two_releases, cli, monkeypatch):
    from deploy import changeset

    from .test_protection import with_storage_change

    monkeypatch.setattr(changeset, "describe_tree", with_storage_change("True"))
    refused = cli("rollback", "--env", "dev", "--yes")
    assert refused.code == 1 and "refusing to apply: this change set would lose data" in refused.err
    assert parameters()["ImageTag"] == "v2" and len(records()) == 2  # nothing executed, nothing recorded
    allowed = cli("rollback", "--env", "dev", "--yes", "--allow-data-loss")
    assert allowed.code == 0, allowed.out + allowed.err
    assert "--allow-data-loss given" in allowed.out + allowed.err and parameters()["ImageTag"] == "v1"


# --- provenance: nothing read back is trusted unchecked ----------------------------------------------------------


def _forge(name: str, record: dict) -> None:
    s3().put_object(Bucket=name, Key=f"releases/{STACK}/{record['id']}.json", Body=json.dumps(record).encode())


@pytest.mark.parametrize("form", [
    "https://{b}.s3.us-west-2.amazonaws.com.attacker.example/{k}",
    "https://{b}.s3.evil.s3.us-west-2.amazonaws.com/{k}",
    "https://x@{b}.s3.us-west-2.amazonaws.com/{k}",
    "https://{b}.s3.us-west-2.amazonaws.com:8443/{k}",
    "https://{b}.s3.us-west-2.amazonaws.com/{k}?versionId=1",
    "https://{b}.s3.us-west-2.amazonaws.com/{k}#f",
    "http://{b}.s3.us-west-2.amazonaws.com/{k}",
    "https://other-bucket.s3.us-west-2.amazonaws.com/{k}",
])
def test_a_record_whose_url_is_not_exactly_ours_is_refused_and_never_sent(two_releases, cli, form):
    name = bucket()
    v1 = records()[1]
    key = v1["templateUrl"].split(".amazonaws.com/", 1)[1]
    forged = {**v1, "id": "29991231T000000.000000Z-forged", "templateUrl": form.format(b=name, k=key)}
    _forge(name, forged)
    listed = cli("history", "--env", "dev")
    assert listed.code == 0, listed.err
    assert f"releases/{STACK}/{forged['id']}.json is not a release record of ours" in listed.out + listed.err
    assert forged["id"] not in listed.out.replace(f"{forged['id']}.json", "")
    refused = cli("rollback", "--env", "dev", "--to", forged["id"], "--yes")
    assert refused.code == 2 and f"no release {forged['id']!r}" in refused.err
    assert parameters()["ImageTag"] == "v2"


def test_a_template_whose_bytes_are_not_its_hash_is_refused_before_planning(two_releases, cli):
    v1 = records()[1]
    key = v1["templateUrl"].split(".amazonaws.com/", 1)[1]
    s3().put_object(Bucket=bucket(), Key=key, Body=b"Resources: {}\n")  # someone with write access replaced it
    before = cfn().list_change_sets(StackName=STACK)["Summaries"]
    result = cli("rollback", "--env", "dev", "--yes")
    assert result.code == 1
    # v1 and v2 share the root (only ImageTag differs): whichever is picked, the bytes are checked and refused
    assert f"is refused: {key} does not hold the bytes its name's SHA-256 says" in result.err
    assert cfn().list_change_sets(StackName=STACK)["Summaries"] == before and parameters()["ImageTag"] == "v2"


@pytest.mark.parametrize("body, why", [
    (b"\xff\xfe\x00not utf-8", "is not a readable template (UnicodeDecodeError)"),
    (b"- a\n- list\n", "is not a CloudFormation template (no Resources mapping)"),
])
def test_a_template_that_is_not_one_is_refused_naming_it(two_releases, cli, body, why):
    """Its hash matches its name (anyone who may write <stack>/ could upload it): still refused, never exit 70."""
    import hashlib

    name = bucket()
    key = f"{STACK}/{hashlib.sha256(body).hexdigest()}.yaml"
    s3().put_object(Bucket=name, Key=key, Body=body)
    rid = "29991231T000000.000000Z-odd"
    _forge(name, {**records()[1], "id": rid, "templateUrl": f"https://{name}.s3.{REGION}.amazonaws.com/{key}"})
    assert cli("history", "--env", "dev").code == 0
    result = cli("rollback", "--env", "dev", "--to", rid, "--yes")
    assert result.code == 1 and f"release {rid} is refused: {key} {why}" in result.err


@pytest.mark.parametrize("body", [
    b"[" * 50000 + b"]" * 50000,  # a RecursionError for a recursive parser
    json.dumps({"id": "x", "parameters": {}, "deep": [[[[[[[[[[1]]]]]]]]]]}).encode(),
    b"\xff\xfe not utf-8",
    b"{" + b" " * (70 * 1024) + b"}",  # over the size bound
])
def test_a_malformed_record_is_skipped_with_one_warning(two_releases, cli, body):
    key = f"releases/{STACK}/29991231T000000.000000Z-bad.json"
    s3().put_object(Bucket=bucket(), Key=key, Body=body)
    listed = cli("history", "--env", "dev")
    assert listed.code == 0, listed.err
    warnings = [line for line in (listed.out + listed.err).splitlines() if key in line]
    assert len(warnings) == 1 and "is not a release record of ours" in warnings[0] and "skipped" in warnings[0]
    rolled = cli("rollback", "--env", "dev", "--yes")
    assert rolled.code == 0, rolled.err
    assert parameters()["ImageTag"] == "v1"


def test_a_release_from_a_dirty_work_tree_says_so(deployed, cli, project):
    import subprocess

    def git(*argv):
        subprocess.run(["git", *argv], cwd=project, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "add", "params")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "params")
    assert cli("apply", "--env", "dev", "--image-tag", "v2", "--yes").code == 0
    clean = records()[0]
    assert len(clean["commit"]) == 40 and clean["dirty"] is True  # output/ and the review files are untracked
    git("add", "-A")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "all")
    assert cli("apply", "--env", "dev", "--image-tag", "v3", "--yes").code == 0
    assert records()[0]["dirty"] is False
    listed = cli("history", "--env", "dev")
    assert sum("(dirty work tree)" in line for line in listed.out.splitlines()) == 1


# --- rollback preflights the release it would deploy -------------------------------------------------------------


def _release_with(name: str, root: str, base: dict) -> dict:
    import hashlib

    key = f"{STACK}/{hashlib.sha256(root.encode()).hexdigest()}.yaml"
    s3().put_object(Bucket=name, Key=key, Body=root.encode())
    record = {**base, "id": "29991231T000000.000000Z-old",
              "templateUrl": f"https://{name}.s3.{REGION}.amazonaws.com/{key}"}
    _forge(name, record)
    return record


OLD_ROOT = """AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  ImageTag: {Type: String}
  DesiredCount: {Type: Number}
Resources:
  TaskRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}
  Queue:
    Type: AWS::SQS::Queue
"""


def test_rollback_preflights_the_release_s_own_templates(two_releases, cli, monkeypatch):
    """A release recorded before the identity stack (IAM in the app stacks) is refused before any change set when
    CloudFormation acts as the execution role; the simulation asks about the release's resources, not today's."""
    from deploy import simulate

    asked_types = []

    def answer(iam, role_arn, asked):
        asked_types.append(asked)
        return [simulate.Finding(a, r, "implicitDeny" if a == "logs:PutRetentionPolicy" else "allowed")
                for x in asked for a in x.actions for r in x.resources]

    monkeypatch.setattr(simulate, "simulate", answer)
    release = _release_with(bucket(), OLD_ROOT, records()[1])
    before = cfn().list_change_sets(StackName=STACK)["Summaries"]
    role = "arn:aws:iam::123456789012:role/wwhd-dev-cloudformation-execution"
    result = cli("rollback", "--env", "dev", "--to", release["id"], "--role-arn", role, "--yes")
    assert result.code == 1, result.out + result.err
    out = " ".join(result.out.split())
    assert "BLOCK release templates: IAM: 1 IAM resource(s) in the app stacks (root/TaskRole (AWS::IAM::Role))" in out
    assert "deploy the same image with today's templates instead: python generate.py apply --env dev" in out
    # the release's queue has no ARN rule: it was looked at (today's templates have none)
    assert "WARN execution role: AWS::SQS::Queue: not simulated" in out
    assert asked_types and not any("logs:PutRetentionPolicy" in x.actions for x in asked_types[0])  # no log group
    assert cfn().list_change_sets(StackName=STACK)["Summaries"] == before and parameters()["ImageTag"] == "v2"


def test_rollback_refuses_a_release_that_needs_what_the_role_lacks_with_the_forward_fix(two_releases, cli,
                                                                                        monkeypatch):
    from deploy import simulate

    monkeypatch.setattr(simulate, "simulate", lambda iam, role_arn, asked: [
        simulate.Finding(a, r, "implicitDeny" if a == "logs:PutRetentionPolicy" else "allowed")
        for x in asked for a in x.actions for r in x.resources])
    role = "arn:aws:iam::123456789012:role/wwhd-dev-cloudformation-execution"
    result = cli("rollback", "--env", "dev", "--role-arn", role, "--yes")
    assert result.code == 1
    out = " ".join(result.out.split())
    assert "BLOCK execution role: logs:PutRetentionPolicy" in out
    assert ("the release needs a permission today's execution role does not grant: deploy the same image with "
            "today's templates instead: python generate.py apply --env dev") in out
    assert parameters()["ImageTag"] == "v2"
