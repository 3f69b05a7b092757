"""Physical names live in templates/names.py: the literal deploy computes is the Sub string the templates carry."""

from __future__ import annotations

from pathlib import Path

from templates.config import load_params
from templates.names import DEFAULT_TEMPLATE_BUCKET, TOOL, default_bucket, shared_stack_tags, stack_tags


def test_default_bucket_is_the_templates_sub_string_resolved():
    got = default_bucket("123456789012", "eu-west-1")
    assert got == "wwhd-infra-123456789012-eu-west-1"
    assert DEFAULT_TEMPLATE_BUCKET == "wwhd-infra-${AWS::AccountId}-${AWS::Region}"


def test_stack_tags_name_the_tool_and_the_environment():
    p = load_params("dev")
    assert stack_tags(p) == {"app": p.app, "env": "dev", "managed-by": TOOL}
    assert shared_stack_tags(p) == {"app": p.app, "env": "shared", "managed-by": TOOL}


def test_the_longest_role_name_suffix_is_what_the_templates_build():
    """templates/config.py refuses a stack name that would make a role name too long: its suffixes are the names'."""
    from templates.config import LONGEST_ROLE_SUFFIX, ROLE_NAME_MAX
    from templates.iam import Out, role_name
    from templates.names import execution_role_name

    p = load_params("prod")
    assert p.ci is not None
    assert execution_role_name(p) == p.stack_name + LONGEST_ROLE_SUFFIX[True]
    assert max((role_name(p, out) for out in Out), key=len) == p.stack_name + LONGEST_ROLE_SUFFIX[False]
    assert ROLE_NAME_MAX == 64


def test_the_backup_vault_name_is_what_the_storage_stack_builds():
    """templates/config.py counts the vault's name as the nested storage stack's name and ``-vault``; the plan's
    name (``-efs``) is shorter."""
    from templates import build_all
    from templates._common import stack_id
    from templates.config import LONGEST_BACKUP_SUFFIX, STORAGE_STACK_SUFFIX

    built = build_all(load_params("prod"))
    storage = built["storage"].to_dict()["Resources"]
    assert storage["BackupVault"]["Properties"]["BackupVaultName"] == {"Fn::Sub": "${AWS::StackName}" +
                                                                       LONGEST_BACKUP_SUFFIX}
    plan_name = storage["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanName"]["Fn::Sub"]
    assert plan_name.startswith("${AWS::StackName}-") and len(plan_name) < len("${AWS::StackName}" +
                                                                               LONGEST_BACKUP_SUFFIX)
    assert stack_id("storage") in built["root"].to_dict()["Resources"]
    assert STORAGE_STACK_SUFFIX == f"-{stack_id('storage')}-" + "X" * 13


def _params_with_stack_name(tmp_path, length: int):
    """prod's params (it has a ci section) under an environment whose stack name is ``length`` characters."""
    params = tmp_path / "params"
    params.mkdir(exist_ok=True)
    env = "e" * (length - len("wwhd-"))
    (params / f"{env}.yaml").write_text((Path(__file__).parent.parent / "params" / "prod.yaml").read_text())
    return env, params


def test_a_stack_name_too_long_for_a_name_made_from_it_is_a_params_error(tmp_path):
    """Not an internal error from troposphere's validator, nor a failed create on AWS: the file, the key and what is
    allowed. The vault's name binds first: 17 characters of stack name (with ci, the role names allow 39)."""
    import pytest

    from templates.config import ParamsError

    env, params = _params_with_stack_name(tmp_path, 18)
    with pytest.raises(ParamsError) as raised:
        load_params(env, params)
    said = str(raised.value)
    assert f"{env}.yaml: app: " in said and "AWS Backup vault wwhd-" + env + "-StorageStack-" in said
    assert ("-StorageStack-XXXXXXXXXXXXX-vault would exceed 50 characters (X: characters AWS generates); app and the "
            "environment's name may have 16 characters together") in said
    env, params = _params_with_stack_name(tmp_path, 17)
    assert load_params(env, params).stack_name == "wwhd-" + env


def _resolved(p) -> dict[str, dict]:
    """The templates of ``p`` with ``${AWS::StackName}`` as CloudFormation resolves it: the root's and the identity
    stack's own names, a nested stack's ``<root>-<logical id>-<13 random characters>``."""
    import json

    from templates import build_all
    from templates._common import stack_id
    from templates.names import identity_stack_name

    def literal(value):  # a Sub left with nothing to substitute is its string
        if isinstance(value, dict):
            if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str) and "${" not in value["Fn::Sub"]:
                return value["Fn::Sub"]
            return {k: literal(v) for k, v in value.items()}
        return [literal(v) for v in value] if isinstance(value, list) else value

    out = {}
    for stem, t in build_all(p).items():
        name = {"root": p.stack_name, "identity": identity_stack_name(p)}.get(
            stem, f"{p.stack_name}-{stack_id(stem)}-1A2B3C4D5E6F7")
        out[stem] = literal(json.loads(json.dumps(t.to_dict()).replace("${AWS::StackName}", name)))
    return out


def test_the_names_of_the_longest_stack_name_allowed_fit_aws_s_limits_and_one_more_character_does_not(tmp_path):
    """cfn-lint's resource schemas (maintained data: patterns and lengths) judge every template whose names the stack
    name makes, resolved: clean at the longest stack name the params allow, the vault's name refused one longer."""
    import yaml
    from cfnlint.api import ManualArgs, lint

    env, params = _params_with_stack_name(tmp_path, 17)
    p = load_params(env, params)

    def findings(p, only: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
        return [(stem, m.rule.id, m.message) for stem, t in _resolved(p).items() if not only or stem in only
                for m in lint(yaml.safe_dump(t), config=ManualArgs(regions=[p.region]))]

    assert findings(p) == []  # every template: each holds the stack name (names, descriptions, tags)
    longer = p.model_copy(update={"app": p.app + "x"})  # past the params rule, as if it were not there
    [(stem, rule, message)] = findings(longer, only=("storage",))
    assert (stem, rule) == ("storage", "E3031") and "-StorageStack-1A2B3C4D5E6F7-vault' does not match" in message
    assert "{2,50}$" in message
