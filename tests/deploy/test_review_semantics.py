"""The review reads IAM and security groups as AWS evaluates them, and renders every value inert.

IAM ("Conditions with multiple context keys or values", IAM User Guide): operators in a Condition block are ANDed,
keys of one operator are ANDed, values of one key are ORed (NOR for a negated operator); ``ForAllValues`` is also
true when the key is absent, ``...IfExists`` when the key is absent. Security groups ("AWS::EC2::SecurityGroup"):
AWS adds an allow-all egress rule to a group created without egress rules, and not otherwise.
Concrete cases first, then properties over generated policies and rules (hypothesis)."""

from __future__ import annotations

import copy
import dataclasses
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from markdown_it import MarkdownIt

from checks.access_diff import element_text, iam_diff, sg_diff, text
from deploy import adopt, drift, markdown, preflight, review
from deploy.diff import TemplateDiff
from deploy.markdown import code as md_code
from deploy.review import PropertyChange, Review, Row, StackReview

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def policy(*statements) -> dict:
    return {"iam": {"Resources": {"Pol": {"Type": "AWS::IAM::ManagedPolicy",
                                          "Properties": {"PolicyDocument": {"Statement": list(statements)}}}}}}


def allow(**kw) -> dict:
    return {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"], **kw}


def verdicts(before, after) -> list[str]:
    return [c.verdict for c in iam_diff(before, after)]


# --- IAM conditions as IAM evaluates them --------------------------------------------------------------------------


def added_text(change) -> str:
    return "\n".join(element_text(name, items) for name, items in change.added)


def test_a_condition_key_with_two_values_reads_as_an_or_of_its_values(prod):
    change = next(c for c in iam_diff(None, prod) if c.statement == "PassAppRoles")
    assert "Condition: StringEquals iam:PassedToService (backup.amazonaws.com OR ecs-tasks.amazonaws.com)" in (
        added_text(change))


def test_the_ci_trust_policies_read_as_an_or_of_subjects_and_an_and_of_keys(prod):
    trusts = {c.resource: added_text(c) for c in iam_diff(None, prod) if c.stack == "identity" and c.policy == "trust"}
    aud = "StringEquals token.actions.githubusercontent.com:aud sts.amazonaws.com"
    repo = "UNCONFIRMED"  # params/prod.yaml's ci.github_repository until its owner confirms it
    workflow = f"job_workflow_ref:{repo}/.github/workflows/deploy-backend.yml"
    assert trusts["GitHubPlanRole"].endswith(
        f"Condition (all of): {aud} AND StringLike token.actions.githubusercontent.com:sub "
        f"repo:{repo}:ref:refs/heads/main:{workflow}@refs/heads/main")
    assert trusts["GitHubPullRequestRole"].endswith(
        f"Condition (all of): {aud} AND StringLike token.actions.githubusercontent.com:sub "
        f"repo:{repo}:pull_request:{workflow}@refs/pull/*/merge")
    assert trusts["GitHubDeployRole"].endswith(
        f"Condition (all of): {aud} AND StringLike token.actions.githubusercontent.com:sub "
        f"repo:{repo}:environment:production:{workflow}@refs/heads/main")
    assert trusts["CloudFormationExecutionRole"].endswith(
        "Condition: StringEqualsIfExists aws:SourceAccount !Sub ${AWS::AccountId} [or the key is absent]")


@pytest.mark.parametrize("op, key, values, shown", [
    ("StringNotEquals", "aws:PrincipalAccount", ["1", "2"], "StringNotEquals aws:PrincipalAccount (1 OR 2) "
                                                           "[NOR: matches none of them]"),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], "ForAllValues:StringEquals aws:TagKeys (a OR b) "
                                                             "[every request value; true when the key is absent]"),
    ("ForAnyValue:StringLike", "aws:TagKeys", "x*",
     "ForAnyValue:StringLike aws:TagKeys x* [at least one request value]"),
    ("ArnNotLikeIfExists", "aws:SourceArn", ["arn:a", "arn:b"], "ArnNotLikeIfExists aws:SourceArn (arn:a OR arn:b) "
                                                               "[NOR: matches none of them; or the key is absent]"),
])
def test_each_operator_says_how_its_values_combine(op, key, values, shown):
    change = iam_diff(None, policy(allow(Condition={op: {key: values}})))[0]
    assert f"Condition: {shown}" in added_text(change)


