"""`cellctl bootstrap` and `cellctl rollout`: stacks in bulk through the Pulumi Automation API.

Everything that can be wrong with the input (registry, cell or wave names, backend, stale or
uncommitted stack files, an unwritable `.honeycomb/`, a rollout already running, a journal from
another rollout or edited by hand, missing health-gate credentials, plugins that cannot be
installed) is checked before anything starts, and ends with exit 2 and no new journal.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cellctl.common import EXIT_USAGE, JsonOption, RegistryOption, console, err_console, fail, load, print_json
from cellctl.rollout.retry import RetryPolicy

if TYPE_CHECKING:  # the engine loads when a command runs, not for `cellctl --help`
    from cellctl.rollout.clock import Clock
    from cellctl.rollout.events import EventSink
    from cellctl.rollout.health import HealthGate
    from cellctl.rollout.journal import Journal
    from cellctl.rollout.orchestrator import Orchestrator, Outcome
    from cellctl.rollout.plan import RolloutPlan
    from cellctl.rollout.runlock import RunLock
    from cellctl.rollout.runner import StackRunner
    from cells import Registry

#: The Pulumi project: the checkout that holds `cellctl/` (and `Pulumi.yaml`, `__main__.py`).
PROJECT_DIR = Path(__file__).resolve().parent.parent

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project-dir", help="The Pulumi project directory. Defaults to this checkout.", show_default=False),
]
WaveOption = Annotated[str | None, typer.Option("--wave", help="Roll out this wave only.", show_default=False)]
PreviewOption = Annotated[bool, typer.Option("--preview", help="Run previews only; change nothing.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the schedule (waves, stacks, bake times, expected duration) and stop.")
]
ConcurrencyOption = Annotated[int, typer.Option("--concurrency", "-c", help="Stacks at once within a wave.")]
ResumeOption = Annotated[
    str | None,
    typer.Option("--resume", help="Continue the rollout with this journal id (or `latest`).", show_default=False),
]
RollbackOption = Annotated[
    bool,
    typer.Option(
        "--rollback-on-failure", help="Re-deploy the failed wave's cells from their last good revision after a halt."
    ),
]


BakeMinutesOption = Annotated[
    float | None,
    typer.Option(
        "--bake-minutes",
        help="Drill: cut each wave's bake to this many minutes. Waves with prod cells keep theirs "
        "unless --shorten-prod-bakes is given too.",
        show_default=False,
    ),
]
ShortenProdOption = Annotated[
    bool, typer.Option("--shorten-prod-bakes", help="Let --bake-minutes cut the bakes of waves with prod cells too.")
]
BreakLockOption = Annotated[
    bool,
    typer.Option("--break-lock", help="Take over the rollout lock left by a run that died (check it is gone first)."),
]

#: Retries of a stack's update (throttling, a locked stack, network blips).
ROLLOUT_RETRY = RetryPolicy()
#: Retries of the one-off plugin installs (a network error is worth another try; nothing has started yet).
PREPARE_RETRY = RetryPolicy(attempts=3, initial=5, maximum=20, jitter=1)


# --- seams (tests replace these) -----------------------------------------------------------------


@functools.cache
def _command() -> Any:
    """One `PulumiCommand` per process: one `pulumi version` check, shared by every runner."""
    from cellctl.rollout.runner import make_command

    return make_command()


def make_runner(run_dir: Path, registry_dir: Path | None, *, home: Path, backend: str | None) -> StackRunner:
    """The Automation API runner on `run_dir` (a disposable checkout); logs and kept keys live under `home`."""
    from cellctl.rollout.runner import AutomationRunner
    from cells.loader import REGISTRY_ENV

    env = {REGISTRY_ENV: str(registry_dir.resolve())} if registry_dir is not None else {}
    return AutomationRunner(run_dir, home=home, command=_command(), env=env, backend=backend)


def make_health(registry: Registry, runner: StackRunner, clouds: set[str]) -> HealthGate:
    """The bake gate for `clouds`; missing credentials are bad input (raised before anything starts)."""
    from cellctl.rollout.health import (
        AwsAlarmHealth,
        CellHealth,
        GcpAlertHealth,
        HealthError,
        RestAlertsClient,
        check_credentials,
    )
    from stacks.outputs import ACCOUNT_IDS

    problems = check_credentials(clouds)
    if problems:
        raise HealthError(" ".join(problems))

    def account_ids() -> dict[str, str]:
        outputs = getattr(runner, "outputs", None)
        return dict(outputs("management").get(ACCOUNT_IDS) or {}) if outputs else {}

    aws = AwsAlarmHealth(role_name=registry.organization.aws.access_role_name, account_ids=account_ids)
    return CellHealth(aws=aws, gcp=GcpAlertHealth(RestAlertsClient()))


def make_clock() -> Clock:
    from cellctl.rollout.clock import RealClock

    return RealClock()


# --- commands -----------------------------------------------------------------------------------


def rollout(
    wave: WaveOption = None,
    preview: PreviewOption = False,
    dry_run: DryRunOption = False,
    concurrency: ConcurrencyOption = 4,
    resume: ResumeOption = None,
    rollback_on_failure: RollbackOption = False,
    bake_minutes: BakeMinutesOption = None,
    shorten_prod_bakes: ShortenProdOption = False,
    break_lock: BreakLockOption = False,
    as_json: JsonOption = False,
    registry: RegistryOption = None,
    project_dir: ProjectOption = None,
) -> None:
    """Apply the current code to every cell, wave by wave, baking and checking health between waves."""
    from cellctl.rollout.gitrev import current_revision
    from cellctl.rollout.plan import PlanError, rollout_plan, shorten_bakes

    reg = load(registry)
    project = _project(project_dir)
    try:
        plan = rollout_plan(
            reg, revision=current_revision(project), wave=wave, mode=_mode(preview), concurrency=concurrency
        )
        if bake_minutes is not None:
            plan = shorten_bakes(plan, reg, bake_minutes, prod_too=shorten_prod_bakes)
        elif shorten_prod_bakes:
            raise PlanError("--shorten-prod-bakes needs --bake-minutes")
    except PlanError as exc:
        fail(str(exc))
    _execute(plan, reg, project, registry, dry_run, resume, rollback_on_failure, as_json, break_lock)


def bootstrap(
    cells: Annotated[list[str] | None, typer.Argument(help="Cells to bring up (name or cell-<name>).")] = None,
    all_cells: Annotated[bool, typer.Option("--all", help="Every cell of the registry.")] = False,
    preview: PreviewOption = False,
    dry_run: DryRunOption = False,
    concurrency: ConcurrencyOption = 4,
    resume: ResumeOption = None,
    break_lock: BreakLockOption = False,
    as_json: JsonOption = False,
    registry: RegistryOption = None,
    project_dir: ProjectOption = None,
) -> None:
    """Bring new cells up: the management stack first when it has changes, then each cell's stack by wave."""
    from cellctl.rollout.gitrev import current_revision
    from cellctl.rollout.plan import PlanError, bootstrap_plan

    reg = load(registry)
    project = _project(project_dir)
    if all_cells and cells:
        fail("name cells or pass --all, not both")
    names = [c.name for c in reg.cells] if all_cells else list(cells or [])
    try:
        plan = bootstrap_plan(
            reg, names, revision=current_revision(project), mode=_mode(preview), concurrency=concurrency
        )
    except PlanError as exc:
        fail(str(exc))
    _execute(plan, reg, project, registry, dry_run, resume, False, as_json, break_lock)


