"""What IAM and network access changes between two renderings of an environment, and whether it widens.

Like the guardrails and the cost estimate, both functions read one environment's templates as plain dicts
(``{stem: template}``): ``troposphere``'s ``to_dict()`` of what is about to be deployed, or what ``GetTemplate``
returns for what is deployed now (parsed into the same long form, ``{"Fn::GetAtt": [A, B]}``). They are pure and
work on any two renderings: two params variants, a deployed and a packaged environment, or ``{}`` and a new one
(CREATE: everything is added).

:func:`iam_diff` compares, per stack, resource and policy, the statements of every policy document a template
carries: role trust policies, inline policies, managed and stand-alone policies, and resource policies (SNS, SQS,
S3, Secrets Manager, KMS, ECR, EFS, Logs). Statements are matched by ``Sid``, else by identical content, else by the
most similar statement of the same effect; what is left is added or removed.

Statements are read as IAM evaluates them (IAM User Guide: "Conditions with multiple context keys or values",
"Single-valued vs. multivalued context keys", "IAM JSON policy elements: Condition operators", "IAM JSON policy
elements: NotAction" / "NotResource" / "NotPrincipal"):

- a request matches a statement when it matches one item of each of ``Principal``, ``Action`` and ``Resource``
  (the items of an element are ORed), none of the items of a ``NotPrincipal``/``NotAction``/``NotResource`` (which
  match everything not listed), and every clause of the ``Condition`` block;
- in the ``Condition`` block, operators are ANDed, the keys under one operator are ANDed, and the values of one key
  are ORed; for a negated operator (``StringNotEquals``, ``ArnNotLike``, ``NotIpAddress``, ...) the values are NORed
  (the request value must match none of them), and the condition is true when the key is absent;
- ``...IfExists`` makes a clause true when the key is absent; ``ForAllValues:`` tests that every value of a
  multivalued request key matches (true when the key is absent), ``ForAnyValue:`` that at least one does (false
  when absent).

Each condition clause is therefore one item, ``StringEquals k (a OR b)``, and the block reads ``X AND Y``
(:class:`Clause`, :func:`element_text`). A changed statement widens when the new one matches a request the old one
did not (for a Deny: when the old one blocked a request the new one does not), and narrows the other way round.
:func:`_beyond` decides this by proving containment element by element (a pattern of the old statement covers each
new item: ``s3:Get*`` covers ``s3:GetObject``, ``*`` covers every ARN; a new value list for a key is a subset of
the old for a positive operator, a superset for a negated one; ``IfExists`` and another set operator are weaker;
an added clause or key only narrows an Allow) and names whatever it cannot prove, so a change and its inverse are
judged opposite and what cannot be read is reported as "may widen", never as narrowing. A new Allow statement, a
removed Deny, a new managed policy, a new attachment and a dropped permissions boundary widen; each widening change
says why (``why``) and each narrowing one too (``narrowing``). One setting outside policy documents is listed with
them because it opens a shell into the running task to whoever IAM lets call ``ecs:ExecuteCommand``: an ECS
service's ``EnableExecuteCommand`` turning on widens, turning off narrows (``service.debug_shell``).

:func:`sg_diff` compares security group rules (inline on ``AWS::EC2::SecurityGroup`` and the stand-alone
``SecurityGroupIngress``/``Egress`` resources, plus the allow-all egress AWS gives a group that declares none) by
content within a stack: direction, group, protocol, ports and peer; the rule's logical id and description are shown
but are not its identity, so moving a rule to another resource is no change. Rules are ORed: an added rule widens
unless an old rule of the same group already allowed it (same or ``all`` protocol, a port range and a CIDR that
contain it), a removed rule narrows unless a remaining one still allows it; rules open to ``0.0.0.0/0`` or ``::/0``
are marked ``internet``. The rule that matches nothing (``icmp`` type 252 code 86 to ``255.255.255.255/32``) only
displaces AWS's default allow-all egress, so it reads as narrowing (see ``MATCHES_NOTHING``).

Intrinsic functions are compared structurally through one deterministic text form (:func:`text`): ``!Ref X``,
``!GetAtt A.B``, ``!Sub ...``, else compact JSON with sorted keys. Not followed: values wired through parameters
(a CIDR passed in as a parameter is compared as ``!Ref Name``), and which groups a service or load balancer is in.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from .template_walk import Templates

OPEN = ("0.0.0.0/0", "::/0")
SYMBOL = {"added": "+", "removed": "-", "changed": "~"}

# Resource type -> (label, property) of each policy document it carries. Roles, users and groups carry a list of
# inline policies under ``Policies`` (handled separately); resource policies may be JSON strings.
POLICY_PROPERTIES: dict[str, tuple[tuple[str, str], ...]] = {
    "AWS::IAM::Role": (("trust", "AssumeRolePolicyDocument"),),
    "AWS::IAM::User": (),
    "AWS::IAM::Group": (),
    "AWS::IAM::Policy": (("policy", "PolicyDocument"),),
    "AWS::IAM::ManagedPolicy": (("policy", "PolicyDocument"),),
    "AWS::IAM::RolePolicy": (("policy", "PolicyDocument"),),
    "AWS::IAM::UserPolicy": (("policy", "PolicyDocument"),),
    "AWS::IAM::GroupPolicy": (("policy", "PolicyDocument"),),
    "AWS::S3::BucketPolicy": (("bucket policy", "PolicyDocument"),),
    "AWS::SNS::TopicPolicy": (("topic policy", "PolicyDocument"),),
    "AWS::SQS::QueuePolicy": (("queue policy", "PolicyDocument"),),
    "AWS::SecretsManager::ResourcePolicy": (("secret policy", "ResourcePolicy"),),
    "AWS::KMS::Key": (("key policy", "KeyPolicy"),),
    "AWS::ECR::Repository": (("repository policy", "RepositoryPolicyText"),),
    "AWS::EFS::FileSystem": (("file system policy", "FileSystemPolicy"),),
    "AWS::Logs::ResourcePolicy": (("logs policy", "PolicyDocument"),),
}
WITH_INLINE_POLICIES = {"AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"}
ATTACHMENTS = ("Roles", "Users", "Groups")
FIELDS = ("Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition")


def text(value) -> str:
    """One deterministic text per template value: strings as they are, intrinsic functions in their short form."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "Ref" and isinstance(inner, str):
            return f"!Ref {inner}"
        if key == "Fn::GetAtt" and isinstance(inner, list) and all(isinstance(x, str) for x in inner):
            return f"!GetAtt {'.'.join(inner)}"
        if key == "Fn::Sub" and isinstance(inner, str):
            return f"!Sub {inner}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------------------------
