"""The program of an AWS cell stack."""

from __future__ import annotations

from cells import AwsCell, Registry


def program(registry: Registry, cell: AwsCell) -> None:
    raise NotImplementedError("the AWS cell program is not written yet")
