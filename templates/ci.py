"""The GitHub Actions deploy identity: an OIDC trust and five roles, no long-lived keys. Part of the identity stack
(``templates/identity.py``, deployed by an operator, never by CI). Not stateful.

Four GitHub roles and one CloudFormation role, so that no workflow ever holds the power to change resources itself:

* ``GitHubPullRequestRole`` is trusted only by the ``pull_request`` subject: it uploads templates under its own key
  prefix of the template bucket (``pr/<root>/``, ``deploy/package.py``) and creates, describes and deletes change
  sets on this app's stacks. It can never execute one, so a pull request shows what it would change but not change
  it, and it cannot write where ``main`` reads.
* ``GitHubPlanRole`` is for the branch (``main``): the same on ``<root>/`` keys, which it alone (with the deploy
  role) writes; neither ever reads ``pr/``. So a content-addressed key under ``<root>/`` holds what ``main`` put
  there.
* ``GitHubDeployRole`` is for the protected GitHub environment (and the branch): everything the plan role may do,
  plus ``ExecuteChangeSet`` (never on a pull request's change set, ``<root>-pr-*``: an explicit deny), writing the
  release records (``releases/<root>/``, which no other CI role may write), pushing the app image to its one ECR
  repository and reading the service's state to verify a deploy.
* ``GitHubDriftRole`` is for the nightly drift workflow: drift detection and reads only.
* ``CloudFormationExecutionRole`` is the only identity that touches resources, and only CloudFormation can assume it.
  Both GitHub roles may create a change set only with this role as its ``RoleArn`` and may pass it only to
  CloudFormation, so whatever a workflow asks for happens through a template, within this role's permissions, in the
  stack history. Its permissions are explicit action lists per service, taken from the handler permissions of each
  resource type's CloudFormation registry schema (``handlers.*.permissions``, as shipped in cfn-lint's schemas),
  minus what we never use.

AWS and GitHub rules this module relies on:

* GitHub's OIDC ``sub`` claim (GitHub Docs, "OpenID Connect reference", "Example subject claims" and "Customizing the
  subject claims"): its *context* is ``environment:<name>`` for a job that references an environment,
  ``pull_request`` for a ``pull_request`` job without one, and ``ref:<ref>`` otherwise. The repository's subject
  template adds ``job_workflow_ref`` (``SUBJECT_CLAIM_KEYS``, set once per repository: README "GitHub Actions"), so
  ``sub`` = ``repo:<owner/repo>:<context>:job_workflow_ref:<owner/repo>/<workflow file>@<ref>`` and each role trusts
  one workflow file's jobs only: a ``pull_request_target``, ``issue_comment`` or ``workflow_run`` workflow, which
  GitHub runs in the default branch's context, has another file and matches no role. IAM evaluates only a GitHub
  token's standard claims (GitHub Docs, "Configuring OpenID Connect in Amazon Web Services"), hence the binding in
  ``sub``. The trust policies pin ``aud`` to ``sts.amazonaws.com`` (what ``aws-actions/configure-aws-credentials``
  requests) and ``sub`` with ``StringLike`` (only the pull request's subject has a ``*``, for its number). The
  deploy role trusts the environment subject only: a branch subject would also match a job on the branch that does
  *not* reference the environment, skipping its required reviewers. ``tests/contract/test_trust.py`` judges every
  trust policy in an IAM policy engine against the subjects of these jobs and of other events and files. Repositories
  created after 2026-07-15 (or opted in) use immutable subjects
  ``repo:owner@<id>/repo@<id>:...``; ``ci.github_repository`` must then carry that form.
* ``AWS::IAM::OIDCProvider`` needs no ``ThumbprintList`` (not required in its CloudFormation schema; IAM retrieves
  one when omitted), and for GitHub IAM does not use thumbprints at all: "AWS secures communication with some OIDC
  identity providers (IdPs) through our library of trusted root certificate authorities ... These OIDC IdPs include
  Auth0, GitHub, GitLab, Google" (IAM API Reference, UpdateOpenIDConnectProviderThumbprint). So none is pinned here.
  There is one provider per URL per account: give ``ci.oidc_provider_arn`` when the account already has it.
* Service Authorization Reference, CloudFormation: ``cloudformation:RoleArn`` is a condition key of
  ``CreateChangeSet`` (and CreateStack/UpdateStack/DeleteStack...) but **not** of ``ExecuteChangeSet``, whose keys are
  only ``cloudformation:ChangeSetName`` and tags: the role is fixed when the change set is created, so pinning it at
  creation covers execution. A request without ``RoleArn`` has no such key and is refused by ``StringEquals``, so a
  change set can never fall back to the caller's own credentials. ``ValidateTemplate`` has no resource type and
  ``GetTemplateSummary`` on a template (no stack) has none either: those two get ``*``. ``CreateChangeSet`` and
  ``ExecuteChangeSet`` list ``cloudformation:TagResource``/``UntagResource`` as dependent actions (stack tags).
  CloudFormation User Guide, "CloudFormation service role": a caller needs ``iam:PassRole`` to name the role;
  executing a change set on a stack with a role does not need it again.
* Nested stacks inherit the parent's service role: the ``AWS::CloudFormation::Stack`` handler needs
  ``iam:PassRole`` (the execution role passes itself to CloudFormation) and ``s3:GetObject`` on the child templates.
* ``ecs:ListTasks`` is authorized on container instances, not on a cluster ARN: ``*`` with the ``ecs:cluster``
  condition (aws-cdk#3199). ``ecr:GetAuthorizationToken`` has no resource-level permission: ``*``.
* EFS API Reference: creating, modifying and deleting a mount target also needs EC2 network-interface actions on the
  mount target's ENI; with an existing VPC those (and the security group rules) are pinned by ``ec2:Vpc``.
* Fine-grained conditions where the service offers them: ``elasticfilesystem:Encrypted`` on CreateFileSystem,
  ``acm:DomainNames``/``acm:ValidationMethod`` on RequestCertificate (ACM User Guide, "Use condition keys with ACM"),
  ``route53:ChangeResourceRecordSetsNormalizedRecordNames`` (Route 53 Developer Guide, "Using IAM policy conditions
  for fine-grained access control"), ``iam:PassedToService``, ``iam:AWSServiceName``, ``iam:PolicyARN``.
* The execution role's trust pins ``aws:SourceAccount`` (CloudFormation User Guide, "Cross-service confused deputy
  prevention"); ``iam:PassRole`` cannot pass a role to another account anyway, so this is defence in depth.

Least-privilege choices of the execution role beyond scoping each statement:

* It holds every permission the registry handlers of its resource types list within each type's own service, plus
  the documented dependent actions, and ``checks/execution_role.py`` proves it against the rendered policies (a
  guardrail). Actions the Service Authorization Reference lists without a resource type are moved onto ``*`` by
  :func:`_star_only_apart` (``templates/_sar.py`` is that data); on an ARN they would be denied.
* It cannot delete what holds data for good: no ``DeleteFileSystem``/``DeleteAccessPoint``. It may delete the backup
  vault (``RetainExceptOnCreate``, fixed name: a rolled-back first create must remove it, or the retry meets its
  name); AWS Backup deletes only an empty vault, so no recovery point can go with it.
  Those resources are ``Retain`` (``templates/stateful.py``), so CloudFormation never calls these; if a template ever
  dropped the Retain policy, the deletion fails instead of losing data. Secrets and the ECR repository are
  ``RetainExceptOnCreate``: a rolled-back first create deletes them, so ``DeleteSecret``/``DeleteRepository`` are
  granted, on exactly their names.
* Secrets: exactly the generated secrets' names (``<name>-??????``), not their ``wwhd-dev/`` prefix, which in prod
  also covers the operator-filled OpenAI key that no template manages.
* IAM: none written. The app's roles, the GitHub roles and this one are the identity stack's
  (``templates/identity.py``), which an operator deploys with their own credentials; this role only passes the app's
  three roles (each to the service that uses it) and itself to CloudFormation for the nested stacks, and lets four
  services create their service-linked role on first use. It acts on the root and its nested stacks
  (``<root>-*Stack-*``), never on the identity stack.
* KMS: none. The file system, backup vault and secrets use AWS managed keys, whose key policies already allow use
  through the owning service by principals of the account.
"""

