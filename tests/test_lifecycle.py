"""The lifecycle targets contract (`cellctl.lifecycle`), against component repositories made by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from component_repos import commit, component_repo, git, with_lifecycles
from pydantic import ValidationError
from typer.testing import CliRunner

from cellctl.lifecycle import EXIT_AGAIN, LifecycleError, LifecycleRunner, LifecycleTarget, Status, declared
from cellctl.lifecycle.bootstrap import bootstrap_hook
from cellctl.main import app
from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.journal import CellState, Journal
from cellctl.rollout.journal import Status as RunStatus
from cellctl.rollout.memory import Behaviour, InMemoryRunner
from cellctl.rollout.orchestrator import Orchestrator, Outcome
from cellctl.rollout.plan import RolloutPlan, bootstrap_plan, rollout_plan
from cells import Registry
from cells.export import cell_document
from cells.models import Lifecycle

TENANT, SOURCE, DESTINATION = "acme-bank", "alpha", "gamma"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return component_repo(tmp_path / "api-repo")


def runner(registry: Registry, tmp_path: Path, out: Path, **kwargs) -> LifecycleRunner:  # type: ignore[no-untyped-def]
    clock = kwargs.pop("clock", None) or VirtualClock()
    return LifecycleRunner(registry, tmp_path / "project", clock, env={"OUT": str(out)}, **kwargs)


def seen(out: Path, component: str, target: str) -> dict[str, str]:
    """The HONEYCOMB_* variables a target wrote out."""
    lines = (out / f"{component}-{target}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def api(registry: Registry, repo: Path | str, **lifecycle) -> Registry:  # type: ignore[no-untyped-def]
    return with_lifecycles(registry, {"api": {"repository": str(repo), **lifecycle}})


# --- the environment ------------------------------------------------------------------------------


def test_cell_bootstrap_sees_the_cells_registry_data(
    registry: Registry, repo: Path, tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cellctl started by `make -n …` must not pass -n on: the target would print instead of run.
    monkeypatch.setenv("MAKEFLAGS", "n")
    only_api = api(registry, repo)
    result = runner(only_api, tmp_path, out).cell_bootstrap("alpha")
    assert result.ok, result.message
    [done] = result.components
    assert (done.status, done.make_target, done.commit) == (
        Status.done,
        "cell-bootstrap",
        git(repo, "rev-parse", "HEAD"),
    )
    env = seen(out, "api", "cell-bootstrap")
    assert env["HONEYCOMB_CELL"] == "alpha"
    assert env["HONEYCOMB_TARGET"] == "cell-bootstrap" and env["HONEYCOMB_COMPONENT"] == "api"
    assert json.loads(env["HONEYCOMB_CELL_JSON"]) == cell_document(only_api, registry.cell("alpha"))
    exported = json.loads(Path(env["HONEYCOMB_REGISTRY_JSON"]).read_text())
    assert {c["name"] for c in exported["cells"]} == {c.name for c in registry.cells}
    assert "HONEYCOMB_TENANT" not in env
    assert done.log is not None and "bootstrapped alpha" in done.log.read_text()
    assert done.log.parent == tmp_path / "project" / ".honeycomb" / "logs" / "lifecycle"


def test_a_moves_targets_see_the_tenant_and_both_cells(
    registry: Registry, repo: Path, tmp_path: Path, out: Path
) -> None:
    lifecycle = runner(api(registry, repo), tmp_path, out)
    assert lifecycle.verify(TENANT, SOURCE, DESTINATION).ok
    verify = seen(out, "api", "tenant-verify")
    tenant = next(t for t in registry.tenants if t.id == TENANT)
    assert verify["HONEYCOMB_TENANT"] == TENANT and json.loads(verify["HONEYCOMB_TENANT_JSON"]) == json.loads(
        tenant.model_dump_json()
    )
    assert (verify["HONEYCOMB_SOURCE_CELL"], verify["HONEYCOMB_DESTINATION_CELL"]) == (SOURCE, DESTINATION)
    assert json.loads(verify["HONEYCOMB_SOURCE_JSON"])["name"] == SOURCE
    assert json.loads(verify["HONEYCOMB_DESTINATION_JSON"])["dns_zone"] == "gamma.cells.acme-corp.net"
    # HONEYCOMB_CELL is the cell the target works on: the destination for verify, the source for cleanup.
    assert (
        verify["HONEYCOMB_CELL"] == DESTINATION
        and verify["HONEYCOMB_CELL_JSON"] == verify["HONEYCOMB_DESTINATION_JSON"]
    )
    assert lifecycle.cleanup(TENANT, SOURCE, DESTINATION).ok
    cleanup = seen(out, "api", "tenant-cleanup")
    assert cleanup["HONEYCOMB_CELL"] == SOURCE and cleanup["HONEYCOMB_CELL_JSON"] == cleanup["HONEYCOMB_SOURCE_JSON"]


def test_an_unknown_tenant_or_cell_is_refused(registry: Registry, repo: Path, tmp_path: Path, out: Path) -> None:
    lifecycle = runner(api(registry, repo), tmp_path, out)
    with pytest.raises(LifecycleError, match="no tenant 'nobody' in the registry"):
        lifecycle.verify("nobody", SOURCE, DESTINATION)
    with pytest.raises(LifecycleError, match="no cell named 'omega'"):
        lifecycle.cell_bootstrap("omega")


# --- tenant-mirror: exit 75 means "call me again" -------------------------------------------------


def test_mirror_calls_again_until_in_sync_on_the_clock(
    registry: Registry, repo: Path, tmp_path: Path, out: Path
) -> None:
    clock = VirtualClock()
    result = runner(api(registry, repo), tmp_path, out, clock=clock).mirror(
        TENANT, SOURCE, DESTINATION, timeout=600, interval=30
    )
    assert result.ok, result.message
    [api_result] = result.components
    assert (api_result.status, api_result.calls, api_result.exit_code) == (Status.done, 3, 0)
    assert "in sync after 3 calls" in api_result.message
    assert clock.now() == 60 and result.seconds == 60  # two waits of 30 s between three rounds
    assert seen(out, "api", "tenant-mirror")["HONEYCOMB_ATTEMPT"] == "3"
    assert api_result.log is not None and api_result.log.read_text().count("# exit 75") == 2


def test_mirror_still_copying_at_its_timeout_fails(registry: Registry, tmp_path: Path, out: Path) -> None:
    repo = component_repo(tmp_path / "slow", "tenant-mirror:\n\t@echo 40% copied; exit 75\n")
    clock = VirtualClock()
    result = runner(api(registry, repo), tmp_path, out, clock=clock).mirror(
        TENANT, SOURCE, DESTINATION, timeout=100, interval=30
    )
    [api_result] = result.components
    assert not result.ok and api_result.status == Status.failed and api_result.exit_code == EXIT_AGAIN
    # Calls at 0, 30, 60, 90 and a last one at the deadline.
    assert api_result.calls == 5 and clock.now() == 100
    assert "was not in sync after 100s (5 calls" in api_result.message and "40% copied" in api_result.message


def test_a_failed_mirror_stops_the_others(registry: Registry, repo: Path, tmp_path: Path, out: Path) -> None:
    broken = component_repo(tmp_path / "worker-repo", "tenant-mirror:\n\t@echo disk full; exit 4\n")
    both = with_lifecycles(registry, {"api": {"repository": str(repo)}, "worker": {"repository": str(broken)}})
    result = runner(both, tmp_path, out).mirror(TENANT, SOURCE, DESTINATION, timeout=600)
    api_result, worker = result.components
    assert worker.status == Status.failed and "failed (exit 4)" in worker.message and "disk full" in worker.message
    assert api_result.status == Status.stopped and api_result.message == "not in sync yet: worker failed first"
    assert api_result.calls == 1 and result.message.startswith("worker: ")


def test_a_stop_ends_the_mirrors_wait(registry: Registry, repo: Path, tmp_path: Path, out: Path) -> None:
    clock = VirtualClock()
    stop = clock.signal()
    stop.set()
    result = runner(api(registry, repo), tmp_path, out, clock=clock).mirror(
        TENANT, SOURCE, DESTINATION, timeout=600, stop=stop
    )
    [api_result] = result.components
    assert api_result.status == Status.stopped and "the move was stopped" in api_result.message
    assert api_result.calls == 1 and clock.now() == 0


# --- failures say why -----------------------------------------------------------------------------


def test_a_failed_target_quotes_the_end_of_its_output(registry: Registry, tmp_path: Path, out: Path) -> None:
    lines = "".join(f"\t@echo checked table {n}\n" for n in range(30))
    repo = component_repo(tmp_path / "bad", f"tenant-verify:\n{lines}\t@echo row 42 differs >&2; exit 3\n")
    result = runner(api(registry, repo), tmp_path, out).verify(TENANT, SOURCE, DESTINATION)
    [api_result] = result.components
    assert not result.ok and api_result.exit_code == 3
    assert "`make tenant-verify` failed (exit 3); last lines of output:" in api_result.message
    assert "row 42 differs" in api_result.message and "checked table 29" in api_result.message
    assert "checked table 0\n" not in api_result.message  # only the tail
    assert f"(full output: {api_result.log})" in api_result.message
    assert "checked table 0" in api_result.log.read_text()  # type: ignore[union-attr]


def test_exit_75_is_a_failure_outside_the_mirror(registry: Registry, tmp_path: Path, out: Path) -> None:
    repo = component_repo(tmp_path / "r", "tenant-verify:\n\t@exit 75\n")
    [api_result] = runner(api(registry, repo), tmp_path, out).verify(TENANT, SOURCE, DESTINATION).components
    assert api_result.status == Status.failed and "which only tenant-mirror may answer" in api_result.message


def test_a_sub_makes_75_arrives_as_a_failure(registry: Registry, tmp_path: Path, out: Path) -> None:
    """Make reports a sub-make's failure as `Error 2`: the top-level line is the one that counts."""
    repo = component_repo(tmp_path / "r", "tenant-mirror:\n\t$(MAKE) copy\ncopy:\n\t@exit 75\n")
    [api_result] = runner(api(registry, repo), tmp_path, out).mirror(TENANT, SOURCE, DESTINATION, 60).components
    assert api_result.status == Status.failed and api_result.exit_code == 2 and api_result.calls == 1


