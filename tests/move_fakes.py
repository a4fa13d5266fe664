"""In-memory dependencies of a tenant move: routes, lifecycle targets and health, with failure hooks.

`FakeRoutes` keeps the router store (with a store-wide ETag, as CloudFront KeyValueStore does) and
the records, and logs every write; `FakeLifecycle` logs every call with the routes as they were
at that moment, so a test can say what the world looked like at each step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.health import Health
from cellctl.tenants.move import MoveDeps, MoveError, Record, StoreConflictError
from cells import Registry
from cells.routes import routes


class Crash(BaseException):
    """The process dying mid-step: not an `Exception`, so no undo runs (as with a kill)."""


@dataclass
class Outcome:
    ok: bool = True
    message: str = "ok"


@dataclass
class FakeRoutes:
    store: dict[str, str] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    etag: int = 0
    writes: list[tuple[str, str, Any]] = field(default_factory=list)
    #: Called before each write with (kind, key, value); may raise to fail or crash it.
    before_write: Callable[[str, str, Any], None] | None = None
    #: PutKey calls that find the ETag changed by another writer first.
    conflicts: int = 0

    @classmethod
    def of(cls, registry: Registry) -> FakeRoutes:
        every = routes(registry)
        return cls(
            store={r.tenant: r.store_value() for r in every},
            records={r.name: Record(r.origin, r.ttl) for r in every},
        )

    def get_key(self, key: str) -> tuple[str | None, str]:
        return self.store.get(key), f"E{self.etag}"

    def put_key(self, key: str, value: str, if_match: str) -> str:
        if self.before_write:
            self.before_write("key", key, value)
        if self.conflicts:
            self.conflicts -= 1
            self.etag += 1
        if if_match != f"E{self.etag}":
            raise StoreConflictError("ETag changed")
        self.store[key] = value
        self.etag += 1
        self.writes.append(("key", key, value))
        return f"E{self.etag}"

    def get_record(self, name: str) -> Record | None:
        return self.records.get(name)

    def replace_record(self, name: str, expected: Record, new: Record) -> None:
        """Route53's all-or-nothing DELETE expected + CREATE new: a record that is neither fails."""
        if self.records.get(name) == new:
            return
        if self.records.get(name) != expected:
            raise MoveError(f"record {name} changed: it is {self.records.get(name)}, not {expected}")
        if self.before_write:
            self.before_write("record", name, new)
        self.records[name] = new
        self.writes.append(("record", name, new))


@dataclass
class FakeLifecycle:
    routes: FakeRoutes
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    #: The store and records at each call (what the world looked like then).
    seen: list[tuple[str, dict[str, str], dict[str, Record]]] = field(default_factory=list)
    results: dict[str, Outcome] = field(default_factory=dict)
    #: Called after a target's work, before it returns (to crash or to try a second move meanwhile).
    after: dict[str, Callable[[], None]] = field(default_factory=dict)

    def _call(self, name: str, *args: str) -> Outcome:
        self.calls.append((name, args))
        self.seen.append((name, dict(self.routes.store), dict(self.routes.records)))
        hook = self.after.get(name)
        if hook is not None:
            hook()
        return self.results.get(name, Outcome())

    def mirror(self, tenant: str, source: str, destination: str, timeout: float) -> Outcome:
        return self._call("mirror", tenant, source, destination)

    def verify(self, tenant: str, source: str, destination: str) -> Outcome:
        return self._call("verify", tenant, source, destination)

    def cleanup(self, tenant: str, source: str, destination: str) -> Outcome:
        return self._call("cleanup", tenant, source, destination)


@dataclass
class FakeHealth:
    answers: list[bool | None] = field(default_factory=lambda: [True])
    checked: list[str] = field(default_factory=list)

    def check(self, cell: Any) -> Health:
        self.checked.append(cell.name)
        healthy = self.answers[min(len(self.checked), len(self.answers)) - 1]
        return Health(cell.name, healthy, {True: "OK", False: "in ALARM", None: "cannot read"}[healthy])


def fail(kind: str, value: Any) -> Callable[[str, str, Any], None]:
    """A `before_write` hook that fails the write of `value` (a store value or a `Record`)."""

    def hook(what: str, key: str, written: Any) -> None:
        if what == kind and written == value:
            raise MoveError(f"injected failure writing {written}")

    return hook


def deps(registry: Registry, home: Path, registry_dir: Path, **changes: Any) -> MoveDeps:
    clock = VirtualClock()
    routes = FakeRoutes.of(registry)
    values: dict[str, Any] = {
        "routes": routes,
        "lifecycle": FakeLifecycle(routes),
        "health": FakeHealth(),
        "clock": clock,
        "home": home,
        "registry_dir": registry_dir,
        "wall": lambda: 1_000_000.0 + clock.now(),
    }
    values.update(changes)
    return MoveDeps(**values)
