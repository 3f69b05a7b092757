// The CDK app a team would write instead of wwhd-infra, for bench/bench_vs_cdk.py only (docs/speed.md).
//
// The same stacks as params/prod.yaml renders into output/prod/: an existing VPC (fixed attributes, no lookup),
// security groups, EFS with two access points and an AWS Backup plan, the cluster and its log group, an ALB with an
// access-log bucket, the ACM certificate and the DNS record, the Fargate service with two containers (qdrant and the
// FastAPI app) on EFS, alarms with their SNS topic and a dashboard, and the roles (task, execution, backup, GitHub
// OIDC deploy and plan roles). Nested stacks under one root, as ours. Nothing here reads the network or the
// context: `cdk synth` needs no credentials and makes no lookups.
import * as cdk from "aws-cdk-lib";
import * as acm from "aws-cdk-lib/aws-certificatemanager";
import * as backup from "aws-cdk-lib/aws-backup";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as efs from "aws-cdk-lib/aws-efs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as route53 from "aws-cdk-lib/aws-route53";
import * as targets from "aws-cdk-lib/aws-route53-targets";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as secrets from "aws-cdk-lib/aws-secretsmanager";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subs from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";

const P = {
  env: "prod",
  account: "018025611404",
  region: "us-west-2",
  vpcId: "vpc-7b44bd03",
  azs: ["us-west-2a", "us-west-2b", "us-west-2c"],
  subnets: ["subnet-677d281e", "subnet-5498bc0e", "subnet-18ddaa53"],
  repository: "wwhd-dev-backend",
  defaultTag: "2025-11-07",
  clusterName: "wwhd-cluster",
  secrets: ["OPENAI_API_KEY", "JWT_SECRET"],
  domain: "api.wwhd.example.com",
  zoneId: "Z0000000000000PLACEHOLDER",
  zoneName: "wwhd.example.com",
  alarmEmail: "ops@wwhd.example.com",
  githubRepository: "owner/backend",
  deployEnvironment: "production",
  logGroup: "/ecs/wwhd-backend",
};

const TAGS = { app: "wwhd", env: P.env, "managed-by": "wwhd-infra" };

class Network {
  readonly vpc: ec2.IVpc;
  constructor(scope: Construct) {
    this.vpc = ec2.Vpc.fromVpcAttributes(scope, "Vpc", {
      vpcId: P.vpcId,
      availabilityZones: P.azs,
      publicSubnetIds: P.subnets,
    });
  }
}

class SecurityStack extends cdk.NestedStack {
  readonly lb: ec2.SecurityGroup;
  readonly app: ec2.SecurityGroup;
  readonly fs: ec2.SecurityGroup;
  constructor(scope: Construct, id: string, vpc: ec2.IVpc) {
    super(scope, id);
    cdk.Tags.of(this).add("component", "security");
    this.lb = new ec2.SecurityGroup(this, "LoadBalancerSecurityGroup", { vpc, allowAllOutbound: false,
      description: "ALB: 80/443 from anywhere, only the app port out" });
    this.app = new ec2.SecurityGroup(this, "AppSecurityGroup", { vpc, allowAllOutbound: true,
      description: "Task: the app port from the ALB" });
    this.fs = new ec2.SecurityGroup(this, "FileSystemSecurityGroup", { vpc, allowAllOutbound: false,
      description: "EFS: NFS from the task" });
    this.lb.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), "HTTP (redirected)");
    this.lb.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), "HTTPS");
    this.lb.addEgressRule(this.app, ec2.Port.tcp(8000), "to the app");
    this.app.addIngressRule(this.lb, ec2.Port.tcp(8000), "from the ALB");
    this.fs.addIngressRule(this.app, ec2.Port.tcp(2049), "NFS from the task");
  }
}

