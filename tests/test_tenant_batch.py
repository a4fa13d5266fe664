"""Rebalance plans run as moves (`cellctl.tenants.batch`): bounded, halting, order-safe, stoppable; the CLI's --apply.

The moves run on a `VirtualClock` with a scripted mover (`cellctl.tenants.simulated`), so every
time below is virtual seconds and each test is exact and instant.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cellctl.main import app
from cellctl.rollout.clock import Clock, VirtualClock
from cellctl.rollout_cmds import PROJECT_DIR
from cellctl.tenants import batch
from cellctl.tenants.batch import BatchError, BatchEvent, BatchReport, MoverUnavailableError, run_batch
from cellctl.tenants.model import Cell, Tenant
from cellctl.tenants.moves import MoveRequest, Step
from cellctl.tenants.rebalance import Move, rebalance
from cellctl.tenants.simulated import Script, SimulatedMover
from cells.tenants import CellCapacity

#: No fixed step times in these tests: a move takes exactly its mirror time.
NO_STEPS: dict[Step, float] = {}


def cap(name: str, tenants: int = 0, requests: int = 0, *, max_tenants: int = 100, max_requests: int = 10**9):
    """A cell's load and limits; the limits here are the effective ones (headroom already taken off)."""
    return CellCapacity(
        name, "prod", "eu-west-1", "aws", max_tenants, max_requests, max_tenants, max_requests, tenants, requests
    )


def roomy(*names: str) -> list[CellCapacity]:
    return [cap(n) for n in names]


def run(
    moves: Sequence[Move | MoveRequest],
    scripts: dict[str, Script],
    capacity: list[CellCapacity],
    *,
    parallel: int = 4,
    events: list[BatchEvent] | None = None,
    **kwargs: object,
) -> tuple[BatchReport, SimulatedMover]:
    clock = VirtualClock()
    mover = SimulatedMover(clock, scripts, steps=NO_STEPS)
    progress = events.append if events is not None else None
    options: dict[str, object] = {"parallel": parallel, "clock": clock, "capacity": capacity, "progress": progress}
    report = run_batch(moves, mover, **options, **kwargs)  # type: ignore[arg-type]
    return report, mover


def started(report: BatchReport) -> dict[str, float]:
    return {r.request.tenant: r.started for r in report.ran}


def test_concurrency_is_bounded_and_every_move_is_reported() -> None:
    moves = [Move(f"t{i}", "a", "b", 10) for i in range(10)]
    scripts = {f"t{i}": Script(mirror_seconds=100.0 + 10 * i) for i in range(10)}
    report, mover = run(moves, scripts, roomy("a", "b"), parallel=3)
    assert mover.peak == report.peak_parallel == 3
    # Never more than three moves overlap, checked from the moves' own times.
    for r in report.ran:
        overlapping = [o for o in report.ran if o.started <= r.started < o.finished]
        assert len(overlapping) <= 3
    assert report.ok and not report.failed and report.not_started == ()
    assert {r.request.tenant for r in report.moved} == {f"t{i}" for i in range(10)}
    # t0..t2 start at once; t3 takes the first free slot (t0 ends at 100 s).
    assert [started(report)[t] for t in ("t0", "t1", "t2", "t3")] == [0.0, 0.0, 0.0, 100.0]


def test_all_ok_report_as_json() -> None:
    moves = [Move("t1", "a", "b", 10), Move("t2", "b", "a", 5)]
    report, _ = run(moves, {"t1": Script(300.0), "t2": Script(120.0)}, roomy("a", "b"), parallel=2)
    doc = report.to_dict()
    assert doc["ok"] is True and doc["stopped"] is False and doc["reason"] == ""
    assert doc["parallel"] == 2 and doc["peak_parallel"] == 2 and doc["seconds"] == 300.0
    assert doc["moved"] == [
        {"tenant": "t2", "from": "b", "to": "a", "journal": "move-t2", "started": 0.0, "finished": 120.0},
        {"tenant": "t1", "from": "a", "to": "b", "journal": "move-t1", "started": 0.0, "finished": 300.0},
    ]
    assert doc["failed"] == [] and doc["not_started"] == []


