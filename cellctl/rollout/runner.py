"""How the orchestrator talks to stacks: a small interface and its Automation API implementation.

`AutomationRunner` drives the project's own program with `pulumi.automation` from a *run
directory*: a temporary checkout of the revision being deployed (`gitrev.snapshot` for a
rollout, `GitWorktrees.checkout` for a rollback), never the operator's checkout itself, so that
nothing a run does (the CLI's `stack init` writing an encryption salt, for one) touches a
tracked file. In that run directory it:

- points Pulumi.yaml's Python runtime at a virtualenv that has the project's dependencies (the
  one running cellctl): a fresh checkout has no `.venv`, and the language host would otherwise
  fail with `ModuleNotFoundError: pulumi`;
- reads stack config only from the committed `stacks/Pulumi.<stack>.yaml` (written by
  `cellctl stacks sync`); it sets no config. The secrets-manager keys a CLI adds to a new
  stack's file (`encryptionsalt`, …) are kept in `.honeycomb/stack-keys/<backend>/` and
  restored into later runs against that backend;
- shares one `PulumiCommand` (one `pulumi version` check per run) whose processes it knows by
  stack, each in its own process group: Ctrl-C reaches cellctl alone, which then sends each
  running `pulumi` exactly one SIGINT (the engine finishes its in-flight steps and stops;
  `pulumi cancel` on a file or object-store backend would only delete the lock);
- selects each stack once (`stack select --create`), runs `up`/`preview` with an engine event log (the summary and the
  error diagnostics come from the engine's events) and tags the stack with the deployed
  revision: three CLI calls per stack update. The SDK's `Stack.up` would add three more
  (outputs twice, history), which the orchestrator never needs;
- installs only the provider plugins that are missing, once, before any fan-out (#22784), and
  serializes stack selection behind a file lock (it rewrites the workspace file, #8186).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import yaml
from filelock import FileLock

from cellctl.rollout.plan import Target
from cellctl.rollout.retry import CancelledError

#: Stack tag holding the git revision of the last successful update.
REVISION_TAG = "honeycomb:revision"
#: Provider packages whose plugins every run needs.
PROVIDER_PACKAGES = ("pulumi_aws", "pulumi_gcp", "pulumi_kubernetes")
#: Keys of a stack file that belong to its secrets manager (written by the CLI, not by us).
SECRETS_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")
#: CLI commands that run the engine: the ones a stop signals.
ENGINE_OPERATIONS = frozenset({"up", "preview", "refresh", "destroy"})
#: The CLI's exit code for an update stopped by a signal (pkg/cmd/pulumi/cmd/exit_codes.go).
EXIT_CANCELLED = 8
_MESSAGE = re.compile(r"revision ([0-9a-f]{7,40}(?:\+dirty)?)")
_RUN_ID = re.compile(r"\(rollout ([\w.-]+)\)")
_LOCK_HOLDER = re.compile(r"created by (\S+@\S+) \(pid (\d+)\) at (\S+)")
#: The engine's colour markup (`<{%reset%}>`, `<{%fg 1%}>`): diagnostic events carry it raw (`"color": "raw"`).
_COLOR_TAG = re.compile(r"<\{%[^%]*%\}>")


@dataclass(frozen=True)
class RunResult:
    """What one `up` or `preview` did: resource operation counts (`create`, `update`, `same`, …)."""

    changes: dict[str, int] = field(default_factory=dict)
    log: str | None = None

    @property
    def has_changes(self) -> bool:
        return any(n for op, n in self.changes.items() if op != "same")


class RunnerUnavailableError(RuntimeError):
    """The runner cannot work on this machine (for example, no Pulumi CLI)."""


class EngineError(RuntimeError):
    """A failed `pulumi` run, worded by the engine: its error diagnostics, not the head of stdout.

    `cause` is the SDK's `CommandError` (its type and full text decide whether to retry). `stop`
    says what cellctl sent the process: `"interrupt"` (one SIGINT), `"force"` (a second one), or
    None. A stop is told by that, not by the exit code alone: CLIs before v3.226.1 exit 255 for
    every failure, and later ones keep 255 for internal errors (docs: CLI exit codes).
    """

    def __init__(
        self,
        stack: str,
        cause: Exception,
        diagnostics: list[str],
        code: int | None,
        log: str,
        stop: str | None = None,
    ) -> None:
        self.stack = stack
        self.cause = cause
        self.diagnostics = diagnostics
        self.code = code
        self.log = log
        self.stop = stop
        text = "; ".join(diagnostics) or "the engine reported no error diagnostics"
        super().__init__(f"{text} (full log: {log})")

    @property
    def cancelled(self) -> bool:
        """Stopped by a signal: the engine finished its in-flight steps and recorded the update as failed."""
        return not self.terminated and (self.code == EXIT_CANCELLED or self.stop == "interrupt")

    @property
    def terminated(self) -> bool:
        """Stopped at once (a second signal, or killed): resources may be left half-changed (`pulumi refresh`)."""
        return self.stop == "force" or (self.code is not None and self.code < 0)


class StackRunner(Protocol):
    def prepare(self) -> None:
        """One-off set-up before stacks run in parallel (plugin installs)."""

    def up(self, target: Target, *, revision: str, run_id: str = "") -> RunResult:
        """Update the stack; the update records `revision` (and `run_id`, the rollout's journal id)."""

    def preview(self, target: Target) -> RunResult: ...

    def cancel(self, stack: str, *, force: bool = False) -> None:
        """Stop the stack's running update (a second call with `force` stops it at once); safe when none runs."""

    def last_revision(self, stack: str, *, exclude_run: str | None = None) -> str | None:
        """The revision of the stack's last successful update not made by rollout `exclude_run`, or None."""


def plugin_versions(packages: tuple[str, ...] = PROVIDER_PACKAGES) -> dict[str, str]:
    """Provider plugin name -> version, as pinned by the installed provider SDKs."""
    found: dict[str, str] = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        meta = Path(next(iter(spec.submodule_search_locations))) / "pulumi-plugin.json"
        if meta.is_file():
            data = json.loads(meta.read_text())
            found[data["name"]] = data["version"]
    return found


def detect_backend(
    env: Mapping[str, str] | None = None, home: Path | None = None, project: Path | None = None
) -> str | None:
    """Where state lives, in the CLI's order (`GetCurrentCloudURL`): `PULUMI_BACKEND_URL`, the
    project's `backend.url`, the login in `credentials.json`; else Pulumi Cloud with a token.

    None means no backend: the engine would stop at the first stack, so the command refuses to start.
    """
    env = os.environ if env is None else env
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"]
    try:
        settings = yaml.safe_load((project / "Pulumi.yaml").read_text(encoding="utf-8")) if project else None
    except (OSError, yaml.YAMLError):
        settings = None
    backend = settings.get("backend") if isinstance(settings, dict) else None
    if isinstance(backend, dict) and backend.get("url"):
        return str(backend["url"])
    pulumi_home = Path(env["PULUMI_HOME"]) if env.get("PULUMI_HOME") else (home or Path.home()) / ".pulumi"
    try:
        credentials = json.loads((pulumi_home / "credentials.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        credentials = None
    current = credentials.get("current") if isinstance(credentials, dict) else None
    if current:
        return str(current)
    return "https://api.pulumi.com" if env.get("PULUMI_ACCESS_TOKEN") else None


def is_service_backend(backend: str | None) -> bool:
    """Pulumi Cloud or a self-hosted service: `pulumi cancel` ends the update there; elsewhere it deletes the lock."""
    return bool(backend) and str(backend).startswith(("https://", "http://"))


def keys_dir(home: Path, backend: str | None) -> Path:
    """Where a backend's kept secrets-manager keys live: one directory per backend.

    A salt belongs to the stack in one backend. Restored into a run against another (a second
    file/S3 state with its own passphrase, or Pulumi Cloud, whose stacks use the service's
    secrets manager), the config's explicit provider would win over the one in that stack's
    state: the update fails with "incorrect passphrase" or re-encrypts its secrets with it.
    """
    digest = hashlib.sha256((backend or "").encode()).hexdigest()[:12]
    return Path(home) / ".honeycomb" / "stack-keys" / digest


def current_virtualenv() -> Path | None:
    """The virtualenv running cellctl: it has the project's dependencies, whatever checkout runs the program."""
    return Path(sys.prefix) if sys.prefix != sys.base_prefix else None


def lock_holder(text: str) -> str | None:
    """`user@host (pid N) since T` from a DIY backend's lock error; None when the text names no holder."""
    found = _LOCK_HOLDER.search(text)
    return f"{found[1]} (pid {found[2]}) since {found[3]}" if found else None


def _diagnostics(events: list[dict[str, Any]], stderr: str, stdout: str) -> list[str]:
    """The engine's error lines: its `error` diagnostic events, else stderr's `error:` block, else stdout's tail."""
    found: list[str] = []
    for event in events:
        diag = event.get("diagnosticEvent")
        if isinstance(diag, dict) and diag.get("severity") == "error":
            text = " ".join(_COLOR_TAG.sub("", str(diag.get("message", ""))).split())
            if text and text not in found:
                found.append(text)
    if found:
        return found
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if start is not None:
        return [" ".join(" ".join(lines[start:]).removeprefix("error:").split())]
    tail = [line.strip() for line in stdout.splitlines() if line.strip()][-3:]
    return [" ".join(tail)] if tail else []


def _automation() -> Any:
    import pulumi.automation

    return pulumi.automation


def make_command() -> Any:
    """The run's one `PulumiCommand` (see `_processes_class`); refuses up front without a Pulumi CLI."""
    import shutil

    if shutil.which("pulumi") is None:
        raise RunnerUnavailableError(
            "the Pulumi CLI is not on PATH: the Automation API drives it (install it, then retry)"
        )
    return _processes_class()()


def _processes_class() -> type:
    """Made on first use: it subclasses the SDK's class, and importing the SDK is slow for other commands."""
    auto = _automation()
    from pulumi.automation.errors import create_command_error

    class Processes(auto.PulumiCommand):  # type: ignore[misc,name-defined]
        """The SDK's `PulumiCommand.run`, with each process in its own group and known by its `--stack`."""

        def __init__(self) -> None:
            super().__init__()
            self._guard = threading.Lock()
            self._running: dict[str, list[subprocess.Popen[str]]] = {}
            self._signalled: set[int] = set()
            #: Of those, the ones signalled again (`force`): the engine stops at once.
            self._forced: set[int] = set()
            #: Stacks being stopped: a CLI of theirs that starts late is signalled as it starts.
            self._stopping: set[str] = set()

        def run(
            self,
            args: list[str],
            cwd: str,
            additional_env: Mapping[str, str],
            on_output: Any = None,
            on_error: Any = None,
        ) -> Any:
            args = list(args)
            end = args.index("--") if "--" in args else len(args)
            if "--non-interactive" not in args[:end]:
                args.insert(0, "--non-interactive")
            engine = next((a for a in args[:end] if not a.startswith("-")), "") in ENGINE_OPERATIONS
            # Only engine runs are known by stack (and signalled); `pulumi cancel` itself must not be.
            stack = args[args.index("--stack") + 1] if engine and "--stack" in args[:end] else ""
            env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
            out: list[str] = []
            err: list[str] = []

            def consume(stream: IO[str], callback: Any, chunks: list[str]) -> None:
                for line in iter(stream.readline, ""):
                    text = line.rstrip()
                    if callback:
                        callback(text)
                    chunks.append(text)
                stream.close()

            with subprocess.Popen(
                [self.command, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                encoding="utf-8",
                process_group=0,  # a terminal's Ctrl-C reaches cellctl only; it signals each CLI once
            ) as process:
                with self._guard:
                    self._running.setdefault(stack, []).append(process)
                    late = bool(stack) and stack in self._stopping and process.pid not in self._signalled
                    if late:
                        self._signalled.add(process.pid)
                if late:
                    process.send_signal(signal.SIGINT)
                assert process.stdout is not None
                assert process.stderr is not None
                readers = [
                    threading.Thread(target=consume, args=(process.stdout, on_output, out)),
                    threading.Thread(target=consume, args=(process.stderr, on_error, err)),
                ]
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join()
                code = process.wait()
                with self._guard:
                    self._running[stack].remove(process)
                    stop = "force" if process.pid in self._forced else None
                    stop = stop or ("interrupt" if process.pid in self._signalled else None)
                    self._signalled.discard(process.pid)
                    self._forced.discard(process.pid)
            result = auto.CommandResult(stdout="\n".join(out), stderr="\n".join(err), code=code)
            if code != 0:
                error = create_command_error(result)
                error.result = result  # type: ignore[attr-defined]  # the SDK keeps only the text
                error.stop = stop  # type: ignore[attr-defined]  # what cellctl sent it tells a stop from a failure
                raise error
            return result

        def interrupt(self, stack: str, *, force: bool = False) -> int:
            """SIGINT each running CLI of `stack` once (again with `force`); how many were signalled."""
            with self._guard:
                self._stopping.add(stack)
                processes = list(self._running.get(stack, []))
                todo = [p for p in processes if force or p.pid not in self._signalled]
                self._signalled.update(p.pid for p in todo)
                if force:
                    self._forced.update(p.pid for p in todo)
            for process in todo:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
            return len(todo)

        def running(self, stack: str) -> bool:
            with self._guard:
                return bool(self._running.get(stack))

        def stopping(self, stack: str) -> bool:
            with self._guard:
                return stack in self._stopping

    return Processes


def _workspace(work_dir: Path, env: Mapping[str, str], command: Any) -> Any:
    """A `LocalWorkspace` whose stack selection creates a missing stack in the same call (`--create`)."""
    auto = _automation()

    class Workspace(auto.LocalWorkspace):  # type: ignore[misc,name-defined]
        def select_stack(self, stack_name: str) -> None:
            self.pulumi_command.run(
                ["stack", "select", "--create", "--stack", stack_name], self.work_dir, self.env_vars
            )

    return Workspace(work_dir=str(work_dir), env_vars=dict(env), pulumi_command=command)


class AutomationRunner:
    """The production runner: the project's program through `pulumi.automation`, from a run directory.

    `run_dir` is a disposable checkout (it gets a Pulumi.yaml pointing at `virtualenv`); `home` is
    the operator's checkout, where logs, the lock and the kept secrets-manager keys live.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        home: Path,
        command: Any,
        env: Mapping[str, str] | None = None,
        backend: str | None = None,
        virtualenv: Path | None = None,
        plugins: Mapping[str, str] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.home = Path(home)
        self.log_dir = self.home / ".honeycomb" / "logs"
        self.keys_dir = keys_dir(self.home, backend)
        self.env = dict(env or {})
        self.backend = backend
        self.command = command
        self.api = _automation()
        self.plugins = dict(plugins) if plugins is not None else plugin_versions()
        self._lock = FileLock(str(self.home / ".honeycomb" / "automation.lock"))
        self._stacks: dict[str, Any] = {}
        self._guard = threading.Lock()
        self._use_virtualenv(virtualenv if virtualenv is not None else current_virtualenv())
        self.workspace = _workspace(self.run_dir, self.env, command)

    # --- the run directory ----------------------------------------------------------------------

    def _use_virtualenv(self, venv: Path | None) -> None:
        """Point the run directory's Pulumi.yaml at `venv` (absolute): it is a copy, the checkout's is untouched."""
        project = self.run_dir / "Pulumi.yaml"
        settings = yaml.safe_load(project.read_text(encoding="utf-8")) or {}
        runtime = settings.get("runtime")
        if venv is None or not isinstance(runtime, dict) or runtime.get("name") != "python":
            return
        runtime.setdefault("options", {})["virtualenv"] = str(venv.resolve())
        project.write_text(yaml.safe_dump(settings, sort_keys=False, width=1 << 20), encoding="utf-8")

    def _stack_file(self, stack: str) -> Path:
        settings = yaml.safe_load((self.run_dir / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
        return self.run_dir / str(settings.get("stackConfigDir") or ".") / f"Pulumi.{stack}.yaml"

    def _restore_keys(self, stack: str) -> None:
        kept = self.keys_dir / f"Pulumi.{stack}.yaml"
        path = self._stack_file(stack)
        if not kept.is_file() or not path.is_file():
            return
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        keys = yaml.safe_load(kept.read_text(encoding="utf-8")) or {}
        missing = {k: v for k, v in keys.items() if k in SECRETS_KEYS and k not in doc}
        if missing:
            path.write_text(yaml.safe_dump({**missing, **doc}, sort_keys=False, width=1 << 20), encoding="utf-8")

    def _keep_keys(self, stack: str) -> None:
        path = self._stack_file(stack)
        if not path.is_file():
            return
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        keys = {k: doc[k] for k in SECRETS_KEYS if k in doc}
        if keys:
            self.keys_dir.mkdir(parents=True, exist_ok=True)
            (self.keys_dir / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(keys), encoding="utf-8")

    # --- workspace and stacks -----------------------------------------------------------------

    def prepare(self) -> None:
        installed = {(p.name, p.version) for p in self.workspace.list_plugins() if p.kind == "resource"}
        for name, version in sorted(self.plugins.items()):
            if (name, version) not in installed:
                self.workspace.install_plugin(name, f"v{version}")

    def create(self, stacks: Sequence[str]) -> None:
        """Select (creating where missing) these stacks now, before any update runs."""
        for name in stacks:
            self._stack(name)

    def _stack(self, name: str) -> Any:
        """The stack, selected (or created) once per run."""
        with self._guard:
            if name in self._stacks:
                return self._stacks[name]
        with self._lock:
            self._restore_keys(name)
            try:
                stack = self.api.Stack.select(name, self.workspace)
            except self.api.CommandError as exc:
                raise self._error(name, exc, []) from exc
            self._keep_keys(name)
        with self._guard:
            self._stacks[name] = stack
        return stack

    # --- logs ---------------------------------------------------------------------------------

    def log_path(self, stack: str) -> Path:
        return self.log_dir / f"{stack}.log"

    @contextlib.contextmanager
    def _log(self, stack: str, operation: str) -> Iterator[Any]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(stack).open("a", encoding="utf-8") as handle:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            handle.write(f"=== {stamp} {operation} {stack} in {self.run_dir}\n")
            handle.flush()
            lock = threading.Lock()

            def write(line: str) -> None:
                with lock:
                    handle.write(line + "\n")
                    handle.flush()

            yield write

    # --- operations ---------------------------------------------------------------------------

    def _engine(self, target: Target, args: list[str]) -> dict[str, int]:
        """Run `pulumi <args>` for the stack with an event log; the resource changes, or an EngineError."""
        self._stack(target.stack)
        if self.command.stopping(target.stack):
            raise CancelledError(f"{target.stack} was stopped before its update started")
        with tempfile.TemporaryDirectory(prefix="honeycomb-events-") as tmp, self._log(target.stack, args[0]) as write:
            events_file = Path(tmp) / "events.jsonl"
            full = [*args, "--color", "never", "--exec-kind", "auto.local", "--event-log", str(events_file)]
            full += ["--stack", target.stack]
            error: Exception | None = None
            try:
                self.command.run(full, str(self.run_dir), self.env, write, write)
            except self.api.CommandError as exc:
                error = exc
            events = _read_events(events_file)
        if error is not None:
            raise self._error(target.stack, error, events)
        summary: dict[str, Any] = next((e["summaryEvent"] for e in reversed(events) if "summaryEvent" in e), {})
        return {str(k): int(v) for k, v in (summary.get("resourceChanges") or {}).items()}

    def _error(self, stack: str, error: Exception, events: list[dict[str, Any]]) -> EngineError:
        result = getattr(error, "result", None)
        stdout, stderr = str(getattr(result, "stdout", "")), str(getattr(result, "stderr", str(error)))
        code = getattr(result, "code", None)
        stop = getattr(error, "stop", None)
        return EngineError(stack, error, _diagnostics(events, stderr, stdout), code, str(self.log_path(stack)), stop)

    def up(self, target: Target, *, revision: str, run_id: str = "") -> RunResult:
        message = f"honeycomb: revision {revision}" + (f" (rollout {run_id})" if run_id else "")
        changes = self._engine(target, ["up", "--yes", "--skip-preview", "--message", message])
        try:
            self._stack(target.stack).set_tag(REVISION_TAG, revision)
        except self.api.CommandError as exc:
            # Some backends keep no stack tags; the update's message still carries the revision.
            with self._log(target.stack, "tag") as write:
                write(f"could not tag the stack with its revision: {' '.join(str(exc).split())}")
        return RunResult(changes, str(self.log_path(target.stack)))

    def preview(self, target: Target) -> RunResult:
        return RunResult(self._engine(target, ["preview"]), str(self.log_path(target.stack)))

    def cancel(self, stack: str, *, force: bool = False) -> None:
        """SIGINT the stack's `pulumi` (the engine stops after its in-flight steps); a later one never starts."""
        self.command.interrupt(stack, force=force)

    def running(self, stack: str) -> bool:
        return bool(self.command.running(stack))

    def release(self, stack: str) -> str | None:
        """After a forced stop: on a service backend, `pulumi cancel` ends the update the service still holds."""
        if not is_service_backend(self.backend):
            return None
        try:
            self._stack(stack).cancel()
        except self.api.CommandError as exc:
            if "already completed or has been canceled" in str(exc):
                return "the service had already ended the update (`pulumi cancel` found none running)"
            return f"`pulumi cancel` failed: {' '.join(str(exc).split())[-200:]}"
        return "the service's update was ended with `pulumi cancel`"

    def last_revision(self, stack: str, *, exclude_run: str | None = None) -> str | None:
        try:
            selected = self._stack(stack)
            history = selected.history(page_size=20, show_secrets=False)
        except self.api.CommandError:
            return None
        for update in history:
            if update.kind != "update" or update.result != "succeeded":
                continue
            message = update.message or ""
            run = _RUN_ID.search(message)
            if exclude_run and run and run[1] == exclude_run:
                continue
            found = _MESSAGE.search(message)
            if found:
                return found[1]
            env = update.environment or {}
            if env.get("git.head"):
                return str(env["git.head"]) + ("+dirty" if env.get("git.dirty") == "true" else "")
        return None

    def outputs(self, stack: str) -> dict[str, Any]:
        """A stack's outputs as plain values ({} for a stack that does not exist yet)."""
        try:
            found = self.workspace.stack_outputs(stack)
        except self.api.StackNotFoundError:
            return {}
        return {key: getattr(out, "value", out) for key, out in found.items()}


def _read_events(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return events
    for line in lines:
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            if isinstance(data, dict):
                events.append(data)
    return events