from __future__ import annotations

import re
from enum import StrEnum

from awacs import (
    acm,
    backup,
    backup_storage,
    cloudformation as cfn,
    cloudwatch,
    ec2,
    ecr,
    ecs,
    elasticfilesystem as efs,
    elasticloadbalancing as elb,
    iam as iam_actions,
    logs,
    route53,
    s3,
    secretsmanager,
    sns,
    sts,
)
from awacs.aws import (
    Allow,
    ArnEquals,
    ArnLike,
    Bool,
    Condition,
    Deny,
    ForAllValuesStringEquals,
    ForAllValuesStringLike,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringEqualsIfExists,
    StringLike,
)
from awacs.helpers.trust import make_service_domain_name, make_simple_assume_statement
from troposphere import AWSHelperFn, GetAtt, Ref, Sub, Template, iam

from ._common import (
    RESOURCE_STAR_ONLY,
    arn,
    ecr_repository_arn,
    scan_ignore,
    tags,
)
from ._sar import STAR_ONLY
from .config import UNCONFIRMED, EnvParams, given
from .iam import role_arns as app_role_arns
from .names import GITHUB_OIDC_HOST, PULL_REQUEST_PREFIX, RELEASES_PREFIX, identity_stack_name, template_bucket

COMPONENT = "ci"
# The workflow files whose jobs assume the GitHub roles, relative to the repository root (README "GitHub Actions").
DEPLOY_WORKFLOW = ".github/workflows/deploy-backend.yml"
DRIFT_WORKFLOW = ".github/workflows/drift.yml"
# The repository's OIDC subject template these trust policies expect (GitHub Docs, "OpenID Connect reference",
# "Customizing the subject claims": include_claim_keys repo, context, job_workflow_ref; README "GitHub Actions").
SUBJECT_CLAIM_KEYS = ("repo", "context", "job_workflow_ref")
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
MAX_SESSION_SECONDS = 3600
CLOUDFORMATION = make_service_domain_name("cloudformation")
# Services the execution role may pass the app's roles to: task definitions (execution and task role) and the backup
# selection (backup role). It passes itself to CloudFormation for the nested stacks.
PASS_ROLE_TO = ("backup.amazonaws.com", "ecs-tasks.amazonaws.com")
# Service-linked roles created on first use of the service in an account: (service principal, role name).
SERVICE_LINKED_ROLES = (
    ("backup.amazonaws.com", "AWSServiceRoleForBackup"),
    ("ecs.amazonaws.com", "AWSServiceRoleForECS"),
    ("elasticfilesystem.amazonaws.com", "AWSServiceRoleForAmazonElasticFileSystem"),
    ("elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing"),
)



def enabled(p: EnvParams) -> bool:
    return p.ci is not None


class In(StrEnum):
    pass  # everything is known at build time


class Out(StrEnum):
    PullRequestRoleArn = "PullRequestRoleArn"
    PlanRoleArn = "PlanRoleArn"
    DeployRoleArn = "DeployRoleArn"
    CloudFormationExecutionRoleArn = "CloudFormationExecutionRoleArn"
    OidcProviderArn = "OidcProviderArn"
    DriftRoleArn = "DriftRoleArn"


OUTPUT_DESCRIPTIONS = {
    Out.PullRequestRoleArn: "Role the plan job assumes for a pull request (never executes)",
    Out.PlanRoleArn: "Role the plan job assumes on the branch",
    Out.DriftRoleArn: "Role the nightly drift job assumes (read-only)",
    Out.DeployRoleArn: "Role the deploy job assumes (protected environment)",
    Out.CloudFormationExecutionRoleArn: "RoleArn every CI change set must name",
    Out.OidcProviderArn: "IAM OIDC provider of token.actions.githubusercontent.com",
}


def add(t: Template, p: EnvParams) -> dict[Out, object]:
    """Add the OIDC provider and the five roles to ``t`` (the identity stack); the values of ``Out``."""
    provider = _oidc_provider(t, p)
    execution = _execution_role(t, p)
    plan_statements = _plan_statements(p, execution)
    pull_request = _github_role(
        t, p, "GitHubPullRequestRole", provider, _pull_request_subjects(p),
        _plan_statements(p, execution, PULL_REQUEST_PREFIX),
        "GitHub Actions pull request: upload templates under pr/, create and inspect change sets (never execute)",
    )
    plan = _github_role(
        t, p, "GitHubPlanRole", provider, _plan_subjects(p), plan_statements,
        "GitHub Actions plan: upload templates, create and inspect change sets (never execute)",
    )
    deploy = _github_role(
        t, p, "GitHubDeployRole", provider, _deploy_subjects(p), plan_statements + _deploy_statements(p),
        "GitHub Actions deploy: plan, execute change sets, push the app image, verify the service",
    )
    drift = _drift_role(t, p, provider)
    return {
        Out.PullRequestRoleArn: GetAtt(pull_request, "Arn"),
        Out.DriftRoleArn: GetAtt(drift, "Arn"),
        Out.PlanRoleArn: GetAtt(plan, "Arn"),
        Out.DeployRoleArn: GetAtt(deploy, "Arn"),
        Out.CloudFormationExecutionRoleArn: GetAtt(execution, "Arn"),
        Out.OidcProviderArn: provider,
    }


# --- names and ARNs known at build time --------------------------------------------------------------------------


def _root(p: EnvParams) -> str:
    return p.stack_name


def _app_stacks(p: EnvParams) -> list[Sub]:
    """The root stack and its nested stacks, any stack id; never the identity stack."""
    return [arn("cloudformation", f"stack/{_root(p)}/*"), *_nested_stacks(p)]


def _nested_stacks(p: EnvParams) -> list[Sub]:
    """CloudFormation names a nested stack ``<root>-<LogicalId>-<random>`` and every nested stack's logical id ends in
    ``Stack`` (``templates/_common.stack_id``), so this matches them and not ``<root>-identity``."""
    return [arn("cloudformation", f"stack/{_root(p)}-*Stack-*/*")]


def _identity_stack(p: EnvParams) -> Sub:
    return arn("cloudformation", f"stack/{identity_stack_name(p)}/*")


def execution_role_name(p: EnvParams) -> str:
    """A fixed name (root path), so the role's own policy can name it without a reference cycle."""
    return f"{_root(p)}-cloudformation-execution"


def _template_bucket(p: EnvParams) -> str:
    return template_bucket(p)


def _bucket_arn(p: EnvParams, key: str = "") -> Sub:
    return arn("s3", _template_bucket(p) + key, region=False, account=False)


def _cluster_name(p: EnvParams) -> str:
    """The fixed name, or the name CloudFormation generates in the cluster stack (``<root>-ClusterStack-..``)."""
    return p.cluster.name or f"{_root(p)}-*"


def _cluster_arn(p: EnvParams) -> Sub:
    return arn("ecs", f"cluster/{_cluster_name(p)}")


def _service_arn(p: EnvParams) -> Sub:
    # The service's name is fixed to the task family (service.py); service ARNs carry the cluster name.
    return arn("ecs", f"service/{_cluster_name(p)}/{p.task.family}")


def _generated_secret_arns(p: EnvParams) -> list[Sub]:
    return [arn("secretsmanager", f"secret:{s.name}-??????") for _, s in sorted(p.secrets.items()) if s.generate]


def _ec2(*types: str) -> list[Sub]:
    return [arn("ec2", f"{kind}/*") for kind in types]


