"""The move engine: one tenant from its cell to another, step by step, journaled, undone on failure.

Pure orchestration over injected dependencies (`MoveDeps`): the route writer (`Routes`: the
router store's key and the tenant's DNS record, `cellctl.tenants.aws_routes` on AWS), the
components' lifecycle targets (`Lifecycle`), the destination's health gate
(`cellctl.rollout.health`), a `Clock` for every wait, and the registry directory whose tenant
files finalize edits. The steps are `cellctl.tenants.moves.Step`:

- check: the destination exists, differs, has room (limits minus headroom, counting moves already
  headed there) and satisfies residency and environment; the tenant's record and store key are
  there and say the source. Then the tenant is marked moving: its store value gains `moving_to`
  while it still routes to the source (the router reports it). Undo: the old value.
- mirror: the lifecycle's mirror, until it reports in sync. Undo: the lifecycle's cleanup of the
  destination's copy.
- lower-ttl: the record gets `routing.moving_ttl_seconds`; the old TTL is waited out. Undo: the old
  record.
- flip: the store value and the record point at the destination. Undo: the values before.
- verify: the destination's health gate and the lifecycle's verify. Nothing to undo.
- finalize: the store value without `moving_to`, the TTL back to `routing.ttl_seconds`, and the
  tenant's entry moves between the tenant files (comments kept, the registry validated after, the
  files put back on failure). Undo: the values and files before.
- cleanup: after the grace period, the lifecycle's cleanup of the source's copy. Past finalize
  nothing is undone: a failed cleanup is reported and retried with `--resume`.

Each step's state and what its undo needs are journaled before its side effect. On resume, a step
that was running when the run stopped is rechecked (its effect is looked for) rather than redone
blindly; a move that was undoing goes on undoing. Store writes are compare-and-set on the value
this move expects (the store's ETag guards the write; the value guards against another writer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from filelock import FileLock, Timeout

from cellctl.rollout.clock import Clock
from cellctl.tenants.move_journal import (
    FINISHED,
    IN_FLIGHT,
    MoveJournal,
    MoveStatus,
    StepState,
    journal_tenant,
    unfinished,
)
from cellctl.tenants.moves import MoveRequest, MoveResult, Step

if TYPE_CHECKING:
    from cellctl.rollout.health import HealthGate
    from cells import Registry
    from cells.routes import Route
    from cells.tenants import Tenant

#: How often the destination's health is read while verifying, and for how long at most.
HEALTH_POLL_SECONDS = 15.0
HEALTH_TIMEOUT_SECONDS = 300.0
#: Tenant file edits of this process, one at a time (a `FileLock` serializes processes too).
_FILES_LOCK = threading.Lock()
#: Compare-and-set attempts on the router store when other writers keep changing its ETag.
STORE_ATTEMPTS = 8
#: After a flip (or a flip back), how long past the moving TTL the old route may still be used
#: before the new one is everywhere. Route53's INSYNC covers its own servers only, resolvers keep
#: the old answer for the moving TTL after it; CloudFront KeyValueStore writes reach the edges
#: eventually, with nothing to wait on (`DescribeKeyValueStore`'s status is the store's own, not
#: propagation) and no propagation time documented, so a margin of our own: one minute.
PROPAGATION_SECONDS = 60.0


class MoveError(RuntimeError):
    """A step could not do its work; the message says why in the operator's terms."""


class MoveInputError(ValueError):
    """A move that cannot start (bad tenant or cell, no room, another move running): one paragraph."""


class RecheckError(RuntimeError):
    """A resumed step's effect could not be looked for (a read failed): the run stops, nothing undone."""


class StoreConflictError(RuntimeError):
    """The router store's ETag changed between read and write (`IfMatch` failed)."""


@dataclass(frozen=True)
class Record:
    """A tenant's DNS record: a CNAME to `target` with `ttl`."""

    target: str
    ttl: int


