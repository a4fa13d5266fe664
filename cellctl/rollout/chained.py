"""A checksummed, hash-chained journal on disk: what the rollout journal and the move journal share.

`<id>.json` is a snapshot of a pydantic document, rewritten atomically, with a SHA-256 checksum of
the rest of it: a snapshot changed by hand is refused. Each change since is one JSON line appended
to `<id>.<checksum prefix>.jsonl`, fsynced, each line's SHA-256 chained from the snapshot's
checksum through every earlier line: a line changed or removed from the middle breaks the chain
and the journal is refused; a last line cut short by a crash is ignored (the change it recorded
never completed). Every `compact_every()` changes, and whenever the owner asks, the log is folded
into a new snapshot; a log left by a crash between a rewrite and the removal of the old log has
the old checksum in its name, so it is never replayed.

A subclass says what a change means (`_apply`) and what its documents are (`doc_type`, `what`,
`restart`: the words its refusals use).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, Field, ValidationError


class JournalError(ValueError):
    """A journal that cannot be used: missing, unreadable, changed by hand, or from another run."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class ChainedDoc(BaseModel):
    """The fields every journal document has; a subclass adds its own."""

    id: str
    created_at: str = Field(default_factory=now)
    updated_at: str = Field(default_factory=now)
    checksum: str | None = Field(default=None, description="SHA-256 of the document without this field.")

    def digest(self) -> str:
        body = self.model_dump(mode="json", exclude={"checksum"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


D = TypeVar("D", bound=ChainedDoc)


class ChainedJournal(Generic[D]):
    """A journal on disk; every change is saved before the method returns (thread-safe)."""

    doc_type: ClassVar[type[ChainedDoc]]
    #: What a journal is a journal of, in messages ("rollout", "move").
    what: ClassVar[str]
    #: What to do instead of resuming a journal that cannot be trusted, in messages.
    restart: ClassVar[str]

    def __init__(self, path: Path, doc: D) -> None:
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

    def compact_every(self) -> int:
        """Appended changes between two rewrites of the snapshot."""
        raise NotImplementedError

    def _apply(self, kind: str, name: str, changes: dict[str, Any]) -> None:
        """Apply one logged change to `self.doc` (on replay; the mutators apply theirs themselves)."""
        raise NotImplementedError

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path, journal_id: str) -> Self:
        """Load `<directory>/<id>.json` and replay its log; `latest` picks the most recently written journal."""
        if journal_id == "latest":
            found = latest(directory)
            if found is None:
                raise JournalError(f"no {cls.what} journal in {directory} to resume")
            journal_id = found.stem
        path = directory / f"{journal_id}.json"
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(directory.glob("*.json"))) or "none"
            raise JournalError(f"no {cls.what} journal {journal_id!r} in {directory} (journals there: {known})")
        untrusted = f"so what it says ran cannot be trusted. {cls.restart}"
        try:
            doc = cls.doc_type.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            raise JournalError(f"{path} is not a readable {cls.what} journal: {exc}") from None
        if doc.id != journal_id:
            raise JournalError(f"{path} holds the journal of {cls.what} {doc.id!r}, not {journal_id!r}")
        if doc.checksum is None:
            raise JournalError(f"{path} has no checksum (written by an older cellctl, or by hand), {untrusted}")
        if doc.checksum != doc.digest():
            raise JournalError(
                f"{path} was changed outside cellctl (its checksum does not match its content), {untrusted}"
            )
        journal = cls(path, doc)  # type: ignore[arg-type]
        journal._replay(untrusted)
        return journal

    def _replay(self, untrusted: str) -> None:
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
                if ok:
                    self._apply(body["kind"], body["name"], body["changes"])
            except (ValueError, KeyError, TypeError, StopIteration):
                ok = False
            if not ok:
                raise JournalError(
                    f"{log} was changed outside cellctl (line {number} does not follow from the lines before it), "
                    f"{untrusted}"
                )
            self._head = record["sum"]
            self._appended += 1

    # --- writing -------------------------------------------------------------------------------

    def save(self) -> None:
        """Rewrite the snapshot with everything so far; the log starts afresh from its checksum."""
        with self._lock:
            stale = self._log_path(self._base) if self._base else None
            self.doc.updated_at = now()
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
        with self._lock:
            body: dict[str, Any] = {"kind": kind, "name": name, "changes": changes}
            head = _chain(self._head, body)
            with self._log_path(self._base).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({**body, "sum": head}, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self._head = head
            self._appended += 1
            if self._appended >= self.compact_every():
                self.save()

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            data: dict[str, Any] = json.loads(self.doc.model_dump_json())
            return data


def merged(model: BaseModel, changes: dict[str, Any]) -> Any:
    """`model` with `changes`, validated again (a replayed change must still make a valid entry)."""
    return type(model).model_validate({**model.model_dump(), **changes})


def _chain(head: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((head + json.dumps(body, sort_keys=True)).encode()).hexdigest()


def journal_paths(directory: Path) -> list[Path]:
    """The snapshots in `directory` (not their logs, not temporary files)."""
    return [p for p in directory.glob("*.json") if not p.name.startswith(".")] if directory.is_dir() else []


def latest(directory: Path) -> Path | None:
    """The journal written last: its snapshot's or its log's time, whichever is later."""

    def written(path: Path) -> float:
        return max([path.stat().st_mtime, *(log.stat().st_mtime for log in directory.glob(f"{path.stem}.*.jsonl"))])

    return max(journal_paths(directory), key=lambda p: (written(p), p.name), default=None)