def _vpc_arn(p: EnvParams) -> Sub:
    return arn("ec2", f"vpc/{p.network.vpc_id}")


def _in_existing_vpc(p: EnvParams) -> dict:
    """Pin EC2 mutations to the environment's VPC when it is known at build time (VPC User Guide policy examples)."""
    if p.network.creates_vpc:
        return {}
    return {"Condition": Condition(ArnEquals("ec2:Vpc", _vpc_arn(p)))}


def _doc(statements: list[Statement]) -> PolicyDocument:
    return PolicyDocument(Version="2012-10-17", Statement=statements)


def _star_reviewed(resource, statements: list[Statement]):
    """cfripper's WildcardResourceRule misses many actions without resource-level permissions: say where ours are
    justified, on the resources that have any."""
    if any("*" in (s.properties.get("Resource") or []) for s in statements):
        scan_ignore(resource, {"WildcardResourceRule": RESOURCE_STAR_ONLY})
    return resource


# --- the OIDC provider ---------------------------------------------------------------------------------------------


def _oidc_provider(t: Template, p: EnvParams) -> str | AWSHelperFn:
    ci = given(p.ci, "ci")
    if ci.oidc_provider_arn:
        return ci.oidc_provider_arn
    provider = t.add_resource(iam.OIDCProvider(
        "GitHubOidcProvider",
        Url=GITHUB_OIDC_URL,
        ClientIdList=[STS_AUDIENCE],
        # No ThumbprintList: optional in CloudFormation, and IAM validates GitHub through its trusted root CAs.
        Tags=tags(p, COMPONENT),
    ))
    return GetAtt(provider, "Arn")


# --- the GitHub roles ----------------------------------------------------------------------------------------------


def subject(p: EnvParams, context: str, workflow: str, ref: str) -> str:
    """The ``sub`` claim of a job of ``workflow`` at ``ref`` under the repository's subject template
    (``SUBJECT_CLAIM_KEYS``): ``repo:<owner/repo>:<context>:job_workflow_ref:<owner/repo>/<workflow>@<ref>``, the
    form GitHub's "Customizing the subject claims" example shows. The workflow path in ``job_workflow_ref`` names the
    repository by owner and name, never by id."""
    repo = given(p.ci, "ci").github_repository
    named = re.sub(r"@\d+", "", repo)  # an immutable subject's repo@<id> form names owner/repo in the path
    return f"repo:{repo}:{context}:job_workflow_ref:{named}/{workflow}@{ref}"


def _pull_request_subjects(p: EnvParams) -> list[str]:
    # a pull request's run is at refs/pull/<number>/merge: any number, this workflow file only
    return [subject(p, "pull_request", DEPLOY_WORKFLOW, "refs/pull/*/merge")]


def _plan_subjects(p: EnvParams) -> list[str]:
    branch = f"refs/heads/{given(p.ci, 'ci').branch}"
    return [subject(p, f"ref:{branch}", DEPLOY_WORKFLOW, branch)]


def _deploy_subjects(p: EnvParams) -> list[str]:
    # Only the protected environment, of this workflow file on the branch: a branch subject would let any job on the
    # branch deploy without the environment's required reviewers, and another workflow file could reference the
    # environment too.
    branch = f"refs/heads/{given(p.ci, 'ci').branch}"
    return [subject(p, f"environment:{given(p.ci, 'ci').deploy_environment}", DEPLOY_WORKFLOW, branch)]


def _github_trust(provider: str | AWSHelperFn, subjects: list[str]) -> PolicyDocument:
    """``aud`` exactly, ``sub`` by ``StringLike`` (only the pull request's carries a ``*``, for its number; every
    other character of a subject is literal: none of ``*?`` can appear in a repository, branch or workflow name
    that the params patterns allow)."""
    return _doc([Statement(
        Effect=Allow,
        Principal=Principal("Federated", provider),
        Action=[sts.AssumeRoleWithWebIdentity],
        Condition=Condition([
            StringEquals({f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE}),
            StringLike({f"{GITHUB_OIDC_HOST}:sub": subjects}),
        ]),
    )])


def _github_role(t: Template, p: EnvParams, title: str, provider, subjects: list[str], statements: list[Statement],
                 description: str) -> iam.Role:
    return t.add_resource(_star_reviewed(iam.Role(
        title,
        Description=f"{p.stack_name}: {description}",
        AssumeRolePolicyDocument=_github_trust(provider, subjects),
        MaxSessionDuration=MAX_SESSION_SECONDS,
        Policies=[iam.Policy(PolicyName=title.removeprefix("GitHub").removesuffix("Role").lower(),
                             PolicyDocument=_doc(statements))],
        Tags=tags(p, COMPONENT),
    ), statements))


def _pull_request_change_sets(p: EnvParams) -> list[str]:
    """A pull request's change sets (``deploy/commands.py`` names them ``<root>-pr-<time>``), by name and by ARN."""
    name = f"{_root(p)}-{PULL_REQUEST_PREFIX}-*"
    return [name, f"arn:*:cloudformation:*:*:changeSet/{name}/*"]


def _template_keys(p: EnvParams, key_prefix: str = "") -> Sub:
    """Where ``package`` puts this app's templates: ``<root>/<sha256>.yaml``, a pull request's under ``pr/``."""
    return _bucket_arn(p, f"/{key_prefix + '/' if key_prefix else ''}{_root(p)}/*")


def _template_url(p: EnvParams, key_prefix: str = "") -> Sub:
    """The URLs ``deploy/package.py`` (object_url) gives the root template under ``key_prefix``."""
    prefix = f"{key_prefix}/" if key_prefix else ""
    return Sub(f"https://{_template_bucket(p)}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}/{prefix}{_root(p)}/*")


def _plan_statements(p: EnvParams, execution: iam.Role, key_prefix: str = "") -> list[Statement]:
    """Change sets and stack reads on this app's stacks, the template keys of ``key_prefix`` only, passing the
    execution role."""
    execution_arn = GetAtt(execution, "Arn")
    # cloudformation:ChangeSetName (a condition key of CreateChangeSet and DeleteChangeSet, Service Authorization
    # Reference): a pull request's role creates and deletes only change sets named "<root>-pr-*" (deploy/commands.py
    # names them so), so it can neither delete main's pending change set nor pass one of its own off as main's.
    own_names = {"cloudformation:ChangeSetName": f"{_root(p)}-{key_prefix}-*"} if key_prefix else {}
    return [
        Statement(
            # cloudformation:TemplateUrl (a condition key of CreateChangeSet): the root template must come from this
            # role's own key prefix, so a pull request's change set never runs what main uploaded and vice versa
            Sid="CreateChangeSetsThroughExecutionRole", Effect=Allow, Action=[cfn.CreateChangeSet],
            Resource=_app_stacks(p),
            Condition=Condition([
                StringEquals("cloudformation:RoleArn", execution_arn),
                StringLike({"cloudformation:TemplateUrl": _template_url(p, key_prefix), **own_names}),
            ]),
        ),
        Statement(
            Sid="DeleteOwnChangeSets", Effect=Allow, Action=[cfn.DeleteChangeSet], Resource=_app_stacks(p),
            **({"Condition": Condition(StringLike(own_names))} if own_names else {}),
        ),
        Statement(
            Sid="InspectAppStacks", Effect=Allow,
            Action=[
                cfn.DescribeChangeSet, cfn.DescribeStackEvents, cfn.DescribeStackResource,
                cfn.DescribeStackResources, cfn.DescribeStacks, cfn.GetTemplate, cfn.ListChangeSets,
                cfn.ListStackResources,
                # dependent actions of CreateChangeSet/ExecuteChangeSet when the stacks carry tags
                cfn.TagResource, cfn.UntagResource,
            ],
            Resource=_app_stacks(p),
        ),
        Statement(
            # preflight compares the deployed identity stack with the templates (deploy/identity.py): read only
            Sid="ReadIdentityStack", Effect=Allow, Action=[cfn.DescribeStacks, cfn.GetTemplate],
            Resource=[_identity_stack(p)],
        ),
        Statement(
            # ValidateTemplate has no resource type, GetTemplateSummary of a template (not a stack) none either:
            # AWS offers no resource-level permission for these, hence "*".
            Sid="ValidateTemplates", Effect=Allow, Action=[cfn.ValidateTemplate, cfn.GetTemplateSummary],
            Resource=["*"],
        ),
        Statement(
            Sid="TemplateObjects", Effect=Allow, Action=[s3.GetObject, s3.PutObject],
            Resource=[_template_keys(p, key_prefix)],
        ),
        Statement(
            Sid="TemplateBucket", Effect=Allow, Action=[s3.GetBucketLocation, s3.ListBucket],
            Resource=[_bucket_arn(p)],
        ),
        Statement(
            Sid="PassExecutionRoleToCloudFormation", Effect=Allow, Action=[iam_actions.PassRole],
            Resource=[execution_arn],
            Condition=Condition(StringEquals("iam:PassedToService", CLOUDFORMATION)),
        ),
        Statement(
            # plan --role-arn: preflight simulates the execution role's permissions (deploy/simulate.py); the
            # IAM authorizes SimulatePrincipalPolicy on the simulated principal (PolicySourceArn): this role only
            Sid="SimulateExecutionRole", Effect=Allow, Action=[iam_actions.SimulatePrincipalPolicy],
            Resource=[execution_arn],
        ),
    ] + _preflight_statements(p)


