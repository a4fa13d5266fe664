"""Load and validate a registry directory.

Layout: `<dir>/organization.yaml`, one `<dir>/cells/<name>.yaml` per cell and at most one
`<dir>/tenants/<cell>.yaml` per cell (its tenants, `cells.tenants`). Every problem is
collected (not just the first) and reported with the file, the field path and the reason, so
one run of `cellctl validate` shows everything to fix.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cells.deploy import RUNNER_KINDS, runner_problems
from cells.models import CELL_ADAPTER, ROUTING_STACK, AwsCell, CellBase, Environment, GcpCell, Organization, Registry
from cells.routes import tenant_host
from cells.tenants import CELL_ENVIRONMENTS, TENANTS_DIR, Tenant, TenantFile, cell_capacity, limit_problems

DEFAULT_REGISTRY = Path(__file__).parent / "registry"
REGISTRY_ENV = "HONEYCOMB_REGISTRY"
#: Values an exported cell carries beside its fields (see `cells.export`); loading it back ignores them.
#: S3's longest bucket name.
MAX_BUCKET_NAME = 63
DERIVED_KEYS = frozenset({"stack_name", "dns_zone", "tags", "endpoints", "outputs"})


@dataclass(frozen=True, order=True)
class RegistryIssue:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class RegistryError(Exception):
    """The registry is invalid; `issues` holds every problem found."""

    def __init__(self, issues: Iterable[RegistryIssue]):
        self.issues = sorted(set(issues))
        super().__init__(self.report())

    def report(self) -> str:
        n = len(self.issues)
        head = f"the cell registry has {n} error{'s' if n != 1 else ''}:"
        return "\n".join([head, *(f"  {issue}" for issue in self.issues)])


def registry_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The registry to use: an explicit path, else $HONEYCOMB_REGISTRY, else the bundled sample."""
    return Path(override or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)


def load_registry(directory: str | os.PathLike[str] | None = None, *, over_limit_ok: bool = False) -> Registry:
    """Load, validate and return the registry, or raise RegistryError with every problem.

    `over_limit_ok` accepts cells over their capacity limits (every other rule still holds): what
    `cellctl tenants rebalance` needs to read, since moving those tenants out is its job.
    """
    root = registry_dir(directory)
    issues: list[RegistryIssue] = []
    if not root.is_dir():
        raise RegistryError([RegistryIssue(str(root), "", "registry directory not found")])

    org_file = root / "organization.yaml"
    org = _validate(org_file, _read_yaml(org_file, issues), Organization.model_validate, issues)

    cells: list[tuple[Path, AwsCell | GcpCell]] = []
    cell_files = sorted([*(root / "cells").glob("*.yaml"), *(root / "cells").glob("*.yml")])
    for path in cell_files:
        data = _read_yaml(path, issues)
        if data is None:
            continue
        cell = _validate(path, data, CELL_ADAPTER.validate_python, issues)
        if cell is not None:
            if cell.name != path.stem:
                issues.append(RegistryIssue(str(path), "name", f"cell {cell.name!r} must live in {cell.name}.yaml"))
            cells.append((path, cell))

    placed: list[tuple[str, str, str, Tenant]] = []
    tenant_cells: list[tuple[Path, str]] = []
    tenant_files = sorted([*(root / TENANTS_DIR).glob("*.yaml"), *(root / TENANTS_DIR).glob("*.yml")])
    for path in tenant_files:
        tenant_file = _validate(path, _read_yaml(path, issues, fast=True), TenantFile.model_validate, issues)
        if tenant_file is None:
            continue
        tenant_cells.append((path, tenant_file.cell))
        if tenant_file.cell != path.stem:
            issues.append(
                RegistryIssue(
                    str(path), "cell", f"the tenants of cell {tenant_file.cell!r} must live in {tenant_file.cell}.yaml"
                )
            )
        placed += [(str(path), f"tenants[{i}]", "cell", t) for i, t in enumerate(tenant_file.resolved())]

    if isinstance(org, Organization):
        issues += _check_organization(org_file, org)
        issues += _check_cells(org, cells)
        # A cell file that did not validate has its own errors; its tenants are not also "unknown".
        broken = {p.stem for p in cell_files} - {c.name for _, c in cells}
        known = {c.name for _, c in cells}
        for path, cell_name in tenant_cells:
            if cell_name not in known | broken:
                names = ", ".join(sorted(known)) or "none"
                issues.append(
                    RegistryIssue(
                        str(path), "cell", f"no cell named {cell_name!r} in the registry (known cells: {names})"
                    )
                )
        issues += _check_tenants(org, [c for _, c in cells], placed, broken, limits=not over_limit_ok)
    if issues:
        raise RegistryError(issues)
    assert isinstance(org, Organization)
    return _registry(org, [c for _, c in cells], [t for *_, t in placed])


