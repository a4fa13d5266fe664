"""Reading AWS policy documents (identity, resource and trust policies) the way IAM does, or saying why not.

`parse(value)` returns the statements of a document given as a JSON string or an object, or the
reason it cannot be read: a document that does not parse, a statement with an element IAM does
not know (IAM element names are case-sensitive: `effect` is not `Effect`), an effect that is
neither Allow nor Deny. Rules turn that reason into a "cannot verify" finding. A document with a
value unknown during a preview comes back as `unknown`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from policies.base import UNKNOWN, as_list

ELEMENTS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
)
#: Condition keys that tie a public principal to the organization, an account, a source or a network.
RESTRICTING_KEYS = frozenset(
    {
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceip",
        "aws:userid",
        "aws:calledvia",
        "kms:calleraccount",
    }
)


@dataclass(frozen=True)
class Document:
    statements: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    unknown: bool = False


def _has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return False


def parse(value: Any) -> Document:
    """The statements of a policy document, or why it cannot be read."""
    if value is UNKNOWN or (isinstance(value, str) and not value.strip()):
        return Document(unknown=value is UNKNOWN, problem=None if value is UNKNOWN else "the document is empty")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            return Document(problem=f"the document is not valid JSON ({exc.msg} at line {exc.lineno})")
    if _has_unknown(value):
        return Document(unknown=True)
    if not isinstance(value, dict):
        return Document(problem=f"the document is a {type(value).__name__}, not a JSON object")
    if "Statement" not in value:
        keys = ", ".join(map(str, value)) or "none"
        return Document(problem=f"the document has no Statement (its keys: {keys})")
    statements = value["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    for i, statement in enumerate(statements):
        if not isinstance(statement, dict):
            return Document(problem=f"Statement[{i}] is a {type(statement).__name__}, not an object")
        unknown = sorted(set(map(str, statement)) - ELEMENTS)
        if unknown:
            return Document(problem=f"Statement[{i}] has elements IAM does not know: {', '.join(unknown)}")
        if statement.get("Effect") not in ("Allow", "Deny"):
            return Document(problem=f"Statement[{i}] has Effect {statement.get('Effect')!r}, not Allow or Deny")
    return Document(statements=statements)


def allows(document: Document) -> list[dict[str, Any]]:
    return [s for s in document.statements if s.get("Effect") == "Allow"]


def matches(patterns: Any, action: str) -> bool:
    """Whether any IAM action pattern (`iam:*`, `iam:Pass*`, `*`) covers `action` (case-insensitive, as IAM)."""
    return any(isinstance(p, str) and fnmatch.fnmatchcase(action.lower(), p.lower()) for p in as_list(patterns))


def principals(statement: dict[str, Any]) -> dict[str, list[str]]:
    """A statement's principals by kind (`AWS`, `Service`, `Federated`, ...); `*` alone is {"*": ["*"]}."""
    principal = statement.get("Principal")
    if principal == "*":
        return {"*": ["*"]}
    if isinstance(principal, dict):
        return {str(kind): [str(p) for p in as_list(value)] for kind, value in principal.items()}
    return {}


def is_public(statement: dict[str, Any]) -> bool:
    """Whether an Allow statement's principal is anyone (`*`, `{"AWS": "*"}`)."""
    found = principals(statement)
    return "*" in found or "*" in found.get("AWS", [])


def covers_the_internet(cidrs: list[str]) -> bool:
    """Whether a set of CIDRs, together, covers every public IPv4 or IPv6 address (so ::/0 or 0.0.0.0/1+128.0.0.0/1)."""
    networks: dict[int, list[Any]] = {4: [], 6: []}
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        networks[network.version].append(network)
    for version, nets in networks.items():
        if not nets:
            continue
        world = ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
        remaining = [world]
        for net in ipaddress.collapse_addresses(nets + list(_NON_PUBLIC[version])):
            remaining = [piece for r in remaining for piece in _minus(r, net)]
            if not remaining:
                return True
    return False


def _minus(network: Any, other: Any) -> list[Any]:
    if not network.overlaps(other):
        return [network]
    if other.supernet_of(network):
        return []
    return list(network.address_exclude(other))


#: Address space no internet host holds: private, loopback, link-local, CGNAT, multicast, reserved.
_NON_PUBLIC = {
    4: [
        ipaddress.ip_network(n)
        for n in (
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "224.0.0.0/3",
        )
    ],
    6: [ipaddress.ip_network(n) for n in ("::/8", "fc00::/7", "fe80::/10", "ff00::/8")],
}


def restricting_conditions(statement: dict[str, Any]) -> list[str]:
    """The condition keys that narrow a public principal to the organization, an account, a source or a network."""
    found = []
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return []
    for operator, tests in condition.items():
        op = str(operator)
        if "Not" in op or op.endswith("IfExists") or op in ("Null", "Bool") or not isinstance(tests, dict):
            continue
        for key, value in tests.items():
            values = [v for v in as_list(value) if isinstance(v, str)]
            if str(key).lower() not in RESTRICTING_KEYS or not values or "*" in values:
                continue
            if str(key).lower() == "aws:sourceip" and covers_the_internet(values):
                continue
            found.append(str(key))
    return found
