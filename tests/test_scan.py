"""Security scanners: every accepted finding carries a rule id and a reason (pure), and, where checkov and cfripper
are installed (their own virtualenv: README "Security scanners"), they find nothing else in output/.

The scanner tests skip when the scanners are missing, which is the case in CI: .ci/run installs only the project and
its ``test`` extra, and the scanners cannot join that virtualenv (checks/scan.py says why).
"""

from __future__ import annotations

import json
import sys

import pytest
from troposphere import sns

from checks import scan
from templates._common import scan_ignore
from tests.helpers import resources

from .conftest import ROOT


def _all_suppressions(built):
    return [(env, stem, s) for env, ts in built.items() for stem, t in ts.items() for s in scan.suppressions(t)]


def test_every_suppression_names_a_rule_and_gives_a_reason(built):
    found = _all_suppressions(built)
    assert found, "no suppressions found: did the Metadata shape change?"
    bad = [f"{env}/{stem}.{s.resource}: {why}" for env, stem, s in found if (why := scan.malformed(s))]
    assert bad == []


def test_reasons_are_one_line(built):
    assert [s for _, _, s in _all_suppressions(built) if "\n" in s.reason or len(s.reason) > 300] == []


def test_the_deliberate_choices_are_the_suppressed_ones(prod, dev):
    """The documented exceptions (README, module docstrings) are accepted where they are made, and nowhere else."""
    def accepted(t):
        return {(s.resource, s.rule) for s in scan.suppressions(t)}

    assert ("AlarmTopic", "CKV_AWS_26") in accepted(prod["monitoring"])  # CloudWatch cannot use alias/aws/sns
    assert ("FileSystem", "WildcardResourceRule") in accepted(prod["storage"])  # policy Allow to the account root
    assert ("LoadBalancerIngress443", "EC2SecurityGroupIngressOpenToWorldRule") in accepted(prod["security"])
    # prod's port 80 only redirects, so only dev (no domain) accepts a plain-HTTP listener
    assert ("HttpListener", "CKV_AWS_2") in accepted(dev["load_balancer"])
    assert not {r for _, r in accepted(prod["load_balancer"])} & {"CKV_AWS_2", "CKV_AWS_103"}
    # nothing is waved through on the task, its service or the network
    for stem in ("service", "network"):
        assert accepted(dev.get(stem, {})) == set() and accepted(prod.get(stem, {})) == set()


def test_scan_ignore_writes_both_shapes_and_refuses_bad_entries():
    topic = scan_ignore(sns.Topic("Topic"), {"CKV_AWS_26": "why", "WildcardResourceRule": "because"})
    scan_ignore(topic, {"CKV_AWS_1": "and this"})
    meta = topic.to_dict()["Metadata"]
    assert meta["checkov"] == {"skip": [{"id": "CKV_AWS_1", "comment": "and this"},
                                        {"id": "CKV_AWS_26", "comment": "why"}]}
    assert meta["wwhd-infra"] == {"cfripper-allow": [{"id": "WildcardResourceRule", "comment": "because"}]}
    with pytest.raises(ValueError, match="needs a reason"):
        scan_ignore(sns.Topic("T"), {"CKV_AWS_26": " "})
    with pytest.raises(ValueError, match="neither"):
        scan_ignore(sns.Topic("T"), {"ckv_aws_26": "lower case is no checkov id"})


def test_cfripper_filters_are_python_that_names_each_rule_and_resource(prod):
    source = scan.cfripper_filters(prod["security"])
    compile(source, "allow.py", "exec")
    allowed = [s for s in scan.suppressions(prod["security"]) if s.scanner == "cfripper"]
    assert allowed and source.count("Filter(") == len(allowed)
    for s in allowed:
        assert f"rules={{{s.rule!r}}}" in source and f"{s.resource!r}]" in source


def test_cfripper_sees_listeners_without_the_tags_its_parser_refuses(prod):
    listeners = resources(scan.cfripper_view(prod["load_balancer"]), "AWS::ElasticLoadBalancingV2::Listener")
    assert listeners and all("Tags" not in r["Properties"] for r in listeners.values())
    original = resources(prod["load_balancer"], "AWS::ElasticLoadBalancingV2::Listener")
    assert all("Tags" in r["Properties"] for r in original.values())  # the view is a copy


# --- with the scanners installed -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanners():
    try:
        return scan.scanner_bin(ROOT)
    except scan.ScannersMissing as e:
        pytest.skip(f"checkov/cfripper not installed (README, Security scanners): {str(e).splitlines()[-1]}")


def test_scanners_find_nothing_unsuppressed_in_output(scanners):
    findings = scan.scan(ROOT, ["dev", "prod"], scanners)
    assert [str(f) for f in findings] == []


