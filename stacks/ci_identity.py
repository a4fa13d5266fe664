"""Who may become the CI role: read from the registry and the management stack's config, and
refused before anything is planned when it would trust more than named identities.

The default path is GitHub Actions OIDC (`aws.github_actions` in `organization.yaml`): the
repository's workflows, on the listed refs or environments only, exchange their token for the
CI role; no keys exist anywhere. `honeycomb:ciPrincipalArns` adds (or, without GitHub, replaces
it with) named IAM roles or users, for example a self-hosted runner's instance role. A principal
must be one ARN, no wildcard, no account root, in one of the accounts the registry names
(management, monitoring, DNS): trusting a pattern or a whole account would let anyone there
deploy every cell.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from cells import Registry
from cells.models import GithubActions

CI_PRINCIPALS_CONFIG = "ciPrincipalArns"
_KEY = f"honeycomb:{CI_PRINCIPALS_CONFIG}"
_WHERE = f"stack config {_KEY} (stacks/Pulumi.management.yaml or --config)"
#: An IAM role or user, by ARN (IAM ARNs have no region). Paths are allowed, wildcards are not.
PRINCIPAL_ARN = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):(?P<kind>role|user)/(?P<name>[\w+=,.@/-]{1,512})$")


class CiConfigError(ValueError):
    """The CI identity is missing or too broad; the message names the setting to fix."""


@dataclass(frozen=True)
class CiIdentity:
    """The principals the CI role trusts."""

    github: GithubActions | None
    principal_arns: tuple[str, ...]


def named_accounts(registry: Registry) -> dict[str, str]:
    """The accounts the registry names outside the cells, by id: CI may only live there."""
    aws = registry.organization.aws
    return {
        aws.management_account_id: "management",
        aws.monitoring_account_id: "monitoring",
        aws.dns_account_id: "dns",
    }


def parse_principals(raw: str | None, registry: Registry) -> tuple[str, ...]:
    """`ciPrincipalArns` as a JSON list of role or user ARNs; anything broader is an error."""
    if raw is None or not raw.strip():
        return ()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CiConfigError(f"{_WHERE} must be a JSON list of IAM role ARNs: {exc.msg}") from None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CiConfigError(f"{_WHERE} must be a non-empty JSON list of IAM role ARNs, got {raw!r}")
    accounts = named_accounts(registry)
    known = ", ".join(f"{name} {account}" for account, name in accounts.items())
    for arn in value:
        if "*" in arn or "?" in arn:
            raise CiConfigError(
                f"{_WHERE}: {arn!r} is a wildcard, which would let anyone matching it deploy every cell; "
                "list the exact ARNs of the CI runner's roles (or use GitHub Actions OIDC, aws.github_actions)"
            )
        match = PRINCIPAL_ARN.match(arn)
        if match is None:
            raise CiConfigError(
                f"{_WHERE}: {arn!r} is not the ARN of an IAM role or user (arn:aws:iam::<account>:role/<name>); "
                "an account root would trust everyone in that account"
            )
        if match["account"] not in accounts:
            raise CiConfigError(
                f"{_WHERE}: {arn!r} is in account {match['account']}, which the registry does not name; "
                f"CI must run from one of: {known}"
            )
    return tuple(sorted(set(value)))


def ci_identity(registry: Registry, raw_principals: str | None) -> CiIdentity:
    """The CI role's principals; at least one of GitHub Actions or named principals is required."""
    identity = CiIdentity(registry.organization.aws.github_actions, parse_principals(raw_principals, registry))
    if identity.github is None and not identity.principal_arns:
        raise CiConfigError(
            "the CI role trusts nobody: set aws.github_actions.repository in cells/registry/organization.yaml "
            f"(GitHub Actions OIDC, the default path) or {_WHERE} to the CI runner's role ARNs"
        )
    return identity
