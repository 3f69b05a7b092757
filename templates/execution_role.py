"""The CloudFormation execution role: the only identity that creates, updates and deletes this app's resources, and
only CloudFormation can assume it. Part of the identity stack (``templates/identity.py``, deployed by an operator,
never by CI), added with the GitHub roles (``templates/ci.py``), which may create a change set only with this role as
its ``RoleArn`` and pass it only to CloudFormation. So whatever a workflow asks for happens through a template,
within this role's permissions, in the stack history. Not stateful.

Composed, not written here: each module that builds resources declares the statements CloudFormation needs for them,
next to those resources (as CDK's grants do), in functions named for what they cover (``execution_role_statements``
and, where a module's statements sit in more than one place of the policies, ``log_group_statements`` and the
like). :func:`policies` puts them together into the managed policies, in a fixed order: the policies' names, their
split and the order of their statements are what is deployed, so a new statement goes at the end of its kind's list.
Each statement's permissions are explicit action lists per service, taken from the handler permissions of each
resource type's CloudFormation registry schema (``handlers.*.permissions``, as shipped in cfn-lint's schemas), minus
what we never use; ``checks/execution_role.py`` proves the result complete against the rendered policies (a
guardrail).

Why managed policies (IAM User Guide, "IAM and AWS STS quotas"): IAM counts a policy's characters without white
space; the inline policies of one role may hold 10,240 in all, a customer managed policy 6,144, and a role may have
10 managed policies attached by default. The statements come to about 16,000 characters once the intrinsics are
resolved, so they are four managed policies. The largest is ``NetworkAndStorage`` of an environment that creates its
VPC: about 5,750 characters in us-west-2, about 6,070 with the longest partition, Region and URL suffix AWS has,
and 6,076 with the longest app and environment names the params allow too (68 under the quota).
``tests/test_policy_limits.py`` keeps every policy of the identity stack within the quotas. The split is by hand:
when a statement would take a policy over, that test fails, and the statement goes into a fifth group of
``policies`` (a new managed policy; a role may have ten attached).

AWS rules this role relies on:

* Nested stacks inherit the parent's service role: the ``AWS::CloudFormation::Stack`` handler needs ``iam:PassRole``
  (this role passes itself to CloudFormation) and ``s3:GetObject`` on the child templates (``templates/root.py``).
* Fine-grained conditions where the service offers them: ``elasticfilesystem:Encrypted`` on CreateFileSystem
  (``templates/storage.py``), ``acm:DomainNames``/``acm:ValidationMethod`` on RequestCertificate (ACM User Guide,
  "Use condition keys with ACM"; ``templates/certificate.py``),
  ``route53:ChangeResourceRecordSetsNormalizedRecordNames`` (Route 53 Developer Guide, "Using IAM policy conditions
  for fine-grained access control"; ``templates/dns.py``), ``iam:PassedToService`` (``templates/iam.py``),
  ``iam:AWSServiceName``, and ``ec2:Vpc`` on the security groups and the mount targets' network interfaces when the
  VPC is known at build time (VPC User Guide policy examples).
* The trust pins ``aws:SourceAccount`` (CloudFormation User Guide, "Cross-service confused deputy prevention");
  ``iam:PassRole`` cannot pass a role to another account anyway, so this is defence in depth.

Least-privilege choices beyond scoping each statement:

* It holds every permission the registry handlers of its resource types list within each type's own service, plus
  the documented dependent actions. Actions the Service Authorization Reference lists without a resource type are
  moved onto ``*`` by :func:`_star_only_apart` (``templates/_sar.py`` is that data); on an ARN they would be denied.
* It cannot delete what holds data for good: no ``DeleteFileSystem``/``DeleteAccessPoint`` (``templates/storage.py``).
  Secrets and the ECR repository are ``RetainExceptOnCreate``: a rolled-back first create deletes them, so
  ``DeleteSecret``/``DeleteRepository`` are granted, on exactly their names.
* IAM: none written. The app's roles, the GitHub roles and this one are the identity stack's, which an operator
  deploys with their own credentials. This role creates no role, puts or attaches no policy and touches no boundary:
  nothing it does can grant a permission (the privilege-escalation actions scanners list, such as
  ``iam:PutRolePolicy`` or ``iam:AttachRolePolicy``, are not granted at all; ``tests/test_execution_role.py`` proves it
  from the Service Authorization Reference's access levels). It passes the app's three roles, each to the service
  that uses it (``templates/iam.py``), and itself to CloudFormation for the nested stacks, and lets the services
  whose stacks declare ``SERVICE_LINKED_ROLES`` create their service-linked role on first use. It acts on the root
  and its nested stacks (``<root>-*Stack-*``), never on the identity stack.
* KMS: none. The file system, backup vault and secrets use AWS managed keys, whose key policies already allow use
  through the owning service by principals of the account.
"""

from __future__ import annotations

from awacs import iam as iam_actions
from awacs.aws import Allow, Condition, Statement, StringEquals, StringEqualsIfExists
from awacs.helpers.trust import make_service_domain_name, make_simple_assume_statement
from troposphere import Ref, Sub, Template, iam

from . import (
    certificate,
    cluster,
    dns,
    iam as app_roles,
    load_balancer,
    monitoring,
    network,
    root,
    secrets,
    security,
    service,
    storage,
)
from ._arns import arn
from ._common import policy_document, star_reviewed, tags
from ._sar import STAR_ONLY
from .config import EnvParams
from .names import execution_role_name

