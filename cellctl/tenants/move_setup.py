"""The real dependencies of a move, wired in one place: what `cellctl tenants move` and batches of moves run.

`make_mover` gives a `TenantMover` (a `cellctl.tenants.moves.Mover`) whose routes are AWS
(`aws_routes`, per tenant: each move opens its own session on the routing role), whose lifecycle
is `cellctl.lifecycle.LifecycleRunner`, whose health gate is the rollout's (`make_health`), and
whose waits go through `clock`. Any of them can be passed in instead (tests, the benchmark).

The router store's ARN is `store_arn` when given (`--store-arn`), else the routing stack's
output, read through the Automation API (`routing_store_arn`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellctl.tenants.move import MoveDeps, MoveInputError, Record, Routes, TenantMover

if TYPE_CHECKING:
    from cellctl.rollout.clock import Clock
    from cellctl.rollout.health import HealthGate
    from cellctl.tenants.aws_routes import AwsRoutes
    from cellctl.tenants.move import Lifecycle
    from cells import Registry

ROUTING_STACK = "routing"
#: The routing role is assumed once under `honeycomb-move-preflight` before any move starts.
PREFLIGHT_SESSION = "preflight"


class StackOutputs:
    """A stack's outputs through the Automation API, the runner made on first need (no CLI call before)."""

    def __init__(self, project: Path, registry_dir: Path | None) -> None:
        self.project = project
        self.registry_dir = registry_dir

    def outputs(self, stack: str) -> dict[str, Any]:
        from cellctl.rollout.runner import AutomationRunner, make_command
        from cells.loader import REGISTRY_ENV

        env = {REGISTRY_ENV: str(self.registry_dir.resolve())} if self.registry_dir is not None else {}
        runner = AutomationRunner(self.project, home=self.project, command=make_command(), env=env)
        return runner.outputs(stack)


def routing_store_arn(stacks: StackOutputs) -> str:
    """The router store's ARN from the routing stack's outputs (`stack.outputs()` through the Automation API)."""
    from cellctl.tenants.aws_routes import store_arn_from_outputs

    try:
        outputs = stacks.outputs(ROUTING_STACK)
    except Exception as exc:  # the CLI missing, no backend login: the same advice either way
        raise MoveInputError(
            f"cannot read the outputs of stack {ROUTING_STACK!r} for the router store's ARN ({exc}); log in to the "
            "stacks' backend, or pass --store-arn"
        ) from None
    arn = store_arn_from_outputs(outputs)
    if arn is None:
        raise MoveInputError(
            f"stack {ROUTING_STACK!r} has no router store ARN among its outputs "
            f"({', '.join(sorted(outputs)) or 'none'}): run `pulumi up --stack routing` first, or pass --store-arn"
        )
    return arn


class _PerTenantRoutes:
    """AWS routes opened for each tenant on first use (a session per move, named after the tenant).

    Each session's credentials refresh themselves before they expire (`aws_routes`), so a move
    that outlasts the role's hour (a long mirror, a slow INSYNC) keeps its session.
    """

    def __init__(self, factory: Callable[[str], AwsRoutes]) -> None:
        self.factory = factory
        self.opened: dict[str, AwsRoutes] = {}

    def _for(self, tenant: str) -> AwsRoutes:
        if tenant not in self.opened:
            self.opened[tenant] = self.factory(tenant)
        return self.opened[tenant]

    def get_key(self, key: str) -> tuple[str | None, str]:
        return self._for(key).get_key(key)

    def put_key(self, key: str, value: str, if_match: str) -> str:
        return self._for(key).put_key(key, value, if_match)

    def get_record(self, name: str) -> Record | None:
        return self._for(name.split(".", 1)[0]).get_record(name)

    def replace_record(self, name: str, expected: Record, new: Record) -> None:
        self._for(name.split(".", 1)[0]).replace_record(name, expected, new)


def make_mover(
    registry: Registry,
    project: Path,
    *,
    registry_dir: Path | None = None,
    clock: Clock | None = None,
    store_arn: str | None = None,
    grace_seconds: float = 3600.0,
    wait_grace: bool = True,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    routes: Routes | None = None,
    lifecycle: Lifecycle | None = None,
    health: HealthGate | None = None,
    clouds: set[str] | None = None,
) -> TenantMover:
    """A mover that runs one move end to end; thread-safe across tenants (batches call it from workers).

    `clouds`: the destinations' clouds whose health gate needs credentials (default: every cloud
    with cells); missing credentials are a `MoveInputError` here, before any move starts.
    """
    from cellctl.rollout.clock import RealClock

    clock = clock or RealClock()
    if routes is None:
        from cellctl.tenants.aws_routes import aws_routes

        arn = store_arn or routing_store_arn(StackOutputs(project, registry_dir))
        routes = _PerTenantRoutes(lambda tenant: aws_routes(registry, tenant, arn, clock))
        _can_assume(lambda: aws_routes(registry, PREFLIGHT_SESSION, arn, clock))
    if lifecycle is None:
        from cellctl.lifecycle import LifecycleRunner

        lifecycle = LifecycleRunner(registry, project, clock)
    if health is None:
        health = _health(registry, project, registry_dir, clouds or {c.cloud for c in registry.cells})
    extra: dict[str, Any] = {"progress": progress} if progress is not None else {}
    deps = MoveDeps(
        routes=routes,
        lifecycle=lifecycle,  # type: ignore[arg-type,unused-ignore]
        health=health,
        clock=clock,
        home=project,
        registry_dir=registry_dir,
        grace_seconds=grace_seconds,
        wait_grace=wait_grace,
        **extra,
    )
    return TenantMover(deps, force=force)


def _can_assume(open_routes: Callable[[], object]) -> None:
    """A routing role these credentials may not assume is bad input, before any journal is written."""
    from cellctl.tenants.move import MoveError

    try:
        open_routes()
    except MoveError as exc:
        raise MoveInputError(f"{exc}. Sign in as CI or an operator the routing role trusts") from None


def _health(registry: Registry, project: Path, registry_dir: Path | None, clouds: set[str]) -> HealthGate:
    """The rollout's bake gate for `clouds` (missing credentials are bad input)."""
    from cellctl.rollout.health import HealthError
    from cellctl.rollout_cmds import make_health

    try:
        return make_health(registry, StackOutputs(project, registry_dir), clouds)  # type: ignore[arg-type]
    except HealthError as exc:
        raise MoveInputError(str(exc)) from None
