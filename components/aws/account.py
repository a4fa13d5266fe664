"""Access to a cell's AWS account: the one provider every resource of the cell goes through.

The provider assumes the organization's access role in the cell account (created with the
account by the management stack; creating an account and assuming a role in it in the same
update fails, which is why accounts do not live in the cell stack). `allowed_account_ids`
makes the provider refuse to act anywhere else, whatever credentials CI starts with.

Its logical name (`<cell>-aws`) and its place at the top of the stack (no parent) never change:
a provider's URN is part of every resource that uses it, and renaming or re-parenting the
provider would replace the whole cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


def role_arn(account_id: str, role_name: str, partition: str = "aws") -> str:
    """The ARN of an IAM role (IAM ARNs have no region)."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def access_role_arn(account_id: pulumi.Input[str], role_name: str) -> pulumi.Output[str]:
    """The cell account's access role, as an Output (the account id may come from a StackReference)."""
    return pulumi.Output.from_input(account_id).apply(lambda account: role_arn(account, role_name))


def provider_name(cell: str) -> str:
    """The provider's logical name: stable from day one."""
    return f"{cell}-aws"


@dataclass(frozen=True)
class CellAccountArgs:
    cell: str
    """The cell's name: names the provider and its role session."""
    account_id: pulumi.Input[str]
    """The cell's AWS account: pinned in the registry, or from the management stack's outputs."""
    access_role_name: str
    """The role the organization creates in every member account (OrganizationAccountAccessRole)."""
    region: str
    """The cell's region; every regional resource of the cell lives there."""
    tags: dict[str, str] = field(default_factory=dict)
    """Default tags (cell, environment, managed-by) the provider puts on every taggable resource."""


def cell_provider(args: CellAccountArgs) -> aws.Provider:
    """The cell's AWS provider, at the root of the stack under its stable name."""
    account_id = pulumi.Output.from_input(args.account_id)
    return aws.Provider(
        provider_name(args.cell),
        region=args.region,
        allowed_account_ids=[account_id],
        assume_roles=[
            aws.ProviderAssumeRoleArgs(
                role_arn=access_role_arn(account_id, args.access_role_name),
                session_name=f"honeycomb-{args.cell}",
            )
        ],
        default_tags=aws.ProviderDefaultTagsArgs(tags=dict(args.tags)),
    )
