"""`cellctl tenants move` and the moving column of `tenants list`, with the move's dependencies faked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from move_fakes import Crash, FakeLifecycle, FakeRoutes, Outcome, deps
from typer.testing import CliRunner

from cellctl import tenant_cmds
from cellctl.main import app
from cellctl.tenants.move import TenantMover, moves_dir
from cells import load_registry

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, registry_copy: Path, project: Path) -> dict[str, Any]:
    """The command's mover over fakes; `made` holds the options each run asked for."""
    world = deps(load_registry(registry_copy), project, registry_copy)
    made: list[dict[str, Any]] = []

    def make_mover(reg: Any, home: Path, *, dry_run: bool, **options: Any) -> TenantMover:
        made.append({"home": home, "dry_run": dry_run, **options})
        world.grace_seconds = options["grace_seconds"]
        world.wait_grace = options["wait_grace"]
        world.progress = options["progress"]
        return TenantMover(world, force=options["force"])

    monkeypatch.setattr(tenant_cmds, "make_mover", make_mover)
    return {"world": world, "made": made}


def move(*args: str, registry: Path, project: Path) -> Any:
    return run("move", "delta-retail", "--to", "gamma", *args, registry=registry, project=project)


def run(*args: str, registry: Path, project: Path) -> Any:
    extra = ["--registry", str(registry), "--project-dir", str(project)]
    return runner.invoke(app, ["tenants", *args, *extra], env={"COLUMNS": "200"})


def test_move_runs_and_reports(fakes: dict[str, Any], registry_copy: Path, project: Path) -> None:
    result = run(
        "move", "delta-retail", "--to", "gamma", "--grace-minutes", "5", registry=registry_copy, project=project
    )
    assert result.exit_code == 0, result.output
    assert "delta-retail: moved to gamma (journal " in result.stdout
    assert "mirror ..." in result.stderr and "waiting out the old TTL (60 s)" in result.stderr  # progress
    assert fakes["made"][0]["grace_seconds"] == 300 and fakes["world"].clock.now() == 60 + 300
    assert {t.id: t.cell for t in load_registry(registry_copy).tenants}["delta-retail"] == "gamma"


def test_move_json_has_the_result_and_every_steps_state(
    fakes: dict[str, Any], registry_copy: Path, project: Path
) -> None:
    result = run("move", "delta-retail", "--to", "gamma", "--json", registry=registry_copy, project=project)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["status"] == "done" and doc["failed_step"] is None
    assert [s["step"] for s in doc["steps"]] == [
        "check",
        "mirror",
        "lower-ttl",
        "flip",
        "verify",
        "finalize",
        "cleanup",
    ]
    assert {s["state"] for s in doc["steps"]} == {"done"}
    assert (moves_dir(project) / f"{doc['journal_id']}.json").is_file()
    assert result.stderr == ""  # no progress lines in JSON mode


def test_a_failed_move_exits_1_with_the_reason(fakes: dict[str, Any], registry_copy: Path, project: Path) -> None:
    lifecycle: FakeLifecycle = fakes["world"].lifecycle
    lifecycle.results["mirror"] = Outcome(False, "orders: copy failed")
    result = run("move", "delta-retail", "--to", "gamma", "--json", registry=registry_copy, project=project)
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["failed_step"] == "mirror" and doc["status"] == "undone" and "orders: copy failed" in doc["message"]
    assert doc["steps"][1] | {"started_at": None, "finished_at": None} == {
        "step": "mirror",
        "state": "undone",
        "error": "orders: copy failed",
        "undo_error": None,
        "data": {},
        "started_at": None,
        "finished_at": None,
    }


