"""What every rule shares: the registry context, plain views of resources, taggability.

Rules see resources through `ResourceValidationArgs` / `StackValidationArgs`, exactly as the
Pulumi engine hands them over. During a real preview some values are unknown (the engine's
proxies raise `UnknownValueError` on access); `plain` turns them into the `UNKNOWN` sentinel
so that a rule can skip what it cannot know instead of firing on it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, _is_unknown
from pulumi_policy.secret import Secret

from cells import AwsCell, GcpCell, Registry, load_registry

if TYPE_CHECKING:
    from policies.targets import Target

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY
CELL_PREFIX = "cell-"
WORLD = frozenset({"0.0.0.0/0", "::/0"})


class _Unknown:
    """A value the engine does not know yet (preview); never equal to anything real."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def plain(value: Any) -> Any:
    """A plain copy of engine properties: proxies unwrapped, unknowns as `UNKNOWN`, secrets revealed."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if _is_unknown(value) else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                item = UNKNOWN
            out[key] = plain(item)
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items: list[Any] = []
        for i in range(len(value)):
            try:
                item = value[i]
            except UnknownValueError:
                item = UNKNOWN
            items.append(plain(item))
        return items
    return value


def known(value: Any) -> bool:
    return value is not None and value is not UNKNOWN


def get(data: Any, *path: str | int) -> Any:
    """`data[p0][p1]...`, or None when a step is absent; `UNKNOWN` when a step is unknown."""
    for step in path:
        if data is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return None
            data = data[step]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(step)
    return data


def as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def decode_json(value: Any) -> Any:
    """Provider objects reach the engine as JSON strings (`defaultTags`, `assumeRoles`): decode them."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


#: Provider settings whose keys are the user's own (tag keys, label keys): decoded, keys kept verbatim.
_VERBATIM_SETTINGS = frozenset({"tags", "labels", "defaultLabels"})
#: Provider settings kept exactly as given (a kubeconfig is a document of its own, read by its reader).
_RAW_SETTINGS = frozenset({"kubeconfig"})


def provider_settings(value: Any) -> Any:
    """Provider settings in one spelling: JSON strings decoded, snake_case keys as camelCase.

    Typed args reach the engine as camelCase JSON (`[{"roleArn": ...}]`), plain dicts keep the
    caller's keys (`[{"role_arn": ...}]`), stack config holds JSON strings: all read the same here.
    """
    value = decode_json(value)
    if isinstance(value, dict):
        settings: dict[str, Any] = {}
        for k, v in value.items():
            key = _camel(str(k))
            if key in _RAW_SETTINGS:
                settings[key] = v
            else:
                settings[key] = decode_json(v) if key in _VERBATIM_SETTINGS else provider_settings(v)
        return settings
    if isinstance(value, list):
        return [provider_settings(v) for v in value]
    return value


def cannot_verify(what: str, why: str) -> str:
    """The message of a fail-closed finding: the rule met a value it cannot interpret."""
    return f"cannot verify {what}: {why}"