# IAM


@dataclass(frozen=True)
class Clause:
    """One condition operator and context key with its values (ORed): one term of the ANDed Condition block.

    ``op`` is the operator as written (``ForAllValues:StringLikeIfExists``); the parts that decide its meaning are
    split out: the set prefix (``ForAnyValue``/``ForAllValues``, for multivalued keys), the base operator, the
    ``IfExists`` suffix (true when the key is absent) and negation (``StringNotEquals``, ``ArnNotLike``, ...: true
    when the value matches none of the listed values, a NOR).
    """

    op: str
    key: str
    values: frozenset[str]

    @property
    def prefix(self) -> str:
        head, sep, _ = self.op.partition(":")
        return head.lower() if sep else ""

    @property
    def base(self) -> str:
        name = self.op.partition(":")[2] or self.op
        return name[: -len("IfExists")] if name.endswith("IfExists") else name

    @property
    def if_exists(self) -> bool:
        return self.op.endswith("IfExists")

    @property
    def negated(self) -> bool:
        return "Not" in self.base and self.base != "Null"

    def __str__(self) -> str:
        values = sorted(self.values)
        shown = values[0] if len(values) == 1 else "(" + " OR ".join(values) + ")"
        notes = []
        if self.negated and len(values) > 1:
            notes.append("NOR: matches none of them")
        if self.if_exists:
            notes.append("or the key is absent")
        if self.prefix == "forallvalues":
            notes.append("every request value; true when the key is absent")
        elif self.prefix == "foranyvalue":
            notes.append("at least one request value")
        head = " ".join(x for x in (self.op, self.key) if x)
        return f"{head} {shown}" + (f" [{'; '.join(notes)}]" if notes else "")


@dataclass(frozen=True)
class _Statement:
    """A statement in comparable form: each element a frozenset of texts; the Condition block as clauses."""

    sid: str
    effect: str
    fields: tuple[tuple[str, frozenset[str]], ...]
    conditions: tuple[Clause, ...]

    def get(self, name: str) -> frozenset[str]:
        return dict(self.fields).get(name, frozenset())

    def has(self, name: str) -> bool:
        return name in dict(self.fields)


def _principals(value) -> frozenset[str]:
    if value == "*":
        return frozenset({"*"})
    if isinstance(value, dict) and not _is_intrinsic(value):
        return frozenset(f"{kind}:{text(v)}" for kind, vs in value.items() for v in _list(vs))
    return frozenset({text(value)})


def _is_intrinsic(value) -> bool:
    if not (isinstance(value, dict) and len(value) == 1):
        return False
    key = next(iter(value))
    return key == "Ref" or key.startswith("Fn::")


def _statement(raw) -> _Statement:
    if not isinstance(raw, dict) or _is_intrinsic(raw):  # e.g. an Fn::If: compared as one opaque value
        return _Statement("", "?", (("Statement", frozenset({text(raw)})),), ())
    fields = []
    for name in FIELDS[:-1]:
        if name in raw:
            value = raw[name]
            items = _principals(value) if name.endswith("Principal") else frozenset(text(v) for v in _list(value))
            fields.append((name, items))
    conditions = []
    condition = raw.get("Condition") or {}
    if isinstance(condition, dict) and not _is_intrinsic(condition):
        for op, keys in sorted(condition.items()):
            if isinstance(keys, dict) and not _is_intrinsic(keys):
                for key, values in sorted(keys.items()):
                    conditions.append(Clause(op, key, frozenset(text(v) for v in _list(values))))
            else:
                conditions.append(Clause("?", op, frozenset({text(keys)})))
    elif condition:
        conditions.append(Clause("?", "", frozenset({text(condition)})))
    effect = raw.get("Effect")
    effect = effect if effect in ("Allow", "Deny") else "?"
    return _Statement(str(raw.get("Sid", "")), effect, tuple(sorted(fields)),
                      tuple(sorted(conditions, key=lambda c: (c.op, c.key))))