def test_the_first_failure_halts_the_batch_and_running_moves_finish() -> None:
    moves = [Move(f"t{i}", "a", "b", 1) for i in range(6)]
    scripts = {
        "t0": Script(100.0),
        "t1": Script(50.0, fail_at=Step.mirror, message="orders component: mirror lag did not converge"),
    }
    events: list[BatchEvent] = []
    report, mover = run(moves, scripts, roomy("a", "b"), parallel=2, events=events)
    assert [r.request.tenant for r in report.moved] == ["t0"]  # it ran on and finished after the failure
    (failed,) = report.failed
    assert failed.request.tenant == "t1" and failed.result.failed_step == Step.mirror and failed.finished == 50.0
    assert [m.tenant for m in report.not_started] == ["t2", "t3", "t4", "t5"]
    assert {t for t, _, _ in mover.log} == {"t0", "t1"}  # nothing else was ever handed to the mover
    assert not report.ok and not report.stopped
    assert report.reason == "halted after t1 failed: orders component: mirror lag did not converge"
    doc = report.to_dict()
    assert doc["failed"] == [
        {
            "tenant": "t1",
            "from": "a",
            "to": "b",
            "journal": "move-t1",
            "started": 0.0,
            "finished": 50.0,
            "step": "mirror",
            "message": "orders component: mirror lag did not converge",
        }
    ]
    assert [m["tenant"] for m in doc["not_started"]] == ["t2", "t3", "t4", "t5"]  # type: ignore[index]
    lines = [e.describe() for e in events]
    assert "0:00:50 [red]failed[/] t1 a → b after 0:00:50 at mirror: orders component" in lines[2]
    assert lines[3].startswith("0:01:40 [green]moved[/] t0 a → b in 0:01:40")
    assert report.lines() == [
        "1 of 6 moves done, 1 failed, 4 not started; at most 2 at once, 0:01:40",
        "  [red]failed[/] t1 at mirror: orders component: mirror lag did not converge",
        "  halted after t1 failed: orders component: mirror lag did not converge",
        "  not started: t2, t3, t4, t5",
    ]


def test_a_mover_that_raises_is_a_failed_move() -> None:
    class Broken:
        def __call__(self, request: MoveRequest) -> object:
            raise RuntimeError(f"journal of {request.tenant} is locked\nby another run")

    report = run_batch(
        [Move("t1", "a", "b", 1), Move("t2", "a", "b", 1)],
        Broken(),  # type: ignore[arg-type]
        parallel=1,
        clock=VirtualClock(),
        capacity=roomy("a", "b"),
    )
    (failed,) = report.failed
    assert failed.result.failed_step is None
    assert failed.result.message == "RuntimeError: journal of t1 is locked by another run"
    assert [m.tenant for m in report.not_started] == ["t2"]


def test_a_move_waits_until_the_move_that_frees_its_destination_has_finished() -> None:
    """b is full: t2 (a -> b) may start only when t1 (b -> c) has finished, not when it starts."""
    moves = [Move("t1", "b", "c", 30), Move("t2", "a", "b", 30), Move("t3", "d", "e", 5)]
    capacity = [cap("a", 5, 100), cap("b", 10, 100, max_tenants=10, max_requests=100), *roomy("c", "d", "e")]
    events: list[BatchEvent] = []
    report, _ = run(moves, {"t1": Script(100.0), "t2": Script(10.0), "t3": Script(20.0)}, capacity, events=events)
    assert report.ok
    assert started(report) == {"t1": 0.0, "t2": 100.0, "t3": 0.0}  # t3, independent, overtook t2
    assert [(e.kind, e.request.tenant if e.request else e.ran and e.ran.request.tenant) for e in events] == [
        ("started", "t1"),
        ("started", "t3"),
        ("finished", "t3"),
        ("finished", "t1"),
        ("started", "t2"),
        ("finished", "t2"),
    ]


def test_a_source_in_flight_still_counts_as_full() -> None:
    """t1 (b -> c) and t2 (c -> b) swap through full cells: the second must wait for the first to end."""
    capacity = [cap("b", 2, 0, max_tenants=2), cap("c", 1, 0, max_tenants=2)]
    moves = [Move("t1", "b", "c", 0), Move("t2", "c", "b", 0)]
    report, mover = run(moves, {"t1": Script(100.0), "t2": Script(100.0)}, capacity)
    assert started(report) == {"t1": 0.0, "t2": 100.0} and mover.peak == 1 and report.ok


