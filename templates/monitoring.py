"""Alarms, their SNS topic and the operators' dashboard for one environment. Not stateful.

Every alarm notifies ``AlarmTopic`` when it enters ALARM and again when it returns to OK, and its description says
what to do. Thresholds come from ``monitoring`` in ``params/<env>.yaml``; periods and datapoints are chosen here and
justified next to each alarm.

The topic is NOT encrypted, on purpose. The obvious choice, the AWS managed key ``alias/aws/sns``, breaks alarms:
CloudWatch publishes as the service principal ``cloudwatch.amazonaws.com``, which needs ``kms:GenerateDataKey*``
and ``kms:Decrypt`` on the topic's key, and AWS requires a customer managed key for that because the AWS managed
key's policy cannot be changed (SNS Developer Guide, "Managing Amazon SNS encryption keys and costs" > "Enable
compatibility between event sources from AWS services and encrypted topics"; AWS End User Messaging SMS User
Guide: "you cannot modify the AWS managed key for Amazon SNS"). Under ``alias/aws/sns`` every alarm action fails
with a KMS access error that shows only in the alarm's history: nobody is paged. The other way, a customer managed
key with a grant to CloudWatch, costs about 1 USD a month per environment and one more policy to review, to protect
messages that carry only alarm names, metric names and thresholds (no request data, no secrets). If policy ever
demands encryption at rest here, add an ``AWS::KMS::Key`` in this stack with that grant (pinned by
``aws:SourceAccount``) and set ``KmsMasterKeyId`` to it, never to the alias.

The topic policy lets only CloudWatch alarms of this account and region, named with this environment's prefix,
publish (``aws:SourceAccount`` and ``aws:SourceArn``, as the CloudWatch User Guide, "Notifying users on alarm
changes" > "Preventing confused deputy security issues", recommends). That is why the alarms have physical names
(``wwhd-prod-Target5xx``): the ARN pattern can pin them, and the name is what the operator reads in the e-mail
subject. An e-mail subscription must be confirmed from the mail SNS sends before anything is delivered.

Metric sources and the AWS rules behind them:

* Desired vs running tasks come from Container Insights (``ECS/ContainerInsights``, dimensions ClusterName and
  ServiceName; CloudWatch User Guide, "Amazon ECS Container Insights metrics"); AWS/ECS has no task counts. With
  ``cluster.container_insights: disabled`` those metrics do not exist, so that alarm and its widget are left out
  rather than deployed as an alarm that can never fire.
* ALB metrics (``AWS/ApplicationELB``) are reported only while requests flow (ELB User Guide, "CloudWatch metrics
  for your Application Load Balancer"), so request-driven alarms treat missing data as not breaching. Their
  dimension values are the load balancer's and target group's *full names* (``app/x/123``,
  ``targetgroup/y/456``), hence the ``*FullName`` parameters.
* ``AWS/ECS`` CPU and memory utilization are reported only while the service has RUNNING tasks (ECS Developer
  Guide, "Amazon ECS CloudWatch metrics"): a stopped dev service has no data, which is not a problem.
* EFS metrics (``AWS/EFS``, dimension FileSystemId; EFS User Guide, "CloudWatch metrics for Amazon EFS").
  Throughput utilization is the metric math the EFS guide gives under "Using metric math with Amazon EFS" >
  "Percentage of permitted throughput utilization": throughput in MiB/s from ``MeteredIOBytes`` (Sum / 1048576 /
  PERIOD) over ``PermittedThroughput`` (Average, bytes/s, / 1048576), times 100. ``MeteredIOBytes`` and not
  ``TotalIOBytes``: permitted throughput is compared with metered bytes, reads counting one third, and the metric
  description of ``MeteredIOBytes`` points to exactly this expression ("If these values are equal, then you are
  consuming the entire amount of throughput allocated to your file system").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from awacs import cloudwatch as cloudwatch_actions, sns as sns_actions
from awacs.aws import Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import Ref, Sub, Template, cloudwatch, sns

from ._arns import arn
from ._common import new_template, outputs, param, scan_ignore, tags
from .config import EnvParams

COMPONENT = "monitoring"

MIB = 1024 * 1024
# BurstCreditBalanceLowAlarm threshold: 1 TiB of credits. EFS gives a new file system 2.1 TiB of credits and caps the
# balance of a file system under 1 TiB at 2.1 TiB (EFS User Guide, "Amazon EFS performance" > bursting). Our file
# system holds a few GiB, so it earns credits at only 50 KiB/s per GiB stored (about 42 GiB a day for 10 GiB):
# once half of the balance is spent it will not refill in time. 1 TiB still lasts about 2.9 hours at the
# 100 MiB/s burst rate, enough time to switch storage.throughput_mode to elastic before EFS throttles the file
# system to its baseline (well under 1 MiB/s for a file system this size).
BURST_CREDIT_LOW_BYTES = 1024**4


class In(StrEnum):
    ClusterName = "ClusterName"
    ServiceName = "ServiceName"
    LoadBalancerFullName = "LoadBalancerFullName"
    TargetGroupFullName = "TargetGroupFullName"
    FileSystemId = "FileSystemId"


class Out(StrEnum):
    AlarmTopicArn = "AlarmTopicArn"
    DashboardName = "DashboardName"


@dataclass(frozen=True)
class _Refs:
    """The sibling stacks' values, as template parameters."""

    cluster: Ref
    service: Ref
    load_balancer: Ref
    target_group: Ref
    file_system: Ref


