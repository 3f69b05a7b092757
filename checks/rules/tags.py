"""Rule ``tags``: every taggable resource carries the house tags."""

from __future__ import annotations

from collections.abc import Iterator

from ..template_walk import Templates, props, resources
from ._base import Rule, Violation

HOUSE_TAGS = ("app", "component", "env", "managed-by")
TAG_PROPERTIES = ("Tags", "FileSystemTags", "AccessPointTags", "BackupVaultTags", "BackupPlanTags")


class Tags(Rule):
    """Every taggable resource carries the house tags ``app``, ``component``, ``env`` and ``managed-by``: cost
    allocation, the console's resource groups and an operator's question "what made this?" all read them. Which
    types are taggable, and under which property, comes from troposphere's typed classes, not a hand list."""

    id = "tags"
    title = "Every taggable resource carries the house tags"
    source = ('AWS Whitepaper "Best Practices for Tagging AWS Resources"; AWS Billing User Guide, "Organizing and '
              'tracking costs using AWS cost allocation tags"')
    suppression = "none"

    def check(self, templates: Templates) -> Iterator[Violation]:
        taggable = _taggable_types()
        for stem, rid, r in resources(templates):
            if r["Type"] not in taggable:
                continue
            keys = _tag_keys(props(r)) or set()
            missing = [k for k in HOUSE_TAGS if k not in keys]
            if missing:
                yield self.violation(stem, rid, f"missing tag(s) {', '.join(missing)}")


def _tag_keys(p: dict) -> set[str] | None:
    for name in TAG_PROPERTIES:
        if name in p:
            value = p[name]
            return set(value) if isinstance(value, dict) else {t.get("Key") for t in value}
    return None


def _taggable_types() -> dict[str, str]:
    """Resource type -> its tag property, from troposphere's typed classes (no cfn-lint import: it is slow)."""
    import troposphere

    found: dict[str, str] = {}
    stack = list(troposphere.AWSObject.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        rtype = getattr(cls, "resource_type", None)
        if not rtype:
            continue
        for name in TAG_PROPERTIES:
            if name in getattr(cls, "props", {}):
                found[rtype] = name
    return found
