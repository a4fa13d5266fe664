"""Rebalancing: the moves that bring every cell within its limits minus headroom.

The plan moves as little load (daily requests) as it can and respects residency, environment and
pins. It is built in three steps:

1. **Evict.** Each cell over either limit minus headroom chooses the lightest set of movable
   tenants that brings it back on both limits (`cover`, a covering knapsack), so several small
   tenants leave rather than one large one when that moves less.
2. **Place.** The evicted tenants, heaviest first, go to the allowed cell with the least room that
   still fits them (best-fit decreasing), which keeps the large holes for the large tenants.
3. **Repair.** A tenant that fits nowhere makes room: tenants of an allowed cell move on to a
   third cell (a swap or a chain), or its own cell keeps it and sheds others instead.

When that finds no plan it runs again placing the heaviest first, then with worst fit (the
roomiest cell), and a small instance is then searched exhaustively.

Every move is decided against the cells' load at that moment, a tenant counting in its old cell
until its move, so the moves in the order given never take a destination over its limits minus
headroom: stopping a rollout of the plan halfway leaves no cell overfull.

The lower bound is what any plan must move: per cell, the larger of its request overflow and the
lightest tenants it must shed to get under its tenant limit (plus tenants that must leave because
their residency forbids the cell). When no plan is found the plan says why, naming the cell and
the constraint; `proven` says whether that is certain (a pinned load or a group of tenants that
cannot fit the cells allowed to them, or an exhaustive search of a small instance) or whether the
search gave up.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cellctl.tenants.cover import cover
from cellctl.tenants.model import Cell, CellIndex, Tenant

#: An instance this small (movable tenants, assignments) is decided exactly when the heuristic finds no plan.
EXACT_TENANTS = 16
EXACT_ASSIGNMENTS = 200_000
#: How many destinations the repair step tries to make room in, per stuck tenant.
REPAIR_CANDIDATES = 24


@dataclass(frozen=True)
class Strategy:
    """How evicted tenants are placed: the most constrained first or the heaviest first; best or worst fit."""

    constrained_first: bool = True
    worst_fit: bool = False


#: Tried in order until one finds a plan: the first almost always does; the others pack differently.
STRATEGIES = (Strategy(), Strategy(constrained_first=False), Strategy(worst_fit=True))


@dataclass(frozen=True)
class Move:
    tenant: str
    source: str
    destination: str
    requests: int

    def to_dict(self) -> dict[str, object]:
        return {"tenant": self.tenant, "from": self.source, "to": self.destination, "requests": self.requests}


@dataclass(frozen=True)
class Problem:
    """Why no plan exists (or none was found): the cell, the constraint and a sentence."""

    cell: str
    constraint: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"cell": self.cell, "constraint": self.constraint, "message": self.message}


@dataclass(frozen=True)
class Plan:
    feasible: bool
    #: In an order that never takes a destination over its limits minus headroom.
    moves: tuple[Move, ...]
    #: Daily requests and tenants any plan must move (see the module docstring).
    lower_bound: int
    lower_bound_tenants: int
    #: Cells over either limit minus headroom before the plan.
    over_limit: tuple[str, ...]
    problems: tuple[Problem, ...] = ()
    #: For an infeasible plan: whether no plan can exist (True) or the search found none (False).
    proven: bool = True

    @property
    def moved_requests(self) -> int:
        return sum(m.requests for m in self.moves)

    @property
    def moved_tenants(self) -> int:
        return len(self.moves)

    def to_dict(self) -> dict[str, object]:
        return {
            "feasible": self.feasible,
            "proven": self.proven,
            "over_limit": list(self.over_limit),
            "moved_requests": self.moved_requests,
            "moved_tenants": self.moved_tenants,
            "lower_bound_requests": self.lower_bound,
            "lower_bound_tenants": self.lower_bound_tenants,
            "moves": [m.to_dict() for m in self.moves],
            "problems": [p.to_dict() for p in self.problems],
        }


def rebalance(tenants: Iterable[Tenant], cells: Iterable[Cell]) -> Plan:
    """The moves that bring every cell within its limits minus headroom (see the module docstring)."""
    return _Rebalancer(list(tenants), list(cells)).plan()


def apply(tenants: Iterable[Tenant], moves: Iterable[Move]) -> dict[str, str]:
    """Where each tenant lives after the moves (tenant id to cell)."""
    where = {t.id: t.cell or "" for t in tenants}
    for move in moves:
        if where.get(move.tenant) != move.source:
            raise ValueError(f"move of {move.tenant} from {move.source}: it lives in {where.get(move.tenant)}")
        where[move.tenant] = move.destination
    return where


@dataclass
class _Cell:
    """A cell's limits and what it holds now (a tenant counts here until its move is made)."""

    spec: Cell
    tenants: int = 0
    requests: int = 0
    members: dict[str, Tenant] = field(default_factory=dict)

    @property
    def free_tenants(self) -> int:
        return self.spec.tenant_limit - self.tenants

    @property
    def free_requests(self) -> int:
        return self.spec.request_limit - self.requests

    def fits(self, tenant: Tenant) -> bool:
        return self.free_tenants >= 1 and self.free_requests >= tenant.requests

    @property
    def over(self) -> bool:
        return self.free_tenants < 0 or self.free_requests < 0