B = allow(Condition={"StringEquals": {"k": ["a", "b"]}})


@pytest.mark.parametrize("after, expected", [
    (allow(Condition={"StringEquals": {"k": ["a", "b", "c"]}}), "widens"),  # one more value: OR accepts more
    (allow(Condition={"StringEquals": {"k": ["a"]}}), "narrows"),  # one value fewer
    (allow(Condition={"StringEquals": {"k": ["a", "b"], "k2": "x"}}), "narrows"),  # a key more: AND
    (allow(Condition={"StringEquals": {"k": ["a", "b"]}, "Bool": {"aws:SecureTransport": "true"}}), "narrows"),
    (allow(), "widens"),  # condition removed
    (allow(Condition={"StringEqualsIfExists": {"k": ["a", "b"]}}), "widens"),  # now also true without the key
    (allow(Condition={"StringLike": {"k": ["a", "b"]}}), "widens"),  # another operator: not proven inside
    (allow(Condition={"StringEquals": {"k": ["a", "b"]}, "StringNotEquals": {"k": "b"}}), "narrows"),
])
def test_condition_changes_are_judged_as_iam_evaluates_them(after, expected):
    assert verdicts(policy(B), policy(after)) == [expected]


@pytest.mark.parametrize("before, after, expected", [
    ({"StringNotEquals": {"k": ["a", "b"]}}, {"StringNotEquals": {"k": ["a"]}}, "widens"),  # excludes less
    ({"StringNotEquals": {"k": ["a"]}}, {"StringNotEquals": {"k": ["a", "b"]}}, "narrows"),
    ({"StringEqualsIfExists": {"k": "a"}}, {"StringEquals": {"k": "a"}}, "narrows"),
    ({"StringLike": {"k": "app-*"}}, {"StringLike": {"k": "app-1"}}, "narrows"),  # inside the old pattern
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"IpAddress": {"aws:SourceIp": "10.1.0.0/16"}}, "narrows"),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
     "widens"),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}},
     "widens"),  # another set operator: not proven inside, so it may widen
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"NumericLessThan": {"s3:max-keys": "20"}}, "widens"),
    ({"NumericLessThan": {"s3:max-keys": "20"}}, {"NumericLessThan": {"s3:max-keys": ["10", "5"]}}, "narrows"),
    ({"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
     {"DateGreaterThan": {"aws:CurrentTime": "2026-06-01T00:00:00Z"}}, "narrows"),
])
def test_negated_ifexists_like_ip_and_set_operators(before, after, expected):
    assert verdicts(policy(allow(Condition=before)), policy(allow(Condition=after))) == [expected]


@pytest.mark.parametrize("before, after, expected", [
    ({"NotAction": ["iam:*"]}, {"NotAction": ["iam:*", "s3:*"]}, "narrows"),  # excludes more
    ({"NotAction": ["iam:*", "s3:*"]}, {"NotAction": ["iam:*"]}, "widens"),
    ({"Action": ["s3:GetObject"]}, {"NotAction": ["iam:*"]}, "widens"),  # everything but IAM
    ({"NotAction": ["iam:*"]}, {"Action": ["s3:GetObject"]}, "narrows"),
    ({"NotAction": ["iam:*"]}, {"Action": ["iam:PassRole"]}, "widens"),  # was excluded
])
def test_not_elements_are_inverted(before, after, expected):
    b, a = allow(), allow()
    del b["Action"], a["Action"]
    assert verdicts(policy({**b, **before}), policy({**a, **after})) == [expected]


def test_deny_changes_are_judged_inversely():
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    narrower_deny = {**deny, "Action": "s3:PutObject"}
    conditional_deny = {**deny, "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringEquals": {"k": "v"}}}
    assert verdicts(policy(deny), policy(narrower_deny)) == ["widens"]  # blocks less
    assert verdicts(policy(narrower_deny), policy(deny)) == ["narrows"]
    assert verdicts(policy(deny), policy(conditional_deny)) == ["widens"]  # applies under fewer requests
    assert verdicts(policy(deny), policy()) == ["widens"] and verdicts(policy(), policy(deny)) == ["narrows"]


