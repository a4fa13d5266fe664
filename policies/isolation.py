"""Rules 2 and 3: a cell stack touches only its own cell.

`cell-isolation`: in a `cell-*` stack every AWS, GCP and Kubernetes resource goes through a
provider whose target can be established (`policies.targets`: typed args, plain dicts in either
spelling, nested `assumeRoles`/`assumeRole`, default providers configured from the stack config,
all read the same) and is the cell's own:

- AWS: the account of the role it assumes, or its `allowedAccountIds`, is the cell's account, and
  it names a region. The one exception is the NS record of the cell's zone, written through the
  organization's DNS delegation role.
- GCP: its project is the cell's project and it names a region (or zone); no GCP resource
  overrides the project.
- Kubernetes: its inline kubeconfig targets the cell's own cluster: on AWS an EKS endpoint in the
  cell's region, a cluster named after the cell and a token for a role in the cell's account; on
  GCP a `gke_<project>_<location>_<cluster>` cluster in the cell's project and region.
- A default provider in a stack whose config disables default providers is reported as such.

Offline the account ids of unpinned cells come from the mocked management stack; under the
engine only pinned ids are known, so there a role in an unpinned cell's account is judged by
not being another known account.

`no-cross-cell-references`: no input of a cell stack's resources names another cell's account
id, project id or DNS zone, and no `StackReference` reads another cell's stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cells import AwsCell, GcpCell
from policies.base import (
    CELL_PREFIX,
    MANDATORY,
    UNKNOWN,
    Context,
    Provider,
    View,
    arn_account,
    cannot_verify,
    is_provider_type,
    known,
    package_of,
    resource_rule,
)
from policies.targets import Target

#: What a cell may write through the DNS delegation provider: its own NS record in the parent zone.
DELEGATION_TYPES = frozenset({"aws:route53/record:Record"})
ISOLATED_PACKAGES = frozenset({"aws", "gcp", "kubernetes"})
STACK_REFERENCE = "pulumi:pulumi:StackReference"


def is_delegation_role(arn: Any, ctx: Context) -> bool:
    aws = ctx.registry.organization.aws
    return isinstance(arn, str) and arn == f"arn:aws:iam::{aws.dns_account_id}:role/{aws.dns_delegation_role_name}"


def is_delegation_provider(provider: Provider | None, ctx: Context) -> bool:
    return provider is not None and any(is_delegation_role(arn, ctx) for arn in provider.role_arns)


def _label(provider: Provider) -> str:
    if provider.is_default:
        return f"the default {provider.package} provider (configured by the stack config's {provider.package}:* keys)"
    return f"provider {provider.name!r}"


def _account_owner(account: str, cell: AwsCell | GcpCell, ctx: Context) -> str | None:
    """What a known account other than the cell's is (another cell's, an organization account), or None."""
    if account in ctx.organization_accounts():
        return ctx.organization_accounts()[account]
    return next((f"cell {n}'s account" for n, a in ctx.account_ids.items() if a == account and n != cell.name), None)


def _wrong_account(account: str | None, cell: AwsCell | GcpCell, ctx: Context) -> str | None:
    """Why `account` is not the cell's own, or None when it is (or may be, under the engine)."""
    if account is None:
        return None
    expected = ctx.account_id(cell)
    owner = _account_owner(account, cell, ctx)
    if expected is not None and account != expected:
        return f"{owner or 'another account'} ({account}), not cell {cell.name}'s account {expected}"
    if expected is None and owner is not None:
        return f"{owner} ({account})"
    return None


def _aws_problem(
    resource: View, provider: Provider, target: Target, cell: AwsCell | GcpCell, ctx: Context
) -> str | None:
    if is_delegation_provider(provider, ctx):
        if resource.type in DELEGATION_TYPES:
            return None
        return f"uses the DNS delegation provider {provider.name!r}, which may only write the cell's NS record"
    if isinstance(cell, GcpCell):
        return f"uses the AWS provider {provider.name!r} in a GCP cell (only the DNS delegation role is allowed)"
    for arn in target.roles:
        if why := _wrong_account(arn_account(arn), cell, ctx):
            return f"uses {_label(provider)}, which assumes {arn} in {why}"
    for account in target.allowed_accounts or ():
        if why := _wrong_account(account, cell, ctx):
            return f"uses {_label(provider)}, whose allowedAccountIds admit {why}"
    if target.account is None:
        expected = ctx.account_id(cell) or "(from the management stack)"
        return (
            f"uses {_label(provider)}, whose account cannot be established: it neither assumes a role in "
            f"cell {cell.name}'s account {expected} nor pins it with allowedAccountIds"
        )
    if target.region is None:
        return f"uses {_label(provider)}, which names no region (it would use the ambient AWS_REGION)"
    return None


