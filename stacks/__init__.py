"""One program per kind of stack: `management`, `cell-<name>` and `routing`.

`build(stack)` is all `__main__.py` calls. The registry is the one source of truth; stack
config (`stacks/Pulumi.<stack>.yaml`) only holds provider settings and secrets.
"""

from __future__ import annotations

from collections.abc import Callable

from cells import ROUTING_STACK, AwsCell, GcpCell, Registry, UnknownCellError, load_registry

CELL_PREFIX = "cell-"


class UnknownStackError(LookupError):
    pass


class StackNotImplementedError(NotImplementedError):
    """The stack is valid but its program is not written yet."""


def _guarded(stack_name: str, program: Callable[[], None]) -> Callable[[], None]:
    """Turn a program's NotImplementedError into one clear sentence naming the stack."""

    def run() -> None:
        try:
            program()
        except StackNotImplementedError:
            raise
        except NotImplementedError as exc:
            raise StackNotImplementedError(
                f"stack {stack_name!r} cannot be deployed yet: {exc or 'its program is not written'}"
            ) from exc

    return run


def resolve(stack_name: str, registry: Registry) -> Callable[[], None]:
    """The program for a stack name, or UnknownStackError listing the valid stacks."""
    if stack_name == "management":
        from stacks import management

        return _guarded(stack_name, lambda: management.program(registry))
    if stack_name == ROUTING_STACK:
        from stacks import routing

        return _guarded(stack_name, lambda: routing.program(registry))
    if stack_name.startswith(CELL_PREFIX):
        try:
            cell = registry.cell(stack_name.removeprefix(CELL_PREFIX))
        except UnknownCellError:
            pass
        else:
            if isinstance(cell, AwsCell):
                from stacks import cell_aws

                return _guarded(stack_name, lambda: cell_aws.program(registry, cell))
            if isinstance(cell, GcpCell):
                from stacks import cell_gcp

                return _guarded(stack_name, lambda: cell_gcp.program(registry, cell))
    why = (
        f"no cell named {stack_name.removeprefix(CELL_PREFIX)!r} in the registry; "
        if stack_name.startswith(CELL_PREFIX)
        else ""
    )
    raise UnknownStackError(
        f"unknown stack {stack_name!r}: {why}this registry has the stacks {', '.join(registry.stack_names)} "
        "(a cell's stack is cell-<name>; add cells/registry/cells/<name>.yaml to create one)"
    )


def build(stack_name: str | None = None, registry: Registry | None = None) -> None:
    """Build the resources of `stack_name` (default: the current Pulumi stack)."""
    import pulumi

    registry = registry if registry is not None else load_registry()
    resolve(stack_name or pulumi.get_stack(), registry)()