def _preflight_statements(p: EnvParams) -> list[Statement]:
    """Exactly the reads deploy/preflight.py makes before a change set exists, on the names the templates use
    (tests/deploy/test_preflight_permissions.py counts the calls of a run and checks each is allowed here)."""
    secrets = []
    for var, s in sorted(p.secrets.items()):
        if s.arn and s.arn != UNCONFIRMED:
            secrets.append(s.arn)
        else:  # generated or referenced by name, or still UNCONFIRMED (rendered as UNCONFIRMED/<VAR>, secrets.py)
            secrets.append(arn("secretsmanager", f"secret:{s.name or f'{UNCONFIRMED}/{var}'}-??????"))
    names = [
        # EC2 Describe* and logs:DescribeLogGroups have no resource-level permissions: "*".
        Statement(Sid="PreflightDescribe", Effect=Allow,
                  Action=[ec2.DescribeSubnets, ec2.DescribeVpcs, logs.DescribeLogGroups], Resource=["*"]),
        Statement(Sid="PreflightLogGroup", Effect=Allow, Action=[logs.ListTagsForResource],
                  Resource=[arn("logs", f"log-group:{p.logs.group_name}")]),
        Statement(Sid="PreflightRepository", Effect=Allow,
                  # the tags tell whether a repository of the name we create belongs to this stack
                  Action=[ecr.DescribeImages, ecr.DescribeRepositories]
                  + ([ecr.ListTagsForResource] if p.image.create_repository else []),
                  Resource=[ecr_repository_arn(p)]),
    ]
    if p.cluster.name:
        names.append(Statement(Sid="PreflightClusterAndService", Effect=Allow,
                               Action=[ecs.DescribeClusters, ecs.DescribeServices],
                               Resource=[_cluster_arn(p), _service_arn(p)]))
    if secrets:
        names.append(Statement(Sid="PreflightSecrets", Effect=Allow, Action=[secretsmanager.DescribeSecret],
                               Resource=secrets))
    provider = given(p.ci, "ci").oidc_provider_arn or arn("iam", f"oidc-provider/{GITHUB_OIDC_HOST}", region=False)
    names.append(Statement(Sid="PreflightOidcProvider", Effect=Allow, Action=[iam_actions.GetOpenIDConnectProvider],
                           Resource=[provider]))
    if p.domain:
        names.append(Statement(Sid="PreflightHostedZone", Effect=Allow, Action=[route53.GetHostedZone],
                               Resource=[arn("route53", f"hostedzone/{p.domain.hosted_zone_id}", region=False,
                                             account=False)]))
        if p.domain.certificate_arn:
            names.append(Statement(Sid="PreflightCertificate", Effect=Allow, Action=[acm.DescribeCertificate],
                                   Resource=[p.domain.certificate_arn]))
    return names


def _deploy_statements(p: EnvParams) -> list[Statement]:
    """Execute change sets, push the app image, read the service to verify the deploy."""
    return [
        Statement(
            # ExecuteChangeSet has no cloudformation:RoleArn key: the role was pinned when the change set was created.
            Sid="ExecuteChangeSets", Effect=Allow, Action=[cfn.ExecuteChangeSet], Resource=_app_stacks(p),
        ),
        Statement(
            # A pull request's change set is for review only. cloudformation:ChangeSetName is a condition key of
            # ExecuteChangeSet (Service Authorization Reference, CloudFormation); AWS does not document which form it
            # carries when the change set is named by ARN (the workflow passes the ARN), so both forms are denied.
            Sid="NeverExecutePullRequestChangeSets", Effect=Deny, Action=[cfn.ExecuteChangeSet], Resource=["*"],
            Condition=Condition(StringLike("cloudformation:ChangeSetName", _pull_request_change_sets(p))),
        ),
        Statement(
            # apply records each release (deploy/history.py): only this role writes there, never reads or deletes;
            # the plan roles may not (the plan role is assumable by more jobs than this one), so a record under
            # this prefix was written by a deploy that ran. history and rollback read them with an operator's
            # own credentials.
            Sid="RecordReleases", Effect=Allow, Action=[s3.PutObject],
            Resource=[_bucket_arn(p, f"/{RELEASES_PREFIX}/{_root(p)}/*")],
        ),
        Statement(
            # `apply` turns on termination protection and sets the stack policy for production stacks.
            Sid="ProtectStacks", Effect=Allow, Action=[cfn.SetStackPolicy, cfn.UpdateTerminationProtection],
            Resource=_app_stacks(p),
        ),
        Statement(
            # ecr:GetAuthorizationToken has no resource-level permission: "*".
            Sid="EcrLogin", Effect=Allow, Action=[ecr.GetAuthorizationToken], Resource=["*"],
        ),
        Statement(
            # push, and wait for the scan-on-push result (the workflow reads the repository's scanning setting)
            Sid="PushAppImage", Effect=Allow,
            Action=[ecr.BatchCheckLayerAvailability, ecr.BatchGetImage, ecr.CompleteLayerUpload,
                    ecr.DescribeImageScanFindings, ecr.DescribeImages, ecr.DescribeRepositories,
                    ecr.InitiateLayerUpload, ecr.PutImage, ecr.UploadLayerPart],
            Resource=[ecr_repository_arn(p)],
        ),
        Statement(
            Sid="VerifyService", Effect=Allow, Action=[ecs.DescribeServices, ecs.DescribeTasks],
            Resource=[_service_arn(p), arn("ecs", f"task/{_cluster_name(p)}/*")],
        ),
        Statement(
            # ListTasks is authorized on container instances, not the cluster: "*" pinned by the ecs:cluster key.
            Sid="ListServiceTasks", Effect=Allow, Action=[ecs.ListTasks], Resource=["*"],
            Condition=Condition(ArnLike("ecs:cluster", _cluster_arn(p))),
        ),
    ]


# --- the CloudFormation execution role ----------------------------------------------------------------------------


