"""The IAM and security group diff and the cost delta between two renderings (checks/access_diff.py,
deploy/diff.compare), on template dicts from params variants and from edited copies: what widens is flagged with its
reason, narrowing is not, identical renderings give nothing. No AWS here."""

from __future__ import annotations

import copy

import pytest
from cfn_flip import load_yaml

import templates
from checks.access_diff import iam_diff, sg_diff
from deploy.diff import compare, parse, with_parameters

from ..helpers import build_variant as build


def statement(built: dict, stem: str, role: str, sid: str) -> dict:
    policies = built[stem]["Resources"][role]["Properties"]["Policies"]
    return next(s for pol in policies for s in pol["PolicyDocument"]["Statement"] if s.get("Sid") == sid)


def trust(built: dict, stem: str, role: str) -> dict:
    return built[stem]["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]


def one(changes: list):
    assert len(changes) == 1, [str(c) for c in changes]
    return changes[0]


# --- identical renderings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_identical_renderings_give_an_empty_diff(env, built):
    same = copy.deepcopy(built[env])
    assert iam_diff(built[env], same) == [] and sg_diff(built[env], same) == []
    result = compare(built[env], same, "us-west-2")
    assert result.cost is not None and result.cost.changes == () and not result.widens


def test_a_template_read_back_from_yaml_compares_equal_to_its_dict(prod):
    """What GetTemplate returns (YAML with short-form tags) parses to the dicts troposphere produced."""
    read_back = {stem: parse(templates._yaml.dump(t)) for stem, t in prod.items()}
    assert read_back == prod
    assert iam_diff(read_back, prod) == [] and sg_diff(read_back, prod) == []


def test_the_loader_matches_cfn_flip_and_keeps_cloudformation_semantics(prod):
    for t in prod.values():
        body = templates._yaml.dump(t)
        assert parse(body) == load_yaml(body)
    assert parse("A: !GetAtt StorageStack.Outputs.FileSystemId\nB: 2010-09-09\nC: !Ref X\n") == {
        "A": {"Fn::GetAtt": ["StorageStack", "Outputs.FileSystemId"]}, "B": "2010-09-09", "C": {"Ref": "X"}}
    assert parse({"Resources": {}}) == {"Resources": {}}  # botocore already decoded a JSON body


# --- IAM: widening -------------------------------------------------------------------------------------------------


def test_a_new_action_widens(dev):
    after = copy.deepcopy(dev)
    statement(after, "identity", "ExecutionRole", "EcrPullAppImage")["Action"].append("ecr:PutImage")
    change = one(iam_diff(dev, after))
    assert (change.where, change.policy, change.statement, change.change) == (
        "identity/ExecutionRole", "policy execution", "EcrPullAppImage", "changed")
    assert change.added == (("Action", ("ecr:PutImage",)),) and change.removed == ()
    assert change.why == ("now allows action ecr:PutImage",)
    assert change.verdict == "widens" and one(iam_diff(after, dev)).verdict == "narrows"  # and back


def test_a_new_resource_from_a_params_variant_widens(tmp_path):
    arn = "arn:aws:secretsmanager:us-west-2:123456789012:secret:wwhd-dev/dev/extra-AbCdEf"
    before = build(tmp_path)
    after = build(tmp_path, secrets__EXTRA_TOKEN={"arn": arn})
    change = one(iam_diff(before, after))
    assert (change.where, change.statement) == ("identity/ExecutionRole", "ReadInjectedSecrets")
    assert change.added == (("Resource", (arn,)),)
    assert change.why == (f"now allows resource {arn}",)


def test_a_wildcard_action_and_resource_star_widen(dev):
    after = copy.deepcopy(dev)
    pull = statement(after, "identity", "ExecutionRole", "EcrPullAppImage")
    pull["Action"], pull["Resource"] = ["ecr:*"], ["*"]
    change = one(iam_diff(dev, after))
    assert change.why == ("now allows wildcard action ecr:*", "now allows Resource *")


def test_a_dropped_condition_widens(dev):
    after = copy.deepcopy(dev)
    del statement(after, "identity", "TaskRole", "MountDataThroughAccessPoints")["Condition"]
    change = one(iam_diff(dev, after))
    # each dropped clause is a reason of its own: every one of them was a limit (ANDed)
    assert change.why == tuple(f"now allows requests without condition {c}" for c in (
        "Bool elasticfilesystem:AccessedViaMountTarget", "Null elasticfilesystem:AccessPointArn",
        "StringEquals aws:ResourceTag/app", "StringEquals aws:ResourceTag/component",
        "StringEquals aws:ResourceTag/env"))
    assert change.removed == (("Condition", (
        "Bool elasticfilesystem:AccessedViaMountTarget true", "Null elasticfilesystem:AccessPointArn false",
        "StringEquals aws:ResourceTag/app wwhd", "StringEquals aws:ResourceTag/component storage",
        "StringEquals aws:ResourceTag/env dev")),)


def test_a_new_trust_principal_widens(dev):
    after = copy.deepcopy(dev)
    trust(after, "identity", "TaskRole")["Principal"]["AWS"] = "arn:aws:iam::111122223333:root"
    change = one(iam_diff(dev, after))
    assert (change.policy, change.change) == ("trust", "changed")
    assert change.why == ("now allows trust principal AWS:arn:aws:iam::111122223333:root",)


def test_a_condition_that_accepts_more_values_widens(dev):
    after = copy.deepcopy(dev)
    cond = statement(after, "identity", "TaskRole", "MountDataThroughAccessPoints")["Condition"]["StringEquals"]
    cond["aws:ResourceTag/env"] = [cond["aws:ResourceTag/env"], "prod"]
    assert one(iam_diff(dev, after)).why == ("now allows requests where aws:ResourceTag/env is prod (StringEquals)",)
    assert one(iam_diff(after, dev)).verdict == "narrows"  # one value fewer in an OR: stricter


def test_a_new_statement_from_a_params_variant_widens_and_says_resource_star(tmp_path):
    before = build(tmp_path, service__debug_shell=False)
    after = build(tmp_path, service__debug_shell=True)
    role, service = iam_diff(before, after)
    assert (role.where, role.statement, role.change, role.effect) == (
        "identity/TaskRole", "EcsExecChannels", "added", "Allow")
    assert role.why == ("new Allow statement", "Resource *")
    assert (service.where, service.policy, service.change) == ("service/Service", "ECS Exec", "changed")


def test_the_debug_shell_turning_on_widens_and_says_what_it_opens(tmp_path):
    """service.debug_shell: EnableExecuteCommand is no policy document, but it opens a shell to whoever may call
    ecs:ExecuteCommand; the review must say so, and turning it back narrows."""
    before = build(tmp_path, service__debug_shell=False)
    after = build(tmp_path, service__debug_shell=True)
    on = next(c for c in iam_diff(before, after) if c.type == "AWS::ECS::Service")
    assert on.widens and on.added == (("EnableExecuteCommand", ("true",)),)
    assert "ecs:ExecuteCommand" in on.why[0] and "root file systems are writable" in on.why[0]
    assert str(on).startswith("~ service/Service ECS Exec EnableExecuteCommand  WIDENS: ECS Exec on")
    off = next(c for c in iam_diff(after, before) if c.type == "AWS::ECS::Service")
    assert off.narrows and off.removed == (("EnableExecuteCommand", ("true",)),)
    created = [c for c in iam_diff(None, after) if c.type == "AWS::ECS::Service"]
    assert [c.change for c in created] == ["added"] and created[0].widens  # a new stack with the shell on says so
    assert not [c for c in iam_diff(None, before) if c.type == "AWS::ECS::Service"]  # off by default: nothing to say


def test_removing_a_deny_widens(dev):
    after = copy.deepcopy(dev)
    policy = after["storage"]["Resources"]["FileSystem"]["Properties"]["FileSystemPolicy"]
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "DenyWithoutTls"]
    change = one(iam_diff(dev, after))
    assert (change.where, change.policy, change.change) == ("storage/FileSystem", "file system policy", "removed")
    assert change.why == ("Deny statement removed",)


