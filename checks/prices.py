"""On-demand list prices, in USD, for exactly what our templates create: a small, dated, cited table for us-west-2.

Read on 2026-11-26 from stored copies of the pages below (never fetched at run time: the estimate is offline). AWS's
own pricing pages render most regional figures with scripts, so the stored copies often show only the us-east-1
numbers of their worked examples; where a figure comes from a third party or from us-east-1, the entry says so, and
``assumed`` marks every figure we could not confirm for us-west-2 itself. For these services us-west-2 (Oregon) and
us-east-1 (N. Virginia) have long had the same list prices; that parity is confirmed only for Fargate (a third-party
region table) and is otherwise part of the assumption.

Update the table by re-reading the sources, changing ``READ_ON`` and the figures together; ``tests/test_cost.py``
computes its expectations from this table, so they follow.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_ON = "2026-11-26"
REGION = "us-west-2"
HOURS_PER_MONTH = 730  # AWS's convention in its calculator and examples (8,760 h / 12)
DAYS_PER_MONTH = 365 / 12

# Multipliers on the table for other regions. Only regions known to share us-west-2's prices are listed; any other
# region is estimated at us-west-2 prices with a warning unless the caller passes its own factor.
REGION_FACTORS = {"us-west-2": 1.0, "us-east-1": 1.0}


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    note: str = ""

    @property
    def assumed(self) -> bool:
        return self.note.startswith("assumed")


FARGATE = "https://aws.amazon.com/fargate/pricing/"
FARGATE_3P = ("https://www.vantage.sh/blog/fargate-pricing (us-east-1 table); us-west-2 equal to us-east-1 in the "
              "region table of github.com/mo7amedgom3a/arch-visualizer (internal/.../containers, 'as of 2024')")
ELB = "https://aws.amazon.com/elasticloadbalancing/pricing/"
ELB_3P = ("us-east-1 example figures transcribed from the AWS page in github.com/api-evangelist/"
          "amazon-elastic-load-balancing plans/amazon-elastic-load-balancing-plans-pricing.yml (read 2026-09-20)")
IPV4 = ("https://aws.amazon.com/vpc/pricing/ and the AWS Networking blog 'Identify and optimize public IPv4 address "
        "usage on AWS' (charge since 2024-02-01, all AWS-provided public IPv4 addresses, in use or idle)")
EFS = "https://aws.amazon.com/efs/pricing/"
EFS_3P = ("blog.gslin.org/archives/tag/tiering/ (2023-11, quotes the AWS page's us-east-1 table for 'Regional with "
          "legacy throughput modes' and 'with Elastic Throughput')")
BACKUP = ("https://aws.amazon.com/backup/pricing/ (EFS warm/cold backup storage; EFS backups billed per GB-day); "
          "figures as quoted by cloudburn.io/blog/aws-backup-pricing and the gslin.org EFS table (us-east-1)")
CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
CW_ALARMS = ("https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_billing.html ('your costs are "
             "based on your alarm's resolution setting and the number of metrics that your alarm references'; quoted "
             "in github.com/oscmcompany/fund PR #1158)")
CW_INSIGHTS = ("https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html "
               "(metrics 'charged as custom metrics'; the metric and dimension table in awsdocs/"
               "amazon-cloudwatch-user-guide doc_source/Container-Insights-metrics-ECS.md)")
LOGS_3P = "c3x.dev/blog/cloudwatch-logs-cost-optimization and hykell.com CloudWatch Logs pricing (us-east-1, 2026)"
SECRETS = "https://aws.amazon.com/secrets-manager/pricing/"
ECR = "https://aws.amazon.com/ecr/pricing/"
ROUTE53 = "https://aws.amazon.com/route53/pricing/"
NAT = "https://aws.amazon.com/vpc/pricing/ (NAT gateway); cloudpipelines.pages.dev NAT pricing region table (2026)"

PRICES: dict[str, Price] = {
    # AWS Fargate, Linux, per second with a 1-minute minimum; 20 GB ephemeral storage included.
    "fargate_vcpu_x86_64": Price(0.04048, "vCPU-hour", f"{FARGATE}; {FARGATE_3P}",
                                 "us-west-2 figure from a third-party region table; the AWS page renders it by script"),
    "fargate_gb_x86_64": Price(0.004445, "GB-hour", f"{FARGATE}; {FARGATE_3P}",
                               "us-west-2 figure from a third-party region table; the AWS page renders it by script"),
    "fargate_vcpu_arm64": Price(0.03238, "vCPU-hour", f"{FARGATE}; {FARGATE_3P}",
                                "assumed: the us-east-1 Linux/ARM figure (x86 is equal in both regions)"),
    "fargate_gb_arm64": Price(0.00356, "GB-hour", f"{FARGATE}; {FARGATE_3P}",
                              "assumed: the us-east-1 Linux/ARM figure (x86 is equal in both regions)"),
    # Application Load Balancer. One LCU = 25 new connections/s, 3,000 active connections/min, 1 GB/h processed
    # (EC2/container/IP targets) or 1,000 rule evaluations/s, whichever dimension is highest in the hour.
    "alb_hour": Price(0.0225, "ALB-hour", f"{ELB}; {ELB_3P}", "assumed: us-east-1 example figure"),
    "alb_lcu_hour": Price(0.008, "LCU-hour", f"{ELB}; {ELB_3P}", "assumed: us-east-1 example figure"),
    # Every AWS-provided public IPv4 address (task ENIs, ALB nodes, Elastic IPs), in every region.
    "public_ipv4_hour": Price(0.005, "address-hour", IPV4),
    # Amazon EFS, Regional (multi-AZ). Bursting and provisioned throughput are the 'legacy throughput modes': storage
    # includes the I/O. Elastic throughput bills I/O per GB transferred and has a cheaper IA class.
    "efs_standard_gb": Price(0.30, "GB-month", f"{EFS} (stored copy shows $0.30/GB-month); {EFS_3P}",
                             "assumed: us-east-1 figure"),
    "efs_ia_gb_legacy": Price(0.025, "GB-month", f"{EFS}; {EFS_3P}", "assumed: us-east-1 figure"),
    "efs_ia_gb_elastic": Price(0.016, "GB-month", f"{EFS}; {EFS_3P}", "assumed: us-east-1 figure"),
    "efs_elastic_read_gb": Price(0.03, "GB", f"{EFS}; {EFS_3P}", "assumed: us-east-1 figure"),
    "efs_elastic_write_gb": Price(0.06, "GB", f"{EFS}; {EFS_3P}", "assumed: us-east-1 figure"),
    "efs_provisioned_mibps": Price(6.00, "MiB/s-month", f"{EFS}; {EFS_3P}", "assumed: us-east-1 figure"),
    # AWS Backup of EFS.
    "backup_efs_warm_gb": Price(0.05, "GB-month", BACKUP, "assumed: us-east-1 figure"),
    "backup_efs_cold_gb": Price(0.01, "GB-month", BACKUP, "assumed: us-east-1 figure"),
    # Amazon CloudWatch. Alarms: per alarm *metric* (a metric math alarm pays for every metric it references, not for
    # its expressions). Always-free tier per account: 10 alarm metrics, 3 dashboards of up to 50 metrics, 10 custom
    # metrics, 5 GB of logs; not deducted by default (account-wide, shared with whatever else the account runs).
    "cw_alarm_metric": Price(0.10, "alarm metric-month", f"{CLOUDWATCH}; {CW_ALARMS}", "assumed: us-east-1 figure"),
    "cw_alarm_metric_high_res": Price(0.30, "alarm metric-month", f"{CLOUDWATCH}; {CW_ALARMS}",
                                      "assumed: us-east-1 figure"),
    "cw_composite_alarm": Price(0.50, "alarm-month", CLOUDWATCH, "assumed: us-east-1 figure"),
    "cw_dashboard": Price(3.00, "dashboard-month", f"{CLOUDWATCH}; infracost PR #235 ($3.00 per dashboard)",
                          "assumed: the same in every region"),
    "cw_custom_metric": Price(0.30, "metric-month", f"{CLOUDWATCH}; {CW_INSIGHTS}",
                              "assumed: us-east-1 figure (first 10,000 metrics)"),
    "logs_ingest_gb": Price(0.50, "GB", f"{CLOUDWATCH}; {LOGS_3P}", "assumed: us-east-1 figure (Standard log class)"),
    "logs_storage_gb": Price(0.03, "GB-month", f"{CLOUDWATCH}; {LOGS_3P}", "assumed: us-east-1 figure"),
    # AWS Secrets Manager: per secret (generated or existing) per month; API calls $0.05 per 10,000 are negligible
    # here (ECS reads each secret once per task start).
    "secret_month": Price(0.40, "secret-month", f"{SECRETS}; hivebook.wiki AWS Secrets Manager overview",
                          "assumed: the same in every region"),
    # Amazon ECR private repositories; same-region pulls are free.
    "ecr_gb": Price(0.10, "GB-month", f"{ECR}; cloudburn.io/blog/amazon-ecr-pricing (2026)",
                    "assumed: us-east-1 figure"),
    # Amazon S3 Standard storage (first 50 TB): the ALB access log bucket. Its PUTs (one log file per ALB node every
    # 5 minutes, about 0.005 USD per 1,000) stay under 0.10 USD a month and are not estimated.
    "s3_standard_gb": Price(0.023, "GB-month", "https://aws.amazon.com/s3/pricing/",
                            "assumed: us-east-1 figure (S3 Standard, first 50 TB)"),
    # Route 53: a hosted zone we would create; alias A records to an ELB answer queries free of charge.
    "route53_zone": Price(0.50, "hosted zone-month", ROUTE53, "assumed: first 25 zones"),
    # NAT gateway (none in our templates; priced so that adding one shows in a delta).
    "nat_gateway_hour": Price(0.045, "NAT gateway-hour", NAT, "us-west-2 in a third-party region table"),
}

def price(key: str) -> float:
    return PRICES[key].usd