class _Rebalancer:
    def __init__(self, tenants: list[Tenant], cells: list[Cell], strategy: Strategy | None = None):
        self.strategy = strategy or STRATEGIES[0]
        self.index = CellIndex(cells)
        self.cells = {c.name: _Cell(c) for c in cells}
        self.tenants: dict[str, Tenant] = {}
        for tenant in tenants:
            if tenant.id in self.tenants:
                raise ValueError(f"tenant {tenant.id!r} is given twice")
            if tenant.cell not in self.cells:
                raise ValueError(f"tenant {tenant.id!r} lives in {tenant.cell!r}, which is not a cell")
            self.tenants[tenant.id] = tenant
            self._enter(tenant, tenant.cell)
        self.where = {t.id: t.cell or "" for t in tenants}
        self.original = dict(self.where)
        self.moves: list[Move] = []
        # Cells with at least one free tenant slot, by class, as sorted (free requests, name): best fit by bisection.
        self.class_of = {name: (c.environment, c.cloud, c.region) for name, c in self.index.cells.items()}
        self.free: dict[tuple[str, str, str], list[tuple[int, str]]] = {k: [] for k in self.index.classes}
        for name in self.cells:
            self._index_in(name)
        self._classes: dict[object, list[tuple[str, str, str]]] = {}
        self._memo: dict[tuple[str, object], Any] = {}
        #: Tenants chosen to leave their cell whose move is not made yet, per cell.
        self.leaving: dict[str, dict[str, Tenant]] = {name: {} for name in self.cells}
        #: Tenants a cell keeps after they could not be placed elsewhere.
        self.kept: dict[str, set[str]] = {name: set() for name in self.cells}

    # --- state -------------------------------------------------------------------------------

    def _enter(self, tenant: Tenant, name: str) -> None:
        cell = self.cells[name]
        cell.tenants += 1
        cell.requests += tenant.requests
        cell.members[tenant.id] = tenant

    def _leave(self, tenant: Tenant, name: str) -> None:
        cell = self.cells[name]
        cell.tenants -= 1
        cell.requests -= tenant.requests
        del cell.members[tenant.id]

    def _key(self, name: str) -> tuple[int, str] | None:
        cell = self.cells[name]
        return (cell.free_requests, name) if cell.free_tenants >= 1 and cell.free_requests >= 0 else None

    def _index_out(self, name: str) -> None:
        key = self._key(name)
        if key is not None:
            entries = self.free[self.class_of[name]]
            del entries[bisect.bisect_left(entries, key)]

    def _index_in(self, name: str) -> None:
        key = self._key(name)
        if key is not None:
            bisect.insort(self.free[self.class_of[name]], key)

    def _move(self, tenant: Tenant, destination: str) -> None:
        source = self.where[tenant.id]
        assert self.cells[destination].fits(tenant), "a move must fit its destination"
        for name in (source, destination):
            self._index_out(name)
        self._leave(tenant, source)
        self._enter(tenant, destination)
        for name in (source, destination):
            self._index_in(name)
        self.where[tenant.id] = destination
        self.moves.append(Move(tenant.id, source, destination, tenant.requests))

    def _undo(self, count: int) -> None:
        """Take back the last moves until `count` remain."""
        while len(self.moves) > count:
            move = self.moves.pop()
            tenant = self.tenants[move.tenant]
            for name in (move.source, move.destination):
                self._index_out(name)
            self._leave(tenant, move.destination)
            self._enter(tenant, move.source)
            for name in (move.source, move.destination):
                self._index_in(name)
            self.where[tenant.id] = move.source

    # --- what may move where ---------------------------------------------------------------------

    def allowed(self, tenant: Tenant) -> list[str]:
        return self.index.allowed(tenant)

    def classes(self, tenant: Tenant) -> list[tuple[str, str, str]]:
        key = tenant.constraints
        found = self._classes.get(key)
        if found is None:
            found = sorted({self.class_of[name] for name in self.allowed(tenant)})
            self._classes[key] = found
        return found

    def _largest(self, tenant: Tenant) -> int:
        """The largest request limit among the cells the tenant may live in."""
        key = ("largest", tenant.constraints)
        if key not in self._memo:
            self._memo[key] = max((self.index.cells[n].request_limit for n in self.allowed(tenant)), default=0)
        largest: int = self._memo[key]
        return largest

    def _signature(self, tenant: Tenant) -> frozenset[str]:
        key = ("signature", tenant.constraints)
        if key not in self._memo:
            self._memo[key] = frozenset(self.allowed(tenant))
        signature: frozenset[str] = self._memo[key]
        return signature

    def misplaced(self, tenant: Tenant) -> bool:
        return not tenant.allows(self.index.cells[self.original[tenant.id]])

    def movable(self, tenant: Tenant) -> bool:
        """Not pinned and allowed somewhere else than where it lives."""
        if tenant.pinned:
            return False
        allowed = self.allowed(tenant)
        own = self.original[tenant.id]
        return len(allowed) > 1 or (len(allowed) == 1 and allowed[0] != own)

    def best_fit(self, tenant: Tenant, exclude: Sequence[str]) -> str | None:
        """The allowed cell with the least room that still fits the tenant now (the most, for worst fit)."""
        if self.strategy.worst_fit:
            return self._worst_fit(tenant, exclude)
        best: tuple[int, str] | None = None
        for klass in self.classes(tenant):
            entries = self.free[klass]
            at = bisect.bisect_left(entries, (tenant.requests, ""))
            while at < len(entries) and entries[at][1] in exclude:
                at += 1
            if at < len(entries) and (best is None or entries[at] < best):
                best = entries[at]
        return None if best is None else best[1]

    def _worst_fit(self, tenant: Tenant, exclude: Sequence[str]) -> str | None:
        best: tuple[int, str] | None = None
        for klass in self.classes(tenant):
            entries = self.free[klass]
            at = len(entries) - 1
            while at >= 0 and entries[at][1] in exclude:
                at -= 1
            if at >= 0 and entries[at][0] >= tenant.requests and (best is None or entries[at] > best):
                best = entries[at]
        return None if best is None else best[1]

    # --- the plan ------------------------------------------------------------------------------

    def plan(self) -> Plan:
        over = tuple(sorted(name for name, cell in self.cells.items() if cell.over))
        bound, bound_tenants = self.lower_bound()
        problems = self.certain_problems()
        if problems:
            return Plan(False, (), bound, bound_tenants, over, tuple(problems), proven=True)
        failed = self.heuristic()
        if not failed and not any(cell.over for cell in self.cells.values()):
            return Plan(True, tuple(self.moves), bound, bound_tenants, over)
        for strategy in STRATEGIES[1:]:
            other = _Rebalancer(list(self.tenants.values()), list(self.index.cells.values()), strategy)
            if not other.heuristic() and not any(cell.over for cell in other.cells.values()):
                return Plan(True, tuple(other.moves), bound, bound_tenants, over)
        problems = [self.explain(tenant) for tenant in failed] or [
            Problem(name, "limits", f"{name} stays over its limits minus headroom")
            for name, cell in self.cells.items()
            if cell.over
        ]
        exact = self.exact()
        if exact is None:
            return Plan(False, (), bound, bound_tenants, over, tuple(problems), proven=False)
        if exact is False:
            searched = Problem(
                over[0] if over else problems[0].cell,
                "limits",
                f"an exhaustive search over the {len(self._involved())} tenants that could move finds no arrangement "
                "that keeps every cell within its limits minus headroom: add a cell (`cellctl tenants place` "
                "proposes one), raise a cell's capacity, unpin tenants or relax residency",
            )
            return Plan(False, (), bound, bound_tenants, over, (*problems, searched), proven=True)
        return Plan(True, tuple(exact), bound, bound_tenants, over)

    def lower_bound(self) -> tuple[int, int]:
        """Requests and tenants that must leave: per cell, what its overflow and residency force out."""
        requests = tenants = 0
        for cell in self.cells.values():
            forced = [t for t in cell.members.values() if self.misplaced(t)]
            if not cell.over and not forced:
                continue
            excess_tenants, excess_requests = max(0, -cell.free_tenants), max(0, -cell.free_requests)
            forced_requests = sum(t.requests for t in forced)
            others = sorted(t.requests for t in cell.members.values() if self.movable(t) and not self.misplaced(t))
            lightest = forced_requests + sum(others[: max(0, excess_tenants - len(forced))])
            requests += max(excess_requests, lightest)
            # The fewest tenants whose requests cover the overflow: the heaviest ones.
            fewest, covered = len(forced), forced_requests
            for weight in reversed(others):
                if covered >= excess_requests:
                    break
                fewest, covered = fewest + 1, covered + weight
            tenants += max(excess_tenants, fewest)
        return requests, tenants

    def certain_problems(self) -> list[Problem]:
        """What rules out every plan: pinned or unmovable load over a limit, tenants with nowhere to go."""
        problems: list[Problem] = []
        fixed: dict[str, list[int]] = {name: [0, 0] for name in self.cells}
        groups: dict[frozenset[str], list[int]] = {}
        examples: dict[frozenset[str], Tenant] = {}
        for tenant in self.tenants.values():
            own = self.original[tenant.id]
            allowed = self.allowed(tenant)
            if self.misplaced(tenant) and (tenant.pinned or not allowed):
                reason = "it is pinned" if tenant.pinned else "no cell allows it"
                problems.append(
                    Problem(
                        own,
                        "residency",
                        f"tenant {tenant.id} lives in {own}, which its constraints forbid "
                        f"({tenant.describe_constraints()}), "
                        f"and cannot move: {reason}",
                    )
                )
                continue
            largest = self._largest(tenant)
            if tenant.requests > largest and allowed:
                problems.append(
                    Problem(
                        own,
                        "daily requests",
                        f"tenant {tenant.id} alone needs {tenant.requests:,} daily requests, more than any cell "
                        f"allowed to it ({tenant.describe_constraints()}) holds below its limits minus headroom "
                        f"(at most {largest:,}): it needs a larger cell",
                    )
                )
                continue
            if not self.movable(tenant):
                fixed[own][0] += 1
                fixed[own][1] += tenant.requests
                continue
            key = self._signature(tenant)
            totals = groups.setdefault(key, [0, 0])
            totals[0] += 1
            totals[1] += tenant.requests
            examples.setdefault(key, tenant)
        for name, (count, requests) in fixed.items():
            spec = self.index.cells[name]
            for what, held, limit in (
                ("tenants", count, spec.tenant_limit),
                ("daily requests", requests, spec.request_limit),
            ):
                if held > limit:
                    problems.append(
                        Problem(
                            name,
                            what,
                            f"{name}'s pinned tenants (and those no other cell allows) alone hold {held:,} {what}, "
                            f"over its limit minus headroom of {limit:,}: unpin some or raise its capacity",
                        )
                    )
        if problems:
            return problems
        # Hall's condition: the tenants that may live only in a set of cells must fit into that set.
        for key, tenant in examples.items():
            count = sum(fixed[name][0] for name in key)
            requests = sum(fixed[name][1] for name in key)
            for other, (n, r) in groups.items():
                if other <= key:
                    count += n
                    requests += r
            for what, held, limit in (
                ("tenants", count, sum(self.index.cells[n].tenant_limit for n in key)),
                ("daily requests", requests, sum(self.index.cells[n].request_limit for n in key)),
            ):
                if held > limit:
                    names = sorted(key)
                    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                    problems.append(
                        Problem(
                            names[0],
                            what,
                            f"the {len(names)} cells allowed ({tenant.describe_constraints()}: {shown}) hold at "
                            f"most {limit:,} {what} below their limits minus headroom, and the tenants that may "
                            f"live only there need {held:,}: add a cell there or relax residency",
                        )
                    )
        return problems

    def heuristic(self) -> list[Tenant]:
        """Evict, place, repair; returns the tenants that could not be placed (empty: a plan)."""
        for name, cell in self.cells.items():
            forced = [t for t in cell.members.values() if self.misplaced(t)]
            for tenant in forced:
                self.leaving[name][tenant.id] = tenant
            self.evict(name)
        # The most constrained first (they have the fewest places to go), then the heaviest first.
        queue = sorted((t for leaving in self.leaving.values() for t in leaving.values()), key=self._urgency)
        stuck = [t for t in queue if not self.place(t)]
        failed: list[Tenant] = []
        while stuck:
            tenant = stuck.pop(0)
            source = self.where[tenant.id]
            if tenant.id not in self.leaving[source]:
                continue  # moved while another tenant made room
            if self.place(tenant) or self.make_room(tenant, source):
                continue
            chosen = self.keep(tenant, source)
            if chosen is None:
                failed.append(tenant)
                continue
            stuck += [t for t in sorted(chosen, key=self._urgency) if not self.place(t)]
            stuck.sort(key=self._urgency)
        return failed

    def _urgency(self, tenant: Tenant) -> tuple[int, int, str]:
        constrained = len(self.allowed(tenant)) if self.strategy.constrained_first else 0
        return (constrained, -tenant.requests, tenant.id)

    def evict(self, name: str, exclude: Iterable[str] = ()) -> list[Tenant] | None:
        """Choose the lightest tenants that bring the cell within both limits once they leave."""
        cell = self.cells[name]
        leaving = self.leaving[name]
        excess_tenants = -cell.free_tenants - len(leaving)
        excess_requests = -cell.free_requests - sum(t.requests for t in leaving.values())
        if excess_tenants <= 0 and excess_requests <= 0:
            return []
        skip = {*exclude, *self.kept[name], *leaving}
        candidates = [
            t
            for t in cell.members.values()
            if t.id not in skip and self.movable(t) and self.original[t.id] == name and t.id not in self.moved
        ]
        chosen = cover(candidates, excess_tenants, excess_requests)
        if chosen is not None:
            for tenant in chosen:
                leaving[tenant.id] = tenant
        return chosen

    @property
    def moved(self) -> set[str]:
        return {m.tenant for m in self.moves}

    def place(self, tenant: Tenant) -> bool:
        source = self.where[tenant.id]
        destination = self.best_fit(tenant, (source,))
        if destination is None:
            return False
        self._move(tenant, destination)
        del self.leaving[source][tenant.id]
        return True

    def make_room(self, tenant: Tenant, source: str) -> bool:
        """Move tenants out of an allowed cell to a third cell so that `tenant` fits there.

        A cell that is shedding tenants itself counts those as leaving first, so an over-full cell
        can still take a tenant that may live nowhere else once it sheds enough.
        """
        options = []
        moved = self.moved
        for name in self.allowed(tenant):
            if name == source:
                continue
            cell = self.cells[name]
            leaving = self.leaving[name]
            need_tenants = max(0, 1 + len(leaving) - cell.free_tenants)
            need_requests = max(0, tenant.requests + sum(t.requests for t in leaving.values()) - cell.free_requests)
            options.append((need_requests, need_tenants, name))
        options.sort()
        attempts = []
        for need_requests, need_tenants, name in options[: REPAIR_CANDIDATES * 2]:
            pending = list(self.leaving[name].values())
            candidates = [
                t
                for t in self.cells[name].members.values()
                if t.id not in moved and t.id not in self.leaving[name] and self.movable(t)
            ]
            chosen = cover(
                candidates,
                need_tenants - len(pending),
                need_requests - sum(t.requests for t in pending),
            )
            if chosen is not None:
                attempts.append((sum(t.requests for t in chosen), name, pending + chosen))
        attempts.sort(key=lambda a: (a[0], a[1]))
        for _, name, chosen in attempts[:REPAIR_CANDIDATES]:
            mark = len(self.moves)
            for other in sorted(chosen, key=self._urgency):
                destination = self.best_fit(other, (name, source))
                if destination is None:
                    break
                self._move(other, destination)
            else:
                if self.cells[name].fits(tenant):
                    for other in chosen:
                        self.leaving[name].pop(other.id, None)
                    self._move(tenant, name)
                    del self.leaving[source][tenant.id]
                    return True
            self._undo(mark)
        return False

    def keep(self, tenant: Tenant, source: str) -> list[Tenant] | None:
        """The source keeps `tenant` and chooses others to leave instead (`None`: it cannot)."""
        del self.leaving[source][tenant.id]
        if self.misplaced(tenant):
            self.leaving[source][tenant.id] = tenant
            return None
        self.kept[source].add(tenant.id)
        chosen = self.evict(source)
        if chosen is None:
            self.leaving[source][tenant.id] = tenant
        return chosen

    def explain(self, tenant: Tenant) -> Problem:
        """Why `tenant` could not leave, in the cells' load before the plan."""
        load = self.original_load()
        limits = {name: (c.tenant_limit, c.request_limit) for name, c in self.index.cells.items()}

        def free(name: str) -> tuple[int, int]:
            return limits[name][0] - load[name][0], limits[name][1] - load[name][1]

        source = self.original[tenant.id]
        held, (tenant_limit, request_limit) = load[source], limits[source]
        what = (
            "its residency forbids it"
            if self.misplaced(tenant)
            else f"it is over its limits minus headroom ({held[0]} tenants of {tenant_limit}, "
            f"{held[1]:,} daily requests of {request_limit:,})"
        )
        allowed = [n for n in self.allowed(tenant) if n != source]
        roomiest = max(allowed, key=lambda n: (free(n)[0] > 0, free(n)[1]), default=None)
        room = ""
        constraint = "residency"
        if roomiest is not None:
            slots, requests = free(roomiest)
            room = (
                f"; the most room was in {roomiest}: {max(0, requests):,} daily requests and "
                f"{max(0, slots)} tenant slots"
            )
            constraint = "daily requests" if slots > 0 else "tenants"
        return Problem(
            source,
            constraint,
            f"{source} must shed load because {what}, but tenant {tenant.id} ({tenant.requests:,} daily requests) "
            f"fits none of the {len(allowed)} other cells allowed ({tenant.describe_constraints()}), even after "
            f"making room, and no other tenant of {source} can leave instead{room}",
        )

    # --- exact search for small instances --------------------------------------------------------

    def exact(self) -> list[Move] | Literal[False] | None:
        """An exhaustive search when the instance is small: the lightest plan, `False` for none, `None` if too big."""
        movable = sorted(self._involved(), key=lambda t: (-t.requests, t.id))
        involved = {t.id for t in movable}
        domains = []
        for tenant in movable:
            own = self.original[tenant.id]
            allowed = self.allowed(tenant)
            domains.append(([own] if own in allowed else []) + [n for n in allowed if n != own])
        size = 1
        for domain in domains:
            size *= len(domain)
        if len(movable) > EXACT_TENANTS or size > EXACT_ASSIGNMENTS:
            return None
        base = {name: [0, 0] for name in self.cells}
        for tenant in self.tenants.values():
            if tenant.id not in involved:
                base[self.original[tenant.id]][0] += 1
                base[self.original[tenant.id]][1] += tenant.requests
        limits = {name: (c.tenant_limit, c.request_limit) for name, c in self.index.cells.items()}
        best: list[Move] | None = None
        best_cost = -1

        def search(i: int, cost: int, moves: list[Move]) -> None:
            nonlocal best, best_cost
            if best is not None and cost >= best_cost:
                return
            if i == len(movable):
                ordered = safe_order(moves, self.original_load(), limits)
                if ordered is not None:
                    best, best_cost = ordered, cost
                return
            tenant = movable[i]
            own = self.original[tenant.id]
            for name in domains[i]:
                load = base[name]
                if load[0] + 1 > limits[name][0] or load[1] + tenant.requests > limits[name][1]:
                    continue
                load[0] += 1
                load[1] += tenant.requests
                moved = name != own
                if moved:
                    moves.append(Move(tenant.id, own, name, tenant.requests))
                search(i + 1, cost + (tenant.requests if moved else 0), moves)
                if moved:
                    moves.pop()
                load[0] -= 1
                load[1] -= tenant.requests

        search(0, 0, [])
        return False if best is None else best

    def _involved(self) -> list[Tenant]:
        """The movable tenants that can matter: those linked (through the cells they may live in) to a cell
        that must shed load or to a tenant that must leave. Everyone else stays where it is."""
        parent = {name: name for name in self.cells}

        def root(name: str) -> str:
            while parent[name] != name:
                parent[name] = parent[parent[name]]
                name = parent[name]
            return name

        movable = [t for t in self.tenants.values() if self.movable(t)]
        for tenant in movable:
            own = root(self.original[tenant.id])
            for name in self.allowed(tenant):
                parent[root(name)] = own
                own = root(own)
        load = self.original_load()
        urgent = {
            root(name)
            for name, spec in self.index.cells.items()
            if load[name][0] > spec.tenant_limit or load[name][1] > spec.request_limit
        } | {root(self.original[t.id]) for t in movable if self.misplaced(t)}
        return [t for t in movable if root(self.original[t.id]) in urgent]

    def original_load(self) -> dict[str, tuple[int, int]]:
        load = {name: [0, 0] for name in self.cells}
        for tenant in self.tenants.values():
            load[self.original[tenant.id]][0] += 1
            load[self.original[tenant.id]][1] += tenant.requests
        return {name: (t, r) for name, (t, r) in load.items()}


def safe_order(
    moves: Sequence[Move], load: dict[str, tuple[int, int]], limits: dict[str, tuple[int, int]]
) -> list[Move] | None:
    """An order of `moves` that never takes a destination over its limits, or `None` (exhaustive; few moves)."""
    if len(moves) > 16:
        raise ValueError("safe_order searches exhaustively: at most 16 moves")
    state = {name: list(value) for name, value in load.items()}
    dead: set[frozenset[int]] = set()

    def search(done: frozenset[int], order: list[Move]) -> list[Move] | None:
        if len(done) == len(moves):
            return list(order)
        if done in dead:
            return None
        for i, move in enumerate(moves):
            if i in done:
                continue
            dest = state[move.destination]
            if dest[0] + 1 > limits[move.destination][0] or dest[1] + move.requests > limits[move.destination][1]:
                continue
            for name, sign in ((move.source, -1), (move.destination, 1)):
                state[name][0] += sign
                state[name][1] += sign * move.requests
            order.append(move)
            found = search(done | {i}, order)
            order.pop()
            for name, sign in ((move.source, 1), (move.destination, -1)):
                state[name][0] += sign
                state[name][1] += sign * move.requests
            if found is not None:
                return found
        dead.add(done)
        return None

    return search(frozenset(), [])
