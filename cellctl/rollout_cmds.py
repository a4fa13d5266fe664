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
    from cellctl.lifecycle import LifecycleRunner
    from cellctl.rollout.clock import Clock
    from cellctl.rollout.events import EventSink
    from cellctl.rollout.health import HealthGate
    from cellctl.rollout.journal import Journal
    from cellctl.rollout.orchestrator import AfterUp, Orchestrator, Outcome
    from cellctl.rollout.plan import RolloutPlan
    from cellctl.rollout.runlock import RunLock
    from cellctl.rollout.runner import StackRunner
    from cells import Registry
    from cells.models import PulumiDeployments

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
RemoteConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        "-c",
        help="Stacks at once within a wave (default 4 locally; with --runner deployments the registry's "
        "pulumi_deployments.concurrency, which also bounds it).",
        show_default=False,
    ),
]
RunnerOption = Annotated[
    str,
    typer.Option(
        "--runner",
        help="Where stack updates run: `local` (the Automation API on this machine) or `deployments` "
        "(Pulumi Deployments, agents in Pulumi Cloud or inside the cells' networks).",
    ),
]
RUNNERS = ("local", "deployments")
#: Concurrency of the local runner when none is given.
LOCAL_CONCURRENCY = 4
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


def make_lifecycle(registry: Registry, project: Path, clock: Clock) -> LifecycleRunner:
    """The runner of the components' lifecycle targets; checkouts and logs live under `project`/.honeycomb."""
    from cellctl.lifecycle import LifecycleRunner

    return LifecycleRunner(registry, project, clock)


def make_deployments_runner(
    settings: PulumiDeployments, project: Path, *, backend: str, revision: str, clock: Clock
) -> StackRunner:
    """The Pulumi Deployments runner for the registry's organization (the token comes from the environment)."""
    from cellctl.rollout.deployments import DEFAULT_HOST, DeploymentsRunner, access_token
    from cellctl.rollout.runner import is_service_backend

    return DeploymentsRunner(
        organization=settings.organization,
        project=project_name(project),
        home=project,
        clock=clock,
        token=access_token(),
        host=backend if is_service_backend(backend) else DEFAULT_HOST,
        revision=revision,
    )


def project_name(project: Path) -> str:
    """The Pulumi project's name (Pulumi.yaml `name`): the middle of every stack's path in Pulumi Cloud."""
    import yaml

    path = project / "Pulumi.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        fail(f"cannot read the project's name from {path}: {exc}")
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        fail(f"{path} has no `name`: Pulumi Deployments finds stacks as <organization>/<name>/<stack>")
    return name


# --- commands -----------------------------------------------------------------------------------