def _execution_role(t: Template, p: EnvParams) -> iam.Role:
    """The role, with its permissions in customer managed policies of the stack.

    Why managed policies: the statements below come to about 14,000 characters once the ARNs are expanded, over
    IAM's 10,240-character quota for all inline policies of one role; each managed policy may hold 6,144, and a role
    may have 10 attached. The groups stay under about 5,000 each.
    """
    trust = make_simple_assume_statement(CLOUDFORMATION)
    # IfExists: AWS does not document that CloudFormation sends aws:SourceAccount when it assumes a service role; a
    # plain StringEquals would then lock CloudFormation out of the role. With the key present, it must match.
    trust.Condition = Condition(StringEqualsIfExists("aws:SourceAccount", Sub("${AWS::AccountId}")))
    groups = {
        "StacksAndIam": _stack_statements(p) + _iam_statements(p),
        "NetworkAndStorage": _network_statements(p) + _storage_statements(p),
        "Compute": _ecs_statements(p) + _load_balancer_statements(p) + _logs_statements(p),
        "MonitoringAndEdge": (_monitoring_statements(p) + _secrets_statements(p) + _certificate_statements(p)
                              + _dns_statements(p) + _repository_statements(p) + _access_log_statements(p)),
    }
    groups = {name: _star_only_apart(name, statements) for name, statements in groups.items()}
    policies = [t.add_resource(_star_reviewed(iam.ManagedPolicy(
        f"Execution{name}Policy",
        Description=f"{p.stack_name}: what CloudFormation may do for CI deploys ({name})",
        PolicyDocument=_doc(statements),
    ), statements)) for name, statements in groups.items()]
    return t.add_resource(iam.Role(
        "CloudFormationExecutionRole",
        RoleName=execution_role_name(p),
        Description=f"{p.stack_name}: CloudFormation creates, updates and deletes this app's resources (CI only)",
        AssumeRolePolicyDocument=_doc([trust]),
        MaxSessionDuration=MAX_SESSION_SECONDS,
        ManagedPolicyArns=[Ref(policy) for policy in policies],
        Tags=tags(p, COMPONENT),
    ))


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


def _stack_statements(p: EnvParams) -> list[Statement]:
    """The nested stacks (AWS::CloudFormation::Stack handler) and their templates in the bucket."""
    return [
        Statement(
            Sid="NestedStacks", Effect=Allow,
            Action=[
                cfn.CreateStack, cfn.DeleteStack, cfn.DescribeStacks, cfn.GetStackPolicy, cfn.GetTemplate,
                cfn.SetStackPolicy, cfn.TagResource, cfn.UntagResource, cfn.UpdateStack,
                cfn.UpdateTerminationProtection,
                # dependent actions (checks/execution_role.py DEPENDENT): rolling back a nested stack's update
                cfn.CancelUpdateStack, cfn.ContinueUpdateRollback,
                # nested change sets, created and run by CloudFormation under this role
                cfn.CreateChangeSet, cfn.DeleteChangeSet, cfn.DescribeChangeSet, cfn.ExecuteChangeSet,
            ],
            Resource=_nested_stacks(p),
        ),
        # the main keys, and a pull request's (its change set's nested stacks are read under this role too)
        Statement(Sid="ReadTemplates", Effect=Allow, Action=[s3.GetObject],
                  Resource=[_template_keys(p), _template_keys(p, PULL_REQUEST_PREFIX)]),
    ]


def _iam_statements(p: EnvParams) -> list[Statement]:
    """Passing roles, never writing IAM.

    No app stack holds an IAM resource: the app's roles, the GitHub roles and this one are the identity stack's
    (``templates/identity.py``), which an operator deploys with their own credentials. So this role creates no role,
    puts or attaches no policy and touches no boundary: nothing it does can grant a permission (the
    privilege-escalation actions scanners list, such as ``iam:PutRolePolicy`` or ``iam:AttachRolePolicy``, are not
    granted at all; ``tests/test_execution_role.py`` proves it from the Service Authorization Reference's access
    levels). It passes the app's three roles to the services that use them, itself to CloudFormation for the nested
    stacks, and lets four services create their service-linked role on first use.
    """
    return [
        Statement(
            Sid="PassAppRoles", Effect=Allow, Action=[iam_actions.PassRole], Resource=sorted(
                app_role_arns(p).values(), key=lambda x: str(x.to_dict())),
            Condition=Condition(StringEquals("iam:PassedToService", list(PASS_ROLE_TO))),
        ),
        Statement(
            # a read: the AWS::ECS::TaskDefinition and AWS::Backup::BackupSelection handlers list iam:GetRole for
            # the roles they are given (checks/execution_role.py DEPENDENT)
            Sid="ReadAppRoles", Effect=Allow, Action=[iam_actions.GetRole], Resource=sorted(
                app_role_arns(p).values(), key=lambda x: str(x.to_dict())),
        ),
        Statement(
            # nested stacks run under this same role: CloudFormation passes it on (AWS::CloudFormation::Stack handler)
            Sid="PassItselfToNestedStacks", Effect=Allow, Action=[iam_actions.PassRole],
            Resource=[arn("iam", f"role/{execution_role_name(p)}", region=False)],
            Condition=Condition(StringEquals("iam:PassedToService", CLOUDFORMATION)),
        ),
        Statement(
            Sid="ServiceLinkedRoles", Effect=Allow, Action=[iam_actions.CreateServiceLinkedRole],
            Resource=[arn("iam", f"role/aws-service-role/{service}/{name}", region=False)
                      for service, name in SERVICE_LINKED_ROLES],
            Condition=Condition(StringEquals("iam:AWSServiceName", [service for service, _ in SERVICE_LINKED_ROLES])),
        ),
    ]


def _network_statements(p: EnvParams) -> list[Statement]:
    """Security groups and their rules always; the VPC, subnets, gateway and routes when the environment creates them.

    EC2 ids are random, so EC2 resources are scoped by account, region and type; with an existing VPC, security
    group changes are pinned to it by ``ec2:Vpc``.
    """
    vpc = _ec2("vpc") if p.network.creates_vpc else [_vpc_arn(p)]
    statements = [
        Statement(
            # EC2 Describe* actions have no resource-level permissions: "*". DescribeAvailabilityZones is Fn::GetAZs.
            Sid="DescribeNetwork", Effect=Allow,
            Action=[
                ec2.DescribeAccountAttributes, ec2.DescribeAddresses,  # ELB CreateLoadBalancer calls these
                ec2.DescribeAvailabilityZones, ec2.DescribeInstances, ec2.DescribeInternetGateways,
                ec2.DescribeIpamPools, ec2.DescribeNetworkAcls, ec2.DescribeNetworkInterfaceAttribute,
                ec2.DescribeNetworkInterfaces, ec2.DescribeRouteTables, ec2.DescribeSecurityGroupRules,
                ec2.DescribeSecurityGroups, ec2.DescribeSubnets, ec2.DescribeVpcs,
                ec2.DescribeVpnGateways,
            ],
            Resource=["*"],
        ),
        Statement(
            Sid="CreateSecurityGroups", Effect=Allow, Action=[ec2.CreateSecurityGroup],
            Resource=vpc + _ec2("security-group"),
        ),
        Statement(
            Sid="SecurityGroupRules", Effect=Allow,
            Action=[
                ec2.AuthorizeSecurityGroupEgress, ec2.AuthorizeSecurityGroupIngress, ec2.DeleteSecurityGroup,
                ec2.RevokeSecurityGroupEgress, ec2.RevokeSecurityGroupIngress,
                ec2.UpdateSecurityGroupRuleDescriptionsEgress, ec2.UpdateSecurityGroupRuleDescriptionsIngress,
            ],
            Resource=_ec2("security-group"),
            **_in_existing_vpc(p),
        ),
        Statement(
            # the optional security-group-rule resource of Authorize* (tags on new rules), outside the ec2:Vpc pin
            Sid="SecurityGroupRuleResources", Effect=Allow,
            Action=[ec2.AuthorizeSecurityGroupEgress, ec2.AuthorizeSecurityGroupIngress],
            Resource=_ec2("security-group-rule"),
        ),
        Statement(
            # EFS API Reference: mount target create/modify/delete also need these on the mount target's ENI
            Sid="MountTargetNetworkInterfaces", Effect=Allow,
            Action=[ec2.CreateNetworkInterface, ec2.DeleteNetworkInterface, ec2.ModifyNetworkInterfaceAttribute],
            Resource=_ec2("network-interface", "security-group", "subnet"),
            **_in_existing_vpc(p),
        ),
    ]
    tagged = ["security-group"]
    if p.network.creates_vpc:
        tagged = ["internet-gateway", "route-table", "security-group", "subnet", "vpc"]
        statements.append(Statement(
            Sid="OwnVpc", Effect=Allow,
            Action=[
                ec2.AssociateRouteTable, ec2.AttachInternetGateway, ec2.CreateInternetGateway, ec2.CreateRoute,
                ec2.CreateRouteTable, ec2.CreateSubnet, ec2.CreateVpc, ec2.DeleteInternetGateway, ec2.DeleteRoute,
                ec2.DeleteRouteTable, ec2.DeleteSubnet, ec2.DeleteVpc, ec2.DescribeVpcAttribute,
                ec2.DetachInternetGateway, ec2.DisassociateRouteTable, ec2.ModifySubnetAttribute,
                ec2.ModifyVpcAttribute, ec2.ReplaceRoute, ec2.ReplaceRouteTableAssociation,
                # the rest of the VPC, subnet and gateway attachment handlers (cfn-lint's schemas)
                ec2.Action("AssociateSubnetCidrBlock"), ec2.Action("AttachVpnGateway"),
                ec2.Action("CreateVpcEncryptionControl"), ec2.Action("DescribeVpcEncryptionControls"),
                ec2.Action("DetachVpnGateway"), ec2.Action("DisassociateSubnetCidrBlock"),
                ec2.Action("ModifyVpcTenancy"),
            ],
            Resource=_ec2("internet-gateway", "ipam-pool", "route-table", "subnet", "vpc", "vpc-encryption-control",
                          "vpn-gateway"),
        ))
    statements.append(Statement(
        Sid="TagNetwork", Effect=Allow, Action=[ec2.CreateTags, ec2.DeleteTags], Resource=_ec2(*tagged),
    ))
    return statements


