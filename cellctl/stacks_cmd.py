"""`cellctl stacks sync`: keep `stacks/Pulumi.<stack>.yaml` in step with the registry.

The registry implies the stacks (`management`, one `cell-<name>` per cell, `routing`). Each stack's
config file holds only what the registry cannot: provider settings and secrets. `sync` writes
the files that are missing and reports the stale ones (a file for a stack that no longer
exists, a required setting missing or wrong, a setting that belongs in the registry); it never
rewrites an existing file, since that file may hold secrets. `--check` changes nothing and
exits 1 on any difference, for CI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cellctl.affected import affected
from cellctl.common import EXIT_FINDINGS, JsonOption, RegistryOption, console, fail, load, print_json

if TYPE_CHECKING:
    from cells import Registry
    from stacks.config_cidrs import CidrSetting

PROJECT = "honeycomb"
#: Where `Pulumi.yaml` (stackConfigDir: stacks) makes Pulumi look for stack config files: the `stacks`
#: package beside this one (not imported here: it loads the registry's models, and --help should not).
STACKS_DIR = Path(__file__).resolve().parent.parent / "stacks"
CELL_PREFIX = "cell-"  # `stacks.CELL_PREFIX`
FILE_PATTERN = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.yaml$")
#: Config namespaces of provider settings; anything there is allowed.
PROVIDER_NAMESPACES = ("aws", "gcp", "kubernetes", "pulumi")
DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"
ROUTING_STACK = "routing"  # `cells.ROUTING_STACK` (not imported here, as above)
#: Secrets a stack's program requires (`stacks.routing.ROUTER_SECRET_CONFIG`): `sync` cannot write them.
REQUIRED_SECRETS = {ROUTING_STACK: ("routerOriginSecret",)}


@dataclass(frozen=True)
class Finding:
    """One difference between a stack file and the registry."""

    stack: str
    file: str
    kind: str  # "missing" or "stale"
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


def file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def expected_config(registry: Registry, stack: str) -> dict[str, Any]:
    """The settings a new stack file gets (the program's own defaults are not repeated)."""
    # A forgotten `provider=` must fail, not land in whatever account the credentials point at.
    from stacks import outputs as mgmt

    config: dict[str, Any] = {DISABLE_DEFAULT_PROVIDERS: ["*"]}
    if stack not in ("management", ROUTING_STACK):  # routing reads the registry alone
        config[f"{PROJECT}:{mgmt.MANAGEMENT_STACK_CONFIG}"] = mgmt.DEFAULT_MANAGEMENT_STACK
    return config


def render(registry: Registry, stack: str) -> str:
    """The text of a new stack file."""
    import yaml

    if stack == "management":
        source = "cells/registry/ (organization.yaml and every cell)"
    elif stack == ROUTING_STACK:
        source = "cells/registry/ (organization.yaml, every cell and every tenant file)"
    else:
        source = f"the registry (cells/registry/cells/{stack.removeprefix(CELL_PREFIX)}.yaml)"
    config = expected_config(registry, stack)
    body = yaml.safe_dump({"config": config}, sort_keys=True, default_flow_style=False)
    return (
        f"# Stack config of {stack}: provider settings and secrets only; everything else comes from\n"
        f"# {source}.\n"
        "# Written by `cellctl stacks sync`; add secrets with `pulumi config set --secret`.\n"
        f"{body}"
    )


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _any(value: Any) -> str | None:
    return None


def _management_stack(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "must name the management stack"


def _cidrs(setting: CidrSetting, stack: str) -> Callable[[Any], str | None]:
    """The cell program's own check (`stacks.config_cidrs`), so the file fails as the stack would."""
    from stacks.config_cidrs import CellConfigError, parse_cidrs

    def check(value: Any) -> str | None:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return "must be a list of CIDRs"
        try:
            parse_cidrs(value, setting, stack=stack)
        except CellConfigError as exc:
            return f"is refused by the cell stack ({exc})"
        return None

    return check


def _ci_principals(registry: Registry, value: Any) -> str | None:
    """The management program's own check (`stacks.ci_identity`), so the file fails as the stack would."""
    from stacks.ci_identity import CiConfigError, parse_principals

    raw = value if isinstance(value, str) else json.dumps(value)
    try:
        parse_principals(raw, registry)
    except CiConfigError as exc:
        return f"is refused by the management stack ({exc})"
    return None


#: Optional settings each program reads from its stack config (see the programs' docstrings).
MANAGEMENT_KEYS = (
    "awsOrganizationId",
    "awsOrganizationRootId",
    "identityCenterRegion",
    "ciPrincipalArns",
    "gcpArtifactsProject",
    "gcpArtifactsLocation",
)
GCP_CELL_KEYS = ("healthNotificationEmail",)


def _allowed_project_keys(registry: Registry, stack: str) -> dict[str, Callable[[Any], str | None]]:
    """Project (`honeycomb:`) keys a stack may set, each with a check returning a problem or None."""
    from cells import AwsCell, Environment
    from stacks import outputs as mgmt
    from stacks.ci_identity import CI_PRINCIPALS_CONFIG
    from stacks.config_cidrs import EKS_PUBLIC_ACCESS, GKE_AUTHORIZED_NETWORKS

    if stack == "management":
        checks: dict[str, Callable[[Any], str | None]] = {f"{PROJECT}:{key}": _any for key in MANAGEMENT_KEYS}
        checks[f"{PROJECT}:{CI_PRINCIPALS_CONFIG}"] = lambda value: _ci_principals(registry, value)
        return checks
    if stack == ROUTING_STACK:
        return {}
    keys: dict[str, Callable[[Any], str | None]] = {f"{PROJECT}:{mgmt.MANAGEMENT_STACK_CONFIG}": _management_stack}
    cell = registry.cell(stack.removeprefix(CELL_PREFIX))
    if isinstance(cell, AwsCell):
        # A prod cluster has no public endpoint, so the setting is a mistake there.
        if cell.environment != Environment.prod:
            keys[f"{PROJECT}:{EKS_PUBLIC_ACCESS.key}"] = _cidrs(EKS_PUBLIC_ACCESS, stack)
    else:
        keys.update({f"{PROJECT}:{key}": _any for key in GCP_CELL_KEYS})
        keys[f"{PROJECT}:{GKE_AUTHORIZED_NETWORKS.key}"] = _cidrs(GKE_AUTHORIZED_NETWORKS, stack)
    return keys


def check_file(registry: Registry, stack: str, path: Path) -> list[Finding]:
    """Why an existing stack file is stale (empty when it is fine)."""
    import yaml

    name = path.name

    def stale(reason: str) -> Finding:
        return Finding(stack, name, "stale", reason)

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return [stale(f"cannot be read as YAML ({exc})")]
    if not isinstance(doc, dict):
        return [stale("is not a YAML mapping")]
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        return [stale("`config` is not a mapping")]

    findings = []
    expected = expected_config(registry, stack)
    for key, value in expected.items():
        if key not in config:
            findings.append(stale(f"lacks {key} (expected {value!r})"))
        elif key == DISABLE_DEFAULT_PROVIDERS and config[key] != value:
            findings.append(stale(f"{key} is {config[key]!r}, expected {value!r}: every resource needs its provider"))
    for secret in REQUIRED_SECRETS.get(stack, ()):
        full_key = f"{PROJECT}:{secret}"
        if full_key not in config:  # a plain-text value is refused below
            findings.append(
                stale(f"lacks the secret {full_key}: pulumi config set --secret --stack {stack} {full_key} <value>")
            )
    allowed = _allowed_project_keys(registry, stack)
    for key, value in sorted(config.items()):
        namespace = key.split(":", 1)[0] if ":" in key else PROJECT
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if namespace in PROVIDER_NAMESPACES or _is_secret(value):
            continue
        if namespace == PROJECT and full_key in allowed:
            problem = allowed[full_key](value)
            if problem:
                findings.append(stale(f"{full_key} {problem}, got {value!r}"))
            continue
        findings.append(
            stale(
                f"sets {full_key}, which is neither a provider setting nor a secret: "
                "cell data belongs in the registry (cells/registry/), not in stack config"
            )
        )
    return findings


def compare(registry: Registry, directory: Path = STACKS_DIR) -> list[Finding]:
    """Every difference between `directory`'s stack files and the stacks the registry implies."""
    implied = registry.stack_names
    findings: list[Finding] = []
    for stack in implied:
        path = directory / file_name(stack)
        if not path.is_file():
            findings.append(Finding(stack, path.name, "missing", f"missing: the registry implies the stack {stack}"))
        else:
            findings.extend(check_file(registry, stack, path))
    for path in sorted(directory.glob("Pulumi.*.yaml")):
        match = FILE_PATTERN.match(path.name)
        stack = match["stack"] if match else path.name
        if stack not in implied:
            findings.append(
                Finding(
                    stack,
                    path.name,
                    "stale",
                    f"no stack {stack!r} in the registry (a removed cell?); its stacks are {', '.join(implied)}. "
                    f"Destroy the stack (`pulumi destroy --stack {stack}`, `pulumi stack rm`), then delete the file",
                )
            )
    return findings


def write_missing(registry: Registry, findings: list[Finding], directory: Path = STACKS_DIR) -> list[Path]:
    """Write a file for every missing stack; returns what was written."""
    written = []
    for finding in findings:
        if finding.kind == "missing":
            path = directory / finding.file
            path.write_text(render(registry, finding.stack), encoding="utf-8")
            written.append(path)
    return written


def sync(
    registry: RegistryOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 on any missing or stale file.")
    ] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Directory of the stack files (default: the project's stacks/).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write missing `stacks/Pulumi.<stack>.yaml` files and report stale ones."""
    reg = load(registry)
    target = directory or STACKS_DIR
    if not target.is_dir():
        fail(f"{target} is not a directory: pass --dir with the directory that holds the Pulumi.<stack>.yaml files")
    findings = compare(reg, target)
    written = [] if check else write_missing(reg, findings, target)
    stale = [f for f in findings if f.kind == "stale"]
    missing = [f for f in findings if f.kind == "missing"]
    if as_json:
        print_json(
            {
                "written": [p.name for p in written],
                "missing": [asdict(f) for f in missing] if check else [],
                "stale": [asdict(f) for f in stale],
            }
        )
    else:
        for path in written:
            console.print(f"[green]wrote[/] {path.name}")
        if written:
            console.print("commit them: a rollout deploys only the stack files committed beside the code")
        if findings and (check or stale):
            from rich.table import Table

            table = Table(title="stack files that differ from the registry")
            for col in ("file", "kind", "reason"):
                table.add_column(col)
            for f in findings if check else stale:
                table.add_row(f.file, f.kind, f.reason)
            console.print(table)
        if not findings:
            console.print(f"[green]ok[/]: {len(reg.stack_names)} stack files match the registry")
    if check and findings:
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    stacks_app = typer.Typer(help="Stack config files (stacks/Pulumi.<stack>.yaml).", no_args_is_help=True)
    stacks_app.command()(sync)
    stacks_app.command()(affected)
    app.add_typer(stacks_app, name="stacks")