class Routes(Protocol):
    """Where a tenant's route lives: the router store's key and the tenant's DNS record."""

    def get_key(self, key: str) -> tuple[str | None, str]:
        """The key's value (`None`: absent) and the store's current ETag."""

    def put_key(self, key: str, value: str, if_match: str) -> str:
        """Write the key if the store's ETag is still `if_match` (else `StoreConflictError`); the new ETag."""

    def get_record(self, name: str) -> Record | None: ...

    def replace_record(self, name: str, expected: Record, new: Record) -> None:
        """Compare-and-set the CNAME: `expected` (or already `new`) becomes `new`, all or nothing, and
        wait until the change is in sync; a record that is neither is a `MoveError` ("changed")."""


class LifecycleOutcome(Protocol):
    """What a lifecycle target reports (`cellctl.lifecycle.TargetResult`)."""

    @property
    def ok(self) -> bool: ...

    @property
    def message(self) -> str: ...


class Lifecycle(Protocol):
    """The components' standardized lifecycle targets for one tenant (`cellctl.lifecycle.LifecycleRunner`).

    Cells by name. `cleanup` releases the copy in its `source` argument: a move's cleanup passes the
    move's source; the undo of a mirror passes the destination as `source`, releasing the copy made
    there while the tenant stays where it was.
    """

    def mirror(self, tenant: str, source: str, destination: str, timeout: float) -> LifecycleOutcome:
        """Each component's `tenant-mirror`, until it reports the destination in sync or `timeout` passes."""

    def verify(self, tenant: str, source: str, destination: str) -> LifecycleOutcome:
        """Each component's `tenant-verify` in the destination."""

    def cleanup(self, tenant: str, source: str, destination: str) -> LifecycleOutcome:
        """Each component's `tenant-cleanup` in `source`."""


@dataclass
class MoveDeps:
    routes: Routes
    lifecycle: Lifecycle
    health: HealthGate
    clock: Clock
    #: Where `.honeycomb/moves/` lives (the project directory).
    home: Path
    #: The registry directory (`None`: the default one); finalize edits its tenant files.
    registry_dir: Path | None = None
    grace_seconds: float = 3600.0
    #: How long the mirror may take to report in sync.
    mirror_timeout: float = 4 * 3600.0
    #: Wait out the grace period and clean up in this run; False leaves cleanup pending for `--resume`.
    wait_grace: bool = True
    health_timeout: float = HEALTH_TIMEOUT_SECONDS
    #: Seconds since the epoch, persisted in the journal (a resumed wait counts time already passed).
    wall: Callable[[], float] = time.time
    progress: Callable[[str], None] = field(default=lambda _message: None)


def moves_dir(home: Path) -> Path:
    return Path(home) / ".honeycomb" / "moves"


def in_flight(home: Path) -> dict[str, str]:
    """Tenant -> destination for every unfinished move journal (what `tenants list` shows as moving)."""
    docs, _ = unfinished(moves_dir(home))
    return {d.tenant: d.destination for d in docs}


def move_routes(registry: Registry, tenant: Tenant, source: str, destination: str) -> tuple[Route, Route, Route, Route]:
    """The tenant's route before the move, marked moving, flipped (still marked) and after: the values a
    move writes, in order, so the dry run says what the run does."""
    from cells.routes import route_for

    return (
        route_for(registry, tenant, cell=source),
        route_for(registry, tenant, cell=source, moving_to=destination),
        route_for(registry, tenant, cell=destination, moving_to=destination),
        route_for(registry, tenant, cell=destination),
    )


