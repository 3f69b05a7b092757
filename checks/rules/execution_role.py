"""Rule ``execution-role``: the CloudFormation execution role can deploy what the templates hold."""

from __future__ import annotations

from collections.abc import Iterator

from ..template_walk import Templates
from ._base import Rule, Violation


class ExecutionRole(Rule):
    """Every permission the environment's resource types need is granted to the CloudFormation execution role, so a
    CI deploy does not fail half-way on an AccessDenied. What a type needs is read from its registry schema (the
    handlers' permissions, as cfn-lint ships them) plus the documented actions a service calls on the caller's
    behalf; an action without a resource type must be granted on ``*``. The computation and its data live in
    ``checks/execution_role.py``."""

    id = "execution-role"
    title = "The CloudFormation execution role holds what its resource types need"
    source = ('AWS CloudFormation User Guide, "CloudFormation service role"; CloudFormation Command Line Interface '
              'User Guide, "Resource type schema" (handlers.*.permissions); Service Authorization Reference')
    suppression = ("none per resource; an action left out on purpose is listed with its reason in ``WITHHELD`` "
                   "(``checks/execution_role.py``)")

    def check(self, templates: Templates) -> Iterator[Violation]:
        from ..execution_role import EXECUTION_ROLE, gaps  # reads cfn-lint's schema files (not cfn-lint itself)

        for gap in gaps(templates):
            yield self.violation("identity", EXECUTION_ROLE, gap)
