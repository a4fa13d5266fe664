"""Rollout plans from the registry: waves in order, stack config, the expected-duration bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cellctl.rollout.plan import (
    PlanError,
    bootstrap_plan,
    expected_seconds,
    rollout_plan,
    stack_config,
    wave_bound,
)
from cellctl.stacks_cmd import check_file
from cells import Registry

REV = "c" * 40


def test_rollout_plan_follows_the_registrys_waves(registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV)
    assert [(w.name, [t.stack for t in w.targets], w.bake_seconds) for w in plan.waves] == [
        ("preprod", ["cell-dev-jdoe", "cell-staging"], 1800),
        ("prod-canary", ["cell-alpha"], 3600),
        ("prod-main", ["cell-beta", "cell-gamma"], 1800),
    ]
    assert all(w.health_gate for w in plan.waves)
    assert [w.name for w in rollout_plan(registry, revision=REV, wave="prod-main").waves] == ["prod-main"]
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


@pytest.mark.parametrize(
    ("cell", "provider"),
    [
        ("alpha", {"aws:region": "us-east-1"}),
        ("beta", {"gcp:project": "acme-cell-beta", "gcp:region": "europe-west1"}),
    ],
)
def test_stack_config_from_the_registry(registry: Registry, cell: str, provider: dict[str, str]) -> None:
    found = registry.cell(cell)
    assert stack_config(registry, found.stack_name, found) == {
        "pulumi:disable-default-providers[0]": "*",
        "honeycomb:managementStack": "management",
        **provider,
    }
    assert stack_config(registry, "management") == {"pulumi:disable-default-providers[0]": "*"}


@pytest.mark.parametrize("cell", ["alpha", "beta", "dev-jdoe"])
def test_the_config_a_run_sets_keeps_stack_files_in_step(registry: Registry, cell: str, tmp_path: Path) -> None:
    """What `pulumi config set-all --path` leaves in stacks/ must pass `cellctl stacks sync --check`."""
    found = registry.cell(cell)
    config: dict[str, Any] = {}
    for key, value in stack_config(registry, found.stack_name, found).items():
        if key.endswith("[0]"):
            config[key.removesuffix("[0]")] = [value]
        else:
            config[key] = value
    path = tmp_path / f"Pulumi.{found.stack_name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    assert check_file(registry, found.stack_name, path) == []


def test_bootstrap_plan(registry: Registry) -> None:
    plan = bootstrap_plan(registry, ["gamma", "cell-staging"], revision=REV)
    assert [(w.name, [t.stack for t in w.targets]) for w in plan.waves] == [
        ("management", ["management"]),
        ("preprod", ["cell-staging"]),
        ("prod-main", ["cell-gamma"]),
    ]
    assert plan.waves[0].targets[0].only_if_changes
    assert not any(w.health_gate or w.bake_seconds for w in plan.waves)


def test_bound() -> None:
    assert wave_bound([], 4) == 0
    assert wave_bound([100, 10, 10], 4) == 100
    assert wave_bound([60] * 10, 4) == 150


def test_expected_seconds(registry: Registry) -> None:
    plan = rollout_plan(registry, revision=REV, concurrency=1)
    estimates = {"cell-dev-jdoe": 100, "cell-staging": 200, "cell-alpha": 300, "cell-beta": 50, "cell-gamma": 70}
    assert expected_seconds(plan, estimates) == 300 + 1800 + 300 + 3600 + 120 + 1800