def test_the_longest_expected_moves_start_first() -> None:
    moves = [Move(f"t{i}", "a", f"d{i}", 1) for i in range(6)]
    estimates = {"t4": 5000.0, "t5": 4000.0, "t1": 10.0}
    report, _ = run(moves, {}, roomy("a", *(f"d{i}" for i in range(6))), parallel=2, estimates=estimates)
    # Every move takes 600 s: the two expected longest first, then t1 (estimated), then plan order.
    assert started(report) == {"t4": 0.0, "t5": 0.0, "t1": 600.0, "t0": 600.0, "t2": 1200.0, "t3": 1200.0}
    assert report.ok
    # To one destination, plan order holds whatever the estimates say.
    moves = [Move(f"t{i}", "a", "b", 1) for i in range(6)]
    report, _ = run(moves, {}, roomy("a", "b"), parallel=2, estimates=estimates)
    assert started(report) == {"t0": 0.0, "t1": 0.0, "t2": 600.0, "t3": 600.0, "t4": 1200.0, "t5": 1200.0}


def test_a_short_move_a_long_one_waits_for_starts_with_it() -> None:
    """t1, the longest, may start only once t0 (to the same cell) has: t0 takes t1's priority."""
    moves = [Move("t0", "a", "x", 1), Move("t1", "b", "x", 1), *(Move(f"t{i}", "a", f"d{i}", 1) for i in (2, 3, 4))]
    estimates = {"t0": 10.0, "t1": 1000.0, "t2": 100.0, "t3": 100.0, "t4": 100.0}
    capacity = roomy("a", "b", "x", "d2", "d3", "d4")
    report, _ = run(moves, {}, capacity, parallel=2, estimates=estimates)
    assert started(report) == {"t0": 0.0, "t1": 0.0, "t2": 600.0, "t3": 600.0, "t4": 1200.0}


@pytest.mark.parametrize("estimates", [{}, {"t3": 1e6, "t4": 1e5}], ids=["plan order", "t3 and t4 expected longest"])
def test_later_moves_never_overtake_a_waiting_move_to_the_same_destination_or_of_the_same_tenant(estimates) -> None:
    capacity = [cap("a"), cap("b", 9, 100, max_tenants=10, max_requests=100), cap("c"), cap("d")]
    moves = [
        Move("t1", "b", "c", 30),
        Move("t2", "a", "b", 30),  # waits for t1
        Move("t3", "d", "b", 0),  # would fit b now, but must not take the room t2 was planned to have
        Move("t4", "c", "d", 1),
        Move("t4", "d", "a", 1),  # the same tenant again: only after its first move
    ]
    scripts = {"t1": Script(100.0), "t2": Script(50.0), "t3": Script(10.0), "t4": Script(30.0)}
    report, _ = run(moves, scripts, capacity, estimates=estimates)
    times = {(r.request.tenant, r.request.source): (r.started, r.finished) for r in report.ran}
    assert times[("t2", "a")][0] == 100.0 and times[("t3", "d")][0] == 100.0
    assert times[("t4", "c")] == (0.0, 30.0) and times[("t4", "d")][0] == 30.0
    assert report.ok


def test_moves_in_an_unsafe_order_are_refused_before_any_overfills() -> None:
    capacity = [cap("a"), cap("b", 10, 0, max_tenants=10)]
    report, mover = run([Move("t1", "a", "b", 1), Move("t2", "a", "b", 1)], {}, capacity)
    assert report.ran == () and mover.log == [] and not report.ok
    assert [m.tenant for m in report.not_started] == ["t1", "t2"]
    assert "move 1 (t1, 1 daily requests, from a to b) would take b past its limits minus headroom" in report.reason
    assert "(10 of 10 tenants" in report.reason and "not in a safe order" in report.reason


