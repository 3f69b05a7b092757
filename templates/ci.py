"""The GitHub Actions deploy identity: GitHub's OIDC provider and four roles, no long-lived keys. Part of the
identity stack (``templates/identity.py``, deployed by an operator, never by CI), with the role they hand every
change to: the CloudFormation execution role (``templates/execution_role.py``). Not stateful.

Four GitHub roles, one per job, so that no workflow ever holds the power to change resources itself:

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

The pull-request, plan and deploy roles may create a change set only with the execution role as its ``RoleArn``
and may pass it only to CloudFormation, so whatever a workflow asks for happens through a template, within that
role's permissions, in the stack history.

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
  CloudFormation User Guide, "CloudFormation service role": a caller needs ``iam:PassRole`` to name the role
  (``iam:PassedToService`` pins it to CloudFormation); executing a change set on a stack with a role does not need it
  again.
* ``ecs:ListTasks`` is authorized on container instances, not on a cluster ARN: ``*`` with the ``ecs:cluster``
  condition (aws-cdk#3199). ``ecr:GetAuthorizationToken`` has no resource-level permission: ``*``.
"""

from __future__ import annotations

import re
from enum import StrEnum

from awacs import acm, cloudformation as cfn, ec2, ecr, ecs, iam as iam_actions, logs, route53, s3, secretsmanager, sts
from awacs.aws import Allow, ArnLike, Condition, Deny, PolicyDocument, Principal, Statement, StringEquals, StringLike
from troposphere import AWSHelperFn, GetAtt, Sub, Template, iam

from . import execution_role
from ._arns import (
    app_stacks,
    arn,
    bucket_arn,
    cluster_arn,
    cluster_name,
    ecr_repository_arn,
    generated_secret_arns,
    identity_stack,
    service_arn,
    template_keys,
    template_url,
)
from ._common import policy_document, star_reviewed, tags
from ._sar import STAR_ONLY
from .config import UNCONFIRMED, EnvParams, given
from .execution_role import CLOUDFORMATION, COMPONENT, MAX_SESSION_SECONDS
from .names import GITHUB_OIDC_HOST, PULL_REQUEST_PREFIX, RELEASES_PREFIX

# The workflow files whose jobs assume the GitHub roles, relative to the repository root (README "GitHub Actions").
DEPLOY_WORKFLOW = ".github/workflows/deploy-backend.yml"
DRIFT_WORKFLOW = ".github/workflows/drift.yml"
# The repository's OIDC subject template these trust policies expect (GitHub Docs, "OpenID Connect reference",
# "Customizing the subject claims": include_claim_keys repo, context, job_workflow_ref; README "GitHub Actions").
SUBJECT_CLAIM_KEYS = ("repo", "context", "job_workflow_ref")
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"


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
    """Add the OIDC provider, the execution role (``templates/execution_role.py``) and the four GitHub roles to ``t``
    (the identity stack); the values of ``Out``."""
    provider = _oidc_provider(t, p)
    execution = execution_role.add(t, p)
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
    return policy_document([Statement(
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
    return t.add_resource(star_reviewed(iam.Role(
        title,
        Description=f"{p.stack_name}: {description}",
        AssumeRolePolicyDocument=_github_trust(provider, subjects),
        MaxSessionDuration=MAX_SESSION_SECONDS,
        Policies=[iam.Policy(PolicyName=title.removeprefix("GitHub").removesuffix("Role").lower(),
                             PolicyDocument=policy_document(statements))],
        Tags=tags(p, COMPONENT),
    ), statements))


def _pull_request_change_sets(p: EnvParams) -> list[str]:
    """A pull request's change sets (``deploy/pipeline.py`` names them ``<root>-pr-<time>``), by name and by ARN."""
    name = f"{p.stack_name}-{PULL_REQUEST_PREFIX}-*"
    return [name, f"arn:*:cloudformation:*:*:changeSet/{name}/*"]


def _plan_statements(p: EnvParams, execution: iam.Role, key_prefix: str = "") -> list[Statement]:
    """Change sets and stack reads on this app's stacks, the template keys of ``key_prefix`` only, passing the
    execution role."""
    execution_arn = GetAtt(execution, "Arn")
    # cloudformation:ChangeSetName (a condition key of CreateChangeSet and DeleteChangeSet, Service Authorization
    # Reference): a pull request's role creates and deletes only change sets named "<root>-pr-*" (deploy/pipeline.py
    # names them so), so it can neither delete main's pending change set nor pass one of its own off as main's.
    own_names = {"cloudformation:ChangeSetName": f"{p.stack_name}-{key_prefix}-*"} if key_prefix else {}
    return [
        Statement(
            # cloudformation:TemplateUrl (a condition key of CreateChangeSet): the root template must come from this
            # role's own key prefix, so a pull request's change set never runs what main uploaded and vice versa
            Sid="CreateChangeSetsThroughExecutionRole", Effect=Allow, Action=[cfn.CreateChangeSet],
            Resource=app_stacks(p),
            Condition=Condition([
                StringEquals("cloudformation:RoleArn", execution_arn),
                StringLike({"cloudformation:TemplateUrl": template_url(p, key_prefix), **own_names}),
            ]),
        ),
        Statement(
            Sid="DeleteOwnChangeSets", Effect=Allow, Action=[cfn.DeleteChangeSet], Resource=app_stacks(p),
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
            Resource=app_stacks(p),
        ),
        Statement(
            # preflight compares the deployed identity stack with the templates (deploy/identity.py): read only
            Sid="ReadIdentityStack", Effect=Allow, Action=[cfn.DescribeStacks, cfn.GetTemplate],
            Resource=[identity_stack(p)],
        ),
        Statement(
            # ValidateTemplate has no resource type, GetTemplateSummary of a template (not a stack) none either:
            # AWS offers no resource-level permission for these, hence "*".
            Sid="ValidateTemplates", Effect=Allow, Action=[cfn.ValidateTemplate, cfn.GetTemplateSummary],
            Resource=["*"],
        ),
        Statement(
            Sid="TemplateObjects", Effect=Allow, Action=[s3.GetObject, s3.PutObject],
            Resource=[template_keys(p, key_prefix)],
        ),
        Statement(
            Sid="TemplateBucket", Effect=Allow, Action=[s3.GetBucketLocation, s3.ListBucket],
            Resource=[bucket_arn(p)],
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
                               Resource=[cluster_arn(p), service_arn(p)]))
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
            Sid="ExecuteChangeSets", Effect=Allow, Action=[cfn.ExecuteChangeSet], Resource=app_stacks(p),
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
            Resource=[bucket_arn(p, f"/{RELEASES_PREFIX}/{p.stack_name}/*")],
        ),
        Statement(
            # `apply` turns on termination protection and sets the stack policy for production stacks.
            Sid="ProtectStacks", Effect=Allow, Action=[cfn.SetStackPolicy, cfn.UpdateTerminationProtection],
            Resource=app_stacks(p),
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
            Resource=[service_arn(p), arn("ecs", f"task/{cluster_name(p)}/*")],
        ),
        Statement(
            # ListTasks is authorized on container instances, not the cluster: "*" pinned by the ecs:cluster key.
            Sid="ListServiceTasks", Effect=Allow, Action=[ecs.ListTasks], Resource=["*"],
            Condition=Condition(ArnLike("ecs:cluster", cluster_arn(p))),
        ),
    ]


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
            Resource=[*app_stacks(p), identity_stack(p)],
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
    secrets = generated_secret_arns(p)
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