def test_a_call_past_its_timeout_is_stopped(registry: Registry, tmp_path: Path, out: Path) -> None:
    repo = component_repo(tmp_path / "r", "cell-bootstrap:\n\t@echo waiting for the database; sleep 30\n")
    result = runner(api(registry, repo), tmp_path, out, call_timeout=0.5).cell_bootstrap("alpha")
    [api_result] = result.components
    assert api_result.status == Status.failed and api_result.exit_code is None
    assert "did not finish within 0.5s and was stopped" in api_result.message
    assert "waiting for the database" in api_result.message


def test_a_target_the_makefile_lacks_is_named(registry: Registry, tmp_path: Path, out: Path) -> None:
    repo = component_repo(tmp_path / "r", "tenant-verify:\n\t@touch $(OUT)/ran\n")
    result = runner(api(registry, repo), tmp_path, out).cleanup(TENANT, SOURCE, DESTINATION)
    [api_result] = result.components
    assert api_result.status == Status.failed and api_result.exit_code == 2
    assert "has no target 'tenant-cleanup' (No rule to make target 'tenant-cleanup')" in api_result.message
    assert "declare `tenant-cleanup: null`" in api_result.message
    assert not (out / "ran").exists()


def test_a_recursive_line_never_runs_to_find_out_whether_a_target_exists(
    registry: Registry, tmp_path: Path, out: Path
) -> None:
    """`make -q` would run this line (it holds `$(MAKE)`); the target itself runs once, with its environment."""
    repo = component_repo(tmp_path / "r", "tenant-cleanup:\n\t$(MAKE) --version >/dev/null; echo x >> $(OUT)/runs\n")
    assert runner(api(registry, repo), tmp_path, out).cleanup(TENANT, SOURCE, DESTINATION).ok
    assert (out / "runs").read_text() == "x\n"


