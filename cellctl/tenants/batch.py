"""A rebalance plan run as moves: a bounded number at a time, halting on the first failure.

`run_batch` hands each move to a `Mover` (the journaled single-move workflow) on a worker thread.
What it keeps, on top of the moves' own checks:

- **bounded**: at most `parallel` moves run at once;
- **halting**: after a failed move no new move starts; the running ones finish (a failed move's
  own undo flips it back), and the report names the moves that never started;
- **order safety**: the plan's order never overfills a destination when the moves run one after
  another (`cellctl.tenants.rebalance`). Run concurrently, a move starts only when its
  destination has room for it (limits minus headroom) counting every move in flight as already
  in its destination *and* still in its source: a source's room frees only when its move has
  finished. A move may overtake earlier moves that wait, but never an earlier move to its own
  destination (it would take room that move was planned to have) nor an earlier move of the same
  tenant (that one must end first). Whenever nothing runs, the first waiting move in plan order
  therefore fits (the plan's own guarantee: only moves out of its destination overtook it), so
  the batch cannot wedge; a list of moves that is not in a safe order is refused at the first
  move that does not fit with nothing in flight;
- **longest first**: among the moves that may start, those with the longest `estimates` start
  first (the longest-processing-time rule; without estimates, plan order), which keeps the
  makespan near its bound when a few long mirrors would otherwise start last. A move that a
  longer one must wait for takes that one's priority, so it is not left behind the queue;
- **Ctrl-C** (or `stop`): no new move starts; the running ones end on their own.

Every wait goes through the injected `Clock`, so the tests and the benchmark run on a
`VirtualClock` in no time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cellctl.rollout.clock import Clock, Mailbox, Signal
from cellctl.tenants.moves import Mover, MoveRequest, MoveResult
from cellctl.tenants.rebalance import Move
from cells.tenants import CellCapacity

if TYPE_CHECKING:
    from cells.models import Registry


class BatchError(ValueError):
    """The moves cannot be run as given (an unknown cell, a load not known, a bad `parallel`)."""


class MoverUnavailableError(RuntimeError):
    """This build has no move workflow to run the moves with."""


@dataclass(frozen=True)
class Ran:
    """A move that started: how it ended and when, on the batch's clock."""

    request: MoveRequest
    result: MoveResult
    started: float
    finished: float

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            **_request_dict(self.request),
            "journal": self.result.journal_id,
            "started": round(self.started, 3),
            "finished": round(self.finished, 3),
        }
        if not self.result.ok:
            data["step"] = str(self.result.failed_step) if self.result.failed_step else None
            data["message"] = self.result.message
        return data


@dataclass(frozen=True)
class BatchReport:
    """Which moves moved, which failed (step and message), which never started, and why it stopped."""

    #: The moves that started, in the order they finished.
    ran: tuple[Ran, ...]
    not_started: tuple[MoveRequest, ...]
    parallel: int
    #: The most moves that ran at once.
    peak_parallel: int
    #: From the first start to the last end, on the batch's clock.
    seconds: float
    #: Stopped by Ctrl-C or `stop` (not by a failure).
    stopped: bool = False
    #: Why moves were left unstarted; empty when every move ran.
    reason: str = ""

    @property
    def moved(self) -> tuple[Ran, ...]:
        return tuple(r for r in self.ran if r.result.ok)

    @property
    def failed(self) -> tuple[Ran, ...]:
        return tuple(r for r in self.ran if not r.result.ok)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_started

    def lines(self) -> list[str]:
        """The summary for a terminal (Rich markup): counts, each failure, why moves were left unstarted."""
        total = len(self.ran) + len(self.not_started)
        lines = [
            f"{len(self.moved)} of {total} moves done, {len(self.failed)} failed, {len(self.not_started)} not "
            f"started; at most {self.peak_parallel} at once, {_hms(self.seconds)}"
        ]
        lines += [f"  [red]failed[/] {r.request.tenant}{_failure(r.result)}" for r in self.failed]
        if self.reason:
            lines.append(f"  {self.reason}")
        if self.not_started:
            lines.append(f"  not started: {', '.join(m.tenant for m in self.not_started)}")
        return lines

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "stopped": self.stopped,
            "reason": self.reason,
            "parallel": self.parallel,
            "peak_parallel": self.peak_parallel,
            "seconds": round(self.seconds, 3),
            "moved": [r.to_dict() for r in self.moved],
            "failed": [r.to_dict() for r in self.failed],
            "not_started": [_request_dict(m) for m in self.not_started],
        }


