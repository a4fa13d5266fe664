"""Tenant commands: `cellctl tenants list | place | rebalance [--apply] | move` (engines in `cellctl.tenants`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from cellctl.common import EXIT_FINDINGS, JsonOption, RegistryOption, console, err_console, fail, load, print_json
from cellctl.rollout_cmds import PROJECT_DIR, ProjectOption

if TYPE_CHECKING:  # the engine loads when a command runs, not for `cellctl --help`
    from pydantic import ValidationError

    from cellctl.tenants.files import Edits
    from cellctl.tenants.moves import MoveResult
    from cellctl.tenants.rebalance import Plan
    from cells import Registry

tenants_app = typer.Typer(
    help="Tenants: list them, place a new one, rebalance the cells, move one.",
    no_args_is_help=True,
    add_completion=False,
)

CLOUDS = ("aws", "gcp")
#: Exit code of an applied plan stopped by Ctrl-C before every move ran (as a rollout's).
EXIT_CANCELLED = 130


def list_tenants(
    registry: RegistryOption = None,
    as_json: JsonOption = False,
    cell: Annotated[str | None, typer.Option("--cell", help="Only the tenants of this cell.")] = None,
    project_dir: ProjectOption = None,
) -> None:
    """List the tenants: id, cell, environment, daily requests, residency, custom domain, pin, a move under way.

    A tenant with an unfinished move journal (`.honeycomb/moves/`) shows `→ <cell>`: read from the
    journals, nothing is changed.
    """
    from rich.table import Table

    from cellctl.tenants.move import in_flight

    reg = load(registry)
    moving = in_flight(project_dir or PROJECT_DIR)
    if cell is not None and cell not in {c.name for c in reg.cells}:
        fail(f"no cell named {cell!r} in the registry (known cells: {', '.join(c.name for c in reg.cells)})")
    tenants = [t for t in reg.tenants if cell is None or t.cell == cell]
    if as_json:
        print_json([{**t.model_dump(mode="json"), "moving_to": moving.get(t.id)} for t in tenants])
        return
    table = Table(title=f"tenants of {reg.organization.name}" + (f" in {cell}" if cell else ""))
    # Ids and figures are never cut or folded (a narrow terminal, a CI log); the prose columns fold.
    whole = {
        "id": max((len(t.id) for t in tenants), default=2),
        "cell": max((len(t.cell) for t in tenants), default=4),
        "daily requests": 14,
        "moving": max((len(moving[t.id]) + 2 for t in tenants if t.id in moving), default=6),
    }
    # The moving column only while a move is under way: it is empty otherwise and costs the prose room.
    shown = [t for t in tenants if t.id in moving]
    for column, justify in (
        ("id", "left"),
        ("name", "left"),
        ("cell", "left"),
        ("environment", "left"),
        ("daily requests", "right"),
        ("residency", "left"),
        ("custom domain", "left"),
        ("pinned", "left"),
        *([("moving", "left")] if shown else []),
    ):
        table.add_column(
            column,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=column in whole,
            min_width=whole.get(column),
            overflow="fold",
        )
    for t in tenants:
        table.add_row(
            t.id,
            t.display_name,
            t.cell,
            str(t.environment),
            f"{t.daily_requests:,}",
            t.residency.describe() if t.residency else "anywhere",
            t.custom_domain or "",
            "yes" if t.pinned else "",
            *([f"→ {moving[t.id]}" if t.id in moving else ""] if shown else []),
        )
    console.print(table)
    console.print(f"{len(tenants)} tenants, {sum(t.daily_requests for t in tenants):,} daily requests")


def _residency(values: list[str]) -> dict[str, list[str]] | None:
    items = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if not items:
        return None
    clouds = [v for v in items if v in CLOUDS]
    regions = [v for v in items if v not in CLOUDS]
    return {**({"regions": regions} if regions else {}), **({"clouds": clouds} if clouds else {})}


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def place(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="The new tenant's id (a DNS label).")],
    requests: Annotated[int, typer.Option("--requests", min=0, help="Expected daily requests.")],
    residency: Annotated[
        list[str] | None,
        typer.Option("--residency", help="Allowed regions and/or clouds (aws, gcp); repeat or separate with commas."),
    ] = None,
    environment: Annotated[str, typer.Option("--environment", help="prod or sandbox.")] = "prod",
    display_name: Annotated[str | None, typer.Option("--display-name", help="Default: the id.")] = None,
    custom_domain: Annotated[str | None, typer.Option("--custom-domain", help="The tenant's own host name.")] = None,
    pin: Annotated[bool, typer.Option("--pin", help="Never move it automatically.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say where it would go; write nothing.")] = False,
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Place a new tenant in the cell with the most headroom its residency and environment allow.

    Writes the tenant into `tenants/<cell>.yaml`. When no cell fits, nothing is written: the command
    prints the cell file to add (next free name, network and wave) and exits 1.
    """
    from pydantic import ValidationError

    from cellctl.tenants.adapt import cell_loads, engine_cells, engine_tenant
    from cellctl.tenants.files import Edits, TenantFileError, edit_file, tenant_path
    from cellctl.tenants.placement import Placer
    from cells.loader import registry_dir
    from cells.tenants import TenantEntry

    reg = load(registry)
    existing = reg.find_tenant(tenant_id)
    if existing is not None:
        fail(f"tenant {tenant_id!r} already exists in cell {existing.cell} (tenants/{existing.cell}.yaml)")
    data: dict[str, Any] = {
        "id": tenant_id,
        "display_name": display_name or tenant_id,
        "environment": environment,
        "daily_requests": requests,
        "residency": _residency(residency or []),
        "custom_domain": custom_domain,
        "pinned": pin,
    }
    try:
        entry = TenantEntry.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        fail(f"tenant {tenant_id!r} is not valid: {_validation_message(exc)}")
    taken = next((t for t in reg.tenants if entry.custom_domain and t.custom_domain == entry.custom_domain), None)
    if taken is not None:
        fail(f"custom domain {entry.custom_domain!r} is already used by tenant {taken.id} (cell {taken.cell})")
    tenant = engine_tenant(entry, None)
    result = Placer(engine_cells(reg), cell_loads(reg)).place(tenant)
    if result.cell is None:
        _no_cell_fits(reg, tenant, result.to_dict(), as_json)
    root = registry_dir(registry)
    path = tenant_path(root, result.cell)
    edits = Edits()
    try:
        edit_file(path, result.cell, (), [(entry, None)], edits)
    except TenantFileError as exc:
        fail(str(exc))
    if not dry_run:
        _write(edits, registry)
    report = {
        **result.to_dict(),
        "file": str(path),
        "written": not dry_run,
        "rewritten": [str(p) for p in edits.rewritten],
    }
    if as_json:
        print_json(report)
        return
    console.print(f"[green]{tenant_id}[/] → [bold]{result.cell}[/]: {result.explanation}", highlight=False)
    _say_written(edits, dry_run)


