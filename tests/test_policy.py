"""Policy layer: our guardrails find nothing in any rendered environment, and each guardrail catches the mistake
it exists for (so a rule that silently stopped working would fail here)."""

from __future__ import annotations

import copy

import pytest

from checks import guardrails
from templates._common import stack_id
from templates.stateful import ADOPTABLE, STATEFUL


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_environment_passes_every_guardrail(built, env):
    assert guardrails.check(built[env]) == []


def test_stateful_list_matches_what_the_templates_retain(built):
    """Renaming a stateful logical id replaces the resource: the committed list and the templates move together."""
    retained = set()
    for env_templates in built.values():
        for stem, t in env_templates.items():
            for rid, r in t.get("Resources", {}).items():
                if r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"):
                    retained.add((stack_id(stem), rid))
    listed = {(s, r) for s, ids in STATEFUL.items() for r in ids}
    adoptable = {(s, r) for s, ids in ADOPTABLE.items() for r in ids}
    assert listed <= retained <= listed | adoptable


def test_named_stateful_resources_are_removed_by_a_rolled_back_create(built):
    """Item: a failed first create can be retried. Fixed names (secrets, ECR repository, backup vault) are
    RetainExceptOnCreate; the file system, access points and the ALB access-log bucket (generated names: the ELB
    writes a test object at once, so a rolled-back create could not delete the bucket anyway) stay Retain."""
    policies = {}
    for env_templates in built.values():
        for stem, t in env_templates.items():
            for rid, r in t.get("Resources", {}).items():
                if rid in STATEFUL.get(stack_id(stem), ()):
                    policies.setdefault((r["Type"], r["DeletionPolicy"], r["UpdateReplacePolicy"]), set()).add(rid)
    assert policies == {
        ("AWS::EFS::FileSystem", "Retain", "Retain"): {"FileSystem"},
        ("AWS::EFS::AccessPoint", "Retain", "Retain"): {"AppAccessPoint", "QdrantAccessPoint"},
        ("AWS::Backup::BackupVault", "RetainExceptOnCreate", "Retain"): {"BackupVault"},
        ("AWS::SecretsManager::Secret", "RetainExceptOnCreate", "Retain"): {"JwtSecretSecret", "OpenaiApiKeySecret"},
        ("AWS::ECR::Repository", "RetainExceptOnCreate", "Retain"): {"Repository"},
        ("AWS::S3::Bucket", "Retain", "Retain"): {"AccessLogsBucket"},
    }


def _mutated(templates, stem, rid, fn):
    t = copy.deepcopy(templates)
    fn(t[stem]["Resources"][rid])
    return t


def _rules(violations):
    return {(v.stack, v.resource, v.rule) for v in violations}


MUTATIONS = [
    ("storage", "FileSystem", lambda r: r.update(DeletionPolicy="Delete"), "stateful"),
    ("storage", "MountTarget677d281e", lambda r: r.update(DeletionPolicy="Retain", UpdateReplacePolicy="Retain"),
     "stateful"),
    ("service", "Service", lambda r: r["Properties"]["DeploymentConfiguration"].update(MaximumPercent=200),
     "single-writer"),
    ("service", "Service", lambda r: r["Properties"].update(DesiredCount=2), "single-writer"),
    ("service", "Service", lambda r: r["Properties"].pop("ServiceName"), "single-writer"),
    ("storage", "FileSystem", lambda r: r["Properties"].update(Encrypted=False), "encryption"),
    ("service", "TaskDefinition",
     lambda r: r["Properties"]["Volumes"][0]["EFSVolumeConfiguration"].update(TransitEncryption="DISABLED"),
     "encryption"),
    ("load_balancer", "HttpListener",
     lambda r: r["Properties"].update(DefaultActions=[{"Type": "forward", "TargetGroupArn": "x"}]), "encryption"),
    ("identity", "TaskRole", lambda r: r["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b/*"]}), "least-privilege"),
    ("identity", "TaskRole", lambda r: r["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Sid": "X", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}), "least-privilege"),
    ("identity", "ExecutionRole", lambda r: r["Properties"].update(
        ManagedPolicyArns=["arn:aws:iam::aws:policy/AmazonElasticFileSystemClientFullAccess"]), "least-privilege"),
    ("security", "AppIngressLoadBalancer", lambda r: (r["Properties"].pop("SourceSecurityGroupId"),
                                                       r["Properties"].update(CidrIp="0.0.0.0/0")), "network"),
    ("cluster", "Cluster", lambda r: r["Properties"].update(Tags=[{"Key": "app", "Value": "wwhd"}]), "tags"),
    ("storage", "FileSystem", lambda r: r.update(DeletionPolicy="RetainExceptOnCreate"), "retry"),
]


@pytest.mark.parametrize("stem,rid,mutate,rule", MUTATIONS, ids=[f"{m[0]}.{m[1]}-{m[3]}" for m in MUTATIONS])
def test_each_guardrail_catches_its_mistake(prod, stem, rid, mutate, rule):
    assert (stem, rid, rule) in _rules(guardrails.check(_mutated(prod, stem, rid, mutate)))


def test_a_named_retain_of_a_generated_secret_blocks_a_retry(dev):
    """prod references the seed's secrets (it generates none); dev generates its own, named: Retain would keep the name
    after a rolled-back create."""
    assert ("secrets", "JwtSecretSecret", "retry") in _rules(guardrails.check(
        _mutated(dev, "secrets", "JwtSecretSecret", lambda r: r.update(DeletionPolicy="Retain"))))


def test_a_named_retain_with_its_reason_is_accepted(dev):
    t = _mutated(dev, "secrets", "JwtSecretSecret",
                 lambda r: r.update(DeletionPolicy="Retain",
                                    Metadata={"wwhd-infra": {"deletion-policy-reason": "why"}}))
    assert not [v for v in guardrails.check(t) if v.rule == "retry"]


def test_a_new_stateful_type_must_be_listed(prod):
    t = copy.deepcopy(prod)
    t["storage"]["Resources"]["SecondFileSystem"] = copy.deepcopy(t["storage"]["Resources"]["FileSystem"])
    assert ("storage", "SecondFileSystem", "stateful") in _rules(guardrails.check(t))


def test_every_resource_star_grant_is_an_action_without_resource_level_permissions(built):
    """Resource "*" appears only next to actions the Service Authorization Reference lists without resource types."""
    for env_templates in built.values():
        for t in env_templates.values():
            for r in t.get("Resources", {}).values():
                if r["Type"] != "AWS::IAM::Role":
                    continue
                for pol in r["Properties"].get("Policies", []):
                    for s in pol["PolicyDocument"]["Statement"]:
                        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
                        if s["Effect"] == "Allow" and "*" in resources:
                            assert s.get("Sid"), "a Resource * statement says why in its Sid"