@dataclass(frozen=True)
class BatchEvent:
    """A progress line: a move started or ended, or the batch stops starting moves."""

    kind: Literal["started", "finished", "stopping"]
    at: float
    running: int
    request: MoveRequest | None = None
    ran: Ran | None = None
    note: str = ""

    def describe(self) -> str:
        """One line for a terminal (Rich markup)."""
        clock = _hms(self.at)
        if self.kind == "stopping":
            return f"{clock} [yellow]stopping[/]: {self.note}"
        if self.ran is not None:
            r, took = self.ran.result, _hms(self.ran.finished - self.ran.started)
            route = f"{r.source} → {r.destination}"
            if r.ok:
                return f"{clock} [green]moved[/] {r.tenant} {route} in {took} (journal {r.journal_id})"
            return f"{clock} [red]failed[/] {r.tenant} {route} after {took}{_failure(r)}"
        assert self.request is not None
        m = self.request
        return f"{clock} [bold]moving[/] {m.tenant} {m.source} → {m.destination} ({self.running} running)"


Progress = Callable[[BatchEvent], None]


def run_batch(
    moves: Sequence[Move | MoveRequest],
    mover: Mover,
    *,
    parallel: int,
    clock: Clock,
    capacity: Iterable[CellCapacity],
    requests: Mapping[str, int] | None = None,
    stop: Signal | None = None,
    progress: Progress | None = None,
    estimates: Mapping[str, float] | None = None,
) -> BatchReport:
    """Run `moves` with `mover`, up to `parallel` at once, in a safe order (see the module docstring).

    `capacity` is every cell's load now and its limits minus headroom (`cells.tenants.capacities`);
    `requests` gives the daily requests of tenants whose move is a bare `MoveRequest` (a
    `rebalance.Move` carries its own); `estimates` the expected seconds of a tenant's move. Raises
    `BatchError` before anything starts when the moves cannot be checked; never raises for a move
    that fails (that is in the report).
    """
    return _Batch(moves, mover, parallel, clock, capacity, requests or {}, stop, progress, estimates or {}).run()


def default_mover(
    registry: Path | None, *, clock: Clock, project: Path, loaded: Registry | None = None, **injected: Any
) -> Mover:
    """The real move workflow (`cellctl.tenants.move_setup.make_mover`), one journaled move per call, on `registry`.

    The one seam between batches and the move workflow: the CLI and nothing else calls it, and the
    tests replace it (or inject the mover's dependencies through `injected`). Moves do not wait out
    their grace period (`wait_grace=False`): a batch slot is not held for an hour, each move ends
    cleanup-pending and `cellctl tenants move <tenant> --resume <journal>` releases the source later.
    A mover that cannot be made (no credentials, no router store) is `MoverUnavailableError`.
    `loaded` is the registry the caller has already read from `registry` (a large one takes seconds).
    """
    from cellctl.tenants.move import MoveInputError
    from cellctl.tenants.move_setup import make_mover
    from cells import RegistryError, load_registry

    try:
        reg = loaded if loaded is not None else load_registry(registry, over_limit_ok=True)
        return make_mover(reg, project, registry_dir=registry, clock=clock, wait_grace=False, **injected)
    except MoveInputError as exc:
        raise MoverUnavailableError(str(exc)) from None
    except RegistryError as exc:
        raise MoverUnavailableError(exc.report()) from None


# --- the engine ---------------------------------------------------------------------------------


@dataclass
class _Load:
    """A cell's load as the batch counts it: a move in flight is in both its cells."""

    tenants: int
    requests: int
    tenant_limit: int
    request_limit: int

    def fits(self, requests: int) -> bool:
        return self.tenants + 1 <= self.tenant_limit and self.requests + requests <= self.request_limit