def test_bare_move_requests_take_their_load_from_requests() -> None:
    capacity = [cap("a"), cap("b", 0, 90, max_requests=100)]
    moves = [MoveRequest("t1", "a", "b"), MoveRequest("t2", "a", "b")]
    report, _ = run(moves, {"t1": Script(60.0)}, capacity, requests={"t1": 50, "t2": 5})
    assert [m.tenant for m in report.not_started] == ["t1", "t2"] and "50 daily requests" in report.reason
    report, _ = run(moves, {"t1": Script(60.0)}, capacity, requests={"t1": 5, "t2": 5})
    assert report.ok and started(report) == {"t1": 0.0, "t2": 0.0}


@pytest.mark.parametrize(
    ("moves", "parallel", "message"),
    [
        ([Move("t1", "a", "nope", 1)], 2, "move 1 (t1 from a to nope): there is no cell 'nope' in the registry"),
        ([Move("t1", "a", "a", 1)], 2, "its source and destination are the same cell"),
        ([MoveRequest("t9", "a", "b")], 2, "move 1 (t9 from a to b): the tenant's daily requests are not known"),
        ([Move("t1", "a", "b", 1)], 0, "parallel must be at least 1, not 0"),
    ],
)
def test_moves_that_cannot_be_checked_are_refused_before_anything_runs(moves, parallel, message) -> None:
    clock = VirtualClock()
    mover = SimulatedMover(clock)
    with pytest.raises(BatchError) as raised:
        run_batch(moves, mover, parallel=parallel, clock=clock, capacity=roomy("a", "b"))
    assert message in str(raised.value) and mover.log == []


def test_ctrl_c_starts_nothing_more_and_lets_running_moves_end() -> None:
    events: list[BatchEvent] = []

    def progress(event: BatchEvent) -> None:
        events.append(event)
        if event.kind == "started" and event.request and event.request.tenant == "t1":
            raise KeyboardInterrupt

    clock = VirtualClock()
    mover = SimulatedMover(clock, {"t0": Script(100.0), "t1": Script(200.0)}, steps=NO_STEPS)
    moves = [Move(f"t{i}", "a", "b", 1) for i in range(5)]
    report = run_batch(moves, mover, parallel=2, clock=clock, capacity=roomy("a", "b"), progress=progress)
    assert [r.request.tenant for r in report.moved] == ["t0", "t1"]  # both ran to their end
    assert [m.tenant for m in report.not_started] == ["t2", "t3", "t4"]  # t2 would have started at 100 s
    assert report.stopped and report.reason == "interrupted by Ctrl-C" and not report.ok
    stopping = next(e for e in events if e.kind == "stopping")
    assert "no new move starts; waiting for the 2 running to end" in stopping.describe()


def test_a_stop_signal_set_during_a_move_stops_the_batch() -> None:
    clock = VirtualClock()
    stop = clock.signal()
    inner = SimulatedMover(clock, steps=NO_STEPS, default=Script(60.0))

    def mover(request: MoveRequest):  # type: ignore[no-untyped-def]
        result = inner(request)
        stop.set()
        return result

    moves = [Move(f"t{i}", "a", "b", 1) for i in range(3)]
    report = run_batch(moves, mover, parallel=1, clock=clock, capacity=roomy("a", "b"), stop=stop)
    assert [r.request.tenant for r in report.moved] == ["t0"] and len(report.not_started) == 2
    assert report.stopped and report.reason == "stopped on request"