class TenantMover:
    """Runs one move end to end (or its undo) and reports: a `Mover` for batches, and the command's engine."""

    def __init__(self, deps: MoveDeps, *, force: bool = False) -> None:
        self.deps = deps
        self.force = force

    def __call__(self, request: MoveRequest) -> MoveResult:
        """A move that cannot start is a failed result at `check` (no journal), not an exception."""
        from cellctl.rollout.chained import JournalError
        from cells import RegistryError

        try:
            return self.run(request)
        except (MoveInputError, JournalError, RegistryError) as exc:
            message = exc.report() if isinstance(exc, RegistryError) else str(exc)
            return MoveResult(request.tenant, request.source, request.destination, False, "", Step.check, message)

    # --- entry points --------------------------------------------------------------------------

    def run(self, request: MoveRequest) -> MoveResult:
        """Start a move; `MoveInputError` when it cannot start (nothing is written then)."""
        from cells import load_registry

        registry = load_registry(self.deps.registry_dir)
        tenant = self._validate(registry, request)
        directory = moves_dir(self.deps.home)
        with self._locked(request.tenant):
            self._refuse_unfinished(request.tenant, directory)
            self._check_capacity(registry, tenant, request.destination, directory)
            journal = MoveJournal.create(directory, request, tenant.daily_requests, self.deps.grace_seconds)
            return _Run(self, journal, registry).go()

    def resume(self, journal_id: str) -> MoveResult:
        """Continue a move from its journal; `MoveInputError` for a journal that cannot be used."""
        from cells import load_registry

        directory = moves_dir(self.deps.home)
        journal = self._load(directory, journal_id)
        with self._locked(journal.doc.tenant):
            journal = self._load(directory, journal.id)  # what a run that just ended wrote
            if journal.doc.status in FINISHED:
                raise MoveInputError(
                    f"move {journal.id} of {journal.doc.tenant} is {journal.doc.status}: nothing to resume"
                )
            registry = load_registry(self.deps.registry_dir, over_limit_ok=True)
            return _Run(self, journal, registry).go()

    def plan(self, request: MoveRequest) -> list[dict[str, Any]]:
        """What each step would do (a dry run): validated like a move, nothing read from the cloud or written."""
        from cells import load_registry

        registry = load_registry(self.deps.registry_dir)
        tenant = self._validate(registry, request)
        self._check_capacity(registry, tenant, request.destination, moves_dir(self.deps.home))
        routing = registry.organization.routing
        src, dst = request.source, request.destination
        old, marked, flipped, final = move_routes(registry, tenant, src, dst)
        moving = marked.store_value()
        grace = self.deps.grace_seconds
        return [
            {"step": str(Step.check), "does": f"room and residency in {dst}; store value {moving} (moving)"},
            {"step": str(Step.mirror), "does": f"tenant-mirror of each component from {src} to {dst}"},
            {
                "step": str(Step.lower_ttl),
                "does": f"{old.name} TTL {old.ttl} -> {routing.moving_ttl_seconds} s, then wait {old.ttl} s",
            },
            {"step": str(Step.flip), "does": f"{old.name} -> {flipped.origin}; store value {flipped.store_value()}"},
            {"step": str(Step.verify), "does": f"health gate of {dst} and tenant-verify of each component"},
            {
                "step": str(Step.finalize),
                "does": f"tenants/{src}.yaml -> tenants/{dst}.yaml; store value {final.store_value()}; "
                f"TTL {final.ttl} s",
            },
            {"step": str(Step.cleanup), "does": f"after {grace / 60:g} min, tenant-cleanup of each component in {src}"},
        ]

    # --- refusals ------------------------------------------------------------------------------

    def _validate(self, registry: Registry, request: MoveRequest) -> Tenant:
        cells = {c.name for c in registry.cells}
        tenant = registry.find_tenant(request.tenant)
        if tenant is None:
            raise MoveInputError(
                f"no tenant {request.tenant!r} in the registry's tenant files (cells/registry/tenants/)"
            )
        if request.destination not in cells:
            raise MoveInputError(
                f"no cell named {request.destination!r} to move {tenant.id} to "
                f"(known cells: {', '.join(sorted(cells))})"
            )
        if request.source != tenant.cell:
            raise MoveInputError(
                f"tenant {tenant.id} lives in {tenant.cell} (tenants/{tenant.cell}.yaml), not {request.source}"
            )
        if request.destination == tenant.cell:
            raise MoveInputError(f"tenant {tenant.id} already lives in {tenant.cell}: nothing to move")
        if tenant.pinned and not self.force:
            raise MoveInputError(
                f"tenant {tenant.id} is pinned (tenants/{tenant.cell}.yaml: pinned: true), so it is moved only on "
                "purpose: add --force to move it anyway"
            )
        return tenant

    def _check_capacity(self, registry: Registry, tenant: Tenant, destination: str, directory: Path) -> None:
        from cells.tenants import cell_capacity, tenants_by_cell

        cell = registry.cell(destination)
        if not tenant.allowed_in(cell.cloud, cell.region, cell.environment):
            where = tenant.residency.describe() if tenant.residency else "anywhere"
            raise MoveInputError(
                f"tenant {tenant.id} ({tenant.environment}, residency {where}) may not live in {destination} "
                f"({cell.environment}, {cell.cloud} {cell.region})"
            )
        headroom = registry.organization.capacity.headroom_percent
        cap = cell_capacity(cell, headroom, tenants_by_cell(registry.tenants).get(destination, []))
        docs, _ = unfinished(directory)
        # A move past finalize is in the destination's file already; one before it is not yet.
        arriving = [d for d in docs if d.destination == destination and d.tenant != tenant.id and d.status in IN_FLIGHT]
        tenants = cap.tenants + len(arriving) + 1
        requests = cap.daily_requests + sum(d.daily_requests for d in arriving) + tenant.daily_requests
        incoming = f" (with {len(arriving)} move(s) already headed there)" if arriving else ""
        if replace(cap, tenants=tenants, daily_requests=requests).over_headroom:
            raise MoveInputError(
                f"cell {destination} has no room for {tenant.id}{incoming}: it would hold {tenants:,} tenants "
                f"and {requests:,} daily requests, past its headroom line of {cap.effective_max_tenants:,} tenants "
                f"and {cap.effective_max_daily_requests:,} daily requests (capacity in cells/{destination}.yaml "
                f"minus {headroom} %)"
            )

    def _refuse_unfinished(self, tenant: str, directory: Path, *, but: str | None = None) -> None:
        docs, broken = unfinished(directory)
        for doc in docs:
            if doc.tenant == tenant and doc.id != but:
                raise MoveInputError(
                    f"tenant {tenant} has an unfinished move to {doc.destination} (journal {doc.id}, {doc.status}): "
                    f"finish it with `cellctl tenants move {tenant} --resume {doc.id}` before moving it again"
                )
        for journal_id, why in broken.items():
            if journal_tenant(journal_id) == tenant:
                raise MoveInputError(
                    f"tenant {tenant} has a move journal that cannot be read, so whether a move of it is still "
                    f"under way is unknown: {why}"
                )

    def _load(self, directory: Path, journal_id: str) -> MoveJournal:
        """The journal (a `JournalError` when it cannot be trusted: the command exits 1 with its paragraph)."""
        return MoveJournal.load(directory, journal_id)

    @contextmanager
    def _locked(self, tenant: str) -> Iterator[None]:
        """One run per tenant at a time (the OS drops the lock when its holder dies)."""
        path = moves_dir(self.deps.home) / "locks" / f"{tenant}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise MoveInputError(
                f"tenant {tenant} is being moved by another run from this checkout right now ({path} is held): "
                "wait for it to end"
            ) from None
        try:
            yield
        finally:
            lock.release()


