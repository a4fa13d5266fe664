"""How a cell stack reads the management stack: its name from config, its outputs with clear errors."""

from __future__ import annotations

from typing import Any

import pulumi

from stacks import outputs as mgmt


class ManagementOutputError(ValueError):
    """The management stack lacks an output a cell needs: it has not run since the cell was added."""


def management_stack_name(config: pulumi.Config) -> str:
    """The fully qualified name (`<organization>/<project>/<stack>`) of the management stack to read."""
    stack = config.get(mgmt.MANAGEMENT_STACK_CONFIG) or mgmt.DEFAULT_MANAGEMENT_STACK
    if "/" in stack:
        return stack
    return f"{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/{stack}"


def management_output(ref: pulumi.StackReference, output: str, key: str | None = None) -> pulumi.Output[Any]:
    """One of the management stack's outputs, or one entry (`key`) of a map output; missing ones say what to run."""

    def pick(value: Any) -> Any:
        if value is not None and (key is None or (isinstance(value, dict) and key in value)):
            return value if key is None else value[key]
        what, entries = output, ""
        if key is not None:
            what = f"{output}[{key!r}]"
            known = ", ".join(sorted(value)) if isinstance(value, dict) else ""
            entries = f" (no entry {key!r}; it has: {known or 'none'})"
        raise ManagementOutputError(
            f"the management stack has no output {what}{entries}: run `pulumi up --stack management` "
            "after adding the cell to the registry, then update this stack"
        )

    return ref.get_output(output).apply(pick)
