"""One rollout at a time per checkout and backend: a file lock held for the whole run, and who holds it.

The lock is `filelock.FileLock` on `.honeycomb/locks/<backend digest>.lock` (the OS drops it
when the holder dies); beside it, `<…>.json` records the holder (host, pid, start time, command,
journal id). A second run finds the lock taken and names the holder. A run that died without
cleaning up (killed, power loss) leaves only the record: the next run sees a record whose
process is gone and refuses until told `--break-lock`, since the dead run may have left stacks
half-updated and its journal saying "running".
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout


class RunLockError(RuntimeError):
    """The lock is held, or was left by a run that died: the message names the holder and what to do."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started_at: str
    backend: str
    command: str
    journal: str | None = None

    def describe(self) -> str:
        journal = f", journal {self.journal}" if self.journal else ""
        return f"pid {self.pid} on {self.host}, started {self.started_at}{journal} ({self.command})"

    def alive(self) -> bool | None:
        """Whether the holder still runs: None when it ran on another host and cannot be checked from here."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class RunLock:
    def __init__(self, home: Path, backend: str) -> None:
        digest = hashlib.sha256(backend.encode()).hexdigest()[:12]
        directory = Path(home) / ".honeycomb" / "locks"
        self.path = directory / f"rollout-{digest}.lock"
        self.record = directory / f"rollout-{digest}.json"
        self.backend = backend
        self._lock = FileLock(str(self.path), timeout=0)
        self.holder: Holder | None = None

    def read(self) -> Holder | None:
        try:
            return Holder(**json.loads(self.record.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def acquire(self, *, break_lock: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            holder = self.read()
            who = holder.describe() if holder else "a process that has not written its record yet"
            raise RunLockError(
                f"another rollout or bootstrap is running from this checkout against {self.backend}: {who}. "
                "Wait for it to finish (or stop it with Ctrl-C), then retry"
            ) from None
        left = self.read()
        if left is not None and not break_lock:
            self._lock.release()
            state = {False: "is no longer running", None: "ran on another host and cannot be checked from here"}
            status = state.get(left.alive(), "still runs but does not hold the lock")
            raise RunLockError(
                f"a rollout lock was left behind by {left.describe()}, which {status}. It may have stopped with "
                f"stacks half-updated{f' and journal {left.journal} still saying running' if left.journal else ''}. "
                "Check that it is gone, then re-run with --break-lock (add --resume "
                f"{left.journal or 'ID'} to continue its rollout)"
            )
        self.holder = Holder(
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            backend=self.backend,
            command=" ".join(["cellctl", *sys.argv[1:]])[:300],
        )
        self._write()

    def note_journal(self, journal_id: str) -> None:
        if self.holder is not None:
            self.holder = Holder(**{**asdict(self.holder), "journal": journal_id})
            self._write()

    def _write(self) -> None:
        assert self.holder is not None
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self.holder), indent=2), encoding="utf-8")
        os.replace(tmp, self.record)

    def release(self) -> None:
        if self.holder is None:
            return
        self.record.unlink(missing_ok=True)
        self.holder = None
        self._lock.release()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
