"""Cluster access for people: an EKS access entry for each IAM Identity Center permission set's role
in the cell account, with the access policy that permission stands for.

Identity Center creates a role `AWSReservedSSO_<permission set>_<hash>` in an account when a
permission set is first assigned there, at the path `/aws-reserved/sso.amazonaws.com/` (plus
`<region>/` when Identity Center is not in us-east-1), and replaces it (a new hash) when every
assignment goes and one comes back. The hash cannot be known in advance, so the role is looked
up in the cell account (`iam.get_roles` by name and path, through the cell's provider) at every
update; a changed role replaces its entry. EKS accepts a role ARN with its path in an access entry
(the `aws-auth` ConfigMap did not), so the looked-up ARN is used as it is.

Non-goals: the assignments themselves (the management stack makes them, and must run first).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.cluster import ADMIN_ACCESS_POLICY, EDIT_ACCESS_POLICY, VIEW_ACCESS_POLICY
from components.aws.iam import SSO_ROLE_PATH


@dataclass(frozen=True)
class ClusterGrant:
    """What one permission set may do in the cluster."""

    policy_arn: str
    """An EKS cluster access policy."""
    namespaced: bool = False
    """Only in the application's namespaces (otherwise cluster-wide)."""


#: Permission set name -> cluster access: look, edit the application, administer.
PERMISSION_GRANTS: Mapping[str, ClusterGrant] = {
    "read-only": ClusterGrant(VIEW_ACCESS_POLICY),
    "cell-operator": ClusterGrant(EDIT_ACCESS_POLICY, namespaced=True),
    "admin": ClusterGrant(ADMIN_ACCESS_POLICY),
}


class IdentityCenterRoleError(LookupError):
    """The permission set has no role (or more than one) in the cell account."""


def role_name_regex(permission_set: str) -> str:
    """The exact name of a permission set's role, whatever its hash."""
    return f"^AWSReservedSSO_{re.escape(permission_set)}_[0-9a-f]{{16}}$"


def single_role(arns: Sequence[str] | None, permission_set: str, cell: str) -> str:
    """The one role of the permission set; none (or several) is a clear error."""
    found = sorted(arns or [])
    if len(found) == 1:
        return found[0]
    if not found:
        raise IdentityCenterRoleError(
            f"cell {cell}: IAM Identity Center has no role for the permission set {permission_set!r} in the cell's "
            "account yet: it appears once the management stack has assigned the set there, so run "
            "`pulumi up --stack management` first, then update this stack"
        )
    raise IdentityCenterRoleError(
        f"cell {cell}: several roles look like the permission set {permission_set!r}'s: {', '.join(found)}"
    )


@dataclass(frozen=True)
class IdentityCenterAccessArgs:
    cell: str
    """The cell, for messages."""
    cluster_name: pulumi.Input[str]
    """The cell's EKS cluster (authentication mode API)."""
    permission_sets: Sequence[str]
    """The permission sets assigned in the cell's account (each must be in `PERMISSION_GRANTS`)."""
    namespaces: Sequence[str]
    """The application's namespaces, where `cell-operator` may edit."""


class IdentityCenterAccess(pulumi.ComponentResource):
    """An access entry and its policy association per permission set, keyed by the set's name."""

    principal_arns: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: IdentityCenterAccessArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:IdentityCenterAccess", name, None, opts)
        unknown = sorted(set(args.permission_sets) - set(PERMISSION_GRANTS))
        if unknown:
            raise ValueError(f"cell {args.cell}: no cluster access is defined for permission sets {unknown}")
        if not args.namespaces and any(PERMISSION_GRANTS[p].namespaced for p in args.permission_sets):
            raise ValueError(f"cell {args.cell}: namespaced cluster access needs the application's namespaces")
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.principal_arns = {}
        for permission_set in sorted(set(args.permission_sets)):
            grant = PERMISSION_GRANTS[permission_set]
            roles = aws.iam.get_roles_output(
                name_regex=role_name_regex(permission_set),
                path_prefix=SSO_ROLE_PATH,
                opts=pulumi.InvokeOutputOptions(parent=self, provider=provider),
            )
            principal = roles.arns.apply(functools.partial(single_role, permission_set=permission_set, cell=args.cell))
            entry = aws.eks.AccessEntry(
                f"{name}-sso-{permission_set}",
                cluster_name=args.cluster_name,
                principal_arn=principal,
                type="STANDARD",
                opts=child,
            )
            scope = (
                aws.eks.AccessPolicyAssociationAccessScopeArgs(type="namespace", namespaces=sorted(args.namespaces))
                if grant.namespaced
                else aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster")
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-sso-{permission_set}",
                cluster_name=args.cluster_name,
                principal_arn=entry.principal_arn,
                policy_arn=grant.policy_arn,
                access_scope=scope,
                opts=child,
            )
            self.principal_arns[permission_set] = entry.principal_arn
        self.register_outputs({"principal_arns": self.principal_arns})
