"""Physical names live in templates/names.py: the literal deploy computes is the Sub string the templates carry."""

from __future__ import annotations

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
