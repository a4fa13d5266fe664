"""Calling the application components' lifecycle targets: `make -C <checkout>/<directory> <target>`.

The contract (README, "Lifecycle targets"):

- **when**: `cell-bootstrap` after a cell's stack is up (`cellctl bootstrap`); `tenant-mirror`,
  `tenant-verify` and `tenant-cleanup` during a tenant move (`cellctl tenants move`).
- **environment**: the caller's, without make's own variables (`MAKEFLAGS`, `MAKELEVEL`, …: a
  cellctl started from make must not pass `-n` or a jobserver on), plus `HONEYCOMB_*` (the
  README lists them); `HONEYCOMB_CELL` is the cell the target works on: the new cell for
  `cell-bootstrap`, the destination for `tenant-mirror` and `tenant-verify`, the source for
  `tenant-cleanup`.
- **exit codes**: 0 done (for `tenant-mirror`: in sync); 75 (`EX_TEMPFAIL`), for `tenant-mirror`
  only: still copying, call again after `interval` seconds, until in sync or the move's timeout;
  anything else is a failure whose message carries the last lines of the call's output. Make
  exits 2 whenever a recipe fails, so the recipe's own code is read from make's last line
  (`_recipe_exit`).
- **output**: appended, with a header and a footer line per call, to
  `.honeycomb/logs/lifecycle/<target>-<cell or tenant>-<component>.log`; each result names it.
- **nothing is skipped silently**: a target declared `null` is a reported no-op; a component
  without `lifecycle` is a reported no-op for `cell-bootstrap` (nothing is at risk when a new
  cell's setup has no step of its own) and a failure for the three tenant targets (nothing says
  the tenant's data in it is safe: declare the target, or `null` when it keeps no tenant data);
  a make target the Makefile lacks, a missing Makefile or directory, a checkout that fails and a
  call that outlives `call_timeout` are failures.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cellctl.lifecycle.checkout import Checkout, Checkouts, LifecycleError
from cellctl.rollout.clock import Clock, RealClock, Signal
from cells.export import cell_document, to_json
from cells.models import AppComponent, LifecycleTarget, Registry

#: `tenant-mirror`'s "still copying: call me again" (EX_TEMPFAIL in sysexits.h).
EXIT_AGAIN = 75
#: Lines of a failed call's output quoted in its message.
TAIL_LINES = 15
#: Make's own variables, which a component's make must not inherit from a make that started cellctl.
MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKEFILES", "GNUMAKEFLAGS")
_MAKEFILES = ("GNUmakefile", "makefile", "Makefile")
#: The top-level make's reports (no `[n]` after the program's name): a goal without a rule, a failed recipe line.
_NO_RULE = re.compile(r"^[A-Za-z0-9_.+-]+: \*\*\* (No rule to make target .*)\.  Stop\.$")
_MAKE_ERROR = re.compile(r"^[A-Za-z0-9_.+-]+: \*\*\* \[.*\] Error ([0-9]+)$")


class Status(StrEnum):
    done = "done"  # the target exited 0 (tenant-mirror: in sync), or did in an earlier run (journal)
    noop = "no-op"  # nothing to call, and that is fine: declared null, or no lifecycle for cell-bootstrap
    failed = "failed"  # see `ComponentResult.message`
    stopped = "stopped"  # not called, or not in sync, because another component failed first


@dataclass(frozen=True)
class ComponentResult:
    """What one component's target did."""

    component: str
    target: LifecycleTarget
    status: Status
    #: One paragraph: what happened (a failure: why, the output's last lines, the log's path).
    message: str
    #: The make target called (None when none was: declared null, no lifecycle).
    make_target: str | None = None
    #: The component repository's commit the target ran from.
    commit: str | None = None
    exit_code: int | None = None
    #: How often make ran (tenant-mirror: once per round until in sync).
    calls: int = 0
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in {Status.done, Status.noop}

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "target": str(self.target),
            "status": str(self.status),
            "message": self.message,
            "make_target": self.make_target,
            "commit": self.commit,
            "exit_code": self.exit_code,
            "calls": self.calls,
            "log": None if self.log is None else str(self.log),
        }


@dataclass(frozen=True)
class TargetResult:
    """One standard target across every component of the organization, in registry order."""

    target: LifecycleTarget
    #: The cell (cell-bootstrap) or the tenant (the move's targets) it ran for.
    subject: str
    components: tuple[ComponentResult, ...]
    #: Seconds on the runner's clock from the first call to the last result.
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)

    @property
    def message(self) -> str:
        """Why it failed (each failed component's message), or what ran; one paragraph per component."""
        failed = [c for c in self.components if c.status == Status.failed]
        shown = failed or self.components
        if not shown:
            return f"{self.target} for {self.subject}: the organization declares no components"
        return "\n".join(f"{c.component}: {c.message}" for c in shown)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "subject": self.subject,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "components": [c.as_dict() for c in self.components],
        }


