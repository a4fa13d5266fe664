"""The cell registry: typed models, loading with validation, export. Pure data, no Pulumi."""

from cells.loader import RegistryError, RegistryIssue, load_registry, registry_dir
from cells.models import (
    MANAGED_BY,
    NODE_SIZING,
    ROUTING_STACK,
    AccessRule,
    AppComponent,
    AwsCell,
    Cell,
    Environment,
    GcpCell,
    Organization,
    Permission,
    Registry,
    Size,
    UnknownCellError,
    Wave,
)

__all__ = [
    "MANAGED_BY",
    "NODE_SIZING",
    "ROUTING_STACK",
    "AccessRule",
    "AppComponent",
    "AwsCell",
    "Cell",
    "Environment",
    "GcpCell",
    "Organization",
    "Permission",
    "Registry",
    "RegistryError",
    "RegistryIssue",
    "Size",
    "UnknownCellError",
    "Wave",
    "load_registry",
    "registry_dir",
]
