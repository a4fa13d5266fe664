"""The journal's append-only log: each step costs the same at any size, and what it says is still checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellctl.rollout import journal as journal_module
from cellctl.rollout.journal import CellState, Journal, JournalError, Status, WaveState, latest
from cellctl.rollout.plan import RolloutPlan, Target, WavePlan


def plan(cells: int = 3) -> RolloutPlan:
    targets = tuple(Target(f"cell-c{i}", "w1", f"c{i}", "aws") for i in range(cells))
    return RolloutPlan("rollout", "up", (WavePlan("w1", 0.0, targets),), 2, "r" * 40, "digest")


def logs(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def test_steps_are_appended_and_replayed_on_load(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, plan())
    snapshot = journal.path.read_text()
    journal.update_cell("cell-c0", state=CellState.running, deployments={"update:r": "dep-1"})
    journal.update_wave("w1", state=WaveState.running)
    assert journal.path.read_text() == snapshot  # the snapshot is not rewritten per step
    [log] = logs(tmp_path)
    assert len(log.read_text().splitlines()) == 2
    loaded = Journal.load(tmp_path, journal.id)
    assert loaded.cell("cell-c0").state == CellState.running
    assert loaded.cell("cell-c0").deployments == {"update:r": "dep-1"}
    assert loaded.wave("w1").state == WaveState.running
    # Loaded, it appends where the chain ended: a second load sees both runs' steps.
    loaded.update_cell("cell-c1", state=CellState.succeeded)
    assert Journal.load(tmp_path, journal.id).cell("cell-c1").state == CellState.succeeded


def test_finish_folds_the_log_into_the_snapshot(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, plan())
    journal.update_cell("cell-c0", state=CellState.succeeded, seconds=12.5)
    journal.finish(Status.succeeded)
    assert logs(tmp_path) == []
    doc = json.loads(journal.path.read_text())
    assert doc["cells"]["cell-c0"]["seconds"] == 12.5 and doc["status"] == "succeeded"


def test_edited_log_line_is_refused(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, plan())
    journal.update_cell("cell-c0", state=CellState.failed)
    journal.update_cell("cell-c1", state=CellState.running)
    [log] = logs(tmp_path)
    log.write_text(log.read_text().replace('"failed"', '"succeeded"'))
    with pytest.raises(JournalError, match="line 1 does not follow"):
        Journal.load(tmp_path, journal.id)


def test_removed_middle_line_is_refused(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, plan())
    for stack in ("cell-c0", "cell-c1", "cell-c2"):
        journal.update_cell(stack, state=CellState.failed)
    [log] = logs(tmp_path)
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(JournalError, match="line 2 does not follow"):
        Journal.load(tmp_path, journal.id)


def test_last_line_cut_short_by_a_crash_is_ignored(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, plan())
    journal.update_cell("cell-c0", state=CellState.succeeded)
    journal.update_cell("cell-c1", state=CellState.succeeded)
    [log] = logs(tmp_path)
    text = log.read_text()
    log.write_text(text[: len(text) - 20])  # the second line half written
    loaded = Journal.load(tmp_path, journal.id)
    assert loaded.cell("cell-c0").state == CellState.succeeded
    assert loaded.cell("cell-c1").state == CellState.pending


def test_compaction_keeps_each_step_constant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "COMPACT_MIN", 4)
    journal = Journal.create(tmp_path, plan(2))  # folds every max(4, 2 * 2) = 4 steps
    first = journal.doc.checksum
    for i in range(4):
        journal.update_cell("cell-c0", attempts=i + 1)
    assert journal.doc.checksum != first and logs(tmp_path) == []  # rewritten, old log removed
    assert json.loads(journal.path.read_text())["cells"]["cell-c0"]["attempts"] == 4
    journal.update_cell("cell-c1", attempts=1)
    assert Journal.load(tmp_path, journal.id).cell("cell-c1").attempts == 1


def test_a_log_left_from_an_older_snapshot_is_never_replayed(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, plan())
    journal.update_cell("cell-c0", state=CellState.failed)
    [old] = logs(tmp_path)
    kept = old.read_text()
    journal.update_cell("cell-c0", state=CellState.succeeded)
    journal.save()  # as if the process died right after the rewrite, before removing the old log
    old.write_text(kept)
    assert Journal.load(tmp_path, journal.id).cell("cell-c0").state == CellState.succeeded


def test_latest_counts_the_log(tmp_path: Path) -> None:
    import os
    import time

    a = Journal.create(tmp_path, plan(), "a")
    b = Journal.create(tmp_path, plan(), "b")
    os.utime(b.path, (time.time() - 60, time.time() - 60))
    os.utime(a.path, (time.time() - 30, time.time() - 30))
    b.update_cell("cell-c0", state=CellState.running)
    assert latest(tmp_path) == b.path
