"""The cost estimate is read from the templates: change a template and the right line changes, by the price table's
numbers. Expectations are computed here from checks/prices.py and the template dicts, never copied from the output."""

from __future__ import annotations

import copy
import datetime
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks import prices as P
from checks.cost import delta, estimate, table
from tests.helpers import only, props, resources

ROOT = Path(__file__).resolve().parent.parent
H = P.HOURS_PER_MONTH


def price(key: str) -> float:
    return P.PRICES[key].usd


def monthly(est, service: str, what: str) -> float:
    item = est.item(service, what)
    assert item is not None, f"no line {service} / {what}: {[i.key for i in est.items]}"
    return item.monthly


def quantity(est, service: str, what: str) -> float:
    return est.item(service, what).quantity


def set_desired_count(built: dict, n: int) -> dict:
    changed = copy.deepcopy(built)
    changed["root"]["Parameters"]["DesiredCount"]["Default"] = str(n)
    return changed


# ---------------------------------------------------------------------------------------------------------------
# The price table


def test_price_table_is_dated_cited_and_marks_what_is_assumed():
    datetime.date.fromisoformat(P.READ_ON)
    assert P.REGION == "us-west-2" and P.REGION_FACTORS[P.REGION] == 1.0
    for key, p in P.PRICES.items():
        assert p.usd > 0 and p.unit and p.source.count("http") + p.source.count(".com") >= 1, key
        assert not p.note or p.note.startswith("assumed:") or "third-party" in p.note or "first" in p.note, key
    assert P.PRICES["public_ipv4_hour"].usd == 0.005 and not P.PRICES["public_ipv4_hour"].assumed
    assert P.PRICES["alb_lcu_hour"].assumed


# ---------------------------------------------------------------------------------------------------------------
# Quantities from the templates


def test_prod_fargate_is_the_task_size_times_the_desired_count(prod):
    td = props(only(prod["service"], "AWS::ECS::TaskDefinition"))
    vcpu, gb = int(td["Cpu"]) / 1024, int(td["Memory"]) / 1024
    tasks = int(prod["root"]["Parameters"]["DesiredCount"]["Default"])
    est = estimate(prod)
    assert quantity(est, "Fargate", "vCPU-hours (X86_64)") == tasks * vcpu * H == 730
    assert quantity(est, "Fargate", "GB-hours (X86_64)") == tasks * gb * H == 2 * 730
    assert monthly(est, "Fargate", "vCPU-hours (X86_64)") == pytest.approx(730 * price("fargate_vcpu_x86_64"))
    assert monthly(est, "Fargate", "GB-hours (X86_64)") == pytest.approx(2 * 730 * price("fargate_gb_x86_64"))


def test_a_bigger_task_costs_proportionally_more(prod):
    bigger = copy.deepcopy(prod)
    td = props(only(bigger["service"], "AWS::ECS::TaskDefinition"))
    td["Cpu"], td["Memory"] = "2048", "8192"
    before, after = estimate(prod), estimate(bigger)
    cpu, mem = ("Fargate", "vCPU-hours (X86_64)"), ("Fargate", "GB-hours (X86_64)")
    assert monthly(after, *cpu) == pytest.approx(2 * monthly(before, *cpu))
    assert monthly(after, *mem) == pytest.approx(4 * monthly(before, *mem))
    assert {c.key for c in delta(before, after).changes} == {cpu, mem}


def test_desired_count_zero_stops_what_a_running_task_costs(prod):
    stopped = estimate(set_desired_count(prod, 0))
    running = estimate(prod)
    assert monthly(stopped, "Fargate", "vCPU-hours (X86_64)") == 0 == monthly(stopped, "Fargate", "GB-hours (X86_64)")
    assert monthly(stopped, "CloudWatch", "Container Insights metrics") == 0
    assert monthly(stopped, "CloudWatch Logs", "ingestion") == 0
    # the task's public IPv4 address goes, the ALB's stay
    ipv4 = ("Public IPv4", "address-hours")
    assert monthly(running, *ipv4) - monthly(stopped, *ipv4) == pytest.approx(H * price("public_ipv4_hour"))
    # what does not depend on the task stays
    for key in [("Load balancer", "ALB-hours"), ("EFS", "Standard storage"), ("CloudWatch", "alarm metrics"),
                ("Secrets Manager", "secrets"), ("AWS Backup", "EFS warm storage")]:
        assert stopped.item(*key) == running.item(*key), key


