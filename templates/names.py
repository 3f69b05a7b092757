"""Physical names, in one place: the tool's name, stack names, the template bucket, the tags every stack carries,
the key prefixes of the bucket, the GitHub OIDC host and the CloudFormation execution role's name. Templates, deploy
and checks read them from here, so a name is never spelled twice (docs/design.md, "Naming")."""

from __future__ import annotations

from .config import EnvParams

TOOL = "wwhd-infra"
BOOTSTRAP_STACK = f"{TOOL}-bootstrap"  # the default template bucket's stack; another bucket's adds its name

# The template bucket `bootstrap` creates by default: the Sub string the templates carry, and the literal deploy
# computes from the caller's account (the two must agree; tests/test_names.py).
DEFAULT_TEMPLATE_BUCKET = f"{TOOL}-${{AWS::AccountId}}-${{AWS::Region}}"

# The key prefixes of the template bucket: a pull request's templates, and the release records only the deploy role
# may write (templates/ci.py; deploy/history.py writes them under <prefix>/<root>/).
PULL_REQUEST_PREFIX = "pr"
RELEASES_PREFIX = "releases"

# GitHub's OIDC issuer host: the IAM OIDC provider's URL and the prefix of its condition keys (GitHub Docs,
# "Configuring OpenID Connect in Amazon Web Services").
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


def default_bucket(account: str, region: str) -> str:
    """``DEFAULT_TEMPLATE_BUCKET`` for one account and region."""
    return DEFAULT_TEMPLATE_BUCKET.replace("${AWS::AccountId}", account).replace("${AWS::Region}", region)


def template_bucket(p: EnvParams) -> str:
    """``ci.template_bucket`` from the params, else ``DEFAULT_TEMPLATE_BUCKET`` (a Sub string)."""
    return (p.ci.template_bucket if p.ci else None) or DEFAULT_TEMPLATE_BUCKET


def boundary_policy_name(bucket: str) -> str:
    """The permissions boundary the bootstrap stack of ``bucket`` creates (``templates/bootstrap.py``)."""
    return f"{bucket}-boundary"


def identity_stack_name(p: EnvParams) -> str:
    """The environment's identity stack (``templates/identity.py``): a top-level stack beside the root, never nested."""
    return f"{p.stack_name}-identity"


def execution_role_name(p: EnvParams) -> str:
    """The CloudFormation execution role (``templates/execution_role.py``): a fixed name (root path), so the role's own
    policy can name it without a reference cycle, and an operator can pass ``--role-arn`` before the stack exists."""
    return f"{p.stack_name}-cloudformation-execution"


def stack_tags(p: EnvParams) -> dict[str, str]:
    """The tags on the environment's top-level stacks (root, identity, migration path); CloudFormation propagates
    them to every resource it can tag."""
    return {"app": p.app, "env": p.env, "managed-by": TOOL}


def shared_stack_tags(p: EnvParams) -> dict[str, str]:
    """The house tags with ``env: shared``, for the bootstrap stacks: one bucket serves every environment of the account
    and region, so a per-environment tag would flip with each environment's bootstrap (and make it never idempotent)."""
    return {**stack_tags(p), "env": "shared"}