def test_dry_run_prints_the_steps_and_changes_nothing(registry_copy: Path, project: Path) -> None:
    before = {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")}
    result = run("move", "delta-retail", "--to", "gamma", "--dry-run", registry=registry_copy, project=project)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "would move delta-retail from alpha to gamma:"
    assert [line.split(":")[0].strip() for line in lines[1:8]] == [
        "1. check", "2. mirror", "3. lower-ttl", "4. flip", "5. verify", "6. finalize", "7. cleanup",
    ]  # fmt: skip
    assert "TTL 60 -> 5 s, then wait 60 s" in result.stdout
    assert {p: p.read_text() for p in (registry_copy / "tenants").glob("*.yaml")} == before
    assert not moves_dir(project).exists()
    as_json = run(
        "move", "delta-retail", "--to", "gamma", "--dry-run", "--json", registry=registry_copy, project=project
    )
    assert json.loads(as_json.stdout)["dry_run"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--to", "gamma"], "no tenant 'nobody'"),
        (["delta-retail", "--to", "omega"], "no cell named 'omega'"),
        (["delta-retail", "--to", "alpha"], "already lives in alpha"),
        (["acme-bank", "--to", "gamma"], "add --force to move it anyway"),
        (["delta-retail"], "say where to move the tenant with --to CELL"),
        (["delta-retail", "--to", "dev-jdoe"], "may not live in dev-jdoe"),
    ],
)
def test_bad_input_is_one_paragraph_and_exit_2(
    args: list[str], message: str, fakes: dict[str, Any], registry_copy: Path, project: Path
) -> None:
    result = run("move", *args, registry=registry_copy, project=project)
    assert result.exit_code == 2 and message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output and result.stdout == ""
    routes: FakeRoutes = fakes["world"].routes
    assert routes.writes == []


def test_a_full_destination_is_bad_input(
    fakes: dict[str, Any], registry_copy: Path, project: Path, edit_yaml: Any
) -> None:
    edit_yaml(registry_copy / "cells" / "gamma.yaml", lambda d: d["capacity"].update(max_tenants=5))
    result = run("move", "delta-retail", "--to", "gamma", registry=registry_copy, project=project)
    assert result.exit_code == 2 and "cell gamma has no room for delta-retail" in " ".join(result.stderr.split())


def crashed_move(fakes: dict[str, Any], registry_copy: Path, project: Path) -> str:
    lifecycle: FakeLifecycle = fakes["world"].lifecycle

    def crash() -> None:
        raise Crash

    lifecycle.after["verify"] = crash
    with pytest.raises(Crash):
        runner.invoke(
            app,
            ["tenants", "move", "delta-retail", "--to", "gamma", "--registry", str(registry_copy),
             "--project-dir", str(project)],
            catch_exceptions=False,
        )  # fmt: skip
    del lifecycle.after["verify"]
    [path] = moves_dir(project).glob("*.json")
    return path.stem


def test_list_shows_the_tenant_moving_and_resume_finishes(
    fakes: dict[str, Any], registry_copy: Path, project: Path
) -> None:
    journal_id = crashed_move(fakes, registry_copy, project)
    listed = run("list", "--cell", "alpha", "--json", registry=registry_copy, project=project)
    rows = {r["id"]: r["moving_to"] for r in json.loads(listed.stdout)}
    assert rows["delta-retail"] == "gamma" and rows["ember-games"] is None
    table = run("list", "--cell", "alpha", registry=registry_copy, project=project)
    assert "→ gamma" in next(line for line in table.stdout.splitlines() if "delta-retail" in line)
    again = run("move", "delta-retail", "--to", "staging", registry=registry_copy, project=project)
    assert again.exit_code == 2 and f"--resume {journal_id}" in " ".join(again.stderr.split())
    wrong = run("move", "ember-games", "--resume", journal_id, registry=registry_copy, project=project)
    assert wrong.exit_code == 2 and "is the move of delta-retail to gamma" in " ".join(wrong.stderr.split())
    resumed = run("move", "delta-retail", "--resume", journal_id, registry=registry_copy, project=project)
    assert resumed.exit_code == 0, resumed.output
    listed = run("list", "--cell", "gamma", "--json", registry=registry_copy, project=project)
    assert {r["id"]: r["moving_to"] for r in json.loads(listed.stdout)}["delta-retail"] is None
    # With no move under way the table has no moving column.
    quiet = run("list", "--cell", "gamma", registry=registry_copy, project=project)
    assert "moving" not in quiet.stdout and "delta-retail" in quiet.stdout


def test_a_corrupt_journal_is_one_paragraph_and_exit_1(
    fakes: dict[str, Any], registry_copy: Path, project: Path
) -> None:
    journal_id = crashed_move(fakes, registry_copy, project)
    path = moves_dir(project) / f"{journal_id}.json"
    path.write_text(path.read_text().replace('"running"', '"done"', 1))
    result = run("move", "delta-retail", "--resume", journal_id, registry=registry_copy, project=project)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "was changed outside cellctl" in " ".join(result.stderr.split())
    missing = run("move", "delta-retail", "--resume", "nope", registry=registry_copy, project=project)
    assert missing.exit_code == 1 and "no move journal 'nope'" in " ".join(missing.stderr.split())