COMPONENT = "ci"  # the house tag of the CI identities (templates/ci.py)
MAX_SESSION_SECONDS = 3600
CLOUDFORMATION = make_service_domain_name("cloudformation")
# Service-linked roles created on first use of a service in an account, (service principal, role name), as the stack
# modules whose resources need them declare them.
SERVICE_LINKED_ROLES = tuple(sorted((*cluster.SERVICE_LINKED_ROLES, *load_balancer.SERVICE_LINKED_ROLES,
                                     *storage.SERVICE_LINKED_ROLES)))


def policies(p: EnvParams) -> dict[str, list[Statement]]:
    """The managed policies, by name (``Execution<name>Policy``), and the statements each holds, in order: each
    module's statements for its resources, grouped by kind so that every policy stays within IAM's size quota
    (``tests/test_policy_limits.py``). Before :func:`_star_only_apart`."""
    return {
        "StacksAndIam": [*root.execution_role_statements(p), *app_roles.execution_role_statements(p),
                         *_own_statements(p)],
        "NetworkAndStorage": [*security.execution_role_statements(p), *storage.mount_target_network_statements(p),
                              *network.execution_role_statements(p), *storage.execution_role_statements(p)],
        "Compute": [*cluster.execution_role_statements(p), *service.execution_role_statements(p),
                    *load_balancer.execution_role_statements(p), *cluster.log_group_statements(p)],
        "MonitoringAndEdge": [*monitoring.execution_role_statements(p), *secrets.execution_role_statements(p),
                              *certificate.execution_role_statements(p), *dns.execution_role_statements(p),
                              *cluster.repository_statements(p), *load_balancer.access_log_statements(p)],
    }


def add(t: Template, p: EnvParams) -> iam.Role:
    """Add the role and its managed policies to ``t`` (the identity stack)."""
    trust = make_simple_assume_statement(CLOUDFORMATION)
    # IfExists: AWS does not document that CloudFormation sends aws:SourceAccount when it assumes a service role; a
    # plain StringEquals would then lock CloudFormation out of the role. With the key present, it must match.
    trust.Condition = Condition(StringEqualsIfExists("aws:SourceAccount", Sub("${AWS::AccountId}")))
    groups = {name: _star_only_apart(name, statements) for name, statements in policies(p).items()}
    managed = [t.add_resource(star_reviewed(iam.ManagedPolicy(
        f"Execution{name}Policy",
        Description=f"{p.stack_name}: what CloudFormation may do for CI deploys ({name})",
        PolicyDocument=policy_document(statements),
    ), statements)) for name, statements in groups.items()]
    return t.add_resource(iam.Role(
        "CloudFormationExecutionRole",
        RoleName=execution_role_name(p),
        Description=f"{p.stack_name}: CloudFormation creates, updates and deletes this app's resources (CI only)",
        AssumeRolePolicyDocument=policy_document([trust]),
        MaxSessionDuration=MAX_SESSION_SECONDS,
        ManagedPolicyArns=[Ref(policy) for policy in managed],
        Tags=tags(p, COMPONENT),
    ))


def _own_statements(p: EnvParams) -> list[Statement]:
    """What the role needs for itself: passing itself on to the nested stacks (``templates/root.py``), and letting
    the services of ``SERVICE_LINKED_ROLES`` create their service-linked role."""
    return [
        Statement(
            # nested stacks run under this same role: CloudFormation passes it on (AWS::CloudFormation::Stack handler)
            Sid="PassItselfToNestedStacks", Effect=Allow, Action=[iam_actions.PassRole],
            Resource=[arn("iam", f"role/{execution_role_name(p)}", region=False)],
            Condition=Condition(StringEquals("iam:PassedToService", CLOUDFORMATION)),
        ),
        Statement(
            Sid="ServiceLinkedRoles", Effect=Allow, Action=[iam_actions.CreateServiceLinkedRole],
            Resource=[arn("iam", f"role/aws-service-role/{principal}/{name}", region=False)
                      for principal, name in SERVICE_LINKED_ROLES],
            Condition=Condition(StringEquals("iam:AWSServiceName",
                                             [principal for principal, _ in SERVICE_LINKED_ROLES])),
        ),
    ]


def _action_name(action) -> str:
    return f"{action.prefix}:{action.action}"


def _star_only_apart(group: str, statements: list[Statement]) -> list[Statement]:
    """Move the actions AWS authorizes only on ``*`` (no resource type in the Service Authorization Reference, as
    ``templates/_sar.py`` records it) out of statements scoped to ARNs, into one ``*`` statement per policy: on an ARN
    they would be denied. A statement with a condition keeps its actions: a star-only action there is a mistake
    (its condition may name a resource key the action never has), so it fails the build instead."""
    scoped, star_only = [], []
    for s in statements:
        if s.properties["Effect"] is not Allow:
            scoped.append(s)
            continue
        resources = s.properties["Resource"]
        names = [_action_name(a) for a in s.properties["Action"]]
        moved = [a for a, n in zip(s.properties["Action"], names, strict=True)
                 if n in STAR_ONLY and "*" not in resources]
        if moved and "Condition" in s.properties:
            raise ValueError(f"statement {s.properties.get('Sid')}: {', '.join(map(_action_name, moved))} "
                             "are authorized on * only: grant them in a statement of their own")
        kept = [a for a in s.properties["Action"] if a not in moved]
        star_only += moved
        if kept:
            scoped.append(Statement(**{**s.properties, "Action": kept}))
    if star_only:
        unique = {_action_name(a): a for a in star_only}
        # No resource type for these in the Service Authorization Reference: "*" is the only resource they accept.
        scoped.append(Statement(Sid=f"{group}WithoutResourceTypes", Effect=Allow,
                                Action=[unique[n] for n in sorted(unique)], Resource=["*"]))
    return scoped