def test_a_suppression_covers_only_its_own_resource(scanners, tmp_path):
    """Drop the accepted findings of one resource per scanner: exactly those come back, and only for that resource."""
    env = tmp_path / "output" / "dev"
    env.mkdir(parents=True)
    security = scan.load(ROOT / "output" / "dev" / "security.yaml")
    del security["Resources"]["FileSystemSecurityGroup"]["Metadata"]
    monitoring = scan.load(ROOT / "output" / "dev" / "monitoring.yaml")
    del monitoring["Resources"]["AlarmTopic"]["Metadata"]
    for name, t in {"security.yaml": security, "monitoring.yaml": monitoring}.items():
        (env / name).write_text(json.dumps(t))  # JSON is YAML
    found = {(f.path, f.resource, f.scanner, f.rule) for f in scan.scan(tmp_path, ["dev"], scanners)}
    assert found == {
        ("output/dev/security.yaml", "FileSystemSecurityGroup", "cfripper", "EC2SecurityGroupMissingEgressRule"),
        ("output/dev/monitoring.yaml", "AlarmTopic", "checkov", "CKV_AWS_26"),
    }


def test_a_filter_never_reaches_a_template_that_did_not_accept_it(scanners, tmp_path):
    """cfripper applies a run's filters to every template of the run: a template that accepts nothing is never in the
    run of one that does, so the same resources, unaccepted, are found there and only there."""
    env = tmp_path / "output" / "dev"
    env.mkdir(parents=True)
    accepting = scan.load(ROOT / "output" / "dev" / "security.yaml")
    bare = json.loads(json.dumps(accepting))
    for r in bare["Resources"].values():
        r.get("Metadata", {}).pop("wwhd-infra", None)
    assert [s for s in scan.suppressions(bare) if s.scanner == "cfripper"] == []
    monitoring = scan.load(ROOT / "output" / "dev" / "monitoring.yaml")  # accepts nothing either: bare's run
    assert scan.cfripper_filters(monitoring) == scan.cfripper_filters(bare) != scan.cfripper_filters(accepting)
    for name, t in {"accepting.yaml": accepting, "bare.yaml": bare, "monitoring.yaml": monitoring}.items():
        (env / name).write_text(json.dumps(t))
    found = scan.run_cfripper(tmp_path, scan.template_files(tmp_path, ["dev"]), scanners)
    accepted = {(s.resource, s.rule) for s in scan.suppressions(accepting) if s.scanner == "cfripper"}
    assert {(f.resource, f.rule) for f in found if f.path == "output/dev/bare.yaml"} == accepted
    assert {f.path for f in found} == {"output/dev/bare.yaml"}


# --- a scanner that fails is a finding, never a pass -----------------------------------------------------------------


def _fake_scanners(tmp_path, cfripper: str):
    """A bin folder whose checkov finds nothing and whose cfripper runs ``cfripper`` (Python, given sys.argv)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"checkov": "print('[]')", "cfripper": cfripper}.items():
        (bin_dir / name).write_text(f"#!{sys.executable}\nimport sys, pathlib\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _two_runs(tmp_path):
    """dev's security (it accepts findings) and monitoring, network (they accept none): two cfripper runs."""
    (tmp_path / "output" / "dev").mkdir(parents=True)
    for stem in ("security", "monitoring", "network"):
        name = f"output/dev/{stem}.yaml"
        (tmp_path / name).write_text((ROOT / name).read_text())
    return ["output/dev/monitoring.yaml", "output/dev/network.yaml", "output/dev/security.yaml"]


def test_a_cfripper_that_crashes_is_a_finding_on_each_template_of_its_run(tmp_path):
    paths = _two_runs(tmp_path)
    crash = "sys.stderr.write('Traceback\\nKeyError: boom\\n'); sys.exit(3)"
    found = scan.scan(tmp_path, ["dev"], _fake_scanners(tmp_path, crash))
    assert [(f.path, f.scanner, f.rule, f.message) for f in found] == [
        (p, "cfripper", scan.SCANNER_ERROR, "exit 3: Traceback | KeyError: boom") for p in paths]


@pytest.mark.parametrize("writes, why", [
    ("", "no readable result (FileNotFoundError)"),
    ("'{not json'", "no readable result (JSONDecodeError)"),
    ("'[1, 2]'", "no readable result (AttributeError)"),
])
def test_a_result_cfripper_did_not_write_or_that_is_not_its_shape_is_a_finding(tmp_path, writes, why):
    """cfripper exits 0 or 2 but the result file of a template is missing or not cfripper's JSON object."""
    paths = _two_runs(tmp_path)
    write = f"(out / (name + '.cfripper.results.json')).write_text({writes})" if writes else "pass"
    body = ("out = pathlib.Path(sys.argv[sys.argv.index('--output-folder') + 1])\n"
            "for name in sys.argv[1:sys.argv.index('--format')]:\n"
            f"    {write}\n"
            "sys.exit(2)")
    found = scan.scan(tmp_path, ["dev"], _fake_scanners(tmp_path, body))
    assert [(f.path, f.rule, f.message) for f in found] == [(p, scan.SCANNER_ERROR, why) for p in paths]
