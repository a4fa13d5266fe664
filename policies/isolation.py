"""Rules 2 and 3: a cell stack touches only its own cell.

`cell-isolation`: in a `cell-*` stack every AWS, GCP and Kubernetes resource names an explicit
provider, and that provider targets the cell's own account (the role it assumes, or its
`allowedAccountIds`) or project; no GCP resource overrides the project. The one exception is the
NS record of the cell's zone, written through the organization's DNS delegation role.

Offline the account ids of unpinned cells come from the mocked management stack; under the
engine only pinned ids are known, so there a role in an unpinned cell's account is judged by
not being another known account.

`no-cross-cell-references`: no input of a cell stack's resources names another cell's account
id, project id or DNS zone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cells import AwsCell, GcpCell
from policies.base import (
    MANDATORY,
    UNKNOWN,
    Context,
    Provider,
    View,
    arn_account,
    is_provider_type,
    known,
    package_of,
    resource_rule,
)

#: What a cell may write through the DNS delegation provider: its own NS record in the parent zone.
DELEGATION_TYPES = frozenset({"aws:route53/record:Record"})
ISOLATED_PACKAGES = frozenset({"aws", "gcp", "kubernetes"})


def is_delegation_role(arn: Any, ctx: Context) -> bool:
    aws = ctx.registry.organization.aws
    return isinstance(arn, str) and arn == f"arn:aws:iam::{aws.dns_account_id}:role/{aws.dns_delegation_role_name}"


def is_delegation_provider(provider: Provider | None, ctx: Context) -> bool:
    return provider is not None and any(is_delegation_role(arn, ctx) for arn in provider.role_arns)


def _aws_provider_problem(resource: View, provider: Provider, cell: AwsCell | GcpCell, ctx: Context) -> str | None:
    roles = provider.role_arns
    if is_delegation_provider(provider, ctx):
        if resource.type in DELEGATION_TYPES:
            return None
        return f"uses the DNS delegation provider {provider.name!r}, which may only write the cell's NS record"
    if isinstance(cell, GcpCell):
        return f"uses the AWS provider {provider.name!r} in a GCP cell (only the DNS delegation role is allowed)"
    expected = ctx.account_id(cell)
    org = ctx.organization_accounts()
    others = {acct: f"cell {name}'s account" for name, acct in ctx.account_ids.items() if name != cell.name}
    for arn in roles:
        if not known(arn):
            continue
        account = arn_account(arn)
        if account is None:
            return f"uses provider {provider.name!r} whose role {arn!r} is not an IAM role ARN"
        if expected is not None and account != expected:
            owner = others.get(account) or org.get(account) or "another account"
            return (
                f"uses provider {provider.name!r}, which assumes {arn} in {owner} ({account}), "
                f"not cell {cell.name}'s account {expected}"
            )
        if expected is None and (account in others or account in org):
            return f"uses provider {provider.name!r}, which assumes {arn} in {others.get(account) or org[account]}"
    if not roles:
        allowed = provider.props.get("allowedAccountIds")
        if allowed is UNKNOWN or (expected is None and not allowed):
            return None
        if expected is None or not isinstance(allowed, list) or [str(a) for a in allowed] != [expected]:
            return (
                f"uses provider {provider.name!r}, which neither assumes a role in cell {cell.name}'s account "
                f"{expected or '(from the management stack)'} nor pins it with allowedAccountIds"
            )
    return None


def _gcp_provider_problem(provider: Provider, cell: AwsCell | GcpCell) -> str | None:
    if isinstance(cell, AwsCell):
        return f"uses the GCP provider {provider.name!r} in an AWS cell"
    project = provider.props.get("project")
    if project is UNKNOWN:
        return None
    if project != cell.project_id:
        return (
            f"uses provider {provider.name!r} on project {project or '(none: the ambient default)'!s}, "
            f"not cell {cell.name}'s project {cell.project_id}"
        )
    return None


@resource_rule(
    "cell-isolation",
    "In a cell stack every AWS, GCP and Kubernetes resource uses an explicit provider targeting the cell's own "
    "account or project.",
    MANDATORY,
)
def cell_isolation(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    cell = ctx.cell(resource.stack)
    if cell is None or package_of(resource.type) not in ISOLATED_PACKAGES:
        return
    provider = resource.provider
    if provider is None or provider.is_default:
        report(
            f"{resource.label} uses a default provider: create it with the cell's provider "
            f"(opts=pulumi.ResourceOptions(provider=...)) so it cannot land in another account or project"
        )
        return
    problem = None
    project = resource.props.get("project")
    if (
        isinstance(cell, GcpCell)
        and package_of(resource.type) == "gcp"
        and known(project)
        and project != cell.project_id
    ):
        report(f"{resource.label} sets project {project!s}, not cell {cell.name}'s project {cell.project_id}")
    if provider.type == "pulumi:providers:aws":
        problem = _aws_provider_problem(resource, provider, cell, ctx)
    elif provider.type == "pulumi:providers:gcp":
        problem = _gcp_provider_problem(provider, cell)
    if problem:
        report(f"{resource.label} {problem}")


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


@resource_rule(
    "no-cross-cell-references",
    "No input of a cell stack's resources names another cell's account id, project id or DNS zone.",
    MANDATORY,
)
def no_cross_cell_references(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    cell = ctx.cell(resource.stack)
    if cell is None or resource.type == "pulumi:pulumi:StackReference":
        return
    pattern, what = ctx.foreign_names(resource.stack)
    if pattern is None:
        return
    props = dict(resource.props)
    if is_provider_type(resource.type):
        props = {k: v for k, v in props.items() if k != "version"}
    found: dict[str, list[str]] = {}
    for path, text in _strings(props):
        for match in pattern.finditer(text):
            found.setdefault(match.group(1), []).append(path)
    for name, paths in sorted(found.items()):
        shown = ", ".join(sorted(set(paths))[:3])
        report(f"{resource.label} input {shown} names {what[name]} ({name}); a cell stack never refers to another cell")
