"""The rollout journal: `.honeycomb/rollouts/<id>.json`, rewritten atomically after every step.

It is what `--resume` continues from (cells that already succeeded are not deployed again) and
what the final report is built from. A journal belongs to exactly one rollout: resuming it with
a different plan (other waves or cells, other code revision, other registry) is refused. Each
save stores a SHA-256 checksum of the rest of the document, so a journal changed by hand (a
failed cell marked succeeded would skip it on resume) is refused too, as is one whose waves or
cells no longer match its own plan.

A step costs the same however many cells the rollout has: the snapshot and its hash-chained
log of changes are `cellctl.rollout.chained` (shared with the move journal), and the snapshot is
rewritten only every `max(COMPACT_MIN, 2 * cells)` changes and when the rollout finishes or is
reopened.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from cellctl.rollout.chained import ChainedDoc, ChainedJournal, JournalError, merged, new_id
from cellctl.rollout.chained import latest as latest
from cellctl.rollout.chained import now as _now
from cellctl.rollout.plan import RolloutPlan

__all__ = ["JournalError", "_now", "latest", "new_id"]


class CellState(StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    unchanged = "unchanged"
    failed = "failed"
    cancelled = "cancelled"
    skipped = "skipped"
    rolled_back = "rolled-back"
    rollback_failed = "rollback-failed"


DONE = {CellState.succeeded, CellState.unchanged}


class WaveState(StrEnum):
    pending = "pending"
    running = "running"
    baking = "baking"
    healthy = "healthy"
    unhealthy = "unhealthy"
    failed = "failed"
    cancelled = "cancelled"
    done = "done"


class Status(StrEnum):
    running = "running"
    succeeded = "succeeded"
    halted = "halted"
    cancelled = "cancelled"


#: Fewest appended changes between two rewrites of the snapshot.
COMPACT_MIN = 256


class CellEntry(BaseModel):
    stack: str
    cell: str | None = None
    wave: str
    state: CellState = CellState.pending
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    error: str | None = None
    previous_revision: str | None = Field(default=None, description="Revision deployed before this rollout.")
    revision: str | None = None
    changes: dict[str, int] = Field(default_factory=dict)
    log: str | None = None
    rollback: str | None = Field(default=None, description="Outcome of re-deploying the previous revision.")
    stopped: str | None = Field(default=None, description="What a stop (Ctrl-C) did to this stack's update.")
    deployments: dict[str, str] = Field(
        default_factory=dict,
        description="Pulumi Deployments started for this stack, `<operation>:<revision>` -> deployment id: "
        "a resumed rollout follows them instead of starting new ones.",
    )
    lifecycle: dict[str, str] = Field(
        default_factory=dict,
        description="Components whose cell-bootstrap target finished for this cell (component -> commit): "
        "a resumed bootstrap does not call them again.",
    )


class WaveEntry(BaseModel):
    name: str
    state: WaveState = WaveState.pending
    bake_seconds: float = 0
    health: dict[str, str] = Field(default_factory=dict)


class JournalDoc(ChainedDoc):
    kind: str
    mode: str
    revision: str
    plan: dict[str, Any]
    status: Status = Status.running
    concurrency: int
    halt_reason: str | None = None
    waves: list[WaveEntry]
    cells: dict[str, CellEntry]


class Journal(ChainedJournal[JournalDoc]):
    """A rollout's journal; every mutation is saved before the method returns (thread-safe)."""

    doc_type = JournalDoc
    what = "rollout"
    restart = "Start a new rollout without --resume; stacks that are already up to date report no changes"

    @classmethod
    def create(cls, directory: Path, plan: RolloutPlan, journal_id: str | None = None) -> Journal:
        journal_id = journal_id or new_id()
        doc = JournalDoc(
            id=journal_id,
            kind=plan.kind,
            mode=plan.mode,
            revision=plan.revision,
            plan=plan.identity(),
            concurrency=plan.concurrency,
            waves=[WaveEntry(name=w.name, bake_seconds=w.bake_seconds) for w in plan.waves],
            cells={t.stack: CellEntry(stack=t.stack, cell=t.cell, wave=w.name) for w in plan.waves for t in w.targets},
        )
        journal = cls(directory / f"{journal_id}.json", doc)
        journal.save()
        return journal

    def compact_every(self) -> int:
        return max(COMPACT_MIN, 2 * len(self.doc.cells))

    def check_resumable(self, plan: RolloutPlan) -> None:
        """Refuse a journal written by another rollout, or one with nothing left to do."""
        mine = plan.identity()
        theirs = self.doc.plan
        differ = [key for key in ("kind", "mode", "revision", "registry", "waves") if mine.get(key) != theirs.get(key)]
        if differ:
            details = "; ".join(
                f"{key}: journal has {theirs.get(key)!r}, this run has {mine.get(key)!r}" for key in differ
            )
            raise JournalError(
                f"journal {self.id} is from another rollout ({details}). Resume it with the same command, "
                "code revision and registry, or start a new rollout without --resume"
            )
        self._check_shape(plan)
        if self.doc.status == Status.succeeded:
            raise JournalError(f"rollout {self.id} already succeeded: nothing to resume")

    def _check_shape(self, plan: RolloutPlan) -> None:
        """The journal's waves and cells are exactly the plan's (a broken file must not crash mid-rollout)."""
        problems = []
        waves = [w.name for w in self.doc.waves]
        if not waves:
            problems.append("it lists no waves")
        elif waves != [w.name for w in plan.waves]:
            problems.append(f"its waves are {', '.join(waves)}, the plan's {', '.join(w.name for w in plan.waves)}")
        for wave in plan.waves:
            for target in wave.targets:
                entry = self.doc.cells.get(target.stack)
                if entry is None:
                    problems.append(f"it has no entry for {target.stack}")
                elif entry.wave != wave.name:
                    problems.append(f"it puts {target.stack} in wave {entry.wave}, the plan in {wave.name}")
        extra = sorted(set(self.doc.cells) - {t.stack for t in plan.targets})
        if extra:
            problems.append(f"it has entries for stacks not in the plan: {', '.join(extra)}")
        if problems:
            raise JournalError(
                f"journal {self.id} ({self.path}) does not match its rollout: {'; '.join(problems)}. "
                "Start a new rollout without --resume"
            )

    # --- mutation ------------------------------------------------------------------------------

    def _apply(self, kind: str, name: str, changes: dict[str, Any]) -> None:
        if kind == "cell":
            self.doc.cells[name] = merged(self.doc.cells[name], changes)
        else:
            index = next(i for i, w in enumerate(self.doc.waves) if w.name == name)
            self.doc.waves[index] = merged(self.doc.waves[index], changes)

    def cell(self, stack: str) -> CellEntry:
        return self.doc.cells[stack]

    def wave(self, name: str) -> WaveEntry:
        return next(w for w in self.doc.waves if w.name == name)

    def update_cell(self, stack: str, **changes: Any) -> CellEntry:
        with self._lock:
            entry = self.doc.cells[stack]
            updated = CellEntry.model_validate({**entry.model_dump(), **changes})
            self.doc.cells[stack] = updated
            self._append("cell", stack, updated.model_dump(mode="json", include=set(changes)))
            return updated

    def update_wave(self, name: str, **changes: Any) -> None:
        with self._lock:
            index = next(i for i, w in enumerate(self.doc.waves) if w.name == name)
            updated = WaveEntry.model_validate({**self.doc.waves[index].model_dump(), **changes})
            self.doc.waves[index] = updated
            self._append("wave", name, updated.model_dump(mode="json", include=set(changes)))

    def finish(self, status: Status, reason: str | None = None) -> None:
        with self._lock:
            self.doc.status = status
            self.doc.halt_reason = reason
            self.save()

    def reopen(self) -> None:
        """Continue a halted or interrupted rollout: whatever did not succeed runs again."""
        with self._lock:
            for entry in self.doc.cells.values():
                if entry.state not in {CellState.succeeded, CellState.unchanged}:
                    entry.state = CellState.pending
                    entry.error = None
                    entry.rollback = None
                    entry.stopped = None
            for wave in self.doc.waves:
                if wave.state not in {WaveState.healthy, WaveState.done}:
                    wave.state = WaveState.pending
                    wave.health = {}
            self.doc.status = Status.running
            self.doc.halt_reason = None
            self.save()


def duration_estimates(directory: Path) -> dict[str, float]:
    """Seconds each stack took in its most recent successful run, from the journals on disk."""
    estimates: dict[str, float] = {}
    if not directory.is_dir():
        return estimates
    for path in sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            doc = JournalDoc.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError, OSError):
            continue
        if doc.mode != "up":
            continue
        for entry in doc.cells.values():
            if entry.state == CellState.succeeded and entry.seconds:
                estimates[entry.stack] = entry.seconds
    return estimates
