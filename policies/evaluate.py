"""Evaluate the pack's rules without the Pulumi engine, the way the engine would.

Each recorded resource becomes a real `ResourceValidationArgs` (inputs, options, the provider
resource with its inputs) and the whole stack a `StackValidationArgs` (outputs, parents,
dependencies), and every rule's own `validate` runs with a `report_violation` callback. Levels
follow each rule, overridden by a pack config in the format of `--policy-pack-config`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from pulumi.runtime import rpc
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from cells import Registry
from policies.base import using


class Record(Protocol):
    """A resource as recorded by the offline engine (`cellctl.offline.PlannedResource`)."""

    @property
    def type(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def urn(self) -> str: ...

    @property
    def inputs(self) -> dict[str, Any]: ...

    @property
    def outputs(self) -> dict[str, Any]: ...

    @property
    def parent(self) -> str | None: ...

    @property
    def provider(self) -> str | None: ...

    @property
    def protect(self) -> bool: ...

    @property
    def custom(self) -> bool: ...

    @property
    def ignore_changes(self) -> tuple[str, ...]: ...

    @property
    def depends_on(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Finding:
    policy: str
    level: str
    urn: str | None
    message: str
    name: str | None = None
    type: str | None = None
    #: "policy" for the pack's rules, "cloud" for the clouds' own rules (`policies.cloud`).
    layer: str = "policy"

    @property
    def mandatory(self) -> bool:
        return self.level == EnforcementLevel.MANDATORY.value

    @property
    def blocking(self) -> bool:
        """A finding that fails the plan: a mandatory rule or a cloud error."""
        return self.level in (EnforcementLevel.MANDATORY.value, "error")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class PolicyConfigError(ValueError):
    pass


def _level(value: Any, where: str) -> EnforcementLevel:
    if isinstance(value, Mapping):
        value = value.get("enforcementLevel")
        if value is None:
            raise PolicyConfigError(f"{where}: an object needs an 'enforcementLevel'")
    try:
        return EnforcementLevel(value)
    except ValueError:
        levels = ", ".join(level.value for level in EnforcementLevel)
        raise PolicyConfigError(f"{where}: {value!r} is not an enforcement level ({levels})") from None


def enforcement_levels(
    policies: Sequence[Policy], config: Mapping[str, Any] | None = None
) -> dict[str, EnforcementLevel]:
    """Each rule's level: its own, then the config's `all`, then the config's entry for it (as Pulumi does)."""
    config = dict(config or {})
    names = {p.name for p in policies}
    unknown = sorted(set(config) - names - {"all"})
    if unknown:
        raise PolicyConfigError(
            f"policy config names unknown rules {', '.join(unknown)}; the rules are {', '.join(sorted(names))}"
        )
    levels = {p.name: p.enforcement_level or EnforcementLevel.ADVISORY for p in policies}
    if "all" in config:
        levels = dict.fromkeys(levels, _level(config["all"], "all"))
    for name, value in config.items():
        if name != "all":
            levels[name] = _level(value, name)
    return levels


def _options(record: Record) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=record.protect,
        ignore_changes=list(record.ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=record.parent,
    )


#: How the Pulumi wire format marks a secret: {SIG: SECRET, "value": ...}.
_SIG, _SECRET = rpc._special_sig_key, rpc._special_secret_sig


def reveal(value: Any) -> Any:
    """Secrets unwrapped, as the engine hands properties to a policy pack."""
    if isinstance(value, dict):
        if value.get(_SIG) == _SECRET:
            return reveal(value.get("value"))
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def _run(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.run(_awaited(result))


async def _awaited(result: Any) -> None:
    await result


def evaluate(
    records: Iterable[Record],
    *,
    registry: Registry | None = None,
    account_ids: Mapping[str, str] | None = None,
    policies: Sequence[Policy] | None = None,
    config: Mapping[str, Any] | None = None,
    stack_config: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Run every rule on a stack's recorded resources; findings in rule order, then resource order.

    `stack_config` is the stack's config (`aws:region` -> value), which default providers read;
    the engine hands the pack the same config.
    """
    from policies import POLICIES

    policies = list(POLICIES if policies is None else policies)
    levels = enforcement_levels(policies, config)
    records = list(records)
    by_urn = {r.urn: r for r in records}
    providers: dict[str, PolicyProviderResource] = {}
    for r in records:
        if r.provider and r.provider in by_urn and r.provider not in providers:
            p = by_urn[r.provider]
            providers[r.provider] = PolicyProviderResource(p.type, reveal(p.inputs), p.urn, p.name)

    # One args object per resource, shared by every rule (as cheap as the engine's per-rule copies).
    resource_args = [
        ResourceValidationArgs(r.type, reveal(r.inputs), r.urn, r.name, _options(r), providers.get(r.provider or ""))
        for r in records
    ]
    stack_resources = {
        r.urn: PolicyResource(
            r.type, reveal(r.outputs), r.urn, r.name, _options(r), providers.get(r.provider or ""), None, [], {}
        )
        for r in records
    }
    for r in records:
        node = stack_resources[r.urn]
        node.parent = stack_resources.get(r.parent or "")
        node.dependencies = [stack_resources[d] for d in r.depends_on if d in stack_resources]

    findings: list[Finding] = []

    def reporter(policy: Policy, level: EnforcementLevel, default_urn: str | None) -> Any:
        def report_violation(message: str, urn: str | None = None) -> None:
            target = default_urn or urn
            record = by_urn.get(target or "")
            findings.append(
                Finding(
                    policy=policy.name,
                    level=level.value,
                    urn=target,
                    message=message or policy.description,
                    name=record.name if record else None,
                    type=record.type if record else None,
                )
            )

        return report_violation

    with using(registry, account_ids, stack_config) if registry is not None else nullcontext():
        for policy in policies:
            level = levels[policy.name]
            if level == EnforcementLevel.DISABLED:
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            if isinstance(policy, ResourceValidationPolicy):
                for args in resource_args:
                    _run(policy.validate(args, reporter(policy, level, args.urn)))
            elif isinstance(policy, StackValidationPolicy) and records:
                stack_args = StackValidationArgs(list(stack_resources.values()))
                _run(policy.validate(stack_args, reporter(policy, level, None)))
    return findings
