"""`cellctl plan`: what a stack will contain and which guardrails it breaks, offline.

Each stack's real program runs under the cloud-like mocks (`cellctl.offline.run_stack`): no
credentials, no network. Every registration is recorded and the policy pack's own rule objects
(`policies.POLICIES`) judge it. Several stacks run in a pool of processes (Pulumi's runtime state
is per process), each process importing the SDK once and then planning its stacks one after
another, the runtime reset between them (`cellctl.offline.run_program`). The cyclic garbage
collector is paused while a stack plans and run between stacks (`cellctl.offline.collector_paused`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cellctl.common import (
    EXIT_FINDINGS,
    EXIT_USAGE,
    JsonOption,
    RegistryOption,
    console,
    err_console,
    fail,
    load,
    print_json,
)

if TYPE_CHECKING:  # the engine loads when `plan` runs, not for `cellctl --help`
    from rich.table import Table
    from rich.tree import Tree

    from cellctl.offline import StackPlan
    from cellctl.stack_config import StackConfig
    from cells import Registry

#: Finding levels that fail the plan (exit 1): the pack's mandatory rules, the cloud rules' errors.
BLOCKING = ("mandatory", "error")

#: The fields of a resource in `--json` (more may be added; these keep their names).
RESOURCE_FIELDS = ("type", "name", "urn", "inputs", "parent", "provider", "protect", "source")


@dataclass
class StackResult:
    """One planned stack, in plain JSON-ready data so it crosses process boundaries cheaply."""

    stack: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    #: What the stack creates and names, for the cross-stack order check (`cellctl.stack_order`).
    identities: dict[str, Any] = field(default_factory=dict)
    cloud_seconds: float = 0.0  # of `seconds`, the cloud rules' share

    @property
    def mandatory(self) -> list[dict[str, Any]]:
        """The findings that fail the plan: mandatory policy rules and cloud errors."""
        return [f for f in self.findings if f["level"] in BLOCKING]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "stack": self.stack,
            "resources": self.resources,
            "findings": self.findings,
            "outputs": self.outputs,
            "seconds": round(self.seconds, 3),
            "cloud_seconds": round(self.cloud_seconds, 3),
        }
        if self.error is not None:
            doc["error"] = self.error
        return doc


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def account_ids(registry: Registry) -> dict[str, str]:
    """The account id of every AWS cell as the mocks' management stack reports it."""
    from cellctl.mocks import fake_account_id

    return {c.name: c.account_id or fake_account_id(c.name) for c in registry.aws_cells}


def plan_stack(
    stack: str,
    registry: Registry,
    policy_config: dict[str, Any] | None = None,
    config: StackConfig | None = None,
    run: Callable[[str, Registry], StackPlan] | None = None,
) -> StackResult:
    """Run one stack's program offline (with its stack config), or `run`'s (e.g. a team's program, which
    reads its own config), and evaluate the pack and the cloud rules on it; failures become `error`."""
    from cellctl.offline import run_stack
    from cellctl.programs import ProgramError
    from cellctl.stack_order import stack_identities
    from policies import cloud
    from policies.evaluate import evaluate

    started = time.perf_counter()
    result = StackResult(stack)
    try:
        if run is not None:
            planned = run(stack, registry)
        elif config is None:  # the committed stack file, as `pulumi preview` reads it
            planned = run_stack(stack, registry)
        else:
            planned = run_stack(stack, registry, config=config.values, secret_keys=config.secret_keys)
    except ProgramError as exc:
        result.error = str(exc)
    except NotImplementedError as exc:
        result.error = f"the program of stack {stack} is not written yet: {exc}"
    except Exception as exc:  # a program bug: report it for this stack, plan the others
        result.error = f"the program of stack {stack} failed: {type(exc).__name__}: {exc}"
    else:
        planned.resources.sort(key=lambda r: r.urn)  # registration order varies from run to run
        result.resources = [
            _jsonable({key: getattr(r, key) for key in RESOURCE_FIELDS} | {"custom": r.custom})
            for r in planned.resources
        ]
        result.outputs = _jsonable(planned.outputs)
        result.identities = stack_identities(planned.resources)
        try:
            findings = evaluate(
                planned.resources + planned.reads,
                registry=registry,
                account_ids=account_ids(registry),
                config=policy_config,
                stack_config=planned.config,
            )
        except Exception as exc:
            result.error = f"evaluating the policy pack on stack {stack} failed: {type(exc).__name__}: {exc}"
        else:
            result.findings = [f.to_json() for f in findings]
            cloud_started = time.perf_counter()
            try:
                result.findings += [f.to_json() for f in cloud.check(planned.resources, planned.context)]
                result.cloud_seconds = time.perf_counter() - cloud_started
            except Exception as exc:
                result.error = f"checking the cloud rules on stack {stack} failed: {type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


