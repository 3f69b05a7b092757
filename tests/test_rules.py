"""The guardrails as documented rules (checks/rules/): each rule module holds one rule whose id is its name and
which says why it exists, where AWS says so and how a resource opts out; docs/rules.md is generated from them and
current; the template-walking helpers are written once."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

from checks import guardrails, rules
from checks.rules import Rule

ROOT = Path(__file__).resolve().parent.parent
RULE_MODULES = sorted(m.name for m in pkgutil.iter_modules(rules.__path__) if not m.name.startswith("_"))


def test_the_rules_page_is_current():
    """``python -m checks.rules`` regenerates docs/rules.md; a rule whose documentation changed fails here until
    it is."""
    assert rules.PAGE == ROOT / "docs" / "rules.md"
    assert rules.PAGE.read_text(encoding="utf-8") == rules.page(), "run: python -m checks.rules"


def test_the_rule_ids_are_stable():
    """Violations print ``[<id>]`` and the tests and scripts match on it: renaming an id is a visible change."""
    assert [r.id for r in rules.rules()] == ["encryption", "execution-role", "least-privilege", "network", "retry",
                                             "single-writer", "stateful", "tags"]


@pytest.mark.parametrize("name", RULE_MODULES)
def test_each_rule_module_holds_one_documented_rule_named_by_its_id(name):
    module = importlib.import_module(f"checks.rules.{name}")
    defined = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, Rule) and c is not Rule and c.__module__ == module.__name__]
    assert len(defined) == 1, "one rule per module"
    cls = defined[0]
    assert cls.id == name.replace("_", "-") and cls.__name__ == rules.class_name(cls.id)
    assert len(cls.why().split()) >= 20, "the docstring says why the rule exists"
    assert cls.title and cls.source and cls.suppression
    assert '"' in cls.source, "the AWS source names its document by its title, in quotes"
    assert cls.id in rules.page()


def test_a_rule_without_its_documentation_is_refused():
    with pytest.raises(TypeError, match="declares its source"):
        type("Undocumented", (Rule,), {"__doc__": "why", "id": "undocumented", "title": "t", "suppression": "none"})
    with pytest.raises(TypeError, match="docstring"):
        type("Silent", (Rule,), {"id": "silent", "title": "t", "source": '"x"', "suppression": "none"})


def test_each_violation_carries_the_id_of_the_rule_that_found_it(prod):
    """The runner is the registered rules and nothing else: a rule's findings are labelled with its own id."""
    broken = {stem: t for stem, t in prod.items()}
    broken["storage"] = {**prod["storage"], "Resources": {
        **prod["storage"]["Resources"],
        "FileSystem": {**prod["storage"]["Resources"]["FileSystem"], "DeletionPolicy": "Delete",
                       "Properties": {**prod["storage"]["Resources"]["FileSystem"]["Properties"], "Encrypted": False}},
    }}
    found = guardrails.check(broken)
    assert {v.rule for v in found} == {"stateful", "encryption"}
    for rule in rules.rules():
        assert all(v.rule == rule.id for v in rule.check(broken))


WALK = ("resources", "props", "listify", "_resources", "_props", "_listify")


def test_the_template_walking_helpers_are_written_once():
    """checks/template_walk.py holds resources, props and listify; no rule and not checks/execution_role.py
    defines its own."""
    paths = sorted((ROOT / "checks" / "rules").glob("*.py")) + [ROOT / "checks" / "execution_role.py",
                                                                ROOT / "checks" / "guardrails.py"]
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in WALK]
        assert own == [], f"{path.relative_to(ROOT)} defines {own}: use checks/template_walk.py"