@dataclass(frozen=True)
class _Call:
    """One make run: its exit code (None when it timed out) and what it printed."""

    exit_code: int | None
    tail: list[str]
    log: Path


@dataclass
class _Prepared:
    """A component ready to run a target: its checkout, Makefile directory and make target."""

    component: AppComponent
    make_target: str
    checkout: Checkout
    directory: Path
    #: "its repository <url> at <ref> (<commit>)", for messages.
    where: str


class LifecycleRunner:
    """Runs the standard lifecycle targets of every application component of `registry`.

    `workdir` is the Honeycomb project directory: checkouts go to `.honeycomb/components/`, logs
    to `.honeycomb/logs/lifecycle/`, the exported registry to `.honeycomb/lifecycle/`, and a
    relative `lifecycle.repository` is read from it. All waiting goes through `clock` (a
    `VirtualClock` in tests and benchmarks). `call_timeout` bounds one make run (real seconds;
    the process group is then killed and the call fails); `interval` is the default wait between
    two `tenant-mirror` rounds. `env` adds variables to every call. Thread-safe: moves of
    different tenants may run on parallel threads.
    """

    def __init__(
        self,
        registry: Registry,
        workdir: Path,
        clock: Clock | None = None,
        *,
        call_timeout: float = 1800.0,
        interval: float = 30.0,
        checkout_timeout: float = 600.0,
        env: Mapping[str, str] | None = None,
        make: str = "make",
        git: str = "git",
    ) -> None:
        self.registry = registry
        self.workdir = workdir.resolve()
        self.clock = clock or RealClock()
        self.call_timeout = call_timeout
        self.interval = interval
        self.env = dict(env or {})
        self.make = make
        self.checkouts = Checkouts(
            self.workdir / ".honeycomb" / "components", self.workdir, timeout=checkout_timeout, git=git
        )
        self.logs = self.workdir / ".honeycomb" / "logs" / "lifecycle"
        self._lock = threading.Lock()
        self._registry_json: Path | None = None

    # --- the API the commands call --------------------------------------------------------------

    def cell_bootstrap(
        self,
        cell: str,
        *,
        skip: Collection[str] = (),
        on_result: Callable[[ComponentResult], None] | None = None,
    ) -> TargetResult:
        """`cell-bootstrap` of each component for `cell` (after its stack is up), in registry order.

        Components named in `skip` are reported done without a call (a resumed bootstrap passes
        the ones its journal says finished). `on_result` hears each result as it comes (to journal
        it). The first failure stops it: later components are reported `stopped`, not called.
        Raises LifecycleError for a cell the registry does not have.
        """
        document = self._cell_json(cell)
        env = {"HONEYCOMB_CELL": cell, "HONEYCOMB_CELL_JSON": document}
        start = self.clock.now()
        results: list[ComponentResult] = []
        for component in self.registry.organization.components:
            if any(not r.ok for r in results):
                result = self._stopped(component, LifecycleTarget.cell_bootstrap, "not called: an earlier one failed")
            elif component.name in skip:
                result = ComponentResult(
                    component.name, LifecycleTarget.cell_bootstrap, Status.done, "done in an earlier run (journal)"
                )
            else:
                result = self._once(component, LifecycleTarget.cell_bootstrap, cell, env)
            results.append(result)
            if on_result is not None:
                on_result(result)
        return TargetResult(LifecycleTarget.cell_bootstrap, cell, tuple(results), self.clock.now() - start)

    def mirror(
        self,
        tenant: str,
        source: str,
        destination: str,
        timeout: float,
        *,
        interval: float | None = None,
        stop: Signal | None = None,
    ) -> TargetResult:
        """`tenant-mirror` of every component until each reports in sync (exit 0), or `timeout` seconds pass.

        Each round calls the components not yet in sync; exit 75 means "still copying", so the
        next round comes `interval` seconds (default: the runner's) later on the clock. A last
        round runs at the deadline; a component still at 75 then fails ("not in sync after …").
        Any other exit fails the mirror at once; the components not yet in sync are `stopped`.
        `stop` (set by Ctrl-C) ends the wait: those components are `stopped` too. Raises
        LifecycleError for a tenant or cell the registry does not have.
        """
        target = LifecycleTarget.tenant_mirror
        env = self._move_env(tenant, source, destination, cell=destination)
        wait = self.interval if interval is None else interval
        start = self.clock.now()
        deadline = start + timeout
        final: dict[str, ComponentResult] = {}
        pending: dict[str, _Prepared] = {}
        for component in self.registry.organization.components:
            prepared = self._prepare(component, target, tenant)
            if isinstance(prepared, ComponentResult):
                final[component.name] = prepared
            else:
                pending[component.name] = prepared
        calls: dict[str, int] = dict.fromkeys(pending, 0)
        last: dict[str, _Call] = {}
        halted: str | None = next((f"{r.component} failed" for r in final.values() if not r.ok), None)
        while pending and halted is None:
            for name, prepared in list(pending.items()):
                calls[name] += 1
                call = self._call(prepared, target, tenant, {**env, "HONEYCOMB_ATTEMPT": str(calls[name])})
                last[name] = call
                if call.exit_code == EXIT_AGAIN:
                    continue
                del pending[name]
                final[name] = self._verdict(prepared, target, call, calls[name], in_sync=True)
                if not final[name].ok:
                    halted = f"{name} failed"
                    break
            if not pending or halted is not None:
                break
            now = self.clock.now()
            if now >= deadline:
                halted = "timeout"
                break
            if not self.clock.sleep(min(wait, deadline - now), stop):
                halted = "stopped"
        for name, prepared in pending.items():
            final[name] = self._unsynced(prepared, calls[name], last.get(name), halted or "stopped", timeout)
        ordered = tuple(final[c.name] for c in self.registry.organization.components)
        return TargetResult(target, tenant, ordered, self.clock.now() - start)

    def _unsynced(
        self, prepared: _Prepared, calls: int, call: _Call | None, halted: str, timeout: float
    ) -> ComponentResult:
        """A component still copying when the mirror ended: failed at the deadline, else stopped."""
        name, make_target, commit = prepared.component.name, prepared.make_target, prepared.checkout.commit
        log = None if call is None else call.log
        if halted == "timeout" and call is not None:
            text = (
                f"`make {make_target}` was not in sync after {timeout:g}s ({calls} calls, each exiting {EXIT_AGAIN}: "
                f"still copying); last lines of output:\n{_indent(call.tail)}\n(full output: {log})"
            )
            return ComponentResult(
                name, LifecycleTarget.tenant_mirror, Status.failed, text, make_target, commit, EXIT_AGAIN, calls, log
            )
        why = "the move was stopped" if halted == "stopped" else f"{halted} first"
        code = None if call is None else call.exit_code
        text = f"not in sync yet: {why}"
        return ComponentResult(
            name, LifecycleTarget.tenant_mirror, Status.stopped, text, make_target, commit, code, calls, log
        )

    def verify(self, tenant: str, source: str, destination: str) -> TargetResult:
        """`tenant-verify` of every component in the destination (after the flip); every component is called."""
        env = self._move_env(tenant, source, destination, cell=destination)
        return self._each(LifecycleTarget.tenant_verify, tenant, env)

    def cleanup(self, tenant: str, source: str, destination: str) -> TargetResult:
        """`tenant-cleanup` of every component in `source`; every component is called.

        A move calls it after its grace period; the undo of a failed mirror calls it with the cells
        swapped, so that the destination's partial copy is released (HONEYCOMB_CELL is `source`).
        """
        env = self._move_env(tenant, source, destination, cell=source)
        return self._each(LifecycleTarget.tenant_cleanup, tenant, env)

    def prepare(self, target: LifecycleTarget) -> None:
        """Check out every component that declares `target`, so a bad repository or ref stops a run before it starts.

        Raises LifecycleError naming the component and the repository.
        """
        for component in self.registry.organization.components:
            lifecycle = component.lifecycle
            if lifecycle is not None and lifecycle.make_target(target) is not None:
                self.checkouts.get(component.name, lifecycle)

    # --- one target, every component ------------------------------------------------------------

    def _each(self, target: LifecycleTarget, subject: str, env: dict[str, str]) -> TargetResult:
        start = self.clock.now()
        results = tuple(self._once(c, target, subject, env) for c in self.registry.organization.components)
        return TargetResult(target, subject, results, self.clock.now() - start)

    def _once(
        self, component: AppComponent, target: LifecycleTarget, subject: str, env: dict[str, str]
    ) -> ComponentResult:
        prepared = self._prepare(component, target, subject)
        if isinstance(prepared, ComponentResult):
            return prepared
        call = self._call(prepared, target, subject, env)
        return self._verdict(prepared, target, call, 1, in_sync=False)

    def _prepare(self, component: AppComponent, target: LifecycleTarget, subject: str) -> _Prepared | ComponentResult:
        """The component checked out with its Makefile and target found, or the result that says why not."""
        lifecycle = component.lifecycle
        if lifecycle is None:
            if target == LifecycleTarget.cell_bootstrap:
                return ComponentResult(
                    component.name, target, Status.noop, "no cell-bootstrap target declared (no `lifecycle`)"
                )
            return self._failed(
                component,
                target,
                f"declares no `lifecycle` in organization.yaml, so nothing says its data for {subject} is safe "
                f"to move: declare its repository and {target} target (or `{target}: null` when it keeps no "
                "tenant data)",
            )
        make_target = lifecycle.make_target(target)
        if make_target is None:
            return ComponentResult(component.name, target, Status.noop, f"no {target} target declared (null)")
        try:
            checkout = self.checkouts.get(component.name, lifecycle)
        except LifecycleError as exc:
            return self._failed(component, target, str(exc).removeprefix(f"component {component.name}: "))
        directory = checkout.path / lifecycle.directory
        where = f"its repository {lifecycle.repository} at {lifecycle.ref} ({checkout.commit[:12]})"
        if not directory.is_dir():
            return self._failed(component, target, f"{where} has no directory {lifecycle.directory!r}")
        if not any((directory / name).is_file() for name in _MAKEFILES):
            return self._failed(component, target, f"{where} has no Makefile in {lifecycle.directory!r}")
        return _Prepared(component, make_target, checkout, directory, where)

    def _verdict(
        self, prepared: _Prepared, target: LifecycleTarget, call: _Call, calls: int, *, in_sync: bool
    ) -> ComponentResult:
        name, make_target = prepared.component.name, prepared.make_target
        if call.exit_code == 0:
            said = "in sync" if in_sync else "done"
            text = f"`make {make_target}` {said}" + (f" after {calls} calls" if calls > 1 else "")
            return ComponentResult(
                name, target, Status.done, text, make_target, prepared.checkout.commit, 0, calls, call.log
            )
        missing = _no_rule(call.tail) if call.exit_code == 2 else None
        if missing is not None and re.fullmatch(rf"No rule to make target [`']{re.escape(make_target)}'", missing):
            text = (
                f"the Makefile of {prepared.where} has no target {make_target!r} ({missing}): add it, name the "
                f"right one in `lifecycle.targets.{target}`, or declare `{target}: null` (full output: {call.log})"
            )
            return ComponentResult(
                name, target, Status.failed, text, make_target, prepared.checkout.commit, 2, calls, call.log
            )
        if call.exit_code is None:
            why = f"did not finish within {self.call_timeout:g}s and was stopped"
        elif call.exit_code == EXIT_AGAIN:
            why = f"exited {EXIT_AGAIN} (still working), which only tenant-mirror may answer"
        else:
            why = f"failed (exit {call.exit_code})"
        text = f"`make {make_target}` {why}; last lines of output:\n{_indent(call.tail)}\n(full output: {call.log})"
        return ComponentResult(
            name, target, Status.failed, text, make_target, prepared.checkout.commit, call.exit_code, calls, call.log
        )

    def _failed(self, component: AppComponent, target: LifecycleTarget, why: str) -> ComponentResult:
        return ComponentResult(component.name, target, Status.failed, why)

    def _stopped(self, component: AppComponent, target: LifecycleTarget, why: str) -> ComponentResult:
        return ComponentResult(component.name, target, Status.stopped, why)

    # --- running make ---------------------------------------------------------------------------

    def _call(self, prepared: _Prepared, target: LifecycleTarget, subject: str, env: dict[str, str]) -> _Call:
        """Run make once, output appended to the component's log; the exit code is None after a timeout."""
        name = prepared.component.name
        log = self.logs / f"{target}-{subject}-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = [self.make, "--no-print-directory", "-C", str(prepared.directory), prepared.make_target]
        full = {
            **_clean_env(),
            **self.env,
            **env,
            "HONEYCOMB_TARGET": str(target),
            "HONEYCOMB_COMPONENT": name,
            "HONEYCOMB_REGISTRY_JSON": str(self._registry_file()),
        }
        with log.open("ab") as handle:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            header = f"# {stamp} {' '.join(argv)} (commit {prepared.checkout.commit})\n"
            handle.write(header.encode())
            handle.flush()
            start = handle.tell()
            made = self._spawn(argv, full, handle)
            with log.open("rb") as written:
                written.seek(max(start, written.seek(0, os.SEEK_END) - 65536))
                output = written.read().decode(errors="replace").splitlines()
            code = _recipe_exit(made, output)
            handle.write(f"# exit {'timeout' if code is None else code}\n".encode())
        tail = [line[:300] for line in output[-TAIL_LINES:]] or ["(no output)"]
        return _Call(code, tail, log)

    def _spawn(self, argv: list[str], env: dict[str, str], output: Any) -> int | None:
        """Make in its own process group, so a timeout (or Ctrl-C) stops every process it started."""
        process = subprocess.Popen(
            argv, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            return process.wait(timeout=self.call_timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            return None
        except BaseException:
            _kill(process)
            raise

    # --- registry data --------------------------------------------------------------------------

    def _cell_json(self, cell: str) -> str:
        try:
            found = self.registry.cell(cell)
        except LookupError as exc:
            raise LifecycleError(str(exc)) from None
        return json.dumps(cell_document(self.registry, found), sort_keys=True)

    def _move_env(self, tenant: str, source: str, destination: str, *, cell: str) -> dict[str, str]:
        """The environment of a move's target; `cell` (HONEYCOMB_CELL) is the cell the target works on."""
        found = self.registry.find_tenant(tenant)
        if found is None:
            raise LifecycleError(f"no tenant {tenant!r} in the registry")
        documents = {name: self._cell_json(name) for name in (source, destination)}
        return {
            "HONEYCOMB_CELL": cell,
            "HONEYCOMB_CELL_JSON": documents[cell],
            "HONEYCOMB_TENANT": tenant,
            "HONEYCOMB_TENANT_JSON": json.dumps(found.model_dump(mode="json"), sort_keys=True),
            "HONEYCOMB_SOURCE_CELL": source,
            "HONEYCOMB_DESTINATION_CELL": destination,
            "HONEYCOMB_SOURCE_JSON": documents[source],
            "HONEYCOMB_DESTINATION_JSON": documents[destination],
        }

    def _registry_file(self) -> Path:
        """The exported registry (`cellctl export`), written once per runner, named by its content."""
        with self._lock:
            if self._registry_json is None:
                text = to_json(self.registry)
                directory = self.workdir / ".honeycomb" / "lifecycle"
                directory.mkdir(parents=True, exist_ok=True)
                path = directory / f"registry-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
                if not path.is_file():
                    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".registry-", suffix=".tmp")
                    with os.fdopen(fd, "w", encoding="utf-8") as handle:
                        handle.write(text)
                    os.replace(tmp, path)
                self._registry_json = path
            return self._registry_json


def _recipe_exit(code: int | None, output: list[str]) -> int | None:
    """The exit code of the recipe line that failed, which make itself reports only as 2.

    Make ends a failed run with `make: *** [Makefile:4: tenant-mirror] Error 75` (the top-level
    make: a sub-make's line is `make[1]: …`, and its failure reaches the top as `Error 2`). When
    that line cannot be read (make's messages in another language), the call stays a failure
    with exit 2: a misread never turns into success or "call again".
    """
    if code != 2:
        return code
    for line in reversed(output):
        found = _MAKE_ERROR.match(line)
        if found:
            recipe = int(found.group(1))
            return recipe if recipe != 0 else code
    return code


def _no_rule(tail: list[str]) -> str | None:
    """Make's own words when the top-level make has no rule for a goal (it then stops before any recipe runs).

    Found after the call rather than asked first: `make -q` and `make -n` still run recipe lines
    that hold `$(MAKE)` or start with `+`, so asking could run part of a target.
    """
    found = next((m for m in map(_NO_RULE.match, reversed(tail)) if m), None)
    return None if found is None else " ".join(found.group(1).split())


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group, SIGKILL after 10 seconds."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _indent(lines: list[str]) -> str:
    return "\n".join(f"  {line}" for line in lines)


def declared(registry: Registry, target: LifecycleTarget) -> list[dict[str, Any]]:
    """What `target` would call, per component, from the registry alone (a dry run: no checkout, no make)."""
    rows: list[dict[str, Any]] = []
    for component in registry.organization.components:
        lifecycle = component.lifecycle
        row: dict[str, Any] = {"component": component.name, "make_target": None}
        if lifecycle is None:
            row["note"] = f"no {target} target declared (no `lifecycle`)"
        else:
            make_target = lifecycle.make_target(target)
            row.update(
                repository=lifecycle.repository,
                ref=lifecycle.ref,
                directory=lifecycle.directory,
                make_target=make_target,
            )
            if make_target is None:
                row["note"] = f"no {target} target declared (null)"
        rows.append(row)
    return rows