class IdentityStack extends cdk.NestedStack {
  readonly execution: iam.Role;
  readonly task: iam.Role;
  readonly backup: iam.Role;
  constructor(scope: Construct, id: string) {
    super(scope, id);
    cdk.Tags.of(this).add("component", "identity");
    this.execution = new iam.Role(this, "ExecutionRole", {
      assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
      description: "ECS pulls the image, writes logs and reads the secrets",
    });
    this.task = new iam.Role(this, "TaskRole", {
      assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
      description: "The app: EFS through its access points, ECS Exec",
    });
    this.task.addToPolicy(new iam.PolicyStatement({
      actions: ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
      resources: ["*"],
    }));
    this.backup = new iam.Role(this, "BackupRole", {
      assumedBy: new iam.ServicePrincipal("backup.amazonaws.com"),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName("service-role/AWSBackupServiceRolePolicyForBackup"),
        iam.ManagedPolicy.fromAwsManagedPolicyName("service-role/AWSBackupServiceRolePolicyForRestores"),
      ],
    });
    const github = new iam.OidcProviderNative(this, "GitHubOidcProvider", {
      url: "https://token.actions.githubusercontent.com",
      clientIds: ["sts.amazonaws.com"],
    });
    const subject = (sub: string) => new iam.WebIdentityPrincipal(github.oidcProviderArn, {
      StringEquals: { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": sub },
    });
    const read = new iam.ManagedPolicy(this, "ReadPolicy", {
      statements: [new iam.PolicyStatement({
        actions: ["cloudformation:Describe*", "cloudformation:Get*", "cloudformation:List*",
          "ecs:Describe*", "elasticfilesystem:Describe*", "elasticloadbalancing:Describe*", "ec2:Describe*"],
        resources: ["*"],
      })],
    });
    const plan = new iam.Role(this, "GitHubPlanRole", {
      assumedBy: subject(`repo:${P.githubRepository}:pull_request`),
      managedPolicies: [read],
      maxSessionDuration: cdk.Duration.hours(1),
    });
    plan.addToPolicy(new iam.PolicyStatement({
      actions: ["cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet"],
      resources: [`arn:aws:cloudformation:${P.region}:${P.account}:stack/wwhd-${P.env}*/*`],
    }));
    const deploy = new iam.Role(this, "GitHubDeployRole", {
      assumedBy: subject(`repo:${P.githubRepository}:environment:${P.deployEnvironment}`),
      managedPolicies: [read],
      maxSessionDuration: cdk.Duration.hours(1),
    });
    deploy.addToPolicy(new iam.PolicyStatement({
      actions: ["cloudformation:ExecuteChangeSet", "cloudformation:CreateChangeSet"],
      resources: [`arn:aws:cloudformation:${P.region}:${P.account}:stack/wwhd-${P.env}*/*`],
    }));
    const cfn = new iam.Role(this, "CloudFormationExecutionRole", {
      assumedBy: new iam.ServicePrincipal("cloudformation.amazonaws.com"),
      managedPolicies: [new iam.ManagedPolicy(this, "ExecutionPolicy", {
        statements: [new iam.PolicyStatement({
          actions: ["ecs:*", "elasticfilesystem:*", "elasticloadbalancing:*", "ec2:*SecurityGroup*", "backup:*",
            "cloudwatch:*", "sns:*", "logs:*", "acm:*", "route53:ChangeResourceRecordSets", "iam:PassRole"],
          resources: ["*"],
        })],
      })],
    });
    deploy.addToPolicy(new iam.PolicyStatement({ actions: ["iam:PassRole"], resources: [cfn.roleArn] }));
  }
}