def _mode(preview: bool) -> Any:
    return "preview" if preview else "up"


def _project(project_dir: Path | None) -> Path:
    project = (project_dir or PROJECT_DIR).resolve()
    if not project.is_dir():
        fail(f"project directory {project} does not exist")
    return project


def _check_stack_files(reg: Registry, project: Path) -> None:
    """The committed stack files are what a run reads: refuse when they are stale or not committed."""
    from cellctl.rollout.gitrev import uncommitted_files
    from cellctl.stacks_cmd import compare

    directory = project / "stacks"
    findings = compare(reg, directory) if directory.is_dir() else []
    if not directory.is_dir():
        fail(f"{directory} does not exist: it holds the stack files (run `cellctl stacks sync`). Nothing was started.")
    if findings:
        listed = "; ".join(str(f) for f in findings[:8]) + ("; …" if len(findings) > 8 else "")
        fail(
            f"the stack files in {directory} do not match the registry: {listed}. Run `cellctl stacks sync` "
            "(it writes missing files and names what to fix in stale ones), commit stacks/, then retry. "
            "Nothing was started."
        )
    uncommitted = uncommitted_files(project, "stacks")
    if uncommitted:
        fail(
            f"stack files not committed: {', '.join(uncommitted)}. A run deploys what is committed next to the "
            "code (a rollback checks that revision out again): commit stacks/, then retry. Nothing was started."
        )


