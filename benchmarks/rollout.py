"""Rollout makespan against the lower bound the wave rules allow.

100 simulated cells over 4 waves, stack durations drawn from a fixed seed, concurrency 4, run
through the real orchestrator with the in-memory runner on a virtual clock (seconds of real
time). The bound: per wave, max(longest stack, total stack time / concurrency), plus the bake.
The orchestrator orders each wave longest-first by the durations it expects; here those come
from a "previous run" that differs from this one by up to ±15% per stack.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.journal import Journal
from cellctl.rollout.memory import Behaviour, InMemoryRunner
from cellctl.rollout.orchestrator import Orchestrator
from cellctl.rollout.plan import RolloutPlan, Target, WavePlan, wave_bound
from cellctl.rollout.retry import RetryPolicy

SEED = 20261122
CONCURRENCY = 4
WAVES = [("preprod", 10, 30), ("prod-canary", 15, 60), ("prod-early", 35, 30), ("prod-main", 40, 30)]


def scenario(seed: int) -> tuple[RolloutPlan, dict[str, float], dict[str, float]]:
    rng = random.Random(seed)
    waves, durations, history = [], {}, {}
    index = 0
    for name, count, bake_minutes in WAVES:
        targets = []
        for _ in range(count):
            stack = f"cell-c{index:03d}"
            index += 1
            # Most stacks take 4-12 minutes; a few (new node groups, big diffs) up to ~30.
            seconds = 60 * (rng.uniform(4, 12) if rng.random() < 0.85 else rng.uniform(15, 30))
            durations[stack] = seconds
            history[stack] = seconds * rng.uniform(0.85, 1.15)
            targets.append(Target(stack, name, stack.removeprefix("cell-"), "aws"))
        waves.append(WavePlan(name, bake_minutes * 60.0, tuple(targets), health_gate=False))
    plan = RolloutPlan("rollout", "up", tuple(waves), CONCURRENCY, "b" * 40, "bench")
    return plan, durations, history


def lower_bound(plan: RolloutPlan, durations: dict[str, float], *, bake: bool = True) -> float:
    return sum(
        wave_bound([durations[t.stack] for t in w.targets], plan.concurrency) + (w.bake_seconds if bake else 0)
        for w in plan.waves
    )


def makespan(plan: RolloutPlan, durations: dict[str, float], estimates: dict[str, float]) -> tuple[float, float]:
    clock = VirtualClock()
    runner = InMemoryRunner(clock, {s: Behaviour(duration=d) for s, d in durations.items()})
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.create(Path(tmp), plan, "bench")
        outcome = Orchestrator(
            plan, runner, journal, clock=clock, estimates=estimates, retry=RetryPolicy(attempts=1)
        ).run()
    assert outcome.status == "succeeded", outcome.reason
    assert runner.max_running <= plan.concurrency
    deploy = sum(
        max(c.end for c in runner.calls if c.stack in {t.stack for t in w.targets})
        - min(c.start for c in runner.calls if c.stack in {t.stack for t in w.targets})
        for w in plan.waves
    )
    return clock.now(), deploy


def main() -> None:
    plan, durations, history = scenario(SEED)
    cells = sum(len(w.targets) for w in plan.waves)
    bound = lower_bound(plan, durations)
    deploy_bound = lower_bound(plan, durations, bake=False)
    print(f"{cells} cells in {len(plan.waves)} waves, concurrency {plan.concurrency}, seed {SEED}")
    bakes = sum(w.bake_seconds for w in plan.waves)
    print(f"lower bound: {bound / 60:.1f} min ({deploy_bound / 60:.1f} min of stacks, {bakes / 60:.0f} min of bakes)")
    for label, estimates in (
        ("longest-first, estimates from a previous run (±15%)", history),
        ("longest-first, exact durations", durations),
        ("registry order (no estimates)", {}),
    ):
        started = time.perf_counter()
        total, deploy = makespan(plan, durations, estimates)
        wall = time.perf_counter() - started
        print(
            f"{label:55s} makespan {total / 60:7.1f} min  ratio {total / bound:.4f}  "
            f"(stacks only: {deploy / deploy_bound:.4f})  [{wall:.2f}s real]"
        )
    total, _ = makespan(plan, durations, history)
    ratio = total / bound
    print(f"target: within 5% of the bound -> {'met' if ratio <= 1.05 else 'MISSED'} ({ratio:.4f})")


if __name__ == "__main__":
    main()