# --- every plan, run concurrently, keeps every destination within its line --------------------------


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[Cell], list[Tenant]]:
    count = draw(st.integers(2, 5))
    cells = [Cell(f"c{i}", "prod", "aws", "eu-west-1", draw(st.integers(2, 6)), 1000, 0) for i in range(count)]
    tenants = []
    for i in range(draw(st.integers(2, 14))):
        home = draw(st.sampled_from(cells)).name
        tenants.append(Tenant(f"t{i}", draw(st.integers(1, 400)), home))
    return cells, tenants


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.integers(1, 5), st.lists(st.floats(1.0, 10_000.0), min_size=14, max_size=14), st.booleans())
def test_any_plan_run_concurrently_never_overfills_and_always_completes(
    instance, parallel, durations, longest_first
) -> None:
    cells, tenants = instance
    plan = rebalance(tenants, cells)
    if not plan.feasible:
        return
    load = {c.name: [0, 0] for c in cells}
    for t in tenants:
        load[str(t.cell)][0] += 1
        load[str(t.cell)][1] += t.requests
    capacity = [
        cap(c.name, *load[c.name], max_tenants=c.tenant_limit, max_requests=c.request_limit)  # type: ignore[misc]
        for c in cells
    ]
    scripts = {t.id: Script(d) for t, d in zip(tenants, durations, strict=False)}
    events: list[BatchEvent] = []
    estimates = {t: s.mirror_seconds for t, s in scripts.items()} if longest_first else None
    report, _ = run(plan.moves, scripts, capacity, parallel=parallel, events=events, estimates=estimates)
    assert report.ok and len(report.moved) == len(plan.moves)
    # Replay the starts and ends in the order the batch saw them: in flight counts in both cells.
    limits = {c.name: (c.tenant_limit, c.request_limit) for c in cells}
    requests = {m.tenant: m.requests for m in plan.moves}
    for event in events:
        if event.kind == "started":
            assert event.request is not None
            dest, r = event.request.destination, requests[event.request.tenant]
            load[dest][0] += 1
            load[dest][1] += r
            assert load[dest][0] <= limits[dest][0] and load[dest][1] <= limits[dest][1]
        elif event.ran is not None:
            load[event.ran.request.source][0] -= 1
            load[event.ran.request.source][1] -= requests[event.ran.request.tenant]


# --- the command line ------------------------------------------------------------------------------

cli = CliRunner()


def _overloaded(registry: Path) -> Path:
    """alpha at 70.6M daily requests, over its 68M line: the plan moves ember-games out."""
    path = registry / "tenants/alpha.yaml"
    path.write_text(path.read_text().replace("daily_requests: 8400000", "daily_requests: 15000000"))
    return registry


def _files(registry: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in (registry / "tenants").glob("*.yaml")}


projects: list[Path] = []


def _fake(monkeypatch: pytest.MonkeyPatch, scripts: dict[str, Script] | None = None) -> list[object]:
    """Replace the move workflow with a scripted mover on the CLI's own clock; returns the calls."""
    calls: list[object] = []
    projects.clear()

    def factory(registry: Path | None, *, clock: Clock, project: Path, loaded: object = None) -> SimulatedMover:
        calls.append(registry)
        projects.append(project)
        assert loaded is not None, "the command hands over the registry it has read, not a second read"
        return SimulatedMover(clock, scripts, default=Script(0.0), steps=NO_STEPS)

    monkeypatch.setattr(batch, "default_mover", factory)
    return calls


def tenants(*args: str, registry: Path) -> object:
    return cli.invoke(app, ["tenants", *args, "--registry", str(registry)], env={"COLUMNS": "200"})