def _no_cell_fits(reg: Registry, tenant: Any, placement: dict[str, Any], as_json: bool) -> NoReturn:
    from cellctl.tenants.newcell import ProposalError, propose_cell

    try:
        proposal = propose_cell(reg, tenant)
    except ProposalError as exc:
        if as_json:
            print_json({**placement, "proposal": None, "proposal_error": str(exc)})
            raise typer.Exit(EXIT_FINDINGS) from None
        fail(f"{placement['explanation']}; and no cell can be proposed: {exc}", EXIT_FINDINGS)
    if as_json:
        print_json(
            {
                **placement,
                "proposal": {"path": proposal.path, "document": proposal.document, "yaml": proposal.yaml},
            }
        )
        raise typer.Exit(EXIT_FINDINGS)
    console.print(f"[red]{tenant.id}[/]: {placement['explanation']}", highlight=False)
    console.print(
        f"Add this cell as {proposal.path} (then `cellctl validate`, `cellctl stacks sync`), and place again:",
        highlight=False,
    )
    console.print(proposal.yaml, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_FINDINGS)


def _write(edits: Edits, registry: Path | None) -> None:
    """Write the edited files, then validate the whole registry; on any failure put every file back."""
    from cellctl.tenants.files import TenantFileError, write_checked

    try:
        write_checked(edits, registry)
    except TenantFileError as exc:
        fail(str(exc))