def test_what_cannot_be_read_may_widen_and_is_never_narrowing():
    opaque = {"Fn::If": ["IsProd", allow(), {"Ref": "AWS::NoValue"}]}
    one, other = ({"Fn::If": ["C", {"Bool": {"k": v}}, {}]} for v in ("true", "false"))
    changes = iam_diff(policy(allow(Sid="A", Condition=one)), policy(allow(Sid="A", Condition=other)))
    assert [c.verdict for c in changes] == ["widens"] and "may widen" in changes[0].why[0]
    # an added condition, readable or not, is ANDed: the Allow can only match less
    assert verdicts(policy(allow(Sid="A")), policy(allow(Sid="A", Condition=one))) == ["narrows"]
    assert verdicts(policy(allow(Sid="A", Condition=one)), policy(allow(Sid="A"))) == ["widens"]
    assert [c.verdict for c in iam_diff(policy(), policy(opaque))] == ["widens"]
    assert [c.verdict for c in iam_diff(policy(opaque), policy())] == ["widens"]


# --- security groups -----------------------------------------------------------------------------------------------


def test_the_rule_that_removes_the_default_egress_reads_as_narrowing(dev):
    placeholder = [c for c in sg_diff(None, dev) if c.defined_by == "FileSystemEgressNone"]
    assert [(c.verdict, c.rule) for c in placeholder] == [
        ("narrows", "egress icmp type 252 code 86 to 255.255.255.255/32")]
    assert "WIDENS" not in str(placeholder[0]) and "NARROWS" in str(placeholder[0])
    before = copy.deepcopy(dev)
    del before["security"]["Resources"]["FileSystemEgressNone"]  # the group had AWS's allow-all egress
    changes = {(c.change, c.defined_by): c.verdict for c in sg_diff(before, dev)}
    assert changes == {("added", "FileSystemEgressNone"): "narrows",
                       ("removed", "(AWS default: the group declares no egress rule)"): "narrows"}
    back = {(c.change, c.defined_by): c.verdict for c in sg_diff(dev, before)}
    assert back == {("removed", "FileSystemEgressNone"): "widens",  # its removal brings the allow-all egress back
                    ("added", "(AWS default: the group declares no egress rule)"): "widens"}
    # beside other egress rules it changes nothing, either way
    resources = before["security"]["Resources"]
    other = copy.deepcopy(before)
    other["security"]["Resources"]["FileSystemEgressHttps"] = {
        "Type": "AWS::EC2::SecurityGroupEgress", "Properties": {
            **resources["AppEgressHttps"]["Properties"],
            "GroupId": {"Fn::GetAtt": ["FileSystemSecurityGroup", "GroupId"]}}}
    both = copy.deepcopy(other)
    both["security"]["Resources"]["FileSystemEgressNone"] = dev["security"]["Resources"]["FileSystemEgressNone"]
    assert [c.verdict for c in sg_diff(other, both)] == ["neutral"] == [c.verdict for c in sg_diff(both, other)]


# --- Markdown values stay inert ------------------------------------------------------------------------------------
# Every Markdown output is rendered twice by a real GFM renderer (markdown-it-py: CommonMark with raw HTML, GFM tables
# and strikethrough): once built from hostile values, once from a plain word in their place. No element may open from
# inside a value, so both renderings hold the same elements in the same order; and the hostile text is shown as text.

HOSTILE = ("x` **APPROVED** <img src=x> | a\\| b\n# heading [link](http://e) ![i](x) ~~gone~~ _em_ @team #1 "
           ":tada: &amp; &#60;b&#62; $x$ <!-- c --> \x1b[31m\x00\t\\")
PLAIN = "value"
GFM = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")


def elements(md: str) -> list[str]:
    """The HTML elements the renderer makes, in order (text left out)."""
    return TAG.findall(GFM.render(md))


def assert_inert(build) -> str:
    """``build(value)`` is one Markdown output; built from HOSTILE it holds the same elements as built from PLAIN."""
    hostile, plain = build(HOSTILE), build(PLAIN)
    assert elements(hostile) == elements(plain)
    html = GFM.render(hostile)
    assert "&lt;img src=x&gt;" in html and "APPROVED" in html  # the value is shown, as text
    text = re.sub(r"<[^>]+>", " ", html)
    # GitHub's own post-processing: @mentions and #references are found in the rendered text, outside code elements
    # too (cmark-gfm issue 181: a backslash does not stop them); each must be broken (deploy/markdown.py: a ZWJ)
    assert not re.search(r"(?<![\w])@[A-Za-z0-9]", text) and not re.search(r"#[0-9]", text)
    # GitHub math, and autolinks in the source: every "$" a reference, no bare "://" or "www."
    assert "$" not in hostile and "http://" not in hostile
    return hostile