def _storage_statements(p: EnvParams) -> list[Statement]:
    """EFS (file system, mount targets, access points, policies) and its AWS Backup vault, plan and selection."""
    file_systems = arn("elasticfilesystem", "file-system/*")
    access_points = arn("elasticfilesystem", "access-point/*")
    return [
        Statement(
            # CreateFileSystem has no resource-level permission ("*"); elasticfilesystem:Encrypted pins encryption.
            Sid="CreateEncryptedFileSystem", Effect=Allow, Action=[efs.CreateFileSystem], Resource=["*"],
            Condition=Condition(Bool("elasticfilesystem:Encrypted", "true")),
        ),
        Statement(
            Sid="FileSystems", Effect=Allow,
            Action=[
                efs.CreateAccessPoint, efs.CreateMountTarget, efs.CreateReplicationConfiguration,
                efs.DeleteFileSystemPolicy, efs.DeleteMountTarget, efs.DeleteReplicationConfiguration, efs.DeleteTags,
                efs.DescribeBackupPolicy, efs.DescribeFileSystemPolicy, efs.DescribeFileSystems,
                efs.DescribeLifecycleConfiguration, efs.DescribeMountTargetSecurityGroups,
                efs.DescribeReplicationConfigurations, efs.ModifyMountTargetSecurityGroups, efs.PutBackupPolicy,
                efs.PutFileSystemPolicy, efs.PutLifecycleConfiguration, efs.UpdateFileSystem,
                efs.UpdateFileSystemProtection,
            ],
            Resource=[file_systems],
        ),
        Statement(
            Sid="AccessPointsAndTags", Effect=Allow,
            Action=[efs.DescribeAccessPoints, efs.DescribeMountTargets, efs.ListTagsForResource, efs.TagResource,
                    efs.UntagResource],
            Resource=[file_systems, access_points],
        ),
        Statement(
            Sid="BackupVault", Effect=Allow,
            Action=[backup.CreateBackupVault, backup.DeleteBackupVault, backup.DeleteBackupVaultAccessPolicy,
                    backup.DeleteBackupVaultLockConfiguration, backup.DeleteBackupVaultNotifications,
                    backup.DescribeBackupVault, backup.GetBackupVaultAccessPolicy, backup.GetBackupVaultNotifications,
                    backup.ListTags, backup.PutBackupVaultAccessPolicy, backup.PutBackupVaultLockConfiguration,
                    backup.PutBackupVaultNotifications, backup.TagResource, backup.UntagResource],
            # the vault is named "${AWS::StackName}-vault" in the storage stack: "<root>-StorageStack-<id>-vault"
            Resource=[arn("backup", f"backup-vault:{_root(p)}-*")],
        ),
        Statement(
            # CreateBackupVault needs backup-storage:MountCapsule, which has no resource-level permission: "*".
            Sid="BackupVaultStorage", Effect=Allow, Action=[backup_storage.MountCapsule], Resource=["*"],
        ),
        Statement(
            Sid="BackupPlanAndSelection", Effect=Allow,
            Action=[
                backup.CreateBackupPlan, backup.CreateBackupSelection, backup.DeleteBackupPlan,
                backup.DeleteBackupSelection, backup.GetBackupPlan, backup.GetBackupSelection, backup.ListTags,
                backup.TagResource, backup.UntagResource, backup.UpdateBackupPlan,
            ],
            Resource=[arn("backup", "backup-plan:*")],  # plan ids are random
        ),
    ]


def _ecs_statements(p: EnvParams) -> list[Statement]:
    cluster = _cluster_arn(p)
    service = _service_arn(p)
    task_definitions = arn("ecs", f"task-definition/{p.task.family}:*")
    return [
        Statement(
            Sid="Cluster", Effect=Allow,
            Action=[ecs.CreateCluster, ecs.DeleteCluster, ecs.DescribeClusters, ecs.PutAccountSetting,
                    ecs.PutAccountSettingDefault, ecs.PutClusterCapacityProviders, ecs.UpdateCluster,
                    ecs.UpdateClusterSettings],
            Resource=[cluster],
        ),
        Statement(
            Sid="Service", Effect=Allow,
            Action=[ecs.CreateService, ecs.DeleteService, ecs.DescribeServices, ecs.ListServiceDeployments,
                    ecs.UpdateService],
            Resource=[service],
        ),
        Statement(
            Sid="ServiceDeployments", Effect=Allow,
            Action=[ecs.DescribeServiceDeployments, ecs.StopServiceDeployment],
            Resource=[service, arn("ecs", f"service-deployment/{_cluster_name(p)}/{p.task.family}/*")],
        ),
        Statement(Sid="RegisterTaskDefinitions", Effect=Allow, Action=[ecs.RegisterTaskDefinition],
                  Resource=[task_definitions]),
        Statement(
            # DescribeTaskDefinition and DeregisterTaskDefinition have no resource-level permissions: "*".
            Sid="TaskDefinitionRevisions", Effect=Allow,
            Action=[ecs.DeregisterTaskDefinition, ecs.DescribeTaskDefinition], Resource=["*"],
        ),
        Statement(
            Sid="EcsTags", Effect=Allow, Action=[ecs.ListTagsForResource, ecs.TagResource, ecs.UntagResource],
            Resource=[cluster, service, task_definitions],
        ),
    ]