class StorageStack extends cdk.NestedStack {
  readonly fs: efs.FileSystem;
  readonly app: efs.AccessPoint;
  readonly qdrant: efs.AccessPoint;
  constructor(scope: Construct, id: string, vpc: ec2.IVpc, sg: ec2.ISecurityGroup, backupRole: iam.IRole) {
    super(scope, id);
    cdk.Tags.of(this).add("component", "storage");
    this.fs = new efs.FileSystem(this, "FileSystem", {
      vpc, securityGroup: sg, encrypted: true, enableAutomaticBackups: false,
      vpcSubnets: { subnets: vpc.publicSubnets },
      lifecyclePolicy: efs.LifecyclePolicy.AFTER_30_DAYS,
      outOfInfrequentAccessPolicy: efs.OutOfInfrequentAccessPolicy.AFTER_1_ACCESS,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: efs.ThroughputMode.BURSTING,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
      fileSystemPolicy: new iam.PolicyDocument({ statements: [
        new iam.PolicyStatement({ sid: "DenyWithoutTls", effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()],
          actions: ["elasticfilesystem:*"], resources: ["*"],
          conditions: { Bool: { "aws:SecureTransport": "false" } } }),
        new iam.PolicyStatement({ sid: "DenyWithoutAccessPoint", effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite",
            "elasticfilesystem:ClientRootAccess"], resources: ["*"],
          conditions: { Null: { "elasticfilesystem:AccessPointArn": "true" } } }),
        new iam.PolicyStatement({ sid: "AllowIdentityPoliciesOfThisAccount", principals: [new iam.AccountRootPrincipal()],
          actions: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"], resources: ["*"],
          conditions: { Bool: { "elasticfilesystem:AccessedViaMountTarget": "true" } } }),
      ] }),
    });
    const point = (name: string, path: string) => this.fs.addAccessPoint(name, {
      path, posixUser: { uid: "1000", gid: "1000" },
      createAcl: { ownerUid: "1000", ownerGid: "1000", permissions: "755" },
    });
    this.app = point("AppAccessPoint", "/wwhd-data");
    this.qdrant = point("QdrantAccessPoint", "/wwhd-data/qdrant");
    const vault = new backup.BackupVault(this, "BackupVault", { removalPolicy: cdk.RemovalPolicy.RETAIN });
    const plan = new backup.BackupPlan(this, "BackupPlan", { backupVault: vault });
    plan.addRule(new backup.BackupPlanRule({
      ruleName: "daily",
      scheduleExpression: cdk.aws_events.Schedule.cron({ minute: "0", hour: "5" }),
      startWindow: cdk.Duration.hours(1),
      completionWindow: cdk.Duration.hours(6),
      deleteAfter: cdk.Duration.days(35),
    }));
    plan.addSelection("EfsData", { resources: [backup.BackupResource.fromEfsFileSystem(this.fs)], role: backupRole });
  }
}

class ClusterStack extends cdk.NestedStack {
  readonly cluster: ecs.Cluster;
  readonly logGroup: logs.LogGroup;
  constructor(scope: Construct, id: string, vpc: ec2.IVpc) {
    super(scope, id);
    cdk.Tags.of(this).add("component", "cluster");
    this.cluster = new ecs.Cluster(this, "Cluster", { vpc, clusterName: P.clusterName,
      containerInsightsV2: ecs.ContainerInsights.ENABLED });
    this.logGroup = new logs.LogGroup(this, "LogGroup", { logGroupName: P.logGroup,
      retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: cdk.RemovalPolicy.RETAIN });
  }
}

class CertificateStack extends cdk.NestedStack {
  readonly certificate: acm.Certificate;
  constructor(scope: Construct, id: string, zone: route53.IHostedZone) {
    super(scope, id);
    cdk.Tags.of(this).add("component", "certificate");
    this.certificate = new acm.Certificate(this, "Certificate", {
      domainName: P.domain, validation: acm.CertificateValidation.fromDns(zone),
    });
  }
}

class LoadBalancerStack extends cdk.NestedStack {
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly targets: elbv2.ApplicationTargetGroup;
  constructor(scope: Construct, id: string, vpc: ec2.IVpc, sg: ec2.ISecurityGroup, cert: acm.ICertificate) {
    super(scope, id);
    cdk.Tags.of(this).add("component", "load-balancer");
    const logsBucket = new s3.Bucket(this, "AccessLogsBucket", {
      encryption: s3.BucketEncryption.S3_MANAGED, enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: "expire-access-logs", expiration: cdk.Duration.days(90),
        abortIncompleteMultipartUploadAfter: cdk.Duration.days(7) }],
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });
    this.alb = new elbv2.ApplicationLoadBalancer(this, "LoadBalancer", {
      vpc, internetFacing: true, securityGroup: sg, vpcSubnets: { subnets: vpc.publicSubnets },
      idleTimeout: cdk.Duration.seconds(60), dropInvalidHeaderFields: true,
      desyncMitigationMode: elbv2.DesyncMitigationMode.DEFENSIVE,
    });
    this.alb.logAccessLogs(logsBucket);
    this.targets = new elbv2.ApplicationTargetGroup(this, "TargetGroup", {
      vpc, port: 8000, protocol: elbv2.ApplicationProtocol.HTTP, targetType: elbv2.TargetType.IP,
      deregistrationDelay: cdk.Duration.seconds(30),
      healthCheck: { path: "/health", healthyHttpCodes: "200", interval: cdk.Duration.seconds(15),
        healthyThresholdCount: 2, unhealthyThresholdCount: 3 },
    });
    this.alb.addRedirect({ sourcePort: 80, targetPort: 443 });
    this.alb.addListener("HttpsListener", {
      port: 443, certificates: [cert], sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS, defaultTargetGroups: [this.targets],
      open: false,
    });
  }
}

