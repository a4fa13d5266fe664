"""The application's standard workloads on a cell's cluster; both cell programs call `deploy`."""

from __future__ import annotations

import pulumi

from cells import AwsCell, GcpCell, Registry


def deploy(registry: Registry, cell: AwsCell | GcpCell, kubeconfig: pulumi.Input[str]) -> None:
    """Deploy every application component onto the cell's cluster (filled in by the workloads component)."""
    return None
