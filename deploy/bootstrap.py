"""The bootstrap stack's name and body; its template lives in ``templates/bootstrap.py`` (deploy builds nothing)."""

from __future__ import annotations

import re

from templates import bootstrap as template
from templates._yaml import dump
from templates.config import EnvParams

DEFAULT_STACK = "wwhd-infra-bootstrap"
stack_tags = template.stack_tags


def stack_name(bucket: str, default_bucket: str) -> str:
    """One bootstrap stack per bucket: the default bucket's is ``wwhd-infra-bootstrap``."""
    if bucket == default_bucket:
        return DEFAULT_STACK
    return f"{DEFAULT_STACK}-{re.sub(r'[^a-zA-Z0-9-]', '-', bucket)}"[:128]


def template_body(p: EnvParams, bucket: str) -> str:
    return dump(template.build(p, bucket).to_dict())