# --- running many stacks ---------------------------------------------------------------------

_worker_state: dict[str, Any] = {}


def _init_worker(
    registry: dict[str, Any], policy_config: dict[str, Any] | None, configs: dict[str, StackConfig]
) -> None:
    # The registry travels as plain data (pydantic generics do not pickle) and is validated again here.
    from cellctl.offline import collector_paused, settle
    from cells import Registry

    _worker_state.update(registry=Registry.model_validate(registry), policy_config=policy_config, configs=configs)
    with collector_paused(), contextlib.suppress(Exception):  # a broken program is reported per stack, not here
        _preload()
    settle()


def _plan_in_worker(stack: str) -> StackResult:
    from cellctl.offline import collector_paused, settle

    with collector_paused():
        result = plan_stack(
            stack, _worker_state["registry"], _worker_state["policy_config"], _worker_state["configs"].get(stack)
        )
    settle()
    return result


#: How the programs name the SDKs' lazily loaded submodules (`aws.ec2.Vpc`, `k8s.apps.v1.Deployment`).
_SDK_USE = re.compile(r"\b(aws|gcp|k8s)\.([a-z][a-z0-9_]*)\.(v\w+\.)?")
_SDK_PACKAGES = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "k8s": "pulumi_kubernetes"}


def _preload() -> None:
    """Import the programs and the SDK modules they use, so a worker pays its imports once, up front."""
    import stacks

    for module in ("cellctl.offline", "policies", "stacks.cell_aws", "stacks.cell_gcp", "stacks.management"):
        importlib.import_module(module)
    root = Path(stacks.__file__).parent.parent
    used: set[str] = set()
    for source in [*root.joinpath("stacks").rglob("*.py"), *root.joinpath("components").rglob("*.py")]:
        for alias, module, version in _SDK_USE.findall(source.read_text(encoding="utf-8")):
            used.add(".".join(filter(None, (_SDK_PACKAGES[alias], module, version.rstrip(".")))))
    for module in sorted(used):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def plan_stacks(
    stacks: Sequence[str],
    registry: Registry,
    *,
    policy_config: dict[str, Any] | None = None,
    configs: dict[str, StackConfig] | None = None,
    jobs: int | None = None,
    on_done: Callable[[StackResult], None] | None = None,
) -> list[StackResult]:
    """Plan `stacks` (results in their order), in `jobs` processes (default: one per core) when there are several.

    `on_done` hears of each stack as it finishes (for progress).
    """
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(stacks)))
    done = on_done or (lambda result: None)
    configs = configs or {}
    from cellctl.offline import collector_paused, settle

    if jobs == 1:
        results: list[StackResult] = []
        for stack in stacks:
            if results:
                settle()  # what the last stack left, before the next one starts (not after the last: exit frees it)
            with collector_paused():
                results.append(plan_stack(stack, registry, policy_config, configs.get(stack)))
            done(results[-1])
        return results
    # Spawned, not forked: the caller may already run threads (Pulumi's runtime, gRPC), and a fork
    # copies their locks. Each worker warms up (imports) once, in parallel, then plans in turn.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(registry.model_dump(mode="json"), policy_config, configs),
    ) as pool:
        futures = {pool.submit(_plan_in_worker, stack): stack for stack in _longest_first(stacks)}
        by_stack: dict[str, StackResult] = {}
        with collector_paused():  # only results arrive here: plain data, kept to the end
            for future in as_completed(futures):
                by_stack[futures[future]] = future.result()
                done(by_stack[futures[future]])
        return [by_stack[stack] for stack in stacks]