def _document(value) -> list | None:
    """The statements of a policy document (a dict, or a JSON string); None when it cannot be read."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict) or _is_intrinsic(value):
        return None
    return _list(value.get("Statement"))


@dataclass(frozen=True)
class IamChange:
    """One statement (or managed policy, attachment, boundary, ECS Exec switch) added, removed or changed."""

    stack: str
    resource: str
    type: str
    policy: str
    statement: str
    change: str  # added | removed | changed
    effect: str
    added: tuple[tuple[str, tuple[str, ...]], ...] = ()
    removed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    why: tuple[str, ...] = ()  # why it widens (or may); empty: it does not
    narrowing: tuple[str, ...] = ()  # why it narrows

    @property
    def widens(self) -> bool:
        return bool(self.why)

    @property
    def narrows(self) -> bool:
        """Grants strictly less: something narrows and nothing widens."""
        return bool(self.narrowing) and not self.why

    @property
    def verdict(self) -> str:
        return "widens" if self.widens else "narrows" if self.narrows else "neutral"

    @property
    def where(self) -> str:
        return f"{self.stack}/{self.resource}"

    @property
    def symbol(self) -> str:
        return SYMBOL[self.change]

    def __str__(self) -> str:
        stmt = f" {self.statement}" if self.statement else ""
        effect = f" ({self.effect})" if self.effect else ""
        flag = (f"  WIDENS: {'; '.join(self.why)}" if self.why
                else f"  NARROWS: {'; '.join(self.narrowing)}" if self.narrowing else "")
        return f"{self.symbol} {self.where} {self.policy}{stmt}{effect}{flag}"


# How each element's items combine, for the renderings: a request must match one item of each listed element
# (ORed), every clause of the Condition block (ANDed), and no item of a Not* element.
ELEMENT_LOGIC = {"Principal": "any of", "Action": "any of", "Resource": "any of", "NotPrincipal": "all except",
                 "NotAction": "all except", "NotResource": "all except", "Condition": "all of"}


def element_text(name: str, items) -> str:
    """``Action (any of): a, b`` / ``Condition (all of): X AND Y``: the logic IAM applies, spelled out."""
    joined = " AND ".join(items) if name == "Condition" else ", ".join(items)
    logic = ELEMENT_LOGIC.get(name)
    if logic and (len(items) > 1 or name.startswith("Not")):
        return f"{name} ({logic}): {joined}"
    return f"{name}: {joined}"


def _policies(r: dict) -> Iterator[tuple[str, object]]:
    """(label, document) of every policy document on a resource."""
    p = r.get("Properties", {}) or {}
    rtype = r.get("Type", "")
    for label, prop in POLICY_PROPERTIES.get(rtype, ()):
        if prop in p:
            name = p.get("PolicyName") or p.get("ManagedPolicyName")
            yield (f"{label} {text(name)}" if label == "policy" and name else label), p[prop]
    if rtype in WITH_INLINE_POLICIES:
        for i, pol in enumerate(_list(p.get("Policies"))):
            name = pol.get("PolicyName", f"#{i + 1}") if isinstance(pol, dict) else f"#{i + 1}"
            yield f"policy {text(name)}", pol.get("PolicyDocument") if isinstance(pol, dict) else pol


def _iam_resources(templates: Templates) -> dict[tuple[str, str], dict]:
    return {(stem, rid): r for stem, t in templates.items() for rid, r in (t.get("Resources") or {}).items()
            if r.get("Type") in POLICY_PROPERTIES}


def iam_diff(before: Templates | None, after: Templates) -> list[IamChange]:
    """Every IAM statement and grant that differs between two renderings, sorted by stack, resource, policy; then
    every ECS service whose ECS Exec turns on or off (:func:`_exec_changes`)."""
    old, new = _iam_resources(before or {}), _iam_resources(after)
    changes: list[IamChange] = []
    for key in sorted(set(old) | set(new)):
        stem, rid = key
        b, a = old.get(key, {}), new.get(key, {})
        rtype = (a or b).get("Type", "")
        changes += _grants(stem, rid, rtype, b, a)
        b_docs, a_docs = dict(_policies(b)), dict(_policies(a))
        for label in sorted(set(b_docs) | set(a_docs)):
            changes += _document_diff(stem, rid, rtype, label, b_docs.get(label), a_docs.get(label))
    return changes + _exec_changes(before or {}, after)


ECS_SERVICE = "AWS::ECS::Service"
EXEC_OPENS = ("ECS Exec on: whoever may call ecs:ExecuteCommand on this service's tasks gets a shell in each "
              "container (ECS Developer Guide, \"Monitor Amazon ECS containers with ECS Exec\"), and the containers' "
              "root file systems are writable while it is on (templates/service.py)")


def _exec_on(r: dict) -> bool:
    return text((r.get("Properties") or {}).get("EnableExecuteCommand", False)).lower() == "true"


def _exec_changes(before: Templates, after: Templates) -> list[IamChange]:
    """``EnableExecuteCommand`` of an ECS service turning on (widens: an IAM-gated shell into the running task) or off
    (narrows). Not a policy document, but access all the same: the review must say what the switch opens."""
    def services(templates: Templates) -> dict[tuple[str, str], dict]:
        return {(stem, rid): r for stem, t in templates.items() for rid, r in (t.get("Resources") or {}).items()
                if isinstance(r, dict) and r.get("Type") == ECS_SERVICE}

    old, new = services(before), services(after)
    out = []
    for stem, rid in sorted(set(old) | set(new)):
        was, now = _exec_on(old.get((stem, rid), {})), _exec_on(new.get((stem, rid), {}))
        if was == now:
            continue
        change = "added" if (stem, rid) not in old else "removed" if (stem, rid) not in new else "changed"
        item = (("EnableExecuteCommand", ("true",)),)
        out.append(IamChange(stem, rid, ECS_SERVICE, "ECS Exec", "EnableExecuteCommand", change, "",
                             item if now else (), item if was else (),
                             (EXEC_OPENS,) if now else (), () if now else ("ECS Exec off: no shell into the task",)))
    return out


def _grants(stem: str, rid: str, rtype: str, b: dict, a: dict) -> list[IamChange]:
    """Managed policies, attachments to roles/users/groups, and the permissions boundary."""
    out = []
    bp, ap = b.get("Properties", {}) or {}, a.get("Properties", {}) or {}
    lists = [("managed policies", "ManagedPolicyArns", "new managed policy")]
    if rtype in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
        lists += [(f"attached to {n.lower()}", n, f"attached to a new {n.lower()[:-1]}") for n in ATTACHMENTS]
    for label, prop, reason in lists:
        was = {text(v) for v in _list(bp.get(prop))}
        now = {text(v) for v in _list(ap.get(prop))}
        if was != now:
            added, removed = tuple(sorted(now - was)), tuple(sorted(was - now))
            change = "added" if not was else "removed" if not now else "changed"
            why = (f"{reason}: {', '.join(added)}",) if added else ()
            narrowing = (f"{label} no longer: {', '.join(removed)}",) if removed else ()
            out.append(IamChange(stem, rid, rtype, label, "", change, "",
                                 ((prop, added),) if added else (), ((prop, removed),) if removed else (), why,
                                 narrowing))
    was_b, now_b = bp.get("PermissionsBoundary"), ap.get("PermissionsBoundary")
    if rtype in WITH_INLINE_POLICIES and text(was_b) != text(now_b) and (was_b is not None or now_b is not None):
        change = "added" if was_b is None else "removed" if now_b is None else "changed"
        # A boundary caps what the identity's policies grant: a new one narrows, a dropped one widens, another one
        # may do either (its content is elsewhere).
        why = () if was_b is None else (("permissions boundary dropped",) if now_b is None
                                        else ("may widen: permissions boundary changed: review it by hand",))
        narrowing = ("permissions boundary added",) if was_b is None else ()
        out.append(IamChange(stem, rid, rtype, "permissions boundary", "", change, "",
                             (("PermissionsBoundary", (text(now_b),)),) if now_b is not None else (),
                             (("PermissionsBoundary", (text(was_b),)),) if was_b is not None else (), why, narrowing))
    return out


def _document_diff(stem: str, rid: str, rtype: str, label: str, b_doc, a_doc) -> list[IamChange]:
    b_raw = _document(b_doc) if b_doc is not None else []
    a_raw = _document(a_doc) if a_doc is not None else []
    if b_raw is None or a_raw is None:  # not readable (an intrinsic function): compare as one value
        if text(b_doc) == text(a_doc):
            return []
        return [IamChange(stem, rid, rtype, label, "", "changed", "", (("Document", (text(a_doc),)),),
                          (("Document", (text(b_doc),)),),
                          ("may widen: policy document not readable here: review it by hand",))]
    b_st = [(_label(s, i), _statement(s)) for i, s in enumerate(b_raw)]
    a_st = [(_label(s, i), _statement(s)) for i, s in enumerate(a_raw)]
    pairs, added, removed = _match(b_st, a_st)
    trust = label == "trust"
    out = []
    for (_bl, bs), (al, as_) in pairs:
        plus, minus = _field_diff(bs, as_)
        out.append(IamChange(stem, rid, rtype, label, al, "changed", as_.effect, plus, minus, *_judge(bs, as_, trust)))
    for al, as_ in added:
        plus, _ = _field_diff(None, as_)
        out.append(IamChange(stem, rid, rtype, label, al, "added", as_.effect, plus, (), *_judge(None, as_, trust)))
    for bl, bs in removed:
        _, minus = _field_diff(bs, None)
        out.append(IamChange(stem, rid, rtype, label, bl, "removed", bs.effect, (), minus, *_judge(bs, None, trust)))
    return sorted(out, key=lambda c: (c.statement, c.change))


def _label(raw, index: int) -> str:
    return str(raw["Sid"]) if isinstance(raw, dict) and raw.get("Sid") else f"statement {index + 1}"


def _match(before: list, after: list) -> tuple[list, list, list]:
    """Pairs of changed statements, added ones, removed ones; identical statements drop out."""
    before, after = list(before), list(after)
    for item in list(after):  # identical content (wherever it moved)
        same = next((x for x in before if x[1] == item[1]), None)
        if same is not None:
            before.remove(same)
            after.remove(item)
    pairs = []
    for item in list(after):  # the same Sid
        if item[1].sid:
            same = next((x for x in before if x[1].sid == item[1].sid), None)
            if same is not None:
                before.remove(same)
                after.remove(item)
                pairs.append((same, item))
    for item in list(after):  # the most similar statement of the same effect
        scored = [(_similarity(x[1], item[1]), i) for i, x in enumerate(before)
                  if x[1].effect == item[1].effect and not (x[1].sid and item[1].sid)]
        best = max(scored, default=(0, -1))
        if best[0] > 0:
            pairs.append((before.pop(best[1]), item))
            after.remove(item)
    return pairs, after, before


def _similarity(a: _Statement, b: _Statement) -> int:
    return sum(len(a.get(f) & b.get(f)) for f in ("Action", "NotAction", "Principal", "Resource"))


def _field_diff(b: _Statement | None, a: _Statement | None):
    plus, minus = [], []
    for name in FIELDS:
        was = _field_items(b, name)
        now = _field_items(a, name)
        if now - was:
            plus.append((name, tuple(sorted(now - was))))
        if was - now:
            minus.append((name, tuple(sorted(was - now))))
    return tuple(plus), tuple(minus)


def _field_items(s: _Statement | None, name: str) -> frozenset[str]:
    if s is None:
        return frozenset()
    if name == "Condition":
        return frozenset(str(c) for c in s.conditions)
    return s.get(name)


@lru_cache(maxsize=4096)
def _glob(pattern: str, case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case else re.IGNORECASE)


def _covered(item: str, patterns: frozenset[str], case: bool = True) -> bool:
    """An IAM pattern (``*`` and ``?`` wildcards) of the old statement already allowed ``item``."""
    return any(p == item or _glob(p, case).match(item) for p in patterns)


# What counts as a wildcard grant: any action of a service, any resource, anyone.
WILDCARDS = {
    "Action": lambda x: {x} if x == "*" or x.endswith(":*") else set(),
    "Resource": lambda x: {x} if x == "*" else set(),
    "Principal": lambda x: {x} if x in ("*", "AWS:*") else set(),
}


def _wild(name: str, items) -> list[str]:
    return sorted(x for x in items if WILDCARDS[name](x))


def _judge(b: _Statement | None, a: _Statement | None, trust: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(why it widens, why it narrows) for a statement added (``b`` None), removed (``a`` None) or changed.

    A statement matches a request when the request matches its principal, action and resource elements and every
    clause of its Condition. An Allow that matches more widens; a Deny that matches less widens (it blocks less);
    the opposite narrows. Both are judged with :func:`_beyond`, which proves containment or names what escapes it,
    so a change and its inverse are judged opposite, and what cannot be proved is reported as "may widen".
    """
    who = "trust principal" if trust else "principal"
    if a is None:
        assert b is not None, "a statement is added, removed or changed: never neither"
        return (("Deny statement removed",), ()) if b.effect == "Deny" else \
            ((), ("Allow statement removed",)) if b.effect == "Allow" else \
            (("may widen: statement not readable here: review it by hand",), ())
    if a.effect == "?" or (b is not None and b.effect == "?"):
        return (("may widen: statement not readable here: review it by hand",), ()) if b != a else ((), ())
    if b is None:
        if a.effect == "Deny":
            return (), ("new Deny statement",)
        return ("new Allow statement", *_wildcards(a, who)), ()
    if a.effect != b.effect:
        if a.effect == "Allow":
            return ("Deny became Allow", *_wildcards(a, who)), ()
        return (), ("Allow became Deny",)
    grows, shrinks = _beyond(a, b, who), _beyond(b, a, who)
    if a.effect == "Allow":
        return tuple(f"now allows {x}" for x in grows), tuple(f"no longer allows {x}" for x in shrinks)
    return tuple(f"Deny no longer covers {x}" for x in shrinks), tuple(f"Deny now also covers {x}" for x in grows)