def build(p: EnvParams) -> Template:
    t = new_template(p, "alarms, their SNS topic and the dashboard")
    refs = _parameters(t)
    topic = _topic(t, p)
    alarms = [
        *_service_alarms(t, p, topic, refs),
        *_load_balancer_alarms(t, p, topic, refs),
        *_file_system_alarms(t, p, topic, refs),
    ]
    dashboard = _dashboard(t, p, alarms)
    outputs(t, {Out.AlarmTopicArn: Ref(topic), Out.DashboardName: Ref(dashboard)}, {
        Out.AlarmTopicArn: "SNS topic every alarm notifies (subscribe on-call tools here)",
        Out.DashboardName: "CloudWatch dashboard of this environment",
    })
    return t


def _parameters(t: Template) -> _Refs:
    return _Refs(
        cluster=param(t, In.ClusterName, "String", "ECS cluster name (from the cluster stack)."),
        service=param(t, In.ServiceName, "String", "ECS service name (from the service stack)."),
        load_balancer=param(t, In.LoadBalancerFullName, "String",
                            "The ALB's LoadBalancerFullName, e.g. app/name/0123456789abcdef (load_balancer stack)."),
        target_group=param(t, In.TargetGroupFullName, "String",
                           "The target group's TargetGroupFullName, e.g. targetgroup/name/0123456789abcdef."),
        file_system=param(t, In.FileSystemId, "String", "EFS file system id, fs-... (from the storage stack)."),
    )


# --- the topic -------------------------------------------------------------------------------------------------------


def _alarm_name(p: EnvParams, title: str) -> str:
    return f"{p.stack_name}-{title.removesuffix('Alarm')}"


def _topic(t: Template, p: EnvParams) -> sns.Topic:
    # No KmsMasterKeyId: see the module docstring (the AWS managed key alias/aws/sns would drop every alarm).
    topic = t.add_resource(scan_ignore(sns.Topic(
        "AlarmTopic", DisplayName=f"{p.stack_name} alarms", Tags=tags(p, COMPONENT),
    ), {
        "CKV_AWS_26": "CloudWatch cannot publish to a topic under alias/aws/sns (alarms would fail silently); a CMK "
                      "for messages that carry only alarm names is not worth it (module docstring)",
    }))
    t.add_resource(sns.TopicPolicy(
        "AlarmTopicPolicy", Topics=[Ref(topic)], PolicyDocument=_topic_policy(p, topic),
    ))
    if p.monitoring.alarm_email:
        t.add_resource(sns.SubscriptionResource(
            "AlarmEmailSubscription", TopicArn=Ref(topic), Protocol="email", Endpoint=p.monitoring.alarm_email,
        ))
    return topic


