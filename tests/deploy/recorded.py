"""CloudFormation API responses shaped exactly as the API reference documents them, for botocore Stubber.

They describe one realistic production update: a new image tag (the service stack's task definition is replaced,
the service follows), a security group rule added, and a storage change that may replace the EFS file system; and
one failed update whose real reason is inside a nested stack. Stubber validates every response against the
service model, so a field name or type that the API does not have fails the test that uses it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
from botocore.stub import Stubber

from deploy.aws import Aws

REGION = "us-west-2"
ACCOUNT = "018025611404"
T0 = datetime(2025, 11, 7, 12, 0, 0, tzinfo=UTC)


def stack_arn(name: str, uid: str = "11111111-2222-3333-4444-555555555555") -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{uid}"


def change_set_arn(name: str, uid: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{name}/{uid}"


ROOT = "wwhd-prod"
ROOT_ID = stack_arn(ROOT)
SERVICE_STACK = "wwhd-prod-ServiceStack-1AB2C3D4E5F6G"
STORAGE_STACK = "wwhd-prod-StorageStack-7H8I9J0K1L2M"
SECURITY_STACK = "wwhd-prod-SecurityStack-3N4O5P6Q7R8S"
CS_NAME = "wwhd-prod-abc1234-20251107120000"
ROOT_CS = change_set_arn(CS_NAME, "aaaaaaaa-0000-0000-0000-000000000001")
SERVICE_CS = change_set_arn(f"{CS_NAME}-ServiceStack-1X", "aaaaaaaa-0000-0000-0000-000000000002")
STORAGE_CS = change_set_arn(f"{CS_NAME}-StorageStack-1Y", "aaaaaaaa-0000-0000-0000-000000000003")
SECURITY_CS = change_set_arn(f"{CS_NAME}-SecurityStack-1Z", "aaaaaaaa-0000-0000-0000-000000000004")
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/wwhd-dev-backend"


def stubbed(service: str = "cloudformation") -> tuple[Aws, Stubber]:
    """An :class:`Aws` whose client for ``service`` answers from a Stubber (activated; no request is sent)."""
    aws = Aws(boto3.Session(region_name=REGION), REGION)
    client = aws.client(service)
    stubber = Stubber(client)
    stubber.activate()
    return aws, stubber


def nested_row(logical: str, physical: str, nested_cs: str, details: list[dict]) -> dict:
    return {"Type": "Resource", "ResourceChange": {
        "Action": "Modify", "LogicalResourceId": logical, "PhysicalResourceId": stack_arn(physical),
        "ResourceType": "AWS::CloudFormation::Stack", "Replacement": "False", "Scope": ["Properties"],
        "Details": details, "ChangeSetId": nested_cs}}


def detail(path: str, before: str | None, after: str | None, recreation: str, source: str, entity: str = "",
           evaluation: str = "Static") -> dict:
    name = path.strip("/").split("/")[1]
    target = {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation, "Path": path,
              "AttributeChangeType": "Modify"}
    if before is not None:
        target["BeforeValue"] = before
    if after is not None:
        target["AfterValue"] = after
    out = {"Target": target, "Evaluation": evaluation, "ChangeSource": source}
    if entity:
        out["CausingEntity"] = entity
    return out


def describe_root(next_token: str | None = None, page: int | None = None) -> dict:
    """The root change set; with ``page`` 1 or 2, its Changes split over two pages (NextToken)."""
    changes = [
        nested_row("SecurityStack", SECURITY_STACK, SECURITY_CS, [
            detail("/Properties/TemplateURL", None, None, "Never", "DirectModification")]),
        nested_row("ServiceStack", SERVICE_STACK, SERVICE_CS, [
            detail("/Properties/Parameters/ImageTag", "2025-11-07", "abc1234", "Never", "ParameterReference",
                   "ImageTag")]),
        nested_row("StorageStack", STORAGE_STACK, STORAGE_CS, [
            detail("/Properties/TemplateURL", None, None, "Never", "DirectModification")]),
    ]
    if page == 1:
        changes = changes[:1]
    elif page == 2:
        changes = changes[1:]
    response = {
        "ChangeSetName": CS_NAME, "ChangeSetId": ROOT_CS, "StackId": ROOT_ID, "StackName": ROOT,
        "Parameters": [{"ParameterKey": "DesiredCount", "ParameterValue": "1"},
                       {"ParameterKey": "ImageTag", "ParameterValue": "abc1234"}],
        "CreationTime": T0, "ExecutionStatus": "AVAILABLE", "Status": "CREATE_COMPLETE",
        "Capabilities": ["CAPABILITY_IAM"], "IncludeNestedStacks": True, "RootChangeSetId": ROOT_CS,
        "Changes": changes,
    }
    if next_token:
        response["NextToken"] = next_token
    return response


def _nested(name: str, arn: str, stack: str, changes: list[dict]) -> dict:
    return {"ChangeSetName": name, "ChangeSetId": arn, "StackId": stack_arn(stack), "StackName": stack,
            "CreationTime": T0, "ExecutionStatus": "AVAILABLE", "Status": "CREATE_COMPLETE",
            "IncludeNestedStacks": True, "ParentChangeSetId": ROOT_CS, "RootChangeSetId": ROOT_CS, "Changes": changes}


def describe_service() -> dict:
    return _nested(f"{CS_NAME}-ServiceStack-1X", SERVICE_CS, SERVICE_STACK, [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Modify", "LogicalResourceId": "TaskDefinition",
            "PhysicalResourceId": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/wwhd-backend:7",
            "ResourceType": "AWS::ECS::TaskDefinition", "Replacement": "True", "Scope": ["Properties"],
            "Details": [
                detail("/Properties/ContainerDefinitions/0/Image", f"{IMAGE}:2025-11-07", f"{IMAGE}:abc1234",
                       "Always", "ParameterReference", "ImageTag"),
                detail("/Properties/ContainerDefinitions/0/Image", f"{IMAGE}:2025-11-07", f"{IMAGE}:abc1234",
                       "Always", "DirectModification"),
            ]}},
        {"Type": "Resource", "ResourceChange": {
            "Action": "Modify", "LogicalResourceId": "Service",
            "PhysicalResourceId": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/wwhd-cluster/wwhd-backend",
            "ResourceType": "AWS::ECS::Service", "Replacement": "False", "Scope": ["Properties"],
            "Details": [detail("/Properties/TaskDefinition", None, None, "Never", "ResourceReference",
                               "TaskDefinition", evaluation="Dynamic")]}},
    ])


def describe_storage(replacement: str = "Conditional") -> dict:
    return _nested(f"{CS_NAME}-StorageStack-1Y", STORAGE_CS, STORAGE_STACK, [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Modify", "LogicalResourceId": "FileSystem", "PhysicalResourceId": "fs-00b8168893587fd61",
            "ResourceType": "AWS::EFS::FileSystem", "Replacement": replacement, "Scope": ["Properties"],
            "Details": [detail("/Properties/ThroughputMode", "bursting", "elastic",
                               "Conditionally" if replacement == "Conditional" else "Always", "DirectModification")]}},
        {"Type": "Resource", "ResourceChange": {
            "Action": "Modify", "LogicalResourceId": "BackupPlan", "PhysicalResourceId": "plan-1",
            "ResourceType": "AWS::Backup::BackupPlan", "Replacement": "False", "Scope": ["Properties"],
            "Details": [detail("/Properties/BackupPlan/BackupPlanRule/0/Lifecycle/DeleteAfterDays", "35", "42",
                               "Never", "DirectModification")]}},
    ])


def describe_security() -> dict:
    return _nested(f"{CS_NAME}-SecurityStack-1Z", SECURITY_CS, SECURITY_STACK, [
        {"Type": "Resource", "ResourceChange": {
            "Action": "Add", "LogicalResourceId": "AppIngressFromLoadBalancer8080",
            "ResourceType": "AWS::EC2::SecurityGroupIngress", "Scope": [], "Details": []}},
    ])


def expect_tree(stubber: Stubber, storage_replacement: str = "Conditional", paged: bool = False) -> None:
    """The calls describe_tree makes for the recorded hierarchy, in order."""
    if paged:
        stubber.add_response("describe_change_set", describe_root("page-2", page=1),
                             {"ChangeSetName": ROOT_CS, "IncludePropertyValues": True})
        stubber.add_response("describe_change_set", describe_root(page=2),
                             {"ChangeSetName": ROOT_CS, "IncludePropertyValues": True, "NextToken": "page-2"})
    else:
        stubber.add_response("describe_change_set", describe_root(),
                             {"ChangeSetName": ROOT_CS, "IncludePropertyValues": True})
    for arn, response in ((SECURITY_CS, describe_security()), (SERVICE_CS, describe_service()),
                          (STORAGE_CS, describe_storage(storage_replacement))):
        stubber.add_response("describe_change_set", response, {"ChangeSetName": arn, "IncludePropertyValues": True})


# --- a failed update, as DescribeStackEvents reports it ----------------------------------------------------------


def event(stack: str, stack_id: str, logical: str, physical: str, type_: str, status: str, seconds: int,
          reason: str = "", uid: str = "") -> dict:
    e = {"StackId": stack_id, "EventId": uid or f"{logical}-{status}-{seconds}", "StackName": stack,
         "LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": type_,
         "Timestamp": T0 + timedelta(seconds=seconds), "ResourceStatus": status}
    if reason:
        e["ResourceStatusReason"] = reason
    return e


SERVICE_ID = stack_arn(SERVICE_STACK, "99999999-2222-3333-4444-555555555555")
CIRCUIT_BREAKER = ("Resource handler returned message: \"Error occurred during operation 'ECS Deployment Circuit "
                   "Breaker was triggered'.\" (RequestToken: 5bd3f1b2, HandlerErrorCode: GeneralServiceException)")


def root_events_failed_update() -> list[dict]:
    """Newest first, as DescribeStackEvents returns them."""
    stack = "AWS::CloudFormation::Stack"
    return list(reversed([
        event(ROOT, ROOT_ID, ROOT, ROOT_ID, stack, "UPDATE_IN_PROGRESS", 1, "User Initiated"),
        event(ROOT, ROOT_ID, "ServiceStack", SERVICE_ID, stack, "UPDATE_IN_PROGRESS", 2),
        event(ROOT, ROOT_ID, "ServiceStack", SERVICE_ID, stack, "UPDATE_FAILED", 300,
              f"Embedded stack {SERVICE_ID} was not successfully updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS "
              "with reason: The following resource(s) failed to update: [Service]."),
        event(ROOT, ROOT_ID, ROOT, ROOT_ID, stack, "UPDATE_ROLLBACK_IN_PROGRESS", 301,
              "The following resource(s) failed to update: [ServiceStack]."),
        event(ROOT, ROOT_ID, ROOT, ROOT_ID, stack, "UPDATE_ROLLBACK_COMPLETE", 420),
    ]))


def service_events_failed_update() -> list[dict]:
    stack = "AWS::CloudFormation::Stack"
    service_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/wwhd-cluster/wwhd-backend"
    return list(reversed([
        event(SERVICE_STACK, SERVICE_ID, SERVICE_STACK, SERVICE_ID, stack, "UPDATE_IN_PROGRESS", 3, "User Initiated"),
        event(SERVICE_STACK, SERVICE_ID, "TaskDefinition", "", "AWS::ECS::TaskDefinition", "UPDATE_IN_PROGRESS", 4),
        event(SERVICE_STACK, SERVICE_ID, "Service", service_arn, "AWS::ECS::Service", "UPDATE_IN_PROGRESS", 6),
        event(SERVICE_STACK, SERVICE_ID, "Service", service_arn, "AWS::ECS::Service", "UPDATE_FAILED", 290,
              CIRCUIT_BREAKER),
        event(SERVICE_STACK, SERVICE_ID, SERVICE_STACK, SERVICE_ID, stack, "UPDATE_ROLLBACK_IN_PROGRESS", 291,
              "The following resource(s) failed to update: [Service]."),
        event(SERVICE_STACK, SERVICE_ID, SERVICE_STACK, SERVICE_ID, stack, "UPDATE_ROLLBACK_COMPLETE", 400),
    ]))


def describe_stacks(status: str, reason: str = "") -> dict:
    stack = {"StackId": ROOT_ID, "StackName": ROOT, "CreationTime": T0, "StackStatus": status,
             "Parameters": [{"ParameterKey": "ImageTag", "ParameterValue": "2025-11-07"}],
             "EnableTerminationProtection": True}
    if reason:
        stack["StackStatusReason"] = reason
    return {"Stacks": [stack]}
