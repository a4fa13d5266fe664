"""The move engine over in-memory routes, lifecycle and health: each step, its undo, crash and resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from move_fakes import Crash, FakeHealth, FakeLifecycle, FakeRoutes, Outcome, deps, fail

from cellctl.rollout.chained import JournalError
from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.health import Health
from cellctl.tenants.move import (
    PROPAGATION_SECONDS,
    MoveDeps,
    MoveInputError,
    Record,
    TenantMover,
    in_flight,
    moves_dir,
)
from cellctl.tenants.move_journal import MoveJournal, MoveStatus, StepState
from cellctl.tenants.moves import Mover, MoveRequest, MoveResult, Step
from cells import Registry, load_registry
from cells.routes import route_for

TENANT, SOURCE, DEST = "delta-retail", "alpha", "gamma"
REQUEST = MoveRequest(TENANT, SOURCE, DEST)
NAME = "delta-retail.cells.acme-corp.net"
ALPHA, GAMMA = "web.alpha.cells.acme-corp.net", "web.gamma.cells.acme-corp.net"
V0 = '{"cell":"alpha","origin":"web.alpha.cells.acme-corp.net"}'
V1 = '{"cell":"alpha","moving_to":"gamma","origin":"web.alpha.cells.acme-corp.net"}'
V2 = '{"cell":"gamma","moving_to":"gamma","origin":"web.gamma.cells.acme-corp.net"}'
V3 = '{"cell":"gamma","origin":"web.gamma.cells.acme-corp.net"}'


@pytest.fixture
def world(registry_copy: Path, tmp_path: Path) -> MoveDeps:
    return deps(load_registry(registry_copy), tmp_path / "project", registry_copy)


def routes_of(d: MoveDeps) -> FakeRoutes:
    assert isinstance(d.routes, FakeRoutes)
    return d.routes


def lifecycle_of(d: MoveDeps) -> FakeLifecycle:
    assert isinstance(d.lifecycle, FakeLifecycle)
    return d.lifecycle


def tenant_ids(registry_dir: Path, cell: str) -> list[str]:
    return [t["id"] for t in yaml.safe_load((registry_dir / "tenants" / f"{cell}.yaml").read_text())["tenants"]]


def files(registry_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((registry_dir / "tenants").glob("*.yaml"))}


def journal(d: MoveDeps, result: MoveResult) -> MoveJournal:
    return MoveJournal.load(moves_dir(d.home), result.journal_id)


def test_the_values_are_the_routes_own() -> None:
    # The constants above are what cells.routes computes; a change there shows here first.
    reg = load_registry()
    tenant = next(t for t in reg.tenants if t.id == TENANT)
    assert route_for(reg, tenant).store_value() == V0
    assert route_for(reg, tenant, cell=SOURCE, moving_to=DEST).store_value() == V1
    assert route_for(reg, tenant, cell=DEST, moving_to=DEST).store_value() == V2
    assert route_for(reg, tenant, cell=DEST).store_value() == V3


def test_happy_path_runs_every_step_in_order(world: MoveDeps, registry_copy: Path) -> None:
    before = files(registry_copy)
    mover: Mover = TenantMover(world)
    result = mover(REQUEST)
    assert result == MoveResult(TENANT, SOURCE, DEST, True, result.journal_id, None, "moved to gamma")
    routes, lifecycle = routes_of(world), lifecycle_of(world)
    # The lifecycle in order, with the routes as each call saw them.
    assert lifecycle.calls == [
        ("mirror", (TENANT, SOURCE, DEST)),
        ("verify", (TENANT, SOURCE, DEST)),
        ("cleanup", (TENANT, SOURCE, DEST)),
    ]
    [(_, at_mirror, r_mirror), (_, at_verify, r_verify), (_, at_cleanup, r_cleanup)] = lifecycle.seen
    assert at_mirror[TENANT] == V1 and r_mirror[NAME] == Record(ALPHA, 60)  # marked moving, still the source
    assert at_verify[TENANT] == V2 and r_verify[NAME] == Record(GAMMA, 5)  # flipped, short TTL
    assert at_cleanup[TENANT] == V3 and r_cleanup[NAME] == Record(GAMMA, 60)  # final
    assert [w[1:] for w in routes.writes] == [
        (TENANT, V1),
        (NAME, Record(ALPHA, 5)),
        (TENANT, V2),
        (NAME, Record(GAMMA, 5)),
        (TENANT, V3),
        (NAME, Record(GAMMA, 60)),
    ]
    assert world.health.checked == [DEST]  # type: ignore[attr-defined]
    # The old TTL (60 s), the moving TTL plus the propagation margin, and the grace period (60 min)
    # were waited out on the clock.
    assert world.clock.now() == 60 + 5 + PROPAGATION_SECONDS + 3600
    # The tenant files: out of alpha, into gamma in id order, everything else byte for byte.
    assert TENANT not in tenant_ids(registry_copy, SOURCE)
    assert tenant_ids(registry_copy, DEST) == sorted([*tenant_ids(registry_copy, DEST)])
    assert TENANT in tenant_ids(registry_copy, DEST)
    after = files(registry_copy)
    assert {k for k in after if after[k] != before[k]} == {"alpha.yaml", "gamma.yaml"}
    assert next(t for t in load_registry(registry_copy).tenants if t.id == TENANT).cell == DEST
    doc = journal(world, result).doc
    assert doc.status == MoveStatus.done and all(e.state == StepState.done for e in doc.steps.values())
    assert doc.steps[Step.check].data["store"] == V0
    assert doc.steps[Step.lower_ttl].data["ttl"] == 60
    assert in_flight(world.home) == {}


def fail_at(step: Step) -> Callable[[MoveDeps], None]:
    """Set up `world` so that `step` fails."""

    def setup(d: MoveDeps) -> None:
        routes, lifecycle = routes_of(d), lifecycle_of(d)
        if step == Step.check:
            routes.before_write = fail("key", V1)
        elif step == Step.mirror:
            lifecycle.results["mirror"] = Outcome(False, "orders: copy failed")
        elif step == Step.lower_ttl:
            routes.before_write = fail("record", Record(ALPHA, 5))
        elif step == Step.flip:
            routes.before_write = fail("record", Record(GAMMA, 5))  # after the store key flipped
        elif step == Step.verify:
            d.health = FakeHealth([None, None, False])
        elif step == Step.finalize:
            routes.before_write = fail("record", Record(GAMMA, 60))  # after the store value's final write

    return setup


FAILING = [Step.check, Step.mirror, Step.lower_ttl, Step.flip, Step.verify, Step.finalize]


@pytest.mark.parametrize("step", FAILING, ids=str)
def test_a_failing_step_is_undone_and_the_source_still_serves(step: Step, world: MoveDeps, registry_copy: Path) -> None:
    before = files(registry_copy)
    fail_at(step)(world)
    result = TenantMover(world)(REQUEST)
    assert not result.ok and result.failed_step == step
    assert result.message.startswith(f"{step} failed: ") and "alpha still serves delta-retail" in result.message
    routes = routes_of(world)
    assert routes.store[TENANT] == V0 and routes.records[NAME] == Record(ALPHA, 60)
    assert files(registry_copy) == before
    doc = journal(world, result).doc
    assert doc.status == MoveStatus.undone
    order = list(Step)
    for s, entry in doc.steps.items():
        expected = StepState.undone if order.index(s) <= order.index(step) else StepState.pending
        assert entry.state == expected, s
    cleanups = [c for c in lifecycle_of(world).calls if c[0] == "cleanup"]
    # From the mirror on, the copy made in the destination is released (source and destination swapped).
    assert cleanups == ([] if step == Step.check else [("cleanup", (TENANT, DEST, SOURCE))])
    assert in_flight(world.home) == {}


def test_verify_fails_on_the_components_verify_too(world: MoveDeps) -> None:
    lifecycle_of(world).results["verify"] = Outcome(False, "orders: 3 rows missing")
    result = TenantMover(world)(REQUEST)
    assert result.failed_step == Step.verify and "orders: 3 rows missing" in result.message
    assert routes_of(world).store[TENANT] == V0


def test_health_that_stays_unknown_fails_verify_at_the_timeout(world: MoveDeps) -> None:
    health = world.health = FakeHealth([None])
    result = TenantMover(world)(REQUEST)
    assert result.failed_step == Step.verify and "could not be read" in result.message
    assert len(health.checked) == 300 // 15 + 1


def test_store_writes_retry_when_other_keys_change_the_etag(world: MoveDeps) -> None:
    routes_of(world).conflicts = 3
    assert TenantMover(world)(REQUEST).ok
    assert routes_of(world).store[TENANT] == V3


def test_a_store_value_changed_by_someone_else_is_not_overwritten(world: MoveDeps) -> None:
    routes = routes_of(world)

    def meddle() -> None:
        routes.store[TENANT] = '{"cell":"beta","origin":"x"}'

    lifecycle_of(world).after["mirror"] = meddle
    result = TenantMover(world)(REQUEST)
    assert result.failed_step == Step.flip
    assert "something else changed it" in result.message
    # Its undo refuses to overwrite either, and says so: the move is left for a person.
    assert journal(world, result).doc.status == MoveStatus.undo_failed
    assert routes.store[TENANT] == '{"cell":"beta","origin":"x"}'


# --- crash and resume ---------------------------------------------------------------------------


def crash() -> None:
    raise Crash


def test_crash_between_steps_resumes_where_it_stopped(world: MoveDeps, registry_copy: Path) -> None:
    lifecycle = lifecycle_of(world)
    lifecycle.after["verify"] = crash
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    [doc] = [MoveJournal.load(moves_dir(world.home), p.stem).doc for p in moves_dir(world.home).glob("*.json")]
    assert doc.steps[Step.flip].state == StepState.done and doc.steps[Step.verify].state == StepState.running
    assert in_flight(world.home) == {TENANT: DEST}  # what `tenants list` shows meanwhile
    del lifecycle.after["verify"]
    writes = len(routes_of(world).writes)
    result = TenantMover(world).resume(doc.id)
    assert result.ok and result.journal_id == doc.id
    # Nothing before verify ran again: the three remaining writes are finalize's.
    assert [w[2] for w in routes_of(world).writes[writes:]] == [V3, Record(GAMMA, 60)]
    assert [c[0] for c in lifecycle.calls] == ["mirror", "verify", "verify", "cleanup"]
    assert TENANT in tenant_ids(registry_copy, DEST)


def test_a_step_running_at_the_crash_is_rechecked_not_redone(world: MoveDeps) -> None:
    lifecycle = lifecycle_of(world)
    lifecycle.after["mirror"] = crash  # the mirror finished its work, the process died before it returned
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    del lifecycle.after["mirror"]
    [path] = moves_dir(world.home).glob("*.json")
    result = TenantMover(world).resume(path.stem)
    assert result.ok
    # The mirror was rechecked with the components' verify (in sync), not called again.
    assert [c[0] for c in lifecycle.calls] == ["mirror", "verify", "verify", "cleanup"]


def test_a_flip_cut_in_half_is_finished_on_resume(world: MoveDeps) -> None:
    routes = routes_of(world)

    def die(what: str, key: str, value: Any) -> None:
        if value == Record(GAMMA, 5):
            raise Crash

    routes.before_write = die  # the store key flipped, the record did not
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    assert routes.store[TENANT] == V2 and routes.records[NAME] == Record(ALPHA, 5)
    routes.before_write = None
    [path] = moves_dir(world.home).glob("*.json")
    assert TenantMover(world).resume(path.stem).ok
    assert [w[2] for w in routes.writes].count(V2) == 1  # the key was not written twice
    assert routes.store[TENANT] == V3 and routes.records[NAME] == Record(GAMMA, 60)


def test_a_crash_while_undoing_goes_on_undoing(world: MoveDeps, registry_copy: Path) -> None:
    before = files(registry_copy)
    routes = routes_of(world)
    world.health = FakeHealth([False])
    undo_died: list[bool] = []

    def die_once(what: str, key: str, value: Any) -> None:
        if value == Record(ALPHA, 5) and len([w for w in routes.writes if w[2] == Record(GAMMA, 5)]) and not undo_died:
            undo_died.append(True)
            raise Crash  # the flip's undo, writing the record back

    routes.before_write = die_once
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    [path] = moves_dir(world.home).glob("*.json")
    assert MoveJournal.load(moves_dir(world.home), path.stem).doc.status == MoveStatus.undoing
    result = TenantMover(world).resume(path.stem)
    assert not result.ok and result.failed_step == Step.verify
    assert routes.store[TENANT] == V0 and routes.records[NAME] == Record(ALPHA, 60)
    assert files(registry_copy) == before


def test_cleanup_waits_for_the_grace_period_and_runs_on_resume(world: MoveDeps) -> None:
    world.wait_grace = False
    result = TenantMover(world)(REQUEST)
    assert result.ok and "is released after the grace period" in result.message and "in 60 min" in result.message
    assert journal(world, result).doc.status == MoveStatus.cleanup_pending
    assert [c[0] for c in lifecycle_of(world).calls] == ["mirror", "verify"]
    assert in_flight(world.home) == {TENANT: DEST}  # a second move waits for the cleanup
    assert TenantMover(world).resume(result.journal_id).ok  # 60 minutes are not up: still pending
    assert [c[0] for c in lifecycle_of(world).calls] == ["mirror", "verify"]
    world.clock.sleep(3600)
    done = TenantMover(world).resume(result.journal_id)
    assert done.ok and journal(world, done).doc.status == MoveStatus.done
    assert lifecycle_of(world).calls[-1] == ("cleanup", (TENANT, SOURCE, DEST))


def test_a_failing_cleanup_keeps_the_move_and_is_reported(world: MoveDeps, registry_copy: Path) -> None:
    lifecycle_of(world).results["cleanup"] = Outcome(False, "orders: bucket locked")
    result = TenantMover(world)(REQUEST)
    assert result.ok and result.failed_step == Step.cleanup
    assert "orders: bucket locked" in result.message and "The move stands" in result.message
    assert routes_of(world).store[TENANT] == V3 and TENANT in tenant_ids(registry_copy, DEST)
    assert journal(world, result).doc.status == MoveStatus.cleanup_failed
    lifecycle_of(world).results.clear()
    assert journal(world, TenantMover(world).resume(result.journal_id)).doc.status == MoveStatus.done


def test_a_finished_move_has_nothing_to_resume(world: MoveDeps) -> None:
    result = TenantMover(world)(REQUEST)
    with pytest.raises(MoveInputError, match="is done: nothing to resume"):
        TenantMover(world).resume(result.journal_id)


# --- refusals -----------------------------------------------------------------------------------


def test_a_second_move_of_the_tenant_is_refused_while_one_runs(world: MoveDeps) -> None:
    second: list[MoveResult] = []
    lifecycle_of(world).after["mirror"] = lambda: second.append(
        TenantMover(world)(MoveRequest(TENANT, SOURCE, "staging"))
    )
    assert TenantMover(world)(REQUEST).ok
    [refused] = second
    assert not refused.ok and refused.failed_step == Step.check and refused.journal_id == ""
    assert "is being moved by another run" in refused.message


def test_an_unfinished_journal_refuses_a_new_move_naming_it(world: MoveDeps) -> None:
    lifecycle_of(world).after["verify"] = crash
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    [path] = moves_dir(world.home).glob("*.json")
    with pytest.raises(MoveInputError) as refused:
        TenantMover(world).run(REQUEST)
    assert f"--resume {path.stem}" in str(refused.value) and "unfinished move to gamma" in str(refused.value)


def test_a_corrupt_journal_of_the_tenant_refuses_a_move(world: MoveDeps) -> None:
    lifecycle_of(world).after["verify"] = crash
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    [path] = moves_dir(world.home).glob("*.json")
    path.write_text(path.read_text().replace('"delta-retail"', '"delta-retail-x"', 1))
    with pytest.raises(JournalError, match="changed outside cellctl"):
        TenantMover(world).resume(path.stem)
    with pytest.raises(MoveInputError, match="cannot be read"):
        TenantMover(world).run(REQUEST)


def test_moves_headed_to_a_cell_count_against_its_room(world: MoveDeps, registry_copy: Path, edit_yaml: Any) -> None:
    reg = load_registry(registry_copy)
    gamma = [t for t in reg.tenants if t.cell == DEST]
    # Room for exactly one more 8.4 M tenant under gamma's headroom line.
    limit = (sum(t.daily_requests for t in gamma) + 8_400_000) * 100 // 85 + 1
    edit_yaml(registry_copy / "cells" / "gamma.yaml", lambda d: d["capacity"].update(max_daily_requests=limit))
    lifecycle_of(world).after["verify"] = crash
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)  # delta-retail (8.4 M) is now headed to gamma
    with pytest.raises(MoveInputError, match=r"no room for ember-games \(with 1 move\(s\) already headed there\)"):
        TenantMover(world).run(MoveRequest("ember-games", SOURCE, DEST))


@pytest.mark.parametrize(
    ("request_", "force", "message"),
    [
        (MoveRequest("nobody", SOURCE, DEST), False, "no tenant 'nobody'"),
        (MoveRequest(TENANT, SOURCE, "omega"), False, "no cell named 'omega'"),
        (MoveRequest(TENANT, SOURCE, SOURCE), False, "already lives in alpha"),
        (MoveRequest(TENANT, "beta", DEST), False, "lives in alpha (tenants/alpha.yaml), not beta"),
        (MoveRequest("acme-bank", SOURCE, DEST), False, "is pinned"),
        (MoveRequest("acme-bank", SOURCE, DEST), True, "residency regions us-east-1, us-west-2, us-central1"),
        (MoveRequest(TENANT, SOURCE, "staging"), False, "(prod, residency anywhere) may not live in staging"),
        (MoveRequest("blue-harbor", SOURCE, "beta"), False, "may not live in beta (prod, gcp europe-west1)"),
    ],
)
def test_bad_moves_are_refused_before_anything_is_written(
    request_: MoveRequest, force: bool, message: str, world: MoveDeps
) -> None:
    with pytest.raises(MoveInputError) as refused:
        TenantMover(world, force=force).run(request_)
    assert message in str(refused.value)
    assert routes_of(world).writes == [] and not list(moves_dir(world.home).glob("*.json"))


def test_a_full_destination_is_refused(world: MoveDeps, registry_copy: Path, edit_yaml: Any) -> None:
    edit_yaml(registry_copy / "cells" / "gamma.yaml", lambda d: d["capacity"].update(max_tenants=5))
    with pytest.raises(MoveInputError, match=r"cell gamma has no room for delta-retail: it would hold 5 tenants"):
        TenantMover(world).run(REQUEST)


def test_a_tenant_without_a_store_key_is_a_failed_check(world: MoveDeps) -> None:
    del routes_of(world).store[TENANT]
    result = TenantMover(world)(REQUEST)
    assert result.failed_step == Step.check and "pulumi up --stack routing" in result.message


def test_dry_run_plan_names_every_step_and_changes_nothing(world: MoveDeps, registry_copy: Path) -> None:
    before = files(registry_copy)
    steps = TenantMover(world).plan(REQUEST)
    assert [s["step"] for s in steps] == [str(s) for s in Step]
    assert V1 in steps[0]["does"] and f"{NAME} -> {GAMMA}" in steps[3]["does"] and V3 in steps[5]["does"]
    assert routes_of(world).writes == [] and files(registry_copy) == before and not moves_dir(world.home).exists()


def test_the_registry_fixture_is_untouched(registry: Registry) -> None:
    assert next(t for t in registry.tenants if t.id == TENANT).cell == SOURCE


# --- review fixes: undo data kept, the store's marker, propagation, record compare-and-set -------


class LowerThenCrash(FakeRoutes):
    """The lowering write lands (and is in sync), then the process dies before `lowered_at` is journaled."""

    crashed: bool = False

    def replace_record(self, name: str, expected: Record, new: Record) -> None:
        super().replace_record(name, expected, new)
        if new == Record(ALPHA, 5) and not self.crashed:
            self.crashed = True
            raise Crash


def test_a_lower_ttl_run_again_keeps_the_first_ttl_for_its_wait_and_its_undo(
    registry_copy: Path, tmp_path: Path
) -> None:
    reg = load_registry(registry_copy)
    routes = LowerThenCrash(**vars(FakeRoutes.of(reg)))
    world = deps(reg, tmp_path / "project", registry_copy, routes=routes, lifecycle=FakeLifecycle(routes))
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    [path] = moves_dir(world.home).glob("*.json")
    world.health = FakeHealth([False])
    started = world.clock.now()
    waits: list[float] = []
    real = world.clock

    class Recorded(VirtualClock):
        def now(self) -> float:
            return real.now()

        def sleep(self, seconds: float, signal: Any = None) -> bool:
            waits.append(seconds)
            return real.sleep(seconds, signal)

    world.clock = Recorded()
    result = TenantMover(world).resume(path.stem)
    assert not result.ok and result.failed_step == Step.verify
    doc = MoveJournal.load(moves_dir(world.home), path.stem).doc
    assert doc.steps[Step.lower_ttl].data["ttl"] == 60  # not the 5 the first run left
    assert waits[0] >= 60 and world.clock.now() - started >= 60
    assert routes.records[NAME] == Record(ALPHA, 60)  # the undo restored the real TTL
    assert routes.store[TENANT] == V0


def test_a_check_run_again_keeps_the_value_before_the_move(world: MoveDeps) -> None:
    routes = routes_of(world)

    def die(what: str, key: str, value: Any) -> None:
        if value == V1 and not routes.writes:
            routes.store[key] = value  # the marker landed, then the process died
            raise Crash

    routes.before_write = die
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    routes.before_write = None
    [path] = moves_dir(world.home).glob("*.json")
    journal_ = MoveJournal.load(moves_dir(world.home), path.stem)
    journal_.note_data(Step.check, store=V1)  # a second run of check journals what it reads: ignored
    assert journal_.doc.steps[Step.check].data["store"] == V0


def test_a_recheck_that_cannot_read_stops_the_run_and_undoes_nothing(world: MoveDeps) -> None:
    lifecycle = lifecycle_of(world)
    lifecycle.after["mirror"] = crash
    with pytest.raises(Crash):
        TenantMover(world)(REQUEST)
    del lifecycle.after["mirror"]

    def unreadable() -> None:
        raise RuntimeError("the components cannot be reached")

    lifecycle.after["verify"] = unreadable
    [path] = moves_dir(world.home).glob("*.json")
    result = TenantMover(world).resume(path.stem)
    assert not result.ok and "rechecking mirror failed: the components cannot be reached" in result.message
    doc = MoveJournal.load(moves_dir(world.home), path.stem).doc
    assert doc.status == MoveStatus.running and doc.steps[Step.mirror].state == StepState.running
    assert routes_of(world).store[TENANT] == V1  # still marked: nothing undone, nothing redone
    del lifecycle.after["verify"]
    assert TenantMover(world).resume(path.stem).ok


def test_a_tenant_the_store_says_is_moving_is_refused_at_check(world: MoveDeps) -> None:
    routes = routes_of(world)
    other = '{"cell":"alpha","moving_to":"zeta","origin":"web.alpha.cells.acme-corp.net"}'
    routes.store[TENANT] = other  # another machine's move, which no local journal knows
    result = TenantMover(world)(REQUEST)
    assert not result.ok and result.failed_step == Step.check
    assert "already moving" in result.message and "another machine" in result.message
    assert routes.store[TENANT] == other and routes.writes == []


def test_the_same_marker_from_another_machine_is_refused_too(world: MoveDeps) -> None:
    routes = routes_of(world)
    routes.store[TENANT] = V1  # the same move, started on a CI runner
    result = TenantMover(world)(REQUEST)
    assert not result.ok and result.failed_step == Step.check
    assert routes.store[TENANT] == V1 and routes.writes == []


def test_verify_waits_for_the_flip_to_propagate(world: MoveDeps) -> None:
    routes = routes_of(world)
    flipped_at: list[float] = []
    checked_at: list[float] = []

    def note(what: str, key: str, value: Any) -> None:
        if value == Record(GAMMA, 5):
            flipped_at.append(world.clock.now())

    routes.before_write = note

    class Timed(FakeHealth):
        def check(self, cell: Any) -> Health:
            checked_at.append(world.clock.now())
            return super().check(cell)

    world.health = Timed()
    assert TenantMover(world)(REQUEST).ok
    assert checked_at[0] - flipped_at[0] >= 5 + PROPAGATION_SECONDS


def test_the_destination_copy_is_released_only_after_the_flip_back_propagates(world: MoveDeps) -> None:
    routes = routes_of(world)
    world.health = FakeHealth([False])
    back_at: list[float] = []

    def note(what: str, key: str, value: Any) -> None:
        if value == Record(ALPHA, 5) and any(w[2] == Record(GAMMA, 5) for w in routes.writes):
            back_at.append(world.clock.now())

    routes.before_write = note
    cleaned_at: list[float] = []
    lifecycle = lifecycle_of(world)
    lifecycle.after["cleanup"] = lambda: cleaned_at.append(world.clock.now())
    result = TenantMover(world)(REQUEST)
    assert not result.ok and lifecycle.calls[-1] == ("cleanup", (TENANT, DEST, SOURCE))
    assert cleaned_at[0] - back_at[0] >= 5 + PROPAGATION_SECONDS


def test_a_record_changed_by_someone_else_is_not_overwritten(world: MoveDeps) -> None:
    routes = routes_of(world)
    beta = Record("web.beta.cells.acme-corp.net", 5)

    def meddle() -> None:
        routes.records[NAME] = beta

    lifecycle_of(world).after["mirror"] = meddle  # before lower-ttl: its compare-and-set fails
    result = TenantMover(world)(REQUEST)
    assert not result.ok and result.failed_step == Step.lower_ttl and "changed" in result.message
    assert routes.records[NAME] == beta


def test_a_record_changed_before_the_flip_fails_the_flip_and_stays(world: MoveDeps) -> None:
    routes = routes_of(world)
    beta = Record("web.beta.cells.acme-corp.net", 5)

    def meddle(what: str, key: str, value: Any) -> None:
        if value == V2:
            routes.records[NAME] = beta  # a hand fix between lower-ttl and the flip's record write

    routes.before_write = meddle
    result = TenantMover(world)(REQUEST)
    assert not result.ok and result.failed_step == Step.flip and "changed" in result.message
    assert routes.records[NAME] == beta