def test_dev_starts_stopped_and_starting_it_adds_the_task(dev):
    est = estimate(dev)
    assert dev["root"]["Parameters"]["DesiredCount"]["Default"] == "0"
    assert monthly(est, "Fargate", "vCPU-hours (X86_64)") == 0
    started = estimate(set_desired_count(dev, 1))
    fargate = 730 * price("fargate_vcpu_x86_64") + 2 * 730 * price("fargate_gb_x86_64")
    assert (monthly(started, "Fargate", "vCPU-hours (X86_64)") + monthly(started, "Fargate", "GB-hours (X86_64)")
            == pytest.approx(fargate))
    # one more public address (the task's) and the Container Insights metrics of one cluster, service and task family
    assert monthly(started, "Public IPv4", "address-hours") == pytest.approx((2 + 1) * H * price("public_ipv4_hour"))
    assert quantity(started, "CloudWatch", "Container Insights metrics") == 10 + 13 + 8


def test_arm64_uses_the_arm_price(prod):
    arm = copy.deepcopy(prod)
    props(only(arm["service"], "AWS::ECS::TaskDefinition"))["RuntimePlatform"]["CpuArchitecture"] = "ARM64"
    before, after = estimate(prod), estimate(arm)
    assert after.item("Fargate", "vCPU-hours (X86_64)") is None
    assert monthly(after, "Fargate", "vCPU-hours (ARM64)") == pytest.approx(730 * price("fargate_vcpu_arm64"))
    assert monthly(after, "Fargate", "GB-hours (ARM64)") == pytest.approx(2 * 730 * price("fargate_gb_arm64"))
    d = delta(before, after)
    assert {c.key for c in d.changes} == {("Fargate", f"{x}-hours ({a})") for x in ("vCPU", "GB")
                                          for a in ("X86_64", "ARM64")}
    cpu = price("fargate_vcpu_arm64") - price("fargate_vcpu_x86_64")
    mem = price("fargate_gb_arm64") - price("fargate_gb_x86_64")
    assert d.diff == pytest.approx(730 * cpu + 2 * 730 * mem)


def test_load_balancer_and_its_public_addresses_come_from_the_alb(prod):
    lb = props(only(prod["load_balancer"], "AWS::ElasticLoadBalancingV2::LoadBalancer"))
    subnets = len(lb["Subnets"])
    est = estimate(prod)
    assert monthly(est, "Load balancer", "ALB-hours") == pytest.approx(H * price("alb_hour"))
    assert monthly(est, "Load balancer", "LCU-hours") == pytest.approx(H * price("alb_lcu_hour"))  # 1 LCU assumed
    assert monthly(estimate(prod, alb_lcu=0.5), "Load balancer",
                   "LCU-hours") == pytest.approx(H * price("alb_lcu_hour") / 2)
    assert quantity(est, "Public IPv4", "address-hours") == (subnets + 1) * H == 4 * H
    without = copy.deepcopy(prod)
    del without["load_balancer"]["Resources"]["LoadBalancer"]
    gone = estimate(without)
    assert gone.item("Load balancer", "ALB-hours") is None and gone.item("Load balancer", "LCU-hours") is None
    assert quantity(gone, "Public IPv4", "address-hours") == 1 * H  # the task's only


def test_dev_alb_subnets_are_followed_through_the_root_to_the_network_stack(dev):
    assert (props(only(dev["load_balancer"], "AWS::ElasticLoadBalancingV2::LoadBalancer"))["Subnets"]
            == {"Ref": "SubnetIds"})
    assert quantity(estimate(dev), "Public IPv4", "address-hours") == 2 * H  # two subnets, no running task
    three = copy.deepcopy(dev)
    three["network"]["Outputs"]["SubnetIds"]["Value"]["Fn::Join"][1].append({"Ref": "PublicSubnetC"})
    assert quantity(estimate(three), "Public IPv4", "address-hours") == 3 * H


def test_alarms_pay_per_metric_they_reference(prod):
    alarms = resources(prod["monitoring"], "AWS::CloudWatch::Alarm")
    by_hand = sum(sum(1 for m in props(a)["Metrics"] if "MetricStat" in m) if "Metrics" in props(a) else 1
                  for a in alarms.values())
    assert len(alarms) == 10 and by_hand == 12  # 8 single-metric alarms, 2 metric math alarms on 2 metrics each
    est = estimate(prod)
    assert quantity(est, "CloudWatch", "alarm metrics") == by_hand
    assert monthly(est, "CloudWatch", "alarm metrics") == pytest.approx(by_hand * price("cw_alarm_metric"))
    more = copy.deepcopy(prod)
    math_alarm = copy.deepcopy(alarms["TasksBelowDesiredAlarm"])
    math_alarm["Properties"]["Metrics"].insert(0,
                                               copy.deepcopy(math_alarm["Properties"]["Metrics"][0]) | {"Id": "extra"})
    more["monitoring"]["Resources"]["ThirdMetricAlarm"] = math_alarm  # 3 metrics and 1 expression
    d = delta(est, estimate(more))
    assert ([c.key for c in d.changes] == [("CloudWatch", "alarm metrics")]
            and d.diff == pytest.approx(3 * price("cw_alarm_metric")))


