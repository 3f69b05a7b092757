"""discover and the seed's file system policy (EFS DescribeFileSystemPolicy, Stubber responses shaped as the EFS API
reference documents them): none (``PolicyNotFound``, the default policy) or one, and then the statement the operator
adds so that migrate-data can mount it with IAM authorization as the environment's task role."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.stub import Stubber

from deploy.aws import Aws
from deploy.context import Ctx
from deploy.ui import Out
from deploy.verbs import discover
from templates.config import load_params

REGION, ACCOUNT, FS = "us-west-2", "018025611404", "fs-00b8168893587fd61"
FS_ARN = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{FS}"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
POLICY = json.dumps({"Version": "2012-10-17", "Id": "seed", "Statement": [{
    "Sid": "seed", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "elasticfilesystem:ClientMount",
    "Resource": FS_ARN, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]})


def run(policy: str | None) -> tuple[discover.Discovery, str]:
    aws = Aws(boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"), REGION)
    buf = io.StringIO()
    ctx = Ctx(p=load_params("prod"), aws=aws, out=Out(stdout=buf), home=Path("."))
    efs = Stubber(aws.client("efs"))
    efs.activate()
    fs = {"OwnerId": ACCOUNT, "CreationToken": "wwhd-data-1762473600", "FileSystemId": FS, "FileSystemArn": FS_ARN,
          "CreationTime": NOW, "LifeCycleState": "available", "NumberOfMountTargets": 3,
          "SizeInBytes": {"Value": 734003200}, "PerformanceMode": "generalPurpose", "Encrypted": False, "Tags": []}
    efs.add_response("describe_file_systems", {"FileSystems": [fs]})
    if policy is None:
        efs.add_client_error("describe_file_system_policy", "PolicyNotFound", "None", 404, {"FileSystemId": FS})
    else:
        efs.add_response("describe_file_system_policy", {"FileSystemId": FS, "Policy": policy}, {"FileSystemId": FS})
    efs.add_response("describe_access_points", {"AccessPoints": []}, {"FileSystemId": FS})
    efs.add_response("describe_mount_targets", {"MountTargets": []}, {"FileSystemId": FS})
    d = discover.Discovery(ACCOUNT, REGION)
    discover._file_systems(ctx, d)
    efs.assert_no_pending_responses()
    discover.show(d, ctx)
    return d, buf.getvalue()


def test_without_a_policy_discover_says_so_and_asks_nothing_of_the_operator():
    d, out = run(None)
    [fs] = d.found
    assert fs.details["fileSystemPolicy"] is False and "statementToAdd" not in fs.details
    assert "file system policy: none (the default policy: migrate-data mounts it without IAM)" in out
    assert "add this statement" not in out


def test_with_a_policy_discover_prints_the_statement_for_the_task_role_and_edits_nothing():
    d, out = run(POLICY)
    [fs] = d.found
    task_role = f"arn:aws:iam::{ACCOUNT}:role/wwhd/prod/wwhd-prod-task"  # templates/iam.py: fixed name and path
    want = {"Sid": "WwhdMigrateDataReadOnly", "Effect": "Allow", "Principal": {"AWS": task_role},
            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess"], "Resource": FS_ARN,
            "Condition": {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}}
    assert fs.details["fileSystemPolicy"] is True and fs.details["statementToAdd"] == want
    assert "file system policy: yes" in out
    assert f"{FS} has a file system policy: migrate-data mounts it with IAM authorization as the task role" in out
    assert "  " + json.dumps(want, sort_keys=True) in out.splitlines()
    # the Stubber queued no PutFileSystemPolicy: an unexpected call would have failed the run


def test_the_task_role_in_the_statement_is_the_one_the_identity_stack_creates():
    from templates.iam import Out as RoleOut, role_arns

    built = role_arns(load_params("prod"))[str(RoleOut.TaskRoleArn)].to_dict()["Fn::Sub"]
    d, _ = run(POLICY)
    principal = d.found[0].details["statementToAdd"]["Principal"]["AWS"]
    assert principal == built.replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", ACCOUNT)