def _registry(org: Organization, cells: list[AwsCell | GcpCell], tenants: list[Tenant]) -> Registry:
    return Registry(
        organization=org,
        cells=sorted(cells, key=lambda c: c.name),
        tenants=sorted(tenants, key=lambda t: (t.cell, t.id)),
    )


def load_registry_data(data: dict[str, Any], source: str = "<registry>") -> Registry:
    """Validate an exported registry document (see `cells.export`) with the same rules."""
    issues: list[RegistryIssue] = []
    org = _validate(Path(source), data.get("organization"), Organization.model_validate, issues, "organization")
    cells = []
    for i, raw in enumerate(data.get("cells") or []):
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k not in DERIVED_KEYS}
        cell = _validate(Path(source), raw, CELL_ADAPTER.validate_python, issues, f"cells[{i}]")
        if cell is not None:
            cells.append((Path(source), cell))
    placed: list[tuple[str, str, str, Tenant]] = []
    for i, raw in enumerate(data.get("tenants") or []):
        tenant = _validate(Path(source), raw, Tenant.model_validate, issues, f"tenants[{i}]")
        if tenant is not None:
            placed.append((source, f"tenants[{i}]", f"tenants[{i}].cell", tenant))
    if isinstance(org, Organization):
        issues += _check_cells(org, cells)
        issues += _check_tenants(org, [c for _, c in cells], placed)
    if issues:
        raise RegistryError(issues)
    assert isinstance(org, Organization)
    return _registry(org, [c for _, c in cells], [t for *_, t in placed])


# --- YAML -----------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_SCALAR_TAGS: dict[tuple[Any, Any], str] = {}
_SCALAR_TAGS_MAX = 200_000

#: The same rules on libyaml's parser when PyYAML has it: tenant files can hold thousands of entries.
_FastStrictLoader: type[Any] = _StrictLoader
if getattr(yaml, "__with_libyaml__", False):

    class _CStrictLoader(yaml.CSafeLoader):
        """CSafeLoader that refuses duplicate mapping keys and remembers how scalars resolve.

        A scalar's tag depends only on its text and on whether it was quoted (SafeLoader has no path
        resolvers), and tenant files repeat the same keys and values thousands of times: resolving
        each text once takes the largest single cost out of loading them.
        """

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is not yaml.ScalarNode:
                return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
            key = (value, implicit)
            tag = _SCALAR_TAGS.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                if len(_SCALAR_TAGS) < _SCALAR_TAGS_MAX:
                    _SCALAR_TAGS[key] = tag
            return tag

    _CStrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _FastStrictLoader = _CStrictLoader


def parse_yaml(text: str, *, fast: bool = False) -> Any:
    return yaml.load(text, Loader=_FastStrictLoader if fast else _StrictLoader)  # noqa: S506 - SafeLoader subclasses


