"""``drift`` over the full dev and prod hierarchies, against recorded responses (tests/deploy/recorded_drift.py):
in sync, modified with property differences, deleted, not checked, known false positives, a nested stack whose
detection fails, throttling past the retries, pagination; the CLI's exit codes and the four renderings."""

from __future__ import annotations

import json

import pytest

from deploy import adapters, drift
from deploy.ui import Out, Poller

from .conftest import confirm_prod
from .recorded import ACCOUNT, T0
from .recorded_drift import World, beside, modified, physical_id, routed, rule_properties


@pytest.fixture
def connected(monkeypatch):
    """The CLI's AWS session answers from a RoutedStubber (CloudFormation) and a plain Stubber (STS)."""
    aws, stubber = routed()
    from botocore.stub import Stubber

    sts = Stubber(aws.client("sts"))
    sts.activate()
    sts.add_response("get_caller_identity", {"UserId": "AIDAEXAMPLE", "Account": ACCOUNT,
                                             "Arn": f"arn:aws:iam::{ACCOUNT}:user/ci"})
    monkeypatch.setattr(adapters, "connect", lambda profile, region, timeout=60: aws)
    return aws, stubber


def drifted_prod() -> World:
    """One night in prod: a hand-changed file system, a widened task role, a hand-added SSH rule, a deleted
    listener, known false positives, unsupported resources, a failed and a throttled nested stack."""
    w = World("prod", page_size=4)  # several pages per stack: NextToken is followed
    w.rounds[("ClusterStack",)] = 3
    w.drifts[(("StorageStack",), "FileSystem")] = modified(
        {"ThroughputMode": "bursting"}, {"ThroughputMode": "elastic"},
        [("/ThroughputMode", "bursting", "elastic", "NOT_EQUAL")])
    # in the half of the identity stack that its failed detection still answers (entries are sorted by logical id)
    w.drifts[(("identity",), "ExecutionRole")] = modified({}, {}, [(
        "/Policies/0/PolicyDocument/Statement/1", "null",
        '{"Action":"s3:*","Effect":"Allow","Resource":"*"}', "ADD")])
    ingress = rule_properties("AppSecurityGroup", IpProtocol="tcp", FromPort=8000, ToPort=8000,
                              SourceSecurityGroupId=physical_id("LoadBalancerSecurityGroup", "AWS::EC2::SecurityGroup"))
    w.drifts[(("SecurityStack",), "AppIngressLoadBalancer")] = {"ExpectedProperties": json.dumps(ingress),
                                                                "ActualProperties": json.dumps(ingress)}
    w.drifts[(("SecurityStack",), "AppSecurityGroup")] = modified({}, {}, [(
        "/SecurityGroupIngress/0", "null", json.dumps({k: v for k, v in ingress.items() if k != "GroupId"}), "ADD")])
    https = rule_properties("LoadBalancerSecurityGroup", IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0")
    w.drifts[(("SecurityStack",), "LoadBalancerIngress443")] = {"ExpectedProperties": json.dumps(https),
                                                                "ActualProperties": json.dumps(https)}
    w.drifts[(("SecurityStack",), "LoadBalancerSecurityGroup")] = modified({}, {}, [
        ("/SecurityGroupIngress/0", "null", '{"CidrIp":"0.0.0.0/0","FromPort":443,"IpProtocol":"tcp","ToPort":443}',
         "ADD"),
        ("/SecurityGroupIngress/2", "null", '{"CidrIp":"0.0.0.0/0","FromPort":22,"IpProtocol":"tcp","ToPort":22}',
         "ADD"),
    ])
    w.drifts[(("ServiceStack",), "Service")] = modified({}, {}, [
        ("/DeploymentController", '{"Type":"ECS"}', "null", "REMOVE"),
        ("/DeploymentConfiguration/Strategy", "null", '"ROLLING"', "ADD")])
    w.drifts[(("LoadBalancerStack",), "HttpListener")] = {"StackResourceDriftStatus": "DELETED"}
    w.drifts[(("MonitoringStack",), "AlarmTopicPolicy")] = {"StackResourceDriftStatus": "NOT_CHECKED"}
    w.omit.add((("MonitoringStack",), "Dashboard"))
    w.failed[("identity",)] = "Failed to detect drift on resource [GitHubDeployRole]: Access Denied"
    w.throttled.add(("DnsStack",))
    return w


def run(world: World, out: Out | None = None) -> drift.Report:
    aws, stubber = routed()
    world.expect(stubber)
    report = drift.detect(aws, world.stacks[0].name, Poller(), out or Out(),
                          lambda verb, *extra: f"python generate.py {verb} --env {world.env}", also=beside(world.env))
    stubber.assert_no_pending_responses()  # every stack detected, every poll and page read
    return report


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_in_sync_hierarchy_checks_every_stack(env, cli, connected, tmp_path, project):
    confirm_prod(project)  # the committed placeholders are refused before any AWS call (test_takeover.py)
    aws, stubber = connected
    world = World(env)
    world.expect(stubber)
    result = cli("drift", "--env", env, "--json", str(tmp_path / "d.json"))
    assert result.code == 0, result.out + result.err
    stubber.assert_no_pending_responses()
    data = json.loads((tmp_path / "d.json").read_text())
    assert [s["path"] for s in data["stacks"]] == ["root"] + ["/".join(s.path) for s in world.stacks[1:]]
    resources = sum(len([t for t in s.resources.values() if t != "AWS::CloudFormation::Stack"]) for s in world.stacks)
    # nested stack resources are checked too; the root and the identity stack beside it are no one's resource
    assert data["summary"]["inSync"] == resources + len(world.stacks) - 2
    assert data["ok"] is True and aws.calls["cloudformation:DetectStackDrift"] == len(world.stacks)
    assert f"Drift summary: {len(world.stacks)} stack(s): 0 modified, 0 deleted" in result.out


def test_drifted_prod_exit_1_with_every_kind(cli, connected, tmp_path, project):
    confirm_prod(project)  # the committed placeholders are refused before any AWS call (test_takeover.py)
    aws, stubber = connected
    drifted_prod().expect(stubber)
    result = cli("drift", "--env", "prod", "--json", str(tmp_path / "d.json"), "--markdown", str(tmp_path / "d.md"))
    assert result.code == 1, result.out + result.err
    stubber.assert_no_pending_responses()
    out = result.out
    assert "~ FileSystem  AWS::EFS::FileSystem  MODIFIED STATEFUL" in out
    assert "/ThroughputMode: bursting -> elastic (NOT_EQUAL)" in out
    assert "~ ExecutionRole  AWS::IAM::Role  MODIFIED SECURITY" in out
    assert "- HttpListener  AWS::ElasticLoadBalancingV2::Listener  DELETED" in out
    assert "what to do: re-create" in out
    assert ("identity (wwhd-prod-identity)" in out
            and "DETECTION FAILED: Failed to detect drift on resource [GitHubDeployRole]" in out)
    assert "DnsStack" in out and "throttled by AWS on DetectStackDrift even after the client's retries" in out
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["summary"]["modified"] == 3 and data["summary"]["deleted"] == 1
    assert data["summary"]["failedStacks"] == 2 and data["summary"]["ignored"] == 2
    assert "Detection failed" in (tmp_path / "d.md").read_text()
    last = result.err.rstrip("\n").splitlines()[-2:]  # the failure ends as every failure does: error:, then fix:
    assert last[0] == "error: drift detection failed on 2 stack(s) (above): their drift is unknown"
    assert last[1] == ("fix: correct what each stack's reason names, then run it again: python generate.py drift --env "
                       f"prod --json {tmp_path / 'd.json'} --markdown {tmp_path / 'd.md'}")


def test_not_checked_is_listed_never_in_sync():
    report = run(drifted_prod())
    monitoring = next(s for s in report.stacks if s.path == ("MonitoringStack",))
    status = {r.logical_id: r.status for r in monitoring.resources}
    assert status["Dashboard"] == "NOT_CHECKED"  # left out of the answer, as unsupported types are
    assert status["AlarmTopicPolicy"] == "NOT_CHECKED"  # reported NOT_CHECKED by CloudFormation
    ci = next(s for s in report.stacks if s.path == ("identity",))  # failed: half its resources have results
    unread = [r.logical_id for r in ci.resources if r.status == "NOT_CHECKED"]
    total = len(drifted_prod().stack(("identity",)).resources)
    assert len(unread) == total - total // 2 and report.counts()["notChecked"] == 2 + len(unread)
    assert all(r.reason == "no result: this stack's detection failed"
               for r in ci.resources if r.status == "NOT_CHECKED")


def test_known_false_positives_are_ignored_with_reason_but_a_hand_added_rule_is_drift():
    report = run(drifted_prod())
    security = {r.logical_id: r for s in report.stacks if s.path == ("SecurityStack",) for r in s.resources}
    app = security["AppSecurityGroup"]
    assert app.status == "IGNORED" and "issues/1198" in app.differences[0].ignored
    lb = security["LoadBalancerSecurityGroup"]
    assert lb.status == "MODIFIED" and lb.security  # port 22 from anywhere has no rule resource: real drift
    assert [bool(d.ignored) for d in lb.differences] == [True, False]
    service = next(r for s in report.stacks for r in s.resources if r.logical_id == "Service")
    assert service.status == "IGNORED"
    assert {d.path for d in service.differences} == {"/DeploymentController", "/DeploymentConfiguration/Strategy"}


def test_a_default_with_another_value_is_not_ignored():
    w = World("dev")
    w.drifts[(("ServiceStack",), "Service")] = modified({}, {}, [
        ("/DeploymentConfiguration/Strategy", "null", '"BLUE_GREEN"', "ADD")])
    report = run(w)
    service = next(r for s in report.stacks for r in s.resources if r.logical_id == "Service")
    assert service.status == "MODIFIED" and not report.ok


def test_throttled_stack_fails_alone_and_others_are_read():
    w = World("dev")
    w.throttled.add(("StorageStack",))
    report = run(w)
    assert [s.label for s in report.failed] == ["StorageStack"]
    assert all(s.resources for s in report.stacks if s.path != ("StorageStack",))
    assert not report.ok


def test_detection_polls_all_stacks_together(_no_waiting):
    w = World("prod")
    w.rounds[("StorageStack",)] = 4  # the slowest stack: 4 in-progress answers, then complete
    run(w)
    assert len(_no_waiting) == 5  # one shared wait per round, not one per stack


def test_failed_detection_keeps_partial_results_and_reason():
    w = World("dev")
    w.failed[("StorageStack",)] = "Internal Failure"
    report = run(w)
    storage = next(s for s in report.stacks if s.path == ("StorageStack",))
    assert storage.detection == "DETECTION_FAILED" and storage.reason == "Internal Failure"
    checked = [r for r in storage.resources if r.status == "IN_SYNC"]
    assert checked and len(checked) < len(storage.resources)  # the rest is NOT_CHECKED, not in sync


def test_markdown_escapes_aws_values():
    w = World("dev")
    w.drifts[(("ClusterStack",), "LogGroup")] = modified({}, {}, [
        ("/RetentionInDays", "30", "7 | <b>x</b> *y*", "NOT_EQUAL")])
    text = drift.markdown(run(w))
    from deploy.review import md_value

    assert md_value("7 | <b>x</b> *y*") in text  # the review's inert form (deploy/review.py): no tag, no emphasis
    # escaped: no tag, no emphasis (tests/deploy/test_review_semantics.py renders)
    assert "\\<b>x\\</b> \\*y\\*" in text
    assert "| <code>ClusterStack</code> | <code>LogGroup</code> |" in text


def test_busy_stack_is_refused_before_detection(cli, connected):
    aws, stubber = connected
    w = World("dev", status="UPDATE_IN_PROGRESS")
    stubber.add_response("describe_stacks", {"Stacks": [{
        "StackId": w.stacks[0].arn, "StackName": w.stacks[0].name, "CreationTime": T0,
        "StackStatus": "UPDATE_IN_PROGRESS"}]},
        {"StackName": "wwhd-dev"})
    result = cli("drift", "--env", "dev")
    assert result.code == 1
    assert "wwhd-dev is UPDATE_IN_PROGRESS" in result.err
    assert "fix: wait for the operation to end: python generate.py status --env dev --watch" in result.err
    assert aws.calls["cloudformation:DetectStackDrift"] == 0


def test_drift_without_env_is_bad_input(cli):
    result = cli("drift")
    assert result.code == 2 and "--env is required for drift" in result.err


# --- in the plan and at apply ---------------------------------------------------------------------------------------


def _planned_review(report):
    """The recorded prod change set's review (tests/deploy/recorded.py) with a drift report attached, as plan does."""
    from deploy import changeset, review

    from . import recorded as r

    aws, stubber = r.stubbed()
    r.expect_tree(stubber)
    return review.build(changeset.describe_tree(aws, r.ROOT_CS), "UPDATE", drift=report)


def _ctx(env: str, aws=None, buf=None):
    import io
    from pathlib import Path

    from deploy.context import Ctx
    from templates.config import load_params

    return Ctx(p=load_params(env, Path(__file__).resolve().parents[2] / "params"), aws=aws,
               out=Out(stdout=buf or io.StringIO()), home=Path("."))


def test_plan_review_puts_drift_first_in_every_rendering():
    import io

    from deploy import review

    result = _planned_review(run(drifted_prod()))
    buf = io.StringIO()
    review.show(result, Out(stdout=buf))
    text = buf.getvalue()
    assert text.index("Drift for wwhd-prod:") < text.index("Drift summary:") < text.index("\nparameters")
    md = review.markdown(result)
    assert md.index("#### Drift for <code>wwhd-prod</code>") < md.index("UPDATE change set")
    data = json.loads(review.json_text(result))
    assert data["drift"]["checked"] is True and data["drift"]["summary"]["modified"] == 3


@pytest.mark.parametrize("env, flag, expected", [
    ("prod", None, "detect"), ("prod", False, "skipped"), ("dev", None, None), ("dev", True, "detect")])
def test_plan_drift_default_on_for_production(env, flag, expected, monkeypatch):
    from deploy import pipeline
    from deploy.context import PlanOptions
    from deploy.stacks import StackInfo

    calls = []
    monkeypatch.setattr(drift, "detect", lambda *a, **k: calls.append(a[1]) or "report")
    ctx = _ctx(env)
    info = StackInfo(id="arn", name=ctx.p.stack_name, status="UPDATE_COMPLETE")
    got = pipeline._plan_drift(ctx, info, PlanOptions(drift=flag))
    if expected == "detect":
        assert got == "report" and calls == [ctx.p.stack_name]
    elif expected == "skipped":
        assert isinstance(got, drift.Skipped) and got.why == "--no-drift" and not calls
        assert got.as_json() == {"checked": False, "skipped": "--no-drift"}
    else:
        assert got is None and not calls


def test_plan_drift_skipped_when_nothing_is_deployed(monkeypatch):
    from deploy import pipeline
    from deploy.context import PlanOptions

    monkeypatch.setattr(drift, "detect", lambda *a, **k: pytest.fail("nothing deployed: no detection"))
    got = pipeline._plan_drift(_ctx("prod"), None, PlanOptions())
    assert isinstance(got, drift.Skipped) and "nothing is deployed" in got.why


def test_apply_repeats_the_drift_recorded_in_the_review_file(tmp_path):
    import io

    from deploy import review
    from deploy.context import Planned
    from deploy.verbs import apply

    result = _planned_review(run(drifted_prod()))
    file = tmp_path / "plan.json"
    file.write_text(review.json_text(result))
    buf = io.StringIO()
    ctx = _ctx("prod", buf=buf)
    apply._repeat_drift(ctx, Planned(result, result.change_set_arn, None), file)
    out = buf.getvalue()
    assert "WARNING: DRIFT: StorageStack/FileSystem (AWS::EFS::FileSystem): MODIFIED" in out
    assert "WARNING: DRIFT: LoadBalancerStack/HttpListener (AWS::ElasticLoadBalancingV2::Listener): DELETED" in out
    assert "WARNING: DRIFT: DnsStack: detection failed: throttled" in out
    assert "AppSecurityGroup" not in out  # ignored false positives are not repeated as drift
    assert "python generate.py drift --env prod" in out


def test_apply_refuses_a_review_file_of_another_change_set(tmp_path):
    from deploy import review
    from deploy.context import Planned
    from deploy.errors import BadInput
    from deploy.verbs import apply

    result = _planned_review(run(drifted_prod()))
    file = tmp_path / "plan.json"
    file.write_text(review.json_text(result))
    with pytest.raises(BadInput, match="review of another change set"):
        apply._repeat_drift(_ctx("prod"), Planned(result, "arn:other", None), file)


def test_apply_without_review_rechecks_the_drifted_resources_only():
    import io

    from deploy.verbs import apply

    w = World("prod")
    aws, stubber = routed()
    w.expect(stubber, detect=False, beside=False)  # drift.recorded: DescribeStacks + the walk
    storage = w.stack(("StorageStack",))
    for s in w.stacks[:-1] if w.stacks[-1].path == ("identity",) else w.stacks:
        entries = [w.entry(storage, "FileSystem") | modified({}, {}, [
            ("/ThroughputMode", "bursting", "elastic", "NOT_EQUAL")])] if s is storage else []
        w.expect_drifts(stubber, s, entries, ["MODIFIED", "DELETED"])
    w.expect(stubber, detect=False, beside=False)  # drift.detect(only=...): DescribeStacks + the walk again
    stubber.add_response("detect_stack_resource_drift",
                         {"StackResourceDrift": w.entry(storage, "FileSystem") | modified(
        {}, {}, [("/ThroughputMode", "bursting", "elastic", "NOT_EQUAL")])},
        {"StackName": storage.arn, "LogicalResourceId": "FileSystem"})
    buf = io.StringIO()
    apply._repeat_drift(_ctx("prod", aws, buf), None, None)
    stubber.assert_no_pending_responses()
    assert aws.calls["cloudformation:DetectStackDrift"] == 0  # no full detection at apply time
    assert "WARNING: DRIFT: StorageStack/FileSystem (AWS::EFS::FileSystem): MODIFIED" in buf.getvalue()


# --- after an apply and in verify -------------------------------------------------------------------------------------


def test_after_apply_the_drift_of_what_was_deployed_is_shown():
    import io

    from deploy import applying

    aws, stubber = routed()
    drifted_prod().expect(stubber)
    buf = io.StringIO()
    applying._after_apply_drift(_ctx("prod", aws, buf))
    stubber.assert_no_pending_responses()
    out = buf.getvalue()
    assert "Drift for wwhd-prod:" in out and "~ FileSystem  AWS::EFS::FileSystem  MODIFIED STATEFUL" in out
    assert "WARNING: applied, but the deployed stacks still differ from the templates" in out


@pytest.mark.parametrize("world, status", [(lambda: World("prod"), "PASS"), (drifted_prod, "FAIL")])
def test_verify_drift_item(world, status):
    from deploy.verbs import verify

    aws, stubber = routed()
    world().expect(stubber)
    verdict = verify.check_drift(_ctx("prod", aws))
    stubber.assert_no_pending_responses()
    assert verdict.status == status
    if status == "FAIL":
        assert "StorageStack/FileSystem (AWS::EFS::FileSystem): MODIFIED" in verdict.details
        assert "DnsStack: detection failed" in " ".join(verdict.details)
        assert verdict.details[-1] == "details: python generate.py drift --env prod"


def test_verify_and_apply_accept_the_drift_flags():
    import generate

    parser = generate.build_parser()
    assert parser.parse_args(["verify", "--env", "prod", "--drift"]).drift is True
    assert parser.parse_args(["verify", "--env", "prod"]).drift is False
    assert parser.parse_args(["plan", "--env", "prod", "--no-drift"]).drift is False
    assert parser.parse_args(["apply", "--env", "prod", "--change-set", "x", "--review",
                              "p.json"]).review.name == "p.json"


def test_an_unreadable_answer_fails_that_stack_only(monkeypatch):
    from botocore.parsers import ResponseParserError

    w = World("dev")
    aws, stubber = routed()
    w.expect(stubber)
    real = aws.cfn.detect_stack_drift
    storage = w.stack(("StorageStack",)).arn

    def detect(**kwargs):
        if kwargs["StackName"] == storage:
            raise ResponseParserError("Unable to parse response")
        return real(**kwargs)

    monkeypatch.setattr(aws.cfn, "detect_stack_drift", detect)
    report = drift.detect(aws, "wwhd-dev", Poller(), Out(), lambda *a: "", also=beside("dev"))
    assert [s.label for s in report.failed] == ["StorageStack"]
    assert "no usable answer from AWS" in report.failed[0].reason


# --- the README's example ---------------------------------------------------------------------------------------------


def readme_world() -> World:
    """The README's example: dev with a hand-changed file system, a hand-added SSH rule next to a rule of a separate
    resource (a known false positive), a deleted listener and a resource the answer leaves out."""
    w = World("dev")
    w.drifts[(("StorageStack",), "FileSystem")] = modified(
        {"ThroughputMode": "bursting"}, {"ThroughputMode": "elastic"},
        [("/ThroughputMode", "bursting", "elastic", "NOT_EQUAL")])
    http = rule_properties("LoadBalancerSecurityGroup", IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")
    w.drifts[(("SecurityStack",), "LoadBalancerIngress80")] = {"ExpectedProperties": json.dumps(http),
                                                               "ActualProperties": json.dumps(http)}
    w.drifts[(("SecurityStack",), "LoadBalancerSecurityGroup")] = modified({}, {}, [
        ("/SecurityGroupIngress/0", "null", '{"CidrIp":"0.0.0.0/0","FromPort":80,"IpProtocol":"tcp","ToPort":80}',
         "ADD"),
        ("/SecurityGroupIngress/1", "null", '{"CidrIp":"0.0.0.0/0","FromPort":22,"IpProtocol":"tcp","ToPort":22}',
         "ADD"),
    ])
    w.drifts[(("LoadBalancerStack",), "HttpListener")] = {"StackResourceDriftStatus": "DELETED"}
    w.omit.add((("MonitoringStack",), "Dashboard"))
    return w


def test_readme_example_is_what_drift_prints():
    import io
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Drift", 1)[1]
    example = section.split("```text\n", 1)[1].split("```", 1)[0]
    buf = io.StringIO()
    drift.show(run(readme_world()), Out(stdout=buf))
    assert example == buf.getvalue()


def test_rich_view_puts_each_drift_and_its_guidance_in_one_row():
    import io

    from rich.console import Console

    from deploy.ui import Rich

    buf = io.StringIO()
    drift.show(run(readme_world()), Rich(console=Console(file=buf, width=250, highlight=False), stdout=buf))
    text = buf.getvalue()
    row = next(line for line in text.splitlines() if "FileSystem" in line and "MODIFIED" in line)
    assert "/ThroughputMode: bursting -> elastic (NOT_EQUAL)" in row and "stateful: revert it by hand" in row
    assert "[recreation" not in text and "Drift summary: 10 stack(s): 2 modified" in text


def test_a_nested_stack_row_not_checked_is_not_listed_twice():
    w = World("dev")
    w.drifts[((), "StorageStack")] = {"StackResourceDriftStatus": "NOT_CHECKED"}
    report = run(w)
    root = report.stacks[0]
    assert "StorageStack" not in {r.logical_id for r in root.resources}  # listed as its own stack instead
    assert any(s.path == ("StorageStack",) and s.resources for s in report.stacks)


def test_long_markdown_tables_are_folded():
    w = World("prod")
    for path in (("MonitoringStack",), ("SecurityStack",)):  # 14 + 11 resources the answer leaves out
        w.omit |= {(path, logical) for logical in w.stack(path).resources}
    text = drift.markdown(run(w))
    assert "<details><summary>25 resources to look at</summary>" in text


# --- plan against the local emulator (drift detection itself from the recording) ------------------------------------


def test_plan_with_drift_puts_it_in_the_review_and_its_files(deployed, cli, monkeypatch, tmp_path):
    report = run(readme_world())
    asked = []
    monkeypatch.setattr(drift, "detect", lambda aws, name, *a, **k: asked.append(name) or report)
    result = cli("plan", "--env", "dev", "--drift", "--image-tag", "v2", "--json", str(tmp_path / "p.json"),
                 "--markdown", str(tmp_path / "p.md"))
    assert result.code == 0, result.out + result.err
    assert asked == ["wwhd-dev"]
    assert result.out.index("Drift for wwhd-dev:") < result.out.index("Summary:")
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["drift"]["summary"]["deleted"] == 1 and data["changeSetArn"]
    assert "#### Drift for <code>wwhd-dev</code>" in (tmp_path / "p.md").read_text()

    unchanged = cli("plan", "--env", "dev", "--drift", "--image-tag", "v1", "--json", str(tmp_path / "same.json"))
    assert unchanged.code == 0 and "Drift for wwhd-dev:" in unchanged.out and "No changes" in unchanged.out
    same = json.loads((tmp_path / "same.json").read_text())
    assert same["noChanges"] is True and same["drift"]["checked"] is True


def test_plan_on_dev_checks_no_drift_unless_asked(deployed, cli, monkeypatch, tmp_path):
    monkeypatch.setattr(drift, "detect", lambda *a, **k: pytest.fail("dev is not production: no drift by default"))
    result = cli("plan", "--env", "dev", "--image-tag", "v2", "--json", str(tmp_path / "p.json"))
    assert result.code == 0, result.out + result.err
    assert json.loads((tmp_path / "p.json").read_text())["drift"] is None


def test_unsupported_and_unknown_are_never_in_sync():
    w = World("dev")
    w.drifts[(("ClusterStack",), "Repository")] = {"StackResourceDriftStatus": "UNSUPPORTED"}
    w.drifts[(("ClusterStack",), "LogGroup")] = {"StackResourceDriftStatus": "UNKNOWN",
                                                 "DriftStatusReason": "Internal error reading the resource"}
    report = run(w)
    status = {r.logical_id: r.status for s in report.stacks for r in s.resources if s.path == ("ClusterStack",)}
    assert status == {"Cluster": "IN_SYNC", "Repository": "NOT_CHECKED", "LogGroup": "UNKNOWN"}
    assert report.counts()["unknown"] == 1 and "1 unknown" in drift.summary_text(report)
    assert not report.ok  # exit 1: an unknown result is not "in sync"
