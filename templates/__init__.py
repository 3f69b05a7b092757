"""BUILD stage: typed params in, troposphere templates out. Pure: no I/O, no clock, no boto3.

``STACKS`` is the one list of nested stacks, in deployment order; :func:`build_all` builds the enabled ones, the
root that wires them, and the environment's identity stack (``templates/identity.py``: every IAM resource, a
top-level stack an operator deploys; never one of the root's children).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from troposphere import Template

from . import (
    _yaml,
    certificate,
    cluster,
    dns,
    identity,
    load_balancer,
    monitoring,
    network,
    root,
    secrets,
    security,
    service,
    storage,
)
from .config import EnvParams

# Order matters only for readability of the root template; CloudFormation orders by the GetAtt wiring.
STACKS: tuple[ModuleType, ...] = (
    network, security, storage, secrets, cluster, certificate, load_balancer, service, dns, monitoring,
)
ROOT = "root"
IDENTITY = identity.STEM


def stem(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def enabled_stacks(p: EnvParams) -> list[ModuleType]:
    return [m for m in STACKS if getattr(m, "enabled", lambda _p: True)(p)]


def local_url(name: str) -> str:
    """TemplateURL used in ``output/``: relative, so cfn-lint checks the nested wiring from the root's folder."""
    return f"{name}.yaml"


def build_all(p: EnvParams, template_url: Callable[[str], str] = local_url) -> dict[str, Template]:
    """Every template of one environment: ``{stem: Template}``, children first, then the identity stack, root last."""
    children = {stem(m): m.build(p) for m in enabled_stacks(p)}
    return {**children, IDENTITY: identity.build(p), ROOT: root.build(p, children, template_url)}


def app_templates(built: dict) -> dict:
    """``built`` without the identity stack: the root and its children, what ``package`` uploads and CI deploys."""
    return {name: t for name, t in built.items() if name != IDENTITY}


def render(p: EnvParams, template_url: Callable[[str], str] = local_url) -> dict[str, str]:
    """``{file name: YAML text}`` of one environment; byte-identical for the same params."""
    return {f"{name}.yaml": _yaml.dump(t.to_dict()) for name, t in build_all(p, template_url).items()}