def rollout(
    wave: WaveOption = None,
    preview: PreviewOption = False,
    dry_run: DryRunOption = False,
    runner: RunnerOption = "local",
    concurrency: RemoteConcurrencyOption = None,
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
    remote = _remote(reg, runner, concurrency, registry)
    if concurrency is None:
        concurrency = remote.concurrency if remote is not None else LOCAL_CONCURRENCY
    try:
        plan = rollout_plan(
            reg,
            revision=current_revision(project),
            wave=wave,
            mode=_mode(preview),
            concurrency=concurrency,
            routing=remote is None,
        )
        if bake_minutes is not None:
            plan = shorten_bakes(plan, reg, bake_minutes, prod_too=shorten_prod_bakes)
        elif shorten_prod_bakes:
            raise PlanError("--shorten-prod-bakes needs --bake-minutes")
    except PlanError as exc:
        fail(str(exc))
    _execute(plan, reg, project, registry, dry_run, resume, rollback_on_failure, as_json, break_lock, remote)


def _remote(reg: Registry, runner: str, concurrency: int | None, registry: Path | None) -> PulumiDeployments | None:
    """The registry's Pulumi Deployments settings for `--runner deployments` (None for `local`); bad input exits 2."""
    from cells.loader import DEFAULT_REGISTRY

    if runner not in RUNNERS:
        fail(f"--runner must be one of {', '.join(RUNNERS)}, got {runner!r}")
    if runner == "local":
        return None
    settings = reg.organization.pulumi_deployments
    where = (registry or DEFAULT_REGISTRY) / "organization.yaml"
    if settings is None:
        fail(
            f"--runner deployments needs the organization's Pulumi Deployments: {where} has no "
            "`pulumi_deployments` (organization, repository, concurrency). Add it, apply the management stack "
            "(it writes each stack's deployment settings), then retry; or use --runner local"
        )
    if concurrency is not None and concurrency > settings.concurrency:
        fail(
            f"--concurrency {concurrency} is more than the organization's Pulumi Deployments concurrency "
            f"({settings.concurrency}, pulumi_deployments.concurrency in {where}): deployments past it only wait "
            "in the service's queue. Give at most that, or raise the setting to what the organization's plan allows"
        )
    return settings


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
    for note in plan.notes:
        err_console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
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


def _create_cell_stacks(runner: StackRunner, plan: RolloutPlan) -> None:
    """Create the plan's cell stacks before the management update, which writes their deployment settings.

    Pulumi Cloud refuses deployment settings for a stack that does not exist yet (404 Stack not
    found), and a preview does not show it; the cell's own update would create it only later.
    """
    from cellctl.rollout.plan import MANAGEMENT
    from cellctl.rollout.runner import EngineError

    create = getattr(runner, "create", None)
    if create is None or MANAGEMENT not in {t.stack for t in plan.targets}:
        return
    try:
        create([t.stack for t in plan.targets if t.stack != MANAGEMENT])
    except EngineError as exc:
        fail(
            f"could not create the cell stacks that the management stack's deployment settings name ({exc}). "
            "Nothing was started."
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
    remote: PulumiDeployments | None = None,
) -> None:
    from cellctl.rollout.journal import duration_estimates
    from cellctl.rollout.runlock import RunLock, RunLockError
    from cellctl.rollout.runner import detect_backend

    journals = project / ".honeycomb" / "rollouts"
    estimates = duration_estimates(journals)
    if dry_run:
        _print_schedule(plan, estimates, as_json, remote, reg)
        return
    backend = detect_backend(project=project)
    if backend is None:
        fail(
            "no Pulumi state backend is configured: set PULUMI_BACKEND_URL (s3://…, gs://…, file://…) "
            "or run `pulumi login` first. Nothing was started."
        )
    if remote is not None:
        _check_remote(plan, backend)
    _check_stack_files(reg, project)
    _check_writable(project)
    lock = RunLock(project, backend)
    try:
        lock.acquire(break_lock=break_lock)
    except (RunLockError, OSError) as exc:
        fail(f"{exc}. Nothing was started.")
    try:
        with _sigterm_as_ctrl_c():
            outcome = _locked(
                plan, reg, project, registry_dir, resume, rollback_on_failure, as_json, backend, lock, remote
            )
    finally:
        lock.release()
    raise typer.Exit(outcome.exit_code)


def _check_remote(plan: RolloutPlan, backend: str) -> None:
    """What Pulumi Deployments needs before anything starts: a token, state in Pulumi Cloud, a pushed commit."""
    from cellctl.rollout.deployments import DeploymentsUnavailableError, access_token
    from cellctl.rollout.gitrev import is_checkoutable
    from cellctl.rollout.runner import is_service_backend

    try:
        access_token()
    except DeploymentsUnavailableError as exc:
        fail(f"{exc}. Nothing was started.")
    if not is_service_backend(backend):
        fail(
            f"--runner deployments runs stacks whose state is in Pulumi Cloud, but this checkout's backend is "
            f"{backend}. Log in to Pulumi Cloud (unset PULUMI_BACKEND_URL, `pulumi login`), or use --runner local. "
            "Nothing was started."
        )
    if not is_checkoutable(plan.revision):
        fail(
            f"--runner deployments deploys a commit the agents check out of the repository, but this checkout is "
            f"at {plan.revision} (uncommitted changes, or no git checkout). Commit and push, then retry. "
            "Nothing was started."
        )


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
    remote: PulumiDeployments | None = None,
) -> Outcome:
    """Everything that runs while this run holds the rollout lock."""
    from cellctl.rollout.deployments import DeploymentsUnavailableError, JournalBook
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
            if remote is not None:
                runner = make_deployments_runner(
                    remote, project, backend=backend, revision=plan.revision, clock=make_clock()
                )
            else:
                runner = make_runner(run_dir, registry_dir, home=project, backend=backend)
        except (RunnerUnavailableError, DeploymentsUnavailableError) as exc:
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
        after_up = _cell_bootstrap_hook(plan, reg, project, clock)
        if plan.kind == "bootstrap" and remote is None and reg.organization.pulumi_deployments is not None:
            _create_cell_stacks(runner, plan)
        if resume is not None:
            journal.reopen()
        else:
            journal = Journal.create(journals, plan)
        lock.note_journal(journal.id)
        bind = getattr(runner, "bind", None)
        if bind is not None:
            # Deployment ids go into the journal before they are followed: a resume follows, never duplicates.
            bind(JournalBook(journal))
        estimates = duration_estimates(journals)
        return _run(
            plan,
            reg,
            project,
            registry_dir,
            runner,
            journal,
            health,
            estimates,
            rollback_on_failure,
            as_json,
            backend,
            same_runner=remote is not None,
            after_up=after_up,
        )


