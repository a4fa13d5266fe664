"""Run a stack's real program with no engine, no credentials and no network.

`run_stack("cell-alpha", registry)` runs `stacks.build` under `CloudMocks` exactly as
`pulumi up` would run it, and records every registration the program makes (type, name,
URN, inputs, outputs, parent, provider, protect, the source line that created it) plus the
stack's exported outputs. The offline plan and the tests both stand on this.

Like the engine, a resource or call that names no provider gets its package's default provider,
configured from the stack config's `<package>:*` keys, unless `pulumi:disable-default-providers`
lists the package (then the registration fails, as it does under the engine).

One process may run many programs in turn (`cellctl plan --all` does, in each worker): each runs
on an event loop of its own with the runtime's state set up fresh (settings, monitor, config,
stack resource) and released after it, so that nothing of one stack reaches the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pulumi
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

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
    #: Where the program created the resource, when the SDK says: {"file": absolute path, "line": n}.
    source: dict[str, Any] | None = None
    read: bool = False  # read (a StackReference, `Resource.get`), not created

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
    #: The stack config the program ran with (`aws:region` -> value); the pack reads it too.
    config: dict[str, Any] = field(default_factory=dict)
    #: What the program read rather than created (a StackReference, `Resource.get`); the pack judges these too.
    reads: list[PlannedResource] = field(default_factory=list)
    #: Resources of another stack that this one deploys onto (a team program: its cell's cluster), which
    #: the cloud rules read for what the target runs (the cluster's Kubernetes version).
    context: list[PlannedResource] = field(default_factory=list)

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

    def __init__(self, mocks: CloudMocks, config: dict[str, str] | None = None):
        super().__init__(mocks)
        self.mocks: CloudMocks = mocks
        self.records: list[PlannedResource] = []
        self.reads: list[PlannedResource] = []
        self.config = dict(config or {})
        self._defaults: dict[str, str] = {}  # package -> the default provider's reference
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        with self._lock:
            urn = self.make_urn(request.parent, request.type, request.name)
            if request.custom and not request.provider and not request.type.startswith("pulumi:"):
                request.provider = self._default_provider(
                    request.type.split(":", 1)[0], request.version, urn, _source(request)
                )
            self.mocks.current_urn = urn
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if request.type != "pulumi:pulumi:Stack":
                self.records.append(self._record(request, urn, response.id))
            return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        # Reads (a StackReference, `Resource.get`) are recorded apart, so the pack sees what a stack reads.
        with self._lock:
            urn = self.make_urn(request.parent, request.type, request.name)
            if not request.provider and not request.type.startswith("pulumi:"):
                request.provider = self._default_provider(request.type.split(":", 1)[0], request.version, urn)
            self.mocks.current_urn = urn
            response = super().ReadResource(request)  # type: ignore[no-untyped-call]
            self.reads.append(self._record(request, urn, request.id, inputs=request.properties))
            return response

    def Invoke(self, request: Any) -> Any:  # noqa: N802
        with self._lock:
            if not request.provider and not request.tok.startswith("pulumi:"):
                request.provider = self._default_provider(request.tok.split(":", 1)[0], request.version, request.tok)
            return super().Invoke(request)  # type: ignore[no-untyped-call]

    def _default_provider(self, package: str, version: str, user: str, source: dict[str, Any] | None = None) -> str:
        """The reference of `package`'s default provider, registered (and recorded) on first use."""
        disabled = self._disabled_defaults()
        if package in disabled or "*" in disabled:
            raise DefaultProviderDisabledError(
                f"Default provider for '{package}' disabled. '{user}' must use an explicit provider.", source
            )
        if package not in self._defaults:
            name = "default" + ("_" + version.replace(".", "_").replace("-", "_") if version else "")
            type_ = f"pulumi:providers:{package}"
            urn = self.make_urn("", type_, name)
            prefix = f"{package}:"
            inputs: dict[str, Any] = {k.removeprefix(prefix): v for k, v in self.config.items() if k.startswith(prefix)}
            if version:
                inputs["version"] = version
            self.mocks.current_urn = urn
            rid, outputs = self.mocks.new_resource(
                pulumi.runtime.MockResourceArgs(typ=type_, name=name, inputs=inputs, custom=True)
            )
            rid = rid or name
            self.mocks.providers[f"{urn}::{rid}"] = dict(inputs)
            self.records.append(
                PlannedResource(type_, name, urn, inputs, {"id": rid, **outputs}, None, None, False, True)
            )
            self._defaults[package] = f"{urn}::{rid}"
        return self._defaults[package]

    def _disabled_defaults(self) -> list[str]:
        raw = self.config.get("pulumi:disable-default-providers")
        if not raw:
            return []
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw.split(",")
        return [str(v).strip() for v in value] if isinstance(value, list) else [str(value)]

    def _record(self, request: Any, urn: str, rid: str, inputs: Any = None) -> PlannedResource:
        state = self.resources[urn].state
        read = inputs is not None
        custom = read or bool(request.custom)
        return PlannedResource(
            type=request.type,
            name=request.name,
            urn=urn,
            inputs=rpc.deserialize_properties(request.object if not read else inputs),
            outputs={"id": rid, **state} if custom else dict(state),
            parent=request.parent or None,
            provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
            protect=False if read else bool(request.protect),
            custom=custom,
            import_id=None if read else request.importId or None,
            ignore_changes=() if read else tuple(request.ignoreChanges),
            depends_on=tuple(request.dependencies),
            source=None if read else _source(request),
            read=read,
        )