def _load_balancer_statements(p: EnvParams) -> list[Statement]:
    """The ALB, target group and listeners. CloudFormation generates their names (short, not the root's prefix), so
    they are scoped by account, region and resource type."""
    load_balancers = arn("elasticloadbalancing", "loadbalancer/app/*")
    target_groups = arn("elasticloadbalancing", "targetgroup/*")
    listeners = arn("elasticloadbalancing", "listener/app/*")
    return [
        Statement(
            # Elastic Load Balancing Describe* actions have no resource-level permissions: "*".
            Sid="DescribeLoadBalancing", Effect=Allow,
            Action=[elb.DescribeCapacityReservation, elb.DescribeListenerAttributes, elb.DescribeListeners,
                    elb.DescribeLoadBalancerAttributes, elb.DescribeLoadBalancers, elb.DescribeTags,
                    elb.DescribeTargetGroupAttributes, elb.DescribeTargetGroups, elb.DescribeTargetHealth],
            Resource=["*"],
        ),
        Statement(
            Sid="LoadBalancers", Effect=Allow,
            Action=[elb.CreateListener, elb.CreateLoadBalancer, elb.DeleteLoadBalancer, elb.ModifyCapacityReservation,
                    elb.ModifyIpPools, elb.ModifyLoadBalancerAttributes, elb.SetIpAddressType, elb.SetSecurityGroups,
                    elb.SetSubnets],
            Resource=[load_balancers],
        ),
        Statement(
            Sid="TargetGroups", Effect=Allow,
            Action=[elb.CreateTargetGroup, elb.DeleteTargetGroup, elb.DeregisterTargets, elb.ModifyTargetGroup,
                    elb.ModifyTargetGroupAttributes, elb.RegisterTargets],
            Resource=[target_groups],
        ),
        Statement(
            Sid="Listeners", Effect=Allow,
            Action=[elb.DeleteListener, elb.ModifyListener, elb.ModifyListenerAttributes],
            Resource=[listeners],
        ),
        Statement(
            Sid="LoadBalancingTags", Effect=Allow, Action=[elb.AddTags, elb.RemoveTags],
            Resource=[load_balancers, target_groups, listeners],
        ),
    ]


def _logs_statements(p: EnvParams) -> list[Statement]:
    group = p.logs.group_name
    return [
        Statement(
            # These CloudWatch Logs Describe* actions have no resource-level permissions: "*".
            Sid="DescribeLogGroups", Effect=Allow,
            Action=[logs.DescribeIndexPolicies, logs.DescribeLogGroups, logs.DescribeResourcePolicies],
            Resource=["*"],
        ),
        Statement(
            Sid="LogGroup", Effect=Allow,
            Action=[logs.AssociateKmsKey, logs.CreateLogDelivery, logs.CreateLogGroup, logs.DeleteDataProtectionPolicy,
                    logs.DeleteIndexPolicy, logs.DeleteLogGroup, logs.DeleteResourcePolicy, logs.DeleteRetentionPolicy,
                    logs.DisassociateKmsKey, logs.GetDataProtectionPolicy, logs.ListTagsForResource,
                    logs.PutBearerTokenAuthentication, logs.PutDataProtectionPolicy, logs.PutIndexPolicy,
                    logs.PutLogGroupDeletionProtection, logs.PutResourcePolicy, logs.PutRetentionPolicy,
                    logs.TagResource, logs.UntagResource],
            Resource=[arn("logs", f"log-group:{group}"), arn("logs", f"log-group:{group}:*")],
        ),
    ]


def _monitoring_statements(p: EnvParams) -> list[Statement]:
    """Alarms ("<root>-<Name>"), the dashboard (named like the root stack) and the alarm topic (generated name)."""
    root = _root(p)
    alarms = arn("cloudwatch", f"alarm:{root}-*")
    dashboards = [arn("cloudwatch", f"dashboard/{root}", region=False),
                  arn("cloudwatch", f"dashboard/{root}-*", region=False)]
    return [
        Statement(
            Sid="Alarms", Effect=Allow,
            Action=[cloudwatch.DeleteAlarms, cloudwatch.DescribeAlarms, cloudwatch.PutMetricAlarm],
            Resource=[alarms],
        ),
        Statement(
            Sid="Dashboards", Effect=Allow,
            Action=[cloudwatch.DeleteDashboards, cloudwatch.GetDashboard, cloudwatch.PutDashboard],
            Resource=dashboards,
        ),
        Statement(
            Sid="CloudWatchTags", Effect=Allow,
            Action=[cloudwatch.ListTagsForResource, cloudwatch.TagResource, cloudwatch.UntagResource],
            Resource=[alarms, *dashboards],
        ),
        Statement(
            # the topic's generated name starts with the nested stack's name; subscriptions are "<topic ARN>:<id>"
            Sid="AlarmTopic", Effect=Allow,
            Action=[
                sns.CreateTopic, sns.DeleteTopic, sns.GetDataProtectionPolicy, sns.GetSubscriptionAttributes,
                sns.GetTopicAttributes, sns.ListSubscriptionsByTopic, sns.ListTagsForResource,
                sns.PutDataProtectionPolicy, sns.SetSubscriptionAttributes, sns.SetTopicAttributes, sns.Subscribe,
                sns.TagResource,
                sns.Unsubscribe, sns.UntagResource,
            ],
            Resource=[arn("sns", f"{root}-*")],
        ),
    ]


def _secrets_statements(p: EnvParams) -> list[Statement]:
    secrets = _generated_secret_arns(p)
    if not secrets:
        return []
    return [
        Statement(
            Sid="GeneratedSecrets", Effect=Allow,
            # DeleteSecret: RetainExceptOnCreate, so a rolled-back first create deletes the new secret.
            Action=[secretsmanager.CreateSecret, secretsmanager.DeleteSecret, secretsmanager.DescribeSecret,
                    secretsmanager.GetSecretValue, secretsmanager.RemoveRegionsFromReplication,
                    secretsmanager.ReplicateSecretToRegions, secretsmanager.TagResource, secretsmanager.UntagResource,
                    secretsmanager.UpdateSecret],
            Resource=secrets,
        ),
        Statement(
            # GenerateSecretString: GetRandomPassword has no resource-level permission: "*".
            Sid="GenerateSecretValues", Effect=Allow, Action=[secretsmanager.GetRandomPassword], Resource=["*"],
        ),
    ]


def _certificate_statements(p: EnvParams) -> list[Statement]:
    if p.domain is None or p.domain.certificate_arn:
        return []
    certificates = arn("acm", "certificate/*")  # certificate ids are random
    return [
        Statement(
            # RequestCertificate has no resource-level permission: "*", pinned to our name and DNS validation.
            Sid="RequestCertificate", Effect=Allow, Action=[acm.RequestCertificate], Resource=["*"],
            Condition=Condition([
                ForAllValuesStringEquals("acm:DomainNames", [p.domain.name]),
                StringEquals("acm:ValidationMethod", "DNS"),
            ]),
        ),
        Statement(
            Sid="Certificates", Effect=Allow,
            Action=[acm.AddTagsToCertificate, acm.DeleteCertificate, acm.DescribeCertificate,
                    acm.ListTagsForCertificate, acm.RemoveTagsFromCertificate, acm.UpdateCertificateOptions],
            Resource=[certificates],
        ),
    ]


def _dns_statements(p: EnvParams) -> list[Statement]:
    """The alias record and the certificate's validation record, in the one hosted zone, under the API's name."""
    if p.domain is None:
        return []
    zone = arn("route53", f"hostedzone/{p.domain.hosted_zone_id}", region=False, account=False)
    name = p.domain.name.lower()
    return [
        Statement(
            Sid="ApiRecords", Effect=Allow, Action=[route53.ChangeResourceRecordSets], Resource=[zone],
            # Route 53 Developer Guide, "Using IAM policy conditions for fine-grained access control": normalized
            # names are lower case without the trailing dot. "_*.<name>" is ACM's validation CNAME.
            Condition=Condition(ForAllValuesStringLike(
                "route53:ChangeResourceRecordSetsNormalizedRecordNames", [name, f"_*.{name}"])),
        ),
        Statement(
            Sid="ReadZone", Effect=Allow, Action=[route53.GetHostedZone, route53.ListResourceRecordSets],
            Resource=[zone],
        ),
        Statement(
            Sid="WaitForChanges", Effect=Allow, Action=[route53.GetChange],
            Resource=[arn("route53", "change/*", region=False, account=False)],
        ),
        Statement(
            # ListHostedZones has no resource-level permission: "*".
            Sid="ListZones", Effect=Allow, Action=[route53.ListHostedZones], Resource=["*"],
        ),
    ]


