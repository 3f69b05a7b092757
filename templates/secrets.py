"""Secrets Manager secrets this environment creates (``generate: true`` in params). STATEFUL: retained, except
when the create that made them rolls back (``RetainExceptOnCreate``: their fixed names would block the retry).
CloudFormation's handler deletes a secret without a recovery window (force delete; aws-cloudformation/
cloudformation-coverage-roadmap#1999), so the name is free for the retry at once; a secret deleted by hand with the
default recovery window would keep it for 7 to 30 days.

A generated secret gets its value from CloudFormation's ``GenerateSecretString``, so no value ever passes through
params, output or logs. A secret that already exists (the OpenAI key in prod, filled in by the operator) is not
created here: it is referenced by ARN or name where it is used (:func:`secret_value_from`).

Why ``Out`` is computed: the outputs follow the secrets configured in params (one ``<Name>SecretArn`` per generated
secret), so :func:`output_names` replaces a fixed enum; ``Out`` lists the names the checked-in environments use.
"""

from __future__ import annotations

from enum import StrEnum

from awacs import secretsmanager as secretsmanager_actions
from awacs.aws import Allow, Statement
from troposphere import AWSHelperFn, Ref, Sub, Template, secretsmanager

from ._arns import generated_secret_arns
from ._common import new_template, outputs, param, pascal, retain_except_on_create, scan_ignore, tags
from .config import UNCONFIRMED, EnvParams, SecretRef, given

COMPONENT = "secrets"
CMK_NOT_NEEDED = ("encrypted with the AWS managed key aws/secretsmanager; a CMK (~1 USD/month per key) would add "
                  "cross-account use and key-level control we do not need, and a kms:Decrypt grant to "
                  "the execution role")


class In(StrEnum):
    pass


class Out(StrEnum):
    OpenaiApiKeySecretArn = "OpenaiApiKeySecretArn"
    JwtSecretSecretArn = "JwtSecretSecretArn"


def output_name(var: str) -> str:
    """``JWT_SECRET`` -> ``JwtSecretSecretArn``."""
    return f"{pascal(var)}SecretArn"


def output_names(p: EnvParams) -> list[str]:
    return [output_name(var) for var, s in sorted(p.secrets.items()) if s.generate]


def enabled(p: EnvParams) -> bool:
    return bool(output_names(p))


def build(p: EnvParams) -> Template:
    t = new_template(p, "generated Secrets Manager secrets (stateful: retained)")
    values = {}
    for var, s in sorted(p.secrets.items()):
        if not s.generate:
            continue
        secret = t.add_resource(scan_ignore(retain_except_on_create(secretsmanager.Secret(
            f"{pascal(var)}Secret",
            Name=s.name,
            Description=s.description or f"{var} for {p.stack_name}",
            # AWS-managed key aws/secretsmanager: the execution role needs no kms:Decrypt grant of its own.
            GenerateSecretString=secretsmanager.GenerateSecretString(PasswordLength=64, ExcludePunctuation=True),
            Tags=tags(p, COMPONENT),
        )), {"CKV_AWS_149": CMK_NOT_NEEDED}))
        values[output_name(var)] = Ref(secret)  # Ref of a secret is its full ARN
    outputs(t, values)
    return t


def secret_value_from(t: Template, p: EnvParams, var: str) -> str | AWSHelperFn:
    """What ECS's ``valueFrom`` gets: the full ARN (generated or given) or a partial ARN built from a name.

    ECS documents the full ARN; Secrets Manager resolves a partial ARN (no 6-character suffix) too, which is what a
    name alone gives us. Prefer ``arn`` in params for existing secrets.

    An ``arn`` still :data:`~templates.config.UNCONFIRMED` renders as the partial ARN of the name
    ``UNCONFIRMED/<VAR>``: offline generation and cfn-lint keep working (an IAM resource must be ARN-shaped), the
    output shows the gap, and every command that talks to AWS refuses the params before it matters.
    """
    s = p.secrets[var]
    if s.generate:
        return param(t, output_name(var), "String", f"ARN of the generated {var} secret.")
    if s.arn and s.arn != UNCONFIRMED:
        return s.arn
    return Sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:%s" % _name(s, var))


def _name(s: SecretRef, var: str) -> str:
    return f"{UNCONFIRMED}/{var}" if s.arn == UNCONFIRMED else given(s.name, f"secrets.{var}.name")


def secret_policy_resource(p: EnvParams, var: str) -> str | AWSHelperFn:
    """IAM resource for reading one secret: the exact ARN when params give it, else ``<name>-??????`` (the six
    characters Secrets Manager appends; "Permissions policy examples" in the Secrets Manager User Guide). A policy in
    the identity stack is written before the secrets stack generates the secret, so it cannot name its ARN."""
    s: SecretRef = p.secrets[var]
    if s.arn and s.arn != UNCONFIRMED:
        return s.arn
    return Sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:%s-??????" % _name(s, var))

# --- what the CloudFormation execution role needs for these resources (templates/execution_role.py) ----------------


def execution_role_statements(p: EnvParams) -> list[Statement]:
    """Exactly the generated secrets' names (``<name>-??????``), not their prefix (``wwhd-dev/``), which in prod also
    covers the operator-filled OpenAI key that no template manages."""
    secrets = generated_secret_arns(p)
    if not secrets:
        return []
    return [
        Statement(
            Sid="GeneratedSecrets", Effect=Allow,
            # DeleteSecret: RetainExceptOnCreate, so a rolled-back first create deletes the new secret.
            Action=[secretsmanager_actions.CreateSecret, secretsmanager_actions.DeleteSecret,
                    secretsmanager_actions.DescribeSecret, secretsmanager_actions.GetSecretValue,
                    secretsmanager_actions.RemoveRegionsFromReplication,
                    secretsmanager_actions.ReplicateSecretToRegions, secretsmanager_actions.TagResource,
                    secretsmanager_actions.UntagResource, secretsmanager_actions.UpdateSecret],
            Resource=secrets,
        ),
        Statement(
            # GenerateSecretString: GetRandomPassword has no resource-level permission: "*".
            Sid="GenerateSecretValues", Effect=Allow, Action=[secretsmanager_actions.GetRandomPassword],
            Resource=["*"],
        ),
    ]
