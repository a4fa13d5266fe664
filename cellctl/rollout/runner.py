"""How the orchestrator talks to stacks: a small interface and its Automation API implementation.

`AutomationRunner` drives the project's own program (`work_dir` = the project directory) with
`pulumi.automation`. Parallel Automation API runs in one project are known to collide, so it:

- installs the provider plugins once, before any fan-out (concurrent installs race, pulumi/pulumi#22784);
- gives every run its own `LocalWorkspace`, and serializes stack creation/selection and config
  writes behind one file lock (`create_or_select_stack` rewrites shared workspace files, #8186);
- sets stack config only through the workspace's CLI-backed calls (`set_all_config`, path keys), which honour
  `stackConfigDir: stacks`; the Python workspace's own settings reader ignores it (#10305);
- streams each stack's engine output to its own log file under `.honeycomb/logs/`;
- records the deployed source revision as a stack tag, read back by `last_revision` for rollbacks.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Protocol

from filelock import FileLock

from cellctl.rollout.plan import Target
from cellctl.rollout.retry import CancelledError

#: Stack tag holding the git revision of the last successful update.
REVISION_TAG = "honeycomb:revision"
#: Provider packages whose plugins every run needs.
PROVIDER_PACKAGES = ("pulumi_aws", "pulumi_gcp", "pulumi_kubernetes")
_MESSAGE_REVISION = re.compile(r"revision ([0-9a-f]{7,40}(?:\+dirty)?)")


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


class StackRunner(Protocol):
    def prepare(self) -> None:
        """One-off set-up before stacks run in parallel (plugin installs)."""

    def up(self, target: Target, *, revision: str) -> RunResult:
        """Update the stack; on success it remembers `revision` as the stack's deployed revision."""

    def preview(self, target: Target) -> RunResult: ...

    def cancel(self, stack: str) -> None:
        """Stop the stack's running update, if any (safe to call when none runs)."""

    def last_revision(self, stack: str) -> str | None:
        """The revision of the stack's last successful update, or None (new stack, never recorded)."""


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


