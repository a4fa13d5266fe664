"""Rollout plans from the registry: waves in order, drills, the expected-duration bound."""

from __future__ import annotations

import pytest

from cellctl.rollout.plan import (
    PlanError,
    bootstrap_plan,
    expected_seconds,
    prod_waves,
    rollout_plan,
    shorten_bakes,
    wave_bound,
)
from cells import Registry

REV = "c" * 40


def test_rollout_plan_follows_the_registrys_waves(registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV)
    assert [(w.name, [t.stack for t in w.targets], w.bake_seconds) for w in plan.waves] == [
        ("preprod", ["cell-dev-jdoe", "cell-staging"], 1800),
        ("prod-canary", ["cell-alpha"], 3600),
        ("prod-main", ["cell-beta", "cell-gamma"], 1800),
        ("routing", ["routing"], 0),
    ]
    assert all(w.health_gate for w in plan.waves[:-1]) and not plan.waves[-1].health_gate
    assert [w.name for w in rollout_plan(registry, revision=REV, wave="prod-main").waves] == ["prod-main"]
    assert [w.name for w in rollout_plan(registry, revision=REV, wave="routing").waves] == ["routing"]
    assert all(w.bake_seconds == 0 for w in rollout_plan(registry, revision=REV, mode="preview").waves)


def test_plan_identity_tells_rollouts_apart(registry: Registry) -> None:
    one = rollout_plan(registry, revision=REV).identity()
    assert one == rollout_plan(registry, revision=REV, concurrency=9).identity()
    assert one != rollout_plan(registry, revision="d" * 40).identity()
    assert one != rollout_plan(registry, revision=REV, wave="preprod").identity()
    assert one != rollout_plan(registry, revision=REV, mode="preview").identity()


def test_bad_selections(registry: Registry) -> None:
    with pytest.raises(PlanError, match="unknown wave 'nope'"):
        rollout_plan(registry, revision=REV, wave="nope")
    with pytest.raises(PlanError, match="no cell named 'omega'"):
        bootstrap_plan(registry, ["omega"], revision=REV)
    with pytest.raises(PlanError, match="at least 1"):
        rollout_plan(registry, revision=REV, concurrency=0)


def test_prod_waves_keep_their_bake_in_a_drill(registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV)
    assert prod_waves(registry) == {"prod-canary", "prod-main"}
    drill = shorten_bakes(plan, registry, 5)
    assert [w.bake_seconds for w in drill.waves] == [300, 3600, 1800, 0]
    assert [w.bake_seconds for w in shorten_bakes(plan, registry, 0, prod_too=True).waves] == [0, 0, 0, 0]
    assert drill.identity() == plan.identity()  # a drill may resume the same journal
    with pytest.raises(PlanError, match="0 or more"):
        shorten_bakes(plan, registry, -1)


def test_a_target_carries_no_config(registry: Registry) -> None:
    """A run sets no stack config: the committed stack files hold it (`cellctl stacks sync`)."""
    plan = rollout_plan(registry, revision=REV)
    assert not any(hasattr(t, "config") for t in plan.targets)


def test_bootstrap_plan(registry: Registry) -> None:
    plan = bootstrap_plan(registry, ["gamma", "cell-staging"], revision=REV)
    assert [(w.name, [t.stack for t in w.targets]) for w in plan.waves] == [
        ("management", ["management"]),
        ("preprod", ["cell-staging"]),
        ("prod-main", ["cell-gamma"]),
        ("routing", ["routing"]),
    ]
    assert plan.waves[0].targets[0].only_if_changes
    assert not any(w.health_gate or w.bake_seconds for w in plan.waves)


def test_bound() -> None:
    assert wave_bound([], 4) == 0
    assert wave_bound([100, 10, 10], 4) == 100
    assert wave_bound([60] * 10, 4) == 150


def test_expected_seconds(registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV, concurrency=1)
    estimates = {
        "cell-dev-jdoe": 100,
        "cell-staging": 200,
        "cell-alpha": 300,
        "cell-beta": 50,
        "cell-gamma": 70,
        "routing": 40,
    }
    assert expected_seconds(plan, estimates) == 300 + 1800 + 300 + 3600 + 120 + 1800 + 40
