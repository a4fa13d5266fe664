"""Pulumi Deployments set up in Pulumi Cloud, from the registry: each cell stack's deployment settings,
an agent pool per cell that needs one, and GitHub Actions as an OIDC issuer.

Written by the management stack (`pulumiservice` provider, token from `PULUMI_ACCESS_TOKEN`), so a
new cell in the registry gets its settings with the next management update. What the service
and the clouds require, checked here before anything is sent (`settings_problems`):

- the source is the registry's repository and `repo_dir`, on its branch; a rollout's deployment
  pins its own commit instead (the API treats commit and branch as mutually exclusive);
- the project installs from `pyproject.toml` (no `requirements.txt` for the executor's own
  dependency step), so the pre-run commands create `.venv`, the virtualenv Pulumi.yaml names,
  and `skipInstallDependencies` is set;
- AWS cells assume the CI role through OIDC; the session name is an STS `RoleSessionName`
  (2-64 of `[\\w+=,.@-]`) and the duration (`XhYmZs`) at most the role's maximum session;
- GCP cells impersonate the registry's service account through its workload identity pool;
- an agent pool's name is unique in the organization: `honeycomb-<cell>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_pulumiservice as ps

from cells.models import DeploymentsGcpOidc, PulumiDeployments

#: STS RoleSessionName: 2 to 64 characters of letters, digits and `+=,.@_-` (AssumeRoleWithWebIdentity).
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
#: What a deployment's AWS session may last, in the API's `XhYmZs` form, and in seconds.
AWS_SESSION = "1h0m0s"
AWS_SESSION_SECONDS = 3600
#: Set up the virtualenv Pulumi.yaml names (`.venv`) from pyproject.toml, then let the engine run.
PRE_RUN_COMMANDS = (
    "python3 -m venv .venv",
    ".venv/bin/python -m pip install --quiet --upgrade pip",
    ".venv/bin/python -m pip install --quiet -e .",
)
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class DeploymentSettingsError(ValueError):
    """The registry cannot be turned into valid deployment settings; the message names the field."""


@dataclass(frozen=True)
class StackDeployment:
    """One cell stack's deployment settings, as data (the component makes the resource)."""

    stack: str
    cell: str
    cloud: str
    agent_pool: bool


def session_name(stack: str) -> str:
    name = f"honeycomb-{stack}"[:64]
    if not SESSION_NAME.match(name):
        raise DeploymentSettingsError(f"{name!r} is not an STS role session name (2-64 of letters, digits, +=,.@_-)")
    return name


def pool_name(cell: str) -> str:
    return f"honeycomb-{cell}"


def settings_problems(
    settings: PulumiDeployments, stacks: Sequence[StackDeployment], *, ci_max_session_seconds: int
) -> list[str]:
    """What would make Pulumi Cloud or a cloud refuse the settings, in the registry's words."""
    problems = []
    where = "cells/registry/organization.yaml pulumi_deployments"
    if any(s.cloud == "gcp" for s in stacks) and settings.gcp is None:
        gcp = sorted(s.cell for s in stacks if s.cloud == "gcp")
        problems.append(
            f"{where}.gcp is not set, but GCP cells ({', '.join(gcp)}) need it: their deployments get credentials "
            "through a workload identity pool trusting https://api.pulumi.com/oidc"
        )
    if any(s.agent_pool for s in stacks) and settings.agent_image is None:
        pooled = sorted(s.cell for s in stacks if s.agent_pool)
        problems.append(
            f"{where}.agent_image is not set, but cells {', '.join(pooled)} deploy through agents in their own "
            "network (in-network runner, prod AWS): give the pinned customer-managed agent image"
        )
    if ci_max_session_seconds < AWS_SESSION_SECONDS:
        problems.append(
            f"the deployments' AWS session ({AWS_SESSION}) is longer than the CI role's maximum session "
            f"({ci_max_session_seconds} s): STS would refuse AssumeRoleWithWebIdentity"
        )
    for stack in stacks:
        try:
            session_name(stack.stack)
        except DeploymentSettingsError as exc:
            problems.append(str(exc))
    return problems


