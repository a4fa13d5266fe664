"""A scripted `Mover` for tests and the benchmark: no cloud, each step takes a set time on the clock.

Each tenant's move mirrors for its own duration, the other steps take fixed times (waiting out
the old TTL is the longest of them), and a move can be told to fail at a chosen step. The mover
records when each move ran and the most that ran at once, which the tests check.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from cellctl.rollout.clock import Clock
from cellctl.tenants.moves import MoveRequest, MoveResult, Step

#: Seconds each step but the mirror takes: lower-ttl waits out the old TTL (the routing default, 60 s)
#: after writing the record; verify polls the destination's health gate and the verify targets.
STEP_SECONDS: Mapping[Step, float] = {
    Step.check: 5.0,
    Step.lower_ttl: 65.0,
    Step.flip: 5.0,
    Step.verify: 120.0,
    Step.finalize: 10.0,
}
#: The steps a move runs before it reports; cleanup comes after the grace period, outside the move's slot.
STEPS = (Step.check, Step.mirror, Step.lower_ttl, Step.flip, Step.verify, Step.finalize)


@dataclass(frozen=True)
class Script:
    """How one tenant's move goes: its mirror time, and the step it fails at (None: it succeeds)."""

    mirror_seconds: float = 600.0
    fail_at: Step | None = None
    message: str = "scripted failure"


def move_seconds(script: Script, steps: Mapping[Step, float] = STEP_SECONDS) -> float:
    """How long a successful move of this script takes."""
    return script.mirror_seconds + sum(steps.get(s, 0.0) for s in STEPS if s != Step.mirror)


class SimulatedMover:
    """A `Mover` whose moves sleep through their steps on `clock`; thread-safe."""

    def __init__(
        self,
        clock: Clock,
        scripts: Mapping[str, Script] | None = None,
        *,
        default: Script | None = None,
        steps: Mapping[Step, float] = STEP_SECONDS,
    ) -> None:
        self.clock = clock
        self.scripts = dict(scripts or {})
        self.default = default or Script()
        self.steps = steps
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0
        #: (tenant, started, finished) per move, in the order they finished.
        self.log: list[tuple[str, float, float]] = []

    def __call__(self, request: MoveRequest) -> MoveResult:
        script = self.scripts.get(request.tenant, self.default)
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        started = self.clock.now()
        failed: Step | None = None
        try:
            for step in STEPS:
                self.clock.sleep(script.mirror_seconds if step == Step.mirror else self.steps.get(step, 0.0))
                if step == script.fail_at:
                    failed = step
                    break
        finally:
            with self._lock:
                self.running -= 1
                self.log.append((request.tenant, started, self.clock.now()))
        journal = f"move-{request.tenant}"
        args = (request.tenant, request.source, request.destination)
        if failed is None:
            return MoveResult(*args, ok=True, journal_id=journal)
        return MoveResult(*args, ok=False, journal_id=journal, failed_step=failed, message=script.message)
