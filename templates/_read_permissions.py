"""What reading each resource type needs: the ``handlers.read.permissions`` of its CloudFormation registry schema
(as cfn-lint ships them, ``cfnlint.schema.PROVIDER_SCHEMA_MANAGER`` for us-west-2). Drift detection reads every
resource with the caller's credentials, so the nightly drift role (templates/ci.py) needs these for every type the
templates use. Data, copied from the schemas: ``tests/test_drift_role.py`` fails when a rendered template uses a type
missing here, or a schema lists a permission this table lacks.
"""

from __future__ import annotations

READ_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "AWS::Backup::BackupPlan": ("backup:GetBackupPlan", "backup:ListTags"),
    "AWS::Backup::BackupSelection": ("backup:GetBackupSelection",),
    "AWS::Backup::BackupVault": ("backup:DescribeBackupVault", "backup:GetBackupVaultAccessPolicy",
                                 "backup:GetBackupVaultNotifications", "backup:ListTags"),
    "AWS::CertificateManager::Certificate": ("acm:DescribeCertificate", "acm:ListTagsForCertificate"),
    "AWS::CloudFormation::Stack": ("cloudformation:DescribeStacks", "cloudformation:GetStackPolicy",
                                   "cloudformation:GetTemplate"),
    "AWS::CloudWatch::Alarm": ("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
    "AWS::CloudWatch::Dashboard": ("cloudwatch:GetDashboard", "cloudwatch:ListTagsForResource"),
    "AWS::EC2::InternetGateway": ("ec2:DescribeInternetGateways",),
    "AWS::EC2::Route": ("ec2:DescribeRouteTables",),
    "AWS::EC2::RouteTable": ("ec2:DescribeRouteTables",),
    "AWS::EC2::SecurityGroup": ("ec2:DescribeSecurityGroups",),
    "AWS::EC2::SecurityGroupEgress": ("ec2:DescribeSecurityGroupRules",),
    "AWS::EC2::SecurityGroupIngress": ("ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups"),
    "AWS::EC2::Subnet": ("ec2:DescribeNetworkAcls", "ec2:DescribeSubnets"),
    "AWS::EC2::SubnetRouteTableAssociation": ("ec2:DescribeRouteTables",),
    "AWS::EC2::VPC": ("ec2:DescribeNetworkAcls", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcAttribute",
                      "ec2:DescribeVpcEncryptionControls", "ec2:DescribeVpcs"),
    "AWS::EC2::VPCGatewayAttachment": ("ec2:DescribeInternetGateways", "ec2:DescribeVpnGateways"),
    "AWS::ECR::Repository": ("ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy",
                             "ecr:ListTagsForResource"),
    "AWS::ECS::Cluster": ("ecs:DescribeClusters", "kms:DescribeKey"),
    "AWS::ECS::Service": ("ecs:DescribeServices",),
    "AWS::ECS::TaskDefinition": ("ecs:DescribeTaskDefinition",),
    "AWS::EFS::AccessPoint": ("elasticfilesystem:DescribeAccessPoints",),
    "AWS::EFS::FileSystem": ("elasticfilesystem:DescribeBackupPolicy", "elasticfilesystem:DescribeFileSystemPolicy",
                             "elasticfilesystem:DescribeFileSystems", "elasticfilesystem:DescribeLifecycleConfiguration",
                             "elasticfilesystem:DescribeReplicationConfigurations"),
    "AWS::EFS::MountTarget": ("elasticfilesystem:DescribeMountTargetSecurityGroups",
                              "elasticfilesystem:DescribeMountTargets"),
    "AWS::ElasticLoadBalancingV2::Listener": ("elasticloadbalancing:DescribeListenerAttributes",
                                              "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTags"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("elasticloadbalancing:DescribeCapacityReservation",
                                                  "elasticloadbalancing:DescribeLoadBalancerAttributes",
                                                  "elasticloadbalancing:DescribeLoadBalancers",
                                                  "elasticloadbalancing:DescribeTags"),
    "AWS::ElasticLoadBalancingV2::TargetGroup": ("elasticloadbalancing:DescribeTags",
                                                 "elasticloadbalancing:DescribeTargetGroupAttributes",
                                                 "elasticloadbalancing:DescribeTargetGroups",
                                                 "elasticloadbalancing:DescribeTargetHealth"),
    "AWS::IAM::ManagedPolicy": ("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListEntitiesForPolicy"),
    "AWS::IAM::OIDCProvider": ("iam:GetOpenIDConnectProvider",),
    "AWS::IAM::Role": ("iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"),
    "AWS::Logs::LogGroup": ("logs:DescribeIndexPolicies", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies",
                            "logs:GetDataProtectionPolicy", "logs:ListTagsForResource"),
    "AWS::Route53::RecordSet": ("route53:GetHostedZone", "route53:ListHostedZones", "route53:ListResourceRecordSets"),
    "AWS::SNS::Subscription": ("sns:GetSubscriptionAttributes",),
    "AWS::SNS::Topic": ("sns:GetDataProtectionPolicy", "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic",
                        "sns:ListTagsForResource"),
    "AWS::SNS::TopicPolicy": (),  # its schema has no read handler
    "AWS::SecretsManager::Secret": ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
}