def stack_of(urn: str) -> str:
    """The stack of a URN `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    parts = urn.split("::", 1)[0].split(":")
    return parts[2] if len(parts) >= 3 else ""


def package_of(type_: str) -> str:
    return type_.split(":", 1)[0]


def is_provider_type(type_: str) -> bool:
    return type_.startswith("pulumi:providers:")


# --- the registry context ------------------------------------------------------------------


@dataclass
class Context:
    """The registry the rules judge against, plus the account ids known for unpinned cells."""

    registry: Registry
    #: cell name -> AWS account id; pinned ids always, the rest when known (offline: the mocks' ids).
    account_ids: dict[str, str] = field(default_factory=dict)
    #: The stack's config (`aws:region` -> value). Offline the plan passes it; None reads what the
    #: engine hands the pack (the `PULUMI_CONFIG` environment of the analyzer), so both agree.
    stack_config: Mapping[str, Any] | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    _provider_views: dict[int, tuple[Any, Provider | None]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for cell in self.registry.aws_cells:
            if cell.account_id:
                self.account_ids.setdefault(cell.name, cell.account_id)

    def cell(self, stack: str) -> AwsCell | GcpCell | None:
        """The cell a stack builds, or None for the management stack and unknown stacks."""
        key = ("cell", stack)
        if key not in self._cache:
            name = stack.removeprefix(CELL_PREFIX) if stack.startswith(CELL_PREFIX) else None
            self._cache[key] = next((c for c in self.registry.cells if c.name == name), None)
        return self._cache[key]  # type: ignore[no-any-return]

    def config(self) -> Mapping[str, Any]:
        """The stack's config, `package:key` -> value."""
        if self.stack_config is None:
            from pulumi.runtime.config import get_config_env

            self.stack_config = dict(get_config_env())
        return self.stack_config

    def default_provider_settings(self, package: str) -> dict[str, Any]:
        """What a default provider of `package` is configured with: the stack config's `package:*` keys."""
        key = ("defaults", package)
        if key not in self._cache:
            prefix = f"{package}:"
            settings = {k[len(prefix) :]: v for k, v in self.config().items() if k.startswith(prefix)}
            self._cache[key] = provider_settings(settings)
        return self._cache[key]  # type: ignore[no-any-return]

    def default_providers_disabled(self, package: str) -> bool:
        """Whether the stack config disables default providers of `package` (`pulumi:disable-default-providers`)."""
        disabled = decode_json(self.config().get("pulumi:disable-default-providers"))
        return isinstance(disabled, list) and ("*" in disabled or package in disabled)

    def target(self, provider: Provider) -> Target:
        """Where `provider` points (`policies.targets.Target`), read once per provider."""
        key = ("target", provider.type, provider.urn, json.dumps(provider.props, sort_keys=True, default=repr))
        if key not in self._cache:
            from policies.targets import target

            self._cache[key] = target(provider)
        return self._cache[key]  # type: ignore[no-any-return]

    def account_id(self, cell: AwsCell | GcpCell) -> str | None:
        return self.account_ids.get(cell.name) if isinstance(cell, AwsCell) else None

    def organization_accounts(self) -> dict[str, str]:
        """Account id -> what it is, for the organization's own (non-cell) accounts."""
        aws = self.registry.organization.aws
        return {
            aws.management_account_id: "the management account",
            aws.monitoring_account_id: "the monitoring account",
            aws.dns_account_id: "the DNS account",
        }

    def foreign_names(self, stack: str) -> tuple[re.Pattern[str] | None, dict[str, str]]:
        """A pattern matching other cells' account ids, project ids and zones, and what each match is."""
        key = ("foreign", stack)
        if key not in self._cache:
            own = self.cell(stack)
            what: dict[str, str] = {}
            for other in self.registry.cells:
                if own is not None and other.name == own.name:
                    continue
                what[self.registry.zone_name(other)] = f"cell {other.name}'s DNS zone"
                if isinstance(other, GcpCell):
                    what[other.project_id] = f"cell {other.name}'s project id"
                elif (acct := self.account_ids.get(other.name)) is not None:
                    what[acct] = f"cell {other.name}'s account id"
            pattern = None
            if what:
                alternatives = "|".join(re.escape(k) for k in sorted(what, key=len, reverse=True))
                pattern = re.compile(rf"(?<![\w-])({alternatives})(?![\w-])")
            self._cache[key] = (pattern, what)
        return self._cache[key]  # type: ignore[no-any-return]


_current: Context | None = None


def current() -> Context:
    """The context rules judge against: set by the offline plan, else the registry loaded lazily."""
    global _current
    if _current is None:
        _current = Context(load_registry())
    return _current


@contextmanager
def using(
    registry: Registry,
    account_ids: Mapping[str, str] | None = None,
    stack_config: Mapping[str, Any] | None = None,
) -> Iterator[Context]:
    """Judge against `registry` (known account ids, the stack's config) inside the block."""
    global _current
    previous, _current = _current, Context(registry, dict(account_ids or {}), dict(stack_config or {}))
    try:
        yield _current
    finally:
        _current = previous


# --- views of resources -------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """A provider as the rules see it: settings normalized by `provider_settings`, whatever their source."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]

    @property
    def package(self) -> str:
        return self.type.removeprefix("pulumi:providers:")

    @property
    def is_default(self) -> bool:
        return self.name == "default" or self.name.startswith("default_")

    @property
    def role_arns(self) -> list[Any]:
        """Roles an AWS provider assumes (`assumeRoles`, or the older single `assumeRole`); None where unreadable."""
        roles: list[Any] = []
        for key in ("assumeRoles", "assumeRole"):
            value = self.props.get(key)
            roles.extend(value if isinstance(value, list) else as_list(value))
        return [
            r if r is UNKNOWN else get(r, "roleArn") if isinstance(r, dict) and "roleArn" in r else None for r in roles
        ]


def make_provider(type_: str, name: str, urn: str, props: Mapping[str, Any], ctx: Context | None = None) -> Provider:
    """A provider view; a default provider's settings start from the stack config, as the engine does."""
    settings = provider_settings(dict(props))
    provider = Provider(type_, name, urn, settings)
    if ctx is not None and provider.is_default:
        settings = {**ctx.default_provider_settings(provider.package), **settings}
        provider = Provider(type_, name, urn, settings)
    return provider