@dataclass(frozen=True)
class _Item:
    index: int
    request: MoveRequest
    requests: int
    #: The plan's previous move to the same destination, and of the same tenant (indexes).
    after_destination: int | None
    after_tenant: int | None


@dataclass
class _Batch:
    moves: Sequence[Move | MoveRequest]
    mover: Mover
    parallel: int
    clock: Clock
    capacity: Iterable[CellCapacity]
    requests: Mapping[str, int]
    stop: Signal | None
    progress: Progress | None
    estimates: Mapping[str, float]
    load: dict[str, _Load] = field(init=False)
    items: list[_Item] = field(init=False)

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise BatchError(f"parallel must be at least 1, not {self.parallel}")
        self.load = {
            c.name: _Load(c.tenants, c.daily_requests, c.effective_max_tenants, c.effective_max_daily_requests)
            for c in self.capacity
        }
        self.items = self._items()
        self.state: dict[int, Literal["waiting", "running", "ended"]] = {i.index: "waiting" for i in self.items}
        self.peak = 0
        self._finished: Mailbox[tuple[int, Ran]] = Mailbox(self.clock)
        if self.stop is None:
            self.stop = self.clock.signal()

    def _items(self) -> list[_Item]:
        items: list[_Item] = []
        last_to: dict[str, int] = {}
        last_of: dict[str, int] = {}
        for index, move in enumerate(self.moves):
            requests = self._requests(index, move)
            request = MoveRequest(move.tenant, move.source, move.destination)
            items.append(_Item(index, request, requests, last_to.get(move.destination), last_of.get(move.tenant)))
            last_to[move.destination] = last_of[move.tenant] = index
        return items

    def _requests(self, index: int, move: Move | MoveRequest) -> int:
        """The move's daily requests, once its cells are checked."""
        where = f"move {index + 1} ({move.tenant} from {move.source} to {move.destination})"
        for cell in (move.source, move.destination):
            if cell not in self.load:
                raise BatchError(f"{where}: there is no cell {cell!r} in the registry")
        if move.source == move.destination:
            raise BatchError(f"{where}: its source and destination are the same cell")
        if isinstance(move, Move):
            return move.requests
        if move.tenant not in self.requests:
            raise BatchError(f"{where}: the tenant's daily requests are not known, so its room cannot be checked")
        return self.requests[move.tenant]

    def _priorities(self) -> dict[int, float]:
        """Each move's expected seconds, raised to the most of the moves that must wait for it (the later
        moves to its destination and of its tenant), so a short move never holds a long one back."""
        priority: dict[int, float] = {}
        for item in reversed(self.items):
            own = max(priority.get(item.index, 0.0), self.estimates.get(item.request.tenant, 0.0))
            priority[item.index] = own
            for before in (item.after_destination, item.after_tenant):
                if before is not None:
                    priority[before] = max(priority.get(before, 0.0), own)
        return priority

    @property
    def stopping(self) -> bool:
        assert self.stop is not None
        return self.stop.is_set()

    def run(self) -> BatchReport:
        priority = self._priorities()
        queue = sorted(self.items, key=lambda i: (-priority[i.index], i.index))
        running: dict[int, _Item] = {}
        ran: list[Ran] = []
        reason, interrupted = "", False
        start = self.clock.now()
        pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="move")
        try:
            while queue or running:
                try:
                    halted = reason or self.stopping
                    if not halted:
                        self._start_what_fits(queue, running, pool)
                    if not running:
                        if queue and not halted:
                            reason = self._refuse(min(queue, key=lambda i: i.index))
                        break
                    for index, done in self._finished.take():
                        item = running.pop(index)
                        self._end(item, done.result.ok)
                        ran.append(done)
                        self._emit(BatchEvent("finished", done.finished, len(running), ran=done))
                        if not done.result.ok and not reason:
                            reason = f"halted after {done.request.tenant} failed: {done.result.message}"
                except KeyboardInterrupt:
                    interrupted = True
                    assert self.stop is not None
                    self.stop.set()
                    note = f"Ctrl-C: no new move starts; waiting for the {len(running)} running to end"
                    self._emit(BatchEvent("stopping", self.clock.now(), len(running), note=note))
        finally:
            pool.shutdown(wait=True)
        stopped = self.stopping and not reason
        if stopped and queue:
            reason = "interrupted by Ctrl-C" if interrupted else "stopped on request"
        end = max((r.finished for r in ran), default=start)
        waiting = tuple(i.request for i in sorted(queue, key=lambda i: i.index))
        return BatchReport(tuple(ran), waiting, self.parallel, self.peak, end - start, stopped, reason)

    def _start_what_fits(self, queue: list[_Item], running: dict[int, _Item], pool: ThreadPoolExecutor) -> None:
        """Start the waiting moves that may start, the longest expected first (see the module docstring)."""
        started = True
        while started and len(running) < self.parallel:
            started = False
            for item in list(queue):
                if len(running) == self.parallel or self.stopping:
                    return
                if self._may_start(item):
                    queue.remove(item)
                    running[item.index] = item
                    self._start(item, running, pool)
                    started = True

    def _may_start(self, item: _Item) -> bool:
        """The move before it to the same destination has started, the tenant's move before it has ended,
        and its destination has room (a chain of such moves: every earlier one qualifies the same way)."""
        state = self.state
        return (
            (item.after_destination is None or state[item.after_destination] != "waiting")
            and (item.after_tenant is None or state[item.after_tenant] == "ended")
            and self.load[item.request.destination].fits(item.requests)
        )

    def _refuse(self, item: _Item) -> str:
        m, load = item.request, self.load[item.request.destination]
        return (
            f"move {item.index + 1} ({m.tenant}, {item.requests:,} daily requests, from {m.source} to "
            f"{m.destination}) would take {m.destination} past its limits minus headroom ({load.tenants} of "
            f"{load.tenant_limit} tenants, {load.requests:,} of {load.request_limit:,} daily requests) with no "
            "move in flight to free room: the moves are not in a safe order, so the rest were not started"
        )

    def _start(self, item: _Item, running: dict[int, _Item], pool: ThreadPoolExecutor) -> None:
        """Count the move in its destination (it stays in its source too) and hand it to a worker."""
        dest = self.load[item.request.destination]
        dest.tenants += 1
        dest.requests += item.requests
        self.state[item.index] = "running"
        self.peak = max(self.peak, len(running))
        self.clock.spawn()
        pool.submit(self._work, item, self.clock.now())
        self._emit(BatchEvent("started", self.clock.now(), len(running), request=item.request))

    def _end(self, item: _Item, ok: bool) -> None:
        """A finished move frees its source. A failed one stays counted in both cells: where its undo left
        the tenant is its journal's to say, and counting it twice is never wrong for the room check."""
        self.state[item.index] = "ended"
        if ok:
            source = self.load[item.request.source]
            source.tenants -= 1
            source.requests -= item.requests

    def _work(self, item: _Item, started: float) -> None:
        """One move, on a worker thread; the batch's thread hears of its end through `_finished`."""
        try:
            try:
                result = self.mover(item.request)
            except BaseException as exc:  # even a SystemExit in a mover must reach the batch's thread
                m = item.request
                message = " ".join(f"{type(exc).__name__}: {exc}".split())
                result = MoveResult(m.tenant, m.source, m.destination, ok=False, journal_id="", message=message)
            self._finished.post((item.index, Ran(item.request, result, started, self.clock.now())))
        finally:
            self.clock.done()

    def _emit(self, event: BatchEvent) -> None:
        if self.progress is not None:
            self.progress(event)


def _request_dict(m: MoveRequest) -> dict[str, object]:
    return {"tenant": m.tenant, "from": m.source, "to": m.destination}


def _failure(result: MoveResult) -> str:
    step = f" at {result.failed_step}" if result.failed_step else ""
    return f"{step}: {result.message}"


def _hms(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
