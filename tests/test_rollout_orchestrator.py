"""The orchestrator driven through the in-memory runner on a virtual clock: order, bounds, halts, resume, cancel."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.events import Event, Recorder
from cellctl.rollout.health import Health
from cellctl.rollout.journal import CellState, Journal, JournalError, Status, WaveState
from cellctl.rollout.memory import Behaviour, InMemoryRunner
from cellctl.rollout.orchestrator import EXIT_CANCELLED, EXIT_HALTED, EXIT_OK, Orchestrator
from cellctl.rollout.plan import RolloutPlan, Target, WavePlan, bootstrap_plan, rollout_plan
from cellctl.rollout.retry import RetryPolicy
from cellctl.rollout.runner import _MESSAGE
from cells import Registry

REV = "1" * 40
OLD = "0" * 40
FAST_RETRY = RetryPolicy(attempts=3, initial=5, maximum=20, jitter=0)


class FakeHealth:
    """Health per cell name; a cell listed in `after` turns to that verdict once the clock passes the time."""

    def __init__(self, verdicts: dict[str, bool | None] | None = None) -> None:
        self.verdicts = verdicts or {}
        self.checks: list[str] = []

    def check(self, cell):  # type: ignore[no-untyped-def]
        self.checks.append(cell.name)
        healthy = self.verdicts.get(cell.name, True)
        return Health(cell.name, healthy, {True: "OK", False: "in ALARM", None: "unreadable"}[healthy])


def synthetic(waves: list[tuple[str, float, list[str]]], concurrency: int = 2, revision: str = REV) -> RolloutPlan:
    return RolloutPlan(
        "rollout",
        "up",
        tuple(
            WavePlan(name, bake, tuple(Target(f"cell-{c}", name, c, "aws") for c in cells), health_gate=False)
            for name, bake, cells in waves
        ),
        concurrency,
        revision,
        "digest",
    )


def run(
    plan: RolloutPlan,
    runner: InMemoryRunner,
    tmp_path: Path,
    *,
    journal: Journal | None = None,
    registry: Registry | None = None,
    **kwargs,  # type: ignore[no-untyped-def]
):  # type: ignore[no-untyped-def]
    journal = journal or Journal.create(tmp_path / "rollouts", plan, "test-run")
    recorder = Recorder()
    orchestrator = Orchestrator(
        plan,
        runner,
        journal,
        registry=registry,
        clock=runner.clock,
        retry=kwargs.pop("retry", FAST_RETRY),
        emit=kwargs.pop("emit", recorder),
        **kwargs,
    )
    return orchestrator.run(), recorder, orchestrator


def on_disk(journal: Journal) -> dict:  # type: ignore[type-arg]
    return json.loads(journal.path.read_text())


# --- order and concurrency ------------------------------------------------------------------------


def test_waves_run_in_order_and_never_overlap(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "b", "c"]), ("two", 0, ["d", "e"]), ("three", 0, ["f"])])
    runner = InMemoryRunner(VirtualClock(), default=Behaviour(duration=100))
    outcome, _, _ = run(plan, runner, tmp_path)
    assert outcome.status == Status.succeeded and outcome.exit_code == EXIT_OK
    by_wave: dict[str, list] = {}  # type: ignore[type-arg]
    wave_of = {t.stack: w.name for w in plan.waves for t in w.targets}
    for call in runner.calls:
        by_wave.setdefault(wave_of[call.stack], []).append(call)
    assert list(by_wave) == ["one", "two", "three"]
    # Every stack of a wave ends before any stack of the next one starts.
    assert max(c.end for c in by_wave["one"]) <= min(c.start for c in by_wave["two"])
    assert max(c.end for c in by_wave["two"]) <= min(c.start for c in by_wave["three"])
    assert sorted(c.stack for c in runner.calls) == sorted(wave_of)


def test_concurrency_bound_is_reached_and_never_exceeded(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, [f"c{i}" for i in range(10)])], concurrency=3)
    runner = InMemoryRunner(VirtualClock(), default=Behaviour(duration=60))
    run(plan, runner, tmp_path)
    assert runner.max_running == 3
    # Ten stacks of 60s, three at a time: four rounds.
    assert max(c.end for c in runner.calls) == pytest.approx(240)


def test_longest_expected_stack_starts_first(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "b", "c"])], concurrency=1)
    runner = InMemoryRunner(VirtualClock())
    run(plan, runner, tmp_path, estimates={"cell-b": 900, "cell-c": 300, "cell-a": 60})
    assert [c.stack for c in runner.calls] == ["cell-b", "cell-c", "cell-a"]


def test_bake_time_passes_between_waves_on_the_clock(tmp_path: Path) -> None:
    plan = synthetic([("one", 1800, ["a"]), ("two", 0, ["b"])])
    runner = InMemoryRunner(VirtualClock(), default=Behaviour(duration=60))
    _, recorder, _ = run(plan, runner, tmp_path)
    b = next(c for c in runner.calls if c.stack == "cell-b")
    assert b.start == pytest.approx(60 + 1800)
    ticks = [e.data["remaining"] for e in recorder.of("bake_tick") if e.wave == "one"]
    assert ticks[0] == pytest.approx(1800) and ticks == sorted(ticks, reverse=True)


# --- failures, halting, retries -------------------------------------------------------------------


def test_a_failure_halts_the_wave_and_no_later_wave_starts(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "b", "c", "d"]), ("two", 0, ["e"])], concurrency=1)
    runner = InMemoryRunner(
        VirtualClock(), {"cell-b": Behaviour("fail", 10, message="aws:eks:Cluster alpha-eks: AccessDenied")}
    )
    outcome, recorder, _ = run(
        plan, runner, tmp_path, estimates={"cell-a": 40, "cell-b": 30, "cell-c": 20, "cell-d": 10}
    )
    assert outcome.status == Status.halted and outcome.exit_code == EXIT_HALTED
    assert [c.stack for c in runner.calls] == ["cell-a", "cell-b"]
    assert "cell-b failed" in outcome.reason and "AccessDenied" in outcome.reason
    doc = on_disk(outcome.journal)
    assert doc["status"] == "halted"
    assert doc["cells"]["cell-b"]["state"] == "failed" and doc["cells"]["cell-b"]["attempts"] == 1
    assert doc["cells"]["cell-c"]["state"] == "skipped"
    assert doc["cells"]["cell-e"]["state"] == "pending"
    assert [w["state"] for w in doc["waves"]] == ["failed", "pending"]
    assert not [e for e in recorder.of("wave_started") if e.wave == "two"]


def test_running_stacks_finish_when_a_sibling_fails(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["slow", "bad"])], concurrency=2)
    runner = InMemoryRunner(VirtualClock(), {"cell-slow": Behaviour(duration=500), "cell-bad": Behaviour("fail", 10)})
    outcome, _, _ = run(plan, runner, tmp_path)
    assert outcome.journal.cell("cell-slow").state == CellState.succeeded
    assert outcome.journal.cell("cell-bad").state == CellState.failed


def test_transient_failures_are_retried_then_succeed(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a"])])
    runner = InMemoryRunner(VirtualClock(), {"cell-a": Behaviour("flaky", 30, failures=2)})
    outcome, recorder, _ = run(plan, runner, tmp_path)
    assert outcome.status == Status.succeeded
    assert [c.outcome for c in runner.calls] == ["transient", "transient", "succeeded"]
    assert outcome.journal.cell("cell-a").attempts == 3
    assert len([e for e in recorder.of("cell") if e.state == "retrying"]) == 2


def test_retries_are_bounded(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a"])])
    runner = InMemoryRunner(VirtualClock(), {"cell-a": Behaviour("flaky", 30, failures=99)})
    outcome, _, _ = run(plan, runner, tmp_path, retry=RetryPolicy(attempts=4, initial=1, maximum=2, jitter=0))
    assert outcome.status == Status.halted
    assert len(runner.calls) == 4
    entry = outcome.journal.cell("cell-a")
    assert entry.state == CellState.failed and entry.attempts == 4 and "Throttling" in (entry.error or "")


def test_real_failures_are_not_retried(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a"])])
    runner = InMemoryRunner(VirtualClock(), {"cell-a": Behaviour("fail", 5)})
    run(plan, runner, tmp_path)
    assert len(runner.calls) == 1


# --- bake gate ------------------------------------------------------------------------------------


def test_unhealthy_cell_during_bake_halts_before_the_next_wave(tmp_path: Path, registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV, concurrency=2)
    health = FakeHealth({"alpha": False})
    runner = InMemoryRunner(VirtualClock())
    outcome, recorder, _ = run(plan, runner, tmp_path, registry=registry, health=health)
    assert outcome.status == Status.halted
    assert "alpha: in ALARM" in outcome.reason
    assert {c.stack for c in runner.calls} == {"cell-staging", "cell-dev-jdoe", "cell-alpha"}
    doc = on_disk(outcome.journal)
    assert [w["state"] for w in doc["waves"]] == ["healthy", "unhealthy", "pending", "pending"]  # ..., routing
    assert doc["waves"][1]["health"] == {"alpha": "in ALARM"}
    # The alarm was seen at the first poll, not at the end of the 60-minute bake.
    halt = recorder.of("wave_finished")[-1]
    assert halt.state == "unhealthy" and halt.at == pytest.approx(runner.calls[-1].end)


def test_health_unknown_until_the_end_of_the_bake_halts(tmp_path: Path, registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV, wave="preprod")
    health = FakeHealth({"staging": None})
    runner = InMemoryRunner(VirtualClock())
    outcome, _, _ = run(plan, runner, tmp_path, registry=registry, health=health, poll_seconds=600)
    assert outcome.status == Status.halted and "staging: unreadable" in outcome.reason
    # Polled at the start, every 10 minutes, and at the end of the 30-minute bake.
    assert health.checks.count("staging") == 4


def test_healthy_waves_pass_the_gate(tmp_path: Path, registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV)
    health = FakeHealth()
    outcome, recorder, _ = run(plan, InMemoryRunner(VirtualClock()), tmp_path, registry=registry, health=health)
    assert outcome.status == Status.succeeded
    assert set(health.checks) == {c.name for c in registry.cells}
    assert {e.stack for e in recorder.of("cell") if e.state == "healthy"} == {c.stack_name for c in registry.cells}


# --- journal and resume ---------------------------------------------------------------------------


def test_journal_records_each_cell(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "b"])])
    runner = InMemoryRunner(VirtualClock(), {"cell-a": Behaviour(duration=42)}, revisions={"cell-a": OLD})
    outcome, _, _ = run(plan, runner, tmp_path)
    doc = on_disk(outcome.journal)
    assert doc["id"] == "test-run" and doc["revision"] == REV and doc["status"] == "succeeded"
    a = doc["cells"]["cell-a"]
    assert a["state"] == "succeeded" and a["seconds"] == pytest.approx(42) and a["attempts"] == 1
    assert a["revision"] == REV and a["changes"] == {"update": 1}
    # The previous revision is looked up only when a rollback needs it (no extra engine call per stack).
    assert a["previous_revision"] is None and doc["cells"]["cell-b"]["previous_revision"] is None
    assert runner.revisions == {"cell-a": REV, "cell-b": REV}
    assert runner.history["cell-a"] == [(OLD, ""), (REV, "test-run")]
    assert not list(outcome.journal.path.parent.glob(".*.tmp"))


def test_resume_skips_cells_that_already_succeeded(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "b"]), ("two", 0, ["c", "d"])], concurrency=1)
    broken = InMemoryRunner(VirtualClock(), {"cell-d": Behaviour("fail", 5)})
    first, _, _ = run(plan, broken, tmp_path, estimates={"cell-c": 1000})
    assert first.status == Status.halted
    assert first.journal.cell("cell-c").state == CellState.succeeded

    journal = Journal.load(tmp_path / "rollouts", "test-run")
    journal.check_resumable(plan)
    journal.reopen()
    fixed = InMemoryRunner(VirtualClock())
    second, _, _ = run(plan, fixed, tmp_path, journal=journal)
    assert second.status == Status.succeeded
    assert [c.stack for c in fixed.calls] == ["cell-d"]
    assert on_disk(journal)["cells"]["cell-d"]["state"] == "succeeded"


def test_a_journal_from_another_rollout_is_refused(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a"])])
    Journal.create(tmp_path, plan, "first")
    other = synthetic([("one", 0, ["a"])], revision="2" * 40)
    with pytest.raises(JournalError, match=r"from another rollout \(revision: journal has '1111"):
        Journal.load(tmp_path, "first").check_resumable(other)
    more = synthetic([("one", 0, ["a", "b"])])
    with pytest.raises(JournalError, match="waves"):
        Journal.load(tmp_path, "first").check_resumable(more)
    with pytest.raises(JournalError, match="no rollout journal 'nope'"):
        Journal.load(tmp_path, "nope")


def test_a_finished_rollout_has_nothing_to_resume(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a"])])
    run(plan, InMemoryRunner(VirtualClock()), tmp_path)
    with pytest.raises(JournalError, match="already succeeded"):
        Journal.load(tmp_path / "rollouts", "latest").check_resumable(plan)


# --- cancel ---------------------------------------------------------------------------------------


def test_stop_cancels_running_stacks_and_the_journal_says_so(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "hang", "c"]), ("two", 0, ["d"])], concurrency=2)
    holder: dict[str, Orchestrator] = {}

    def started(stack: str) -> None:
        if stack == "cell-hang":
            holder["o"].request_stop()

    clock = VirtualClock()
    runner = InMemoryRunner(
        clock, {"cell-hang": Behaviour("hang"), "cell-a": Behaviour(duration=1000)}, on_start=started
    )
    journal = Journal.create(tmp_path, plan, "stop")
    orchestrator = Orchestrator(
        plan, runner, journal, clock=clock, estimates={"cell-a": 50, "cell-hang": 40, "cell-c": 1}
    )
    holder["o"] = orchestrator
    outcome = orchestrator.run()
    assert outcome.status == Status.cancelled and outcome.exit_code == EXIT_CANCELLED
    assert sorted(runner.state.cancelled) == ["cell-a", "cell-hang"]
    doc = on_disk(journal)
    assert doc["status"] == "cancelled" and "--resume stop" in doc["halt_reason"]
    assert {s: doc["cells"][s]["state"] for s in doc["cells"]} == {
        "cell-a": "cancelled",
        "cell-hang": "cancelled",
        "cell-c": "pending",
        "cell-d": "pending",
    }
    assert doc["waves"][0]["state"] == "cancelled"
    assert {c.stack for c in runner.calls} == {"cell-a", "cell-hang"}
    assert doc["cells"]["cell-hang"]["stopped"] == "up of cell-hang was cancelled"
    assert "cell-hang: cancelled (up of cell-hang was cancelled)" in doc["halt_reason"]


def test_a_stack_that_finishes_despite_the_stop_is_recorded_as_succeeded(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["late", "hang"])], concurrency=2)
    holder: dict[str, Orchestrator] = {}

    def started(stack: str) -> None:
        if stack == "cell-hang":
            holder["o"].request_stop()

    clock = VirtualClock()
    behaviours = {"cell-late": Behaviour(duration=100, uninterruptible=True), "cell-hang": Behaviour("hang")}
    runner = InMemoryRunner(clock, behaviours, on_start=started)
    journal = Journal.create(tmp_path, plan, "late")
    holder["o"] = Orchestrator(plan, runner, journal, clock=clock, estimates={"cell-late": 50, "cell-hang": 1})
    outcome = holder["o"].run()
    assert outcome.status == Status.cancelled
    late = on_disk(journal)["cells"]["cell-late"]
    assert late["state"] == "succeeded" and late["stopped"] == "finished before the stop took effect"
    assert late["revision"] == REV and runner.revisions["cell-late"] == REV
    assert "cell-late: succeeded (finished before the stop took effect)" in outcome.reason


def test_ctrl_c_in_the_main_thread_cancels_cleanly(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "hang"])], concurrency=2)
    clock = VirtualClock()
    runner = InMemoryRunner(clock, {"cell-hang": Behaviour("hang")})

    def interrupt(event: Event) -> None:
        if event.kind == "cell" and event.stack == "cell-hang" and event.state == "running":
            raise KeyboardInterrupt

    outcome, _, _ = run(plan, runner, tmp_path, emit=interrupt, estimates={"cell-hang": 1})
    assert outcome.status == Status.cancelled
    assert "cell-hang" in runner.state.cancelled
    assert outcome.journal.cell("cell-hang").state == CellState.cancelled


def test_ctrl_c_during_the_bake_stops_before_the_next_wave(tmp_path: Path) -> None:
    plan = synthetic([("one", 3600, ["a"]), ("two", 0, ["b"])])
    runner = InMemoryRunner(VirtualClock())

    def interrupt(event: Event) -> None:
        if event.kind == "bake_tick" and event.data["remaining"] < 3000:
            raise KeyboardInterrupt

    outcome, _, _ = run(plan, runner, tmp_path, emit=interrupt)
    assert outcome.status == Status.cancelled
    assert [c.stack for c in runner.calls] == ["cell-a"]
    assert outcome.journal.wave("one").state == WaveState.cancelled


# --- rollback -------------------------------------------------------------------------------------


def test_without_the_flag_the_report_names_the_rollback_command(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "b", "new"])], concurrency=3)
    runner = InMemoryRunner(VirtualClock(), {"cell-b": Behaviour("fail", 5)}, revisions={"cell-a": OLD, "cell-b": OLD})
    outcome, _, _ = run(plan, runner, tmp_path)
    assert len(outcome.rollback_commands) == 1
    command = outcome.rollback_commands[0]
    assert f"git worktree add --detach .honeycomb/worktrees/{OLD[:12]} {OLD}" in command
    assert "pulumi up --yes --stack cell-a" in command and "pulumi up --yes --stack cell-b" in command
    # The update names its revision, as a rollout's do: the CLI's git.dirty is set by the .venv link.
    assert command.count(f"--message 'honeycomb: revision {OLD}'") == 2
    found = _MESSAGE.search(command)
    assert found is not None and found[1] == OLD  # what last_revision reads back from the history
    assert "cell-new" not in command
    assert "no earlier revision" in (outcome.journal.cell("cell-new").rollback or "")


def test_rollback_on_failure_redeploys_the_wave_from_a_worktree(tmp_path: Path) -> None:
    plan = synthetic([("one", 0, ["a", "b"]), ("two", 0, ["c"])], concurrency=2)
    runner = InMemoryRunner(VirtualClock(), {"cell-b": Behaviour("fail", 5)}, revisions={"cell-a": OLD, "cell-b": OLD})
    checkouts: list[str] = []

    @contextmanager
    def worktree(revision: str) -> Iterator[Path]:
        checkouts.append(revision)
        yield tmp_path / "wt" / revision[:12]

    behaviours_after = {"cell-b": Behaviour(duration=5)}

    def runner_for(path: Path) -> InMemoryRunner:
        view = runner.at(path)
        view.behaviours = behaviours_after
        return view

    outcome, _, _ = run(plan, runner, tmp_path, rollback_on_failure=True, worktrees=worktree, runner_for=runner_for)
    assert outcome.status == Status.halted and checkouts == [OLD]
    redeployed = [c for c in runner.calls if c.project_dir.endswith(OLD[:12])]
    assert sorted(c.stack for c in redeployed) == ["cell-a", "cell-b"]
    assert runner.revisions == {"cell-a": OLD, "cell-b": OLD}
    doc = on_disk(outcome.journal)
    assert doc["cells"]["cell-a"]["state"] == "rolled-back" and doc["cells"]["cell-b"]["state"] == "rolled-back"
    assert "Rollback: cell-a: re-deployed " + OLD in doc["halt_reason"]
    assert "cell-c" not in {c.stack for c in runner.calls}


# --- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_runs_management_first_and_only_when_it_has_changes(tmp_path: Path, registry: Registry) -> None:
    plan = bootstrap_plan(registry, ["alpha", "beta"], revision=REV)
    unchanged = InMemoryRunner(VirtualClock(), {"management": Behaviour(duration=5, changes={"same": 40})})
    outcome, _, _ = run(plan, unchanged, tmp_path, registry=registry)
    assert outcome.status == Status.succeeded
    assert [(c.op, c.stack) for c in unchanged.calls] == [
        ("preview", "management"),
        ("up", "cell-alpha"),
        ("up", "cell-beta"),
        ("preview", "routing"),  # last, and only when it has changes
        ("up", "routing"),
    ]
    assert outcome.journal.cell("management").state == CellState.unchanged

    changed = InMemoryRunner(VirtualClock(), {"management": Behaviour(duration=5, changes={"create": 2})})
    run(plan, changed, tmp_path / "again", registry=registry)
    assert [(c.op, c.stack) for c in changed.calls][:2] == [("preview", "management"), ("up", "management")]


def test_preview_mode_runs_previews_without_bakes(tmp_path: Path, registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV, mode="preview")
    runner = InMemoryRunner(VirtualClock(), default=Behaviour(duration=10))
    outcome, _, _ = run(plan, runner, tmp_path, registry=registry, health=FakeHealth())
    assert outcome.status == Status.succeeded
    assert {c.op for c in runner.calls} == {"preview"} and runner.revisions == {}
    assert max(c.end for c in runner.calls) == pytest.approx(40)  # three waves of cells, then routing


# --- the virtual clock ----------------------------------------------------------------------------


def test_virtual_clock_advances_only_when_every_participant_waits() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, float]] = []

    def worker(name: str, seconds: float) -> None:
        try:
            clock.sleep(seconds)
            seen.append((name, clock.now()))
        finally:
            clock.done()

    threads = []
    for name, seconds in (("short", 5), ("long", 50)):
        clock.spawn()
        threads.append(threading.Thread(target=worker, args=(name, seconds)))
        threads[-1].start()
    clock.sleep(20)
    assert clock.now() == pytest.approx(20)
    for thread in threads:
        clock_signal = clock.signal()
        clock.wait(clock_signal, 100)
        thread.join()
    assert dict(seen) == {"short": 5, "long": 50}


def test_a_broken_health_gate_reads_as_unknown_and_halts_at_the_end(tmp_path: Path, registry: Registry) -> None:
    class Broken:
        def check(self, cell):  # type: ignore[no-untyped-def]
            raise RuntimeError("monitoring API down")

    plan = rollout_plan(registry, revision=REV, wave="prod-canary")
    outcome, _, _ = run(plan, InMemoryRunner(VirtualClock()), tmp_path, registry=registry, health=Broken())
    assert outcome.status == Status.halted
    assert "alpha: health check failed: monitoring API down" in outcome.reason
