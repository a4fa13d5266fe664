"""The management stack: everything that spans cells."""

from __future__ import annotations

from cells import Registry


def program(registry: Registry) -> None:
    raise NotImplementedError("the management stack program is not written yet")