def _cell_bootstrap_hook(plan: RolloutPlan, reg: Registry, project: Path, clock: Clock) -> AfterUp | None:
    """A bootstrap's `cell-bootstrap` calls, after each cell's stack is up; every repository checked out first."""
    from cellctl.lifecycle import LifecycleError, LifecycleTarget
    from cellctl.lifecycle.bootstrap import bootstrap_hook

    if (plan.kind, plan.mode) != ("bootstrap", "up") or not any(t.cell for t in plan.targets):
        return None
    lifecycle = make_lifecycle(reg, project, clock)
    try:
        lifecycle.prepare(LifecycleTarget.cell_bootstrap)
    except LifecycleError as exc:
        fail(f"{exc}. Nothing was started.")
    return bootstrap_hook(lifecycle)


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
    *,
    same_runner: bool = False,
    after_up: AfterUp | None = None,
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
            # A rollback runs the old revision's program from a worktree, with the same registry; a deployment
            # is given the old commit itself, so the remote runner serves its rollback too.
            runner_for=(lambda path: runner)
            if same_runner
            else (lambda path: make_runner(path, registry_dir, home=project, backend=backend)),
            venv=current_virtualenv(),
            after_up=after_up,
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


def _print_schedule(
    plan: RolloutPlan,
    estimates: dict[str, float],
    as_json: bool,
    remote: PulumiDeployments | None = None,
    reg: Registry | None = None,
) -> None:
    from rich.table import Table

    from cellctl.lifecycle import LifecycleTarget, declared
    from cellctl.rollout.plan import describe

    schedule = describe(plan, estimates)
    calls = (
        declared(reg, LifecycleTarget.cell_bootstrap)
        if reg is not None and (plan.kind, plan.mode) == ("bootstrap", "up")
        else None
    )
    if calls is not None:
        schedule["cell_bootstrap"] = calls
    schedule["runner"] = (
        {"kind": "deployments", "organization": remote.organization, "concurrency_limit": remote.concurrency}
        if remote is not None
        else {"kind": "local"}
    )
    if as_json:
        print_json(schedule)
        return
    minutes = int(schedule["expected_seconds"]) // 60  # type: ignore[call-overload]
    where = f"Pulumi Deployments ({remote.organization})" if remote is not None else "this machine"
    title = (
        f"{plan.kind} ({plan.mode}) of {plan.revision[:12]} on {where}: concurrency {plan.concurrency}, "
        f"about {minutes} min"
    )
    table = Table(title=title)
    for column in ("wave", "stacks", "bake", "health gate"):
        table.add_column(column, overflow="fold")
    for wave in schedule["waves"]:  # type: ignore[attr-defined]
        stacks = ", ".join(s["stack"] + (" (if changed)" if s.get("only_if_changes") else "") for s in wave["stacks"])
        table.add_row(
            wave["name"], stacks, f"{wave['bake_seconds'] / 60:.0f} min", "yes" if wave["health_gate"] else "no"
        )
    console.print(table)
    if calls is not None:
        _print_cell_bootstrap(calls)
    console.print("dry run: nothing was started", style="dim")


def _print_cell_bootstrap(calls: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="after each cell's stack is up: cell-bootstrap")
    for column in ("component", "repository", "make target"):
        table.add_column(column, overflow="fold")
    for call in calls:
        where = f"{call['repository']} @ {call['ref']}" if "repository" in call else ""
        if where and call["directory"] != ".":
            where += f" ({call['directory']})"
        table.add_row(call["component"], where, call["make_target"] or call["note"])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(bootstrap)
    app.command()(rollout)


__all__ = ["EXIT_USAGE", "bootstrap", "register", "rollout"]