def hostile_review(v: str = HOSTILE) -> Review:
    row = Row(v, v, "Modify", "True", v, [PropertyChange(v, v, v, "Always", [v])])
    nested = Row("StorageStack", "AWS::CloudFormation::Stack", "Remove")
    return Review(v, "arn", v, "UPDATE", True, {"ImageTag": v, "Other": "1"},
                  [StackReview(("ServiceStack",), v, "cs", [row, Row(v, "AWS::IAM::Role", "Add")]),
                   StackReview((), v, "cs", [nested])],
                  deployed_parameters={"ImageTag": "v1"}, acts_as=review.ActsAs(v, "stack"))


def test_the_plan_review_renders_inert():
    md = assert_inert(lambda v: review.markdown(hostile_review(v)))
    assert "> [!CAUTION]" in md and "> [!IMPORTANT]" in md  # data loss and security sections were rendered
    table = GFM.render(md)
    for t in re.findall(r"<table>.*?</table>", table, re.S):
        head = len(re.findall(r"<th[ >]", t.split("</thead>")[0]))
        for tr in re.findall(r"<tr>(.*?)</tr>", t.split("<tbody>")[1], re.S):
            assert len(re.findall(r"<td[ >]", tr)) == head, tr  # no value added a cell


def test_the_template_diff_section_renders_inert():
    def build(v: str) -> str:
        statement = {"Sid": "S", "Effect": "Allow", "Action": [f"s3:{v}"], "Resource": [v]}
        before = {"iam": {"Resources": {"Role": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "PolicyDocument": {"Statement": [{**statement, "Action": ["s3:GetObject"]}]}}}}}}
        after = {"iam": {"Resources": {"Role": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "PolicyDocument": {"Statement": [statement]}}}}}}
        r = hostile_review(PLAIN)
        return review.markdown(dataclasses.replace(
            r, diff=TemplateDiff(created=False, iam=iam_diff(before, after), cost_error=v)))

    assert_inert(build)


def test_the_adopt_table_renders_inert():
    def build(v: str) -> str:
        found = adopt.Found("ClusterStack", "Cluster", "AWS::ECS::Cluster", v,
                            found={"Tags": [{"Key": "owner", "Value": v}], v: v}, planned={"Tags": []})
        return adopt.markdown([found])

    assert_inert(build)


def test_drift_renders_inert():
    def build(v: str) -> str:
        resource = drift.Resource(v, v, "MODIFIED", v, [drift.Difference(v, v, v, v)], stateful=True, reason=v)
        failed = drift.StackDrift(("StorageStack",), "arn:aws:cloudformation:r:1:stack/s/x", "DETECTION_FAILED", v)
        stack = drift.StackDrift((), "arn:aws:cloudformation:r:1:stack/s/x", "DETECTION_COMPLETE", "", [resource])
        return drift.markdown(drift.Report(v, [stack, failed])) + "\n".join(drift.Skipped(v).markdown_section())

    assert_inert(build)


def test_a_blocked_plans_preflight_renders_inert(tmp_path):
    def build(v: str) -> str:
        out = tmp_path / "blocked.md"
        preflight.write_blocked(v, [preflight.Check(preflight.BLOCK, v, v, v)], None, out)
        return out.read_text()

    assert_inert(build)


@pytest.mark.parametrize("raw, shown", [
    ("CREATE_COMPLETE", "CREATE_COMPLETE"), ("0.2 GB", "0.2 GB"), ("-5.00", "-5.00"), ("a & b", "a & b"),
    ("arn:aws:iam::123456789012:role/wwhd/prod/x", "arn:aws:iam::123456789012:role/wwhd/prod/x"),
    ("snake_case_", "snake_case\\_"), ("a|b", "a\\|b"), ("&amp;", "\\&amp;"), ("# x", "\\# x"), ("1. x", "1\\. x"),
    ("@team", "@\u200dteam"), ("#12", "#\u200d12"), ("www.e.com", "www\\.e.com"), ("$5", "&#36;5"),
])
def test_only_what_must_be_escaped_is_escaped(raw, shown):
    assert markdown.text(raw) == shown


def test_a_mention_and_a_reference_stay_readable_but_unlinked():
    html = GFM.render(f"see {markdown.text('@octocat and #123')}")
    assert "@\u200doctocat and #\u200d123" in html  # one invisible joiner each: GitHub links neither