def _check_writable(project: Path) -> None:
    for sub in ("rollouts", "logs", "locks", "stack-keys"):
        directory = project / ".honeycomb" / sub
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            fail(
                f"cannot write to {directory} ({exc.strerror or exc}): cellctl keeps its journals, engine logs and "
                "rollout lock under .honeycomb/. Make it writable for this user, then retry. Nothing was started."
            )


def _execute(
    plan: RolloutPlan,
    reg: Registry,
    project: Path,
    registry_dir: Path | None,
    dry_run: bool,
    resume: str | None,
    rollback_on_failure: bool,
    as_json: bool,
    break_lock: bool = False,
) -> None:
    from cellctl.rollout.journal import duration_estimates
    from cellctl.rollout.runlock import RunLock, RunLockError
    from cellctl.rollout.runner import detect_backend

    journals = project / ".honeycomb" / "rollouts"
    estimates = duration_estimates(journals)
    if dry_run:
        _print_schedule(plan, estimates, as_json)
        return
    backend = detect_backend(project=project)
    if backend is None:
        fail(
            "no Pulumi state backend is configured: set PULUMI_BACKEND_URL (s3://…, gs://…, file://…) "
            "or run `pulumi login` first. Nothing was started."
        )
    _check_stack_files(reg, project)
    _check_writable(project)
    lock = RunLock(project, backend)
    try:
        lock.acquire(break_lock=break_lock)
    except (RunLockError, OSError) as exc:
        fail(f"{exc}. Nothing was started.")
    try:
        with _sigterm_as_ctrl_c():
            outcome = _locked(plan, reg, project, registry_dir, resume, rollback_on_failure, as_json, backend, lock)
    finally:
        lock.release()
    raise typer.Exit(outcome.exit_code)


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (`kill`, a CI job cancelled, a service stopped) stops the run as Ctrl-C does.

    Each `pulumi` runs in its own process group, so a signal to cellctl's group never reaches
    it: cellctl must pass the stop on, release its locks and remove its run checkout.
    """

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _locked(
    plan: RolloutPlan,
    reg: Registry,
    project: Path,
    registry_dir: Path | None,
    resume: str | None,
    rollback_on_failure: bool,
    as_json: bool,
    backend: str,
    lock: RunLock,
) -> Outcome:
    """Everything that runs while this run holds the rollout lock."""
    from cellctl.rollout.gitrev import snapshot
    from cellctl.rollout.health import HealthError
    from cellctl.rollout.journal import Journal, JournalError, duration_estimates
    from cellctl.rollout.retry import call_with_retry
    from cellctl.rollout.runner import RunnerUnavailableError

    journals = project / ".honeycomb" / "rollouts"
    if resume is not None:
        try:
            journal = Journal.load(journals, resume)
            journal.check_resumable(plan)
        except JournalError as exc:
            fail(f"{exc}. Nothing was started.")
    with snapshot(project) as run_dir:
        try:
            runner = make_runner(run_dir, registry_dir, home=project, backend=backend)
        except RunnerUnavailableError as exc:
            fail(f"{exc}. Nothing was started.")
        health = None
        if plan.kind == "rollout" and plan.mode == "up":
            try:
                health = make_health(reg, runner, {str(t.cloud) for t in plan.targets if t.cloud})
            except HealthError as exc:
                fail(f"{exc}. Nothing was started.")
        clock = make_clock()
        try:
            call_with_retry(runner.prepare, policy=PREPARE_RETRY, clock=clock, stop=clock.signal())
        except Exception as exc:
            fail(
                f"could not install the provider plugins ({_cause_text(exc)}). Nothing was started: fix the network "
                "or plugin source, then retry."
            )
        if resume is not None:
            journal.reopen()
        else:
            journal = Journal.create(journals, plan)
        lock.note_journal(journal.id)
        estimates = duration_estimates(journals)
        return _run(
            plan, reg, project, registry_dir, runner, journal, health, estimates, rollback_on_failure, as_json, backend
        )


def _cause_text(exc: BaseException) -> str:
    text = str(exc)
    err = text.split("stderr:", 1)[-1] if "stderr:" in text else text
    return " ".join(err.split())[-600:]


def _run(
    plan: RolloutPlan,
    reg: Registry,
    project: Path,
    registry_dir: Path | None,
    runner: StackRunner,
    journal: Journal,
    health: HealthGate | None,
    estimates: dict[str, float],
    rollback_on_failure: bool,
    as_json: bool,
    backend: str | None = None,
) -> Outcome:
    from cellctl.rollout.events import JsonLines, LiveView, PlainLines, Recorder, fan_out
    from cellctl.rollout.gitrev import GitWorktrees
    from cellctl.rollout.orchestrator import Orchestrator, iter_cells
    from cellctl.rollout.runner import current_virtualenv

    recorder = Recorder()
    worktrees = GitWorktrees(project)

    def orchestrator(emit: EventSink) -> Orchestrator:
        return Orchestrator(
            plan,
            runner,
            journal,
            registry=reg,
            clock=make_clock(),
            health=health,
            retry=ROLLOUT_RETRY,
            emit=emit,
            estimates=estimates,
            rollback_on_failure=rollback_on_failure,
            worktrees=worktrees.checkout,
            # A rollback runs the old revision's program from a worktree, with the same registry.
            runner_for=lambda path: make_runner(path, registry_dir, home=project, backend=backend),
            venv=current_virtualenv(),
        )

    if as_json:
        outcome = orchestrator(fan_out(recorder, JsonLines(sys.stdout))).run()
        JsonLines(sys.stdout)(_report_event(outcome))
        return outcome
    if not console.is_terminal:
        outcome = orchestrator(fan_out(recorder, PlainLines(console))).run()
        _print_report(outcome)
        return outcome
    with LiveView(console, list(iter_cells(plan))) as view:
        outcome = orchestrator(fan_out(recorder, view)).run()
    _print_report(outcome)
    return outcome


def _report_event(outcome: Outcome) -> Any:
    from cellctl.rollout.events import Event
    from cellctl.rollout.orchestrator import report

    data = report(outcome.journal)
    data["rollback_commands"] = outcome.rollback_commands
    return Event("report", 0.0, state=str(outcome.status), detail=outcome.reason, data=data)


def _print_report(outcome: Outcome) -> None:
    from rich.table import Table

    from cellctl.rollout.orchestrator import report

    data = report(outcome.journal)
    table = Table(title=f"{data['kind']} {data['id']}: {data['status']}")
    for column in ("stack", "wave", "state", "attempts", "seconds", "error / rollback"):
        table.add_column(column, overflow="fold")
    for cell in data["cells"]:
        note = cell.get("error") or cell.get("rollback") or ""
        seconds = "" if cell["seconds"] is None else f"{cell['seconds']:.0f}"
        table.add_row(cell["stack"], cell["wave"], cell["state"], str(cell["attempts"]), seconds, note)
    console.print(table)
    if outcome.reason:
        err_console.print(f"[bold]{data['status']}[/]: {outcome.reason}", highlight=False, soft_wrap=True)
    if outcome.rollback_commands:
        err_console.print("To roll the failed wave back to its last good revision, run:", highlight=False)
        for command in outcome.rollback_commands:
            err_console.print(f"  {command}", highlight=False, markup=False, soft_wrap=True)
        err_console.print("(or re-run with --rollback-on-failure)", highlight=False)
    console.print(f"journal: {data['journal']}", highlight=False)


def _print_schedule(plan: RolloutPlan, estimates: dict[str, float], as_json: bool) -> None:
    from rich.table import Table

    from cellctl.rollout.plan import describe

    schedule = describe(plan, estimates)
    if as_json:
        print_json(schedule)
        return
    minutes = int(schedule["expected_seconds"]) // 60  # type: ignore[call-overload]
    title = f"{plan.kind} ({plan.mode}) of {plan.revision[:12]}: concurrency {plan.concurrency}, about {minutes} min"
    table = Table(title=title)
    for column in ("wave", "stacks", "bake", "health gate"):
        table.add_column(column, overflow="fold")
    for wave in schedule["waves"]:  # type: ignore[attr-defined]
        stacks = ", ".join(s["stack"] + (" (if changed)" if s.get("only_if_changes") else "") for s in wave["stacks"])
        table.add_row(
            wave["name"], stacks, f"{wave['bake_seconds'] / 60:.0f} min", "yes" if wave["health_gate"] else "no"
        )
    console.print(table)
    console.print("dry run: nothing was started", style="dim")


def register(app: typer.Typer) -> None:
    app.command()(bootstrap)
    app.command()(rollout)


__all__ = ["EXIT_USAGE", "bootstrap", "register", "rollout"]