def _wildcards(a: _Statement, who: str) -> list[str]:
    why = []
    wild = _wild("Action", a.get("Action"))
    if wild:
        why.append(f"wildcard action {', '.join(wild)}")
    if _wild("Resource", a.get("Resource")):
        why.append("Resource *")
    if _wild("Principal", a.get("Principal")):
        why.append(f"any {who}")
    for name in ("NotAction", "NotResource", "NotPrincipal"):
        if a.has(name):
            why.append(f"{name}: matches everything not listed")
    return why


ELEMENTS = (("Action", "NotAction", "action", False), ("Resource", "NotResource", "resource", True),
            ("Principal", "NotPrincipal", "principal", True))


def _beyond(a: _Statement, b: _Statement, who: str) -> list[str]:
    """What statement ``a`` matches that ``b`` does not, as phrases; empty when every request ``a`` matches, ``b``
    matches too. Sufficient, not complete: each element of ``a`` must lie within ``b``'s and each clause of ``b``'s
    Condition must be implied by one of ``a``'s; anything else is named (at worst as "may widen")."""
    out = []
    for pos, neg, noun, case in ELEMENTS:
        noun = who if noun == "principal" else noun
        out += _element_beyond(a, b, pos, neg, noun, case)
    out += _conditions_beyond(a.conditions, b.conditions)
    return out