def test_a_missing_prerequisite_is_a_failure_not_a_missing_target(
    registry: Registry, tmp_path: Path, out: Path
) -> None:
    repo = component_repo(tmp_path / "r", "tenant-verify: schema.sql\n\t@echo verified\n")
    [api_result] = runner(api(registry, repo), tmp_path, out).verify(TENANT, SOURCE, DESTINATION).components
    assert api_result.status == Status.failed and "failed (exit 2)" in api_result.message
    assert "No rule to make target 'schema.sql', needed by 'tenant-verify'" in api_result.message


def test_a_missing_makefile_or_directory_is_named(registry: Registry, tmp_path: Path, out: Path) -> None:
    repo = component_repo(tmp_path / "r", directory="deploy")
    [no_dir] = runner(api(registry, repo, directory="ops"), tmp_path, out).cell_bootstrap("alpha").components
    assert no_dir.status == Status.failed and "has no directory 'ops'" in no_dir.message
    [no_makefile] = runner(api(registry, repo), tmp_path, out).cell_bootstrap("alpha").components
    assert no_makefile.status == Status.failed and "has no Makefile in '.'" in no_makefile.message


def test_a_renamed_target_is_called_by_its_name(registry: Registry, tmp_path: Path, out: Path) -> None:
    repo = component_repo(tmp_path / "r", "migrate:\n\t@echo migrated $(HONEYCOMB_CELL)\n")
    result = runner(api(registry, repo, targets={"cell-bootstrap": "migrate"}), tmp_path, out).cell_bootstrap("beta")
    [api_result] = result.components
    assert api_result.status == Status.done and api_result.make_target == "migrate"
    assert "migrated beta" in api_result.log.read_text()  # type: ignore[union-attr]