def test_cli_apply_runs_the_plan_through_the_mover(registry_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake(monkeypatch)
    registry = _overloaded(registry_copy)
    before = _files(registry)
    result = tenants("rebalance", "--apply", "--parallel", "2", "--json", registry=registry)
    assert projects == [PROJECT_DIR.resolve()]
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    doc = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert calls == [registry]
    applied = doc["applied"]
    assert applied["ok"] and applied["parallel"] == 2 and applied["failed"] == []
    assert [(m["tenant"], m["from"]) for m in applied["moved"]] == [("ember-games", "alpha")]
    assert [m["tenant"] for m in doc["moves"]] == ["ember-games"]
    assert "moving ember-games alpha →" in result.stderr  # type: ignore[attr-defined]
    # The batch itself writes nothing: each move's finalize does (the scripted mover does not).
    assert _files(registry) == before


def test_cli_apply_exits_1_with_the_failed_step(registry_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, {"ember-games": Script(0.0, fail_at=Step.verify, message="health gate: 5xx rate 4 %")})
    result = tenants("rebalance", "--apply", registry=_overloaded(registry_copy))
    assert result.exit_code == 1  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "0 of 1 moves done, 1 failed, 0 not started; at most 1 at once" in out
    assert "failed ember-games at verify: health gate: 5xx rate 4 %" in out


def test_cli_apply_and_write_together_are_refused(registry_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake(monkeypatch)
    registry = _overloaded(registry_copy)
    before = _files(registry)
    result = tenants("rebalance", "--apply", "--write", registry=registry)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "--apply and --write cannot be combined" in result.stderr  # type: ignore[attr-defined]
    assert calls == [] and _files(registry) == before


def test_cli_apply_without_a_move_workflow_says_so(registry_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(registry: Path | None, *, clock: Clock, project: Path, loaded: object = None) -> SimulatedMover:
        raise MoverUnavailableError("the tenant move workflow is not available in this build")

    monkeypatch.setattr(batch, "default_mover", unavailable)
    registry = _overloaded(registry_copy)
    result = tenants("rebalance", "--apply", registry=registry)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "not available in this build" in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def test_cli_apply_with_nothing_to_move_runs_no_move(monkeypatch: pytest.MonkeyPatch, registry_copy: Path) -> None:
    calls = _fake(monkeypatch)
    result = tenants("rebalance", "--apply", registry=registry_copy)
    assert result.exit_code == 0 and "nothing to move" in result.stdout  # type: ignore[attr-defined]
    assert calls == []


def test_cli_ctrl_c_lets_the_running_move_end_and_exits_130(
    registry_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real Ctrl-C on the real clock: the first move presses it and ends well; the second never starts."""
    import _thread

    def factory(registry: Path | None, *, clock: Clock, project: Path, loaded: object = None) -> SimulatedMover:
        inner = SimulatedMover(clock, default=Script(0.0), steps=NO_STEPS)

        def mover(request: MoveRequest):  # type: ignore[no-untyped-def]
            _thread.interrupt_main()
            clock.sleep(1.0)  # the batch's thread sees the interrupt within one wait slice (0.25 s)
            return inner(request)

        return mover  # type: ignore[return-value]

    monkeypatch.setattr(batch, "default_mover", factory)
    alpha = registry_copy / "tenants/alpha.yaml"
    alpha.write_text(alpha.read_text().replace("daily_requests: 8400000", "daily_requests: 26000000"))
    result = tenants("rebalance", "--apply", "--parallel", "1", "--json", registry=registry_copy)
    assert result.exit_code == 130, result.output  # type: ignore[attr-defined]
    applied = json.loads(result.stdout)["applied"]  # type: ignore[attr-defined]
    assert [m["tenant"] for m in applied["moved"]] == ["blue-harbor"]
    assert [m["tenant"] for m in applied["not_started"]] == ["granite-insure"]
    assert applied["stopped"] and applied["reason"] == "interrupted by Ctrl-C"
    assert "stopping: Ctrl-C: no new move starts" in result.stderr  # type: ignore[attr-defined]


def test_default_mover_is_the_real_move_workflow_without_the_grace_wait(registry_copy: Path, tmp_path: Path) -> None:
    from move_fakes import FakeHealth, FakeLifecycle, FakeRoutes

    from cellctl.rollout.clock import VirtualClock
    from cellctl.tenants.move import TenantMover
    from cellctl.tenants.move_journal import MoveJournal, MoveStatus
    from cells import load_registry

    routes = FakeRoutes.of(load_registry(registry_copy))
    lifecycle = FakeLifecycle(routes)
    clock = VirtualClock()
    mover = batch.default_mover(
        registry_copy, clock=clock, project=tmp_path, routes=routes, lifecycle=lifecycle, health=FakeHealth()
    )
    assert isinstance(mover, TenantMover) and mover.deps.wait_grace is False
    result = mover(MoveRequest("delta-retail", "alpha", "gamma"))
    assert result.ok, result.message
    # The slot is not held for the grace period: the move ends cleanup-pending, the source's copy kept.
    doc = MoveJournal.load(tmp_path / ".honeycomb" / "moves", result.journal_id).doc
    assert doc.status == MoveStatus.cleanup_pending and [c[0] for c in lifecycle.calls] == ["mirror", "verify"]


def test_default_mover_that_cannot_be_made_is_unavailable(registry_copy: Path, tmp_path: Path) -> None:
    from move_fakes import FakeHealth, FakeLifecycle, FakeRoutes

    from cellctl.rollout.clock import VirtualClock

    with pytest.raises(MoverUnavailableError, match="stack 'routing'"):
        batch.default_mover(
            registry_copy,
            clock=VirtualClock(),
            project=tmp_path / "nowhere",
            lifecycle=FakeLifecycle(FakeRoutes()),
            health=FakeHealth(),
        )
