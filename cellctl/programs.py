"""Run an application team's own Pulumi Python program offline, as a stack of a cell.

`cellctl plan cell-alpha --program DIR` runs the program in DIR (`Pulumi.yaml` with `runtime:
python`, and its `main` file, `__main__.py` by default) the way the Python language host does
(`__main__`, its directory first on `sys.path`, its directory as working directory), under the
same mocks and the same policy pack as Honeycomb's own stacks (less `PLATFORM_RULES`). The mocks know the cell: ambient
credentials are the cell's account (GCP: project) and region, and a `StackReference` to the cell's
own stack returns what that stack exports (its kubeconfig, cluster, zone), planned offline first.

Config comes from the program's `Pulumi.yaml` (`config:` defaults) and `Pulumi.<stack>.yaml`
(in `stackConfigDir` if set, read as `cellctl.stack_config` reads ours: secure values become the
`[secret]` placeholder), then `--config KEY=VALUE` overrides (a bare key is the program's
project's). Not covered: programs in other languages, YAML programs, `pulumi.runtime` features
the mocks lack (transforms run as the SDK runs them; hooks do not).
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import yaml
from rich.markup import escape

from cellctl.mocks import CloudMocks, fake_account_id
from cellctl.offline import StackPlan, run_program, run_stack
from cellctl.stack_config import StackConfig, StackConfigError, qualify, read_file
from cells import AwsCell, GcpCell, Registry

if TYPE_CHECKING:
    from cellctl.plan import StackResult

#: Rules about what the cell's own (platform) stack must contain, such as its telemetry link and health
#: alarm: a team's program is another project in the cell and need not create those. Off unless the
#: policy config names them.
PLATFORM_RULES = ("cell-observability",)


class ProgramError(Exception):
    """The program cannot be loaded or failed: one paragraph naming the program, the file and line."""


@dataclass(frozen=True)
class Program:
    directory: Path
    project: str
    main: Path
    #: Project-level config defaults (`Pulumi.yaml` `config:`), fully qualified keys.
    defaults: dict[str, str]
    stack_config_dir: Path

    def label(self) -> str:
        return f"{self.project} ({self.directory})"


def _text(value: Any) -> str:
    """A config value as the engine passes it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _qualified(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_program(directory: Path) -> Program:
    """Read and check `DIR/Pulumi.yaml`; every problem is a `ProgramError` naming the file and field."""
    directory = directory.resolve()
    project_file = directory / "Pulumi.yaml"
    if not directory.is_dir():
        raise ProgramError(f"the program directory {directory} does not exist")
    try:
        doc = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProgramError(f"{directory} is not a Pulumi program: it has no Pulumi.yaml") from None
    except yaml.YAMLError as exc:
        raise ProgramError(f"{project_file} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ProgramError(f"{project_file} must be a mapping with at least `name` and `runtime`")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ProgramError(f"{project_file}: `name` (the project's name) is missing")
    runtime = doc.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramError(
            f"{project_file}: runtime is {runtime_name!r}; cellctl plan --program runs Python programs only"
        )
    main = directory / str(doc.get("main") or ".")
    if main.is_dir():
        main = main / "__main__.py"
    if not main.is_file():
        raise ProgramError(f"{project_file}: the program's entry point {main} does not exist")
    defaults: dict[str, str] = {}
    for key, value in (doc.get("config") or {}).items():
        # Project config: a bare value, or {value: ...} / {default: ...} (the latter a typed declaration).
        if isinstance(value, dict) and ("value" in value or "default" in value):
            value = value.get("value", value.get("default"))
        elif isinstance(value, dict) and "type" in value:
            continue
        defaults[_qualified(str(key), name)] = _text(value)
    return Program(directory, name, main, defaults, directory / str(doc.get("stackConfigDir") or "."))


def stack_config(program: Program, stack: str, overrides: Mapping[str, str] | None = None) -> StackConfig:
    """The config the program sees as `stack`: project defaults, `Pulumi.<stack>.yaml`, then overrides."""
    try:
        own = read_file(program.stack_config_dir / f"Pulumi.{stack}.yaml")
    except StackConfigError as exc:
        raise ProgramError(str(exc)) from None
    overrides = {_qualified(k, program.project): v for k, v in (overrides or {}).items()}
    values = {**program.defaults, **own.values, **overrides}
    return StackConfig(values, frozenset(k for k in own.secret_keys if k not in overrides))


def parse_overrides(items: Sequence[str], project: str) -> dict[str, str]:
    """`--config KEY=VALUE` items for a program: a bare key is the program's project's."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ProgramError(f"--config {item!r}: expected KEY=VALUE (e.g. {project}:replicas=3)")
        qualify(key, f"--config {item!r}")  # the key's shape, as for our stacks
        out[_qualified(key, project)] = value
    return out


def ambient(cell: AwsCell | GcpCell) -> dict[str, str]:
    """What credentials without an assumed role, and a provider without a region, resolve to in the cell."""
    if isinstance(cell, AwsCell):
        return {"aws:account": cell.account_id or fake_account_id(cell.name), "aws:region": cell.region}
    return {"gcp:project": cell.project_id, "gcp:region": cell.region}


def _inside(path: str, directory: Path) -> bool:
    with contextlib.suppress(ValueError, OSError):
        return Path(path).resolve().is_relative_to(directory)
    return False


def _top_level_names(directory: Path) -> set[str]:
    """Modules and packages a program can import from its own directory."""
    names = set()
    for entry in directory.iterdir():
        if entry.suffix == ".py" and entry.stem != "__main__":
            names.add(entry.stem)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            names.add(entry.name)
    return names


@contextlib.contextmanager
def _as_its_own_process(program: Program) -> Iterator[None]:
    """The program's directory first on `sys.path` and as cwd; its modules shadow ours, and what it sets in
    `os.environ` (e.g. `AWS_REGION`, which the SDKs read) holds, only meanwhile."""
    saved_path, saved_cwd, saved_env = list(sys.path), os.getcwd(), dict(os.environ)
    own = _top_level_names(program.directory)
    shadowed = {
        name: module
        for name, module in sys.modules.items()
        if name.split(".", 1)[0] in own and not _inside(getattr(module, "__file__", None) or "", program.directory)
    }
    for name in shadowed:
        del sys.modules[name]
    sys.path.insert(0, str(program.directory))
    os.chdir(program.directory)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)
        for name, module in list(sys.modules.items()):
            if _inside(getattr(module, "__file__", None) or "", program.directory):
                del sys.modules[name]
        sys.modules.update(shadowed)


def _frames(exc: BaseException) -> Iterator[traceback.FrameSummary]:
    """The exception's frames, innermost first, then those of its causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb: TracebackType | None = current.__traceback__
        yield from reversed(traceback.extract_tb(tb))
        current = current.__cause__ or current.__context__


def where(exc: BaseException, directory: Path) -> str | None:
    """`file:line` of the innermost frame inside the program's directory (relative to it), if any."""
    if isinstance(exc, SyntaxError) and exc.filename and _inside(exc.filename, directory):
        return f"{Path(exc.filename).resolve().relative_to(directory)}:{exc.lineno}"
    source = getattr(exc, "source", None)  # an engine-side error that knows the resource's line
    if isinstance(source, dict) and _inside(str(source.get("file")), directory):
        return f"{Path(source['file']).resolve().relative_to(directory)}:{source.get('line')}"
    for frame in _frames(exc):
        if _inside(frame.filename, directory):
            return f"{Path(frame.filename).resolve().relative_to(directory)}:{frame.lineno}"
    return None


def _own_stack(program: Program, stack: str, registry: Registry) -> StackPlan | None:
    """The cell's own stack planned, when the program reads stack references (they may name it)."""
    reads_references = any("StackReference" in p.read_text(encoding="utf-8") for p in program.directory.rglob("*.py"))
    if not reads_references:
        return None
    try:
        return run_stack(stack, registry)
    except Exception as exc:
        raise ProgramError(
            f"the program {program.label()} reads stack references, and the cell's own stack {stack} "
            f"(what it would read) could not be planned: {type(exc).__name__}: {exc}"
        ) from exc


#: The cell's resources a program's objects land on: its clusters (the Kubernetes version they run).
CLUSTER_TYPES = frozenset({"aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster"})


def _cell_clusters(own: StackPlan | None, planned: StackPlan, stack: str, registry: Registry) -> list[Any]:
    """The cell's clusters, for a program that creates Kubernetes objects and no cluster of its own."""
    if not any(r.type.startswith("kubernetes:") for r in planned.resources):
        return []
    if any(r.type in CLUSTER_TYPES for r in planned.resources):
        return []
    try:
        own = own or run_stack(stack, registry)
    except Exception:  # the cell's own stack is planned (and its failure reported) on its own
        return []
    return [r for r in own.resources if r.type in CLUSTER_TYPES]


def run_program_dir(
    program: Program, stack: str, registry: Registry, *, config: Mapping[str, str] | None = None
) -> StackPlan:
    """Run `program` as stack `stack` (a cell's stack) under the mocks; failures are `ProgramError`s."""
    cell = next((c for c in registry.cells if c.stack_name == stack), None)
    own = _own_stack(program, stack, registry)
    mocks = CloudMocks(registry, {stack: own.outputs} if own is not None else {})
    if cell is not None:
        mocks.ambient.update(ambient(cell))
    full_config = stack_config(program, stack, config)
    main = str(program.main)

    def run() -> None:
        runpy.run_path(main, run_name="__main__")

    with _as_its_own_process(program):
        try:
            planned = run_program(
                run,
                stack=stack,
                mocks=mocks,
                config=full_config.values,
                secret_keys=full_config.secret_keys,
                project=program.project,
            )
        except SystemExit as exc:
            raise ProgramError(f"the program {program.label()} exited (sys.exit({exc.code!r}))") from None
        except Exception as exc:
            line = where(exc, program.directory)
            at = f"at {line}" if line else "(no line of the program in the traceback)"
            raise ProgramError(f"the program {program.label()} failed {at}: {type(exc).__name__}: {exc}") from exc
    planned.context = _cell_clusters(own, planned, stack, registry)
    return planned


def plan_program(
    directory: Path,
    stacks: list[str],
    registry: Registry,
    *,
    policy_config: dict[str, Any] | None = None,
    config_items: Sequence[str] = (),
) -> StackResult:
    """`cellctl plan STACK --program DIR`: the program planned and judged as STACK (one cell stack)."""
    from cellctl.common import fail
    from cellctl.plan import plan_stack

    if len(stacks) != 1 or not any(c.stack_name == stacks[0] for c in registry.cells):
        cells = ", ".join(c.stack_name for c in registry.cells)
        fail(f"--program plans a program as one cell's stack: name exactly one of {cells}")
    try:
        program = load_program(directory)
        config = parse_overrides(config_items, program.project)
        stack_config(program, stacks[0], config)  # a bad stack file stops here, as for our stacks
    except (ProgramError, StackConfigError) as exc:
        fail(escape(str(exc)))
    levels = {**dict.fromkeys(PLATFORM_RULES, "disabled"), **(policy_config or {})}
    return plan_stack(
        stacks[0], registry, levels, run=lambda stack, reg: run_program_dir(program, stack, reg, config=config)
    )
