"""The move journal: `.honeycomb/moves/<id>.json`, one per tenant move, what `--resume` continues from.

The same checksummed, hash-chained snapshot and log as the rollout's (`cellctl.rollout.chained`):
each step's state (pending, running, done, failed, undone), its times and the data its undo needs
(the router store value and record it replaced) is one appended line, fsynced before the step's
side effect, so a crash leaves a journal that says what was about to happen.

A journal is *unfinished* while its tenant may still be mid-move (running, undoing, undo failed)
or its source copy is still to be cleaned up: a second move of that tenant is refused, and
`cellctl tenants list` shows it as moving.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from cellctl.rollout.chained import ChainedDoc, ChainedJournal, JournalError, journal_paths, merged, new_id, now
from cellctl.tenants.moves import MoveRequest, Step

__all__ = ["JournalError", "MoveJournal", "MoveStatus", "StepState", "unfinished"]


class StepState(StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"
    undone = "undone"


class MoveStatus(StrEnum):
    running = "running"
    #: A step failed: the steps done are being undone, last first.
    undoing = "undoing"
    #: Finalized; the source's copy is released after the grace period (`--resume` runs it).
    cleanup_pending = "cleanup-pending"
    cleanup_failed = "cleanup-failed"
    done = "done"
    #: A step failed and every step done was undone: the source serves, as before the move.
    undone = "undone"
    undo_failed = "undo-failed"


#: Statuses with nothing left to do.
FINISHED = frozenset({MoveStatus.done, MoveStatus.undone})
#: Statuses in which the tenant's route is not yet final (the router and `tenants list` say moving).
IN_FLIGHT = frozenset({MoveStatus.running, MoveStatus.undoing, MoveStatus.undo_failed})


class StepEntry(BaseModel):
    state: StepState = StepState.pending
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    undo_error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="What the step replaced, for its undo.")


class MoveDoc(ChainedDoc):
    tenant: str
    source: str
    destination: str
    daily_requests: int = Field(description="The tenant's load, counted in the destination while it moves.")
    status: MoveStatus = MoveStatus.running
    grace_seconds: float
    failed_step: Step | None = None
    message: str = ""
    steps: dict[Step, StepEntry] = Field(default_factory=lambda: {s: StepEntry() for s in Step})


class MoveJournal(ChainedJournal[MoveDoc]):
    doc_type = MoveDoc
    what = "move"
    restart = "Check the tenant's route and files by hand, then start a new move without --resume"

    @classmethod
    def create(cls, directory: Path, request: MoveRequest, daily_requests: int, grace_seconds: float) -> MoveJournal:
        journal_id = f"{new_id()}-{request.tenant}"
        doc = MoveDoc(
            id=journal_id,
            tenant=request.tenant,
            source=request.source,
            destination=request.destination,
            daily_requests=daily_requests,
            grace_seconds=grace_seconds,
        )
        journal = cls(directory / f"{journal_id}.json", doc)
        journal.save()
        return journal

    def compact_every(self) -> int:
        return 64

    @property
    def request(self) -> MoveRequest:
        return MoveRequest(self.doc.tenant, self.doc.source, self.doc.destination)

    def step(self, step: Step) -> StepEntry:
        return self.doc.steps[step]

    def _apply(self, kind: str, name: str, changes: dict[str, Any]) -> None:
        if kind == "step":
            self.doc.steps[Step(name)] = merged(self.doc.steps[Step(name)], changes)
        else:
            self.doc = merged(self.doc, changes)

    def update_step(self, step: Step, **changes: Any) -> StepEntry:
        """Change one step; `state` stamps its start or end time."""
        with self._lock:
            if changes.get("state") == StepState.running:
                changes.setdefault("started_at", now())
            elif changes.get("state") in {StepState.done, StepState.failed, StepState.undone}:
                changes.setdefault("finished_at", now())
            updated: StepEntry = merged(self.doc.steps[step], changes)
            self.doc.steps[step] = updated
            self._append("step", str(step), updated.model_dump(mode="json", include=set(changes)))
            return updated

    def note_data(self, step: Step, **data: Any) -> None:
        """Record what a step is about to replace, before it replaces it.

        The first value of a key stands: a step run again after a stop reads the world its first
        run already changed (the lowered TTL, the moving marker), and its undo must restore what
        was there before the move, not that."""
        fresh = {key: value for key, value in data.items() if key not in self.step(step).data}
        if fresh:
            self.update_step(step, data={**self.step(step).data, **fresh})

    def set_status(self, status: MoveStatus, **changes: Any) -> None:
        with self._lock:
            changes = {"status": status, **changes}
            self.doc = merged(self.doc, changes)
            self._append("move", self.id, self.doc.model_dump(mode="json", include=set(changes)))


def unfinished(directory: Path) -> tuple[list[MoveDoc], dict[str, str]]:
    """The moves in `directory` that are not done or undone, and the journals that cannot be read (id: why).

    Read-only. A journal that cannot be read is not skipped: its id ends with its tenant, so a move
    of that tenant is refused until someone looks (fail closed).
    """
    found: list[MoveDoc] = []
    broken: dict[str, str] = {}
    for path in sorted(journal_paths(directory)):
        try:
            doc = MoveJournal.load(directory, path.stem).doc
        except (JournalError, ValidationError, OSError) as exc:
            broken[path.stem] = str(exc)
            continue
        if doc.status not in FINISHED:
            found.append(doc)
    return found, broken


def journal_tenant(journal_id: str) -> str:
    """The tenant a journal id names (`<time>-<hex>-<tenant>`)."""
    return journal_id.split("-", 2)[-1]