def _say_written(edits: Edits, dry_run: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    for path in edits.texts:
        note = " (written afresh: its comments could not be kept)" if path in edits.rewritten else ""
        console.print(f"{verb} {path}{note}", highlight=False)


def rebalance_cmd(
    registry: RegistryOption = None,
    as_json: JsonOption = False,
    write: Annotated[
        bool, typer.Option("--write", help="Apply the plan to the tenant files (for review in a pull request).")
    ] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Run the plan as tenant moves (mirror, flip, verify, finalize).")
    ] = False,
    parallel: Annotated[int, typer.Option("--parallel", min=1, help="With --apply: moves at once.")] = 4,
    project_dir: ProjectOption = None,
) -> None:
    """Propose the moves that bring every cell within its limits minus headroom.

    Respects residency, environment and pins and moves as little load as it can; the moves are in
    an order that never overfills a destination. Changes nothing unless --write or --apply. Exits 1
    when no plan exists, saying which cell and which constraint stand in the way.

    --apply runs the moves, up to --parallel at a time, and halts on the first failure; each move
    writes its tenant files when it finalizes. Exits 1 when a move failed, 130 on Ctrl-C.
    """
    from cellctl.tenants.adapt import engine_cells, engine_tenants
    from cellctl.tenants.files import Edits
    from cellctl.tenants.rebalance import rebalance
    from cells.loader import registry_dir

    if apply and write:
        fail(
            "--apply and --write cannot be combined: --apply runs the moves, and each move writes the tenant "
            "files itself when it finalizes; --write only edits the files (for review, no move runs)"
        )
    reg = load(registry, over_limit_ok=True)
    plan = rebalance(engine_tenants(reg), engine_cells(reg))
    if apply and plan.feasible and plan.moves:
        _apply(reg, registry, (project_dir or PROJECT_DIR).resolve(), plan, parallel, as_json)
        return
    edits = Edits()
    if write and plan.feasible and plan.moves:
        edits = _plan_edits(reg, registry_dir(registry), plan)
        _write(edits, registry)
    if as_json:
        print_json(
            {**plan.to_dict(), "written": [str(p) for p in edits.texts], "rewritten": [str(p) for p in edits.rewritten]}
        )
    else:
        _print_plan(plan)
        if write and plan.feasible:
            _say_written(edits, dry_run=False)
    if not plan.feasible:
        raise typer.Exit(EXIT_FINDINGS)