# --- nothing is skipped silently -------------------------------------------------------------------


def test_a_null_target_is_a_reported_no_op(registry: Registry, tmp_path: Path, out: Path) -> None:
    repo = component_repo(tmp_path / "r", "tenant-verify:\n\t@exit 9\n")
    lifecycle = runner(api(registry, repo, targets={"tenant-mirror": None}), tmp_path, out)
    result = lifecycle.mirror(TENANT, SOURCE, DESTINATION, timeout=60)
    [api_result] = result.components
    assert result.ok and api_result.status == Status.noop and api_result.calls == 0
    assert api_result.message == "no tenant-mirror target declared (null)"


def test_a_component_without_lifecycle(registry: Registry, tmp_path: Path, out: Path) -> None:
    """A no-op for cell-bootstrap (reported); for a move's targets a failure, as nothing says its data is safe."""
    bare = with_lifecycles(registry, {"api": None})
    lifecycle = runner(bare, tmp_path, out)
    bootstrap = lifecycle.cell_bootstrap("alpha")
    assert bootstrap.ok and bootstrap.components[0].status == Status.noop
    assert bootstrap.message == "api: no cell-bootstrap target declared (no `lifecycle`)"
    for result in (
        lifecycle.mirror(TENANT, SOURCE, DESTINATION, timeout=60),
        lifecycle.verify(TENANT, SOURCE, DESTINATION),
        lifecycle.cleanup(TENANT, SOURCE, DESTINATION),
    ):
        assert not result.ok
        assert "api: declares no `lifecycle` in organization.yaml" in result.message
        assert f"declare its repository and {result.target} target" in result.message


def test_cell_bootstrap_stops_at_the_first_failure_and_skips_what_is_done(
    registry: Registry, repo: Path, tmp_path: Path, out: Path
) -> None:
    broken = component_repo(tmp_path / "worker-repo", "cell-bootstrap:\n\t@exit 1\n")
    web = component_repo(tmp_path / "web-repo")
    three = with_lifecycles(
        registry,
        {"api": {"repository": str(repo)}, "worker": {"repository": str(broken)}, "web": {"repository": str(web)}},
    )
    heard: list[str] = []
    result = runner(three, tmp_path, out).cell_bootstrap(
        "alpha", skip={"api"}, on_result=lambda r: heard.append(f"{r.component}:{r.status}")
    )
    assert heard == ["api:done", "worker:failed", "web:stopped"]
    assert result.components[0].message == "done in an earlier run (journal)"
    assert not (out / "api-cell-bootstrap.env").exists() and not (out / "web-cell-bootstrap.env").exists()


# --- checkouts --------------------------------------------------------------------------------------


def test_a_missing_repository_names_the_component_and_the_repository(
    registry: Registry, tmp_path: Path, out: Path
) -> None:
    missing = tmp_path / "nowhere"
    result = runner(api(registry, missing), tmp_path, out).cell_bootstrap("alpha")
    [api_result] = result.components
    assert api_result.status == Status.failed
    assert f"cannot check out 'main' of its repository {missing}: there is no such directory" in api_result.message
    with pytest.raises(LifecycleError, match=r"component api: cannot check out 'main' of its repository .*nowhere"):
        runner(api(registry, missing), tmp_path, out).prepare(LifecycleTarget.cell_bootstrap)