def _topic_policy(p: EnvParams, topic: sns.Topic) -> PolicyDocument:
    """Only this environment's alarms, in this account and region, may publish (confused-deputy guard)."""
    return PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Sid="CloudWatchAlarmsOfThisEnvironment",
        Effect=Allow,
        Principal=Principal("Service", "cloudwatch.amazonaws.com"),
        Action=[sns_actions.Publish],
        Resource=[Ref(topic)],
        Condition=Condition([
            StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
            ArnLike("aws:SourceArn", Sub(
                "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:%s" % _alarm_name(p, "*")
            )),
        ]),
    )])


# --- alarms ----------------------------------------------------------------------------------------------------------


def _alarm(t: Template, p: EnvParams, topic: sns.Topic, title: str, *, description: str, periods: int,
           datapoints: int, missing: str, **props) -> cloudwatch.Alarm:
    """One alarm with the house defaults: notify on ALARM and on OK, a physical name the topic policy can pin."""
    return t.add_resource(cloudwatch.Alarm(
        title,
        AlarmName=_alarm_name(p, title),
        AlarmDescription=description,
        AlarmActions=[Ref(topic)],
        OKActions=[Ref(topic)],
        EvaluationPeriods=periods,
        DatapointsToAlarm=datapoints,
        TreatMissingData=missing,
        Tags=tags(p, COMPONENT),
        **props,
    ))


def _dims(**dims) -> list[cloudwatch.MetricDimension]:
    return [cloudwatch.MetricDimension(Name=k, Value=v) for k, v in dims.items()]


def _query(id_: str, namespace: str, metric: str, stat: str, period: int, dims: dict) -> cloudwatch.MetricDataQuery:
    return cloudwatch.MetricDataQuery(
        Id=id_, ReturnData=False,
        MetricStat=cloudwatch.MetricStat(
            Metric=cloudwatch.Metric(Namespace=namespace, MetricName=metric, Dimensions=_dims(**dims)),
            Period=period, Stat=stat,
        ),
    )


def _service_alarms(t: Template, p: EnvParams, topic: sns.Topic, r: _Refs) -> list[cloudwatch.Alarm]:
    m = p.monitoring
    svc = {"ClusterName": r.cluster, "ServiceName": r.service}
    alarms = []
    if p.cluster.container_insights != "disabled":
        # desired - running, not "running < 1": a service scaled to 0 (dev between deploys) has 0 - 0 = 0 and stays
        # OK. FILL(running, 0) makes a missing RunningTaskCount count as no task running instead of no data.
        alarms.append(_alarm(
            t, p, topic, "TasksBelowDesiredAlarm",
            description=(
                f"{p.stack_name}: fewer tasks RUNNING than desired for 5 minutes; the API is down or degraded. "
                "Check the service's Events tab and the stopped task's 'Stopped reason' in the ECS console "
                f"(image pull, secret, EFS mount or health check failures), then the log group {p.logs.group_name}."
            ),
            periods=5, datapoints=5, missing="notBreaching",
            ComparisonOperator="GreaterThanThreshold", Threshold=0,
            Metrics=[
                _query("desired", "ECS/ContainerInsights", "DesiredTaskCount", "Average", 60, svc),
                _query("running", "ECS/ContainerInsights", "RunningTaskCount", "Average", 60, svc),
                cloudwatch.MetricDataQuery(
                    Id="gap", Expression="desired - FILL(running, 0)", Label="Desired minus running tasks",
                    ReturnData=True,
                ),
            ],
        ))
    alarms.append(_alarm(
        t, p, topic, "CpuHighAlarm",
        description=(
            f"{p.stack_name}: service CPU above {m.cpu_high_percent}% of the task's CPU for 15 minutes. "
            "Look for slow endpoints or runaway work in the logs; if the load is real, raise task.cpu "
            "(one task only: the SQLite file and Qdrant storage allow a single writer)."
        ),
        periods=3, datapoints=3, missing="notBreaching",
        Namespace="AWS/ECS", MetricName="CPUUtilization", Dimensions=_dims(**svc),
        Statistic="Average", Period=300, ComparisonOperator="GreaterThanThreshold", Threshold=m.cpu_high_percent,
    ))
    alarms.append(_alarm(
        t, p, topic, "MemoryHighAlarm",
        description=(
            f"{p.stack_name}: service memory above {m.memory_high_percent}% of the task's memory for 10 minutes; "
            "a container that reaches its hard limit is killed (OutOfMemory). Check the Qdrant collection size and "
            "the app's memory use, then raise task.memory and the container limits."
        ),
        periods=2, datapoints=2, missing="notBreaching",
        Namespace="AWS/ECS", MetricName="MemoryUtilization", Dimensions=_dims(**svc),
        Statistic="Average", Period=300, ComparisonOperator="GreaterThanThreshold", Threshold=m.memory_high_percent,
    ))
    return alarms


