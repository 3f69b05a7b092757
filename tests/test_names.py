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


def test_a_stack_name_too_long_for_its_role_names_is_a_params_error(tmp_path):
    """Not an internal error from troposphere's validator: the file, the key and what is allowed."""
    import pytest

    from templates.config import ParamsError

    params = tmp_path / "params"
    params.mkdir()
    env = "e" * 21
    text = (Path(__file__).parent.parent / "params" / "prod.yaml").read_text()
    (params / f"{env}.yaml").write_text(text + "\napp: " + "a" * 18 + "\n")  # 18 + 1 + 21 + 25 = 65
    with pytest.raises(ParamsError) as raised:
        load_params(env, params)
    said = str(raised.value)
    assert f"{env}.yaml: app: " in said and "IAM role" in said and "may have 38 characters together" in said
    (params / f"{env}.yaml").write_text(text + "\napp: " + "a" * 17 + "\n")  # 17 + 1 + 21 + 25 = 64: allowed
    assert load_params(env, params).stack_name == "a" * 17 + "-" + env
