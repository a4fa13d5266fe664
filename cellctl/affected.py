"""`cellctl stacks affected`: which stacks a change can alter, so CI previews just those.

A pure mapping from changed paths to stacks, by what each file feeds: a cell's registry file its
own stack, the management stack (which creates its account or project and grants) and the routing
stack (its tenants' origins); a tenant file the routing and management stacks; a stack's
config file that stack; a stack program the stacks it builds; shared code (components, the
registry models, the policy pack, the project file) every stack. Files no program reads (docs,
tests, the CLI, workflows) affect none. When unsure, every stack: a preview too many is cheap.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated

import typer

from cellctl.common import JsonOption, RegistryOption, console, fail, load, print_json

if TYPE_CHECKING:
    from cells import Registry

MANAGEMENT = "management"
ROUTING = "routing"  # `cells.ROUTING_STACK` (not imported at module level: --help stays fast)
#: Paths that no stack program reads.
UNREAD = ("README.md", "tests/", "cellctl/", "benchmarks/", ".github/", "docs/", "Makefile", ".gitignore")


def affected_stacks(paths: Iterable[str], registry: Registry) -> list[str]:
    """The stacks (in the registry's order) whose preview may change because of `paths`."""
    from cells import AwsCell, GcpCell

    every = registry.stack_names
    aws = {c.stack_name for c in registry.cells if isinstance(c, AwsCell)}
    gcp = {c.stack_name for c in registry.cells if isinstance(c, GcpCell)}
    hit: set[str] = set()
    for raw in paths:
        path = PurePosixPath(raw)
        text = path.as_posix()
        if text.startswith(UNREAD) or text in UNREAD:
            continue
        if text.startswith("cells/registry/cells/") and path.suffix == ".yaml":
            own = f"cell-{path.stem}"
            hit.update({own, MANAGEMENT, ROUTING} if own in every else {MANAGEMENT, ROUTING})
        elif text.startswith("cells/registry/tenants/") and path.suffix == ".yaml":
            # Tenants feed the routing stack's records and the published registry (management).
            hit.update({ROUTING, MANAGEMENT})
        elif text.startswith("stacks/Pulumi.") and path.suffix == ".yaml":
            stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
            hit.update({stack} & set(every))
        elif text == "stacks/cell_aws.py":
            hit.update(aws)
        elif text == "stacks/cell_gcp.py":
            hit.update(gcp)
        elif text == "stacks/management.py":
            hit.add(MANAGEMENT)
        elif text == "stacks/routing.py":
            hit.add(ROUTING)
        else:  # shared code, the organization file, the project: anything may change
            hit.update(every)
    return [stack for stack in every if stack in hit]


def changed_paths(base: str) -> list[str]:
    """Files changed between `base` and HEAD (the merge base, as a pull request sees them)."""
    try:
        done = subprocess.run(
            ["git", "diff", "--name-only", f"{base}...HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        fail(f"cannot list the files changed since {base!r} (git diff): {detail.strip()}")
    return [line for line in done.stdout.splitlines() if line]


def affected(
    base: Annotated[str, typer.Option("--base", help="Compare HEAD with this git ref (e.g. origin/main).")],
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the stacks a change since BASE can alter (for CI to preview only those)."""
    stacks = affected_stacks(changed_paths(base), load(registry))
    if as_json:
        print_json(stacks)
    else:
        console.print("\n".join(stacks) or "(no stack is affected)")
