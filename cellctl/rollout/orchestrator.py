"""Waves, concurrency, bake gates, halting, resume, cancel and rollback.

Rules the orchestrator keeps:

- waves run in plan (registry) order; never two waves at once;
- within a wave at most `concurrency` stacks run at a time, the longest expected first (the
  classic longest-processing-time rule, which keeps the wave's makespan close to its bound);
- a failed stack halts the rollout: no new stack of that wave starts, the running ones finish,
  no later wave starts;
- after a wave, its bake period: health is polled; an unhealthy cell halts the rollout;
- Ctrl-C (or `request_stop`) starts nothing more and asks the runner to stop the running stacks
  (the engine finishes its in-flight steps); a second Ctrl-C stops them at once. Each stack's
  journal entry then says what really happened: stopped, failed, or finished anyway;
- every step is written to the journal before the next one starts.

All waiting goes through the injected `Clock`, so tests and the benchmark run instantly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cellctl.rollout.clock import Clock, Mailbox, RealClock
from cellctl.rollout.events import Event, EventSink
from cellctl.rollout.gitrev import is_checkoutable, rollback_command
from cellctl.rollout.health import Health, HealthGate
from cellctl.rollout.journal import DONE, CellState, Journal, Status, WaveState, _now
from cellctl.rollout.plan import DEFAULT_STACK_SECONDS, RolloutPlan, Target, WavePlan
from cellctl.rollout.retry import CancelledError, RetryPolicy, call_with_retry, evidence, kind_of
from cellctl.rollout.runner import RunResult, StackRunner
from cells import Registry

#: Exit codes of a finished run: 0 all good, 1 halted (failure or unhealthy), 130 interrupted.
EXIT_OK, EXIT_HALTED, EXIT_CANCELLED = 0, 1, 130

Worktrees = Callable[[str], AbstractContextManager[Path]]
RunnerFactory = Callable[[Path], StackRunner]
#: After a cell's stack is up in a bootstrap, on the worker thread: the cell's own setup (the components'
#: `cell-bootstrap` targets, `cellctl.lifecycle.bootstrap`). Returns why the cell failed, or None.
AfterUp = Callable[[Target, Journal], str | None]


@dataclass
class Outcome:
    status: Status
    journal: Journal
    reason: str | None = None
    rollback_commands: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {Status.succeeded: EXIT_OK, Status.cancelled: EXIT_CANCELLED}.get(self.status, EXIT_HALTED)


@dataclass
class _Done:
    target: Target
    state: CellState
    result: RunResult | None = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    #: What a stop request did to this stack (set only when one came while it ran).
    stopped: str | None = None


class Orchestrator:
    def __init__(
        self,
        plan: RolloutPlan,
        runner: StackRunner,
        journal: Journal,
        *,
        registry: Registry | None = None,
        clock: Clock | None = None,
        health: HealthGate | None = None,
        retry: RetryPolicy | None = None,
        emit: EventSink | None = None,
        estimates: dict[str, float] | None = None,
        poll_seconds: float = 60.0,
        tick_seconds: float = 30.0,
        rollback_on_failure: bool = False,
        worktrees: Worktrees | None = None,
        runner_for: RunnerFactory | None = None,
        venv: Path | None = None,
        after_up: AfterUp | None = None,
    ) -> None:
        self.plan = plan
        self.runner = runner
        self.journal = journal
        self.registry = registry
        self.clock = clock or RealClock()
        self.health = health
        self.retry = retry or RetryPolicy()
        self._emit = emit or (lambda event: None)
        self.estimates = estimates or {}
        self.poll_seconds = poll_seconds
        self.tick_seconds = tick_seconds
        self.rollback_on_failure = rollback_on_failure
        self.worktrees = worktrees
        self.runner_for = runner_for
        #: The virtualenv the printed rollback commands link into their worktree.
        self.venv = venv
        self.after_up = after_up
        self._stop = self.clock.signal()
        self._completed: Mailbox[_Done] = Mailbox(self.clock)

    # --- public ---------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop cleanly: cancel what runs, start nothing more (what Ctrl-C does). Thread-safe."""
        self._stop.set()
        self._completed.wake()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> Outcome:
        self.emit("rollout_started", state=self.plan.kind, data={"id": self.journal.id, "mode": self.plan.mode})
        try:
            outcome = self._run()
        except KeyboardInterrupt:
            self.request_stop()
            outcome = self._cancelled()
        self.emit("rollout_finished", state=str(outcome.status), detail=outcome.reason)
        return outcome

    def emit(self, kind: str, **fields: Any) -> None:
        self._emit(Event(kind, self.clock.now(), **fields))

    # --- waves ----------------------------------------------------------------------------------

    def _run(self) -> Outcome:
        for wave in self.plan.waves:
            entry = self.journal.wave(wave.name)
            if entry.state in {WaveState.healthy, WaveState.done}:
                for target in wave.targets:
                    self.emit("cell", stack=target.stack, wave=wave.name, state="succeeded", detail="done earlier")
                continue
            todo = [t for t in wave.targets if self.journal.cell(t.stack).state not in DONE]
            for target in wave.targets:
                if target not in todo:
                    self.emit("cell", stack=target.stack, wave=wave.name, state="succeeded", detail="done earlier")
            self.journal.update_wave(wave.name, state=WaveState.running)
            self.emit("wave_started", wave=wave.name, data={"stacks": len(wave.targets), "to_run": len(todo)})
            failed = self._run_targets(wave, self._order(todo))
            if self.stopping:
                return self._cancelled()
            if failed:
                self.journal.update_wave(wave.name, state=WaveState.failed)
                reason = f"wave {wave.name}: " + "; ".join(f"{d.target.stack} failed: {d.error}" for d in failed)
                self.emit("wave_finished", wave=wave.name, state="failed", detail=reason)
                return self._halt(wave, reason)
            verdict, reason = self._bake(wave)
            if verdict == "cancelled":
                return self._cancelled()
            if verdict == "unhealthy":
                self.journal.update_wave(wave.name, state=WaveState.unhealthy)
                self.emit("wave_finished", wave=wave.name, state="unhealthy", detail=reason)
                return self._halt(wave, f"wave {wave.name}: {reason}")
            final = WaveState.healthy if verdict == "healthy" else WaveState.done
            self.journal.update_wave(wave.name, state=final)
            self.emit("wave_finished", wave=wave.name, state=str(final))
        self.journal.finish(Status.succeeded)
        return Outcome(Status.succeeded, self.journal)

    def _order(self, targets: list[Target]) -> list[Target]:
        """Longest expected first; ties by stack name so the order is stable."""
        return sorted(targets, key=lambda t: (-self.estimates.get(t.stack, DEFAULT_STACK_SECONDS), t.stack))

    # --- running stacks -------------------------------------------------------------------------

    def _run_targets(self, wave: WavePlan, targets: list[Target]) -> list[_Done]:
        """Deploy `targets` with bounded concurrency; returns the failures (empty when all succeeded)."""
        failed: list[_Done] = []

        def on_done(done: _Done) -> None:
            fields: dict[str, Any] = {"state": done.state, "attempts": done.attempts, "error": done.error}
            fields["finished_at"] = _stamp()
            fields["seconds"] = round(done.seconds, 3)
            if done.stopped:
                fields["stopped"] = done.stopped
            if done.result is not None:
                fields["changes"] = done.result.changes
                fields["log"] = done.result.log
                if self.plan.mode == "up" and done.state == CellState.succeeded:
                    fields["revision"] = self.plan.revision
            self.journal.update_cell(done.target.stack, **fields)
            shown = "succeeded" if done.state == CellState.unchanged else str(done.state)
            detail = done.stopped or done.error or _summary(done)
            self.emit("cell", stack=done.target.stack, wave=wave.name, state=shown, detail=detail)
            if done.state == CellState.failed:
                failed.append(done)

        def on_start(target: Target) -> None:
            self.journal.update_cell(target.stack, state=CellState.running, started_at=_stamp(), error=None)
            self.emit("cell", stack=target.stack, wave=wave.name, state="running")

        leftover = self._batch(targets, self._deploy, on_start, on_done, halt=lambda: bool(failed))
        for target in leftover:
            state = CellState.pending if self.stopping else CellState.skipped
            self.journal.update_cell(target.stack, state=state)
            if not self.stopping:
                self.emit(
                    "cell", stack=target.stack, wave=wave.name, state="skipped", detail="halted before it started"
                )
        return failed

    def _batch(
        self,
        targets: list[Target],
        work: Callable[[Target], _Done],
        on_start: Callable[[Target], None],
        on_done: Callable[[_Done], None],
        halt: Callable[[], bool],
        runner: StackRunner | None = None,
    ) -> list[Target]:
        """Run `work` per target on up to `concurrency` threads; returns the targets never started.

        Completions are handled here, on the calling thread, in the order they happen.
        """
        runner = runner or self.runner
        queue = list(targets)
        running: dict[str, Target] = {}
        pool = ThreadPoolExecutor(max_workers=self.plan.concurrency, thread_name_prefix="rollout")
        cancelled_sent = False
        forced = False
        try:
            while queue or running:
                try:
                    while queue and len(running) < self.plan.concurrency and not halt() and not self.stopping:
                        target = queue.pop(0)
                        running[target.stack] = target
                        self.clock.spawn()
                        pool.submit(self._worker, work, target)
                        on_start(target)
                    if not running:
                        break
                    if self.stopping and not cancelled_sent:
                        cancelled_sent = True
                        for stack in list(running):
                            runner.cancel(stack)
                    for done in self._next_completions(return_on_stop=not cancelled_sent):
                        running.pop(done.target.stack, None)
                        on_done(done)
                except KeyboardInterrupt:
                    if self.stopping and not forced:
                        # A second Ctrl-C: stop the running updates at once, and still wait to hear how they ended.
                        forced = True
                        for stack in list(running):
                            runner.cancel(stack, force=True)
                        continue
                    if self.stopping:
                        # A third: stop waiting. What the engines did is unknown.
                        for target in running.values():
                            on_done(
                                _Done(target, CellState.cancelled, error="abandoned while stopping: outcome unknown")
                            )
                        running.clear()
                        break
                    self.request_stop()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return queue

    def _worker(self, work: Callable[[Target], _Done], target: Target) -> None:
        try:
            try:
                done = work(target)
            except BaseException as exc:
                done = _Done(target, CellState.failed, error=f"{type(exc).__name__}: {exc}")
            self._completed.post(done)
        finally:
            self.clock.done()

    def _next_completions(self, *, return_on_stop: bool) -> list[_Done]:
        """Block until a stack finishes (or, when `return_on_stop`, until a stop is requested)."""
        return self._completed.take(until=(lambda: self.stopping) if return_on_stop else None)

    def _deploy(self, target: Target) -> _Done:
        """One stack, on a worker thread, with retries. Its previous revision is looked up only for a rollback.

        In a bootstrap a cell whose stack is up then runs `after_up`; a failure there fails the cell as a
        failed update would, and a stop before it leaves the cell cancelled (a resume runs it).
        """
        done = self._attempt(target, self.runner, self.plan.revision, only_if_changes=target.only_if_changes)
        if (
            self.after_up is None
            or done.state not in DONE
            or target.cell is None
            or (self.plan.kind, self.plan.mode) != ("bootstrap", "up")
        ):
            return done
        if self.stopping:
            note = "stopped after its stack update, before its cell-bootstrap targets"
            return replace(done, state=CellState.cancelled, error=note, stopped=note)
        self.emit("cell", stack=target.stack, wave=target.wave, state="running", detail="cell-bootstrap targets")
        began = self.clock.now()
        error = self.after_up(target, self.journal)
        seconds = done.seconds + self.clock.now() - began
        if error is not None:
            return replace(done, state=CellState.failed, error=error, seconds=seconds)
        return replace(done, seconds=seconds)

    def _attempt(self, target: Target, runner: StackRunner, revision: str, *, only_if_changes: bool) -> _Done:
        attempts = 0
        start = self.clock.now()
        preview_only = self.plan.mode == "preview"

        def once() -> tuple[CellState, RunResult]:
            nonlocal attempts
            attempts += 1
            self.journal.update_cell(target.stack, attempts=attempts)
            if preview_only:
                return CellState.succeeded, runner.preview(target)
            if only_if_changes:
                preview = runner.preview(target)
                if not preview.has_changes:
                    return CellState.unchanged, preview
            return CellState.succeeded, runner.up(target, revision=revision, run_id=self.journal.id)

        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            self.emit(
                "cell",
                stack=target.stack,
                wave=target.wave,
                state="retrying",
                detail=f"attempt {attempt} failed, {kind_of(exc)} ({evidence(exc)}); retrying in {wait:.0f}s",
            )

        def done(state: CellState, result: RunResult | None, error: str | None, stopped: str | None) -> _Done:
            return _Done(target, state, result, error, attempts, self.clock.now() - start, stopped)

        try:
            (state, result), _ = call_with_retry(
                once, policy=self.retry, clock=self.clock, stop=self._stop, on_retry=on_retry
            )
        except CancelledError as exc:
            return done(CellState.cancelled, None, str(exc), str(exc))
        except Exception as exc:
            if getattr(exc, "terminated", False):
                note = "stopped at once by a second Ctrl-C: resources may be half-changed; run `pulumi refresh`"
                released = getattr(runner, "release", lambda stack: None)(target.stack)
                return done(CellState.cancelled, None, _short(exc), f"{note}{f'; {released}' if released else ''}")
            if getattr(exc, "cancelled", False):
                note = "stopped by Ctrl-C after its in-flight steps; the stack's history records the update as failed"
                return done(CellState.cancelled, None, _short(exc), note)
            stopped = "failed while the rollout was stopping" if self.stopping else None
            return done(CellState.failed, None, _short(exc), stopped)
        stopped = "finished before the stop took effect" if self.stopping else None
        return done(state, result, None, stopped)

    # --- bake -----------------------------------------------------------------------------------

    def _bake(self, wave: WavePlan) -> tuple[str, str]:
        """Watch the wave's health for its bake time: ('healthy'|'done'|'unhealthy'|'cancelled', reason)."""
        gate = self.health if (wave.health_gate and self.plan.mode == "up") else None
        seconds = wave.bake_seconds if self.plan.mode == "up" else 0.0
        if gate is None and seconds <= 0:
            return "done", ""
        cells = [t for t in wave.targets if t.cell is not None]
        self.journal.update_wave(wave.name, state=WaveState.baking)
        for target in cells:
            self.emit("cell", stack=target.stack, wave=wave.name, state="baking")
        self.emit("bake_started", wave=wave.name, data={"remaining": seconds, "health_gate": gate is not None})
        deadline = self.clock.now() + seconds
        next_poll = self.clock.now()
        try:
            while True:
                now = self.clock.now()
                final = now >= deadline
                if gate is not None and (now >= next_poll or final):
                    verdict = self._poll(wave, cells, gate, final=final)
                    if verdict is not None:
                        return "unhealthy", verdict
                    next_poll = now + self.poll_seconds
                if final:
                    break
                remaining = deadline - now
                self.emit("bake_tick", wave=wave.name, data={"remaining": round(remaining, 1)})
                step = min(self.tick_seconds, remaining, next_poll - now if gate is not None else remaining)
                if not self.clock.sleep(max(step, 0.001), self._stop):
                    return "cancelled", "stopped during the bake"
        except KeyboardInterrupt:
            self.request_stop()
            return "cancelled", "interrupted during the bake"
        for target in cells:
            self.emit("cell", stack=target.stack, wave=wave.name, state="healthy" if gate else "succeeded")
        return ("healthy" if gate is not None else "done"), ""

    def _poll(self, wave: WavePlan, cells: list[Target], gate: HealthGate, *, final: bool) -> str | None:
        """Check every cell once; the reason to halt, or None."""
        if self.registry is None:
            raise ValueError("a health gate needs the registry to find the cells")
        results = [self._check(gate, str(t.cell)) for t in cells]
        self.journal.update_wave(wave.name, health={r.cell: r.detail for r in results})
        bad = []
        for target, result in zip(cells, results, strict=True):
            self.emit(
                "health", stack=target.stack, wave=wave.name, state=_verdict(result.healthy), detail=result.detail
            )
            if result.healthy is False or (final and result.healthy is None):
                bad.append(result)
                self.emit("cell", stack=target.stack, wave=wave.name, state="unhealthy", detail=result.detail)
        if not bad:
            return None
        return "unhealthy: " + "; ".join(f"{r.cell}: {r.detail}" for r in bad)

    def _check(self, gate: HealthGate, cell: str) -> Health:
        assert self.registry is not None
        try:
            return gate.check(self.registry.cell(cell))
        except Exception as exc:  # a broken gate reads as unknown, never as a crash mid-rollout
            return Health(cell, None, f"health check failed: {_short(exc)}")

    # --- halting, cancelling, rollback ----------------------------------------------------------

    def _halt(self, wave: WavePlan, reason: str) -> Outcome:
        outcome = Outcome(Status.halted, self.journal, reason)
        if self.plan.mode == "up" and self.plan.kind == "rollout":
            self._rollback(wave, outcome)
        self.journal.finish(Status.halted, outcome.reason)
        return outcome

    def _cancelled(self) -> Outcome:
        for entry in self.journal.doc.cells.values():
            if entry.state == CellState.running:
                self.journal.update_cell(entry.stack, state=CellState.cancelled, error="cancelled")
        for wave in self.journal.doc.waves:
            if wave.state in {WaveState.running, WaveState.baking}:
                self.journal.update_wave(wave.name, state=WaveState.cancelled)
        touched = [c for c in self.journal.doc.cells.values() if c.stopped]
        what = "; ".join(f"{c.stack}: {c.state} ({c.stopped})" for c in touched) or "no stack was running"
        reason = f"interrupted: {what}. Resume with --resume {self.journal.id}"
        self.journal.finish(Status.cancelled, reason)
        return Outcome(Status.cancelled, self.journal, reason)

    def _rollback_groups(self, wave: WavePlan) -> tuple[dict[str, list[Target]], dict[str, str]]:
        """Touched stacks of the wave grouped by the revision to return to, and those that cannot return."""
        groups: dict[str, list[Target]] = {}
        cannot: dict[str, str] = {}
        for target in wave.targets:
            entry = self.journal.cell(target.stack)
            if entry.state not in {CellState.succeeded, CellState.failed, CellState.cancelled}:
                continue
            if entry.previous_revision is None:
                try:
                    found = self.runner.last_revision(target.stack, exclude_run=self.journal.id)
                except Exception:
                    found = None
                if found:
                    entry = self.journal.update_cell(target.stack, previous_revision=found)
            previous = entry.previous_revision
            if not previous:
                cannot[target.stack] = "no earlier revision recorded (a new stack)"
            elif not is_checkoutable(previous):
                cannot[target.stack] = f"previous revision {previous} was deployed from uncommitted changes"
            elif previous == self.plan.revision:
                cannot[target.stack] = "already at its previous revision"
            else:
                groups.setdefault(previous, []).append(target)
        return groups, cannot

    def _rollback(self, wave: WavePlan, outcome: Outcome) -> None:
        groups, cannot = self._rollback_groups(wave)
        for stack, why in cannot.items():
            self.journal.update_cell(stack, rollback=f"not rolled back: {why}")
        if not groups:
            return
        if not self.rollback_on_failure or self.worktrees is None or self.runner_for is None:
            outcome.rollback_commands = [
                rollback_command(rev, [t.stack for t in ts], self.venv) for rev, ts in groups.items()
            ]
            return
        results: list[str] = []
        for revision, targets in groups.items():
            self.emit("rollback_started", wave=wave.name, detail=revision, data={"stacks": [t.stack for t in targets]})
            try:
                with self.worktrees(revision) as path:
                    self._redeploy(wave, targets, revision, self.runner_for(path))
            except Exception as exc:
                for target in targets:
                    self.journal.update_cell(
                        target.stack, state=CellState.rollback_failed, rollback=f"checkout of {revision} failed: {exc}"
                    )
        for target in wave.targets:
            entry = self.journal.cell(target.stack)
            if entry.rollback:
                results.append(f"{target.stack}: {entry.rollback}")
        outcome.reason = f"{outcome.reason}. Rollback: {'; '.join(results)}"

    def _redeploy(self, wave: WavePlan, targets: list[Target], revision: str, runner: StackRunner) -> None:
        def work(target: Target) -> _Done:
            return self._attempt(target, runner, revision, only_if_changes=False)

        def on_start(target: Target) -> None:
            self.emit("cell", stack=target.stack, wave=wave.name, state="rolling-back", detail=f"to {revision[:12]}")

        def on_done(done: _Done) -> None:
            ok = done.state == CellState.succeeded
            state = CellState.rolled_back if ok else CellState.rollback_failed
            note = f"re-deployed {revision}" if ok else f"re-deploy of {revision} failed: {done.error}"
            self.journal.update_cell(done.target.stack, state=state, rollback=note, revision=revision if ok else None)
            self.emit("cell", stack=done.target.stack, wave=wave.name, state=str(state), detail=note)

        runner.prepare()
        self._batch(targets, work, on_start, on_done, halt=lambda: False, runner=runner)