def test_dashboards_and_the_free_tier(prod):
    assert monthly(estimate(prod), "CloudWatch", "dashboards") == pytest.approx(price("cw_dashboard"))
    free = estimate(prod, free_tier=True)
    assert monthly(free, "CloudWatch", "dashboards") == 0  # the first 3 per account
    assert monthly(free, "CloudWatch", "alarm metrics") == pytest.approx((12 - 10) * price("cw_alarm_metric"))
    assert free.total < estimate(prod).total


def test_secrets_count_generated_and_referenced_once_each(prod, dev):
    # prod: both are the seed's existing secrets the task reads (no secrets stack)
    assert "secrets" not in prod
    assert quantity(estimate(prod), "Secrets Manager", "secrets") == 2
    # dev: both generated, and the task reads them through the root's wiring: still two, not four
    assert len(resources(dev["secrets"], "AWS::SecretsManager::Secret")) == 2
    assert monthly(estimate(dev), "Secrets Manager", "secrets") == pytest.approx(2 * price("secret_month"))


def test_efs_and_backups_follow_the_assumed_size_and_the_template_retention(prod, dev):
    est = estimate(prod)
    assert monthly(est, "EFS", "Standard storage") == pytest.approx(10 * price("efs_standard_gb"))  # the seed's 10 GB
    assert monthly(estimate(prod, efs_data_gb=20), "EFS",
                   "Standard storage") == pytest.approx(20 * price("efs_standard_gb"))
    split = estimate(prod, efs_ia_share=0.5)
    assert monthly(split, "EFS", "Standard storage") == pytest.approx(5 * price("efs_standard_gb"))
    # bursting throughput: the IA price of the legacy throughput modes
    assert monthly(split, "EFS", "Infrequent Access storage") == pytest.approx(5 * price("efs_ia_gb_legacy"))
    for built in (prod, dev):
        rule = props(only(built["storage"], "AWS::Backup::BackupPlan"))["BackupPlan"]["BackupPlanRule"][0]
        days = rule["Lifecycle"]["DeleteAfterDays"]  # 10 GB full copy + 0.1 GB a day kept that many days
        expected = (10 + 0.1 * days) * price("backup_efs_warm_gb")
        assert monthly(estimate(built), "AWS Backup", "EFS warm storage") == pytest.approx(expected)
    assert days == 7  # dev keeps a week, prod 35 days


def test_elastic_throughput_bills_io_and_uses_the_elastic_ia_price(prod):
    elastic = copy.deepcopy(prod)
    props(only(elastic["storage"], "AWS::EFS::FileSystem"))["ThroughputMode"] = "elastic"
    est = estimate(elastic, efs_ia_share=0.5, efs_elastic_read_gb=10, efs_elastic_write_gb=2)
    assert est.item("EFS", "Infrequent Access storage").unit_price == price("efs_ia_gb_elastic")
    assert monthly(est, "EFS", "elastic throughput reads") == pytest.approx(10 * price("efs_elastic_read_gb"))
    assert monthly(est, "EFS", "elastic throughput writes") == pytest.approx(2 * price("efs_elastic_write_gb"))


def test_a_nat_gateway_would_show(dev):
    assert estimate(dev).item("VPC", "NAT gateway-hours") is None
    with_nat = copy.deepcopy(dev)
    with_nat["network"]["Resources"]["NatGatewayA"] = {"Type": "AWS::EC2::NatGateway", "Properties": {}}
    with_nat["network"]["Resources"]["NatAddressA"] = {"Type": "AWS::EC2::EIP", "Properties": {}}
    d = delta(estimate(dev), estimate(with_nat))
    assert {c.key for c in d.changes} == {("VPC", "NAT gateway-hours"), ("Public IPv4", "address-hours")}
    assert d.diff == pytest.approx(H * price("nat_gateway_hour") + H * price("public_ipv4_hour"))


def test_prod_covers_the_seed_and_what_it_left_out(prod):
    est = estimate(prod)
    seed_items = {  # the seed's "Cost impact": Fargate ~40, EFS ~3, ALB ~25 USD/month
        "Fargate": 40, "EFS": 3, "Load balancer": 25}
    for service, seed in seed_items.items():
        ours = sum(i.monthly for i in est.items if i.service == service)
        assert abs(ours - seed) / seed < 0.15, (service, ours)
    uncounted = {i.service for i in est.items if i.service not in seed_items and i.monthly > 0}
    assert {"Public IPv4", "CloudWatch", "Secrets Manager", "AWS Backup"} <= uncounted
    assert est.total == pytest.approx(sum(i.monthly for i in est.items))


# ---------------------------------------------------------------------------------------------------------------
# Regions, output, delta