class _Run:
    """One run of one journal: forward through the steps, or back through the undos."""

    def __init__(self, mover: TenantMover, journal: MoveJournal, registry: Registry) -> None:
        self.deps = mover.deps
        self.journal = journal
        self.registry = registry
        doc = journal.doc
        self.source = registry.cell(doc.source)
        self.destination = registry.cell(doc.destination)
        found = registry.find_tenant(doc.tenant)
        if found is None:
            raise MoveInputError(f"tenant {doc.tenant} of move {journal.id} is no longer in the registry")
        self.tenant: Tenant = found
        #: (tenant, source, destination) by name, as the lifecycle targets take them.
        self.cells = (found.id, doc.source, doc.destination)
        routing = registry.organization.routing
        self.ttl, self.moving_ttl = routing.ttl_seconds, routing.moving_ttl_seconds
        self.before, self.moving, self.flipped, self.after = move_routes(registry, found, doc.source, doc.destination)
        self.forward: dict[Step, Callable[[], None]] = {
            Step.check: self.check,
            Step.mirror: self.mirror,
            Step.lower_ttl: self.lower_ttl,
            Step.flip: self.flip,
            Step.verify: self.verify,
            Step.finalize: self.finalize,
        }
        self.rechecks: dict[Step, Callable[[], bool]] = {
            Step.check: lambda: self._store() == self.moving.store_value(),
            Step.mirror: lambda: self.deps.lifecycle.verify(*self.cells).ok,
            Step.lower_ttl: self.lowered,
            Step.flip: lambda: self._store() == self.flipped.store_value() and self._target() == self.flipped.origin,
            Step.finalize: self.finalized,
        }
        self.undos: dict[Step, Callable[[], None]] = {
            Step.check: self.undo_check,
            Step.mirror: self.undo_mirror,
            Step.lower_ttl: self.undo_lowered,
            Step.flip: self.undo_flip,
            Step.finalize: self.undo_finalize,
        }

    def say(self, message: str) -> None:
        self.deps.progress(f"{self.tenant.id}: {message}")

    # --- the run -------------------------------------------------------------------------------

    def go(self) -> MoveResult:
        status = self.journal.doc.status
        if status in {MoveStatus.undoing, MoveStatus.undo_failed}:
            return self.undo_all()
        if status == MoveStatus.running:
            for step, action in self.forward.items():
                entry = self.journal.step(step)
                if entry.state == StepState.done:
                    continue
                try:
                    in_place = entry.state == StepState.running and step in self.rechecks and self._recheck(step)
                except RecheckError as exc:
                    message = f"{exc}. Nothing was undone: retry with `--resume {self.journal.id}`"
                    self.journal.set_status(MoveStatus.running, message=message)
                    self.say(message)
                    return self.result(False)
                if in_place:
                    self.say(f"{step}: already in place (rechecked after a stop)")
                    self.journal.update_step(step, state=StepState.done)
                    continue
                self.journal.update_step(step, state=StepState.running, error=None)
                self.say(f"{step} ...")
                try:
                    action()
                except Exception as exc:  # every failure before finalize's end flips back
                    message = f"{step} failed: {exc}"
                    self.journal.update_step(step, state=StepState.failed, error=str(exc))
                    self.journal.set_status(MoveStatus.undoing, failed_step=step, message=message)
                    self.say(message)
                    return self.undo_all()
                self.journal.update_step(step, state=StepState.done)
            self.journal.set_status(MoveStatus.cleanup_pending, message=f"moved to {self.destination.name}")
        return self.cleanup()

    def _recheck(self, step: Step) -> bool:
        """Whether a step that was running when the run stopped is in place; a read that fails is a
        `RecheckError` (not "not done": running the step again would journal what it left behind)."""
        try:
            return self.rechecks[step]()
        except Exception as exc:
            raise RecheckError(f"rechecking {step} failed: {exc}") from None

    def undo_all(self) -> MoveResult:
        """Undo every step that did (or may have done) something, last first; the source serves again."""
        failures = []
        for step in reversed(list(self.forward)):
            entry = self.journal.step(step)
            if entry.state not in {StepState.done, StepState.failed, StepState.running}:
                continue
            undo = self.undos.get(step)
            try:
                if undo is not None:
                    self.say(f"undo {step} ...")
                    undo()
            except Exception as exc:
                failures.append(f"undo of {step} failed: {exc}")
                self.journal.update_step(step, undo_error=str(exc))
                break  # the earlier undos assume this one's effect is gone
            self.journal.update_step(step, state=StepState.undone, undo_error=None)
        doc = self.journal.doc
        if failures:
            message = f"{doc.message}; {failures[0]}. Fix the cause, then `--resume {self.journal.id}` undoes the rest"
            self.journal.set_status(MoveStatus.undo_failed, message=message)
        else:
            message = f"{doc.message}; undone: {self.source.name} still serves {self.tenant.id}"
            self.journal.set_status(MoveStatus.undone, message=message)
        self.journal.save()
        return self.result(False)

    def cleanup(self) -> MoveResult:
        doc = self.journal.doc
        finalized = self.journal.step(Step.finalize).data.get("finalized_at", self.deps.wall())
        left = max(0.0, doc.grace_seconds - (self.deps.wall() - finalized))
        if left > 0 and not self.deps.wait_grace:
            message = (
                f"moved to {self.destination.name}; the copy in {self.source.name} is released after the grace "
                f"period: `cellctl tenants move {self.tenant.id} --resume {self.journal.id}` in {left / 60:.0f} min"
            )
            self.journal.set_status(MoveStatus.cleanup_pending, message=message)
            self.journal.save()
            return self.result(True)
        if left > 0:
            self.say(f"cleanup of {self.source.name} in {left / 60:.0f} min (grace period)")
            self.deps.clock.sleep(left)
        self.journal.update_step(Step.cleanup, state=StepState.running, error=None)
        self.say("cleanup ...")
        try:
            outcome = self.deps.lifecycle.cleanup(*self.cells)
            ok, why = outcome.ok, outcome.message
        except Exception as exc:
            ok, why = False, str(exc)
        if not ok:
            self.journal.update_step(Step.cleanup, state=StepState.failed, error=why)
            message = (
                f"moved to {self.destination.name}, but the cleanup of its copy in {self.source.name} failed: {why}. "
                f"The move stands; retry with `cellctl tenants move {self.tenant.id} --resume {self.journal.id}`"
            )
            self.journal.set_status(MoveStatus.cleanup_failed, failed_step=Step.cleanup, message=message)
            self.journal.save()
            return self.result(True)
        self.journal.update_step(Step.cleanup, state=StepState.done)
        self.journal.set_status(MoveStatus.done, failed_step=None, message=f"moved to {self.destination.name}")
        self.journal.save()
        return self.result(True)

    def result(self, ok: bool) -> MoveResult:
        doc = self.journal.doc
        return MoveResult(doc.tenant, doc.source, doc.destination, ok, doc.id, doc.failed_step, doc.message)

    # --- route reads and writes ----------------------------------------------------------------

    def _store(self) -> str | None:
        return self.deps.routes.get_key(self.tenant.id)[0]

    def _record(self) -> Record | None:
        return self.deps.routes.get_record(self.before.name)

    def _target(self) -> str | None:
        record = self._record()
        return record.target if record else None

    def swap(self, expected: str | None, new: str) -> None:
        """Compare-and-set the tenant's store value: `expected` (or already `new`) becomes `new`."""
        routes = self.deps.routes
        for _ in range(STORE_ATTEMPTS):
            current, etag = routes.get_key(self.tenant.id)
            if current == new:
                return
            if current != expected:
                raise MoveError(
                    f"the router store's value for {self.tenant.id} is {current!r}, not {expected!r} as this move "
                    "left it: something else changed it, so this move does not overwrite it"
                )
            try:
                routes.put_key(self.tenant.id, new, etag)
                return
            except StoreConflictError:
                continue  # another key of the store changed; read ours again
        raise MoveError(f"the router store kept changing under {STORE_ATTEMPTS} writes of {self.tenant.id}'s key")

    def put_record(self, expected: Record, new: Record) -> None:
        """Compare-and-set the tenant's record: what this move left there becomes `new`."""
        self.deps.routes.replace_record(self.before.name, expected, new)

    def wait_propagation(self, since: float) -> None:
        """Until resolvers and the router's edges have let go of the route before `since`'s flip."""
        left = max(0.0, self.moving_ttl + PROPAGATION_SECONDS - (self.deps.wall() - since))
        if left:
            self.say(f"waiting for the route to propagate ({left:.0f} s)")
            self.deps.clock.sleep(left)

    # --- steps ---------------------------------------------------------------------------------

    def check(self) -> None:
        value = self._store()
        if value is None:
            raise MoveError(
                f"the router store has no key {self.tenant.id}: run `pulumi up --stack routing` to create it first"
            )
        record = self._record()
        if record is None:
            raise MoveError(f"there is no record {self.before.name}: run `pulumi up --stack routing` to create it")
        from cells.routes import parse_store_value

        if parse_store_value(value).get("cell") != self.source.name or record.target != self.before.origin:
            raise MoveError(
                f"{self.tenant.id} does not route to {self.source.name} now (store value {value}, record "
                f"{self.before.name} -> {record.target}): another move or a hand edit is in the way"
            )
        # The store is what every machine shares: a marker this journal did not write is another
        # move's (another checkout, a CI runner), whatever the local journals say.
        ours = "store" in self.journal.step(Step.check).data and value == self.moving.store_value()
        if parse_store_value(value).get("moving_to") is not None and not ours:
            raise MoveError(
                f"the router store says {self.tenant.id} is already moving (store value {value}): another move, "
                "maybe from another machine, is under way; let it finish (or undo it with --resume where it runs)"
            )
        self.journal.note_data(Step.check, store=value)
        self.swap(value, self.moving.store_value())

    def undo_check(self) -> None:
        data = self.journal.step(Step.check).data
        if "store" in data:
            self.swap(self.moving.store_value(), data["store"])

    def mirror(self) -> None:
        outcome = self.deps.lifecycle.mirror(*self.cells, self.deps.mirror_timeout)
        if not outcome.ok:
            raise MoveError(outcome.message)

    def undo_mirror(self) -> None:
        outcome = self.deps.lifecycle.cleanup(self.tenant.id, self.destination.name, self.source.name)
        if not outcome.ok:
            raise MoveError(f"cleanup of the copy in {self.destination.name}: {outcome.message}")

    def lower_ttl(self) -> None:
        """Journal the record once; a run again after a stop lowers the journaled record again (a
        no-op write that waits for INSYNC) and waits out the journaled TTL, not the lowered one."""
        record = self._record()
        if record is None:
            raise MoveError(f"the record {self.before.name} is gone")
        if record.target != self.before.origin:
            raise MoveError(
                f"the record {self.before.name} changed: it points at {record.target}, not {self.before.origin} "
                "as check found it, so this move does not overwrite it"
            )
        self.journal.note_data(Step.lower_ttl, target=record.target, ttl=record.ttl)
        data = self.journal.step(Step.lower_ttl).data
        old = Record(data["target"], data["ttl"])
        self.put_record(old, Record(old.target, self.moving_ttl))
        self.journal.note_data(Step.lower_ttl, lowered_at=self.deps.wall())
        self.wait_out(old.ttl, self.journal.step(Step.lower_ttl).data["lowered_at"])

    def wait_out(self, ttl: float, since: float) -> None:
        left = max(0.0, ttl - (self.deps.wall() - since))
        if left:
            self.say(f"waiting out the old TTL ({left:.0f} s)")
            self.deps.clock.sleep(left)

    def lowered(self) -> bool:
        data = self.journal.step(Step.lower_ttl).data
        record = self._record()
        if "lowered_at" not in data or record is None or record.ttl != self.moving_ttl:
            return False
        self.wait_out(data["ttl"], data["lowered_at"])
        return True

    def undo_record(self, step: Step, now: Record) -> None:
        """The record back to what `step` journaled, from `now` (what the step left there)."""
        data = self.journal.step(step).data
        if "target" in data:
            self.put_record(now, Record(data["target"], data["ttl"]))

    def flip(self) -> None:
        self.journal.note_data(Step.flip, target=self.before.origin, ttl=self.moving_ttl)
        self.swap(self.moving.store_value(), self.flipped.store_value())
        self.put_record(Record(self.before.origin, self.moving_ttl), Record(self.flipped.origin, self.moving_ttl))
        self.journal.note_data(Step.flip, flipped_at=self.deps.wall())

    def undo_flip(self) -> None:
        """Flip back, then wait until the destination gets no more of the tenant's traffic: the undos
        after this one release the destination's copy."""
        self.undo_record(Step.flip, Record(self.flipped.origin, self.moving_ttl))
        self.swap(self.flipped.store_value(), self.moving.store_value())
        self.wait_propagation(self.deps.wall())

    def undo_lowered(self) -> None:
        self.undo_record(Step.lower_ttl, Record(self.before.origin, self.moving_ttl))

    def verify(self) -> None:
        clock = self.deps.clock
        # The health gate means something once the tenant's traffic reaches the destination.
        self.wait_propagation(self.journal.step(Step.flip).data.get("flipped_at", self.deps.wall()))
        deadline = clock.now() + self.deps.health_timeout
        while True:
            health = self.deps.health.check(self.destination)
            if health.healthy is True:
                break
            if health.healthy is False:
                raise MoveError(f"{self.destination.name} is unhealthy: {health.detail}")
            if clock.now() >= deadline:
                raise MoveError(f"the health of {self.destination.name} could not be read: {health.detail}")
            clock.sleep(min(HEALTH_POLL_SECONDS, max(0.0, deadline - clock.now())))
        outcome = self.deps.lifecycle.verify(*self.cells)
        if not outcome.ok:
            raise MoveError(outcome.message)

    def finalize(self) -> None:
        self.journal.note_data(Step.finalize, target=self.flipped.origin, ttl=self.moving_ttl)
        self.swap(self.flipped.store_value(), self.after.store_value())
        self.put_record(Record(self.flipped.origin, self.moving_ttl), Record(self.after.origin, self.ttl))
        if not self._files_say(self.destination.name):  # a resumed finalize may find them moved already
            self._move_files(self.source.name, self.destination.name)
        self.journal.note_data(Step.finalize, finalized_at=self.deps.wall())

    def finalized(self) -> bool:
        if not self._files_say(self.destination.name):
            return False
        record = self._record()
        if self._store() != self.after.store_value() or record != Record(self.after.origin, self.ttl):
            return False
        if "finalized_at" not in self.journal.step(Step.finalize).data:
            self.journal.note_data(Step.finalize, finalized_at=self.deps.wall())
        return True

    def undo_finalize(self) -> None:
        if self._files_say(self.destination.name):
            self._move_files(self.destination.name, self.source.name)
        self.undo_record(Step.finalize, Record(self.after.origin, self.ttl))
        self.swap(self.after.store_value(), self.flipped.store_value())

    # --- tenant files --------------------------------------------------------------------------

    def _root(self) -> Path:
        from cells.loader import registry_dir

        return registry_dir(self.deps.registry_dir)

    def _files_say(self, cell: str) -> bool:
        from cellctl.tenants.files import tenant_path
        from cells.loader import parse_yaml
        from cells.tenants import TenantFile

        path = tenant_path(self._root(), cell)
        if not path.is_file():
            return False
        doc = TenantFile.model_validate(parse_yaml(path.read_text(encoding="utf-8")))
        return any(t.id == self.tenant.id for t in doc.tenants)

    def _move_files(self, source: str, destination: str) -> None:
        """Edit both files under one lock: parallel moves (threads or processes) read-modify-write them."""
        from cellctl.tenants.adapt import file_entry
        from cellctl.tenants.files import TenantFileError, move_edits, write_checked

        path = moves_dir(self.deps.home) / "locks" / "tenant-files.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with _FILES_LOCK, FileLock(str(path)):
            try:
                edits = move_edits(self._root(), [(file_entry(self.tenant), source, destination)])
                write_checked(edits, self.deps.registry_dir)
            except TenantFileError as exc:
                raise MoveError(str(exc)) from None