def _load_balancer_alarms(t: Template, p: EnvParams, topic: sns.Topic, r: _Refs) -> list[cloudwatch.Alarm]:
    m = p.monitoring
    lb = {"LoadBalancer": r.load_balancer}
    tg = {"LoadBalancer": r.load_balancer, "TargetGroup": r.target_group}
    # Request metrics are not reported while nobody calls the API: missing data is "no errors", not an outage.
    return [
        _alarm(
            t, p, topic, "Target5xxAlarm",
            description=(
                f"{p.stack_name}: the app answered more than {m.http_5xx_per_5min} requests with 5xx in 5 minutes. "
                f"Search the log group {p.logs.group_name} for tracebacks; check OpenAI errors and the Qdrant "
                "container's logs; roll back to the previous image tag if it started with a deploy."
            ),
            periods=1, datapoints=1, missing="notBreaching",
            Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count", Dimensions=_dims(**tg),
            Statistic="Sum", Period=300, ComparisonOperator="GreaterThanThreshold", Threshold=m.http_5xx_per_5min,
        ),
        _alarm(
            t, p, topic, "LoadBalancer5xxAlarm",
            description=(
                f"{p.stack_name}: the load balancer itself returned more than {m.http_5xx_per_5min} 5xx in 5 minutes "
                "(502/503/504: no healthy target, the task refused or dropped the connection, or it answered "
                "slower than the idle timeout). Check the target group's health and the ECS service's events."
            ),
            periods=1, datapoints=1, missing="notBreaching",
            Namespace="AWS/ApplicationELB", MetricName="HTTPCode_ELB_5XX_Count", Dimensions=_dims(**lb),
            Statistic="Sum", Period=300, ComparisonOperator="GreaterThanThreshold", Threshold=m.http_5xx_per_5min,
        ),
        _alarm(
            t, p, topic, "UnhealthyTargetsAlarm",
            description=(
                f"{p.stack_name}: a target failed the ALB health check ({p.containers.app.health_check_path}) for 5 "
                "minutes. Open the target group's Targets tab for the reason, then the task's logs; the task is "
                "replaced by ECS if it stays unhealthy."
            ),
            # 5 minutes, not less: the ALB starts probing a new task at once, while ECS ignores failed checks only
            # during service.health_check_grace_period (120 s by default) and Qdrant takes a while to load. A target
            # group without targets (service scaled to 0) has no unhealthy target: missing data is not breaching.
            periods=5, datapoints=5, missing="notBreaching",
            Namespace="AWS/ApplicationELB", MetricName="UnHealthyHostCount", Dimensions=_dims(**tg),
            Statistic="Maximum", Period=60, ComparisonOperator="GreaterThanOrEqualToThreshold", Threshold=1,
        ),
        _alarm(
            t, p, topic, "LatencyAlarm",
            description=(
                f"{p.stack_name}: p95 response time above {m.latency_p95_seconds} s in 2 of the last 3 five-minute "
                "periods. Usual causes: slow OpenAI calls, a large Qdrant search, EFS throttling (see the EFS "
                "alarms), or CPU saturation (see CpuHigh)."
            ),
            periods=3, datapoints=2, missing="notBreaching",
            Namespace="AWS/ApplicationELB", MetricName="TargetResponseTime", Dimensions=_dims(**tg),
            ExtendedStatistic="p95", Period=300, ComparisonOperator="GreaterThanThreshold",
            Threshold=m.latency_p95_seconds,
            # A p95 of a handful of requests says nothing: keep the state until there are enough samples.
            EvaluateLowSampleCountPercentile="ignore",
        ),
    ]


