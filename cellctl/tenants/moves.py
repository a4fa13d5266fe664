"""What a tenant move is, for the move workflow (`cellctl tenants move`) and the batches that run many.

A move runs these steps in order, each journaled with its own check and its own undo; a failure
before `finalize` undoes what was done (the route flips back), so the source keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Step(StrEnum):
    check = "check"  # the destination has room (limits minus headroom) and satisfies residency
    mirror = "mirror"  # each component's `tenant-mirror` target until it reports in sync
    lower_ttl = "lower-ttl"  # the tenant's record gets the moving TTL; the old TTL is waited out
    flip = "flip"  # the record and the router's store entry point at the destination
    verify = "verify"  # the destination's health gate and each component's `tenant-verify`
    finalize = "finalize"  # the tenant files say the destination; the TTL goes back up
    cleanup = "cleanup"  # after the grace period, each component's `tenant-cleanup` in the source


@dataclass(frozen=True)
class MoveRequest:
    tenant: str
    source: str
    destination: str


@dataclass(frozen=True)
class MoveResult:
    """How one move ended. `ok` is False when it stopped; `failed_step` and `message` say where and why."""

    tenant: str
    source: str
    destination: str
    ok: bool
    journal_id: str
    failed_step: Step | None = None
    message: str = ""


class Mover(Protocol):
    """Runs one move to its end (or its undo) and reports; batches call it from worker threads."""

    def __call__(self, request: MoveRequest) -> MoveResult: ...