# AWS::S3::Bucket and AWS::S3::BucketPolicy handler permissions (cfn-lint's schemas) that are IAM actions, less
# DeleteBucket and DeleteObject (checks/execution_role.py WITHHELD: the bucket is Retain). The handlers' API names
# DeleteBucketCors/Encryption/Lifecycle/Replication are authorized by the Put*Configuration actions listed here.
ACCESS_LOG_BUCKET_ACTIONS = (
    "CreateBucket", "CreateBucketMetadataTableConfiguration", "DeleteBucketMetadataTableConfiguration",
    "DeleteBucketPolicy", "DeleteBucketWebsite",
    "GetAccelerateConfiguration", "GetAnalyticsConfiguration", "GetBucketAbac", "GetBucketAcl", "GetBucketCORS",
    "GetBucketLogging", "GetBucketMetadataTableConfiguration", "GetBucketNotification",
    "GetBucketObjectLockConfiguration", "GetBucketOwnershipControls", "GetBucketPolicy", "GetBucketPublicAccessBlock",
    "GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite", "GetEncryptionConfiguration",
    "GetIntelligentTieringConfiguration", "GetInventoryConfiguration", "GetLifecycleConfiguration",
    "GetMetricsConfiguration", "GetReplicationConfiguration", "ListBucket", "ListTagsForResource",
    "PutAccelerateConfiguration", "PutAnalyticsConfiguration", "PutBucketAbac", "PutBucketAcl", "PutBucketCORS",
    "PutBucketLogging", "PutBucketNotification", "PutBucketObjectLockConfiguration", "PutBucketOwnershipControls",
    "PutBucketPolicy", "PutBucketPublicAccessBlock", "PutBucketTagging",
    "PutBucketVersioning", "PutBucketWebsite", "PutEncryptionConfiguration", "PutIntelligentTieringConfiguration",
    "PutInventoryConfiguration", "PutLifecycleConfiguration", "PutMetricsConfiguration", "PutObjectAcl",
    "PutReplicationConfiguration", "TagResource", "UntagResource",
    "UpdateBucketMetadataAnnotationTableConfiguration", "UpdateBucketMetadataInventoryTableConfiguration",
    "UpdateBucketMetadataJournalTableConfiguration",
)


def _access_log_statements(p: EnvParams) -> list[Statement]:
    """Production's ALB access log bucket (load_balancer stack). CloudFormation generates its name from the nested
    stack's name, lower case: ``<root>-loadbalancerstack-<id>-accesslogsbucket-<id>`` (cut to 63 characters)."""
    if not p.production:
        return []
    bucket = f"{_root(p).lower()}-*"
    return [Statement(
        Sid="AccessLogBucket", Effect=Allow, Action=[s3.Action(a) for a in ACCESS_LOG_BUCKET_ACTIONS],
        Resource=[arn("s3", bucket, region=False, account=False),
                  arn("s3", f"{bucket}/*", region=False, account=False)],
    )]


def _repository_statements(p: EnvParams) -> list[Statement]:
    if not p.image.create_repository:
        return []
    return [Statement(
        Sid="AppRepository", Effect=Allow,
        Action=[
            # DeleteRepository: RetainExceptOnCreate, so a rolled-back first create deletes the new repository.
            ecr.CreateRepository, ecr.DeleteLifecyclePolicy, ecr.DeleteRepository, ecr.DeleteRepositoryPolicy,
            ecr.DescribeRepositories,
            ecr.GetLifecyclePolicy, ecr.GetRepositoryPolicy, ecr.ListTagsForResource, ecr.PutImageScanningConfiguration,
            ecr.PutImageTagMutability, ecr.PutLifecyclePolicy, ecr.SetRepositoryPolicy, ecr.TagResource,
            ecr.UntagResource,
        ],
        Resource=[ecr_repository_arn(p)],
    )]


# --- the nightly drift role (read-only) ------------------------------------------------------------------------------


def _drift_subjects(p: EnvParams) -> list[str]:
    # A scheduled workflow runs on the default branch: its subject is the branch's, of the drift workflow file.
    branch = f"refs/heads/{given(p.ci, 'ci').branch}"
    return [subject(p, f"ref:{branch}", DRIFT_WORKFLOW, branch)]


def _drift_role(t: Template, p: EnvParams, provider) -> iam.Role:
    """``GitHubDriftRole``: drift detection on this app's stacks and read access to every resource type the templates
    use, nothing else. CloudFormation reads each resource with the caller's credentials when it detects drift, so a
    missing read permission would surface only as a failed detection."""
    return _github_role(t, p, "GitHubDriftRole", provider, _drift_subjects(p), _drift_statements(p),
                        "GitHub Actions nightly drift: detect drift and read the resources (read-only)")


def _drift_statements(p: EnvParams) -> list[Statement]:
    """The drift APIs on the app's stacks, and the ``handlers.read.permissions`` of every resource type
    (templates/_read_permissions.py). Reads have no side effects, but the resources' physical names are generated by
    CloudFormation: reads are pinned to this account (any region: dashboards have none in their ARN), except the
    ones with no resource type in the Service Authorization Reference (templates/_sar.py), which only accept ``*``. The
    one read that reveals data, a secret's value (the Secret read handler calls GetSecretValue), is allowed on the
    generated secrets only."""
    from awacs.aws import Action

    from ._read_permissions import READ_PERMISSIONS

    secret_value = "secretsmanager:GetSecretValue"
    reads = sorted({a for actions in READ_PERMISSIONS.values() for a in actions} - {secret_value})
    star = [a for a in reads if a in STAR_ONLY]  # no resource type in the Service Authorization Reference
    scoped: dict[str, list[str]] = {}
    for a in reads:
        if a not in star:
            scoped.setdefault(a.split(":", 1)[0], []).append(a)
    statements = [
        Statement(
            Sid="DetectDriftOnAppStacks", Effect=Allow,
            Action=[cfn.DetectStackDrift, cfn.DetectStackResourceDrift, cfn.DescribeStackResourceDrifts,
                    cfn.DescribeStacks, cfn.ListStackResources, cfn.DescribeStackResource],
            Resource=[*_app_stacks(p), _identity_stack(p)],
        ),
        Statement(
            # Takes a detection id, not a stack: the action has no resource type, hence "*".
            Sid="DriftDetectionStatus", Effect=Allow, Action=[cfn.DescribeStackDriftDetectionStatus], Resource=["*"],
        ),
        Statement(
            Sid="ReadWithoutResourceLevelPermissions", Effect=Allow,
            Action=[Action(*a.split(":", 1)) for a in star], Resource=["*"],
        ),
    ]
    for service, actions in sorted(scoped.items()):
        statements.append(Statement(
            Sid=f"Read{service.title().replace('-', '')}ForDrift", Effect=Allow,
            Action=[Action(*a.split(":", 1)) for a in actions], Resource=[_in_this_account(service)]))
    secrets = _generated_secret_arns(p)
    if secrets:
        statements.append(Statement(Sid="ReadGeneratedSecretsForDrift", Effect=Allow,
                                    Action=[secretsmanager.GetSecretValue], Resource=secrets))
    return statements


def _in_this_account(service: str) -> Sub:
    """Every resource of ``service`` in this account, any region; Route 53 and S3 ARNs carry no account."""
    if service == "route53":
        return Sub("arn:${AWS::Partition}:route53:::*")
    if service == "s3":  # bucket ARNs carry neither account nor region (the ALB access log bucket); reads only
        return Sub("arn:${AWS::Partition}:s3:::*")
    return Sub(f"arn:${{AWS::Partition}}:{service}:*:${{AWS::AccountId}}:*")