def _element_beyond(a: _Statement, b: _Statement, pos: str, neg: str, noun: str, case: bool) -> list[str]:
    a_form = pos if a.has(pos) else neg if a.has(neg) else ""
    b_form = pos if b.has(pos) else neg if b.has(neg) else ""
    if a_form == b_form == "":
        return []
    if a_form == b_form == pos:
        fresh = sorted(x for x in a.get(pos) if not _covered(x, b.get(pos), case))
        wild = [x for x in fresh if WILDCARDS[pos](x)]
        rest = [x for x in fresh if x not in wild]
        out = [{"Action": f"wildcard action {', '.join(wild)}", "Resource": "Resource *",
                "Principal": f"any {noun}"}[pos]] if wild else []
        return out + ([f"{noun}{'s' if len(rest) > 1 else ''} {', '.join(rest)}"] if rest else [])
    if a_form == b_form == neg:  # a excludes less than b: what b excludes and a does not is matched by a only
        lost = sorted(x for x in b.get(neg) if not _covered(x, a.get(neg), case))
        return [f"{noun}{'s' if len(lost) > 1 else ''} {', '.join(lost)} (outside {neg})"] if lost else []
    if a_form == pos and b_form == neg:  # inside b unless an item of a meets b's exclusions
        meets = sorted(x for x in a.get(pos) if _overlaps(x, b.get(neg), case))
        return [f"{noun}{'s' if len(meets) > 1 else ''} {', '.join(meets)} (excluded by {neg})"] if meets else []
    if a_form == neg and b_form == pos and b.get(pos) & {"*", "AWS:*"}:
        return []
    if a_form == neg:
        return [f"every {noun} {neg} does not list"]
    return [f"may widen: the {pos} element changed form ({a_form or 'absent'} against {b_form or 'absent'})"]


