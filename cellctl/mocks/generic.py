"""What a resource of a type no handler knows still gets: the outputs every such type has.

The SDK's own schema decides (the resource-module table each `pulumi_<package>` ships and the
output properties of the class it names), not a hand list: a type gets a `name` (the name input,
or an auto-name like Pulumi's: the resource name plus a suffix) when it has a `name` output. ARNs
are the AWS handlers' concern; `has_output` tells them whether a type has one.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellctl.mocks import MockContext


@functools.cache
def _classes(package: str) -> dict[str, tuple[str, str]]:
    """type token -> (module, class name), read from the SDK's table without importing its submodules."""
    spec = importlib.util.find_spec(f"pulumi_{package.replace('-', '_')}")
    if spec is None or spec.origin is None:
        return {}
    with open(spec.origin, encoding="utf-8") as fh:
        found = re.search(r'resource_modules="""(.*?)"""', fh.read(), re.S)
    if found is None:
        return {}
    entries = json.loads(found.group(1))
    return {token: (entry["fqn"], cls) for entry in entries for token, cls in entry["classes"].items()}


@functools.cache
def has_output(token: str, prop: str) -> bool | None:
    """Whether the type's class has the output property `prop` (snake_case); None when the type is not known."""
    where = _classes(token.split(":", 1)[0]).get(token)
    if where is None:
        return None
    try:
        cls = getattr(importlib.import_module(where[0]), where[1])
    except (ImportError, AttributeError):
        return None
    return isinstance(getattr(cls, prop, None), property)


def outputs(ctx: MockContext) -> dict[str, Any]:
    """Outputs for a type without a handler of its own (the caller lets inputs and handlers win)."""
    from cellctl.mocks import digest

    found: dict[str, Any] = {}
    if has_output(ctx.token, "name") and not ctx.inputs.get("name"):
        found["name"] = f"{ctx.name}-{digest(ctx.name, length=7)}"
    return found