def test_a_failing_clone_is_one_error(registry: Registry, tmp_path: Path, out: Path) -> None:
    url = f"file://{tmp_path}/not-a-repo"
    (tmp_path / "not-a-repo").mkdir()
    with pytest.raises(LifecycleError) as caught:
        runner(api(registry, url), tmp_path, out).prepare(LifecycleTarget.cell_bootstrap)
    text = str(caught.value)
    assert text.startswith(f"component api: cannot check out 'main' of its repository {url}: `git clone` failed:")
    assert "Check `lifecycle.repository` and `lifecycle.ref`" in text
    trees = tmp_path / "project" / ".honeycomb" / "components" / "api"
    assert [p.name for p in trees.iterdir() if p.is_dir()] == []  # no half-made checkout left behind


def test_an_unknown_ref_is_named(registry: Registry, repo: Path, tmp_path: Path, out: Path) -> None:
    with pytest.raises(LifecycleError, match="the repository has no branch, tag or commit 'v9'"):
        runner(api(registry, repo, ref="v9"), tmp_path, out).prepare(LifecycleTarget.cell_bootstrap)


def test_refs_branches_tags_and_commits(registry: Registry, repo: Path, tmp_path: Path, out: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "v1")
    (repo / "NOTES").write_text("two\n")
    second = commit(repo)
    url = f"file://{repo}"

    def checked_out(ref: str) -> str:
        [result] = runner(api(registry, url, ref=ref), tmp_path, out).cell_bootstrap("alpha").components
        assert result.ok, result.message
        assert result.commit is not None
        return result.commit

    assert checked_out("main") == second
    assert checked_out("v1") == first
    assert checked_out(first) == first
    (repo / "NOTES").write_text("three\n")
    third = commit(repo)
    assert checked_out("main") == third  # a branch is fetched again by each new runner
    trees = tmp_path / "project" / ".honeycomb" / "components" / "api"
    assert sorted(p.name for p in trees.iterdir() if p.is_dir()) == sorted(["main", "v1", first])


def test_a_relative_repository_is_read_from_the_project(registry: Registry, tmp_path: Path, out: Path) -> None:
    component_repo(tmp_path / "project" / "components" / "api")
    [result] = runner(api(registry, "components/api"), tmp_path, out).cell_bootstrap("alpha").components
    assert result.status == Status.done, result.message


# --- the registry's declaration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("repository", "--upload-pack=touch /tmp/x", "is not a repository"),
        ("ref", "-b", "is not a branch, tag or commit"),
        ("ref", "main..evil", "without '..'"),
        ("directory", "../up", "String should match pattern"),
        ("targets", {"tenant-mirror": "-n"}, "is not a make target"),
        ("targets", {"tenant-move": "x"}, "Input should be 'cell-bootstrap'"),
    ],
)
def test_a_bad_declaration_is_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Lifecycle.model_validate({"repository": "https://github.com/acme/api.git", field: value})


