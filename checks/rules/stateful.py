"""Rule ``stateful``: what holds data is retained and listed."""

from __future__ import annotations

from collections.abc import Iterator

from templates._common import stack_id
from templates.stateful import ADOPTABLE, STATEFUL

from ..template_walk import Templates, resources
from ._base import Rule, Violation

RETAINING = ("Retain", "RetainExceptOnCreate")
# Types that always hold data of ours: each must be retained and listed, wherever it appears.
DATA_TYPES = frozenset({"AWS::EFS::FileSystem", "AWS::EFS::AccessPoint", "AWS::Backup::BackupVault",
                        "AWS::SecretsManager::Secret", "AWS::ECR::Repository"})


class Stateful(Rule):
    """Every resource of a stateful type is retained and listed in ``templates/stateful.py``; every listed one that
    exists is retained (``DeletionPolicy`` Retain or RetainExceptOnCreate, ``UpdateReplacePolicy`` Retain), and
    nothing else is retained unless ``plan --adopt`` may import it (``ADOPTABLE``). Without a retaining policy
    CloudFormation deletes the resource, with its data, when it leaves the template, when the stack is deleted, and
    (``UpdateReplacePolicy``) when an update replaces it. The list is committed because logical ids are an API:
    renaming one replaces the resource, and the deploy stage reads the same list to stop a change set that would
    replace or delete one of them."""

    id = "stateful"
    title = "Stateful resources are retained and listed"
    source = ('AWS CloudFormation Template Reference, "DeletionPolicy attribute" and "UpdateReplacePolicy '
              'attribute"; "Importing AWS resources into a CloudFormation stack" (only a retained resource can be '
              "imported)")
    suppression = ("none; a retained resource that holds no data is listed in ``ADOPTABLE`` "
                   "(``templates/stateful.py``) instead")

    def check(self, templates: Templates) -> Iterator[Violation]:
        for stem, rid, r in resources(templates):
            retained = r.get("DeletionPolicy") in RETAINING and r.get("UpdateReplacePolicy") == "Retain"
            listed = rid in STATEFUL.get(stack_id(stem), ())
            adoptable = rid in ADOPTABLE.get(stack_id(stem), ())
            if listed and not retained:
                yield self.violation(stem, rid, "listed in templates/stateful.py but not retained on delete and "
                                     "replacement")
            if retained and not (listed or adoptable):
                yield self.violation(stem, rid, "retained but not listed in templates/stateful.py (logical ids are "
                                     "an API)")
            if r["Type"] in DATA_TYPES and not listed:
                yield self.violation(stem, rid, f"{r['Type']} holds data: retain it and list it in "
                                     "templates/stateful.py")