def _source(request: Any) -> dict[str, Any] | None:
    """The file and line that created the resource: the SDK's `sourcePosition` (a file URI), or, when
    that lies inside an installed package (the SDK's guess misses for provider resources), the first
    frame of the request's stack trace outside installed packages."""
    positions = [request.sourcePosition] if request.HasField("sourcePosition") else []
    positions += [frame.pc for frame in request.stackTrace.frames if frame.HasField("pc")]
    for position in positions:
        if position.uri.startswith("file:") and position.line > 0:
            path = url2pathname(urlparse(position.uri).path)
            if not _INSTALLED.search(path):
                return {"file": path, "line": int(position.line)}
    return None


_INSTALLED = re.compile(r"[/\\](site|dist)-packages[/\\]")


class DefaultProviderDisabledError(Exception):
    """A resource needs a default provider that the stack config disables (the engine's error)."""

    def __init__(self, message: str, source: dict[str, Any] | None = None):
        super().__init__(message)
        #: Where the resource was created (the error is raised in the engine, not at that line).
        self.source = source


_FOLLOW_ON = ("Future exception was never retrieved", "Task exception was never retrieved")


def _drop_follow_on_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Silence the outputs that failed because the program failed: the run already raised that error once.

    Without this, every input that depended on a failed output logs the same chained error when it is
    garbage-collected, thousands of lines for one missing management output.
    """
    if not str(context.get("message", "")).startswith(_FOLLOW_ON):
        loop.default_exception_handler(context)


def reset_runtime() -> None:
    """The SDK's process-wide state as after import: no stack resource, monitor, config or pending RPCs."""
    settings.ROOT.set(None)
    settings.configure(settings.Settings(project="project", stack="stack"))
    pulumi.runtime.set_all_config({}, [])


@contextlib.contextmanager
def _fresh_runtime() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop of the program's own and the runtime reset around it; whatever the program left
    running (tasks of a program that failed) is cancelled and the loop closed, so the next program
    in this process starts from nothing."""
    reset_runtime()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        leftover = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()
        reset_runtime()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block.

    A plan allocates hundreds of thousands of objects (the SDK's classes on first use, then every
    resource's outputs and futures) that live until it ends; the collector's passes over that heap
    took about a third of a cold plan's CPU time and found next to nothing. Between stacks, call
    `settle`.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_settled = False


def settle() -> None:
    """Between two plans in one process: collect what the last one left (its resources' cycles), then
    freeze the survivors (the imported SDK, caches, results kept) so that later passes skip them.

    The first time, freeze only: what the process holds then is nearly all the SDK and the programs,
    imported to stay, and a full pass over it (some 700,000 objects, a third of a second) would find
    little more than one stack's cycles, which are kept instead.
    """
    global _settled
    if _settled:
        gc.collect()
    gc.freeze()
    _settled = True


def run_program(
    program: Callable[[], None],
    *,
    stack: str,
    mocks: CloudMocks,
    config: dict[str, str] | None = None,
    secret_keys: Collection[str] = (),
    project: str = PROJECT,
) -> StackPlan:
    """Run `program` as stack `stack` of `project` under `mocks`; errors in the program propagate."""
    full_config = {f"{project}:{k}" if ":" not in k else k: v for k, v in (config or {}).items()}
    monitor = RecordingMonitor(mocks, full_config)
    exported: dict[str, Any] = {}

    async def main() -> None:
        program()
        root = settings.get_root_resource()
        values = getattr(root, "outputs", {})
        exported.update(await pulumi.Output.from_input(values).future() or {})

    with _fresh_runtime() as loop:
        pulumi.runtime.set_all_config(full_config, list(secret_keys))
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
        loop.set_exception_handler(_drop_follow_on_errors)
        _sync_await(run_pulumi_func(main))
    return StackPlan(
        stack=stack, resources=list(monitor.records), outputs=exported, config=full_config, reads=list(monitor.reads)
    )


def run_stack(
    stack: str,
    registry: Registry,
    *,
    config: dict[str, str] | None = None,
    secret_keys: Collection[str] = (),
    stack_outputs: dict[str, dict[str, Any]] | None = None,
) -> StackPlan:
    """Run the real program of `stack` (what `__main__.py` runs) offline.

    Without `config`, the stack's committed `stacks/Pulumi.<stack>.yaml`, as `pulumi preview` reads it.
    """
    from cellctl import stack_config
    from stacks import build

    if config is None:
        committed = stack_config.load(stack)
        config, secret_keys = committed.values, committed.secret_keys

    mocks = CloudMocks(registry, stack_outputs)
    return run_program(lambda: build(stack, registry), stack=stack, mocks=mocks, config=config, secret_keys=secret_keys)