def _gcp_problem(provider: Provider, target: Target, cell: AwsCell | GcpCell) -> str | None:
    if isinstance(cell, AwsCell):
        return f"uses the GCP provider {provider.name!r} in an AWS cell"
    if target.project != cell.project_id:
        return (
            f"uses {_label(provider)} on project {target.project or '(none: the ambient default)'}, "
            f"not cell {cell.name}'s project {cell.project_id}"
        )
    if target.region is None:
        return f"uses {_label(provider)}, which names no region or zone"
    return None


def _kubernetes_problem(provider: Provider, target: Target, cell: AwsCell | GcpCell, ctx: Context) -> str | None:
    own = f"cell {cell.name}'s own cluster"
    if isinstance(cell, AwsCell):
        if target.project is not None:
            return f"uses {_label(provider)}, whose kubeconfig targets a GKE cluster, not {own}"
        if why := _wrong_account(target.account, cell, ctx):
            return f"uses {_label(provider)}, whose kubeconfig gets its token as a role in {why}"
    elif target.project != cell.project_id:
        where = f"project {target.project}" if target.project else "an EKS cluster"
        return f"uses {_label(provider)}, whose kubeconfig targets {where}, not {own}"
    if target.region != cell.region:
        where = f"a cluster in {target.region}"
        return f"uses {_label(provider)}, whose kubeconfig targets {where}, not {own} in {cell.region}"
    name = target.cluster or ""
    if name != cell.name and not name.startswith(f"{cell.name}-"):
        return f"uses {_label(provider)}, whose kubeconfig targets cluster {name!r}, not {own}"
    return None


@resource_rule(
    "cell-isolation",
    "In a cell stack every AWS, GCP and Kubernetes resource uses a provider whose target is established and is the "
    "cell's own account, project or cluster.",
    MANDATORY,
)
def cell_isolation(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    cell = ctx.cell(resource.stack)
    package = package_of(resource.type)
    if cell is None or package not in ISOLATED_PACKAGES:
        return
    provider = resource.provider
    if provider is None:
        return  # a provider resource itself: judged through the resources that use it
    if provider.is_default and ctx.default_providers_disabled(package):
        report(
            f"{resource.label} uses a default provider, which this stack's config disables: create it with the "
            "cell's provider (opts=pulumi.ResourceOptions(provider=...)) so it cannot land in another account or "
            "project"
        )
        return
    project = resource.props.get("project")
    if isinstance(cell, GcpCell) and package == "gcp" and known(project) and project != cell.project_id:
        report(f"{resource.label} sets project {project!s}, not cell {cell.name}'s project {cell.project_id}")
    target = ctx.target(provider)
    which = _label(provider)
    if target.problems:
        report(f"{resource.label}: " + cannot_verify(f"the target of {which}", "; ".join(target.problems)))
        return
    if target.unknown:
        return
    if package == "aws":
        problem = _aws_problem(resource, provider, target, cell, ctx)
    elif package == "gcp":
        problem = _gcp_problem(provider, target, cell)
    else:
        problem = _kubernetes_problem(provider, target, cell, ctx)
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


def _stack_reference_problem(resource: View, cell: AwsCell | GcpCell) -> str | None:
    """Why a StackReference of a cell stack is not allowed: it reads another cell's stack, or cannot be read."""
    name = resource.props.get("name")
    if name is UNKNOWN:
        return None
    if not isinstance(name, str) or not name:
        return cannot_verify(f"which stack {resource.label} reads", f"its name is {name!r}")
    stack = name.rsplit("/", 1)[-1]
    if stack.startswith(CELL_PREFIX) and stack != cell.stack_name:
        return f"{resource.label} reads stack {name}, another cell's stack; a cell stack never refers to another cell"
    return None


@resource_rule(
    "no-cross-cell-references",
    "No input of a cell stack's resources names another cell's account id, project id or DNS zone, and no "
    "StackReference reads another cell's stack.",
    MANDATORY,
)
def no_cross_cell_references(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    cell = ctx.cell(resource.stack)
    if cell is None:
        return
    if resource.type == STACK_REFERENCE:
        if problem := _stack_reference_problem(resource, cell):
            report(problem)
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