def _overlaps(item: str, patterns: frozenset[str], case: bool) -> bool:
    """``item`` and some pattern may match a common value (both may hold ``*``/``?``): conservative."""
    for p in patterns:
        if _covered(item, frozenset({p}), case) or _covered(p, frozenset({item}), case):
            return True
        if ("*" in item or "?" in item) and ("*" in p or "?" in p):
            return True  # two patterns: not decided here, so assume they meet
    return False


def _conditions_beyond(a: tuple[Clause, ...], b: tuple[Clause, ...]) -> list[str]:
    """Requests ``a``'s Condition admits that ``b``'s does not: each of ``b``'s clauses must be implied by one of
    ``a``'s (the block is an AND); named by the clause of ``b`` that nothing in ``a`` implies."""
    out = []
    for bc in b:
        if any(_implies(ac, bc) for ac in a):
            continue
        same = [ac for ac in a if ac.key == bc.key and ac.op == bc.op]
        if bc.op == "?" and not any(ac.op == "?" for ac in a):
            out.append("requests without a condition not readable here (review it by hand)")
        elif bc.op == "?" or any(ac.op == "?" for ac in a):
            out.append("may widen: a condition not readable here changed: review it by hand")
        elif same and bc.base.endswith(ORDERED):
            out.append(f"requests beyond {bc.op} {bc.key} {' or '.join(sorted(bc.values))}")
        elif same:
            extra = sorted(same[0].values - bc.values) if not bc.negated else sorted(bc.values - same[0].values)
            out.append(f"requests where {bc.key} is {' or '.join(extra)} ({bc.op})" if extra else
                       f"requests {same[0].op} {bc.key} admits beyond the other side's values")
        elif any(ac.key == bc.key for ac in a):
            other = next(ac for ac in a if ac.key == bc.key)
            out.append(f"may widen: condition on {bc.key} changed from {bc.op} to {other.op}")
        else:
            out.append(f"requests without condition {bc.op} {bc.key}".rstrip())
    return out


ORDERED = ("LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals")


