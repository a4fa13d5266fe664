"""A small evaluator of IAM policy documents for the tests: the verdict of a document on one request.

It knows the condition operators Honeycomb's documents use and fails loudly on any other, so a
document that starts using a new operator cannot pass a test by accident. Missing keys follow
IAM: a positive operator on an absent key does not match, a negated one (`ArnNotLike`,
`StringNotEquals`) does.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any


def _matches(patterns: str | list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in ([patterns] if isinstance(patterns, str) else patterns))


def _substitute(value: str, request: dict[str, Any]) -> str | None:
    """IAM policy variables (`${aws:PrincipalTag/cell}`) from the request; None if one has no value."""
    missing = [key for key in re.findall(r"\$\{([^}]+)\}", value) if request.get(key) is None]
    return None if missing else re.sub(r"\$\{([^}]+)\}", lambda m: str(request[m.group(1)]), value)


def _conditions_hold(condition: dict[str, dict[str, Any]], request: dict[str, Any]) -> bool:
    for operator, checks in condition.items():
        for key, allowed in checks.items():
            allowed = [_substitute(a, request) for a in (allowed if isinstance(allowed, list) else [allowed])]
            allowed = [a for a in allowed if a is not None]
            value = request.get(key)
            if operator == "ForAllValues:StringEquals":
                if not all(v in allowed for v in value or []):
                    return False
            elif operator == "ForAllValues:StringLike":
                if not all(_matches(allowed, v) for v in value or []):
                    return False
            elif operator == "ForAnyValue:StringLike":
                if not any(_matches(allowed, v) for v in value or []):
                    return False
            elif operator in ("StringEquals", "ArnEquals", "Bool"):
                if value not in allowed:
                    return False
            elif operator == "StringNotEquals":
                if value in allowed:
                    return False
            elif operator in ("StringLike", "ArnLike"):
                if value is None or not _matches(allowed, value):
                    return False
            elif operator == "ArnNotLike":
                if value is not None and _matches(allowed, value):
                    return False
            elif operator == "Null":
                if (value is None) != (allowed == ["true"]):
                    return False
            else:
                raise AssertionError(f"the evaluator does not know {operator}")
    return True


def applies(statement: dict[str, Any], action: str, request: dict[str, Any], resource: str | None = None) -> bool:
    if "Action" in statement and not _matches(statement["Action"], action):
        return False
    if "NotAction" in statement and _matches(statement["NotAction"], action):
        return False
    if resource is not None and "Resource" in statement and not _matches(statement["Resource"], resource):
        return False
    return _conditions_hold(statement.get("Condition", {}), request)


def allowed_by(document: str, action: str, request: dict[str, Any], resource: str | None = None) -> bool:
    statements = json.loads(document)["Statement"]
    if any(s["Effect"] == "Deny" and applies(s, action, request, resource) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and applies(s, action, request, resource) for s in statements)


def denied_by(document: str, action: str, request: dict[str, Any], resource: str | None = None) -> bool:
    statements = json.loads(document)["Statement"]
    return any(s["Effect"] == "Deny" and applies(s, action, request, resource) for s in statements)


def _names(statement: dict[str, Any], principal: str) -> bool:
    named = statement["Principal"]
    if named == "*":
        return True
    return any(principal in _listed(v) or "*" in _listed(v) for v in named.values())


def trusts(document: str, principal: str, action: str, request: dict[str, Any], resource: str | None = None) -> bool:
    """A resource (or trust) policy's verdict for `principal`: an ARN or service the statements name
    exactly, or `*`."""
    statements = [s for s in json.loads(document)["Statement"] if _names(s, principal)]
    return allowed_by(json.dumps({"Statement": statements}), action, request, resource)


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