def test_unknown_region_is_estimated_at_us_west_2_prices_with_a_warning(prod):
    home, away = estimate(prod), estimate(prod, "eu-west-1")
    assert away.total == pytest.approx(home.total)
    assert any("no price table for eu-west-1" in n for n in away.notes)
    assert not any("WARNING" in n for n in home.notes)
    assert estimate(prod, "eu-west-1", region_factor=1.1).total == pytest.approx(1.1 * home.total)


def test_table_is_deterministic_and_ends_with_the_total_and_notes(prod):
    text = table(estimate(prod, env="prod"))
    assert text == table(estimate(copy.deepcopy(prod), env="prod"))
    total = f"{estimate(prod).total:,.2f}"
    assert text.startswith(f"prod (us-west-2): about {total} USD a month\n")
    assert any(line.startswith("total") and line.rstrip().endswith(total) for line in text.splitlines())
    assert "assumed: 10 GB on each EFS file system" in text and "read " + P.READ_ON in text
    assert ("Route 53: 1 alias record to the ALB, queries free" in text
            and "ACM: 1 public certificate, no charge" in text)


def test_delta_reports_exactly_the_changed_items(prod):
    before = estimate(prod)
    assert delta(before, estimate(copy.deepcopy(prod))).changes == ()
    assert str(delta(before, before)) == "no change in the estimated cost\n"
    wider = copy.deepcopy(prod)
    props(only(wider["load_balancer"],
               "AWS::ElasticLoadBalancingV2::LoadBalancer"))["Subnets"].append("subnet-0123abcd")
    d = delta(before, estimate(wider))
    assert [c.key for c in d.changes] == [("Public IPv4", "address-hours")]
    assert d.diff == pytest.approx(H * price("public_ipv4_hour")) == pytest.approx(estimate(wider).total - before.total)
    assert str(d).startswith(f"{H * price('public_ipv4_hour'):+.2f} USD/month")  # +3.65
    assert "3 ALB subnets + 1 task = 4 addresses" in str(d) and "4 ALB subnets + 1 task = 5 addresses" in str(d)
    stopped = delta(before, estimate(set_desired_count(prod, 0)))
    assert {c.key for c in stopped.changes} == {
        ("Fargate", "vCPU-hours (X86_64)"), ("Fargate", "GB-hours (X86_64)"), ("Public IPv4", "address-hours"),
        ("CloudWatch", "Container Insights metrics"), ("CloudWatch", "Container Insights performance logs"),
        ("CloudWatch Logs", "ingestion"), ("CloudWatch Logs", "storage")}
    assert all(c.diff < 0 for c in stopped.changes)
    removed = copy.deepcopy(prod)
    del removed["monitoring"]["Resources"]["Dashboard"]
    d = delta(before, estimate(removed))
    assert len(d.changes) == 1 and d.changes[0].after is None and d.diff == pytest.approx(-price("cw_dashboard"))
    assert str(d.changes[0]).endswith("CloudWatch dashboards: removed (1 dashboard (the first 3 per account are free: "
                                      "not deducted))")


# ---------------------------------------------------------------------------------------------------------------
# CLI


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "generate.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_cli_prints_the_estimate_of_each_selected_environment_and_writes_nothing(tmp_path, prod, dev):
    shutil.copytree(ROOT / "params", tmp_path / "params")
    r = run(tmp_path, "cost", "--env", "prod")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"prod (us-west-2): about {estimate(prod).total:,.2f} USD a month\n")
    assert "\ndev (" not in r.stdout and not (tmp_path / "output").exists()
    both = run(tmp_path, "cost")
    assert both.returncode == 0, both.stderr
    assert f"dev (us-west-2): about {estimate(dev).total:,.2f} USD a month" in both.stdout
    assert both.stdout.count("\ntotal ") == 2


def test_cli_cost_of_an_unknown_environment_exits_2():
    r = run(ROOT, "cost", "--env", "staging")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no such environment 'staging'" in r.stderr


def test_prod_alb_access_logs_cost_their_steady_state_storage(prod, dev):
    """Logs written a month x the months the bucket's lifecycle keeps them, at the S3 Standard price."""
    line = estimate(prod).item("S3", "ALB access logs (LoadBalancer)")
    days = prod["load_balancer"]["Resources"]["AccessLogsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0][
        "ExpirationInDays"]
    assert line.quantity == pytest.approx(days / P.DAYS_PER_MONTH)
    assert line.monthly == pytest.approx(days / P.DAYS_PER_MONTH * P.price("s3_standard_gb"))
    doubled = estimate(prod, alb_access_log_gb=2.0).item("S3", "ALB access logs (LoadBalancer)")
    assert doubled.monthly == pytest.approx(2 * line.monthly)
    assert estimate(dev).item("S3", "ALB access logs (LoadBalancer)") is None
