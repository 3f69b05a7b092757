"""Offline monthly cost estimate of one environment, read from its rendered templates, and the delta between two.

Like the guardrails and the diagram, the estimate reads an environment's templates as plain dicts
(``{stem: template}``), so it prices exactly what CloudFormation would create: the task size, architecture and public
IP from the task definition and service; the running task count from the root's ``DesiredCount`` default (followed
through the root's wiring, as CloudFormation would pass it); the ALB's subnets; the alarms and the metrics they
reference; the secrets the task reads; the EFS throughput mode and lifecycle; the backup retention; the log
retention. Prices come from ``checks/prices.py`` (dated, cited, us-west-2). What no template can say, how much data
is stored, how much is logged, how busy the load balancer is, is an explicit keyword argument of :func:`estimate`
whose value is written in the line's basis and in the report's footer.

Each :class:`LineItem` is keyed by ``(service, what)``, so :func:`delta` can compare two renderings line by line: the
change-set review can then say "+3.65 USD/month: Public IPv4 address-hours: 3 ALB subnets + 1 task = 4 addresses
x 730 h -> 3 ALB subnets + 2 tasks = 5 addresses x 730 h". Account-wide free tiers are not deducted unless asked
(``free_tier=True``): they are shared with whatever else runs in the account, and the AWS Pricing Calculator leaves
them out too.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from checks import prices as P
from templates import ROOT
from templates._common import stack_id

from .template_walk import Templates

HOURS = P.HOURS_PER_MONTH

# Container Insights (standard) custom metrics per dimension set, counted from the documented ECS metric table
# (checks/prices.CW_INSIGHTS): 8 task metrics (CPU/memory utilized and reserved, network rx/tx, storage read/write)
# for each of ClusterName, ClusterName+ServiceName and ClusterName+TaskDefinitionFamily; ServiceCount and TaskCount per
# cluster (ContainerInstanceCount is EC2-only); 5 service metrics (deployment, desired, pending, running, task set).
INSIGHTS_METRICS = {"cluster": 8 + 2, "service": 8 + 5, "task family": 8}
# Resource types that cost nothing themselves (their usage is priced elsewhere or free), named in the notes.
NO_CHARGE = {
    "AWS::EC2::VPC": "VPC", "AWS::EC2::Subnet": "subnets", "AWS::EC2::InternetGateway": "internet gateway",
    "AWS::EC2::RouteTable": "route tables", "AWS::EC2::SecurityGroup": "security groups",
    "AWS::IAM::Role": "IAM roles", "AWS::IAM::ManagedPolicy": "IAM policies",
    "AWS::IAM::OIDCProvider": "IAM OIDC provider", "AWS::EFS::MountTarget": "EFS mount targets",
    "AWS::EFS::AccessPoint": "EFS access points", "AWS::Backup::BackupPlan": "backup plan",
    "AWS::Backup::BackupVault": "backup vault (AWS managed key)", "AWS::ECS::Cluster": "ECS cluster",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "target group", "AWS::ElasticLoadBalancingV2::Listener": "listeners",
    "AWS::SNS::Topic": "SNS topic (first 1,000 e-mail notifications a month free)",
}
NOT_ESTIMATED = ("data transfer out to the internet (first 100 GB a month per account free, then about 0.09 USD/GB), "
                 "API requests (Secrets Manager reads at task start, CloudWatch GetMetricData from the dashboard), "
                 "Logs Insights queries, EFS restores")


@dataclass(frozen=True)
class LineItem:
    service: str
    what: str
    quantity: float
    unit: str
    unit_price: float
    basis: str = ""
    free: float = 0.0  # quantity not charged (a free tier, when deducted)
    assumed_price: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.service, self.what

    @property
    def monthly(self) -> float:
        return max(0.0, self.quantity - self.free) * self.unit_price


@dataclass(frozen=True)
class Estimate:
    env: str
    region: str
    items: tuple[LineItem, ...]
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(i.monthly for i in self.items)

    def item(self, service: str, what: str) -> LineItem | None:
        return next((i for i in self.items if i.key == (service, what)), None)

    def __str__(self) -> str:
        return table(self)


# ---------------------------------------------------------------------------------------------------------------
# Reading the templates


def _props(r: dict) -> dict:
    return r.get("Properties", {})


class _Reader:
    """The templates of one environment, with the root's wiring followed the way CloudFormation passes values."""

    def __init__(self, built: Templates):
        self.built = built
        self.stems = {stack_id(stem): stem for stem in built if stem != ROOT}

    def resources(self, type_: str) -> Iterator[tuple[str, str, dict]]:
        for stem, t in self.built.items():
            for rid, r in t.get("Resources", {}).items():
                if r["Type"] == type_:
                    yield stem, rid, r

    def count(self, type_: str) -> int:
        return sum(1 for _ in self.resources(type_))

    def resolve(self, stem: str, value) -> tuple[str, Any]:
        """Follow ``Ref`` to a child parameter through the root to the producer's output value (in the producer's
        stem) or to the root parameter's default. Anything else (a resource ``Ref``, a literal) is returned as is."""
        for _ in range(len(self.built) + 2):
            if isinstance(value, dict) and list(value) == ["Ref"]:
                name = value["Ref"]
                params = self.built[stem].get("Parameters", {})
                if name not in params:
                    return stem, value
                if stem != ROOT:
                    stack = self.built.get(ROOT, {}).get("Resources", {}).get(stack_id(stem), {})
                    wired = _props(stack).get("Parameters", {}).get(name)
                    if wired is not None:
                        stem, value = ROOT, wired
                        continue
                return stem, params[name].get("Default")
            if isinstance(value, dict) and list(value) == ["Fn::GetAtt"] and stem == ROOT:
                arg = value["Fn::GetAtt"]
                target, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                producer = self.stems.get(target)
                if producer is not None and attr.startswith("Outputs."):
                    stem, value = producer, self.built[producer]["Outputs"][attr.removeprefix("Outputs.")]["Value"]
                    continue
            return stem, value
        raise ValueError(f"{stem}: the wiring of {value!r} does not end")

    def number(self, stem: str, value, what: str) -> float:
        where, v = self.resolve(stem, value)
        try:
            return float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {what} is {v!r}; the estimate needs a number fixed in the templates") from None

    def items(self, stem: str, value, what: str) -> list:
        """The elements of a list that may cross stacks as a comma-joined string (``Fn::Join``)."""
        where, v = self.resolve(stem, value)
        if isinstance(v, list):
            return v
        if isinstance(v, dict) and "Fn::Join" in v and isinstance(v["Fn::Join"][1], list):
            return v["Fn::Join"][1]
        if isinstance(v, str):
            return v.split(",")
        raise ValueError(f"{where}: cannot count the {what} in {v!r}")

    def resource(self, stem: str, value) -> tuple[str, str, dict] | None:
        """The resource a (wired) ``Ref`` ends at, or None."""
        where, v = self.resolve(stem, value)
        if isinstance(v, dict) and list(v) == ["Ref"] and v["Ref"] in self.built[where].get("Resources", {}):
            return where, v["Ref"], self.built[where]["Resources"][v["Ref"]]
        return None


