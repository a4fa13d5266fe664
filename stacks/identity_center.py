"""Which IAM Identity Center permission sets each AWS account holds: the one rule both the
management stack (account assignments) and the cell stacks (EKS access entries for the
permission sets' roles) follow, so the two never disagree.

Besides the cell accounts, the DNS account: whoever operates prod (holds `cell-operator` or
`admin` in the prod access rules) gets `cell-operator` there, the permission set whose role the
routing role trusts for `cellctl tenants move` (`components.aws.routing_role`). Never `admin`: a
move needs no administrator of the account that holds the parent zone.
"""

from __future__ import annotations

from cells import AwsCell, Environment, Permission, Registry
from components.aws.identity import Assignment, PrincipalType

#: The DNS account's key among the assignments' accounts: not a DNS label, so never a cell's name.
DNS_ACCOUNT = "_dns"
#: Who may move tenants: the prod access rules' holders of these; the set they get in the DNS account.
MOVERS = frozenset({Permission.cell_operator, Permission.admin})
MOVE_PERMISSION = Permission.cell_operator


def assignments_for(registry: Registry) -> list[Assignment]:
    """Every Identity Center assignment the registry implies: each AWS cell's access rules
    (its environment's plus its own), admin for a dev cell's owner, and the movers' in the DNS account."""
    result: list[Assignment] = []
    for cell in registry.aws_cells:
        for rule in registry.access_for(cell):
            result.append(Assignment(cell.name, PrincipalType.group, rule.group, str(rule.permission)))
        if cell.environment is Environment.dev and cell.owner:
            result.append(Assignment(cell.name, PrincipalType.user, cell.owner, "admin"))
    for rule in registry.organization.access.get(Environment.prod, []):
        if rule.permission in MOVERS:
            result.append(Assignment(DNS_ACCOUNT, PrincipalType.group, rule.group, str(MOVE_PERMISSION)))
    return sorted(set(result))


def permission_sets_of(registry: Registry, cell: AwsCell) -> list[str]:
    """The permission sets assigned in the cell's account: Identity Center has a role there for each."""
    return sorted({a.permission for a in assignments_for(registry) if a.cell == cell.name})