def _read_yaml(path: Path, issues: list[RegistryIssue], *, fast: bool = False) -> Any:
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"), fast=fast)
    except FileNotFoundError:
        issues.append(RegistryIssue(str(path), "", "file not found"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        issues.append(RegistryIssue(str(path), "", f"cannot read file: {exc}"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        issues.append(RegistryIssue(str(path), where, f"invalid YAML: {problem}"))
        return None
    if not isinstance(data, dict):
        issues.append(RegistryIssue(str(path), "", f"expected a mapping at the top level, got {type(data).__name__}"))
        return None
    return data


# --- schema errors --------------------------------------------------------------------------

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required field is missing",
    "union_tag_invalid": "cloud must be 'aws' or 'gcp'",
    "union_tag_not_found": "required field 'cloud' is missing (aws or gcp)",
}


def _validate(
    path: Path, data: Any, validate: Callable[[Any], Any], issues: list[RegistryIssue], prefix: str = ""
) -> Any:
    if data is None:
        return None
    try:
        return validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = list(err["loc"])
            if validate == CELL_ADAPTER.validate_python and loc and loc[0] in ("aws", "gcp"):
                loc = loc[1:]  # the discriminated union's tag, not a field
            # The same for a deploy runner's `kind`.
            loc = [p for i, p in enumerate(loc) if not (i and loc[i - 1] == "runner" and p in RUNNER_KINDS)]
            message = _MESSAGES.get(err["type"], err["msg"].removeprefix("Value error, "))
            if err["type"].startswith("union_tag") and "kind" in str(err.get("ctx", {}).get("discriminator")):
                message = f"kind must be one of {', '.join(RUNNER_KINDS)}"
            if err["type"] == "string_pattern_mismatch":
                message = f"{err['input']!r} does not have the expected form ({err['ctx']['pattern']})"
            elif err["type"] in _EXPECTED:
                message = f"expected {_EXPECTED[err['type']]}, got {_shown(err['input'])}"
            issues.append(RegistryIssue(str(path), _field_path([prefix, *loc] if prefix else loc), message))
        return None


#: What a type error expected, for the ones YAML's typing makes easy to hit.
_EXPECTED = {
    "string_type": "a string (quote it in YAML)",
    "int_type": "a whole number (no quotes)",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
}


def _shown(value: Any) -> str:
    """A value as the YAML file wrote it."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _field_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if part == "" or part is None:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- cross-file rules -----------------------------------------------------------------------


def _check_organization(path: Path, org: Organization) -> list[RegistryIssue]:
    issues = []
    for field, names in (
        ("waves", [w.name for w in org.waves]),
        ("groups", [g.name for g in org.groups]),
        ("components", [c.name for c in org.components]),
    ):
        for name in {n for n in names if names.count(n) > 1}:
            issues.append(RegistryIssue(str(path), field, f"{name!r} is defined more than once"))
    for store, regions in (("S3", org.aws.allowed_regions), ("Cloud Storage", org.gcp.allowed_regions)):
        for region in regions:
            replica = org.registry.replica(region)
            # Cloud Storage allows longer names with dots, 63 characters per part; S3 63 in all: keep one rule.
            if len(replica) > MAX_BUCKET_NAME:
                issues.append(
                    RegistryIssue(
                        str(path),
                        "registry.bucket",
                        f"the registry's copy in {region}, {replica!r}, is {len(replica)} characters: {store} "
                        f"allows {MAX_BUCKET_NAME}; shorten the bucket name",
                    )
                )
    if org.gcp.allowed_regions and (org.registry.bucket.startswith("goog") or "google" in org.registry.bucket):
        issues.append(
            RegistryIssue(
                str(path),
                "registry.bucket",
                f"{org.registry.bucket!r}: Cloud Storage refuses bucket names that start with 'goog' or contain "
                "'google', and the registry's GCP copies are named after it",
            )
        )
    routing = org.routing
    names = [c.name for c in org.components]
    if names and routing.component not in names:
        issues.append(
            RegistryIssue(
                str(path),
                "routing.component",
                f"{routing.component!r} is not one of the components ({', '.join(names)}): tenants are served by one",
            )
        )
    if not routing.moving_ttl_seconds <= routing.ttl_seconds <= routing.max_ttl_seconds:
        issues.append(
            RegistryIssue(
                str(path),
                "routing.ttl_seconds",
                f"the TTLs must satisfy moving_ttl_seconds ({routing.moving_ttl_seconds}) <= ttl_seconds "
                f"({routing.ttl_seconds}) <= max_ttl_seconds ({routing.max_ttl_seconds})",
            )
        )
    for i, wave in enumerate(org.waves):
        if wave.name == ROUTING_STACK:
            issues.append(
                RegistryIssue(
                    str(path),
                    f"waves[{i}].name",
                    f"wave {wave.name!r} is the name of the routing stack's own wave, which every rollout and "
                    "bootstrap ends with (`cellctl rollout --wave routing`); name the wave otherwise",
                )
            )
    groups = {g.name for g in org.groups}
    for env, rules in org.access.items():
        for i, rule in enumerate(rules):
            if rule.group not in groups:
                issues.append(
                    RegistryIssue(
                        str(path), f"access.{env}[{i}].group", f"group {rule.group!r} is not defined in groups"
                    )
                )
    return issues


def _check_cells(org: Organization, cells: list[tuple[Path, AwsCell | GcpCell]]) -> list[RegistryIssue]:
    issues: list[RegistryIssue] = []
    waves = [w.name for w in org.waves]
    groups = {g.name for g in org.groups}
    components = {c.name for c in org.components}
    allowed = {"aws": set(org.aws.allowed_regions), "gcp": set(org.gcp.allowed_regions)}

    for path, cell in cells:
        f = str(path)
        if cell.name == org.routing.host:
            issues.append(
                RegistryIssue(
                    f,
                    "name",
                    f"cell {cell.name!r} is named like the router's host (routing.host in organization.yaml): its "
                    f"delegated zone {cell.name}.{org.domain} would collide with the router's name in the parent zone",
                )
            )
        if cell.region not in allowed[cell.cloud]:
            issues.append(
                RegistryIssue(
                    f,
                    "region",
                    f"{cell.cloud} region {cell.region!r} is not allowed "
                    f"(allowed: {', '.join(sorted(allowed[cell.cloud]))})",
                )
            )
        if cell.wave not in waves:
            issues.append(RegistryIssue(f, "wave", f"wave {cell.wave!r} is not defined (waves: {', '.join(waves)})"))
        elif cell.environment == Environment.prod and cell.wave == waves[0]:
            issues.append(
                RegistryIssue(
                    f, "wave", f"a prod cell cannot be in the first wave {waves[0]!r}, which is pre-production"
                )
            )
        for i, rule in enumerate(cell.access):
            if rule.group not in groups:
                issues.append(
                    RegistryIssue(f, f"access[{i}].group", f"group {rule.group!r} is not defined in the organization")
                )
        runner = cell.deploy.runner if cell.deploy else org.deploy.runner
        for field, reason in runner_problems(
            runner, cloud=cell.cloud, network=cell.network.cidr, inherited=cell.deploy is None
        ):
            issues.append(RegistryIssue(f, field, reason))
        for name in cell.overrides:
            if name not in components:
                issues.append(
                    RegistryIssue(
                        f, f"overrides.{name}", f"no application component named {name!r} in the organization"
                    )
                )

    # Unique names also make DNS zones unique: a zone is always <name>.<domain>.
    unique: list[tuple[str, Callable[[CellBase], Any]]] = [
        ("name", lambda c: c.name),
        ("account_email", lambda c: c.account_email.lower() if isinstance(c, AwsCell) else None),
        ("account_id", lambda c: c.account_id if isinstance(c, AwsCell) else None),
        ("project_id", lambda c: c.project_id if isinstance(c, GcpCell) else None),
    ]
    reserved_accounts = {org.aws.management_account_id, org.aws.monitoring_account_id, org.aws.dns_account_id}
    for field, key in unique:
        owners: dict[Any, list[tuple[Path, CellBase]]] = defaultdict(list)
        for path, cell in cells:
            value = key(cell)
            if value is not None:
                owners[value].append((path, cell))
        for value, holders in owners.items():
            if len(holders) > 1:
                names = ", ".join(sorted(str(p) for p, _ in holders))
                for path, _ in holders:
                    issues.append(RegistryIssue(str(path), field, f"{value!r} is used by more than one cell ({names})"))
    for path, cell in cells:
        if isinstance(cell, AwsCell) and cell.account_id in reserved_accounts:
            issues.append(
                RegistryIssue(str(path), "account_id", f"{cell.account_id} is a shared account, not a cell account")
            )

    networks = sorted(
        ((c.network.cidr, p, c) for p, c in cells), key=lambda t: (int(t[0].network_address), t[0].prefixlen)
    )
    for i, (cidr, path, cell) in enumerate(networks):
        # Sorted by start address, an overlap can only be with a later network that starts inside this one.
        for other_cidr, other_path, other in networks[i + 1 :]:
            if int(other_cidr.network_address) > int(cidr.broadcast_address):
                break
            if cidr.overlaps(other_cidr):
                for p, c, o in ((path, cell, other), (other_path, other, cell)):
                    issues.append(
                        RegistryIssue(
                            str(p), "network.cidr", f"{c.network.cidr} overlaps cell {o.name!r} ({o.network.cidr})"
                        )
                    )
    return issues


def _name_collision(org: Organization, cells: Mapping[str, AwsCell | GcpCell], tenant_id: str) -> str | None:
    """Why a tenant's name `<id>.<domain>` would collide in the parent zone, or None.

    A cell's name there is its delegation (NS records) and the router's host its alias; a CNAME
    cannot share its name with any other record (RFC 1034 3.6.2, Route53 refuses the change).
    """
    name = tenant_host(tenant_id, org.domain)
    if tenant_id in cells:
        return (
            f"tenant id {tenant_id!r} is also a cell's name: the tenant's record {name} would collide with "
            f"cell {tenant_id!r}'s delegated zone in the parent zone; choose another id"
        )
    if tenant_id == org.routing.host:
        return (
            f"tenant id {tenant_id!r} is the router's host (routing.host in organization.yaml): the tenant's "
            f"record {name} would collide with the router's name in the parent zone; choose another id"
        )
    return None


def _check_tenants(
    org: Organization,
    cells: list[AwsCell | GcpCell],
    placed: list[tuple[str, str, str, Tenant]],
    broken: Collection[str] = (),
    *,
    limits: bool = True,
) -> list[RegistryIssue]:
    """Tenants against their cells (known, residency, environment, limits) and each other (ids, domains).

    `placed` holds each tenant with its file, the field path of its entry there and of its cell.
    """
    issues: list[RegistryIssue] = []
    by_name = {c.name: c for c in cells}
    known = ", ".join(sorted(by_name)) or "none"
    domain = org.domain
    files: dict[str, set[str]] = defaultdict(set)
    members: dict[str, list[Tenant]] = defaultdict(list)
    for file, field, cell_field, tenant in placed:
        cell = by_name.get(tenant.cell)
        if cell is None and tenant.cell in broken:
            continue
        if cell is None:
            issues.append(
                RegistryIssue(file, cell_field, f"no cell named {tenant.cell!r} in the registry (known cells: {known})")
            )
            continue
        files[cell.name].add(file)
        members[cell.name].append(tenant)
        if tenant.residency is not None and not tenant.residency.allows(cell.cloud, cell.region):
            issues.append(
                RegistryIssue(
                    file,
                    f"{field}.residency",
                    f"tenant {tenant.id!r} may live only in {tenant.residency.describe()}; "
                    f"cell {cell.name!r} is {cell.cloud} {cell.region}",
                )
            )
        allowed = CELL_ENVIRONMENTS[tenant.environment]
        if cell.environment not in allowed:
            issues.append(
                RegistryIssue(
                    file,
                    f"{field}.environment",
                    f"a {tenant.environment} tenant lives only in {' or '.join(sorted(allowed))} cells; "
                    f"{tenant.id!r} is in {cell.environment} cell {cell.name!r}",
                )
            )
        if collision := _name_collision(org, by_name, tenant.id):
            issues.append(RegistryIssue(file, f"{field}.id", collision))
        if tenant.custom_domain and (tenant.custom_domain == domain or tenant.custom_domain.endswith(f".{domain}")):
            issues.append(
                RegistryIssue(
                    file,
                    f"{field}.custom_domain",
                    f"{tenant.custom_domain!r} is inside the organization's domain {domain}, "
                    "whose names are the cells'",
                )
            )

    for attribute in ("id", "custom_domain"):
        holders: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for file, field, _, tenant in placed:
            value = getattr(tenant, attribute)
            if value is not None:
                holders[value].append((file, field))
        for value, where in holders.items():
            if len(where) > 1:
                names = ", ".join(sorted(f"{f}: {p}" for f, p in where))
                for file, field in where:
                    issues.append(
                        RegistryIssue(
                            file, f"{field}.{attribute}", f"{value!r} is used by more than one tenant ({names})"
                        )
                    )

    headroom = org.capacity.headroom_percent
    for name, tenants in members.items() if limits else ():
        errors, _ = limit_problems(cell_capacity(by_name[name], headroom, tenants), headroom)
        for file in files[name]:
            issues += [RegistryIssue(file, "tenants", message) for message in errors]
    return issues