def detect_backend(env: Mapping[str, str] | None = None, home: Path | None = None) -> str | None:
    """Where state lives, as far as can be told without the CLI: `PULUMI_BACKEND_URL`, a token, or a login.

    None means no backend: the engine would stop at the first stack, so the command refuses to start.
    """
    env = os.environ if env is None else env
    if env.get("PULUMI_BACKEND_URL"):
        return env["PULUMI_BACKEND_URL"]
    if env.get("PULUMI_ACCESS_TOKEN"):
        return "Pulumi Cloud (PULUMI_ACCESS_TOKEN)"
    pulumi_home = Path(env["PULUMI_HOME"]) if env.get("PULUMI_HOME") else (home or Path.home()) / ".pulumi"
    try:
        credentials = json.loads((pulumi_home / "credentials.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = credentials.get("current") if isinstance(credentials, dict) else None
    return str(current) if current else None


def _automation() -> ModuleType:
    import pulumi.automation

    return pulumi.automation


class AutomationRunner:
    """The production runner: the project's program through `pulumi.automation`.

    `api` is the `pulumi.automation` module; tests hand in a stand-in with the same names.
    """

    def __init__(
        self,
        project_dir: Path,
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        lock_path: Path | None = None,
        api: Any = None,
        plugins: Mapping[str, str] | None = None,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.log_dir = Path(log_dir)
        self.env = dict(env or {})
        if api is None:
            if shutil.which("pulumi") is None:
                raise RunnerUnavailableError(
                    "the Pulumi CLI is not on PATH: the Automation API drives it (install it, then retry)"
                )
            api = _automation()
        self.api = api
        self.plugins = dict(plugins) if plugins is not None else plugin_versions()
        lock = lock_path or self.log_dir.parent / "automation.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(lock))
        self._running: dict[str, Any] = {}
        #: Cancels that arrived while the stack was still being selected: honoured before it starts.
        self._cancel_requested: set[str] = set()
        self._guard = threading.Lock()

    # --- workspace and stacks -----------------------------------------------------------------

    def workspace_options(self) -> Any:
        """A fresh options object per run: a new `LocalWorkspace` each time, on the project directory."""
        return self.api.LocalWorkspaceOptions(work_dir=str(self.project_dir), env_vars=dict(self.env))

    def prepare(self) -> None:
        workspace = self.api.LocalWorkspace(**vars(self.workspace_options()))
        for name, version in sorted(self.plugins.items()):
            workspace.install_plugin(name, f"v{version}")

    def _stack(self, target: Target) -> Any:
        with self._lock:
            stack = self.api.create_or_select_stack(
                stack_name=target.stack, work_dir=str(self.project_dir), opts=self.workspace_options()
            )
            if target.config:
                config = {key: self.api.ConfigValue(value=value) for key, value in sorted(target.config.items())}
                stack.set_all_config(config, path=True)
        return stack

    def _select(self, stack_name: str) -> Any | None:
        with self._lock:
            try:
                return self.api.select_stack(
                    stack_name=stack_name, work_dir=str(self.project_dir), opts=self.workspace_options()
                )
            except self.api.StackNotFoundError:
                return None

    # --- logs ---------------------------------------------------------------------------------

    def log_path(self, stack: str) -> Path:
        return self.log_dir / f"{stack}.log"

    def _open_log(self, target: Target, operation: str) -> IO[str]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        handle = self.log_path(target.stack).open("a", encoding="utf-8")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        handle.write(f"=== {stamp} {operation} {target.stack} in {self.project_dir}\n")
        handle.flush()
        return handle

    @staticmethod
    def _writer(handle: IO[str]) -> Any:
        lock = threading.Lock()

        def write(line: str) -> None:
            with lock:
                handle.write(line + "\n")
                handle.flush()

        return write

    # --- operations ---------------------------------------------------------------------------

    def up(self, target: Target, *, revision: str) -> RunResult:
        stack = self._stack(target)
        self._register(target.stack, stack)
        try:
            with self._open_log(target, "up") as log:
                write = self._writer(log)
                result = stack.up(
                    on_output=write, on_error=write, color="never", message=f"honeycomb: revision {revision}"
                )
        finally:
            with self._guard:
                self._running.pop(target.stack, None)
        try:
            stack.set_tag(REVISION_TAG, revision)
        except self.api.CommandError as exc:
            # Some backends keep no stack tags; the update's message still carries the revision.
            with self._open_log(target, "tag") as log:
                log.write(f"could not tag the stack with its revision: {exc}\n")
        changes = dict(getattr(result.summary, "resource_changes", None) or {})
        return RunResult(changes, str(self.log_path(target.stack)))

    def preview(self, target: Target) -> RunResult:
        stack = self._stack(target)
        self._register(target.stack, stack)
        try:
            with self._open_log(target, "preview") as log:
                write = self._writer(log)
                result = stack.preview(on_output=write, on_error=write, color="never")
        finally:
            with self._guard:
                self._running.pop(target.stack, None)
        return RunResult(dict(result.change_summary or {}), str(self.log_path(target.stack)))

    def _register(self, name: str, stack: Any) -> None:
        with self._guard:
            if name in self._cancel_requested:
                self._cancel_requested.discard(name)
                raise CancelledError(f"{name} was cancelled before its update started")
            self._running[name] = stack

    def cancel(self, stack: str) -> None:
        with self._guard:
            running = self._running.get(stack)
            if running is None:
                self._cancel_requested.add(stack)
                return
        with contextlib.suppress(self.api.CommandError):  # the update had already ended
            running.cancel()

    def last_revision(self, stack: str) -> str | None:
        selected = self._select(stack)
        if selected is None:
            return None
        try:
            tag = str(selected.get_tag(REVISION_TAG)).strip()
        except self.api.CommandError:
            tag = ""  # no tag, or a backend without stack tags: fall back to the update history
        if tag:
            return tag
        for update in selected.history(page_size=20):
            if update.kind != "update" or update.result != "succeeded":
                continue
            found = _MESSAGE_REVISION.search(update.message or "")
            if found:
                return found.group(1)
            head = (update.environment or {}).get("git.head")
            if head:
                return str(head)
        return None

    def outputs(self, stack: str) -> dict[str, Any]:
        """A stack's outputs as plain values ({} for a stack that does not exist yet)."""
        selected = self._select(stack)
        if selected is None:
            return {}
        return {key: getattr(out, "value", out) for key, out in selected.outputs().items()}
