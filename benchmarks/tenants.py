"""Tenants at scale: 100,000 tenants across 1,000 generated cells.

Three figures, each against its target:

1. load + validate the registry with its 1,000 tenant files (`cells.load_registry`);
2. place 1,000 new tenants one after another (each sees the ones before it), target <= 5 s;
3. a rebalance plan after 10 % of the load drifts, target <= 30 s, moving <= 1.1 x the lower bound;
4. a rebalance of 100 moves run as moves (`cellctl.tenants.batch`) on the virtual clock: the
   makespan against the bound max(longest move, sum of the moves / K) for K moves at once.

The organization: the generated cells of `generate.py` (both clouds, all environments and
regions) with room for 150 tenants and 20,000,000 daily requests each (127 and 17,000,000 after
the default 15 % headroom). Each cell holds 70 to 127 tenants (100,000 in all) whose requests
follow a heavy-tailed distribution and fill the cell to 55-95 % of its headroom line; a quarter
of the tenants are held to their cell's region, a tenth to its cloud, 2 % are pinned. Drift:
tenants chosen at random until they carry 10 % of the load grow by 1x to 2.5x, which takes the
fuller cells over their headroom line. Seeded, so every run plans the same instance.

The moves (4): the first 100 moves of the plans of two smaller seeded organizations, one tight
(140 cells at 85-100 % of their tenant line and 90-110 % of their request line, so some moves
wait for room an earlier move frees) and one roomy (400 cells, 60-100 % and 30-130 %). Each
move mirrors for a lognormal time (median 20 minutes, from 2 minutes to 6 hours) plus the fixed steps of
`cellctl.tenants.simulated.STEP_SECONDS` (waiting out the old 60 s TTL, verify, ...), once in
plan order and once the longest expected first. To tell the order's cost from the scheduling's,
each case also runs with unlimited room in every cell: what is left above the bound then is the
scheduling's, the rest the order's.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from generate import write_registry

from cellctl.rollout.clock import VirtualClock
from cellctl.tenants.adapt import cell_loads, engine_cells, engine_tenant, engine_tenants
from cellctl.tenants.batch import run_batch
from cellctl.tenants.model import Cell, Tenant
from cellctl.tenants.placement import Placer
from cellctl.tenants.rebalance import Move, apply, rebalance
from cellctl.tenants.simulated import Script, SimulatedMover, move_seconds
from cells import load_registry
from cells.tenants import TENANTS_DIR, CellCapacity, TenantEntry, tenant_file_document

SEED = 20261202
CAPACITY = {"max_tenants": 150, "max_daily_requests": 20_000_000}
HEADROOM_TENANTS, HEADROOM_REQUESTS = 127, 17_000_000


def _residency(rng: random.Random, cloud: str, region: str) -> dict[str, Any] | None:
    roll = rng.random()
    if roll < 0.25:
        return {"regions": [region]}
    if roll < 0.35:
        return {"clouds": [cloud]}
    return None


def write_tenants(root: Path, cells: list[dict[str, Any]], total: int, rng: random.Random) -> int:
    """Tenant files for the generated cells: `total` tenants, each cell 55-95 % full on requests."""
    n = len(cells)
    counts = [total // n] * n
    for i in range(0, n - 1, 2):  # paired, so the total stays exact
        d = rng.randint(0, HEADROOM_TENANTS - total // n)
        counts[i] += d
        counts[i + 1] -= d
    (root / TENANTS_DIR).mkdir(exist_ok=True)
    written = 0
    for cell, count in zip(cells, counts, strict=True):
        # Heavy-tailed, capped: the largest tenant is about 40 times the smallest (some 2,000,000 requests).
        weights = [min(rng.paretovariate(1.6), 40.0) for _ in range(count)]
        target = HEADROOM_REQUESTS * rng.uniform(0.55, 0.95)
        scale = target / sum(weights)
        environment = "prod" if cell["environment"] == "prod" else "sandbox"
        entries = []
        for j, weight in enumerate(weights):
            data: dict[str, Any] = {
                "id": f"{cell['name']}-t{j:03d}",
                "display_name": f"Tenant {j} of {cell['name']}",
                "environment": environment,
                "daily_requests": max(1, int(weight * scale)),
            }
            residency = _residency(rng, cell["cloud"], cell["region"])
            if residency:
                data["residency"] = residency
            if rng.random() < 0.02:
                data["pinned"] = True
            entries.append(TenantEntry.model_validate(data))
        document = tenant_file_document(cell["name"], entries)
        (root / TENANTS_DIR / f"{cell['name']}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
        written += count
    return written


def new_tenants(rng: random.Random, count: int, regions: list[str]) -> list[Tenant]:
    tenants = []
    for i in range(count):
        roll = rng.random()
        residency = (
            {"regions": [rng.choice(regions)]}
            if roll < 0.3
            else {"clouds": [rng.choice(["aws", "gcp"])]}
            if roll < 0.4
            else None
        )
        entry = TenantEntry.model_validate(
            {
                "id": f"new-{i:04d}",
                "display_name": f"New tenant {i}",
                "environment": "prod" if rng.random() < 0.8 else "sandbox",
                "daily_requests": int(min(rng.paretovariate(1.6), 40.0) * 50_000),
                **({"residency": residency} if residency else {}),
            }
        )
        tenants.append(engine_tenant(entry, None))
    return tenants


# --- 4. a plan run as moves -------------------------------------------------------------------------

#: The organizations whose first 100 moves run: (name, cells, tenant slots and daily requests used, as
#: shares of the headroom line, from-to).
BATCH_CASES = (("tight", 140, (0.85, 1.0), (0.9, 1.1)), ("roomy", 400, (0.6, 1.0), (0.3, 1.3)))
BATCH_MOVES = 100
PARALLEL = (1, 4, 10, 25)


def batch_organization(
    cells: int, slots: tuple[float, float], fill: tuple[float, float], rng: random.Random
) -> tuple[list[Cell], list[Tenant]]:
    """Cells of one class (40 tenants, 10M daily requests each), `slots` full on tenants and `fill` on requests."""
    engine = [Cell(f"c{i:03d}", "prod", "aws", "eu-west-1", 40, 10_000_000) for i in range(cells)]
    tenants = []
    for cell in engine:
        count = rng.randint(int(cell.tenant_limit * slots[0]), int(cell.tenant_limit * slots[1]))
        weights = [min(rng.paretovariate(1.6), 40.0) for _ in range(count)]
        scale = cell.request_limit * rng.uniform(*fill) / sum(weights)
        tenants += [Tenant(f"{cell.name}-t{j:02d}", max(1, int(w * scale)), cell.name) for j, w in enumerate(weights)]
    return engine, tenants


def capacities(cells: list[Cell], tenants: list[Tenant], *, unlimited: bool = False) -> list[CellCapacity]:
    load = {c.name: [0, 0] for c in cells}
    for t in tenants:
        load[str(t.cell)][0] += 1
        load[str(t.cell)][1] += t.requests
    big = 10**12
    return [
        CellCapacity(
            c.name,
            c.environment,
            c.region,
            c.cloud,
            c.max_tenants,
            c.max_daily_requests,
            big if unlimited else c.tenant_limit,
            big if unlimited else c.request_limit,
            *load[c.name],
        )
        for c in cells
    ]


def makespan(
    moves: list[Move], scripts: dict[str, Script], capacity: list[CellCapacity], parallel: int, longest_first: bool
) -> tuple[float, float]:
    """(virtual makespan, real seconds) of the moves on a fresh virtual clock."""
    clock = VirtualClock()
    estimates = {t: move_seconds(s) for t, s in scripts.items()} if longest_first else None
    started = time.perf_counter()
    report = run_batch(
        moves, SimulatedMover(clock, scripts), parallel=parallel, clock=clock, capacity=capacity, estimates=estimates
    )
    real = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the batch did not run every move: {report.reason}")
    return report.seconds, real


def batch_benchmark() -> None:
    print(
        "moves run as a batch: 'unlimited room' is the same run with no room limit in any cell; what it leaves "
        "above the bound is the scheduling's, the rest the cost of the plan's order (moves waiting for room)"
    )
    for case, (name, count, slots, fill) in enumerate(BATCH_CASES):
        rng = random.Random(SEED + case)
        cells, tenants = batch_organization(count, slots, fill, rng)
        plan = rebalance(tenants, cells)
        if not plan.feasible or len(plan.moves) < BATCH_MOVES:
            raise SystemExit(f"moves, {name}: the plan has {len(plan.moves)} moves, fewer than {BATCH_MOVES}")
        moves = list(plan.moves[:BATCH_MOVES])  # a prefix of a plan is in a safe order too
        scripts = {
            m.tenant: Script(min(max(rng.lognormvariate(math.log(1200), 1.0), 120.0), 6 * 3600.0)) for m in moves
        }
        seconds = [move_seconds(scripts[m.tenant]) for m in moves]
        destinations = len({m.destination for m in moves})
        print(
            f"moves, {name}: {len(moves)} of the plan's {len(plan.moves)} moves, {count} cells at "
            f"{slots[0]:.0%}-{slots[1]:.0%} of their tenant line and {fill[0]:.0%}-{fill[1]:.0%} of their "
            f"request line, {destinations} destinations; moves take "
            f"{min(seconds) / 60:.0f} min to {max(seconds) / 3600:.2f} h, {sum(seconds) / 3600:.1f} h in all"
        )
        print("   K  order          makespan     bound   ratio  unlimited room  real   (ratio: makespan / bound)")
        limited, unlimited = capacities(cells, tenants), capacities(cells, tenants, unlimited=True)
        for parallel in PARALLEL:
            bound = max(max(seconds), sum(seconds) / parallel)
            for longest_first in (False, True):
                span, real = makespan(moves, scripts, limited, parallel, longest_first)
                free, _ = makespan(moves, scripts, unlimited, parallel, longest_first)
                order = "longest first" if longest_first else "plan order"
                print(
                    f"  {parallel:2d}  {order:13s} {span / 3600:7.2f} h {bound / 3600:7.2f} h  {span / bound:.3f}  "
                    f"{free / bound:.3f}          {real:.2f} s"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--growth", type=float, default=2.5, help="drifting tenants grow 1x to this factor")
    parser.add_argument("--moves-only", action="store_true", help="only the plan run as moves (4)")
    args = parser.parse_args()
    if args.moves_only:
        batch_benchmark()
        return
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_registry(args.cells, Path(tmp) / "org", capacity=CAPACITY)
        cells = [yaml.safe_load(p.read_text()) for p in sorted((root / "cells").glob("*.yaml"))]
        count = write_tenants(root, cells, args.tenants, rng)

        started = time.perf_counter()
        registry = load_registry(root)
        load_seconds = time.perf_counter() - started
        print(f"{len(registry.cells)} cells, {len(registry.tenants):,} tenants (wrote {count:,})")
        print(f"load + validate: {load_seconds:.2f} s")

        regions = sorted({c.region for c in registry.cells})
        arrivals = new_tenants(rng, 1000, regions)
        started = time.perf_counter()
        placer = Placer(engine_cells(registry), cell_loads(registry))
        placed = 0
        for tenant in arrivals:
            result = placer.place(tenant)
            if result.cell is not None:
                placer.add(tenant, result.cell)
                placed += 1
        place_seconds = time.perf_counter() - started
        verdict = "met" if place_seconds <= 5 else "MISSED"
        print(
            f"place 1,000 new tenants: {place_seconds:.2f} s ({place_seconds:.2f} ms each), {placed} placed, "
            f"{len(arrivals) - placed} with no cell that fits; target <= 5 s -> {verdict}"
        )

        tenants = engine_tenants(registry)
        total = sum(t.requests for t in tenants)
        drifted, order = 0, list(range(len(tenants)))
        rng.shuffle(order)
        for i in order:
            if drifted >= total // 10:
                break
            t = tenants[i]
            drifted += t.requests
            tenants[i] = Tenant(
                t.id,
                int(t.requests * rng.uniform(1.0, args.growth)),
                t.cell,
                t.regions,
                t.clouds,
                t.environments,
                t.pinned,
            )
        cells_engine = engine_cells(registry)
        started = time.perf_counter()
        plan = rebalance(tenants, cells_engine)
        plan_seconds = time.perf_counter() - started
        print(
            f"drift: tenants carrying {drifted:,} of {total:,} daily requests (10 %) grew 1x-{args.growth}x; "
            f"{len(plan.over_limit)} cells over their headroom line"
        )
        verdict = "met" if plan_seconds <= 30 else "MISSED"
        print(f"rebalance plan: {plan_seconds:.2f} s; target <= 30 s -> {verdict}")
        if not plan.feasible:
            print(f"no plan ({'proven' if plan.proven else 'none found'}): {plan.problems[0].message}")
            return
        ratio = plan.moved_requests / plan.lower_bound if plan.lower_bound else 1.0
        print(
            f"moves {plan.moved_tenants:,} tenants and {plan.moved_requests:,} daily requests; lower bound "
            f"{plan.lower_bound_tenants:,} tenants and {plan.lower_bound:,} daily requests"
        )
        print(f"moved load {ratio:.4f} x the lower bound; target <= 1.1 -> {'met' if ratio <= 1.1 else 'MISSED'}")
        where = apply(tenants, plan.moves)
        load: dict[str, list[int]] = {c.name: [0, 0] for c in cells_engine}
        for t in tenants:
            load[where[t.id]][0] += 1
            load[where[t.id]][1] += t.requests
        over = [c.name for c in cells_engine if load[c.name][0] > c.tenant_limit or load[c.name][1] > c.request_limit]
        print(f"after the plan: {len(over)} cells over their headroom line (replayed)")
    batch_benchmark()


if __name__ == "__main__":
    main()