def test_a_code_element_holds_any_value():
    text = GFM.render(md_code(HOSTILE))
    assert text.count("<code>") == 1 and text.count("</code>") == 1
    assert "x` **APPROVED** &lt;img src=x&gt; | a\\| b # heading" in text


def test_parameters_show_deployed_and_planned_values_in_every_rendering():
    r = Review("s", "arn", "cs", "UPDATE", True, {"DesiredCount": "1", "ImageTag": "new"}, [],
               deployed_parameters={"DesiredCount": "1", "ImageTag": "old"})
    assert review.as_json(r)["parameterChanges"] == [{"key": "ImageTag", "before": "old", "after": "new"}]
    assert f"| {md_code('ImageTag')} | {md_code('old')} | {md_code('new')} | **changed** |" in review.markdown(r)


# --- properties over generated policies ----------------------------------------------------------------------------

ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:Get*", "ec2:DescribeInstances", "iam:PassRole", "logs:*", "kms:Decrypt"]
RESOURCES = ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/k", "arn:aws:kms:us-west-2:1:key/k", {"Ref": "Param"}]
PRINCIPALS = ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:role/r", "*"]
OPERATORS = ["StringEquals", "StringLike", "StringNotEquals", "StringEqualsIfExists", "ArnLike", "Bool",
             "ForAllValues:StringEquals", "ForAnyValue:StringLike", "IpAddress", "NumericLessThan"]
KEYS = ["aws:SourceAccount", "aws:PrincipalTag/team", "aws:TagKeys", "aws:SourceIp"]
VALUES = ["a", "b", "c*", "10.0.0.0/8", "10.1.0.0/16", "true", "10", "20", {"Ref": "AWS::AccountId"}]
FRESH = "zz:NeverSeenBefore"  # matches no generated pattern but "*"

conditions = st.dictionaries(st.sampled_from(OPERATORS), st.dictionaries(
    st.sampled_from(KEYS), st.lists(st.sampled_from(VALUES), min_size=1, max_size=3, unique_by=str),
    min_size=1, max_size=2), max_size=2)


@st.composite
def statements(draw, effect=None):
    s = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    action = draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3, unique=True))
    s["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = action
    s["Resource"] = draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2, unique_by=str))
    if draw(st.booleans()):
        s["Principal"] = {"AWS": draw(st.lists(st.sampled_from(PRINCIPALS), min_size=1, max_size=2, unique=True))}
    cond = draw(conditions)
    if cond:
        s["Condition"] = cond
    return s


policies = st.lists(statements(), min_size=1, max_size=3)


def items(raw: dict) -> list[str]:
    out = []
    for name in ("Action", "NotAction", "Resource"):
        out += [text(v) for v in raw.get(name, [])]
    out += [f"AWS:{p}" for p in raw.get("Principal", {}).get("AWS", [])]
    out += [text(v) for keys in raw.get("Condition", {}).values() for vs in keys.values() for v in vs]
    out += list(raw.get("Condition", {})) + [k for keys in raw.get("Condition", {}).values() for k in keys]
    return out


@SETTINGS
@given(policies)
def test_rendering_loses_no_element(stmts):
    changes = iam_diff(None, policy(*stmts))
    rendered = "\n".join(added_text(c) for c in changes)
    markdown = "\n".join(review._md_items(c.added) for c in changes)
    for raw in stmts:
        for item in items(raw):
            assert item in rendered, item
            assert md_code(item)[len("<code>"):-len("</code>")] in markdown, item


def opposite(v: str) -> str:
    return {"widens": "narrows", "narrows": "widens"}.get(v, v)


