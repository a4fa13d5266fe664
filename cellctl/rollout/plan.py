"""What a rollout or bootstrap will do: stacks grouped into waves, built from the registry.

Pure data: nothing here touches a backend. `expected_seconds` is the same lower bound the
benchmark measures the orchestrator against.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Literal

from cells import ROUTING_STACK, AwsCell, Environment, GcpCell, Registry, UnknownCellError
from cells.export import to_json
from components.k8s.spec import MAX_CONCURRENT_CHALLENGES

Kind = Literal["rollout", "bootstrap"]
Mode = Literal["up", "preview"]

MANAGEMENT = "management"
#: Duration assumed for a stack with no earlier run in any journal.
DEFAULT_STACK_SECONDS = 600.0


class PlanError(ValueError):
    """Bad input for a plan: an unknown cell or wave, or an empty selection."""


@dataclass(frozen=True)
class Target:
    """One stack to run."""

    stack: str
    wave: str
    cell: str | None = None
    cloud: str | None = None
    #: Run `up` only when a preview shows changes (the management stack during a bootstrap).
    only_if_changes: bool = False


#: The routing stack runs last (its records name the cells' hosts), and only when it has changes (a tenant
#: or cell added or removed): tenants' record values are the moves', which the stack ignores.
ROUTING_WAVE_TARGET = Target(ROUTING_STACK, ROUTING_STACK, only_if_changes=True)


@dataclass(frozen=True)
class WavePlan:
    name: str
    bake_seconds: float
    targets: tuple[Target, ...]
    #: Watch health during the bake (rollouts); a bootstrap's new cells have no traffic to judge.
    health_gate: bool = True


@dataclass(frozen=True)
class RolloutPlan:
    kind: Kind
    mode: Mode
    waves: tuple[WavePlan, ...]
    concurrency: int
    revision: str
    registry_digest: str
    #: Why the plan runs differently from what was asked (a concurrency cap), for the operator.
    notes: tuple[str, ...] = ()

    @property
    def targets(self) -> list[Target]:
        return [t for w in self.waves for t in w.targets]

    def identity(self) -> dict[str, object]:
        """What makes two runs the same rollout: a journal may only be resumed by its own rollout."""
        return {
            "kind": self.kind,
            "mode": self.mode,
            "revision": self.revision,
            "registry": self.registry_digest,
            "waves": {w.name: [t.stack for t in w.targets] for w in self.waves},
        }


def registry_digest(registry: Registry) -> str:
    return hashlib.sha256(to_json(registry).encode()).hexdigest()[:16]


def rollout_plan(
    registry: Registry,
    *,
    revision: str,
    wave: str | None = None,
    mode: Mode = "up",
    concurrency: int = 4,
    routing: bool = True,
) -> RolloutPlan:
    """Every cell, wave by wave in the registry's order (or the one wave asked for), then the routing
    stack (`routing=False`: not, for a runner that cannot run it)."""
    names = [w.name for w in registry.organization.waves]
    if wave is not None and wave not in [*names, ROUTING_STACK]:
        raise PlanError(f"unknown wave {wave!r}: the registry's waves are {', '.join(names)} (then {ROUTING_STACK})")
    waves = []
    for w, cells in registry.waves():
        if wave is not None and w.name != wave:
            continue
        targets = tuple(_cell_target(registry, c) for c in cells)
        if targets:
            waves.append(WavePlan(w.name, 0.0 if mode == "preview" else w.bake_minutes * 60.0, targets))
    if wave == ROUTING_STACK and not routing:
        raise PlanError(
            "the routing stack has no Pulumi Deployments settings (the management stack writes them for cell "
            "stacks only): run `cellctl rollout --wave routing --runner local`"
        )
    if wave in (None, ROUTING_STACK) and routing:
        waves.append(routing_wave())
    if not waves:
        raise PlanError(f"no cells to roll out{f' in wave {wave!r}' if wave else ''}")
    return RolloutPlan(
        "rollout", mode, tuple(waves), _check_concurrency(concurrency), revision, registry_digest(registry)
    )


def bootstrap_plan(
    registry: Registry,
    cells: list[str],
    *,
    revision: str,
    mode: Mode = "up",
    concurrency: int = 4,
) -> RolloutPlan:
    """The management stack first (only when it has changes), then the named cells, wave by wave."""
    if not cells:
        raise PlanError("name the cells to bootstrap, or pass --all")
    try:
        chosen = {registry.cell(name.removeprefix("cell-")).name for name in cells}
    except UnknownCellError as exc:
        raise PlanError(str(exc)) from None
    management = Target(MANAGEMENT, MANAGEMENT, only_if_changes=True)
    waves = [WavePlan(MANAGEMENT, 0.0, (management,), health_gate=False)]
    for w, members in registry.waves():
        targets = tuple(_cell_target(registry, c) for c in members if c.name in chosen)
        if targets:
            waves.append(WavePlan(w.name, 0.0, targets, health_gate=False))
    waves.append(routing_wave())
    capped, notes = challenge_cap(_check_concurrency(concurrency), waves)
    return RolloutPlan("bootstrap", mode, tuple(waves), capped, revision, registry_digest(registry), notes)


def challenge_cap(concurrency: int, waves: list[WavePlan]) -> tuple[int, tuple[str, ...]]:
    """At most `MAX_CONCURRENT_CHALLENGES` new cells at once: each new cell's first update requests its
    tenants' certificate, whose wildcard every cell proves through the one shared `_acme-challenge.<domain>`
    multivalue record, and Route53 answers with 8 of its values at most."""
    largest = max((len(w.targets) for w in waves if w.name not in (MANAGEMENT, ROUTING_STACK)), default=0)
    if concurrency <= MAX_CONCURRENT_CHALLENGES or largest <= MAX_CONCURRENT_CHALLENGES:
        return concurrency, ()
    note = (
        f"concurrency capped at {MAX_CONCURRENT_CHALLENGES} (asked {concurrency}): a wave brings up {largest} new "
        f"cells, and each new cell's tenant certificate is proven through the shared _acme-challenge record, "
        f"of which Route53 answers at most {MAX_CONCURRENT_CHALLENGES} values; more at once fail at random"
    )
    return MAX_CONCURRENT_CHALLENGES, (note,)


def routing_wave() -> WavePlan:
    """The last wave of a rollout or bootstrap: the routing stack alone, no bake, no cell to gate on."""
    return WavePlan(ROUTING_STACK, 0.0, (ROUTING_WAVE_TARGET,), health_gate=False)


def _cell_target(registry: Registry, cell: AwsCell | GcpCell) -> Target:
    return Target(cell.stack_name, cell.wave, cell.name, cell.cloud)


def prod_waves(registry: Registry) -> set[str]:
    """Waves that hold at least one prod cell."""
    return {c.wave for c in registry.cells if c.environment == Environment.prod}


def shorten_bakes(plan: RolloutPlan, registry: Registry, minutes: float, *, prod_too: bool = False) -> RolloutPlan:
    """A drill: bakes cut to `minutes`. A wave with prod cells keeps its declared bake unless `prod_too`."""
    if minutes < 0:
        raise PlanError(f"--bake-minutes must be 0 or more, got {minutes:g}")
    prod = prod_waves(registry)
    waves = tuple(
        w if (w.name in prod and not prod_too) else replace(w, bake_seconds=min(w.bake_seconds, minutes * 60.0))
        for w in plan.waves
    )
    return replace(plan, waves=waves)


def _check_concurrency(n: int) -> int:
    if n < 1:
        raise PlanError(f"--concurrency must be at least 1, got {n}")
    return n


def wave_bound(durations: list[float], concurrency: int) -> float:
    """No schedule of one wave beats its longest stack or its total work spread over every slot."""
    if not durations:
        return 0.0
    return max(max(durations), sum(durations) / concurrency)


def expected_seconds(plan: RolloutPlan, estimates: dict[str, float]) -> float:
    """The lower bound of the plan's duration: per wave, `wave_bound` plus its bake."""
    total = 0.0
    for wave in plan.waves:
        durations = [estimates.get(t.stack, DEFAULT_STACK_SECONDS) for t in wave.targets]
        total += wave_bound(durations, plan.concurrency) + wave.bake_seconds
    return total


def describe(plan: RolloutPlan, estimates: dict[str, float]) -> dict[str, object]:
    """The schedule as data, for `--dry-run`."""
    return {
        "kind": plan.kind,
        "mode": plan.mode,
        "revision": plan.revision,
        "concurrency": plan.concurrency,
        **({"notes": list(plan.notes)} if plan.notes else {}),
        "expected_seconds": round(expected_seconds(plan, estimates)),
        "waves": [
            {
                "name": w.name,
                "bake_seconds": w.bake_seconds,
                "health_gate": w.health_gate,
                "stacks": [
                    {
                        "stack": t.stack,
                        "cell": t.cell,
                        "cloud": t.cloud,
                        "estimate_seconds": round(estimates.get(t.stack, DEFAULT_STACK_SECONDS)),
                        **({"only_if_changes": True} if t.only_if_changes else {}),
                    }
                    for t in w.targets
                ],
            }
            for w in plan.waves
        ],
    }


def plan_json(plan: RolloutPlan) -> str:
    return json.dumps(plan.identity(), sort_keys=True)
