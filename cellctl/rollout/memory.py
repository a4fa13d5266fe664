"""An in-memory `StackRunner` for tests and the benchmark: no engine, scripted behaviour per stack.

Each stack can succeed, fail, hang until cancelled, or fail transiently a few times and then
succeed, each taking a set duration on the injected clock.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cellctl.rollout.clock import Clock, Signal
from cellctl.rollout.plan import Target
from cellctl.rollout.retry import CancelledError, TransientError
from cellctl.rollout.runner import RunResult


class StackFailedError(Exception):
    """A real (non-transient) failure of a scripted stack."""


@dataclass
class Behaviour:
    kind: Literal["succeed", "fail", "hang", "flaky"] = "succeed"
    duration: float = 60.0
    #: For `flaky`: how many attempts fail transiently before one succeeds.
    failures: int = 1
    message: str = ""
    #: Finishes its duration even when cancelled (an update past the point where a stop can take effect).
    uninterruptible: bool = False
    changes: dict[str, int] = field(default_factory=lambda: {"update": 1})


@dataclass(frozen=True)
class Call:
    op: str
    stack: str
    project_dir: str
    start: float
    end: float
    outcome: str


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.running: set[str] = set()
        self.max_running = 0
        self.attempts: dict[str, int] = {}
        self.cancels: dict[str, Signal] = {}
        self.cancelled: list[str] = []
        self.cancel_requested: set[str] = set()
        self.prepared = 0


class InMemoryRunner:
    def __init__(
        self,
        clock: Clock,
        behaviours: dict[str, Behaviour] | None = None,
        *,
        default: Behaviour | None = None,
        revisions: dict[str, str] | None = None,
        on_start: Callable[[str], None] | None = None,
        project_dir: Path | str = "project",
    ) -> None:
        self.clock = clock
        self.behaviours = behaviours or {}
        self.default = default or Behaviour()
        #: The latest revision per stack (what the stack runs now); `history` keeps each (revision, rollout id).
        self.revisions: dict[str, str] = revisions if revisions is not None else {}
        self.history: dict[str, list[tuple[str, str]]] = {s: [(r, "")] for s, r in self.revisions.items()}
        self.on_start = on_start
        self.project_dir = str(project_dir)
        self.state = _State()

    def at(self, project_dir: Path | str) -> InMemoryRunner:
        """The same stacks driven from another checkout (a rollback worktree); state is shared."""
        view = copy.copy(self)
        view.project_dir = str(project_dir)
        return view

    @property
    def calls(self) -> list[Call]:
        return list(self.state.calls)

    @property
    def max_running(self) -> int:
        return self.state.max_running

    def behaviour(self, stack: str) -> Behaviour:
        return self.behaviours.get(stack, self.default)

    def prepare(self) -> None:
        self.state.prepared += 1

    def up(self, target: Target, *, revision: str, run_id: str = "") -> RunResult:
        result = self._run("up", target)
        with self.state.lock:
            self.revisions[target.stack] = revision
            self.history.setdefault(target.stack, []).append((revision, run_id))
        return result

    def preview(self, target: Target) -> RunResult:
        return self._run("preview", target)

    def cancel(self, stack: str, *, force: bool = False) -> None:
        with self.state.lock:
            self.state.cancelled.append(stack)
            signal = self.state.cancels.get(stack)
            if signal is None:
                self.state.cancel_requested.add(stack)  # honoured when the run registers
        if signal is not None:
            signal.set()

    def last_revision(self, stack: str, *, exclude_run: str | None = None) -> str | None:
        with self.state.lock:
            found = [rev for rev, run in self.history.get(stack, []) if not (exclude_run and run == exclude_run)]
        return found[-1] if found else None

    def _run(self, op: str, target: Target) -> RunResult:
        behaviour = self.behaviour(target.stack)
        signal = self.clock.signal()
        with self.state.lock:
            self.state.running.add(target.stack)
            self.state.max_running = max(self.state.max_running, len(self.state.running))
            self.state.attempts[target.stack] = attempt = self.state.attempts.get(target.stack, 0) + 1
            self.state.cancels[target.stack] = signal
            if target.stack in self.state.cancel_requested:
                self.state.cancel_requested.discard(target.stack)
                signal.set()
        start = self.clock.now()
        outcome = "succeeded"
        try:
            if self.on_start is not None:
                self.on_start(target.stack)
            if behaviour.kind == "hang":
                self.clock.wait(signal)
                outcome = "cancelled"
                raise CancelledError(f"{op} of {target.stack} was cancelled")
            if not self.clock.sleep(behaviour.duration, None if behaviour.uninterruptible else signal):
                outcome = "cancelled"
                raise CancelledError(f"{op} of {target.stack} was cancelled")
            if behaviour.kind == "fail":
                outcome = "failed"
                raise StackFailedError(behaviour.message or f"{target.stack}: resource creation failed")
            if behaviour.kind == "flaky" and attempt <= behaviour.failures:
                outcome = "transient"
                raise TransientError(behaviour.message or f"{target.stack}: Throttling: Rate exceeded")
            return RunResult(dict(behaviour.changes))
        finally:
            with self.state.lock:
                self.state.running.discard(target.stack)
                self.state.cancels.pop(target.stack, None)
                self.state.calls.append(Call(op, target.stack, self.project_dir, start, self.clock.now(), outcome))
