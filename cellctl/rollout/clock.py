"""Time as a dependency: the real clock for operators, a virtual one for tests and the benchmark.

Every blocking wait of the orchestrator (a bake period, a retry backoff, waiting for the next stack
to finish) goes through a `Clock`, so a 60-minute bake runs instantly under `VirtualClock` and a
simulated rollout of 100 cells finishes in well under a second of real time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Signal(Protocol):
    """A one-shot flag that wakes whoever waits on it through the clock."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""

    def signal(self) -> Signal:
        """A new, unset signal that `wait` and `sleep` understand."""

    def wait(self, signal: Signal, timeout: float | None = None) -> bool:
        """Block until `signal` is set (True) or `timeout` seconds pass (False)."""

    def sleep(self, seconds: float, stop: Signal | None = None) -> bool:
        """Sleep; False when `stop` was set before the time was up."""

    def spawn(self) -> None:
        """A task is about to start on another thread (the virtual clock counts it as busy)."""

    def done(self) -> None:
        """That task has finished."""


class Mailbox(Generic[T]):
    """What worker threads hand back to the one thread that waits for them, through the clock.

    The waiting thread blocks in `clock.wait`, so a `VirtualClock` counts it idle and moves time on
    while the workers sleep; a worker's `post` (or anyone's `wake`) ends the wait.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._wake = clock.signal()

    def post(self, item: T) -> None:
        """From any thread: hand `item` over and wake the waiting thread."""
        with self._lock:
            self._items.append(item)
            wake = self._wake
        wake.set()

    def wake(self) -> None:
        """From any thread: end the current wait even with nothing posted (`take` then checks `until`)."""
        with self._lock:
            wake = self._wake
        wake.set()

    def take(self, until: Callable[[], bool] | None = None) -> list[T]:
        """Block until something is posted and return all of it, or return [] once `until()` is true."""
        while True:
            with self._lock:
                if self._items:
                    items, self._items = self._items, []
                    return items
                self._wake = wake = self._clock.signal()
            if until is not None and until():
                return []
            self._clock.wait(wake)


class RealClock:
    """Wall-clock time; waits wake up often enough for Ctrl-C to reach the main thread."""

    #: Longest single blocking call, so that KeyboardInterrupt is seen promptly.
    SLICE = 0.25

    def now(self) -> float:
        return time.monotonic()

    def signal(self) -> Signal:
        return threading.Event()

    def wait(self, signal: Signal, timeout: float | None = None) -> bool:
        assert isinstance(signal, threading.Event)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self.SLICE if deadline is None else min(self.SLICE, deadline - time.monotonic())
            if left <= 0:
                return signal.is_set()
            if signal.wait(left):
                return True

    def sleep(self, seconds: float, stop: Signal | None = None) -> bool:
        if stop is None:
            stop = threading.Event()
        return not self.wait(stop, max(0.0, seconds))

    def spawn(self) -> None:
        pass

    def done(self) -> None:
        pass


class ClockDeadlockError(RuntimeError):
    pass


class _Waiter:
    __slots__ = ("woken",)

    def __init__(self) -> None:
        self.woken = False


class _VirtualSignal:
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._set = False
        self._waiters: list[_Waiter] = []

    def set(self) -> None:
        with self._clock._cond:
            if self._set:
                return
            self._set = True
            for waiter in self._waiters:
                self._clock._wake(waiter)
            self._waiters.clear()
            self._clock._cond.notify_all()

    def is_set(self) -> bool:
        return self._set


class VirtualClock:
    """Discrete-event time shared by threads: time jumps to the next deadline once every participant waits.

    Participants are the thread that created the clock plus every task announced with `spawn()`
    until its `done()`. A participant blocked in `wait`/`sleep` is idle; when all are idle the
    clock advances to the earliest deadline and wakes its sleepers, so concurrency behaves as
    it would in real time, only without the waiting.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._cond = threading.Condition()
        self._now = start
        self._active = 1
        self._timers: list[tuple[float, int, _Waiter]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        with self._cond:
            return self._now

    def signal(self) -> Signal:
        return _VirtualSignal(self)

    def spawn(self) -> None:
        with self._cond:
            self._active += 1

    def done(self) -> None:
        with self._cond:
            self._active -= 1
            self._advance()

    def wait(self, signal: Signal, timeout: float | None = None) -> bool:
        assert isinstance(signal, _VirtualSignal)
        with self._cond:
            if signal._set:
                return True
            if timeout is not None and timeout <= 0:
                return False
            waiter = _Waiter()
            signal._waiters.append(waiter)
            if timeout is not None:
                heapq.heappush(self._timers, (self._now + timeout, next(self._seq), waiter))
            self._active -= 1
            self._advance()
            while not waiter.woken:
                self._cond.wait()
            if waiter in signal._waiters:
                signal._waiters.remove(waiter)
            return signal._set

    def sleep(self, seconds: float, stop: Signal | None = None) -> bool:
        return not self.wait(stop if stop is not None else self.signal(), max(0.0, seconds))

    def _wake(self, waiter: _Waiter) -> None:
        if not waiter.woken:
            waiter.woken = True
            self._active += 1

    def _advance(self) -> None:
        while self._active <= 0:
            while self._timers and self._timers[0][2].woken:
                heapq.heappop(self._timers)
            if not self._timers:
                raise ClockDeadlockError("every participant waits on a signal and no timer is due")
            self._now = max(self._now, self._timers[0][0])
            while self._timers and self._timers[0][0] <= self._now:
                self._wake(heapq.heappop(self._timers)[2])
            self._cond.notify_all()
