"""What every `cellctl` command shares: the registry option, loading, and clean failure.

Light on purpose: every command module imports it, and `cellctl --help` imports every command
module, so the registry's models (pydantic) load only when a command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from cells import Registry

#: The registry's environment variable, `cells.loader.REGISTRY_ENV` (a test keeps the two one).
REGISTRY_ENV = "HONEYCOMB_REGISTRY"

console = Console()
err_console = Console(stderr=True)

#: Exit codes: 0 fine, 1 the thing checked is bad (a policy fired, a rollout halted), 2 bad input.
EXIT_FINDINGS = 1
EXIT_USAGE = 2

RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        envvar=REGISTRY_ENV,
        help="Registry directory (organization.yaml + cells/). Defaults to the bundled sample.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one clear paragraph on stderr and exit; never a traceback for bad input."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load(registry: Path | None, *, over_limit_ok: bool = False) -> Registry:
    from cells import RegistryError, load_registry

    try:
        return load_registry(registry, over_limit_ok=over_limit_ok)
    except RegistryError as exc:
        err_console.print(exc.report(), highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(EXIT_USAGE) from None


def resolve_cell(reg: Registry, name: str) -> Any:
    from cells import UnknownCellError

    try:
        return reg.cell(name.removeprefix("cell-"))
    except UnknownCellError as exc:
        fail(str(exc))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