def _file_system_alarms(t: Template, p: EnvParams, topic: sns.Topic, r: _Refs) -> list[cloudwatch.Alarm]:
    m = p.monitoring
    fs = {"FileSystemId": r.file_system}
    alarms = [
        _alarm(
            t, p, topic, "EfsIoLimitAlarm",
            description=(
                f"{p.stack_name}: EFS above {m.efs_io_limit_percent}% of the General Purpose I/O limit for 15 "
                "minutes; SQLite and Qdrant calls slow down. Find the cause (bulk ingestion, a reindex, a loop of "
                "small writes) in the logs; the performance mode cannot be changed in place."
            ),
            periods=3, datapoints=3, missing="notBreaching",
            Namespace="AWS/EFS", MetricName="PercentIOLimit", Dimensions=_dims(**fs),
            Statistic="Maximum", Period=300, ComparisonOperator="GreaterThanThreshold",
            Threshold=m.efs_io_limit_percent,
        ),
        _alarm(
            t, p, topic, "EfsThroughputAlarm",
            description=(
                f"{p.stack_name}: EFS used more than {m.efs_throughput_percent}% of its permitted throughput for 15 "
                "minutes; at 100% EFS throttles and every request that touches SQLite or Qdrant waits. Find the "
                "heavy reader or writer; if the load is real, set storage.throughput_mode to elastic."
            ),
            periods=3, datapoints=3, missing="notBreaching",
            ComparisonOperator="GreaterThanThreshold", Threshold=m.efs_throughput_percent,
            Metrics=[
                _query("metered", "AWS/EFS", "MeteredIOBytes", "Sum", 300, fs),
                _query("permitted", "AWS/EFS", "PermittedThroughput", "Average", 300, fs),
                cloudwatch.MetricDataQuery(
                    Id="utilization", Label="Throughput utilization (%)", ReturnData=True,
                    Expression=f"(metered / {MIB} / PERIOD(metered)) / (permitted / {MIB}) * 100",
                ),
            ],
        ),
    ]
    if p.storage.throughput_mode == "bursting":
        alarms.append(_alarm(
            t, p, topic, "BurstCreditBalanceLowAlarm",
            description=(
                f"{p.stack_name}: EFS burst credits below 1 TiB (half of the 2.1 TiB maximum) for 15 minutes. A "
                "small file system earns credits slowly; when they run out EFS throttles to its baseline and the "
                "API stalls. Set storage.throughput_mode to elastic and deploy."
            ),
            # BurstCreditBalance is reported every minute for every file system; no data is an outage of the
            # metric, not a full balance.
            periods=3, datapoints=3, missing="missing",
            Namespace="AWS/EFS", MetricName="BurstCreditBalance", Dimensions=_dims(**fs),
            Statistic="Minimum", Period=300, ComparisonOperator="LessThanThreshold", Threshold=BURST_CREDIT_LOW_BYTES,
        ))
    return alarms


