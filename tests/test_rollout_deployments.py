"""The deployments runner: the real `pulumi_cloud_sdk` client against a local stand-in of Pulumi Cloud."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from cloud_server import TOKEN, CloudServer, FakeCloud, Fault, Script, check_body, merge_settings, stack_settings

from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.deployments import (
    DeploymentApiError,
    DeploymentError,
    DeploymentsRunner,
    DeploymentsUnavailableError,
    JournalBook,
    MemoryBook,
    access_token,
    retry_after,
)
from cellctl.rollout.journal import CellState, Journal, Status, WaveState
from cellctl.rollout.orchestrator import Orchestrator
from cellctl.rollout.plan import RolloutPlan, Target, WavePlan
from cellctl.rollout.retry import CancelledError, RetryPolicy, TransientError
from cellctl.rollout.runner import REVISION_TAG

REV = "a" * 40
ORG, PROJECT = "acme", "honeycomb"


def runner(server: CloudServer, tmp_path: Path, clock: VirtualClock | None = None, **kw: object) -> DeploymentsRunner:
    return DeploymentsRunner(
        organization=ORG,
        project=PROJECT,
        home=tmp_path,
        clock=clock or VirtualClock(),
        token=TOKEN,
        host=server.url,
        poll_seconds=10.0,
        retry=RetryPolicy(attempts=4, initial=1, maximum=5, jitter=0),
        **kw,  # type: ignore[arg-type]
    )


def target(stack: str = "cell-alpha", wave: str = "preprod") -> Target:
    return Target(stack, wave, stack.removeprefix("cell-"), "aws")


def test_success_creates_one_deployment_pinned_to_the_revision(
    server: CloudServer, cloud: FakeCloud, tmp_path: Path
) -> None:
    result = runner(server, tmp_path).up(target(), revision=REV, run_id="r1")
    assert result.changes == {"update": 3, "same": 40}
    [dep] = cloud.created("cell-alpha")
    # The request inherits the stack's settings and pins the commit; branch stays unset (mutually exclusive).
    assert dep.request == {"operation": "update", "inheritSettings": True, "sourceContext": {"git": {"commit": REV}}}
    assert cloud.invalid == []
    log = (tmp_path / ".honeycomb" / "logs" / "cell-alpha.log").read_text()
    assert f"update as deployment {dep.id} of {REV}" in log and "Resources: 3 updated" in log
    assert log.count("Updating (cell)") == 1  # each line once, though the log was read on every poll
    # The last page brings the last lines with no token ("no more logs"): they are not read twice either.
    assert log.count("Resources: 3 updated") == 1
    assert cloud.tags["cell-alpha"][REVISION_TAG] == REV
    assert cloud.tags["cell-alpha"]["pulumi:project"] == PROJECT  # PATCH replaces all tags: the old ones are kept


def test_the_deployment_keeps_the_stacks_settings_and_runs_the_pinned_commit(
    server: CloudServer, cloud: FakeCloud, tmp_path: Path
) -> None:
    """The service merges the request onto the stack's settings and a `null` removes a setting: the request may
    carry no null but the inherited branch's (commit and branch are exclusive), or the deployment would lose its
    repository, OIDC, pre-run commands and agent pool (a null `agentPoolID` is Pulumi's hosted pool)."""
    cloud.settings["cell-alpha"] = stack_settings(agent_pool_id="pool-alpha")
    runner(server, tmp_path).up(target(), revision=REV)
    assert cloud.invalid == []
    [dep] = cloud.created("cell-alpha")
    expected = stack_settings(agent_pool_id="pool-alpha")
    git = dict(expected["sourceContext"]["git"], commit=REV)
    del git["branch"]
    assert dep.settings["sourceContext"] == {"git": git}
    assert dep.settings["operationContext"] == expected["operationContext"]
    assert dep.settings["agentPoolID"] == "pool-alpha"


def test_the_stand_in_merges_as_the_service_documents() -> None:
    current = {"git": {"repoUrl": "u", "branch": "main"}, "env": {"A": "1", "B": "2"}, "pre": ["x"]}
    patch = {"git": {"repoUrl": None}, "env": {"B": None, "C": "3"}, "pre": ["y"]}
    assert merge_settings(current, patch) == {"git": {"branch": "main"}, "env": {"A": "1", "C": "3"}, "pre": ["y"]}


def test_failed_deployment_reports_the_error_lines(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    cloud.scripts["cell-alpha"] = Script(
        final="failed", logs=["Updating (cell)", "aws:eks:Cluster cell: error: AccessDenied", "done"]
    )
    with pytest.raises(DeploymentError) as caught:
        runner(server, tmp_path).up(target(), revision=REV)
    assert caught.value.status == "failed" and not caught.value.terminated
    assert "error: AccessDenied" in str(caught.value) and "full log:" in str(caught.value)
    assert REVISION_TAG not in cloud.tags.get("cell-alpha", {})  # only a successful update is tagged


def test_429_waits_for_retry_after(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    cloud.faults.append(Fault("POST", r"/deployments$", "429", count=2, retry_after="30"))
    clock = VirtualClock()
    runner(server, tmp_path, clock).up(target(), revision=REV)
    assert len(cloud.created()) == 1
    creates = [c for c in cloud.calls if c[0] == "POST" and c[1].endswith("/deployments")]
    assert len(creates) == 3
    # Two waits of Retry-After (30 s each) though the backoff alone would wait 1-2 s; then polls of 10 s.
    assert clock.now() >= 60


def test_retry_after_as_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    assert retry_after("Wed, 02 Dec 2026 10:00:45 GMT", now) == 45
    assert retry_after("120") == 120 and retry_after("soon") is None and retry_after(None) is None


def test_lost_connection_mid_poll_follows_the_same_deployment(
    server: CloudServer, cloud: FakeCloud, tmp_path: Path
) -> None:
    cloud.scripts["cell-alpha"] = Script(statuses=["not-started", "running", "running"])
    cloud.faults.append(Fault("GET", r"/deployments/dep-\d+$", "drop", count=2))
    runner(server, tmp_path).up(target(), revision=REV)
    assert len(cloud.created()) == 1


def test_connection_lost_for_good_is_transient_and_the_retry_does_not_duplicate(
    server: CloudServer, cloud: FakeCloud, tmp_path: Path
) -> None:
    """Every API retry used up mid-poll: the orchestrator's retry calls `up` again, which follows the same id."""
    cloud.faults.append(Fault("GET", r"/deployments/dep-\d+$", "drop", count=4))
    run = runner(server, tmp_path)
    with pytest.raises(TransientError, match="network error"):
        run.up(target(), revision=REV)
    run.up(target(), revision=REV)
    assert len(cloud.created()) == 1


def test_bad_token_is_a_clear_final_error(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    run = runner(server, tmp_path)
    run.client.configuration.access_token = "wrong"
    with pytest.raises(DeploymentApiError, match="PULUMI_ACCESS_TOKEN"):
        run.up(target(), revision=REV)
    assert cloud.created() == []


def test_missing_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DeploymentsUnavailableError, match="PULUMI_ACCESS_TOKEN is not set"):
        access_token({})
    assert access_token({"PULUMI_ACCESS_TOKEN": " t "}) == "t"


def test_models_refuse_what_the_service_would() -> None:
    assert check_body({"operation": "update", "inheritSettings": True}, "CreateDeploymentRequest") is None
    assert "not one of" in str(check_body({"operation": "upp"}, "CreateDeploymentRequest"))
    assert "fields or values" in str(check_body({"operation": "update", "stack": "x"}, "CreateDeploymentRequest"))


# --- stopping ---------------------------------------------------------------------------------------


def start_running(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> tuple[DeploymentsRunner, list[str], Any]:
    """cell-alpha's update on a worker thread, returned once its deployment runs; `release` lets it finish."""
    hold = threading.Event()
    cloud.scripts["cell-alpha"] = Script(statuses=["not-started", "running"], hold=hold)
    clock = VirtualClock()
    run = runner(server, tmp_path, clock)
    seen: list[str] = []

    def up() -> None:
        try:
            run.up(target(), revision=REV)
            seen.append("succeeded")
        except DeploymentError as exc:
            seen.append(str(exc) if exc.terminated else "failed")
        finally:
            clock.done()

    clock.spawn()
    worker = threading.Thread(target=up)
    worker.start()
    while not any(d.status == "running" for d in cloud.created()):
        clock.sleep(1)

    def finish() -> None:
        hold.set()
        while worker.is_alive():
            clock.sleep(10)
        worker.join(5)

    return run, seen, finish


def test_first_stop_lets_a_running_deployment_finish(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    run, seen, finish = start_running(server, cloud, tmp_path)
    run.cancel("cell-alpha")  # the API's cancel would stop it mid-step: it is let finish
    run.clock.sleep(30)
    assert not cloud.created()[0].cancelled
    finish()
    assert seen == ["succeeded"]


def test_forced_stop_cancels_through_the_api(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    run, seen, finish = start_running(server, cloud, tmp_path)
    run.cancel("cell-alpha", force=True)
    finish()
    [error] = seen
    assert "cancelled through the API" in error and "the deployment was canceled" in error
    assert [c for c in cloud.calls if c[1].endswith("/cancel")]
    assert "cancelled through the Pulumi Cloud API" in str(run.release("cell-alpha"))


def test_stop_before_the_deployment_starts(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    run = runner(server, tmp_path)
    run.cancel("cell-alpha")
    with pytest.raises(CancelledError):
        run.up(target(), revision=REV)
    assert cloud.created() == []


# --- through the orchestrator -------------------------------------------------------------------------


def sample_plan() -> RolloutPlan:
    waves = (
        WavePlan("preprod", 0.0, (target("cell-staging"),), health_gate=False),
        WavePlan("prod-canary", 0.0, (target("cell-alpha", "prod-canary"), target("cell-beta", "prod-canary")), False),
    )
    return RolloutPlan("rollout", "up", waves, 25, REV, "digest")


def orchestrate(run: DeploymentsRunner, journal: Journal) -> Orchestrator:
    run.bind(JournalBook(journal))
    return Orchestrator(sample_plan(), run, journal, clock=run.clock, retry=RetryPolicy(attempts=2, initial=1))


def test_rollout_succeeds_and_records_deployment_ids(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "rollouts", sample_plan())
    outcome = orchestrate(runner(server, tmp_path), journal).run()
    assert outcome.status == Status.succeeded
    for stack in ("cell-staging", "cell-alpha", "cell-beta"):
        [dep] = cloud.created(stack)
        assert journal.cell(stack).deployments == {f"update:{REV}": dep.id}
        assert journal.cell(stack).state == CellState.succeeded


def test_rollout_halts_on_a_failed_deployment(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    cloud.scripts["cell-staging"] = Script(final="failed", logs=["Updating", "error: program failed"])
    journal = Journal.create(tmp_path / "rollouts", sample_plan())
    outcome = orchestrate(runner(server, tmp_path), journal).run()
    assert outcome.status == Status.halted and "error: program failed" in str(outcome.reason)
    assert cloud.created("cell-alpha") == [] and len(cloud.created("cell-staging")) == 1


def test_resume_follows_a_deployment_still_running(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    """The first cellctl died while cell-alpha's deployment ran remotely: the resume follows it, no duplicate."""
    plan = sample_plan()
    journal = Journal.create(tmp_path / "rollouts", plan)
    journal.update_cell("cell-staging", state=CellState.succeeded)
    journal.update_wave("preprod", state=WaveState.done)
    running = cloud.seed("cell-alpha", Script(statuses=["not-started", "running", "running"]), status="running")
    journal.update_cell("cell-alpha", state=CellState.running, deployments={f"update:{REV}": running})
    journal.finish(Status.cancelled, "the process died")

    resumed = Journal.load(tmp_path / "rollouts", journal.id)
    resumed.check_resumable(plan)
    resumed.reopen()
    outcome = orchestrate(runner(server, tmp_path), resumed).run()
    assert outcome.status == Status.succeeded
    assert [d.id for d in cloud.created("cell-alpha")] == [running]  # followed, not started again
    assert len(cloud.created("cell-beta")) == 1 and cloud.created("cell-staging") == []
    assert "following deployment" in (tmp_path / ".honeycomb" / "logs" / "cell-alpha.log").read_text()


def test_resume_after_a_failed_deployment_starts_a_new_one(
    server: CloudServer, cloud: FakeCloud, tmp_path: Path
) -> None:
    plan = sample_plan()
    journal = Journal.create(tmp_path / "rollouts", plan)
    failed = cloud.seed("cell-staging", Script(statuses=[], final="failed"), status="failed")
    cloud.deployments[failed].status = "failed"
    journal.update_cell("cell-staging", state=CellState.failed, deployments={f"update:{REV}": failed})
    journal.finish(Status.halted, "failed")
    journal.reopen()
    outcome = orchestrate(runner(server, tmp_path), journal).run()
    assert outcome.status == Status.succeeded
    assert len(cloud.created("cell-staging")) == 2
    assert journal.cell("cell-staging").deployments[f"update:{REV}"] != failed


def test_a_recorded_deployment_that_cannot_be_read_is_not_started_again(
    server: CloudServer, cloud: FakeCloud, tmp_path: Path
) -> None:
    """Only a deployment the service no longer knows (404) is replaced; any other refusal is final, or a
    second update of the stack would start while the first may still run."""
    book = MemoryBook()
    running = cloud.seed("cell-alpha", Script(statuses=["not-started", "running"]), status="running")
    book.put("cell-alpha", f"update:{REV}", running)
    cloud.faults.append(Fault("GET", rf"/deployments/{running}$", "403"))
    with pytest.raises(DeploymentApiError, match="403"):
        runner(server, tmp_path, book=book).up(target(), revision=REV)
    assert [d.id for d in cloud.created("cell-alpha")] == [running]
    cloud.faults.append(Fault("GET", rf"/deployments/{running}$", "404"))
    runner(server, tmp_path, book=book).up(target(), revision=REV)
    assert len(cloud.created("cell-alpha")) == 2 and book.get("cell-alpha", f"update:{REV}") != running


def test_last_revision_skips_this_rollout(server: CloudServer, cloud: FakeCloud, tmp_path: Path) -> None:
    cloud.tags["cell-alpha"] = {REVISION_TAG: "b" * 40}
    run = runner(server, tmp_path)
    run.up(target(), revision=REV, run_id="r1")
    assert run.last_revision("cell-alpha") == REV
    assert run.last_revision("cell-alpha", exclude_run="r1") == "b" * 40