def _text(value) -> str:
    """A string value, or the template of an ``Fn::Sub`` (enough to read names out of ARNs and image URIs)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class _Service:
    stem: str
    rid: str
    cluster: tuple[str, str] | None
    tasks: int
    vcpu: float
    gb: float
    arch: str
    public_ip: bool
    family: str
    task_definition: dict


def _services(r: _Reader) -> list[_Service]:
    out = []
    for stem, rid, svc in r.resources("AWS::ECS::Service"):
        p = _props(svc)
        found = r.resource(stem, p["TaskDefinition"])
        if found is None:
            raise ValueError(f"{stem}.{rid}: TaskDefinition is not a task definition in these templates")
        td_stem, td_id, td = found
        tp = _props(td)
        cluster = r.resource(stem, p["Cluster"]) if "Cluster" in p else None
        net = p.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        out.append(_Service(
            stem=stem, rid=rid, cluster=cluster[:2] if cluster else None,
            tasks=int(r.number(stem, p.get("DesiredCount", 1), f"{rid}.DesiredCount")),
            vcpu=r.number(td_stem, tp["Cpu"], f"{td_id}.Cpu") / 1024,
            gb=r.number(td_stem, tp["Memory"], f"{td_id}.Memory") / 1024,
            arch=tp.get("RuntimePlatform", {}).get("CpuArchitecture", "X86_64"),
            public_ip=net.get("AssignPublicIp") == "ENABLED",
            family=str(tp.get("Family", td_id)), task_definition=tp,
        ))
    return out


def _n(count: float, noun: str) -> str:
    """``1 task``, ``0 tasks``, ``3 ALB subnets``, ``2 addresses``, ``2 task families``."""
    if count != 1:
        noun = (noun[:-1] + "ies" if noun.endswith("y") and noun[-2] not in "aeiou"
                else noun + "es" if noun.endswith("s") else noun + "s")
    return f"{count:g} {noun}"


# ---------------------------------------------------------------------------------------------------------------
# The estimate


class _Lines:
    """Line items, merged by (service, what): two task definitions of one architecture are one Fargate line."""

    def __init__(self, factor: float):
        self.factor = factor
        self.lines: dict[tuple[str, str], LineItem] = {}

    def add(self, service: str, what: str, quantity: float, price_key: str, basis: str, free: float = 0.0) -> None:
        p = P.PRICES[price_key]
        key = (service, what)
        if key in self.lines:
            old = self.lines[key]
            self.lines[key] = LineItem(service, what, old.quantity + quantity, old.unit, old.unit_price,
                                       f"{old.basis}; {basis}", max(old.free, free), old.assumed_price)
        else:
            self.lines[key] = LineItem(service, what, quantity, p.unit, p.usd * self.factor, basis, free, p.assumed)


def estimate(templates: Templates, region: str = P.REGION, env: str = "", *, efs_data_gb: float = 10.0,
             efs_ia_share: float = 0.0, efs_elastic_read_gb: float = 10.0, efs_elastic_write_gb: float = 2.0,
             backup_daily_change_gb: float = 0.1, alb_lcu: float = 1.0, logs_gb_per_task: float = 1.0,
             insights_logs_gb_per_task: float = 0.2, ecr_gb_per_repository: float = 2.0, free_tier: bool = False,
             alb_access_log_gb: float = 1.0,
             region_factor: float | None = None) -> Estimate:
    """Monthly USD estimate of one environment's ``{stem: template dict}``.

    Assumptions (keyword arguments, each written into the lines it affects):
    ``efs_data_gb`` data on each EFS file system (the seed's 10 GB); ``efs_ia_share`` the part of it lifecycle
    management keeps in Infrequent Access (0: all hot, an upper bound); ``efs_elastic_read_gb``/``_write_gb`` monthly
    I/O, only in elastic throughput mode; ``backup_daily_change_gb`` what each daily incremental backup adds;
    ``alb_lcu`` average load balancer capacity units (1 covers up to 1 GB/h processed or 25 new connections/s);
    ``logs_gb_per_task`` app and Qdrant logs per running task-month; ``insights_logs_gb_per_task`` Container Insights
    performance log events per running task-month; ``ecr_gb_per_repository`` image layers kept per repository;
    ``alb_access_log_gb`` ALB access logs written a month (kept as long as the bucket's lifecycle says);
    ``free_tier`` deduct the account-wide always-free CloudWatch allowances; ``region_factor`` scale for a region the
    table does not know (else that region is estimated at us-west-2 prices, with a warning).
    """
    r = _Reader(templates)
    notes: list[str] = []
    factor = P.REGION_FACTORS.get(region)
    if region_factor is not None:
        factor = region_factor
        notes.append(f"prices: {P.REGION} list prices x {region_factor:g} for {region} (factor given by the caller)")
    elif factor is None:
        factor = 1.0
        notes.append(f"WARNING: no price table for {region}; {P.REGION} prices shown unscaled (pass region_factor)")
    lines = _Lines(factor)
    services = _services(r)

    _fargate(lines, services)
    _load_balancers(lines, r, alb_lcu, notes)
    _public_ipv4(lines, r, services, notes)
    _efs(lines, r, efs_data_gb, efs_ia_share, efs_elastic_read_gb, efs_elastic_write_gb)
    _backups(lines, r, efs_data_gb, backup_daily_change_gb, notes)
    _alarms(lines, r, free_tier)
    _dashboards(lines, r, free_tier)
    _container_insights(lines, r, services, insights_logs_gb_per_task, free_tier, notes)
    _logs(lines, r, services, logs_gb_per_task, free_tier, notes)
    _secrets(lines, r, services)
    _ecr(lines, r, services, ecr_gb_per_repository)
    _access_logs(lines, r, alb_access_log_gb)
    _network_extras(lines, r, notes)

    notes.append(
        f"assumed: {efs_data_gb:g} GB on each EFS file system ({efs_ia_share:.0%} in Infrequent Access), "
        f"{backup_daily_change_gb:g} GB changed a day, {alb_lcu:g} LCU on each ALB, "
        f"{logs_gb_per_task:g} GB of app logs "
        f"and {insights_logs_gb_per_task:g} GB of Container Insights logs per running task-month, "
        f"{ecr_gb_per_repository:g} GB per ECR repository; 730 hours a month"
        + (f"; elastic EFS I/O {efs_elastic_read_gb:g} GB read and {efs_elastic_write_gb:g} GB written a month"
           if any(_props(fs).get("ThroughputMode") == "elastic" for *_, fs in r.resources("AWS::EFS::FileSystem"))
           else ""))
    notes.append("free tiers: " + ("CloudWatch's always-free allowances deducted (10 alarm metrics, 3 dashboards, "
                                   "10 custom metrics, 5 GB of logs; account-wide)" if free_tier else
                                   "not deducted (account-wide; CloudWatch gives 10 alarm metrics, 3 dashboards, 10 "
                                   "custom metrics and 5 GB of logs a month free)"))
    free = sorted({label for t, label in NO_CHARGE.items() if r.count(t)}, key=str.lower)
    if free:
        notes.append("no charge: " + ", ".join(free))
    notes.append(f"not estimated: {NOT_ESTIMATED}")
    notes.append(f"prices: checks/prices.py, {P.REGION} list prices read {P.READ_ON}; * = assumed (not confirmed for "
                 f"{P.REGION})")
    return Estimate(env, region, tuple(lines.lines.values()), tuple(notes))


def _fargate(lines: _Lines, services: list[_Service]) -> None:
    for s in services:
        arch = s.arch.lower()
        lines.add("Fargate", f"vCPU-hours ({s.arch})", s.tasks * s.vcpu * HOURS, f"fargate_vcpu_{arch}",
                  f"{_n(s.tasks, 'task')} x {s.vcpu:g} vCPU x {HOURS} h ({s.family})")
        lines.add("Fargate", f"GB-hours ({s.arch})", s.tasks * s.gb * HOURS, f"fargate_gb_{arch}",
                  f"{_n(s.tasks, 'task')} x {s.gb:g} GB x {HOURS} h ({s.family})")


def _load_balancers(lines: _Lines, r: _Reader, lcu: float, notes: list[str]) -> None:
    for stem, rid, lb in r.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        if _props(lb).get("Type", "application") != "application":
            notes.append(f"not estimated: {stem}.{rid} is a {_props(lb)['Type']} load balancer")
            continue
        lines.add("Load balancer", "ALB-hours", HOURS, "alb_hour", f"1 ALB x {HOURS} h ({rid})")
        lines.add("Load balancer", "LCU-hours", lcu * HOURS, "alb_lcu_hour",
                  f"assumed {lcu:g} LCU x {HOURS} h (low traffic: up to 1 GB/h or 25 new connections/s per LCU)")


def _public_ipv4(lines: _Lines, r: _Reader, services: list[_Service], notes: list[str]) -> None:
    parts = []
    for stem, _rid, lb in r.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        p = _props(lb)
        if p.get("Scheme") != "internet-facing" or p.get("IpAddressType") == "dualstack-without-public-ipv4":
            continue
        subnets = len(p["SubnetMappings"]) if "SubnetMappings" in p else len(r.items(stem, p["Subnets"], "subnets"))
        parts.append((subnets, "ALB subnet"))
    if parts:
        notes.append("Public IPv4: an internet-facing ALB holds one address per subnet at low traffic (more nodes, "
                     "and addresses, under load)")
    tasks = sum(s.tasks for s in services if s.public_ip)
    if any(s.public_ip for s in services):
        parts.append((tasks, "task"))
    eips = r.count("AWS::EC2::EIP")
    if eips:
        parts.append((eips, "Elastic IP"))
    if parts:
        addresses = sum(n for n, _ in parts)
        lines.add("Public IPv4", "address-hours", addresses * HOURS, "public_ipv4_hour",
                  " + ".join(_n(n, noun) for n, noun in parts) + f" = {_n(addresses, 'address')} x {HOURS} h")


def _efs(lines: _Lines, r: _Reader, gb: float, ia_share: float, read_gb: float, write_gb: float) -> None:
    for stem, rid, fs in r.resources("AWS::EFS::FileSystem"):
        p = _props(fs)
        mode = p.get("ThroughputMode", "bursting")
        to_ia = next((x["TransitionToIA"] for x in p.get("LifecyclePolicies", []) if "TransitionToIA" in x), None)
        ia = gb * ia_share if to_ia else 0.0
        lines.add("EFS", "Standard storage", gb - ia, "efs_standard_gb",
                  f"assumed {gb:g} GB" + (f", {1 - ia_share:.0%} of it hot" if to_ia else "") + f" ({rid}, {mode})")
        if to_ia:
            ia_price = "efs_ia_gb_elastic" if mode == "elastic" else "efs_ia_gb_legacy"
            lines.add("EFS", "Infrequent Access storage", ia, ia_price,
                      f"assumed {ia_share:.0%} of {gb:g} GB ({to_ia.lower().replace('_', ' ')})")
        if mode == "elastic":
            lines.add("EFS", "elastic throughput reads", read_gb, "efs_elastic_read_gb", f"assumed {read_gb:g} GB read")
            lines.add("EFS", "elastic throughput writes", write_gb, "efs_elastic_write_gb",
                      f"assumed {write_gb:g} GB written")
        if mode == "provisioned":
            mibps = r.number(stem, p["ProvisionedThroughputInMibps"], f"{rid}.ProvisionedThroughputInMibps")
            baseline = (gb - ia) * 50 / 1024  # 50 KiB/s per GiB of Standard storage is included
            lines.add("EFS", "provisioned throughput", max(0.0, mibps - baseline), "efs_provisioned_mibps",
                      f"{mibps:g} MiB/s provisioned less {baseline:.2f} MiB/s included with the storage")


def _backups(lines: _Lines, r: _Reader, gb: float, daily_gb: float, notes: list[str]) -> None:
    for stem, _rid, sel in r.resources("AWS::Backup::BackupSelection"):
        p = _props(sel)
        selected = [v["Fn::GetAtt"][0] for v in p["BackupSelection"].get("Resources", [])
                    if isinstance(v, dict) and "Fn::GetAtt" in v]
        file_systems = [x for x in selected
                        if r.built[stem]["Resources"].get(x, {}).get("Type") == "AWS::EFS::FileSystem"]
        plan = r.resource(stem, p["BackupPlanId"])
        if not file_systems or plan is None:
            continue
        for rule in _props(plan[2])["BackupPlan"]["BackupPlanRule"]:
            life = rule.get("Lifecycle", {})
            keep = life.get("DeleteAfterDays")
            if keep is None:
                keep = 365
                notes.append(f"assumed: backups of rule {rule['RuleName']} are kept forever; a year of them is priced")
            cold_after = life.get("MoveToColdStorageAfterDays")
            warm_days = min(keep, cold_after) if cold_after else keep
            for fs in file_systems:
                lines.add("AWS Backup", "EFS warm storage", gb + daily_gb * warm_days, "backup_efs_warm_gb",
                          f"{gb:g} GB full + assumed {daily_gb:g} GB/day x {warm_days} days kept "
                          f"({fs}, rule {rule['RuleName']}, {rule['ScheduleExpression']})")
                if cold_after and keep > cold_after:
                    lines.add("AWS Backup", "EFS cold storage", daily_gb * (keep - cold_after), "backup_efs_cold_gb",
                              f"assumed {daily_gb:g} GB/day x {keep - cold_after} days in cold storage ({fs})")


def _alarm_metrics(alarm: dict) -> tuple[int, bool]:
    """(metrics the alarm references, high resolution?): a metric math alarm pays for each metric, not expressions."""
    p = _props(alarm)
    if "Metrics" in p:
        stats = [m["MetricStat"] for m in p["Metrics"] if "MetricStat" in m]
        return len(stats), any(int(s.get("Period", 60)) < 60 for s in stats)
    return 1, int(p.get("Period", 60)) < 60


def _alarms(lines: _Lines, r: _Reader, free_tier: bool) -> None:
    single = math_alarms = math_metrics = 0
    standard = high = 0
    for _stem, _rid, alarm in r.resources("AWS::CloudWatch::Alarm"):
        n, high_res = _alarm_metrics(alarm)
        if "Metrics" in _props(alarm):
            math_alarms += 1
            math_metrics += n
        else:
            single += 1
        if high_res:
            high += n
        else:
            standard += n
    if standard or high:
        basis = f"{_n(single + math_alarms, 'alarm')}: {single} on one metric"
        if math_alarms:
            basis += f", {math_alarms} metric math on {math_metrics} metrics"
        basis += " (an alarm pays per metric it references)"
        if standard:
            lines.add("CloudWatch", "alarm metrics", standard, "cw_alarm_metric", basis, 10 if free_tier else 0)
        if high:
            lines.add("CloudWatch", "high-resolution alarm metrics", high, "cw_alarm_metric_high_res", basis)
    composite = r.count("AWS::CloudWatch::CompositeAlarm")
    if composite:
        lines.add("CloudWatch", "composite alarms", composite, "cw_composite_alarm", _n(composite, "composite alarm"))


def _dashboards(lines: _Lines, r: _Reader, free_tier: bool) -> None:
    n = r.count("AWS::CloudWatch::Dashboard")
    if n:
        lines.add("CloudWatch", "dashboards", n, "cw_dashboard",
                  f"{_n(n, 'dashboard')} (the first 3 per account are free: " + ("deducted)" if free_tier else
                                                                                  "not deducted)"),
                  3 if free_tier else 0)


def _running_by_cluster(services: list[_Service]) -> dict:
    by = defaultdict(list)
    for s in services:
        if s.tasks:
            by[s.cluster].append(s)
    return by


def _container_insights(lines: _Lines, r: _Reader, services: list[_Service], log_gb: float, free_tier: bool,
                        notes: list[str]) -> None:
    running = _running_by_cluster(services)
    for stem, rid, cluster in r.resources("AWS::ECS::Cluster"):
        setting = next((s["Value"] for s in _props(cluster).get("ClusterSettings", [])
                        if s.get("Name") == "containerInsights"), "disabled")
        if setting == "disabled":
            continue
        svcs = running.get((stem, rid), [])
        families = {s.family for s in svcs}
        metrics = (INSIGHTS_METRICS["cluster"] + INSIGHTS_METRICS["service"] * len(svcs)
                   + INSIGHTS_METRICS["task family"] * len(families)) if svcs else 0
        basis = (f"1 cluster x {INSIGHTS_METRICS['cluster']} + {_n(len(svcs), 'running service')} x "
                 f"{INSIGHTS_METRICS['service']} + {_n(len(families), 'task family')} x "
                 f"{INSIGHTS_METRICS['task family']} custom metrics (the documented ECS set)" if svcs else
                 f"no task running in {rid}: none reported (Container Insights metrics exist only while tasks run)")
        lines.add("CloudWatch", "Container Insights metrics", metrics, "cw_custom_metric", basis,
                  10 if free_tier else 0)
        tasks = sum(s.tasks for s in svcs)
        lines.add("CloudWatch", "Container Insights performance logs", tasks * log_gb, "logs_ingest_gb",
                  f"{_n(tasks, 'running task')} x assumed {log_gb:g} GB ingested")
        if setting == "enhanced":
            notes.append(f"not estimated: {rid} has Container Insights with enhanced observability, billed per "
                         "observation on top of the metrics shown")


def _logs(lines: _Lines, r: _Reader, services: list[_Service], gb_per_task: float, free_tier: bool,
          notes: list[str]) -> None:
    for stem, rid, group in r.resources("AWS::Logs::LogGroup"):
        name = _props(group).get("LogGroupName")
        writers = [s for s in services if any(
            r.resolve(s.stem, c.get("LogConfiguration", {}).get("Options", {}).get("awslogs-group"))[1] == name
            for c in s.task_definition.get("ContainerDefinitions", []))]
        tasks = sum(s.tasks for s in writers)
        ingested = tasks * gb_per_task
        lines.add("CloudWatch Logs", "ingestion", ingested, "logs_ingest_gb",
                  f"{_n(tasks, 'running task')} x assumed {gb_per_task:g} GB ({name})", 5 if free_tier else 0)
        days = _props(group).get("RetentionInDays")
        if days is None:
            days = 365
            notes.append(f"{stem}.{rid} never expires its logs: stored GB grows every month (a year is priced)")
        lines.add("CloudWatch Logs", "storage", ingested * days / P.DAYS_PER_MONTH, "logs_storage_gb",
                  f"{ingested:g} GB a month kept {days} days (steady state, uncompressed upper bound)")


_SECRET_ARN = re.compile(r":secret:([^:]+)")


def _secrets(lines: _Lines, r: _Reader, services: list[_Service]) -> None:
    generated = {(stem, rid) for stem, rid, _ in r.resources("AWS::SecretsManager::Secret")}
    referenced = set()
    for s in services:
        for c in s.task_definition.get("ContainerDefinitions", []):
            for secret in c.get("Secrets", []):
                found = r.resource(s.stem, secret["ValueFrom"])
                if found and found[2]["Type"] == "AWS::SecretsManager::Secret":
                    continue  # one of ours, counted once above
                match = _SECRET_ARN.search(_text(r.resolve(s.stem, secret["ValueFrom"])[1]))
                if match:
                    referenced.add(match.group(1))
    if generated or referenced:
        parts = []
        if generated:
            parts.append(f"{len(generated)} generated ({', '.join(sorted(rid for _, rid in generated))})")
        if referenced:
            parts.append(f"{len(referenced)} existing, read by the task ({', '.join(sorted(referenced))})")
        lines.add("Secrets Manager", "secrets", len(generated) + len(referenced), "secret_month", " + ".join(parts))


_ECR_IMAGE = re.compile(r"\.dkr\.ecr\.[^/]+/([^:@]+)")


def _ecr(lines: _Lines, r: _Reader, services: list[_Service], gb: float) -> None:
    created = {str(_props(repo).get("RepositoryName", rid)) for _, rid, repo in r.resources("AWS::ECR::Repository")}
    used = set()
    for s in services:
        for c in s.task_definition.get("ContainerDefinitions", []):
            match = _ECR_IMAGE.search(_text(c.get("Image", "")))
            if match:
                used.add(match.group(1))
    repos = created | used
    if repos:
        shown = ", ".join(name if name in created else f"{name}, not created here" for name in sorted(repos))
        lines.add("ECR", "image storage", len(repos) * gb, "ecr_gb",
                  f"{_n(len(repos), 'repository')} ({shown}) x assumed {gb:g} GB")


def _access_logs(lines: _Lines, r: _Reader, gb_month: float) -> None:
    """ALB access logs in S3: at steady state the bucket holds ``gb_month`` x the lifecycle's months."""
    for stem, rid, lb in r.resources("AWS::ElasticLoadBalancingV2::LoadBalancer"):
        attributes = {a.get("Key"): a.get("Value") for a in _props(lb).get("LoadBalancerAttributes", [])}
        if attributes.get("access_logs.s3.enabled") != "true":
            continue
        found = r.resource(stem, attributes.get("access_logs.s3.bucket"))
        rules = _props(found[2]).get("LifecycleConfiguration", {}).get("Rules", []) if found else []
        days = min((rule["ExpirationInDays"] for rule in rules if "ExpirationInDays" in rule), default=None)
        months = days / P.DAYS_PER_MONTH if days else 12.0
        kept = f"kept {days} days" if days else "no expiry: a year shown"
        lines.add("S3", f"ALB access logs ({rid})", gb_month * months, "s3_standard_gb",
                  f"assumed {gb_month:g} GB written a month, {kept}")


def _network_extras(lines: _Lines, r: _Reader, notes: list[str]) -> None:
    nat = r.count("AWS::EC2::NatGateway")
    if nat:
        lines.add("VPC", "NAT gateway-hours", nat * HOURS, "nat_gateway_hour",
                  f"{_n(nat, 'NAT gateway')} x {HOURS} h (plus 0.045 USD/GB processed, not estimated)")
    else:
        notes.append("no NAT gateway: tasks reach AWS APIs and the internet through their public IPv4 address")
    zones = r.count("AWS::Route53::HostedZone")
    if zones:
        lines.add("Route 53", "hosted zones", zones, "route53_zone", _n(zones, "hosted zone"))
    aliases = sum(1 for *_, rec in r.resources("AWS::Route53::RecordSet") if "AliasTarget" in _props(rec))
    if aliases:
        notes.append(f"Route 53: {_n(aliases, 'alias record')} to the ALB, queries free; the hosted zone is "
                     + ("priced above" if zones else "not created here (its 0.50 USD/month is paid by its owner)"))
    certificates = r.count("AWS::CertificateManager::Certificate")
    if certificates:
        notes.append(f"ACM: {_n(certificates, 'public certificate')}, no charge")


# ---------------------------------------------------------------------------------------------------------------
# Output


def _qty(q: float) -> str:
    return f"{q:,.2f}".rstrip("0").rstrip(".") if q % 1 else f"{q:,.0f}"


def _price(p: float) -> str:
    """At least cents, at most six decimals: 0.30, 0.0225, 0.004445."""
    text = f"{p:.6f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.split(".")[1]))


def table(est: Estimate) -> str:
    """A fixed-width text table: one row per line item, the total, then the notes. Deterministic."""
    head = ("service", "item", "quantity", "unit", "unit USD", "USD/month", "basis")
    rows = [(i.service, i.what, _qty(i.quantity) + (f" (-{_qty(i.free)} free)" if i.free else ""), i.unit,
             _price(i.unit_price) + ("*" if i.assumed_price else ""), f"{i.monthly:,.2f}", i.basis)
            for i in est.items]
    widths = [max(len(x[c]) for x in [head, *rows]) for c in range(6)]
    right = {2, 4, 5}

    def fmt(row) -> str:
        cells = [row[c].rjust(widths[c]) if c in right else row[c].ljust(widths[c]) for c in range(6)]
        return "  ".join(cells + [row[6]]).rstrip()

    title = f"{est.env + ' ' if est.env else ''}({est.region}): about {est.total:,.2f} USD a month"
    total = ("total", "", "", "", "", f"{est.total:,.2f}", "")
    return "\n".join([title, fmt(head), *map(fmt, rows), fmt(total), *(f"  {n}" for n in est.notes)]) + "\n"


def cost_table(env: str, templates: Templates, region: str) -> str:
    """The CLI's text for one environment (``generate.py cost``): the estimate with its default assumptions, and a
    blank line that separates it from the next environment's."""
    return table(estimate(templates, region, env)) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Delta


@dataclass(frozen=True)
class Change:
    before: LineItem | None
    after: LineItem | None

    @property
    def key(self) -> tuple[str, str]:
        item = self.after or self.before
        assert item is not None, "a change has a before or an after"
        return item.key

    @property
    def diff(self) -> float:
        return (self.after.monthly if self.after else 0.0) - (self.before.monthly if self.before else 0.0)

    def __str__(self) -> str:
        service, what = self.key
        b, a = self.before, self.after
        if b is None:
            assert a is not None, "a change has a before or an after"
            change = f"added: {a.basis}"
        elif a is None:
            change = f"removed ({b.basis})"
        elif b.basis != a.basis:
            change = f"{b.basis} -> {a.basis}"
        else:
            change = f"{_price(b.unit_price)} -> {_price(a.unit_price)} USD per {a.unit}"
        return f"{self.diff:+,.2f} USD/month: {service} {what}: {change}"


@dataclass(frozen=True)
class Delta:
    changes: tuple[Change, ...]
    before_total: float
    after_total: float

    @property
    def diff(self) -> float:
        return self.after_total - self.before_total

    def __str__(self) -> str:
        head = (f"{self.diff:+,.2f} USD/month ({self.before_total:,.2f} -> {self.after_total:,.2f})"
                if self.changes else "no change in the estimated cost")
        return "\n".join([head, *(f"  {c}" for c in self.changes)]) + "\n"


def _same(a: LineItem, b: LineItem) -> bool:
    return (abs(a.quantity - b.quantity) < 1e-9 and abs(a.unit_price - b.unit_price) < 1e-12
            and abs(a.free - b.free) < 1e-9 and a.unit == b.unit)


def delta(before: Estimate, after: Estimate) -> Delta:
    """The line items that differ between two estimates (added, removed or with another quantity or price), in the
    order of ``after`` then the removed ones, and the total difference."""
    old = {i.key: i for i in before.items}
    new = {i.key: i for i in after.items}
    changes = [Change(old.get(k), i) for k, i in new.items() if k not in old or not _same(old[k], i)]
    changes += [Change(i, None) for k, i in old.items() if k not in new]
    return Delta(tuple(changes), before.total, after.total)
