"""Which stack failures are worth another attempt, and the bounded backoff that makes it.

Transient: a locked stack (a stale run still holds the lock, or another update is in flight),
cloud API throttling and rate limits, network blips. Everything else is a real failure and is
reported at once: retrying a broken program only delays the halt.

A locked stack surfaces as `ConcurrentUpdateError` when the CLI's message matches what the SDK
knows, and as a plain `CommandError` otherwise (pulumi/pulumi#11108), so both are recognised by
their text as well as their type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from cellctl.rollout.clock import Clock, Signal

T = TypeVar("T")

#: Messages of a locked stack: the Pulumi Cloud's 409 and the DIY backends' lock file.
LOCK_MESSAGES = (
    "[409] Conflict: Another update is currently in progress",
    "the stack is currently locked by",
    "another update is currently in progress",
)

#: Throttling, rate limits and network blips, as AWS, GCP, the backends and Go's net package word them.
TRANSIENT_MESSAGES = (
    "ThrottlingException",
    "Throttling:",
    "Rate exceeded",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "429 Too Many Requests",
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "503 Service Unavailable",
    "502 Bad Gateway",
    "ServiceUnavailable",
    "connection reset by peer",
    "connection refused",
    "i/o timeout",
    "TLS handshake timeout",
    "unexpected EOF",
    "no such host",
)


class TransientError(Exception):
    """A failure a runner knows to be temporary."""


class RateLimitedError(TransientError):
    """A 429 from an API: `retry_after` is the wait its `Retry-After` header asks for (seconds), if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CancelledError(Exception):
    """The run was stopped (Ctrl-C or a halt) while this stack waited or ran."""


def _cause(exc: BaseException) -> BaseException:
    """The SDK's error behind a runner's `EngineError` (its type and full text decide)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def is_lock_error(exc: BaseException) -> bool:
    from pulumi.automation import CommandError, ConcurrentUpdateError

    exc = _cause(exc)
    if isinstance(exc, ConcurrentUpdateError):
        return True
    text = str(exc)
    return isinstance(exc, CommandError) and any(m.lower() in text.lower() for m in LOCK_MESSAGES)


def is_transient(exc: BaseException) -> bool:
    """True for failures worth another attempt after a pause."""
    if isinstance(exc, CancelledError) or getattr(exc, "cancelled", False) or getattr(exc, "terminated", False):
        return False
    exc = _cause(exc)
    if isinstance(exc, TransientError | ConnectionError | TimeoutError):
        return True
    if is_lock_error(exc):
        return True
    from pulumi.automation import CommandError

    if isinstance(exc, CommandError):
        text = str(exc)
        return any(m in text for m in TRANSIENT_MESSAGES)
    return False


_THROTTLING = TRANSIENT_MESSAGES[:8]
#: The longest `Retry-After` honoured: a wait past it is more likely a broken header than a plan.
RETRY_AFTER_CAP = 900.0


def kind_of(exc: BaseException) -> str:
    """What a transient failure was, in words an operator expects: throttled, locked (by whom), network."""
    if is_lock_error(exc):
        from cellctl.rollout.runner import lock_holder

        holder = lock_holder(str(_cause(exc)))
        return f"stack locked by {holder}" if holder else "stack locked by another update"
    text = str(_cause(exc))
    if isinstance(_cause(exc), RateLimitedError) or any(m in text for m in _THROTTLING):
        return "throttled by the cloud API"
    return "network or service error"


def evidence(exc: BaseException, width: int = 200) -> str:
    """The part of the error that made it transient (a long provider message keeps its cause in view)."""
    text = " ".join(str(exc).split())
    lower = text.lower()
    hits = [i for i in (lower.find(m.lower()) for m in (*LOCK_MESSAGES, *TRANSIENT_MESSAGES)) if i >= 0]
    if not hits or len(text) <= width:
        return text[:width]
    start = max(0, min(hits) - width // 2)
    return ("…" if start else "") + text[start : start + width] + ("…" if start + width < len(text) else "")


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` tries in all; waits grow from `initial` seconds up to `maximum`."""

    attempts: int = 4
    initial: float = 15.0
    maximum: float = 120.0
    jitter: float = 5.0


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    clock: Clock,
    stop: Signal,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> tuple[T, int]:
    """Run `fn`, retrying transient failures; returns its result and the attempts used.

    The backoff sleeps on `clock` and ends early with `CancelledError` once `stop` is set; the
    last transient failure is re-raised when the attempts run out.
    """
    attempts = 0

    def sleep(seconds: float) -> None:
        if not clock.sleep(seconds, stop):
            raise CancelledError("stopped while waiting to retry")

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            assert exc is not None
            on_retry(state.attempt_number, exc, state.upcoming_sleep)

    def attempt() -> T:
        nonlocal attempts
        if stop.is_set():
            raise CancelledError("stopped before the stack started")
        attempts += 1
        return fn()

    backoff = tenacity.wait_exponential_jitter(initial=policy.initial, max=policy.maximum, jitter=policy.jitter)

    def wait(state: tenacity.RetryCallState) -> float:
        """The backoff, or longer when a rate limit's `Retry-After` asks for more (the server knows best)."""
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        seconds = float(backoff(state))
        return max(seconds, min(float(asked), RETRY_AFTER_CAP)) if isinstance(asked, int | float) else seconds

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(is_transient),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(attempt), attempts
