"""Rebalancing plans: within limits after the moves, safe midway, pins and residency kept, honest when infeasible."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellctl.tenants.cover import cover
from cellctl.tenants.model import Cell, Tenant
from cellctl.tenants.rebalance import Move, Plan, apply, rebalance


def cell(name: str, tenants: int = 10, requests: int = 1000, *, region: str = "us-east-1", **kw: object) -> Cell:
    fields: dict[str, object] = {"environment": "prod", "cloud": "aws", "headroom_percent": 0, **kw}
    return Cell(name, region=region, max_tenants=tenants, max_daily_requests=requests, **fields)  # type: ignore[arg-type]


def loads(tenants: Sequence[Tenant], where: dict[str, str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for t in tenants:
        entry = out.setdefault(where[t.id], [0, 0])
        entry[0] += 1
        entry[1] += t.requests
    return out


def within(cells: Sequence[Cell], load: dict[str, list[int]]) -> bool:
    return all(
        load.get(c.name, [0, 0])[0] <= c.tenant_limit and load.get(c.name, [0, 0])[1] <= c.request_limit for c in cells
    )


def check_plan(plan: Plan, tenants: Sequence[Tenant], cells: Sequence[Cell]) -> None:
    """Replay the plan move by move: every invariant the plan promises."""
    by_id = {t.id: t for t in tenants}
    by_name = {c.name: c for c in cells}
    where = {t.id: t.cell or "" for t in tenants}
    load = loads(tenants, where)
    moved: set[str] = set()
    for move in plan.moves:
        tenant = by_id[move.tenant]
        assert where[tenant.id] == move.source
        assert not tenant.pinned, f"pinned {tenant.id} moved"
        assert tenant.id not in moved, f"{tenant.id} moved twice"
        assert move.requests == tenant.requests
        assert tenant.allows(by_name[move.destination]), f"{tenant.id} moved where its residency forbids"
        moved.add(tenant.id)
        where[tenant.id] = move.destination
        load.setdefault(move.source, [0, 0])
        load[move.source][0] -= 1
        load[move.source][1] -= tenant.requests
        dest = load.setdefault(move.destination, [0, 0])
        dest[0] += 1
        dest[1] += tenant.requests
        spec = by_name[move.destination]
        assert dest[0] <= spec.tenant_limit and dest[1] <= spec.request_limit, f"{move} overfills midway"
    assert within(cells, load), "a cell is over its limits after a feasible plan"
    for t in tenants:
        assert t.allows(by_name[where[t.id]]), f"{t.id} ends where its residency forbids"
    assert plan.moved_requests >= plan.lower_bound


def orderable(moves: list[Move], tenants: Sequence[Tenant], cells: Sequence[Cell]) -> bool:
    """Brute force: some order of the moves keeps every destination within its limits after each move."""
    limits = {c.name: (c.tenant_limit, c.request_limit) for c in cells}
    start = loads(tenants, {t.id: t.cell or "" for t in tenants})
    seen: set[frozenset[int]] = set()
    frontier = [frozenset[int]()]
    while frontier:
        done = frontier.pop()
        if len(done) == len(moves):
            return True
        load = {name: list(start.get(name, [0, 0])) for name in limits}
        for i in done:
            m = moves[i]
            load[m.source][0] -= 1
            load[m.source][1] -= m.requests
            load[m.destination][0] += 1
            load[m.destination][1] += m.requests
        for i, m in enumerate(moves):
            if i in done:
                continue
            t, r = load[m.destination]
            if t + 1 <= limits[m.destination][0] and r + m.requests <= limits[m.destination][1]:
                nxt = done | {i}
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
    return False


def brute_force(tenants: Sequence[Tenant], cells: Sequence[Cell]) -> int | None:
    """The least load any feasible, safely ordered plan moves, or `None` when there is none."""
    by_name = {c.name: c for c in cells}
    options = [
        [t.cell] if t.pinned else [c.name for c in cells if t.allows(c)] for t in tenants
    ]  # a pinned tenant stays, even where it should not be
    best: int | None = None
    for choice in itertools.product(*options):
        where = {t.id: str(c) for t, c in zip(tenants, choice, strict=True)}
        if not within(cells, loads(tenants, where)):
            continue
        if any(not t.allows(by_name[where[t.id]]) for t in tenants):
            continue
        moves = [Move(t.id, t.cell or "", where[t.id], t.requests) for t in tenants if where[t.id] != t.cell]
        cost = sum(m.requests for m in moves)
        if (best is None or cost < best) and orderable(moves, tenants, cells):
            best = cost
    return best


# --- examples -----------------------------------------------------------------------------------


def test_several_small_tenants_leave_rather_than_one_large() -> None:
    cells = [cell("a", requests=1000), cell("b", requests=1000)]
    tenants = [Tenant("big", 700, "a"), Tenant("s1", 150, "a"), Tenant("s2", 140, "a"), Tenant("s3", 110, "a")]
    plan = rebalance(tenants, cells)  # a holds 1100: 100 over
    assert plan.feasible
    assert {m.tenant for m in plan.moves} == {"s3"}
    assert plan.moved_requests == 110
    assert plan.lower_bound == 100
    check_plan(plan, tenants, cells)


def test_tenant_limit_moves_the_lightest_tenants() -> None:
    cells = [cell("a", tenants=3), cell("b")]
    tenants = [Tenant(f"t{i}", 10 * (i + 1), "a") for i in range(5)]
    plan = rebalance(tenants, cells)
    assert {m.tenant for m in plan.moves} == {"t0", "t1"}
    assert plan.lower_bound == 30 and plan.lower_bound_tenants == 2
    check_plan(plan, tenants, cells)


def test_a_chain_makes_room_when_the_only_allowed_cell_is_full() -> None:
    # x must leave a; only b (aws) allows it, and b is full; b's tenant y can go on to c (gcp).
    cells = [cell("a", requests=100), cell("b", requests=100), cell("c", requests=100, cloud="gcp")]
    tenants = [
        Tenant("x", 60, "a", clouds=frozenset({"aws"})),
        Tenant("w", 50, "a", pinned=True),
        Tenant("y", 70, "b"),
        Tenant("z", 30, "b", pinned=True),
        Tenant("filler", 20, "c"),
    ]
    plan = rebalance(tenants, cells)
    assert plan.feasible
    assert [(m.tenant, m.destination) for m in plan.moves] == [("y", "c"), ("x", "b")]
    check_plan(plan, tenants, cells)


def test_the_source_keeps_a_tenant_with_nowhere_to_go_and_sheds_others() -> None:
    cells = [cell("a", requests=100), cell("b", requests=100, region="eu-west-1")]
    tenants = [
        Tenant("local", 20, "a", regions=frozenset({"us-east-1"})),  # the lightest, but cannot leave
        Tenant("m1", 40, "a"),
        Tenant("m2", 50, "a"),
    ]
    plan = rebalance(tenants, cells)  # 110 of 100
    assert plan.feasible
    assert [m.tenant for m in plan.moves] == ["m1"]
    check_plan(plan, tenants, cells)


def test_misplaced_tenant_moves_even_when_every_cell_is_within_limits() -> None:
    cells = [cell("us"), cell("eu", region="eu-west-1")]
    tenants = [Tenant("gdpr", 10, "us", regions=frozenset({"eu-west-1"}))]
    plan = rebalance(tenants, cells)
    assert plan.moves[0].destination == "eu"
    assert plan.lower_bound == 10


def test_pinned_load_over_the_limit_is_reported_with_cell_and_constraint() -> None:
    cells = [cell("a", tenants=2), cell("b")]
    tenants = [Tenant(f"p{i}", 1, "a", pinned=True) for i in range(3)]
    plan = rebalance(tenants, cells)
    assert not plan.feasible and plan.proven
    assert plan.problems[0].cell == "a" and plan.problems[0].constraint == "tenants"
    assert "pinned" in plan.problems[0].message and "3 tenants" in plan.problems[0].message


def test_residency_group_that_cannot_fit_its_cells_is_reported() -> None:
    cells = [cell("eu1", requests=100, region="eu-west-1"), cell("us1", requests=1000)]
    tenants = [Tenant(f"eu{i}", 60, "eu1" if i < 2 else "us1", regions=frozenset({"eu-west-1"})) for i in range(2)]
    plan = rebalance(tenants, cells)
    assert not plan.feasible and plan.proven
    problem = plan.problems[0]
    assert problem.constraint == "daily requests" and "eu1" in problem.message and "120" in problem.message


def test_headroom_is_the_target_not_the_hard_limit() -> None:
    cells = [cell("a", requests=1000, headroom_percent=20), cell("b", requests=1000, headroom_percent=20)]
    tenants = [Tenant(f"t{i}", 100, "a") for i in range(9)]  # 900: under 1000, over 800
    plan = rebalance(tenants, cells)
    assert plan.over_limit == ("a",)
    assert plan.moved_requests == 100
    check_plan(plan, tenants, cells)


def test_nothing_over_means_no_moves() -> None:
    cells = [cell("a"), cell("b")]
    plan = rebalance([Tenant("t", 10, "a")], cells)
    assert plan.feasible and plan.moves == () and plan.lower_bound == 0


def test_apply_refuses_a_move_from_the_wrong_cell() -> None:
    with pytest.raises(ValueError, match="lives in a"):
        apply([Tenant("t", 1, "a")], [Move("t", "b", "c", 1)])


# --- cover ------------------------------------------------------------------------------------------


def brute_cover(weights: list[int], count: int, need: int) -> int | None:
    best = None
    for n in range(len(weights) + 1):
        for combo in itertools.combinations(weights, n):
            if n >= count and sum(combo) >= need and (best is None or sum(combo) < best):
                best = sum(combo)
    return best


@given(st.lists(st.integers(0, 100), max_size=9), st.integers(0, 4), st.integers(0, 400))
def test_cover_is_valid_and_close_to_optimal(weights: list[int], count: int, need: int) -> None:
    items = [Tenant(f"t{i}", w) for i, w in enumerate(weights)]
    chosen = cover(items, count, need)
    optimum = brute_cover(weights, count, need)
    if optimum is None:
        assert chosen is None
        return
    assert chosen is not None
    total = sum(t.requests for t in chosen)
    assert len(chosen) >= count and total >= need
    assert len({t.id for t in chosen}) == len(chosen)
    # Never worse than the optimum by more than one item's weight.
    assert total <= optimum + max(weights, default=0)


def test_cover_prefers_one_exact_tenant_to_a_heavier_combination() -> None:
    items = [Tenant("a", 51), Tenant("b", 50), Tenant("c", 30), Tenant("d", 30)]
    chosen = cover(items, 0, 60)
    assert chosen is not None and sorted(t.id for t in chosen) == ["c", "d"]


# --- properties -------------------------------------------------------------------------------------

REGIONS = ("us-east-1", "eu-west-1")


@st.composite
def instances(draw: st.DrawFn, max_cells: int = 3, max_tenants: int = 6) -> tuple[list[Tenant], list[Cell]]:
    n_cells = draw(st.integers(1, max_cells))
    cells = [
        Cell(
            f"c{i}",
            environment=draw(st.sampled_from(("prod", "preprod"))),
            cloud=draw(st.sampled_from(("aws", "gcp"))),
            region=draw(st.sampled_from(REGIONS)),
            max_tenants=draw(st.integers(1, 5)),
            max_daily_requests=draw(st.integers(1, 160)),
            headroom_percent=draw(st.sampled_from((0, 15, 25))),
        )
        for i in range(n_cells)
    ]
    tenants = []
    for i in range(draw(st.integers(0, max_tenants))):
        # Mostly unconstrained, so that most instances have a plan and the constrained ones matter.
        regions = draw(st.none() | st.none() | st.frozensets(st.sampled_from(REGIONS), min_size=1))
        clouds = draw(st.none() | st.none() | st.frozensets(st.sampled_from(("aws", "gcp")), min_size=1))
        environments = draw(st.none() | st.none() | st.just(frozenset({"prod"})))
        tenants.append(
            Tenant(
                f"t{i}",
                draw(st.integers(0, 60)),
                draw(st.sampled_from([c.name for c in cells])),
                regions=regions,
                clouds=clouds,
                environments=environments,
                pinned=draw(st.booleans().map(lambda b: b and draw(st.integers(0, 3)) == 0)),
            )
        )
    return tenants, cells


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_plans_agree_with_brute_force(instance: tuple[list[Tenant], list[Cell]]) -> None:
    tenants, cells = instance
    plan = rebalance(tenants, cells)
    optimum = brute_force(tenants, cells)
    if plan.feasible:
        check_plan(plan, tenants, cells)
        assert optimum is not None
        assert plan.moved_requests >= optimum
    else:
        assert plan.problems, "an infeasible plan says why"
        assert plan.proven, "small instances are decided exactly"
        assert optimum is None, f"the plan claims infeasible, but moving {optimum} requests works"
    if optimum is not None:
        assert plan.feasible
        assert optimum >= plan.lower_bound, "the lower bound is above a real plan"


@st.composite
def larger_instances(draw: st.DrawFn) -> tuple[list[Tenant], list[Cell]]:
    """Enough cells and tenants for the heuristic alone (no exhaustive search)."""
    n_cells = draw(st.integers(3, 12))
    cells = [
        Cell(
            f"c{i:02d}",
            environment="prod",
            cloud=draw(st.sampled_from(("aws", "gcp"))),
            region=draw(st.sampled_from(REGIONS)),
            max_tenants=draw(st.integers(4, 16)),
            max_daily_requests=draw(st.integers(300, 3000)),
            headroom_percent=15,
        )
        for i in range(n_cells)
    ]
    tenants = [
        Tenant(
            f"t{i:03d}",
            draw(st.integers(0, 300)),
            draw(st.sampled_from([c.name for c in cells])),
            regions=draw(st.none() | st.none() | st.frozensets(st.sampled_from(REGIONS), min_size=1)),
            clouds=draw(st.none() | st.none() | st.frozensets(st.sampled_from(("aws", "gcp")), min_size=1)),
            pinned=draw(st.integers(0, 19)) == 0,
        )
        for i in range(draw(st.integers(11, 50)))
    ]
    return tenants, cells


@settings(max_examples=150, deadline=None)
@given(larger_instances())
def test_larger_plans_keep_every_promise(instance: tuple[list[Tenant], list[Cell]]) -> None:
    tenants, cells = instance
    plan = rebalance(tenants, cells)
    if plan.feasible:
        check_plan(plan, tenants, cells)
    else:
        assert plan.problems
        assert all(p.cell in {c.name for c in cells} for p in plan.problems)
