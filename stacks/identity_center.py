"""Which IAM Identity Center permission sets each AWS cell's account holds: the one rule both the
management stack (account assignments) and the cell stacks (EKS access entries for the
permission sets' roles) follow, so the two never disagree."""

from __future__ import annotations

from cells import AwsCell, Environment, Registry
from components.aws.identity import Assignment, PrincipalType


def assignments_for(registry: Registry) -> list[Assignment]:
    """Every Identity Center assignment the registry implies: each AWS cell's access rules
    (its environment's plus its own), and admin for a dev cell's owner."""
    result: list[Assignment] = []
    for cell in registry.aws_cells:
        for rule in registry.access_for(cell):
            result.append(Assignment(cell.name, PrincipalType.group, rule.group, str(rule.permission)))
        if cell.environment is Environment.dev and cell.owner:
            result.append(Assignment(cell.name, PrincipalType.user, cell.owner, "admin"))
    return sorted(set(result))


def permission_sets_of(registry: Registry, cell: AwsCell) -> list[str]:
    """The permission sets assigned in the cell's account: Identity Center has a role there for each."""
    return sorted({a.permission for a in assignments_for(registry) if a.cell == cell.name})
