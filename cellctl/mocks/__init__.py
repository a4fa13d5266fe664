"""Pulumi mocks that behave like a cloud: plausible, deterministic outputs for every resource.

Used by the tests and by the offline plan (`cellctl plan`). Outputs are the inputs echoed
plus what the cloud would add (ids, ARNs with the right account and region, endpoints),
filled in by per-cloud handlers in `cellctl.mocks.aws`, `.gcp` and `.k8s`. Unknown types
still work: inputs echoed, an id made up from the name, and what the SDK's schema says the type
outputs of the usual (`cellctl.mocks.generic`: a name, an ARN).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

from cellctl.mocks import generic
from cells import Registry

#: A handler returns the outputs the cloud adds; an "id" key also becomes the resource id.
Handler = Callable[["MockContext"], dict[str, Any]]


def digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def fake_account_id(cell_name: str) -> str:
    """A stable 12-digit account id for a cell whose account the management stack would create."""
    return "5" + str(int(digest("account", cell_name, length=15), 16))[-11:].zfill(11)


def sink_arn(region: str, monitoring_account_id: str) -> str:
    """The central observability sink of a region: what the management stack creates and cells link to."""
    return f"arn:aws:oam:{region}:{monitoring_account_id}:sink/{fake_account_id('sink-' + region)[:8]}-sink"


def fake_project_number(project_id: str) -> str:
    return "8" + str(int(digest("project", project_id, length=15), 16))[-11:].zfill(11)


@dataclass
class MockContext:
    """What a handler may look at: the resource (or call), its provider's inputs, the registry."""

    token: str
    name: str
    inputs: dict[str, Any]
    provider: dict[str, Any]
    registry: Registry
    mocks: CloudMocks
    resource_id: str | None = None


@dataclass
class HandlerTable:
    resources: dict[str, Handler] = field(default_factory=dict)
    calls: dict[str, Handler] = field(default_factory=dict)
    package_defaults: dict[str, Handler] = field(default_factory=dict)

    def resource(self, *tokens: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            for token in tokens:
                self.resources[token] = fn
            return fn

        return deco

    def call(self, *tokens: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            for token in tokens:
                self.calls[token] = fn
            return fn

        return deco

    def default(self, package: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.package_defaults[package] = fn
            return fn

        return deco


#: The one table every per-cloud module registers its handlers in.
HANDLERS = HandlerTable()


class CloudMocks(pulumi.runtime.Mocks):
    def __init__(self, registry: Registry, stack_outputs: dict[str, dict[str, Any]] | None = None):
        _load_handlers()
        self.registry = registry
        #: Outputs returned for StackReferences, by referenced stack name; defaults come from the registry.
        self.stack_outputs = stack_outputs or {}
        #: Provider inputs by provider reference ("<urn>::<id>"), so resources see their provider.
        self.providers: dict[str, dict[str, Any]] = {}
        #: Set by the recording monitor before each registration: the URN being registered.
        self.current_urn: str = ""
        #: Where ambient credentials and provider defaults point ("aws:account", "aws:region",
        #: "gcp:project", "gcp:region"); empty means the handlers' own defaults.
        self.ambient: dict[str, str] = {}
        #: What each CloudFront KeyValueStore (by ARN) holds so far: a key's `totalSizeInBytes` is its store's.
        self.kvs_bytes: dict[str, int] = {}

    def _context(
        self, token: str, name: str, inputs: dict[str, Any], provider: str | None, rid: str | None
    ) -> MockContext:
        return MockContext(token, name, inputs, self.providers.get(provider or "", {}), self.registry, self, rid)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        ctx = self._context(args.typ, args.name, args.inputs, args.provider, args.resource_id)
        package = args.typ.split(":", 1)[0]
        handler = HANDLERS.resources.get(args.typ) or HANDLERS.package_defaults.get(package)
        outputs = dict(args.inputs)
        if handler is not None:
            outputs.update(handler(ctx))
        if args.typ not in HANDLERS.resources:
            outputs = {**generic.outputs(ctx), **outputs}
        rid = str(outputs.pop("id", None) or args.resource_id or f"{args.name}-{digest(args.typ, args.name)}")
        if args.typ.startswith("pulumi:providers:"):
            self.providers[f"{self.current_urn}::{rid}"] = dict(args.inputs)
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = HANDLERS.calls.get(args.token)
        if handler is None:
            return {}, []
        # The failures list must be a list: the mock monitor iterates it.
        return handler(self._context(args.token, args.token, args.args, args.provider, None)), []


def _load_handlers() -> None:
    # Importing the per-cloud modules registers their handlers in HANDLERS.
    from cellctl.mocks import apps, aws, aws_org, gcp, k8s, pulumi_builtin, pulumi_cloud  # noqa: F401