# --- dashboard -------------------------------------------------------------------------------------------------------

# Dashboard JSON placeholders, resolved by Fn::Sub from the parameters of the same name.
_LB = ["LoadBalancer", "${%s}" % In.LoadBalancerFullName]
_TG = [*_LB, "TargetGroup", "${%s}" % In.TargetGroupFullName]
_SVC = ["ClusterName", "${%s}" % In.ClusterName, "ServiceName", "${%s}" % In.ServiceName]
_FS = ["FileSystemId", "${%s}" % In.FileSystemId]
_WIDTH, _HEIGHT = 12, 6


def _graph(title: str, metrics: list, *, period: int = 300, stat: str = "Average", y_min: float | None = 0,
           lines: dict[str, float] | None = None) -> dict:
    props = {
        "title": title, "view": "timeSeries", "stacked": False, "region": "${AWS::Region}",
        "metrics": metrics, "period": period, "stat": stat,
    }
    if y_min is not None:
        props["yAxis"] = {"left": {"min": y_min}}
    if lines:
        props["annotations"] = {"horizontal": [{"label": k, "value": v} for k, v in lines.items()]}
    return {"type": "metric", "width": _WIDTH, "height": _HEIGHT, "properties": props}


def _widgets(p: EnvParams, alarms: list[cloudwatch.Alarm]) -> list[dict]:
    m = p.monitoring
    elb = "AWS/ApplicationELB"
    graphs = [
        _graph("Requests and 5xx (per 5 minutes)", [
            [elb, "RequestCount", *_LB, {"label": "Requests"}],
            [elb, "HTTPCode_Target_5XX_Count", *_TG, {"label": "App 5xx", "yAxis": "right"}],
            [elb, "HTTPCode_ELB_5XX_Count", *_LB, {"label": "Load balancer 5xx", "yAxis": "right"}],
        ], stat="Sum"),
        _graph("Target response time (seconds)", [
            [elb, "TargetResponseTime", *_TG, {"stat": "p50", "label": "p50"}],
            [elb, "TargetResponseTime", *_TG, {"stat": "p95", "label": "p95"}],
        ], lines={"p95 alarm": m.latency_p95_seconds}),
        _graph("Targets", [
            [elb, "HealthyHostCount", *_TG, {"stat": "Minimum", "label": "Healthy"}],
            [elb, "UnHealthyHostCount", *_TG, {"stat": "Maximum", "label": "Unhealthy"}],
        ], period=60),
        _graph("Service CPU and memory (%)", [
            ["AWS/ECS", "CPUUtilization", *_SVC, {"label": "CPU"}],
            ["AWS/ECS", "MemoryUtilization", *_SVC, {"label": "Memory"}],
        ], lines={"CPU alarm": m.cpu_high_percent, "Memory alarm": m.memory_high_percent}),
    ]
    if p.cluster.container_insights != "disabled":
        graphs.append(_graph("Tasks", [
            ["ECS/ContainerInsights", "DesiredTaskCount", *_SVC, {"label": "Desired"}],
            ["ECS/ContainerInsights", "RunningTaskCount", *_SVC, {"label": "Running"}],
            ["ECS/ContainerInsights", "PendingTaskCount", *_SVC, {"label": "Pending"}],
        ], period=60))
    graphs.append(_graph("EFS throughput", [
        [{"id": "mibps", "expression": f"metered / {MIB} / PERIOD(metered)", "label": "Throughput (MiB/s)"}],
        [{"id": "util", "expression": f"(metered / {MIB} / PERIOD(metered)) / (permitted / {MIB}) * 100",
          "label": "Utilization of permitted throughput (%)", "yAxis": "right"}],
        ["AWS/EFS", "MeteredIOBytes", *_FS, {"id": "metered", "stat": "Sum", "visible": False}],
        ["AWS/EFS", "PermittedThroughput", *_FS, {"id": "permitted", "stat": "Average", "visible": False}],
    ]))
    efs_limits = [["AWS/EFS", "PercentIOLimit", *_FS, {"stat": "Maximum", "label": "PercentIOLimit (%)"}]]
    if p.storage.throughput_mode == "bursting":
        efs_limits.append(["AWS/EFS", "BurstCreditBalance", *_FS,
                           {"stat": "Minimum", "label": "Burst credits (bytes)", "yAxis": "right"}])
    graphs.append(_graph("EFS I/O limit and burst credits", efs_limits, lines={"I/O alarm": m.efs_io_limit_percent}))

    # Top row: every alarm's state. Then the graphs, two per row, placed explicitly so the layout is stable.
    status = {"type": "alarm", "x": 0, "y": 0, "width": 2 * _WIDTH, "height": 4, "properties": {
        "title": "Alarms", "alarms": ["${%s.Arn}" % a.title for a in alarms],
    }}
    for i, g in enumerate(graphs):
        g["x"], g["y"] = (i % 2) * _WIDTH, 4 + (i // 2) * _HEIGHT
    return [status, *graphs]


def _dashboard(t: Template, p: EnvParams, alarms: list[cloudwatch.Alarm]) -> cloudwatch.Dashboard:
    body = json.dumps({"widgets": _widgets(p, alarms)}, sort_keys=True, separators=(",", ":"))
    return t.add_resource(cloudwatch.Dashboard(
        "Dashboard",
        # A literal: dashboard names allow only A-Za-z0-9-_, and a nested stack's AWS::StackName would also be long
        # and random. One dashboard per environment, named like the root stack.
        DashboardName=p.stack_name,
        DashboardBody=Sub(body),
        Tags=tags(p, COMPONENT),
    ))


# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """The alarms (``<root>-<Name>``, :func:`_alarm_name`), the dashboard (named like the root stack) and the alarm
    topic (generated name)."""
    root = p.stack_name
    alarms = arn("cloudwatch", f"alarm:{root}-*")
    dashboards = [arn("cloudwatch", f"dashboard/{root}", region=False),
                  arn("cloudwatch", f"dashboard/{root}-*", region=False)]
    return [
        Statement(
            Sid="Alarms", Effect=Allow,
            Action=[cloudwatch_actions.DeleteAlarms, cloudwatch_actions.DescribeAlarms,
                    cloudwatch_actions.PutMetricAlarm],
            Resource=[alarms],
        ),
        Statement(
            Sid="Dashboards", Effect=Allow,
            Action=[cloudwatch_actions.DeleteDashboards, cloudwatch_actions.GetDashboard,
                    cloudwatch_actions.PutDashboard],
            Resource=dashboards,
        ),
        Statement(
            Sid="CloudWatchTags", Effect=Allow,
            Action=[cloudwatch_actions.ListTagsForResource, cloudwatch_actions.TagResource,
                    cloudwatch_actions.UntagResource],
            Resource=[alarms, *dashboards],
        ),
        Statement(
            # the topic's generated name starts with the nested stack's name; subscriptions are "<topic ARN>:<id>"
            Sid="AlarmTopic", Effect=Allow,
            Action=[
                sns_actions.CreateTopic, sns_actions.DeleteTopic, sns_actions.GetDataProtectionPolicy,
                sns_actions.GetSubscriptionAttributes, sns_actions.GetTopicAttributes,
                sns_actions.ListSubscriptionsByTopic, sns_actions.ListTagsForResource,
                sns_actions.PutDataProtectionPolicy, sns_actions.SetSubscriptionAttributes,
                sns_actions.SetTopicAttributes, sns_actions.Subscribe, sns_actions.TagResource,
                sns_actions.Unsubscribe, sns_actions.UntagResource,
            ],
            Resource=[arn("sns", f"{root}-*")],
        ),
    ]