def grow_cases(stmts: list[dict], data) -> dict:
    """One change that can only grant more (or leave access as it was)."""
    allows = [i for i, s in enumerate(stmts) if s["Effect"] == "Allow"]
    kinds = ["add allow"] + (["remove deny"] if any(s["Effect"] == "Deny" for s in stmts) else [])
    kinds += ["add item", "add value", "drop clause"] if allows else []
    kind = data.draw(st.sampled_from(kinds), label="kind")
    after = copy.deepcopy(stmts)
    if kind == "add allow":
        after.append(data.draw(statements("Allow"), label="new"))
    elif kind == "remove deny":
        after.pop(data.draw(st.sampled_from([i for i, s in enumerate(stmts) if s["Effect"] == "Deny"])))
    else:
        s = after[data.draw(st.sampled_from(allows))]
        if kind == "add item":
            name = data.draw(st.sampled_from(["Action", "Resource", "Principal"] if "Action" in s
                                             else ["Resource", "Principal"]))
            if name == "Principal":
                if "Principal" in s:  # no Principal element: the identity the policy is attached to
                    s["Principal"]["AWS"].append("arn:aws:iam::999999999999:root")
            else:
                s[name].append(FRESH if name == "Action" else "arn:aws:s3:::zz-new")
        elif kind == "add value" and s.get("Condition"):
            op = data.draw(st.sampled_from(sorted(s["Condition"])))
            key = data.draw(st.sampled_from(sorted(s["Condition"][op])))
            values = s["Condition"][op][key]
            if op == "NumericLessThan" and all(str(v).isdigit() for v in values):
                s["Condition"][op][key] = list(values) + ["1000000"]  # a higher bound, ORed: accepts more
            elif "Not" not in op and op != "NumericLessThan":  # more values for a negated operator exclude more
                s["Condition"][op][key] = list(values) + ["zz-new-value"]
        elif kind == "drop clause" and s.get("Condition"):
            op = data.draw(st.sampled_from(sorted(s["Condition"])))
            del s["Condition"][op]
            if not s["Condition"]:
                del s["Condition"]
    return {"kind": kind, "after": after}


@SETTINGS
@given(policies, st.data())
def test_granting_more_never_reads_as_narrowing_and_its_inverse_reads_opposite(stmts, data):
    case = grow_cases(stmts, data)
    forward = verdicts(policy(*stmts), policy(*case["after"]))
    backward = verdicts(policy(*case["after"]), policy(*stmts))
    assert "narrows" not in forward, (case["kind"], forward)
    assert "widens" not in backward or backward == forward == [], (case["kind"], backward)
    assert sorted(opposite(v) for v in forward) == sorted(backward), (case["kind"], forward, backward)
    if case["kind"] == "remove deny":
        assert "widens" in forward
    if case["kind"] == "add allow" and case["after"][-1] not in stmts:
        assert "widens" in forward


@SETTINGS
@given(statements(), statements())
def test_a_change_and_its_inverse_are_judged_opposite(a, b):
    a["Sid"] = b["Sid"] = "Same"  # paired as one statement changed
    forward, backward = verdicts(policy(a), policy(b)), verdicts(policy(b), policy(a))
    if forward == ["narrows"]:
        assert backward == ["widens"]
    if backward == ["narrows"]:
        assert forward == ["widens"]
    if forward == ["neutral"]:
        assert backward == ["neutral"]


# --- properties over generated security group rules ----------------------------------------------------------------

PLACEHOLDER = {"IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32"}
rules = st.lists(st.fixed_dictionaries({
    "IpProtocol": st.sampled_from(["tcp", "udp", "-1"]),
    "FromPort": st.sampled_from([22, 80, 443, 1000]),
    "ToPort": st.sampled_from([22, 443, 2000, 65535]),
    "CidrIp": st.sampled_from(["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "192.168.1.1/32"]),
}) | st.just(PLACEHOLDER), max_size=4)


def group(ingress: list[dict], egress: list[dict]) -> dict:
    props = {"GroupDescription": "g", "SecurityGroupIngress": ingress}
    if egress:
        props["SecurityGroupEgress"] = egress
    return {"security": {"Resources": {"Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": props}}}}


@SETTINGS
@given(rules, rules, st.sampled_from(["ingress", "egress"]), rules.filter(bool))
def test_adding_rules_never_reads_as_narrowing_and_removing_them_never_as_widening(ingress, egress, where, extra):
    before = group(ingress, egress)
    after = group(ingress + extra, egress) if where == "ingress" else group(ingress, egress + extra)
    forward, backward = sg_diff(before, after), sg_diff(after, before)
    placeholder = "255.255.255.255/32"  # the rule that matches nothing: judged by the default egress it displaces
    assert not any(c.narrows for c in forward if c.change == "added" and c.peer != placeholder)
    assert not any(c.widens for c in backward if c.change == "removed" and c.peer != placeholder)
    assert sorted(opposite(c.verdict) for c in forward) == sorted(c.verdict for c in backward)
    # the only narrowing new rules bring: a group's first egress rule ends AWS's default allow-all egress
    assert all(c.defined_by.startswith("(AWS default") or c.peer == placeholder for c in forward if c.narrows)