def _longest_first(stacks: Sequence[str]) -> list[str]:
    """The order to hand stacks to workers: the management stack (several times a cell's resources) first,
    so that it does not start last and leave the other workers idle at the end; results keep `stacks`' order."""
    return sorted(stacks, key=lambda stack: stack != "management")


def _plan_with_progress(stacks: Sequence[str], registry: Registry, **options: Any) -> list[StackResult]:
    """`plan_stacks` with a progress bar on a terminal's stderr (nothing when output is redirected)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("planning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=len(stacks) < 2 or not err_console.is_terminal,
    )
    with progress:
        task = progress.add_task("", total=len(stacks))
        return plan_stacks(
            stacks, registry, on_done=lambda r: progress.update(task, advance=1, description=r.stack), **options
        )


# --- printing ----------------------------------------------------------------------------------


def _tree(result: StackResult) -> Tree:
    """Components and resources by parent: components first, then by name (stable across runs)."""
    from rich.tree import Tree

    root = Tree(f"[bold]{escape(result.stack)}[/] [dim]({len(result.resources)} resources)[/]")
    known = {r["urn"] for r in result.resources}
    flagged = {f["urn"] for f in result.findings}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for resource in result.resources:
        parent = resource["parent"] if resource["parent"] in known else None
        children.setdefault(parent, []).append(resource)

    def add(branch: Tree, parent: str | None) -> None:
        for resource in sorted(children.get(parent, []), key=lambda r: (r["custom"], r["name"], r["type"])):
            label = f"{escape(resource['name'])} [dim]{escape(resource['type'])}[/]"
            if resource.get("protect"):
                label += " [cyan](protected)[/]"
            if resource["urn"] in flagged:
                label += " [red]![/]"
            add(branch.add(label), resource["urn"])

    add(root, None)
    return root


def _counts(result: StackResult) -> Table:
    from rich.table import Table

    counts: dict[str, int] = {}
    for resource in result.resources:
        counts[resource["type"]] = counts.get(resource["type"], 0) + 1
    table = Table(title=f"{result.stack}: resources by type", title_justify="left")
    table.add_column("type")
    table.add_column("count", justify="right")
    for type_, count in sorted(counts.items()):
        table.add_row(escape(type_), str(count))
    table.add_row("[bold]total[/]", f"[bold]{len(result.resources)}[/]")
    return table


def _findings(result: StackResult) -> Table:
    from rich.table import Table

    table = Table(title=f"{result.stack}: policy and cloud findings", title_justify="left", show_lines=True)
    table.add_column("level", no_wrap=True)
    table.add_column("policy", no_wrap=True)
    table.add_column("resource", overflow="fold", max_width=32)
    table.add_column("message", overflow="fold", ratio=1)
    for finding in result.findings:
        colour = "red" if finding["level"] in BLOCKING else "yellow"
        resource = escape(finding["name"]) if finding.get("name") else "(the stack)"
        table.add_row(f"[{colour}]{finding['level']}[/]", finding["policy"], resource, escape(finding["message"]))
    return table


def _summary(result: StackResult) -> str:
    if result.error:
        return f"[red]{escape(result.stack)}: error[/]: {escape(result.error)}"
    mandatory = sum(f["level"] == "mandatory" for f in result.findings)
    errors = sum(f["level"] == "error" for f in result.findings)
    advisory = len(result.findings) - mandatory - errors
    colour = "red" if mandatory or errors else "green"
    return (
        f"[{colour}]{escape(result.stack)}[/]: {len(result.resources)} resources, "
        f"{mandatory} mandatory, {errors} cloud errors and {advisory} advisory findings ({result.seconds:.1f}s)"
    )


def print_results(results: Iterable[StackResult]) -> None:
    results = list(results)
    for result in results:
        if result.error is None:
            console.print(_tree(result))
            console.print(_counts(result))
            if result.findings:
                console.print(_findings(result))
        console.print(_summary(result), highlight=False)
        console.print()
    if len(results) > 1:
        console.rule("summary")
        for result in results:
            console.print(_summary(result), highlight=False)


# --- the command ---------------------------------------------------------------------------


def _resolve_stacks(requested: Sequence[str], all_stacks: bool, registry: Registry) -> list[str]:
    valid = registry.stack_names
    if all_stacks:
        return valid
    if not requested:
        fail(f"name at least one stack, or pass --all; this registry has the stacks {', '.join(valid)}")
    # A bare cell name means its stack: `cellctl plan alpha` is `cellctl plan cell-alpha`.
    requested = [s if s in valid or f"cell-{s}" not in valid else f"cell-{s}" for s in requested]
    unknown = [s for s in requested if s not in valid]
    if unknown:
        fail(
            f"unknown stack{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: this registry has "
            f"the stacks {', '.join(valid)} (a cell's stack is cell-<name>)"
        )
    return list(dict.fromkeys(requested))


def _policy_config(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from policies import POLICIES
    from policies.evaluate import PolicyConfigError, enforcement_levels

    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read the policy config {path}: {exc.strerror}")
    except ValueError as exc:
        fail(f"the policy config {path} is not valid JSON: {exc}")
    if not isinstance(config, dict):
        fail(f"the policy config {path} must be a JSON object of rule name -> enforcement level")
    try:
        enforcement_levels(POLICIES, config)
    except PolicyConfigError as exc:
        fail(f"{path}: {exc}")
    return config


def plan(
    stacks: Annotated[
        list[str] | None,
        typer.Argument(help="Stacks to plan: management, cell-<name> (or just the cell's name)...", show_default=False),
    ] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="Plan every stack of the registry.")] = False,
    policy_config: Annotated[
        Path | None,
        typer.Option(
            "--policy-config",
            help="Enforcement levels by rule, as for `pulumi preview --policy-pack-config` "
            '(e.g. {"prod-protection": "mandatory"}).',
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Processes to plan in (default: one per core).")
    ] = None,
    config_items: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            help="KEY=VALUE on top of each stack's stacks/Pulumi.<stack>.yaml, as for `pulumi preview --config` "
            "(repeatable; a bare key is honeycomb:KEY).",
            show_default=False,
        ),
    ] = None,
    program: Annotated[
        Path | None,
        typer.Option(
            "--program",
            help="Plan this Pulumi Python program (a directory with Pulumi.yaml) as the named cell stack, "
            "instead of Honeycomb's own program.",
            show_default=False,
        ),
    ] = None,
    sarif: Annotated[
        Path | None,
        typer.Option("--sarif", help="Also write every finding to this file as SARIF 2.1.0.", show_default=False),
    ] = None,
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Plan stacks offline (no cloud, no credentials) and check them against the policy pack and the clouds' rules.

    Exit 0 when no mandatory rule fires and no cloud rule finds an error, 1 when one does, 2 for bad input or a
    stack that cannot be planned.
    """
    from cellctl import stack_order
    from cellctl.stack_config import StackConfigError, load_configs

    reg = load(registry)
    names = _resolve_stacks(stacks or [], all_stacks, reg)
    config = _policy_config(policy_config)
    if program is not None:
        from cellctl.programs import plan_program

        results = [plan_program(program, names, reg, policy_config=config, config_items=config_items or [])]
    else:
        try:
            configs = load_configs(names, config_items or [])
        except StackConfigError as exc:
            fail(escape(str(exc)))
        results = _plan_with_progress(names, reg, policy_config=config, configs=configs, jobs=jobs)
        stack_order.add_findings(results, reg)  # across stacks: nothing names what a later stack creates
    if sarif is not None:
        from cellctl.sarif import write_sarif

        write_sarif(results, sarif, **({"fallback": lambda _: program / "Pulumi.yaml"} if program else {}))
    if as_json:
        print_json({"stacks": [r.to_json() for r in results]})
    else:
        print_results(results)
    for result in results:
        if result.error:
            err_console.print(f"[bold red]error:[/] {escape(result.error)}", highlight=False, soft_wrap=True)
    if any(r.error for r in results):
        raise typer.Exit(EXIT_USAGE)
    if any(r.mandatory for r in results):
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    app.command()(plan)
