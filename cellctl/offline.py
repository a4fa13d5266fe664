"""Run a stack's real program with no engine, no credentials and no network.

`run_stack("cell-alpha", registry)` runs `stacks.build` under `CloudMocks` exactly as
`pulumi up` would run it, and records every registration the program makes (type, name,
URN, inputs, outputs, parent, provider, protect) plus the stack's exported outputs. The
offline plan and the tests both stand on this.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from cellctl.mocks import CloudMocks
from cells import Registry

PROJECT = "honeycomb"


@dataclass(frozen=True)
class PlannedResource:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str | None
    provider: str | None  # the provider's URN; None means a default provider
    protect: bool
    custom: bool
    import_id: str | None = None
    ignore_changes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["ignore_changes"] = list(self.ignore_changes)
        doc["depends_on"] = list(self.depends_on)
        return doc


@dataclass
class StackPlan:
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> PlannedResource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} named {name!r}, found {[r.name for r in found]}")
        return found[0]

    def by_urn(self) -> dict[str, PlannedResource]:
        return {r.urn: r for r in self.resources}

    def count_by_type(self) -> dict[str, int]:
        return dict(sorted(Counter(r.type for r in self.resources).items()))

    @property
    def custom_resources(self) -> list[PlannedResource]:
        return [r for r in self.resources if r.custom]


class RecordingMonitor(MockMonitor):
    """MockMonitor that keeps the whole registration request, not just the mock's state."""

    def __init__(self, mocks: CloudMocks):
        super().__init__(mocks)
        self.mocks: CloudMocks = mocks
        self.records: list[PlannedResource] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        with self._lock:
            urn = self.make_urn(request.parent, request.type, request.name)
            self.mocks.current_urn = urn
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if request.type != "pulumi:pulumi:Stack":
                self.records.append(self._record(request, urn, response.id))
            return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        with self._lock:
            self.mocks.current_urn = self.make_urn(request.parent, request.type, request.name)
            return super().ReadResource(request)  # type: ignore[no-untyped-call]

    def _record(self, request: Any, urn: str, rid: str) -> PlannedResource:
        state = self.resources[urn].state
        return PlannedResource(
            type=request.type,
            name=request.name,
            urn=urn,
            inputs=rpc.deserialize_properties(request.object),
            outputs={"id": rid, **state} if request.custom else dict(state),
            parent=request.parent or None,
            provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
            protect=bool(request.protect),
            custom=bool(request.custom),
            import_id=request.importId or None,
            ignore_changes=tuple(request.ignoreChanges),
            depends_on=tuple(request.dependencies),
        )


_FOLLOW_ON = ("Future exception was never retrieved", "Task exception was never retrieved")


def _drop_follow_on_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Silence the outputs that failed because the program failed: the run already raised that error once.

    Without this, every input that depended on a failed output logs the same chained error when it is
    garbage-collected, thousands of lines for one missing management output.
    """
    if not str(context.get("message", "")).startswith(_FOLLOW_ON):
        loop.default_exception_handler(context)


def run_program(
    program: Callable[[], None],
    *,
    stack: str,
    mocks: CloudMocks,
    config: dict[str, str] | None = None,
    secret_keys: Collection[str] = (),
) -> StackPlan:
    """Run `program` as stack `stack` under `mocks`; errors in the program propagate."""
    monitor = RecordingMonitor(mocks)
    settings.ROOT.set(None)
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{k}" if ":" not in k else k: v for k, v in (config or {}).items()}, list(secret_keys)
    )
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    exported: dict[str, Any] = {}

    async def main() -> None:
        program()
        root = settings.get_root_resource()
        values = getattr(root, "outputs", {})
        exported.update(await pulumi.Output.from_input(values).future() or {})

    _ensure_event_loop().set_exception_handler(_drop_follow_on_errors)  # type: ignore[no-untyped-call]
    _sync_await(run_pulumi_func(main))
    return StackPlan(stack=stack, resources=list(monitor.records), outputs=exported)


def run_stack(
    stack: str,
    registry: Registry,
    *,
    config: dict[str, str] | None = None,
    secret_keys: Collection[str] = (),
    stack_outputs: dict[str, dict[str, Any]] | None = None,
) -> StackPlan:
    """Run the real program of `stack` (what `__main__.py` runs) offline."""
    from stacks import build

    mocks = CloudMocks(registry, stack_outputs)
    return run_program(lambda: build(stack, registry), stack=stack, mocks=mocks, config=config, secret_keys=secret_keys)
