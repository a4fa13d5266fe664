"""What every cloud checker shares: the finding it reports, plain input values, unknowns.

The checkers read the same records the policy pack sees (`policies.evaluate.Record`), as plain
data: secrets revealed, and values unknown during a preview recognised so that a checker skips
them instead of failing them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from pulumi.runtime import rpc

from policies.base import UNKNOWN
from policies.evaluate import Finding, Record, reveal

ERROR = "error"
ADVISORY = "advisory"
LAYER = "cloud"

#: A checker judges one stack's planned resources and returns its findings.
Checker = Callable[[Sequence[Record]], list[Finding]]


def is_unknown(value: Any) -> bool:
    """A value the engine does not know yet: the pack's sentinel or the wire format's marker."""
    return value is UNKNOWN or (isinstance(value, str) and value == rpc.UNKNOWN)


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def inputs(record: Record) -> dict[str, Any]:
    """The record's inputs as plain data (secrets revealed)."""
    value = reveal(record.inputs)
    return value if isinstance(value, dict) else {}


def json_document(value: Any) -> Any:
    """A JSON string parsed (the SDK sends nested documents as strings); other values as they are."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def finding(checker: str, record: Record | None, message: str, level: str = ERROR) -> Finding:
    return Finding(
        policy=checker,
        level=level,
        urn=record.urn if record is not None else None,
        message=message,
        name=record.name if record is not None else None,
        type=record.type if record is not None else None,
        layer=LAYER,
    )


def short(value: Any, limit: int = 80) -> str:
    """A value quoted for a message, cut to `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