def _apply(reg: Registry, registry: Path | None, project: Path, plan: Plan, parallel: int, as_json: bool) -> None:
    """Run the plan's moves with the move workflow; the report, and exit 1 (a failure) or 130 (Ctrl-C)."""
    from cellctl.rollout.clock import RealClock
    from cellctl.tenants import batch
    from cells.tenants import capacities

    clock = RealClock()
    try:
        mover = batch.default_mover(registry, clock=clock, project=project, loaded=reg)
    except batch.MoverUnavailableError as exc:
        fail(str(exc))
    out = err_console if as_json else console
    if not as_json:
        _print_plan(plan)

    def progress(event: batch.BatchEvent) -> None:
        out.print(event.describe(), highlight=False, soft_wrap=True)

    try:
        # Heaviest first: a tenant's traffic is the best guess of its data, so of its mirror's time, before it runs.
        estimates = {m.tenant: float(m.requests) for m in plan.moves}
        report = batch.run_batch(
            plan.moves,
            mover,
            parallel=parallel,
            clock=clock,
            capacity=capacities(reg),
            progress=progress,
            estimates=estimates,
        )
    except batch.BatchError as exc:
        fail(str(exc))
    if as_json:
        print_json({**plan.to_dict(), "applied": report.to_dict()})
    else:
        for line in report.lines():
            console.print(line, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(EXIT_CANCELLED if report.stopped else EXIT_FINDINGS)


def _plan_edits(reg: Registry, root: Path, plan: Plan) -> Edits:
    from cellctl.tenants.adapt import file_entry
    from cellctl.tenants.files import TenantFileError, move_edits

    by_id = {t.id: t for t in reg.tenants}
    try:
        return move_edits(root, [(file_entry(by_id[m.tenant]), m.source, m.destination) for m in plan.moves])
    except TenantFileError as exc:
        fail(str(exc))


def _print_plan(plan: Plan) -> None:
    from rich.table import Table

    if not plan.over_limit and plan.feasible:
        console.print("[green]every cell is within its limits minus headroom[/]: nothing to move")
        return
    console.print(f"over their limits minus headroom: {', '.join(plan.over_limit) or 'none'}", highlight=False)
    if not plan.feasible:
        certain = "no plan exists" if plan.proven else "no plan was found"
        console.print(f"[red]{certain}[/]:")
        for problem in plan.problems:
            console.print(f"  {problem.cell} ({problem.constraint}): {problem.message}", highlight=False)
        return
    table = Table(title="moves, in this order")
    for column in ("#", "tenant", "from", "to", "daily requests"):
        right = column in ("#", "daily requests")
        table.add_column(column, justify="right" if right else "left", no_wrap=True)
    for i, move in enumerate(plan.moves, 1):
        table.add_row(str(i), move.tenant, move.source, move.destination, f"{move.requests:,}")
    console.print(table)
    ratio = f" ({plan.moved_requests / plan.lower_bound:.2f}x)" if plan.lower_bound else ""
    console.print(
        f"moves {plan.moved_tenants} tenants and {plan.moved_requests:,} daily requests; lower bound "
        f"{plan.lower_bound_tenants} tenants and {plan.lower_bound:,} daily requests{ratio}",
        highlight=False,
    )


def move(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="The tenant to move.")],
    to: Annotated[str | None, typer.Option("--to", help="The destination cell.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the steps; read and write nothing.")] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", metavar="JOURNAL_ID", help="Continue the move of this journal.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Move a pinned tenant.")] = False,
    grace_minutes: Annotated[
        float, typer.Option("--grace-minutes", min=0, help="Wait before releasing the source's copy.")
    ] = 60,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Do not wait for the grace period: --resume later runs the cleanup.")
    ] = False,
    store_arn: Annotated[
        str | None,
        typer.Option("--store-arn", help="The router store's ARN. Default: the routing stack's output."),
    ] = None,
    registry: RegistryOption = None,
    project_dir: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a tenant to another cell: check, mirror, lower TTL, flip, verify, finalize, clean up.

    Each step is journaled in `.honeycomb/moves/<id>.json` with its own check and undo; a failure
    before finalize undoes what was done, so the source keeps serving. `--resume ID` continues a
    move that stopped (a step that was running is rechecked, not redone). Exit 0 moved, 1 when the
    move failed and was undone (or its journal cannot be used), 2 on bad input.
    """
    from cellctl.rollout.chained import JournalError
    from cellctl.tenants.move import MoveInputError
    from cellctl.tenants.moves import MoveRequest

    reg = load(registry)
    tenant = reg.find_tenant(tenant_id)
    if resume is None and to is None:
        fail("say where to move the tenant with --to CELL (or continue a move with --resume JOURNAL_ID)")
    source = tenant.cell if tenant is not None else "?"
    request = MoveRequest(tenant_id, source, to or "")
    project = (project_dir or PROJECT_DIR).resolve()
    if not project.is_dir():
        fail(f"project directory {project} does not exist (--project-dir)")
    say = (lambda _message: None) if as_json else (lambda message: err_console.print(message, highlight=False))
    try:
        mover = make_mover(
            reg,
            project,
            registry_dir=registry,
            store_arn=store_arn,
            grace_seconds=grace_minutes * 60,
            wait_grace=not no_wait,
            force=force,
            progress=say,
            dry_run=dry_run,
            clouds={c.cloud for c in reg.cells if c.name == to} or None,
        )
        if dry_run:
            _print_dry_run(request, mover.plan(request), as_json)
            return
        if resume is not None:
            _check_journal(project, resume, tenant_id, to)
            result = mover.resume(resume)
        else:
            result = mover.run(request)
    except JournalError as exc:
        fail(str(exc), EXIT_FINDINGS)
    except MoveInputError as exc:
        fail(str(exc))
    _print_move(result, project, as_json)
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)


def _check_journal(project: Path, journal_id: str, tenant_id: str, to: str | None) -> None:
    """`--resume` names a journal of this tenant (and of this destination, when --to is given too)."""
    from cellctl.tenants.move import moves_dir
    from cellctl.tenants.move_journal import MoveJournal

    doc = MoveJournal.load(moves_dir(project), journal_id).doc
    if doc.tenant != tenant_id or (to is not None and doc.destination != to):
        fail(
            f"journal {journal_id} is the move of {doc.tenant} to {doc.destination}, not of {tenant_id} to {to or '?'}"
        )


def make_mover(reg: Registry, project: Path, *, dry_run: bool, **options: Any) -> Any:
    """The command's mover (tests replace this seam); a dry run needs no cloud clients."""
    from cellctl.tenants.move_setup import make_mover as real

    if dry_run:
        return real(reg, project, routes=_Nothing(), lifecycle=_Nothing(), health=_Nothing(), **options)  # type: ignore[arg-type]
    return real(reg, project, **options)