def _ordered(value: str):
    """A number or a date of a Numeric*/Date* condition, comparable; None when it is neither (e.g. ``!Ref X``)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _implies(a: Clause, b: Clause) -> bool:
    """Every request clause ``a`` accepts, ``b`` accepts (same key, same operator family)."""
    if a.key != b.key or a.op == "?" or b.op == "?":
        return False
    if a.prefix != b.prefix or a.base != b.base or (a.if_exists and not b.if_exists):
        return False  # IfExists also accepts an absent key: weaker than the same operator without it
    # Values of one key are ORed: fewer accepted values is stricter; for a negated operator (NOR), more excluded
    # values is stricter.
    inner, outer = (b.values, a.values) if a.negated else (a.values, b.values)
    base = a.base
    if base.startswith(("Numeric", "Date")) and base.endswith(ORDERED):
        # x < v1 OR x < v2 is x < max(v): a implies b when a's bound is no looser than b's
        got, want = [_ordered(v) for v in a.values], [_ordered(v) for v in b.values]
        if None in got or None in want:
            return a.values == b.values
        return max(got) <= max(want) if "LessThan" in base else min(got) >= min(want)
    if base.startswith(("IpAddress", "NotIpAddress")):
        return all(any(_subnet(x, y) for y in outer) for x in inner)
    if base.startswith("Arn") or base.endswith("Like"):
        return all(_covered(x, outer) for x in inner)
    if base.endswith("IgnoreCase"):
        return {x.lower() for x in inner} <= {y.lower() for y in outer}
    return inner <= outer


def _subnet(x: str, y: str) -> bool:
    try:
        a, b = ipaddress.ip_network(x, strict=False), ipaddress.ip_network(y, strict=False)
    except ValueError:
        return x == y
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a.subnet_of(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a.subnet_of(b)
    return False  # an IPv4 network is never inside an IPv6 one, nor the other way


# ---------------------------------------------------------------------------------------------------------------
# Security groups


PROTOCOLS = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
# Rule property -> how its peer is shown ("sg X": the group with logical id X, or the value given).
PEERS = {"CidrIp": "", "CidrIpv6": "", "SourceSecurityGroupId": "sg ", "DestinationSecurityGroupId": "sg ",
         "SourceSecurityGroupName": "sg ", "SourceSecurityGroupOwnerId": "owner ", "SourcePrefixListId": "pl ",
         "DestinationPrefixListId": "pl "}
DEFAULT_EGRESS = "(AWS default: the group declares no egress rule)"
# A rule that matches no traffic: ICMP type 252 code 86 (no such message) to the limited broadcast address, which is
# never routed. It exists only to replace the allow-all egress AWS adds to a group that declares no egress rule
# ("AWS::EC2::SecurityGroup": when you create a security group, if you do not add egress rules, we add egress rules
# that allow all outbound traffic; otherwise we do not add them). templates/security.py and the CDK
# (``allowAllOutbound: false``) use it.
MATCHES_NOTHING = ("icmp", 252, 86, "255.255.255.255/32")
MATCHES_NOTHING_NOTE = "matches no traffic: it replaces the allow-all egress AWS adds to a group without egress rules"


@dataclass(frozen=True, order=True)
class _Rule:
    direction: str
    group: str
    protocol: str
    low: int
    high: int
    peer: str


@dataclass(frozen=True)
class RuleChange:
    """A security group rule added or removed."""

    stack: str
    group: str
    direction: str  # ingress | egress
    protocol: str
    ports: str
    peer: str
    change: str  # added | removed
    defined_by: str
    description: str = ""
    widens: bool = False
    internet: bool = False
    narrows: bool = False
    note: str = ""

    @property
    def verdict(self) -> str:
        return "widens" if self.widens else "narrows" if self.narrows else "neutral"

    @property
    def where(self) -> str:
        return f"{self.stack}/{self.group}"

    @property
    def symbol(self) -> str:
        return SYMBOL[self.change]

    @property
    def rule(self) -> str:
        towards = "from" if self.direction == "ingress" else "to"
        ports = "" if self.ports == "all" and self.protocol == "all" else f" {self.ports}"
        return f"{self.direction} {self.protocol}{ports} {towards} {self.peer}"

    def __str__(self) -> str:
        flags = [f for f, on in (("WIDENS", self.widens), ("INTERNET", self.internet and self.change == "added"),
                                 ("NARROWS", self.narrows)) if on]
        shown = f"{self.symbol} {self.where} {self.rule} ({self.defined_by})" + (f" [{self.note}]" if self.note else "")
        return f"{shown}  {', '.join(flags)}" if flags else shown


def _group(value) -> str:
    """The group a rule belongs to or names: the logical id behind ``!GetAtt X.GroupId`` or ``!Ref X``."""
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "Fn::GetAtt" and isinstance(inner, list) and inner[1:] == ["GroupId"]:
            return str(inner[0])
        if key == "Ref" and isinstance(inner, str):
            return inner
    return text(value)


def _ports(protocol: str, raw: dict) -> tuple[int, int]:
    if protocol == "all":
        return (0, 65535)
    try:
        low, high = int(raw.get("FromPort", -1)), int(raw.get("ToPort", -1))
    except (TypeError, ValueError):
        return (-2, -2)  # not a literal: compared by the rule's text below
    return (0, 65535) if low == -1 and protocol not in ("icmp", "icmpv6") else (low, high)


def _port_text(protocol: str, low: int, high: int) -> str:
    if protocol in ("icmp", "icmpv6"):
        return f"type {low} code {high}"
    if (low, high) == (0, 65535):
        return "all"
    return str(low) if low == high else f"{low}-{high}"


def _rule(direction: str, group: str, raw: dict) -> _Rule:
    protocol = str(raw.get("IpProtocol", "-1")).lower()
    protocol = PROTOCOLS.get(protocol, protocol)
    peer = " ".join(f"{shown}{_group(raw[name]) if shown else text(raw[name])}"
                    for name, shown in PEERS.items() if name in raw) or "(no peer)"
    low, high = _ports(protocol, raw)
    if low == -2:
        peer += f" ports {text(raw.get('FromPort'))}-{text(raw.get('ToPort'))}"
    return _Rule(direction, group, protocol, low, high, peer)


def _rules(templates: Templates) -> dict[tuple[str, _Rule], tuple[str, str]]:
    """``{(stem, rule): (defined by, description)}`` for every rule, with AWS's default egress where it applies."""
    found: dict[tuple[str, _Rule], tuple[str, str]] = {}
    for stem, t in templates.items():
        resources = t.get("Resources") or {}
        with_egress = set()
        for rid, r in sorted(resources.items()):
            p, rtype = r.get("Properties", {}) or {}, r.get("Type")
            if rtype == "AWS::EC2::SecurityGroup":
                for direction, prop in (("ingress", "SecurityGroupIngress"), ("egress", "SecurityGroupEgress")):
                    for raw in _list(p.get(prop)):
                        if isinstance(raw, dict):
                            found.setdefault((stem, _rule(direction, rid, raw)), (rid, str(raw.get("Description", ""))))
                if p.get("SecurityGroupEgress"):
                    with_egress.add(rid)
            elif rtype in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
                direction = "ingress" if rtype.endswith("Ingress") else "egress"
                group = _group(p.get("GroupId", p.get("GroupName")))
                found.setdefault((stem, _rule(direction, group, p)), (rid, str(p.get("Description", ""))))
                if direction == "egress":
                    with_egress.add(group)
        for rid, r in sorted(resources.items()):
            if r.get("Type") == "AWS::EC2::SecurityGroup" and rid not in with_egress:
                found.setdefault((stem, _Rule("egress", rid, "all", 0, 65535, "0.0.0.0/0")), (DEFAULT_EGRESS, ""))
    return found


