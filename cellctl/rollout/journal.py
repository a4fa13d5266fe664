"""The rollout journal: `.honeycomb/rollouts/<id>.json`, rewritten atomically after every step.

It is what `--resume` continues from (cells that already succeeded are not deployed again) and
what the final report is built from. A journal belongs to exactly one rollout: resuming it with
a different plan (other waves or cells, other code revision, other registry) is refused. Each
save stores a SHA-256 checksum of the rest of the document, so a journal changed by hand (a
failed cell marked succeeded would skip it on resume) is refused too, as is one whose waves or
cells no longer match its own plan.

A step costs the same however many cells the rollout has: each change is appended to a log
beside the snapshot (`<id>.<checksum prefix>.jsonl`, one JSON line per change, each with a
SHA-256 chained from the snapshot's checksum through every earlier line), and the snapshot is
rewritten only every `max(COMPACT_MIN, 2 * cells)` changes and when the rollout finishes or is
reopened. Loading replays the log: a line changed or removed from the middle breaks the chain
and the journal is refused; a last line cut short by a crash is ignored (the step it recorded
never completed). A log left by a crash between a rewrite and the removal of the old log has
the old checksum in its name, so it is never replayed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from cellctl.rollout.plan import RolloutPlan


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


class JournalError(ValueError):
    """A journal that cannot be used: missing, unreadable, or from another rollout."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


class JournalDoc(BaseModel):
    id: str
    kind: str
    mode: str
    revision: str
    plan: dict[str, Any]
    status: Status = Status.running
    concurrency: int
    created_at: str = Field(default_factory=_now)
    updated_at: str = Field(default_factory=_now)
    halt_reason: str | None = None
    waves: list[WaveEntry]
    cells: dict[str, CellEntry]
    checksum: str | None = Field(default=None, description="SHA-256 of the document without this field.")

    def digest(self) -> str:
        body = self.model_dump(mode="json", exclude={"checksum"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def new_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class Journal:
    """A journal on disk; every mutation is saved before the method returns (thread-safe)."""

    def __init__(self, path: Path, doc: JournalDoc) -> None:
        self.path = path
        self.doc = doc
        self._lock = threading.RLock()
        #: The snapshot's checksum (it names the log), the chain's head (the last line's sum) and lines since.
        self._base = self._head = doc.checksum or ""
        self._appended = 0

    def _log_path(self, checksum: str) -> Path:
        return self.path.with_name(f"{self.doc.id}.{checksum[:16]}.jsonl")

    @property
    def id(self) -> str:
        return self.doc.id

    # --- creation and loading ------------------------------------------------------------------

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

    @classmethod
    def load(cls, directory: Path, journal_id: str) -> Journal:
        """Load `<directory>/<id>.json`; `latest` picks the most recently written journal."""
        if journal_id == "latest":
            found = latest(directory)
            if found is None:
                raise JournalError(f"no rollout journal in {directory} to resume")
            journal_id = found.stem
        path = directory / f"{journal_id}.json"
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(directory.glob("*.json"))) or "none"
            raise JournalError(f"no rollout journal {journal_id!r} in {directory} (journals there: {known})")
        try:
            doc = JournalDoc.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            raise JournalError(f"{path} is not a readable rollout journal: {exc}") from None
        if doc.id != journal_id:
            raise JournalError(f"{path} holds the journal of rollout {doc.id!r}, not {journal_id!r}")
        if doc.checksum is None:
            raise JournalError(
                f"{path} has no checksum (written by an older cellctl, or by hand), so what it says ran cannot be "
                "trusted. Start a new rollout without --resume; stacks that are already up to date report no changes"
            )
        if doc.checksum != doc.digest():
            raise JournalError(
                f"{path} was changed outside cellctl (its checksum does not match its content), so what it says "
                "ran cannot be trusted. Start a new rollout without --resume; stacks that are already up to date "
                "report no changes"
            )
        journal = cls(path, doc)
        journal._replay()
        return journal

    def _replay(self) -> None:
        """Apply the changes logged since the snapshot, checking each line's place in the chain."""
        log = self._log_path(self._base)
        try:
            lines = log.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            return
        complete, last = lines[:-1], lines[-1]
        if last.strip():
            try:  # a crash can cut the last line short; a whole one without its newline still counts
                json.loads(last)
                complete.append(last)
            except ValueError:
                pass
        for number, line in enumerate(complete, 1):
            try:
                record = json.loads(line)
                body = {k: record[k] for k in ("kind", "name", "changes")}
                ok = record["sum"] == _chain(self._head, body)
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                raise JournalError(
                    f"{log} was changed outside cellctl (line {number} does not follow from the lines before it), "
                    "so what it says ran cannot be trusted. Start a new rollout without --resume; stacks that are "
                    "already up to date report no changes"
                )
            self._apply(body["kind"], body["name"], body["changes"])
            self._head = record["sum"]
            self._appended += 1

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

    def save(self) -> None:
        """Rewrite the snapshot with everything so far; the log starts afresh from its checksum."""
        with self._lock:
            stale = self._log_path(self._base) if self._base else None
            self.doc.updated_at = _now()
            self.doc.checksum = self.doc.digest()
            text = self.doc.model_dump_json(indent=2)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._base = self._head = self.doc.checksum
            self._appended = 0
            if stale is not None and stale != self._log_path(self._base):
                stale.unlink(missing_ok=True)

    def _append(self, kind: str, name: str, changes: dict[str, Any]) -> None:
        """Log one change (fsynced before returning); every so often fold the log into the snapshot."""
        body: dict[str, Any] = {"kind": kind, "name": name, "changes": changes}
        head = _chain(self._head, body)
        with self._log_path(self._base).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({**body, "sum": head}, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._head = head
        self._appended += 1
        if self._appended >= max(COMPACT_MIN, 2 * len(self.doc.cells)):
            self.save()

    def _apply(self, kind: str, name: str, changes: dict[str, Any]) -> None:
        if kind == "cell":
            entry: BaseModel = self.doc.cells[name]
            self.doc.cells[name] = CellEntry.model_validate({**entry.model_dump(), **changes})
        else:
            index = next(i for i, w in enumerate(self.doc.waves) if w.name == name)
            wave = self.doc.waves[index]
            self.doc.waves[index] = WaveEntry.model_validate({**wave.model_dump(), **changes})

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

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            data: dict[str, Any] = json.loads(self.doc.model_dump_json())
            return data


def _chain(head: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((head + json.dumps(body, sort_keys=True)).encode()).hexdigest()


def latest(directory: Path) -> Path | None:
    """The journal written last: its snapshot's or its log's time, whichever is later."""
    journals = [p for p in directory.glob("*.json") if not p.name.startswith(".")]

    def written(path: Path) -> float:
        return max([path.stat().st_mtime, *(log.stat().st_mtime for log in directory.glob(f"{path.stem}.*.jsonl"))])

    return max(journals, key=lambda p: (written(p), p.name), default=None)


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