def test_a_bad_declaration_names_the_file_and_the_field(registry_copy: Path, edit_yaml) -> None:  # type: ignore[no-untyped-def]
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["components"][0]["lifecycle"].update(ref="-b"))
    result = CliRunner().invoke(app, ["validate", "--registry", str(registry_copy)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "organization.yaml: components[0].lifecycle.ref: '-b' is not a branch, tag or commit" in result.output


def test_the_sample_declares_every_component_and_a_dry_run_lists_the_calls(registry: Registry) -> None:
    rows = {row["component"]: row for row in declared(registry, LifecycleTarget.cell_bootstrap)}
    assert rows["api"] == {
        "component": "api",
        "make_target": "cell-bootstrap",
        "repository": "https://github.com/acme/api.git",
        "ref": "v1.42.0",
        "directory": "deploy/honeycomb",
    }
    assert (
        rows["worker"]["make_target"] is None and rows["worker"]["note"] == "no cell-bootstrap target declared (null)"
    )
    mirror = {row["component"]: row["make_target"] for row in declared(registry, LifecycleTarget.tenant_mirror)}
    assert mirror == {"api": "tenant-mirror", "worker": "drain-tenant-queues", "web": None}


# --- cellctl bootstrap: cell-bootstrap after each cell's stack, journaled ----------------------------

REV = "1" * 40


def _bootstrap(registry: Registry, plan: RolloutPlan, journal: Journal, tmp_path: Path, out: Path) -> Outcome:
    clock = VirtualClock()
    lifecycle = LifecycleRunner(registry, tmp_path / "project", clock, env={"OUT": str(out)})
    stacks = InMemoryRunner(clock, default=Behaviour(duration=30))
    return Orchestrator(plan, stacks, journal, registry=registry, clock=clock, after_up=bootstrap_hook(lifecycle)).run()


def test_bootstrap_calls_cell_bootstrap_after_each_stack_and_a_resume_calls_only_what_did_not_finish(
    registry: Registry, tmp_path: Path, out: Path
) -> None:
    api_repo = component_repo(tmp_path / "api-repo", "cell-bootstrap:\n\t@echo $(HONEYCOMB_CELL) >> $(OUT)/api-cells\n")
    worker_repo = component_repo(
        tmp_path / "worker-repo",
        "cell-bootstrap:\n"
        "\t@test $(HONEYCOMB_CELL) != beta -o -e $(OUT)/fixed || { echo no database in beta yet; exit 1; }\n"
        "\t@echo $(HONEYCOMB_CELL) >> $(OUT)/worker-cells\n",
    )
    reg = with_lifecycles(registry, {"api": {"repository": str(api_repo)}, "worker": {"repository": str(worker_repo)}})
    plan = bootstrap_plan(reg, ["alpha", "beta"], revision=REV)
    journals = tmp_path / "rollouts"
    first = _bootstrap(reg, plan, Journal.create(journals, plan, "boot"), tmp_path, out)
    assert first.status == RunStatus.halted
    journal = Journal.load(journals, "boot")
    beta = journal.cell("cell-beta")
    assert beta.state == CellState.failed and beta.error is not None
    assert beta.error.startswith("cell-bootstrap: worker: `make cell-bootstrap` failed (exit 1)")
    assert "no database in beta yet" in beta.error
    api_commit, worker_commit = git(api_repo, "rev-parse", "HEAD"), git(worker_repo, "rev-parse", "HEAD")
    assert beta.lifecycle == {"api": api_commit}
    assert journal.cell("cell-alpha").lifecycle == {"api": api_commit, "worker": worker_commit}

    (out / "fixed").touch()
    journal.check_resumable(plan)
    journal.reopen()
    assert _bootstrap(reg, plan, journal, tmp_path, out).status == RunStatus.succeeded
    assert (out / "api-cells").read_text().split() == ["alpha", "beta"]  # api is not called again in beta
    assert (out / "worker-cells").read_text().split() == ["alpha", "beta"]
    assert Journal.load(journals, "boot").cell("cell-beta").lifecycle == {"api": api_commit, "worker": worker_commit}


def test_a_rollout_and_a_preview_call_no_cell_bootstrap(registry: Registry, tmp_path: Path) -> None:
    called: list[str] = []

    def after_up(target, journal):  # type: ignore[no-untyped-def]
        called.append(target.stack)
        return "should not run"

    for plan in (
        rollout_plan(registry, revision=REV, wave="prod-main"),
        bootstrap_plan(registry, ["beta"], revision=REV, mode="preview"),
    ):
        clock = VirtualClock()
        journal = Journal.create(tmp_path / "rollouts", plan)
        stacks = InMemoryRunner(clock, default=Behaviour(duration=30))
        outcome = Orchestrator(plan, stacks, journal, registry=registry, clock=clock, after_up=after_up).run()
        assert outcome.status == RunStatus.succeeded
    assert called == []


def test_a_stop_during_a_cells_update_leaves_its_cell_bootstrap_for_the_resume(
    registry: Registry, tmp_path: Path
) -> None:
    called: list[str] = []
    plan = bootstrap_plan(registry, ["alpha"], revision=REV)
    clock = VirtualClock()
    journal = Journal.create(tmp_path / "rollouts", plan)
    holder: list[Orchestrator] = []

    def stop_when_alpha_starts(stack: str) -> None:
        if stack == "cell-alpha":
            holder[0].request_stop()

    stacks = InMemoryRunner(
        clock, default=Behaviour(duration=30, uninterruptible=True), on_start=stop_when_alpha_starts
    )
    orchestrator = Orchestrator(
        plan, stacks, journal, registry=registry, clock=clock, after_up=lambda t, j: called.append(t.stack)
    )
    holder.append(orchestrator)
    assert orchestrator.run().status == RunStatus.cancelled
    alpha = journal.cell("cell-alpha")
    assert alpha.state == CellState.cancelled and called == []
    assert alpha.stopped == "stopped after its stack update, before its cell-bootstrap targets"
