"""The program of a GCP cell stack."""

from __future__ import annotations

from cells import GcpCell, Registry


def program(registry: Registry, cell: GcpCell) -> None:
    raise NotImplementedError("the GCP cell program is not written yet")