def _cidr(peer: str):
    try:
        return ipaddress.ip_network(peer, strict=False)
    except ValueError:
        return None


def _contains(old: _Rule, new: _Rule) -> bool:
    """``old`` already allowed all that ``new`` allows (same direction and group)."""
    if (old.direction, old.group) != (new.direction, new.group):
        return False
    if old.protocol != "all" and old.protocol != new.protocol:
        return False
    if old.protocol != "all" and not (old.low <= new.low and new.high <= old.high):
        return False
    if old.peer == new.peer:
        return True
    a, b = _cidr(old.peer), _cidr(new.peer)
    return a is not None and b is not None and a.version == b.version and b.subnet_of(a)


def _matches_nothing(rule: _Rule) -> bool:
    return (rule.direction, rule.protocol, rule.low, rule.high, rule.peer) == ("egress", *MATCHES_NOTHING)


def sg_diff(before: Templates | None, after: Templates) -> list[RuleChange]:
    """Every security group rule added or removed between two renderings, sorted by stack, group and rule.

    Rules of a group are ORed (traffic any rule allows passes), so an added rule widens unless an old rule of the
    group already allowed all it allows, and a removed rule narrows unless a remaining rule still allows all it
    allowed. A rule that matches no traffic does neither; added, it narrows when it takes the place of AWS's
    default allow-all egress (the group then has an egress rule, so AWS adds none, or removes the default)."""
    old, new = _rules(before or {}), _rules(after)
    out = []
    for key in sorted(set(old) ^ set(new)):
        stem, rule = key
        added = key in new
        defined_by, description = (new if added else old)[key]
        other = [o for (s, o) in (old if added else new) if s == stem]
        covered = any(_contains(o, rule) for o in other)
        nothing = _matches_nothing(rule)
        widens = added and not covered and not nothing
        narrows = not added and not covered and not nothing
        if nothing:
            # It matters only where it stands in for AWS's allow-all egress: added to a new group, or to one that
            # had the default, it takes that egress away; removed as the group's last egress rule, it brings it back.
            default = (stem, _Rule("egress", rule.group, "all", 0, 65535, "0.0.0.0/0"))
            if added:
                existed = any(s == stem and o.group == rule.group for (s, o) in old)
                narrows = default in old or not existed
            else:
                widens = default in new
        out.append(RuleChange(stem, rule.group, rule.direction, rule.protocol,
                              _port_text(rule.protocol, rule.low, rule.high), rule.peer,
                              "added" if added else "removed", defined_by, description, widens, rule.peer in OPEN,
                              narrows, MATCHES_NOTHING_NOTE if nothing else ""))
    return sorted(out, key=lambda c: (c.stack, c.group, c.direction, c.change == "added", c.protocol, c.ports, c.peer))
