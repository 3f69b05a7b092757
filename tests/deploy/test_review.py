"""The nested review: recursion over nested change sets, the renderings, and the data-loss guard, from
DescribeChangeSet responses shaped as the API reference documents them (tests/deploy/recorded.py)."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from deploy import changeset, review
from deploy.review import Finding, Row, StackReview
from deploy.ui import Out, Rich

from . import recorded as r


def tree(storage_replacement="Conditional", paged=False):
    aws, stubber = r.stubbed()
    r.expect_tree(stubber, storage_replacement, paged)
    node = changeset.describe_tree(aws, r.ROOT_CS)
    stubber.assert_no_pending_responses()
    return node


def plain(result) -> str:
    buf = io.StringIO()
    review.show(result, Out(stdout=buf))
    return buf.getvalue()


def test_recursion_follows_nested_change_set_ids():
    node = tree()
    assert [n.path for n in node.walk()] == [(), ("SecurityStack",), ("ServiceStack",), ("StorageStack",)]
    assert node.children["ServiceStack"].stack_name == r.SERVICE_STACK
    assert node.children["StorageStack"].arn == r.STORAGE_CS


def test_changes_over_several_pages_are_all_read():
    node = tree(paged=True)
    assert [c["LogicalResourceId"] for c in node.changes] == ["SecurityStack", "ServiceStack", "StorageStack"]


def test_review_shows_actions_replacements_and_values_per_stack():
    text = plain(review.build(tree(), "UPDATE", deployed_parameters={"DesiredCount": "1", "ImageTag": "2025-11-07"}))
    lines = text.splitlines()
    assert lines[0] == f"Plan for wwhd-prod (UPDATE): change set {r.CS_NAME}"
    assert "parameters (deployed -> planned): DesiredCount=1, ImageTag=2025-11-07 -> abc1234" in lines
    assert ("ServiceStack (wwhd-prod-ServiceStack-1AB2C3D4E5F6G): 0 to add, 2 to modify (1 "
            "replaced), 0 to remove" in lines)
    assert "  ~ TaskDefinition  AWS::ECS::TaskDefinition  Modify  REPLACE" in lines
    # one line per property path, the strongest recreation, every cause
    assert (f"      Properties/ContainerDefinitions/0/Image: {r.IMAGE}:2025-11-07 -> {r.IMAGE}:abc1234  "
            "[recreation: Always]  (parameter ImageTag; template)") in lines
    assert "      Properties/TaskDefinition  (ref TaskDefinition (known at execution))" in lines
    assert "  ~ FileSystem  AWS::EFS::FileSystem  Modify  may replace" in lines
    assert "  + AppIngressFromLoadBalancer8080  AWS::EC2::SecurityGroupIngress  Add" in lines
    # nested stack rows are not counted twice: 1 add, 4 modify inside the nested stacks
    assert lines[-1] == "Summary: 1 to add, 4 to modify (1 replaced, 1 may be replaced), 0 to remove across 4 stack(s)"


def test_review_reports_security_changes():
    result = review.build(tree(), "UPDATE")
    assert [(label, row.logical_id)
            for label, row in result.security] == [("SecurityStack", "AppIngressFromLoadBalancer8080")]
    assert "  SecurityStack/AppIngressFromLoadBalancer8080  AWS::EC2::SecurityGroupIngress  Add" in plain(result)


def test_guard_flags_a_stateful_resource_that_may_be_replaced():
    result = review.build(tree("Conditional"), "UPDATE")
    assert result.data_loss == [Finding("StorageStack", "FileSystem", "AWS::EFS::FileSystem",
                                        "may be replaced: a new, empty resource may take its place")]
    assert "WARNING: DATA LOSS: StorageStack/FileSystem (AWS::EFS::FileSystem): may be replaced" in plain(result)


def test_guard_flags_replacement_and_ignores_stateless_resources():
    result = review.build(tree("True"), "UPDATE")
    assert [(f.logical_id, f.why.split(":")[0]) for f in result.data_loss] == [("FileSystem", "replaced")]
    assert all(f.logical_id != "TaskDefinition" for f in result.data_loss)  # replaced too, but holds no data


@pytest.mark.parametrize("stack, row, expected", [
    (("StorageStack",), Row("AppAccessPoint", "AWS::EFS::AccessPoint", "Remove"), "removed"),
    (("SecretsStack",), Row("JwtSecretSecret", "AWS::SecretsManager::Secret", "Modify", "True"), "replaced"),
    (("ClusterStack",), Row("Repository", "AWS::ECR::Repository", "Modify", "False"), None),
    (("StorageStack",), Row("MountTargetA", "AWS::EFS::MountTarget", "Remove"), None),
    ((), Row("StorageStack", "AWS::CloudFormation::Stack", "Remove"), "nested stack removed"),
    ((), Row("StorageStack", "AWS::CloudFormation::Stack", "Modify"), "changes, but without a nested change set"),
    ((), Row("StorageStack", "AWS::CloudFormation::Stack", "Modify", nested_change_set=r.STORAGE_CS), None),
    ((), Row("ServiceStack", "AWS::CloudFormation::Stack", "Modify"), None),
])
def test_guard_matches_by_nested_stack_and_logical_id(stack, row, expected):
    result = review.Review("wwhd-prod", r.ROOT_CS, r.CS_NAME, "UPDATE", True, {},
                           [StackReview(stack, "s", "cs", [row])])
    found = result.data_loss
    assert (found[0].why.startswith(expected) if expected else found == []), found


def test_json_has_the_change_set_arn_and_every_nested_change():
    data = json.loads(review.json_text(review.build(tree(), "UPDATE")))
    assert data["changeSetArn"] == r.ROOT_CS and data["changeSetType"] == "UPDATE"
    assert [s["path"] for s in data["stacks"]] == ["root", "SecurityStack", "ServiceStack", "StorageStack"]
    task = next(c for s in data["stacks"] for c in s["changes"] if c["logicalId"] == "TaskDefinition")
    assert task["replacement"] == "True"
    assert task["properties"] == [{"path": "Properties/ContainerDefinitions/0/Image", "before": f"{r.IMAGE}:2025-11-07",
                                   "after": f"{r.IMAGE}:abc1234", "recreation": "Always",
                                   "causes": ["parameter ImageTag", "template"]}]
    assert data["dataLoss"][0]["logicalId"] == "FileSystem"
    assert data["summary"] == {"add": 1, "modify": 4, "remove": 0, "replace": 1, "conditional": 1}


def test_json_and_markdown_are_deterministic():
    first = review.build(tree(), "UPDATE")
    second = review.build(tree(), "UPDATE")
    assert review.json_text(first) == review.json_text(second)
    assert review.markdown(first) == review.markdown(second)


def test_markdown_has_a_table_per_stack_and_the_warnings():
    md = review.markdown(review.build(tree(), "UPDATE", deployed_parameters={"DesiredCount": "1", "ImageTag": "v1"}))
    assert md.startswith("### Plan for <code>wwhd-prod</code>\n")
    assert "> [!CAUTION]" in md and "<code>StorageStack/FileSystem</code>" in md
    assert "#### ServiceStack (<code>wwhd-prod-ServiceStack-1AB2C3D4E5F6G</code>)" in md
    assert ("| ~ Modify | <code>TaskDefinition</code> | AWS::ECS::TaskDefinition | REPLACE | "
            "<code>Properties/ContainerDefinitions/0/Image</code> |") in md
    assert ("| <code>FileSystem</code> | <code>Properties/ThroughputMode</code> | <code>bursting</code> | "
            "<code>elastic</code> | Conditionally | template |") in md
    # deployed -> planned
    assert "| <code>ImageTag</code> | <code>v1</code> | <code>abc1234</code> | **changed** |" in md
    assert "| <code>DesiredCount</code> | <code>1</code> | <code>1</code> |  |" in md


def test_markdown_of_no_changes():
    assert (review.markdown(review.empty("wwhd-prod", "UPDATE", {}))
            == "### Plan for <code>wwhd-prod</code>\n\nNo changes.\n")


def test_rich_rendering_for_a_terminal():
    buf = io.StringIO()
    review.show(review.build(tree(), "UPDATE", deployed_parameters={"DesiredCount": "1", "ImageTag": "v1"}),
                Rich(console=Console(file=buf, force_terminal=True, width=200, color_system=None)))
    text = buf.getvalue()
    assert "parameters (deployed -> planned)" in text
    assert re.search(r"ImageTag\s*│\s*v1\s*│\s*abc1234\s*│\s*changed", text), text  # deployed -> planned
    assert "TaskDefinition" in text and "REPLACE" in text and "┃ Action" in text
    assert "[recreation: Always]" in text  # cell text is not read as console markup
    assert "DATA LOSS" in text


def test_flat_review_warns_that_nested_changes_are_not_shown():
    node = tree()
    node.include_nested = False
    assert "WARNING: nested change sets are not included" in plain(review.build(node, "UPDATE"))
