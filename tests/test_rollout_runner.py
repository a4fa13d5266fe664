"""The Automation API runner with `pulumi.automation` faked at its entry points, and the retry rules."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi.automation import (
    CommandError,
    CommandResult,
    ConcurrentUpdateError,
    ConfigValue,
    LocalWorkspaceOptions,
    StackNotFoundError,
)

from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.plan import Target
from cellctl.rollout.retry import (
    CancelledError,
    RetryPolicy,
    TransientError,
    call_with_retry,
    is_lock_error,
    is_transient,
)
from cellctl.rollout.runner import REVISION_TAG, AutomationRunner, detect_backend, plugin_versions

ALPHA = Target("cell-alpha", "prod-canary", "alpha", "aws", {"aws:region": "us-east-1"})
BETA = Target("cell-beta", "prod-main", "beta", "gcp", {"gcp:project": "acme-cell-beta", "gcp:region": "europe-west1"})


def command_error(stderr: str = "", stdout: str = "", cls: type[CommandError] = CommandError) -> CommandError:
    return cls(CommandResult(stdout=stdout, stderr=stderr, code=255))


class FakeStack:
    def __init__(self, api: FakeApi, name: str, opts: LocalWorkspaceOptions) -> None:
        self.api = api
        self.name = name
        self.opts = opts
        self.config: dict[str, ConfigValue] = {}
        self.tags: dict[str, str] = dict(api.tags.get(name, {}))
        self.cancelled = 0

    def set_all_config(self, config: dict[str, ConfigValue], *, path: bool = False) -> None:
        assert path, "config keys are paths (lists such as pulumi:disable-default-providers[0])"
        self.config.update(config)
        self.api.config_calls.append((self.name, dict(config)))

    def up(self, **kwargs: Any) -> Any:
        self.api.up_calls.append((self.name, kwargs))
        for line in ("Updating (cell)", "  + aws:ec2:Vpc alpha-vpc created", "Resources: 1 created"):
            kwargs["on_output"](line)
        kwargs["on_error"]("warning: something on stderr")
        if self.api.block_up is not None:
            self.api.up_started.set()
            self.api.block_up.wait(5)
            if self.api.fail_up:
                raise command_error("error: update canceled")
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"create": 1, "same": 3}))

    def preview(self, **kwargs: Any) -> Any:
        kwargs["on_output"]("Previewing update (cell)")
        return SimpleNamespace(change_summary={"same": 4})

    def set_tag(self, key: str, value: str) -> None:
        self.api.tags.setdefault(self.name, {})[key] = value

    def get_tag(self, key: str) -> str:
        if key not in self.tags:
            raise command_error(f"error: stack tag {key} not found")
        return self.tags[key]

    def history(self, page_size: int | None = None, **kwargs: Any) -> list[Any]:
        return self.api.history.get(self.name, [])

    def cancel(self) -> None:
        self.cancelled += 1
        if self.api.block_up is not None:
            self.api.fail_up = True
            self.api.block_up.set()
        if self.api.cancel_error:
            raise command_error("error: no update in progress")

    def outputs(self) -> dict[str, Any]:
        return {"accountIds": SimpleNamespace(value={"alpha": "210987654321"}, secret=False)}


class FakeApi:
    """The names of `pulumi.automation` the runner uses; stacks are recorded instead of run."""

    LocalWorkspaceOptions = LocalWorkspaceOptions
    ConfigValue = ConfigValue
    CommandError = CommandError
    StackNotFoundError = StackNotFoundError

    def __init__(self) -> None:
        self.created: list[tuple[str, str, LocalWorkspaceOptions]] = []
        self.config_calls: list[tuple[str, dict[str, ConfigValue]]] = []
        self.up_calls: list[tuple[str, dict[str, Any]]] = []
        self.plugins: list[tuple[str, str]] = []
        self.workspaces: list[dict[str, Any]] = []
        self.tags: dict[str, dict[str, str]] = {}
        self.history: dict[str, list[Any]] = {}
        self.stacks: dict[str, FakeStack] = {}
        self.known: set[str] = set()
        self.block_up: threading.Event | None = None
        self.up_started = threading.Event()
        self.fail_up = False
        self.cancel_error = False
        self.lock_held: list[bool] = []
        self.runner: AutomationRunner | None = None
        self.inside = 0
        self.max_inside = 0
        self._guard = threading.Lock()

    def create_or_select_stack(self, *, stack_name: str, work_dir: str, opts: LocalWorkspaceOptions) -> FakeStack:
        with self._guard:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
        try:
            if self.runner is not None:
                self.lock_held.append(self.runner._lock.is_locked)
            time.sleep(0.01)
            self.created.append((stack_name, work_dir, opts))
            self.known.add(stack_name)
            stack = self.stacks[stack_name] = FakeStack(self, stack_name, opts)
            return stack
        finally:
            with self._guard:
                self.inside -= 1

    def select_stack(self, *, stack_name: str, work_dir: str, opts: LocalWorkspaceOptions) -> FakeStack:
        if stack_name not in self.known:
            raise command_error(f"error: no stack named '{stack_name}' found", cls=StackNotFoundError)
        return FakeStack(self, stack_name, opts)

    def LocalWorkspace(self, **kwargs: Any) -> Any:
        self.workspaces.append(kwargs)
        return SimpleNamespace(install_plugin=lambda name, version: self.plugins.append((name, version)))


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def runner(tmp_path: Path, api: FakeApi) -> AutomationRunner:
    project = tmp_path / "project"
    project.mkdir()
    made = AutomationRunner(
        project,
        log_dir=project / ".honeycomb" / "logs",
        env={"HONEYCOMB_REGISTRY": "/srv/registry"},
        api=api,
        plugins={"aws": "7.51.1", "gcp": "10.2.0"},
    )
    api.runner = made
    return made


# --- the runner -----------------------------------------------------------------------------------


def test_up_uses_a_fresh_workspace_on_the_project_directory(runner: AutomationRunner, api: FakeApi) -> None:
    runner.up(ALPHA, revision="abc1234")
    runner.up(BETA, revision="abc1234")
    (first, work_dir, opts), (_, _, other) = api.created
    assert first == "cell-alpha" and work_dir == str(runner.project_dir)
    assert opts.work_dir == str(runner.project_dir)
    assert opts.env_vars == {"HONEYCOMB_REGISTRY": "/srv/registry"}
    assert opts.program is None and opts.project_settings is None and opts.stack_settings is None
    assert opts is not other


def test_config_is_set_through_the_cli_backed_call(runner: AutomationRunner, api: FakeApi) -> None:
    runner.up(BETA, revision="abc1234")
    [(stack, config)] = api.config_calls
    assert stack == "cell-beta"
    assert {k: (v.value, v.secret) for k, v in config.items()} == {
        "gcp:project": ("acme-cell-beta", False),
        "gcp:region": ("europe-west1", False),
    }
    assert api.created[0][2].stack_settings is None  # never written by the workspace itself


def test_engine_output_goes_to_one_log_per_stack(runner: AutomationRunner, api: FakeApi) -> None:
    result = runner.up(ALPHA, revision="abc1234")
    runner.preview(BETA)
    alpha = runner.project_dir / ".honeycomb" / "logs" / "cell-alpha.log"
    assert result.log == str(alpha)
    text = alpha.read_text()
    assert "up cell-alpha" in text and "+ aws:ec2:Vpc alpha-vpc created" in text and "warning: something" in text
    assert "Previewing update" in (runner.project_dir / ".honeycomb" / "logs" / "cell-beta.log").read_text()
    assert "cell-beta" not in text
    _, kwargs = api.up_calls[0]
    assert kwargs["color"] == "never" and kwargs["message"] == "honeycomb: revision abc1234"


def test_up_records_the_revision_and_the_changes(runner: AutomationRunner, api: FakeApi) -> None:
    result = runner.up(ALPHA, revision="abc1234")
    assert api.tags["cell-alpha"] == {REVISION_TAG: "abc1234"}
    assert result.changes == {"create": 1, "same": 3} and result.has_changes
    assert not runner.preview(ALPHA).has_changes


def test_stack_selection_is_serialized_behind_the_file_lock(runner: AutomationRunner, api: FakeApi) -> None:
    targets = [Target(f"cell-c{i}", "w", f"c{i}", "aws", {"aws:region": "us-east-1"}) for i in range(6)]
    threads = [threading.Thread(target=runner.up, args=(t,), kwargs={"revision": "r"}) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(api.created) == 6
    assert api.max_inside == 1
    assert api.lock_held == [True] * 6


def test_plugins_are_installed_once_before_fan_out(runner: AutomationRunner, api: FakeApi) -> None:
    runner.prepare()
    assert api.plugins == [("aws", "v7.51.1"), ("gcp", "v10.2.0")]
    assert len(api.workspaces) == 1 and api.workspaces[0]["work_dir"] == str(runner.project_dir)


def test_plugin_versions_come_from_the_installed_provider_sdks() -> None:
    versions = plugin_versions()
    assert set(versions) == {"aws", "gcp", "kubernetes"}
    assert versions["aws"].startswith("7.")


def test_last_revision_reads_the_tag_then_the_history(runner: AutomationRunner, api: FakeApi) -> None:
    assert runner.last_revision("cell-alpha") is None  # no such stack yet
    runner.up(ALPHA, revision="abc1234")
    api.stacks.clear()
    assert runner.last_revision("cell-alpha") == "abc1234"

    api.known.add("cell-gamma")
    api.history["cell-gamma"] = [
        SimpleNamespace(kind="update", result="failed", message="honeycomb: revision 9999999", environment={}),
        SimpleNamespace(kind="refresh", result="succeeded", message="", environment={"git.head": "ffff"}),
        SimpleNamespace(kind="update", result="succeeded", message="manual", environment={"git.head": "def5678"}),
    ]
    assert runner.last_revision("cell-gamma") == "def5678"
    api.history["cell-gamma"].insert(
        0, SimpleNamespace(kind="update", result="succeeded", message="honeycomb: revision 1234567", environment={})
    )
    assert runner.last_revision("cell-gamma") == "1234567"


def test_cancel_stops_the_running_update(runner: AutomationRunner, api: FakeApi) -> None:
    runner.cancel("cell-other")  # nothing running: no error
    api.block_up = threading.Event()
    api.cancel_error = True
    errors: list[BaseException] = []

    def up() -> None:
        try:
            runner.up(ALPHA, revision="r")
        except CommandError as exc:
            errors.append(exc)

    thread = threading.Thread(target=up)
    thread.start()
    assert api.up_started.wait(5)
    runner.cancel("cell-alpha")
    thread.join(5)
    assert api.stacks["cell-alpha"].cancelled == 1
    assert len(errors) == 1 and "canceled" in str(errors[0])
    assert "cell-alpha" not in api.tags  # a cancelled update records no revision


def test_outputs_of_the_management_stack(runner: AutomationRunner, api: FakeApi) -> None:
    assert runner.outputs("management") == {}
    api.known.add("management")
    assert runner.outputs("management") == {"accountIds": {"alpha": "210987654321"}}


# --- backend detection ----------------------------------------------------------------------------


def test_backend_from_the_environment_or_a_login(tmp_path: Path) -> None:
    assert detect_backend({"PULUMI_BACKEND_URL": "s3://state"}, tmp_path) == "s3://state"
    assert "PULUMI_ACCESS_TOKEN" in str(detect_backend({"PULUMI_ACCESS_TOKEN": "pul-x"}, tmp_path))
    assert detect_backend({}, tmp_path) is None
    (tmp_path / ".pulumi").mkdir()
    (tmp_path / ".pulumi" / "credentials.json").write_text(json.dumps({"current": "", "accounts": {}}))
    assert detect_backend({}, tmp_path) is None
    (tmp_path / ".pulumi" / "credentials.json").write_text(json.dumps({"current": "file:///var/state"}))
    assert detect_backend({}, tmp_path) == "file:///var/state"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "credentials.json").write_text(json.dumps({"current": "https://api.pulumi.com"}))
    assert detect_backend({"PULUMI_HOME": str(tmp_path / "elsewhere")}, tmp_path / "nowhere") == (
        "https://api.pulumi.com"
    )


# --- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "lock", "transient"),
    [
        (command_error("[409] Conflict: Another update is currently in progress.", cls=ConcurrentUpdateError), 1, 1),
        (command_error("error: the stack is currently locked by 1 lock(s): 'ci@runner' since 10:02"), 1, 1),
        (command_error(stdout="error: [409] Conflict: Another update is currently in progress."), 1, 1),
        (command_error("error: ThrottlingException: Rate exceeded, status code: 400"), 0, 1),
        (command_error("error: googleapi: Error 429: Quota exceeded, rateLimitExceeded"), 0, 1),
        (command_error("error: read tcp 10.0.0.1:443: read: connection reset by peer"), 0, 1),
        (command_error("error: creating EKS Cluster: AccessDeniedException: not authorized"), 0, 0),
        (command_error(stdout="error: Program failed with an unhandled exception"), 0, 0),
        (TransientError("blip"), 0, 1),
        (ConnectionError("reset"), 0, 1),
        (ValueError("bad config"), 0, 0),
        (CancelledError("stopped"), 0, 0),
    ],
)
def test_failures_are_classified(error: BaseException, lock: int, transient: int) -> None:
    assert is_lock_error(error) is bool(lock)
    assert is_transient(error) is bool(transient)


def test_call_with_retry_is_bounded_and_backs_off() -> None:
    clock = VirtualClock()
    calls: list[float] = []
    retries: list[tuple[int, float]] = []

    def flaky() -> str:
        calls.append(clock.now())
        raise command_error("the stack is currently locked by 1 lock(s)")

    policy = RetryPolicy(attempts=3, initial=10, maximum=100, jitter=0)
    with pytest.raises(CommandError, match="locked"):
        call_with_retry(
            flaky, policy=policy, clock=clock, stop=clock.signal(), on_retry=lambda n, e, w: retries.append((n, w))
        )
    assert len(calls) == 3
    assert calls[1] - calls[0] == pytest.approx(10) and calls[2] - calls[1] == pytest.approx(20)
    assert retries == [(1, 10), (2, 20)]


def test_call_with_retry_stops_when_asked() -> None:
    clock = VirtualClock()
    stop = clock.signal()

    def flaky() -> str:
        stop.set()
        raise TransientError("throttled")

    with pytest.raises(CancelledError):
        call_with_retry(flaky, policy=RetryPolicy(attempts=5, initial=60, jitter=0), clock=clock, stop=stop)
    assert clock.now() == 0


def test_call_with_retry_returns_the_result_and_attempts() -> None:
    clock = VirtualClock()
    outcomes = iter([TransientError("429 Too Many Requests"), "done"])

    def once() -> str:
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    assert call_with_retry(once, policy=RetryPolicy(initial=1, jitter=0), clock=clock, stop=clock.signal()) == (
        "done",
        2,
    )


def test_a_backend_without_stack_tags_does_not_fail_the_update(runner: AutomationRunner, api: FakeApi) -> None:
    def no_tags(self: FakeStack, key: str, value: str) -> None:
        raise command_error("error: stack tags are not supported by this backend")

    FakeStack.set_tag, original = no_tags, FakeStack.set_tag  # type: ignore[method-assign]
    try:
        result = runner.up(ALPHA, revision="abc1234")
    finally:
        FakeStack.set_tag = original  # type: ignore[method-assign]
    assert result.changes["create"] == 1
    assert "could not tag the stack" in (runner.project_dir / ".honeycomb" / "logs" / "cell-alpha.log").read_text()
    # The revision is still found, through the update's message.
    _, kwargs = api.up_calls[0]
    api.history["cell-alpha"] = [
        SimpleNamespace(kind="update", result="succeeded", message=kwargs["message"], environment={})
    ]
    assert runner.last_revision("cell-alpha") == "abc1234"


def test_no_pulumi_cli_is_reported_up_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cellctl.rollout.runner import RunnerUnavailableError

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RunnerUnavailableError, match="Pulumi CLI is not on PATH"):
        AutomationRunner(tmp_path, log_dir=tmp_path / "logs")


def test_a_cancel_that_arrives_during_stack_selection_is_honoured(runner: AutomationRunner, api: FakeApi) -> None:
    runner.cancel("cell-alpha")  # the orchestrator's Ctrl-C, while the worker is still selecting the stack
    with pytest.raises(CancelledError, match="before its update started"):
        runner.up(ALPHA, revision="r")
    assert api.up_calls == []
    runner.up(ALPHA, revision="r")  # consumed: the next run goes ahead
    assert len(api.up_calls) == 1
