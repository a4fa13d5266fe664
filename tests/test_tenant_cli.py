"""`cellctl tenants list | place | rebalance` on copies of the sample registry: files, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cellctl.main import app
from cells import load_registry

runner = CliRunner()


def run(*args: str, registry: Path | None = None) -> object:
    extra = ["--registry", str(registry)] if registry else []
    return runner.invoke(app, ["tenants", *args, *extra], env={"COLUMNS": "200"})


def tenant_cells(registry: Path) -> dict[str, str]:
    return {t.id: t.cell for t in load_registry(registry).tenants}


def test_list_json_is_every_tenant_with_its_cell(registry) -> None:
    result = run("list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert {r["id"]: r["cell"] for r in rows} == {t.id: t.cell for t in registry.tenants}
    assert next(r for r in rows if r["id"] == "acme-bank")["pinned"] is True


def test_list_one_cell_and_an_unknown_cell() -> None:
    result = run("list", "--cell", "beta")
    assert result.exit_code == 0 and "hansa-freight" in result.stdout and "acme-bank " not in result.stdout
    result = run("list", "--cell", "nope")
    assert result.exit_code == 2 and "no cell named 'nope'" in result.stderr


def test_place_writes_the_tenant_in_id_order_and_keeps_comments(registry_copy: Path) -> None:
    before = (registry_copy / "tenants/gamma.yaml").read_text()
    result = run("place", "nimbus-air", "--requests", "3000000", "--residency", "eu-west-1", registry=registry_copy)
    assert result.exit_code == 0, result.output
    assert "nimbus-air → gamma" in result.stdout and "keeps the most headroom" in result.stdout
    after = (registry_copy / "tenants/gamma.yaml").read_text()
    # Only the new entry was added: without its lines the file is what it was, comments included.
    lines = after.splitlines()
    start = lines.index("  - id: nimbus-air")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("  - "))
    assert lines[:start] + lines[end:] == before.splitlines()
    assert lines[start:end] == [
        "  - id: nimbus-air",
        "    display_name: nimbus-air",
        "    environment: prod",
        "    daily_requests: 3000000",
        "    residency: {regions: [eu-west-1]}",
    ]
    ids = [t["id"] for t in yaml.safe_load(after)["tenants"]]
    assert ids == sorted(ids) and "nimbus-air" in ids
    assert tenant_cells(registry_copy)["nimbus-air"] == "gamma"


def test_place_appends_to_a_file_not_in_id_order(registry_copy: Path) -> None:
    result = run("place", "aaa-sandbox", "--requests", "1000", "--environment", "sandbox", registry=registry_copy)
    assert result.exit_code == 0, result.output
    cell = tenant_cells(registry_copy)["aaa-sandbox"]
    ids = [t["id"] for t in yaml.safe_load((registry_copy / f"tenants/{cell}.yaml").read_text())["tenants"]]
    assert cell == "staging"  # more headroom than dev-jdoe
    assert ids[-1] == "aaa-sandbox"  # staging's file lists demo last, out of id order: new tenants go to the end


def test_place_dry_run_writes_nothing(registry_copy: Path) -> None:
    before = {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")}
    result = run("place", "quiet", "--requests", "10", "--dry-run", "--json", registry=registry_copy)
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["written"] is False and report["cell"]
    assert {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")} == before


def test_place_refuses_bad_input_without_a_traceback(registry_copy: Path) -> None:
    result = run("place", "acme-bank", "--requests", "1", registry=registry_copy)
    assert result.exit_code == 2 and "already exists in cell alpha" in result.stderr
    result = run("place", "Bad_Id", "--requests", "1", "--residency", "mars-1", registry=registry_copy)
    assert result.exit_code == 2
    assert "id: 'Bad_Id' is not a tenant id" in result.stderr and "unknown region 'mars-1'" in result.stderr
    result = run("place", "dup", "--requests", "1", "--custom-domain", "api.acmebank.com", registry=registry_copy)
    assert result.exit_code == 2 and "already used by tenant acme-bank" in result.stderr
    assert "Traceback" not in result.output


def test_place_with_no_room_proposes_a_cell_that_validates(registry_copy: Path) -> None:
    before = {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")}
    result = run("place", "colossus", "--requests", "60000000", "--json", registry=registry_copy)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["cell"] is None and "no cell fits" in report["explanation"]
    proposal = report["proposal"]
    assert proposal["path"] == "cells/delta.yaml"  # the next Greek letter after alpha, beta, gamma
    document = proposal["document"]
    assert document["environment"] == "prod" and document["wave"] != "preprod"
    assert document["capacity"]["max_daily_requests"] * 85 // 100 >= 60_000_000
    assert {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")} == before
    # The proposal is a ready cell file: add it and the tenant fits.
    (registry_copy / proposal["path"]).write_text(proposal["yaml"])
    load_registry(registry_copy)
    result = run("place", "colossus", "--requests", "60000000", registry=registry_copy)
    assert result.exit_code == 0, result.output
    assert tenant_cells(registry_copy)["colossus"] == "delta"


def test_place_where_residency_allows_no_region(registry_copy: Path) -> None:
    result = run("place", "far", "--requests", "1", "--residency", "ap-south-1", registry=registry_copy)
    assert result.exit_code == 1
    assert "no cell allows it" in result.stderr and "allow a region in organization.yaml" in result.stderr


def test_rebalance_on_the_sample_has_nothing_to_move() -> None:
    result = run("rebalance", "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert plan["feasible"] and plan["moves"] == [] and plan["over_limit"] == []


def _overload_alpha(registry: Path, requests: int) -> None:
    path = registry / "tenants/alpha.yaml"
    path.write_text(path.read_text().replace("daily_requests: 8400000", f"daily_requests: {requests}"))


def test_rebalance_changes_nothing_without_write(registry_copy: Path) -> None:
    _overload_alpha(registry_copy, 15_000_000)  # alpha 70.6M: over 68M (80M minus 15 %)
    before = {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")}
    result = run("rebalance", registry=registry_copy)
    assert result.exit_code == 0
    assert "over their limits minus headroom: alpha" in result.stdout and "lower bound" in result.stdout
    assert {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")} == before


def test_rebalance_write_moves_entries_with_their_comments(registry_copy: Path) -> None:
    _overload_alpha(registry_copy, 15_000_000)
    alpha = registry_copy / "tenants/alpha.yaml"
    # A comment above the entry that will move travels with it.
    alpha.write_text(alpha.read_text().replace("  - id: ember-games", "  # signed in 2024\n  - id: ember-games"))
    result = run("rebalance", "--json", "--write", registry=registry_copy)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["feasible"] and plan["rewritten"] == []
    moved = {m["tenant"]: m["to"] for m in plan["moves"]}
    assert plan["moved_requests"] >= plan["lower_bound_requests"] == 2_600_000
    cells = tenant_cells(registry_copy)
    assert all(cells[t] == dest for t, dest in moved.items())
    assert "pinned: true   # moved only by hand" in alpha.read_text()
    # The lightest cover of the 2.6M overflow among alpha's movable tenants is ember-games (6.2M) alone.
    assert list(moved) == ["ember-games"]
    destination = (registry_copy / f"tenants/{moved['ember-games']}.yaml").read_text()
    assert "  # signed in 2024\n  - id: ember-games" in destination
    assert "signed in 2024" not in alpha.read_text()
    # Written files validate strictly: every cell within its limits.
    load_registry(registry_copy)
    again = run("rebalance", "--json", registry=registry_copy)
    assert json.loads(again.stdout)["over_limit"] == []


def test_rebalance_reads_a_registry_over_its_hard_limits(registry_copy: Path) -> None:
    _overload_alpha(registry_copy, 25_000_000)  # 80.6M: over the 80M limit itself, which validate refuses
    assert runner.invoke(app, ["validate", "--registry", str(registry_copy)]).exit_code == 2
    result = run("rebalance", "--json", registry=registry_copy)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["feasible"]


def test_rebalance_without_a_plan_says_why_and_writes_nothing(registry_copy: Path) -> None:
    _overload_alpha(registry_copy, 28_400_000)  # 84M in alpha; 0.5M spare in all prod cells together
    before = {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")}
    result = run("rebalance", "--write", registry=registry_copy)
    assert result.exit_code == 1
    assert "no plan exists" in result.stdout and "alpha (daily requests)" in result.stdout
    assert "exhaustive search" in result.stdout
    assert {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")} == before


def test_a_narrow_terminal_shows_every_id_and_figure_whole(monkeypatch) -> None:
    """A CI log is 80 columns wide: ids and request counts fold nowhere and lose no character."""
    from cellctl import common

    monkeypatch.setattr(common.console, "_width", 80)
    result = run("list", "--cell", "beta")
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    for whole in ("hansa-freight", "iberia-pay", "14,000,000", "33,500,000"):
        assert whole in result.stdout, whole