class DnsStack extends cdk.NestedStack {
  constructor(scope: Construct, id: string, zone: route53.IHostedZone, alb: elbv2.IApplicationLoadBalancer) {
    super(scope, id);
    new route53.ARecord(this, "Record", { zone, recordName: P.domain,
      target: route53.RecordTarget.fromAlias(new targets.LoadBalancerTarget(alb)) });
  }
}

class ServiceStack extends cdk.NestedStack {
  readonly service: ecs.FargateService;
  constructor(scope: Construct, id: string, deps: {
    cluster: ecs.ICluster; logGroup: logs.ILogGroup; sg: ec2.ISecurityGroup; vpc: ec2.IVpc; storage: StorageStack;
    execution: iam.IRole; task: iam.IRole; targets: elbv2.IApplicationTargetGroup; imageTag: string;
  }) {
    super(scope, id);
    cdk.Tags.of(this).add("component", "service");
    const { storage } = deps;
    const def = new ecs.FargateTaskDefinition(this, "TaskDefinition", {
      family: "wwhd-backend", cpu: 1024, memoryLimitMiB: 2048, executionRole: deps.execution, taskRole: deps.task,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    const volume = (name: string, ap: efs.IAccessPoint) => def.addVolume({ name, efsVolumeConfiguration: {
      fileSystemId: storage.fs.fileSystemId, transitEncryption: "ENABLED",
      authorizationConfig: { accessPointId: ap.accessPointId, iam: "ENABLED" } } });
    volume("app-data", storage.app);
    volume("qdrant-storage", storage.qdrant);
    def.addVolume({ name: "exec-agent-state" });
    def.addVolume({ name: "exec-agent-logs" });
    // in this stack, not as a grant on the role: the identity stack would then need the storage stack's outputs
    // while the storage stack needs the identity stack's backup role (a cycle CloudFormation rejects)
    new iam.Policy(this, "TaskEfsPolicy", { roles: [deps.task], statements: [new iam.PolicyStatement({
      actions: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
      resources: [storage.fs.fileSystemArn],
      conditions: { StringEquals: { "elasticfilesystem:AccessPointArn": [storage.app.accessPointArn,
        storage.qdrant.accessPointArn] } },
    })] });
    const log = (prefix: string) => ecs.LogDrivers.awsLogs({ logGroup: deps.logGroup, streamPrefix: prefix,
      mode: ecs.AwsLogDriverMode.NON_BLOCKING, maxBufferSize: cdk.Size.mebibytes(25) });
    const agent: ecs.MountPoint[] = [
      { containerPath: "/var/lib/amazon", sourceVolume: "exec-agent-state", readOnly: false },
      { containerPath: "/var/log/amazon", sourceVolume: "exec-agent-logs", readOnly: false },
    ];
    const qdrant = def.addContainer("qdrant", {
      containerName: "qdrant", image: ecs.ContainerImage.fromRegistry("qdrant/qdrant:v1.7.4-unprivileged"),
      cpu: 256, memoryLimitMiB: 512, essential: true, user: "1000:1000", readonlyRootFilesystem: true,
      stopTimeout: cdk.Duration.seconds(120), logging: log("qdrant"),
      environment: { QDRANT__SERVICE__HTTP_PORT: "6333", QDRANT__LOG_LEVEL: "INFO",
        QDRANT__STORAGE__SNAPSHOTS_PATH: "/qdrant/storage/snapshots",
        QDRANT_INIT_FILE_PATH: "/qdrant/storage/.qdrant-initialized" },
      portMappings: [{ containerPort: 6333, name: "qdrant-http" }],
      healthCheck: { command: ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6333 && printf \"GET /readyz HTTP/1.0\\r\\n\\r\\n\" >&3 && read -r status <&3 && [[ \"$status\" == *\" 200 \"* ]]"],
        interval: cdk.Duration.seconds(15), timeout: cdk.Duration.seconds(5), retries: 3,
        startPeriod: cdk.Duration.seconds(30) },
    });
    qdrant.addUlimits({ name: ecs.UlimitName.NOFILE, softLimit: 65535, hardLimit: 65535 });
    qdrant.addMountPoints({ containerPath: "/qdrant/storage", sourceVolume: "qdrant-storage", readOnly: false },
      ...agent);
    const repo = ecr.Repository.fromRepositoryName(this, "Repository", P.repository);
    const app = def.addContainer("fastapi", {
      containerName: "fastapi", image: ecs.ContainerImage.fromEcrRepository(repo, deps.imageTag),
      cpu: 768, memoryLimitMiB: 1536, essential: true, user: "1000:1000", readonlyRootFilesystem: true,
      stopTimeout: cdk.Duration.seconds(60), logging: log("fastapi"),
      environment: { APP_ENV: "production", LOG_LEVEL: "INFO", QDRANT_URL: "http://localhost:6333",
        SQLITE_PATH: "/data/wwhd.db", TMPDIR: "/data" },
      secrets: Object.fromEntries(P.secrets.map((name) => [name, ecs.Secret.fromSecretsManager(
        secrets.Secret.fromSecretNameV2(this, `Secret${name}`, `UNCONFIRMED/${name}`))])),
      portMappings: [{ containerPort: 8000, name: "http" }],
      healthCheck: { command: ["CMD-SHELL", "curl -fsS --max-time 4 -o /dev/null http://localhost:8000/health || exit 1"],
        interval: cdk.Duration.seconds(15), timeout: cdk.Duration.seconds(5), retries: 3,
        startPeriod: cdk.Duration.seconds(60) },
    });
    app.addMountPoints({ containerPath: "/data", sourceVolume: "app-data", readOnly: false }, ...agent);
    app.addContainerDependencies({ container: qdrant, condition: ecs.ContainerDependencyCondition.HEALTHY });
    this.service = new ecs.FargateService(this, "Service", {
      cluster: deps.cluster, taskDefinition: def, serviceName: "wwhd-backend", desiredCount: 1,
      assignPublicIp: true, securityGroups: [deps.sg], vpcSubnets: { subnets: deps.vpc.publicSubnets },
      minHealthyPercent: 0, maxHealthyPercent: 100, circuitBreaker: { enable: true, rollback: true },
      enableExecuteCommand: true, enableECSManagedTags: true, propagateTags: ecs.PropagatedTagSource.SERVICE,
      healthCheckGracePeriod: cdk.Duration.seconds(120), platformVersion: ecs.FargatePlatformVersion.LATEST,
    });
    this.service.attachToApplicationTargetGroup(deps.targets);
  }
}

class MonitoringStack extends cdk.NestedStack {
  constructor(scope: Construct, id: string, deps: {
    service: ecs.FargateService; alb: elbv2.ApplicationLoadBalancer; targets: elbv2.ApplicationTargetGroup;
    fs: efs.FileSystem;
  }) {
    super(scope, id);
    cdk.Tags.of(this).add("component", "monitoring");
    const topic = new sns.Topic(this, "AlarmTopic", { displayName: `wwhd-${P.env} alarms` });
    topic.addSubscription(new subs.EmailSubscription(P.alarmEmail));
    const notify = new actions.SnsAction(topic);
    const five = cdk.Duration.minutes(5);
    const efsMetric = (metricName: string, statistic: string) => new cloudwatch.Metric({ namespace: "AWS/EFS",
      metricName, statistic, period: five, dimensionsMap: { FileSystemId: deps.fs.fileSystemId } });
    const tg = deps.targets.metrics;
    const lb = deps.alb.metrics;
    const alarms: [string, cloudwatch.IMetric, number, number, cloudwatch.ComparisonOperator][] = [
      ["BurstCreditBalanceLow", efsMetric("BurstCreditBalance", "Minimum"), 1099511627776, 3,
        cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD],
      ["CpuHigh", deps.service.metricCpuUtilization({ period: five }), 80, 3,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
      ["MemoryHigh", deps.service.metricMemoryUtilization({ period: five }), 80, 2,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
      ["EfsIoLimit", efsMetric("PercentIOLimit", "Maximum"), 90, 3,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
      ["EfsThroughput", new cloudwatch.MathExpression({ expression: "(m1/1048576)/PERIOD(m1)*100/m2",
        usingMetrics: { m1: efsMetric("MeteredIOBytes", "Sum"), m2: efsMetric("PermittedThroughput", "Sum") },
        period: five }), 90, 3, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
      ["Latency", tg.targetResponseTime({ statistic: "p95", period: five }), 2, 3,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
      ["LoadBalancer5xx", lb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: five }), 10, 1,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
      ["Target5xx", tg.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: five }), 10, 1,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
      ["UnhealthyHosts", tg.unhealthyHostCount({ period: cdk.Duration.minutes(1) }), 0, 3,
        cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
      ["TasksBelowDesired", new cloudwatch.MathExpression({ expression: "desired - running", usingMetrics: {
        desired: new cloudwatch.Metric({ namespace: "ECS/ContainerInsights", metricName: "DesiredTaskCount",
          dimensionsMap: { ClusterName: P.clusterName, ServiceName: "wwhd-backend" }, period: cdk.Duration.minutes(1) }),
        running: new cloudwatch.Metric({ namespace: "ECS/ContainerInsights", metricName: "RunningTaskCount",
          dimensionsMap: { ClusterName: P.clusterName, ServiceName: "wwhd-backend" }, period: cdk.Duration.minutes(1) }),
      }, period: cdk.Duration.minutes(1) }), 0, 5, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD],
    ];
    const widgets: cloudwatch.IWidget[] = [];
    for (const [name, metric, threshold, periods, op] of alarms) {
      const alarm = new cloudwatch.Alarm(this, `${name}Alarm`, {
        alarmName: `wwhd-${P.env}-${name}`, metric, threshold, evaluationPeriods: periods, datapointsToAlarm: periods,
        comparisonOperator: op, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `wwhd-${P.env}: ${name}`,
      });
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
      widgets.push(new cloudwatch.AlarmWidget({ title: name, alarm, width: 8 }));
    }
    new cloudwatch.Dashboard(this, "Dashboard", { dashboardName: `wwhd-${P.env}`, widgets: [widgets] });
  }
}

class Root extends cdk.Stack {
  constructor(scope: Construct, id: string, props: cdk.StackProps) {
    super(scope, id, props);
    for (const [k, v] of Object.entries(TAGS)) cdk.Tags.of(this).add(k, v);
    const imageTag = new cdk.CfnParameter(this, "ImageTag", { type: "String", default: P.defaultTag,
      allowedPattern: "^(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description: "App image tag." });
    const { vpc } = new Network(this);
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, "Zone", { hostedZoneId: P.zoneId,
      zoneName: P.zoneName });
    const security = new SecurityStack(this, "SecurityStack", vpc);
    const identity = new IdentityStack(this, "IdentityStack");
    const storage = new StorageStack(this, "StorageStack", vpc, security.fs, identity.backup);
    const cluster = new ClusterStack(this, "ClusterStack", vpc);
    const certificate = new CertificateStack(this, "CertificateStack", zone);
    const lb = new LoadBalancerStack(this, "LoadBalancerStack", vpc, security.lb, certificate.certificate);
    new DnsStack(this, "DnsStack", zone, lb.alb);
    const service = new ServiceStack(this, "ServiceStack", {
      cluster: cluster.cluster, logGroup: cluster.logGroup, sg: security.app, vpc, storage,
      execution: identity.execution, task: identity.task, targets: lb.targets, imageTag: imageTag.valueAsString,
    });
    new MonitoringStack(this, "MonitoringStack", { service: service.service, alb: lb.alb, targets: lb.targets,
      fs: storage.fs });
  }
}

const app = new cdk.App();
new Root(app, `wwhd-${P.env}`, { env: { account: P.account, region: P.region } });
app.synth();
