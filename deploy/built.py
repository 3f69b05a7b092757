"""The templates of one run, built once (``templates.build_all``) into one value that every later step of ``plan``
reads: the guardrails, preflight (its simulation and the identity check), the upload, the change set's diff and the
review. ``bootstrap`` reads the same value for the identity stack.

Building is the expensive part of a run that needs no AWS call (every stack module, the root's wiring, the identity
stack's policies), and two builds of the same params are equal: so nothing builds twice (``tests/deploy/
test_pipeline.py`` counts the builds of one ``plan``).
"""

from __future__ import annotations

from dataclasses import dataclass

import templates
from checks.template_walk import Templates
from templates.config import EnvParams

from . import identity


@dataclass(frozen=True)
class Built:
    """Every template of one environment as dicts, in ``templates.build_all``'s order (children, the identity stack,
    the root with the relative ``TemplateURL``s of ``output/``), and the identity stack as it is uploaded."""

    templates: Templates
    identity: identity.Built

    @property
    def app(self) -> Templates:
        """The root and its children: what ``package`` uploads and the app's change set deploys."""
        return templates.app_templates(self.templates)


def build(p: EnvParams) -> Built:
    """Build once: every later step reads the result."""
    built = {name: t.to_dict() for name, t in templates.build_all(p).items()}
    return Built(built, identity.from_template(p, built[templates.IDENTITY]))
