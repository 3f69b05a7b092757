"""Every printed command runs as printed: each one is split as a POSIX shell splits it (``shlex.split``) and its words
are checked. ``aws`` commands come from one builder (deploy/errors.py ``aws_cli``: quoted, with ``--region`` and the
``--profile`` given); a ``fix:`` that repeats the verb carries the flags the user gave (``again``)."""

from __future__ import annotations

import re
import shlex
import subprocess

import boto3
import pytest

from deploy.errors import INVOCATION, Invocation, aws_cli
from deploy.retained import Retained

from .conftest import REGION
from .test_bucket_heal import BUCKET, _empty_and_delete


def fix_of(err: str) -> list[str]:
    """The words of the one ``fix:`` line, as a shell reads them."""
    fixes = [line for line in err.splitlines() if line.startswith("fix: ")]
    assert len(fixes) == 1, err
    return shlex.split(fixes[0].removeprefix("fix: "))


def after(words: list[str], command: str) -> list[str]:
    """The words of the command that starts at ``command`` (e.g. ``python``) in a fix that also says other things."""
    start = words.index(command)
    return words[start:]


def test_the_fix_after_a_block_repeats_plan_with_every_flag_given(moto, project, cli):
    """Nothing bootstrapped: preflight BLOCKs (no identity stack). The fix's plan keeps --adopt, --desired-count,
    --image-tag, --no-drift and --timeout, with the --region given."""
    result = cli("plan", "--env", "dev", "--region", REGION, "--adopt", "--desired-count", "0", "--image-tag", "v2",
                 "--no-drift", "--timeout", "30")
    assert result.code == 1, result.err
    words = after(fix_of(result.err), "python")
    assert words[:7] == ["python", "generate.py", "plan", "--env", "dev", "--region", REGION]
    flags = words[7:]
    assert sorted(flags) == sorted(["--adopt", "--desired-count", "0", "--image-tag", "v2", "--no-drift",
                                    "--timeout", "30"])
    assert flags[flags.index("--image-tag") + 1] == "v2" and flags[flags.index("--desired-count") + 1] == "0"


def test_the_yes_fix_of_apply_keeps_the_flags_a_change_set_accepts(deployed, cli):
    result = cli("apply", "--env", "dev", "--image-tag", "v2", "--timeout", "30")  # no terminal to ask
    assert result.code == 2
    words = fix_of(result.err)
    assert words[:5] == ["python", "generate.py", "apply", "--env", "dev"]
    name = words[words.index("--change-set") + 1]
    assert (re.fullmatch(r"wwhd-dev-\d{14}-v2", name) and "--yes" in words
            and words[words.index("--timeout") + 1] == "30")
    assert "--image-tag" not in words  # fixed in the change set: apply would refuse it beside --change-set
    assert cli(*words[2:]).code == 0  # and it runs


def test_every_removal_command_is_quoted_and_names_the_region_and_profile_given():
    token = INVOCATION.set(Invocation("destroy", REGION, "ops admin"))
    try:
        hostile = "fs-1; rm -rf ~ $(id)"
        for kind in ("AWS::EFS::AccessPoint", "AWS::EFS::FileSystem", "AWS::SecretsManager::Secret",
                     "AWS::ECR::Repository", "AWS::Logs::LogGroup", "AWS::ECS::Cluster", "AWS::Backup::BackupVault"):
            for command in Retained("StorageStack", "X", kind, hostile).removal(REGION):
                if command.startswith("for "):  # the vault's recovery points: a loop, checked by bash itself
                    assert subprocess.run(["bash", "-n", "-c", command]).returncode == 0
                    inner = command.split("$(", 1)[1].rsplit("); do", 1)[0]
                    words = shlex.split(inner)
                else:
                    words = shlex.split(command, comments=True)
                assert words[0] == "aws" and hostile in words, command
                assert words[-4:] == ["--region", REGION, "--profile", "ops admin"], command
    finally:
        INVOCATION.reset(token)


def test_destroy_prints_runnable_removal_commands(deployed, cli):
    result = cli("destroy", "--env", "dev", "--region", REGION, "--yes")
    assert result.code == 0, result.err
    commands = [line.strip() for line in result.out.splitlines() if line.strip().startswith(("aws ", "for "))]
    assert commands
    for command in commands:
        if command.startswith("for "):
            assert subprocess.run(["bash", "-n", "-c", command]).returncode == 0
            command = command.split("$(", 1)[1].rsplit("); do", 1)[0]
        words = shlex.split(command, comments=True)
        assert words[0] == "aws" and words[words.index("--region") + 1] == REGION, command


def test_bootstrap_yes_holds_on_the_path_that_recreates_the_bucket_stack(moto, project, cli):
    """The bucket and the identity stack are gone: bootstrap deletes and re-creates the bucket's stack, then creates the
    identity stack, which needs the --yes given (no terminal here)."""
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    _empty_and_delete(BUCKET)
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.delete_stack(StackName="wwhd-dev-identity")
    healed = cli("bootstrap", "--env", "dev", "--yes")
    assert healed.code == 0, healed.err
    assert "wwhd-dev-identity: CREATE_COMPLETE" in healed.out


def test_destroy_identity_asks_as_destroy_does(deployed, cli):
    assert cli("destroy", "--env", "dev", "--yes").code == 0  # the app's stacks; the identity stack stays
    refused = cli("destroy", "--env", "dev", "--identity", "--timeout", "30")
    assert refused.code == 2
    words = fix_of(refused.err)
    assert words[:5] == ["python", "generate.py", "destroy", "--env", "dev"]
    assert (sorted(words[5:]) == ["--identity", "--timeout", "--yes", "30"]
            and words[words.index("--timeout") + 1] == "30")
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert cfn.describe_stacks(StackName="wwhd-dev-identity")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert cli(*words[2:]).code == 0


@pytest.mark.parametrize("words", [("cloudformation", "delete-stack", "--stack-name", "a b'c")])
def test_aws_cli_is_the_one_builder(words):
    token = INVOCATION.set(Invocation("plan", None, None))
    try:
        assert shlex.split(aws_cli("eu-west-1", *words)) == ["aws", *words, "--region", "eu-west-1"]
    finally:
        INVOCATION.reset(token)