def _oidc(
    cloud: str, ci_role_arn: pulumi.Input[str], stack: str, gcp: DeploymentsGcpOidc | None
) -> ps.OperationContextOIDCArgs:
    if cloud == "aws":
        return ps.OperationContextOIDCArgs(
            aws=ps.AWSOIDCConfigurationArgs(
                role_arn=ci_role_arn, session_name=session_name(stack), duration=AWS_SESSION
            )
        )
    assert gcp is not None
    return ps.OperationContextOIDCArgs(
        gcp=ps.GCPOIDCConfigurationArgs(
            project_id=gcp.project_number,
            workload_pool_id=gcp.workload_pool_id,
            provider_id=gcp.provider_id,
            service_account=gcp.service_account,
        )
    )


class DeploymentsSetup(pulumi.ComponentResource):
    """Deployment settings per cell stack, agent pools, and GitHub Actions trusted to get Pulumi tokens."""

    agent_pool_ids: dict[str, pulumi.Output[str]]
    agent_pool_tokens: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        *,
        settings: PulumiDeployments,
        project: str,
        stacks: Sequence[StackDeployment],
        ci_role_arn: pulumi.Input[str],
        ci_max_session_seconds: int,
        github_subjects: Sequence[str] = (),
        provider: ps.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("honeycomb:pulumi:DeploymentsSetup", name, None, opts)
        problems = settings_problems(settings, stacks, ci_max_session_seconds=ci_max_session_seconds)
        if problems:
            raise DeploymentSettingsError("; ".join(problems))
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        org = settings.organization
        self.agent_pool_ids = {}
        self.agent_pool_tokens = {}
        for stack in stacks:
            if not stack.agent_pool:
                continue
            pool = ps.AgentPool(
                f"{name}-{stack.cell}",
                name=pool_name(stack.cell),
                organization_name=org,
                description=f"Agents inside cell {stack.cell}'s network: its cluster API is private",
                opts=child,
            )
            self.agent_pool_ids[stack.cell] = pool.agent_pool_id
            self.agent_pool_tokens[stack.cell] = pulumi.Output.secret(pool.token_value)
        for stack in stacks:
            ps.DeploymentSettings(
                f"{name}-{stack.stack}",
                organization=org,
                project=project,
                stack=stack.stack,
                source_context=ps.DeploymentSettingsSourceContextArgs(
                    git=ps.DeploymentSettingsGitSourceArgs(
                        repo_url=settings.repository, branch=settings.branch, repo_dir=settings.repo_dir
                    )
                ),
                operation_context=ps.DeploymentSettingsOperationContextArgs(
                    pre_run_commands=list(PRE_RUN_COMMANDS),
                    options=ps.OperationContextOptionsArgs(skip_install_dependencies=True),
                    oidc=_oidc(stack.cloud, ci_role_arn, stack.stack, settings.gcp),
                ),
                agent_pool_id=self.agent_pool_ids.get(stack.cell),
                opts=child,
            )
        if github_subjects:
            # CI (GitHub Actions) exchanges its OIDC token for an organization token: no stored PULUMI_ACCESS_TOKEN.
            ps.OidcIssuer(
                f"{name}-github",
                name="github-actions",
                organization=org,
                url=GITHUB_ISSUER,
                policies=[
                    ps.AuthPolicyDefinitionArgs(
                        decision=ps.AuthPolicyDecision.ALLOW,
                        token_type=ps.AuthPolicyTokenType.ORGANIZATION,
                        authorized_permissions=[ps.AuthPolicyPermissionLevel.ADMIN],
                        rules={"aud": f"urn:pulumi:org:{org}", "sub": subject},
                    )
                    for subject in github_subjects
                ],
                opts=child,
            )
        self.register_outputs({"agentPoolIds": self.agent_pool_ids})
