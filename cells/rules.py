"""Rules on registry values stated once: the model checks them, the JSON Schema states them.

Kept apart from `cells.models` so that every registry module (the models, `cells.deploy`) can use
them. Every regular expression is anchored and written with explicit ASCII classes, so it means
the same to pydantic, to Python's `re` and to the ECMA-262 dialect of JSON Schema (and editors).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema


class Rule:
    """A rule on a value stated once: the model checks it with a reason a person can act on, and
    the JSON Schema carries the same constraint, so an editor and `cellctl validate` agree."""

    def check(self, value: str) -> str:
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), **self.json_schema()}


@dataclass(frozen=True)
class Pattern(Rule):
    """A string matching `regex`; `reason` is formatted with the refused value as `{value!r}`."""

    regex: str
    reason: str

    def check(self, value: str) -> str:
        if not re.fullmatch(self.regex, value):
            raise ValueError(self.reason.format(value=value))
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"pattern": self.regex}


# --- IPv4 networks as regular expressions --------------------------------------------------------

OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def _numbers(low: int, high: int) -> str:
    return OCTET if (low, high) == (0, 255) else "(" + "|".join(str(n) for n in range(low, high + 1)) + ")"


@cache
def canonical_cidr_regex(prefixes: range) -> str:
    """Every IPv4 network `a.b.c.d/p` written canonically (no host bits), for the given prefix lengths."""
    forms = []
    for p in prefixes:
        octets = []
        for k in range(4):
            fixed = min(max(p - 8 * k, 0), 8)  # leading bits of this octet inside the prefix
            step = 2 ** (8 - fixed)
            octets.append(OCTET if fixed == 8 else "0" if fixed == 0 else _multiples(step))
        forms.append("\\.".join(octets) + f"/{p}")
    return "^(" + "|".join(forms) + ")$"


def _multiples(step: int) -> str:
    return "(" + "|".join(str(n) for n in range(0, 256, step)) + ")"


@cache
def overlapping_regex(network: ipaddress.IPv4Network, min_prefix: int) -> str:
    """Canonical networks of at least `min_prefix` bits that overlap `network`: inside it, or a supernet of it."""
    octets = []
    for k, value in enumerate(network.network_address.packed):
        fixed = min(max(network.prefixlen - 8 * k, 0), 8)
        low = value & (0xFF << (8 - fixed)) & 0xFF
        octets.append(_numbers(low, low + 2 ** (8 - fixed) - 1))
    inside = "\\.".join(octets) + "/(" + "|".join(str(p) for p in range(max(network.prefixlen, min_prefix), 33)) + ")"
    supernets = [re.escape(str(network.supernet(new_prefix=p))) for p in range(min_prefix, network.prefixlen)]
    return "^(" + "|".join([inside, *supernets]) + ")$"
