"""The execution role is composed from what the modules declare (``templates/execution_role.py``): every stack module
declares the statements its resources need, and every statement a module declares is in the role's policies, once."""

from __future__ import annotations

from collections import Counter

import pytest

from templates import STACKS, execution_role, iam, root, stem
from templates.config import load_params

PART_FUNCTIONS = ("execution_role_statements", "mount_target_network_statements", "log_group_statements",
                  "repository_statements", "access_log_statements")


def _everything():
    """dev with prod's CI and domain: every kind of statement (its own VPC, generated secrets, a certificate)."""
    prod = load_params("prod")
    return load_params("dev").model_copy(update={
        "ci": prod.ci.model_copy(update={"github_repository": "wwhd/wwhd-backend"}), "domain": prod.domain})


PARAMS = {"prod": lambda: load_params("prod"), "dev-with-ci-and-domain": _everything}


@pytest.mark.parametrize("module", [*STACKS, root], ids=stem)
def test_every_stack_module_declares_its_statements(module):
    assert callable(getattr(module, "execution_role_statements", None))


@pytest.mark.parametrize("name", PARAMS)
def test_every_declared_statement_is_in_the_role_once(name):
    p = PARAMS[name]()
    composed = Counter(s.Sid for statements in execution_role.policies(p).values() for s in statements)
    assert all(n == 1 for n in composed.values()), composed
    for module in (*STACKS, root, iam):
        for function in PART_FUNCTIONS:
            for s in getattr(module, function, lambda _p: [])(p):
                assert composed[s.Sid] == 1, f"{stem(module)}.{function}: {s.Sid} is not in the execution role"


def test_the_service_linked_roles_are_the_stack_modules():
    declared = {role for m in STACKS for role in getattr(m, "SERVICE_LINKED_ROLES", ())}
    assert set(execution_role.SERVICE_LINKED_ROLES) == declared
    assert len(execution_role.SERVICE_LINKED_ROLES) == len(declared) == 4