@dataclass(frozen=True)
class View:
    """One resource as the rules see it: plain props (inputs, or outputs in stack rules)."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    provider: Provider | None
    protect: bool
    #: URNs this resource depends on (stack rules only: the engine gives them there).
    dependencies: frozenset[str] = frozenset()

    def depends_on(self, other: View) -> bool:
        return other.urn in self.dependencies

    @property
    def stack(self) -> str:
        return stack_of(self.urn)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type})"


#: Packages whose resources always run through a provider; without an explicit one, the default one.
PROVIDER_PACKAGES = frozenset({"aws", "gcp", "kubernetes"})


def _provider_view(provider: Any, type_: str, ctx: Context) -> Provider | None:
    """The provider view of a resource; one per provider object (the offline plan shares them between resources)."""
    if provider is None:
        return _new_provider_view(provider, type_, ctx)
    views = ctx._provider_views
    cached = views.get(id(provider))
    if cached is not None and cached[0] is provider:
        return cached[1]
    result = _new_provider_view(provider, type_, ctx)
    if len(views) >= 64:  # bounded: under the engine every resource brings its own provider object
        del views[next(iter(views))]
    views[id(provider)] = (provider, result)
    return result


def _new_provider_view(provider: Any, type_: str, ctx: Context) -> Provider | None:
    if provider is None:
        # The engine names the default provider it uses; the offline engine records none.
        package = package_of(type_)
        if package not in PROVIDER_PACKAGES or is_provider_type(type_):
            return None
        return make_provider(f"pulumi:providers:{package}", "default", "", {}, ctx)
    props = plain(provider.props) if provider.props is not None else {}
    return make_provider(
        provider.resource_type, provider.name, provider.urn, props if isinstance(props, dict) else {}, ctx
    )


def _dependencies(args: Any) -> frozenset[str]:
    urns = {d.urn for d in getattr(args, "dependencies", None) or []}
    for deps in (getattr(args, "property_dependencies", None) or {}).values():
        urns.update(d.urn for d in deps)
    return frozenset(urns)


def view(args: ResourceValidationArgs | PolicyResource) -> View:
    """A plain view of the resource, computed once per args object (the offline plan reuses args)."""
    cached = getattr(args, "_honeycomb_view", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    props = plain(args.props)
    result = View(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        props=props if isinstance(props, dict) else {},
        provider=_provider_view(args.provider, args.resource_type, current()),
        protect=bool(args.opts.protect) if args.opts is not None else False,
        dependencies=_dependencies(args),
    )
    with contextlib.suppress(AttributeError):
        args._honeycomb_view = result  # type: ignore[union-attr]
    return result


# --- taggability from the SDK schema --------------------------------------------------------

_SDK_MODULES = {"aws": "pulumi_aws", "gcp": "pulumi_gcp"}


@functools.cache
def _resource_classes(package: str) -> dict[str, tuple[str, str]]:
    """type token -> (module, class) from the SDK's own resource-module table (no submodule imports)."""
    module = _SDK_MODULES.get(package)
    spec = importlib.util.find_spec(module) if module else None
    if spec is None or spec.origin is None:
        return {}
    with open(spec.origin, encoding="utf-8") as fh:
        source = fh.read()
    found = re.search(r'resource_modules="""(.*?)"""', source, re.S)
    if found is None:
        return {}
    table: dict[str, tuple[str, str]] = {}
    for entry in json.loads(found.group(1)):
        for token, cls in entry["classes"].items():
            table[token] = (entry["fqn"], cls)
    return table


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@functools.cache
def tag_field(type_: str) -> str | None:
    """The input that carries a resource's tags (AWS) or labels (GCP), or None when it has none.

    Decided from the SDK's schema, not a hand list: an AWS resource is taggable when it has the
    `tags_all` output that provider default tags feed, a GCP resource when it has the
    `pulumi_labels` output that provider default labels feed.
    """
    package = package_of(type_)
    where = _resource_classes(package).get(type_)
    if where is None:
        return None
    try:
        cls = getattr(importlib.import_module(where[0]), where[1])
    except (ImportError, AttributeError):
        return None
    params = inspect.signature(cls._internal_init).parameters
    if package == "aws":
        return "tags" if hasattr(cls, "tags_all") and "tags" in params else None
    if hasattr(cls, "pulumi_labels"):
        return next((_camel(p) for p in ("labels", "resource_labels", "user_labels") if p in params), None)
    return None


# --- building rules -----------------------------------------------------------------------

ResourceCheck = Callable[[View, Context, Callable[[str], None]], None]
StackCheck = Callable[[list[View], Context, ReportViolation], None]


def resource_rule(
    name: str, description: str, level: EnforcementLevel, types: Sequence[str] | None = None
) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    """Make a `ResourceValidationPolicy` from a check on a plain `View`.

    `types` limits the rule to those type tokens (cheap to skip); unknown values reaching a
    check are treated as absent, so a rule never fails a preview for what it cannot know yet.
    """
    wanted = frozenset(types) if types else None

    def deco(check: ResourceCheck) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if wanted is not None and args.resource_type not in wanted:
                return
            try:
                check(view(args), current(), lambda message: report_violation(message, None))
            except UnknownValueError:
                return

        validate.__doc__ = check.__doc__
        return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)

    return deco


def stack_rule(name: str, description: str, level: EnforcementLevel) -> Callable[[StackCheck], StackValidationPolicy]:
    """Make a `StackValidationPolicy` from a check on the stack's resources (plain views of outputs)."""

    def deco(check: StackCheck) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            try:
                check([view(r) for r in args.resources], current(), report_violation)
            except UnknownValueError:
                return

        validate.__doc__ = check.__doc__
        return StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)

    return deco


def arn_account(arn: Any) -> str | None:
    """The account of an ARN (`arn:aws:iam::123456789012:role/x`), None when unknown or not an ARN."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" and parts[4] else None