def _stamp() -> str:
    return _now()


def _short(exc: BaseException, limit: int = 1200) -> str:
    """The error's own words on one line; a runner's `EngineError` already holds the engine's diagnostics."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(done: _Done) -> str:
    if done.result is None:
        return ""
    changes = {op: n for op, n in sorted(done.result.changes.items()) if n and op != "same"}
    text = ", ".join(f"{n} {op}" for op, n in changes.items()) or "no changes"
    return text + (f" after {done.attempts} attempts" if done.attempts > 1 else "")


def _verdict(healthy: bool | None) -> str:
    return {True: "healthy", False: "unhealthy", None: "unknown"}[healthy]


def report(journal: Journal) -> dict[str, Any]:
    """What ran, what failed and why: the journal, condensed."""
    doc = journal.doc
    return {
        "id": doc.id,
        "kind": doc.kind,
        "mode": doc.mode,
        "revision": doc.revision,
        "status": str(doc.status),
        "reason": doc.halt_reason,
        "waves": [{"name": w.name, "state": str(w.state), "health": w.health} for w in doc.waves],
        "cells": [
            {
                "stack": c.stack,
                "wave": c.wave,
                "state": str(c.state),
                "attempts": c.attempts,
                "seconds": c.seconds,
                **({"error": c.error} if c.error else {}),
                **({"stopped": c.stopped} if c.stopped else {}),
                **({"rollback": c.rollback} if c.rollback else {}),
                **({"previous_revision": c.previous_revision} if c.previous_revision else {}),
            }
            for c in doc.cells.values()
        ],
        "journal": str(journal.path),
    }


def iter_cells(plan: RolloutPlan) -> Iterator[tuple[str, str]]:
    for wave in plan.waves:
        for target in wave.targets:
            yield target.stack, wave.name