class _Nothing:
    """Stands for a dependency a dry run never calls."""


def _print_dry_run(request: Any, steps: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json({"tenant": request.tenant, "source": request.source, "destination": request.destination,
                    "dry_run": True, "steps": steps})  # fmt: skip
        return
    console.print(f"would move {request.tenant} from {request.source} to {request.destination}:", highlight=False)
    for number, step in enumerate(steps, 1):
        console.print(f"  {number}. {step['step']}: {step['does']}", highlight=False, markup=False, soft_wrap=True)


def _print_move(result: MoveResult, project: Path, as_json: bool) -> None:
    if as_json:
        from cellctl.tenants.move import moves_dir
        from cellctl.tenants.move_journal import MoveJournal

        doc = MoveJournal.load(moves_dir(project), result.journal_id).doc
        print_json(
            {
                "tenant": result.tenant,
                "source": result.source,
                "destination": result.destination,
                "ok": result.ok,
                "journal_id": result.journal_id,
                "status": str(doc.status),
                "failed_step": str(result.failed_step) if result.failed_step else None,
                "message": result.message,
                "steps": [{"step": str(step), **entry.model_dump(mode="json")} for step, entry in doc.steps.items()],
            }
        )
        return
    colour = "green" if result.ok and result.failed_step is None else ("yellow" if result.ok else "red")
    console.print(f"[{colour}]{result.tenant}[/]: {result.message} (journal {result.journal_id})", highlight=False)


def register(app: typer.Typer) -> None:
    tenants_app.command("list")(list_tenants)
    tenants_app.command("place")(place)
    tenants_app.command("rebalance")(rebalance_cmd)
    tenants_app.command("move")(move)
    app.add_typer(tenants_app, name="tenants")
