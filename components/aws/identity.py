"""Who may enter a cell account: IAM Identity Center permission sets and account assignments,
and the role CI deploys as.

Scope: the three permission sets (read-only, cell-operator, admin), group and user lookups in
the identity store, one account assignment per (cell, principal, permission set), and the CI
role in the management account. Non-goals: creating groups or users (they come from the
identity provider) and GCP IAM (the cell stacks grant the groups' Google identities).

Every assignment is keyed by cell, principal and permission, never by position, so adding a
cell or a rule adds exactly its assignments. Policy attachments depend on the assignments:
attaching or detaching a policy re-provisions the permission set into every account it is
assigned to, so it must run after the assignments exist (and, on destroy, before they go).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.iam import document, managed_policy_arn

#: AWS managed policies the permission sets attach (names after arn:aws:iam::aws:policy/).
ADMINISTRATOR_ACCESS = "AdministratorAccess"
READ_ONLY_ACCESS = "ReadOnlyAccess"

#: The longest session any permission set grants.
MAX_SESSION = "PT8H"


class PrincipalType(StrEnum):
    group = "GROUP"
    user = "USER"


@dataclass(frozen=True)
class PermissionSetSpec:
    description: str
    session_duration: str
    """ISO 8601 duration, at most PT8H."""
    managed_policies: tuple[str, ...] = ()
    """AWS managed policy names (after arn:aws:iam::aws:policy/)."""
    inline_policy: str | None = None


def cell_operator_policy(routing_role_arn: str | None = None) -> str:
    """Operate a cell's workloads (clusters, node groups, load balancers, logs, metrics) without
    touching identity, the organization, the audit trail or the monitoring link. No node shells
    (`ssm:StartSession`): operators reach workloads through the cluster's access entries. With
    `routing_role_arn`: assume the routing role, which runs `cellctl tenants move` (its trust
    names the DNS account, so the caller's own policy must allow the call as well)."""
    moves = (
        [{"Sid": "MoveTenants", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": routing_role_arn}]
        if routing_role_arn
        else []
    )
    return document(*moves, *_operate_cell())


def _operate_cell() -> list[dict[str, Any]]:
    return [
        {
            "Sid": "OperateCell",
            "Effect": "Allow",
            "Action": [
                "autoscaling:Describe*",
                "autoscaling:SetDesiredCapacity",
                "cloudwatch:Describe*",
                "cloudwatch:Get*",
                "cloudwatch:List*",
                "ec2:Describe*",
                "ecr:BatchGetImage",
                "ecr:Describe*",
                "ecr:List*",
                "eks:AccessKubernetesApi",
                "eks:Describe*",
                "eks:List*",
                "eks:UpdateNodegroupConfig",
                "elasticloadbalancing:Describe*",
                "logs:Describe*",
                "logs:FilterLogEvents",
                "logs:Get*",
                "logs:StartQuery",
                "logs:StopQuery",
                "route53:Get*",
                "route53:List*",
                "tag:GetResources",
            ],
            "Resource": "*",
        },
        {
            "Sid": "NeverIdentityOrGuardrails",
            "Effect": "Deny",
            "Action": [
                "account:*",
                "cloudtrail:DeleteTrail",
                "cloudtrail:StopLogging",
                "iam:*",
                "oam:*",
                "organizations:*",
                "sso:*",
            ],
            "Resource": "*",
        },
    ]


def permission_set_specs(routing_role_arn: str | None = None) -> dict[str, PermissionSetSpec]:
    """The permission sets by name (the registry's `Permission` values); `routing_role_arn`: the
    routing role cell operators may assume (tenant moves)."""
    return {
        "read-only": PermissionSetSpec(
            description="Look at everything in a cell account, change nothing",
            session_duration="PT8H",
            managed_policies=(READ_ONLY_ACCESS,),
        ),
        "cell-operator": PermissionSetSpec(
            description="Operate a cell: scale, inspect, read logs and metrics; no IAM, no guardrails",
            session_duration="PT4H",
            managed_policies=(READ_ONLY_ACCESS,),
            inline_policy=cell_operator_policy(routing_role_arn),
        ),
        "admin": PermissionSetSpec(
            description="Break-glass administrator of a cell account: one-hour sessions, every use is audited",
            session_duration="PT1H",
            managed_policies=(ADMINISTRATOR_ACCESS,),
        ),
    }


@dataclass(frozen=True, order=True)
class Assignment:
    """One principal holding one permission set in one cell's account."""

    cell: str
    principal_type: PrincipalType
    principal: str
    """A group's display name or a user's user name."""
    permission: str

    @property
    def key(self) -> str:
        """The resource name: stable ids only (cell, principal, permission)."""
        return f"{self.cell}-{self.principal_type.value.lower()}-{self.principal}-{self.permission}"


class CellAccessArgs(TypedDict):
    instance_arn: str
    """ARN of the IAM Identity Center instance."""
    identity_store_id: str
    """Id of the identity store that holds the groups and users."""
    permission_sets: Mapping[str, PermissionSetSpec]
    """Permission sets by name."""
    account_ids: Mapping[str, pulumi.Input[str]]
    """Cell accounts by cell name."""
    assignments: Sequence[Assignment]
    """Every (cell, principal, permission set) to grant; each cell must be in `account_ids`."""
    tags: Mapping[str, str]


class CellAccess(pulumi.ComponentResource):
    """Permission sets, identity-store lookups and account assignments."""

    permission_set_arns: dict[str, pulumi.Output[str]]
    group_ids: dict[str, pulumi.Output[str]]
    user_ids: dict[str, pulumi.Output[str]]
    assignment_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: CellAccessArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:CellAccess", name, None, opts)
        instance_arn = args["instance_arn"]
        store = args["identity_store_id"]
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        specs = dict(args["permission_sets"])
        _check_assignments(args["assignments"], specs, args["account_ids"])

        permission_sets = {
            ps_name: aws.ssoadmin.PermissionSet(
                f"{name}-{ps_name}",
                name=ps_name,
                description=spec.description,
                instance_arn=instance_arn,
                session_duration=spec.session_duration,
                tags=dict(args["tags"]),
                opts=child,
            )
            for ps_name, spec in specs.items()
        }
        self.permission_set_arns = {ps_name: ps.arn for ps_name, ps in permission_sets.items()}

        assignments = sorted(args["assignments"])
        groups = sorted({a.principal for a in assignments if a.principal_type is PrincipalType.group})
        users = sorted({a.principal for a in assignments if a.principal_type is PrincipalType.user})
        self.group_ids = {
            group: aws.identitystore.get_group_output(
                identity_store_id=store,
                alternate_identifier=aws.identitystore.GetGroupAlternateIdentifierArgs(
                    unique_attribute=aws.identitystore.GetGroupAlternateIdentifierUniqueAttributeArgs(
                        attribute_path="DisplayName", attribute_value=group
                    )
                ),
                opts=invoke,
            ).group_id
            for group in groups
        }
        self.user_ids = {
            user: aws.identitystore.get_user_output(
                identity_store_id=store,
                alternate_identifier=aws.identitystore.GetUserAlternateIdentifierArgs(
                    unique_attribute=aws.identitystore.GetUserAlternateIdentifierUniqueAttributeArgs(
                        attribute_path="UserName", attribute_value=user
                    )
                ),
                opts=invoke,
            ).user_id
            for user in users
        }

        created: dict[str, list[pulumi.Resource]] = {ps_name: [] for ps_name in specs}
        self.assignment_ids = {}
        for a in assignments:
            principal_ids = self.group_ids if a.principal_type is PrincipalType.group else self.user_ids
            resource = aws.ssoadmin.AccountAssignment(
                a.key,
                instance_arn=instance_arn,
                permission_set_arn=permission_sets[a.permission].arn,
                principal_type=a.principal_type.value,
                principal_id=principal_ids[a.principal],
                target_type="AWS_ACCOUNT",
                target_id=args["account_ids"][a.cell],
                opts=child,
            )
            created[a.permission].append(resource)
            self.assignment_ids[a.key] = resource.id

        for ps_name, spec in specs.items():
            after_assignments = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=created[ps_name])
            for policy in spec.managed_policies:
                aws.ssoadmin.ManagedPolicyAttachment(
                    f"{name}-{ps_name}-{policy}",
                    instance_arn=instance_arn,
                    permission_set_arn=permission_sets[ps_name].arn,
                    managed_policy_arn=managed_policy_arn(policy),
                    opts=after_assignments,
                )
            if spec.inline_policy is not None:
                aws.ssoadmin.PermissionSetInlinePolicy(
                    f"{name}-{ps_name}-inline",
                    instance_arn=instance_arn,
                    permission_set_arn=permission_sets[ps_name].arn,
                    inline_policy=spec.inline_policy,
                    opts=after_assignments,
                )
        self.register_outputs({"permission_set_arns": self.permission_set_arns, "assignment_ids": self.assignment_ids})


def _check_assignments(
    assignments: Sequence[Assignment], specs: Mapping[str, PermissionSetSpec], accounts: Mapping[str, Any]
) -> None:
    seen: dict[str, Assignment] = {}
    for a in assignments:
        if a.permission not in specs:
            raise ValueError(f"assignment {a.key}: no permission set named {a.permission!r} ({', '.join(specs)})")
        if a.cell not in accounts:
            raise ValueError(f"assignment {a.key}: cell {a.cell!r} has no AWS account")
        other = seen.setdefault(a.key, a)
        if other != a:
            raise ValueError(f"assignments {other} and {a} would share the resource name {a.key!r}")


# --- the CI role ---------------------------------------------------------------------------

#: GitHub Actions' OIDC issuer and the audience `aws-actions/configure-aws-credentials` asks for.
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
#: Pulumi Cloud's OIDC issuer for deployments (docs: Deployments, "OpenID Connect integration").
PULUMI_OIDC_HOST = "api.pulumi.com/oidc"
PULUMI_OIDC_URL = f"https://{PULUMI_OIDC_HOST}"
#: The CI role's longest session; a deployment's OIDC session (`duration`) may not ask for more.
CI_MAX_SESSION_SECONDS = 3600 * 2


@dataclass(frozen=True)
class GithubTrust:
    """GitHub Actions workflows of one repository, on the listed `sub` suffixes only."""

    repository: str
    """owner/name."""
    subjects: tuple[str, ...]
    """`ref:refs/heads/main`, `environment:prod`, ...: the `sub` claim after `repo:<owner>/<name>:`."""

    def sub_claims(self) -> list[str]:
        return sorted(f"repo:{self.repository}:{subject}" for subject in self.subjects)


@dataclass(frozen=True)
class PulumiDeploymentsTrust:
    """Pulumi Deployments of one organization's project: its token's `aud` is the organization, its
    `sub` `pulumi:deploy:org:<org>:project:<project>:stack:<stack>:operation:<op>:scope:write`."""

    organization: str
    project: str
    stack_patterns: tuple[str, ...] = ("cell-*",)

    def sub_claims(self) -> list[str]:
        return sorted(
            f"pulumi:deploy:org:{self.organization}:project:{self.project}:stack:{stack}:operation:*:scope:write"
            for stack in self.stack_patterns
        )


def _web_identity(sid: str, provider_arn: str, host: str, audience: str, subjects: list[str]) -> dict[str, Any]:
    """An OIDC provider's tokens, of one audience and the listed `sub` patterns only."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:aud": audience}, "StringLike": {f"{host}:sub": subjects}},
    }


def ci_trust_policy(
    principal_arns: Sequence[str],
    github: GithubTrust | None = None,
    github_provider_arn: str | None = None,
    pulumi: PulumiDeploymentsTrust | None = None,
    pulumi_provider_arn: str | None = None,
) -> str:
    """Who may become CI: GitHub Actions workflows of the repository (token audience STS, `sub`
    scoped to the repository's listed refs), Pulumi Deployments of the organization's cell stacks
    (audience the organization, `sub` scoped to the project's cell stacks) and the listed
    principals, nobody else."""
    statements: list[dict[str, Any]] = []
    if github is not None:
        if github_provider_arn is None:
            raise ValueError("trusting GitHub Actions needs the OIDC provider's ARN")
        statements.append(
            _web_identity("GithubActions", github_provider_arn, GITHUB_OIDC_HOST, STS_AUDIENCE, github.sub_claims())
        )
    if principal_arns:
        statements.append(
            {
                "Sid": "NamedPrincipals",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(principal_arns))},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        )
    if pulumi is not None:
        if pulumi_provider_arn is None:
            raise ValueError("trusting Pulumi Deployments needs the OIDC provider's ARN")
        statements.append(
            _web_identity(
                "PulumiDeployments", pulumi_provider_arn, PULUMI_OIDC_HOST, pulumi.organization, pulumi.sub_claims()
            )
        )
    if not statements:
        raise ValueError("the CI role needs at least one trusted principal")
    return document(*statements)


def ci_policy(
    access_role_name: str, cell_org_paths: Sequence[str], dns_delegation_role_arn: str, routing_role_arn: str
) -> str:
    """CI deploys by assuming roles, and only these: in the accounts of the cell OUs the access
    role (every cell stack's provider) and the cells' deployer roles; the DNS delegation role; the
    routing role (the routing stack, tenant moves). Never a role of another account of the
    organization (its access role is an administrator)."""
    if not cell_org_paths:
        raise ValueError("the CI policy needs the cell OUs' organization paths")
    return document(
        {
            "Sid": "CellAccountRoles",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Resource": [f"arn:aws:iam::*:role/{access_role_name}", "arn:aws:iam::*:role/*-deployer"],
            "Condition": {"ForAnyValue:StringLike": {"aws:ResourceOrgPaths": sorted(cell_org_paths)}},
        },
        {
            "Sid": "DnsDelegationRole",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Resource": dns_delegation_role_arn,
        },
        {"Sid": "RoutingRole", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": routing_role_arn},
    )


class CiRoleArgs(TypedDict):
    role_name: str
    """Name of the role (cell deployer roles trust exactly this role)."""
    github: GithubTrust | None
    """GitHub Actions workflows that may become CI (the default path), through an OIDC provider."""
    pulumi_deployments: PulumiDeploymentsTrust | None
    """Pulumi Deployments of the cell stacks (`cellctl rollout --runner deployments`), through an OIDC provider."""
    trusted_principal_arns: Sequence[str]
    """More identities allowed to assume the role (a self-hosted runner's role)."""
    access_role_name: str
    """The organization's access role, assumable in cell accounts only."""
    cell_org_paths: Sequence[pulumi.Input[str]]
    """`aws:ResourceOrgPaths` patterns of the cell OUs (`<org>/<root>/<ou>/*`)."""
    dns_delegation_role_arn: str
    """The DNS delegation role (its ARN from the registry, so CI and that role do not wait on each other)."""
    routing_role_arn: str
    """The routing role in the DNS account (`components.aws.routing_role`), its ARN from the registry too."""
    tags: Mapping[str, str]


class CiRole(pulumi.ComponentResource):
    """The identity CI deploys as, in the management account, with GitHub's and Pulumi's OIDC providers."""

    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: CiRoleArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:CiRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        github, principals = args["github"], list(args["trusted_principal_arns"])
        provider_arn: pulumi.Input[str | None] = None
        if github is not None:
            # One provider per issuer URL and account: an existing one must be imported (README).
            oidc = aws.iam.OpenIdConnectProvider(
                f"{name}-github",
                url=GITHUB_OIDC_URL,
                client_id_lists=[STS_AUDIENCE],
                tags=dict(args["tags"]),
                opts=child,
            )
            provider_arn = oidc.arn
        deployments = args["pulumi_deployments"]
        pulumi_arn: pulumi.Input[str | None] = None
        if deployments is not None:
            # Its audience is the Pulumi organization's name; one provider per URL and account (README).
            pulumi_oidc = aws.iam.OpenIdConnectProvider(
                f"{name}-pulumi",
                url=PULUMI_OIDC_URL,
                client_id_lists=[deployments.organization],
                tags=dict(args["tags"]),
                opts=child,
            )
            pulumi_arn = pulumi_oidc.arn
        role = aws.iam.Role(
            f"{name}-role",
            name=args["role_name"],
            description="CI deploys Honeycomb stacks by assuming roles in the organization",
            assume_role_policy=pulumi.Output.all(provider_arn, pulumi_arn).apply(
                lambda arns: ci_trust_policy(principals, github, arns[0], deployments, arns[1])
            ),
            max_session_duration=CI_MAX_SESSION_SECONDS,
            tags=dict(args["tags"]),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-assume",
            role=role.id,
            policy=pulumi.Output.all(*args["cell_org_paths"]).apply(
                lambda paths: ci_policy(
                    args["access_role_name"], paths, args["dns_delegation_role_arn"], args["routing_role_arn"]
                )
            ),
            opts=child,
        )
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})