def test_a_new_managed_policy_widens(dev):
    after = copy.deepcopy(dev)
    after["identity"]["Resources"]["TaskRole"]["Properties"]["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/AdministratorAccess"]
    change = one(iam_diff(dev, after))
    assert (change.policy, change.change) == ("managed policies", "added")
    assert change.why == ("new managed policy: arn:aws:iam::aws:policy/AdministratorAccess",)


def test_nothing_deployed_yet_every_statement_is_added(dev):
    changes = iam_diff(None, dev)
    assert {c.change for c in changes} == {"added"}
    assert {(c.where, c.statement) for c in changes} >= {("identity/TaskRole", "MountDataThroughAccessPoints"),
                                                         ("identity/ExecutionRole", "EcrLogin")}
    deny = next(c for c in changes if c.statement == "DenyWithoutTls")
    assert not deny.widens  # a new Deny grants nothing
    assert all(c.widens for c in changes if c.effect == "Allow")


# --- IAM: narrowing is not flagged ---------------------------------------------------------------------------------


def test_narrowing_is_reported_but_not_flagged(tmp_path):
    dev = build(tmp_path, service__debug_shell=True)  # with the ECS Exec channels to narrow
    after = copy.deepcopy(dev)
    channels = statement(after, "identity", "TaskRole", "EcsExecChannels")
    channels["Resource"] = ["arn:aws:ssm:us-west-2:123456789012:session/*"]  # "*" -> one ARN: covered by "*"
    pull = statement(after, "identity", "ExecutionRole", "EcrPullAppImage")
    pull["Action"] = pull["Action"][:1]  # fewer actions
    statement(after, "identity", "ExecutionRole", "WriteContainerLogs")["Condition"] = {
        "StringEquals": {"aws:SourceAccount": "123456789012"}}  # a new condition
    policies = after["identity"]["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policies["Statement"] = [s for s in policies["Statement"] if s["Sid"] != "EcrLogin"]  # a statement removed
    changes = iam_diff(dev, after)
    assert sorted((c.statement, c.change) for c in changes) == [
        ("EcrLogin", "removed"), ("EcrPullAppImage", "changed"), ("EcsExecChannels", "changed"),
        ("WriteContainerLogs", "changed")]
    assert [c for c in changes if c.widens] == []


def test_an_action_covered_by_the_old_wildcard_is_not_widening(dev):
    before, after = copy.deepcopy(dev), copy.deepcopy(dev)
    statement(before, "identity", "ExecutionRole", "EcrPullAppImage")["Action"] = ["ecr:Batch*",
                                                                                   "ecr:GetDownloadUrlForLayer"]
    assert not one(iam_diff(before, after)).widens


# --- security groups -----------------------------------------------------------------------------------------------


def test_a_new_internet_ingress_widens(tmp_path):
    before = build(tmp_path, load_balancer__ingress_cidrs=["10.0.0.0/8"])
    after = build(tmp_path, load_balancer__ingress_cidrs=["10.0.0.0/8", "0.0.0.0/0"])
    change = one(sg_diff(before, after))
    assert (change.where, change.rule, change.change, change.defined_by) == (
        "security/LoadBalancerSecurityGroup", "ingress tcp 80 from 0.0.0.0/0", "added", "LoadBalancerIngress802")
    assert change.widens and change.internet
    assert str(change).endswith("WIDENS, INTERNET")
    assert iam_diff(before, after) == []


def test_removing_or_narrowing_ingress_is_not_widening(tmp_path):
    wide = build(tmp_path, load_balancer__ingress_cidrs=["10.0.0.0/8", "0.0.0.0/0"])
    narrow = build(tmp_path, load_balancer__ingress_cidrs=["10.1.0.0/16"])
    changes = sg_diff(wide, narrow)
    assert sorted((c.change, c.peer) for c in changes) == [
        ("added", "10.1.0.0/16"), ("removed", "0.0.0.0/0"), ("removed", "10.0.0.0/8")]
    assert [c for c in changes if c.widens] == []  # 10.1.0.0/16 was inside 10.0.0.0/8


def test_an_inline_rule_open_to_the_internet_widens(dev):
    after = copy.deepcopy(dev)
    after["security"]["Resources"]["AppSecurityGroup"]["Properties"]["SecurityGroupIngress"] = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv6": "::/0"}]
    change = one(sg_diff(dev, after))
    assert (change.where, change.rule, change.defined_by) == ("security/AppSecurityGroup", "ingress tcp 22 from ::/0",
                                                              "AppSecurityGroup")
    assert change.widens and change.internet


def test_a_group_left_without_egress_rules_gets_the_aws_default_all_egress(dev):
    after = copy.deepcopy(dev)
    resources = after["security"]["Resources"]
    for rid in ("AppEgressHttps", "AppEgressNfs"):
        del resources[rid]
    changes = sg_diff(dev, after)
    added = one([c for c in changes if c.change == "added"])
    assert (added.rule, added.widens, added.internet) == ("egress all to 0.0.0.0/0", True, True)
    assert added.defined_by.startswith("(AWS default")
    assert sorted(c.defined_by for c in changes if c.change == "removed") == ["AppEgressHttps", "AppEgressNfs"]


def test_a_rule_moved_to_another_logical_id_is_no_change(dev):
    after = copy.deepcopy(dev)
    resources = after["security"]["Resources"]
    resources["AppIngressFromTheLoadBalancer"] = resources.pop("AppIngressLoadBalancer")
    assert sg_diff(dev, after) == []


# --- cost ----------------------------------------------------------------------------------------------------------


def test_cost_delta_of_a_bigger_task(tmp_path):
    before = build(tmp_path, "prod")
    after = build(tmp_path, "prod", task__cpu=2048, task__memory=8192)
    cost = compare(before, after, "us-west-2").cost
    assert {c.key for c in cost.changes} == {("Fargate", "vCPU-hours (X86_64)"), ("Fargate", "GB-hours (X86_64)")}
    assert cost.diff > 0 and cost.diff == pytest.approx(sum(c.diff for c in cost.changes))


def test_cost_follows_the_deployed_and_planned_desired_count(dev):
    same = compare(dev, dev, "us-west-2", "dev", {"DesiredCount": "0"}, {"DesiredCount": "0"}).cost
    started = compare(dev, dev, "us-west-2", "dev", {"DesiredCount": "0"}, {"DesiredCount": "1"}).cost
    assert same.changes == () and started.diff > 30  # Fargate alone is about 36 USD for 1 vCPU / 2 GB
    assert ("Fargate", "vCPU-hours (X86_64)") in {c.key for c in started.changes}
    assert with_parameters(dev, {"DesiredCount": "1"})["root"]["Parameters"]["DesiredCount"]["Default"] == "1"
    assert dev["root"]["Parameters"]["DesiredCount"]["Default"] == "0"  # the input is not changed


def test_create_is_a_cost_delta_from_nothing(dev):
    result = compare(None, dev, "us-west-2", "dev")
    assert result.created and result.cost.before_total == 0
    assert result.cost.after_total == pytest.approx(result.cost.diff) and result.cost.diff > 0


def test_a_cost_that_cannot_be_estimated_says_why_and_keeps_the_access_diff(dev):
    broken = copy.deepcopy(dev)
    broken["service"]["Resources"]["TaskDefinition"]["Properties"]["Cpu"] = {"Ref": "Nowhere"}
    result = compare(dev, broken, "us-west-2")
    assert result.cost is None and result.cost_error.startswith("the cost could not be estimated: ")
    assert result.iam == [] and result.network == []
