"""Progress of a rollout as events: a Rich live view for people, JSON lines for CI logs.

The orchestrator emits `Event`s from several threads; every sink here is thread-safe.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Event:
    kind: str
    at: float
    stack: str | None = None
    wave: str | None = None
    state: str | None = None
    detail: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}


EventSink = Callable[[Event], None]


class Recorder:
    """Keeps every event (tests, and the final report)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]


class JsonLines:
    """One JSON object per line, flushed at once so CI logs show progress as it happens."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        fields = event.as_dict()
        line = json.dumps({"event": fields.pop("kind"), **fields}, sort_keys=True, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class PlainLines:
    """For a log file or pipe (stdout is not a terminal): one finished line per change, no redrawn table."""

    QUIET = frozenset({"bake_tick", "health"})

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if event.kind in self.QUIET:
            return
        who = event.stack or (f"wave {event.wave}" if event.wave else "")
        name = event.kind.replace("_", " ") if event.kind != "cell" else ""
        parts = [p for p in (who, name, event.state) if p]
        line = " ".join(parts) + (f": {event.detail}" if event.detail else "")
        with self._lock:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)


def fan_out(*sinks: EventSink) -> EventSink:
    def emit(event: Event) -> None:
        for sink in sinks:
            sink(event)

    return emit


_STYLE = {
    "waiting": "dim",
    "running": "cyan",
    "retrying": "yellow",
    "baking": "blue",
    "healthy": "green",
    "succeeded": "green",
    "unchanged": "green",
    "failed": "bold red",
    "unhealthy": "bold red",
    "cancelled": "magenta",
    "skipped": "dim",
    "rolled-back": "yellow",
    "rollback-failed": "bold red",
}


class LiveView:
    """One line per stack (waiting, running, baking, healthy, failed…) and the current wave's bake countdown."""

    def __init__(self, console: Console, stacks: list[tuple[str, str]]) -> None:
        self.console = console
        self.rows: dict[str, dict[str, str]] = {
            stack: {"wave": wave, "state": "waiting", "detail": ""} for stack, wave in stacks
        }
        self.headline = "starting"
        self._bake: tuple[str, float, float] | None = None
        self._lock = threading.Lock()
        self._live = Live(console=console, get_renderable=self.render, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.stack in self.rows and event.state:
                row = self.rows[event.stack]
                row["state"] = event.state
                row["detail"] = event.detail or ""
            if event.kind == "wave_started":
                self.headline = f"wave {event.wave}"
                self._bake = None
            elif event.kind in {"bake_started", "bake_tick"}:
                self._bake = (str(event.wave), float(event.data.get("remaining", 0)), time.monotonic())
            elif event.kind in {"wave_finished", "rollout_finished"}:
                self._bake = None
                self.headline = f"{event.kind.replace('_', ' ')}: {event.state}"

    def render(self) -> Group:
        with self._lock:
            table = Table(expand=False, show_edge=False)
            for column in ("stack", "wave", "state", "detail"):
                table.add_column(column, overflow="fold")
            for stack, row in self.rows.items():
                table.add_row(stack, row["wave"], Text(row["state"], style=_STYLE.get(row["state"], "")), row["detail"])
            head = Text(self.headline, style="bold")
            if self._bake is not None:
                wave, remaining, since = self._bake
                left = max(0, int(remaining - (time.monotonic() - since)))
                head = Text(f"wave {wave}: baking, {left // 60:d}m{left % 60:02d}s left", style="bold blue")
            return Group(head, table)
