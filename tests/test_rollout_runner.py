"""How the runner reads engine errors, backend detection, the retry rules (end to end: test_rollout_integration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.automation import (
    CommandError,
    CommandResult,
    ConcurrentUpdateError,
)

from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.plan import Target
from cellctl.rollout.retry import (
    CancelledError,
    RetryPolicy,
    TransientError,
    call_with_retry,
    evidence,
    is_lock_error,
    is_transient,
    kind_of,
)
from cellctl.rollout.runner import (
    EngineError,
    RunnerUnavailableError,
    _diagnostics,
    detect_backend,
    is_service_backend,
    lock_holder,
    make_command,
)

ALPHA = Target("cell-alpha", "prod-canary", "alpha", "aws", {"aws:region": "us-east-1"})
BETA = Target("cell-beta", "prod-main", "beta", "gcp", {"gcp:project": "acme-cell-beta", "gcp:region": "europe-west1"})


def command_error(stderr: str = "", stdout: str = "", cls: type[CommandError] = CommandError) -> CommandError:
    return cls(CommandResult(stdout=stdout, stderr=stderr, code=255))


def test_no_pulumi_cli_is_reported_up_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RunnerUnavailableError, match="Pulumi CLI is not on PATH"):
        make_command()


# --- the engine's words ---------------------------------------------------------------------------

PREAMBLE = "Updating (cell-alpha):\n\n    pulumi:pulumi:Stack honeycomb-cell-alpha running\n" * 20


def test_diagnostics_come_from_the_engine_events_not_the_head_of_stdout() -> None:
    events = [
        {"diagnosticEvent": {"severity": "info", "message": "Creating virtual environment..."}},
        {"diagnosticEvent": {"severity": "error", "message": "creating EKS Cluster (alpha-eks): AccessDenied\n"}},
        {"diagnosticEvent": {"severity": "error", "message": "creating EKS Cluster (alpha-eks): AccessDenied\n"}},
        {"summaryEvent": {"resourceChanges": {"create": 3}}},
    ]
    assert _diagnostics(events, "", PREAMBLE) == ["creating EKS Cluster (alpha-eks): AccessDenied"]


def test_diagnostics_lose_the_engines_colour_markup() -> None:
    # The real engine sends diagnostics with "color": "raw": the sink's markup is left in the message.
    raw = "<{%reset%}>creating EKS Cluster (alpha-eks): <{%fg 1%}>AccessDenied<{%reset%}>\n"
    events = [{"diagnosticEvent": {"severity": "error", "prefix": "<{%fg 1%}>error: <{%reset%}>", "message": raw}}]
    assert _diagnostics(events, "", "") == ["creating EKS Cluster (alpha-eks): AccessDenied"]


def test_without_events_the_stderr_error_block_is_kept_whole() -> None:
    stderr = (
        "warning: a warning first\nerror: the stack is currently locked by 1 lock(s). Either wait for the other "
        "process(es) to end or delete the lock file with `pulumi cancel`.\n  s3://state/.pulumi/locks/x.json: "
        "created by ci@ci-runner-7 (pid 48213) at 2026-12-01T10:00:00Z"
    )
    [text] = _diagnostics([], stderr, PREAMBLE)
    assert text.startswith("the stack is currently locked") and "ci@ci-runner-7 (pid 48213)" in text
    assert lock_holder(text) == "ci@ci-runner-7 (pid 48213) since 2026-12-01T10:00:00Z"
    assert lock_holder("[409] Conflict: Another update is currently in progress.") is None


def test_an_engine_error_tells_a_stop_from_a_failure() -> None:
    cause = command_error("error: update cancelled")
    stopped = EngineError("cell-alpha", cause, ["update cancelled"], 8, ".honeycomb/logs/cell-alpha.log")
    assert stopped.cancelled and not stopped.terminated and not is_transient(stopped)
    assert str(stopped) == "update cancelled (full log: .honeycomb/logs/cell-alpha.log)"
    killed = EngineError("cell-alpha", cause, [], 255, "log", stop="force")
    assert killed.terminated and not killed.cancelled and not is_transient(killed)
    # A CLI before v3.226.1 exits 255 for every failure, a stop included: what cellctl sent tells them apart.
    old_cli_stop = EngineError("cell-alpha", cause, ["update cancelled"], 255, "log", stop="interrupt")
    assert old_cli_stop.cancelled and not old_cli_stop.terminated and not is_transient(old_cli_stop)
    old_cli_throttled = EngineError(
        "cell-alpha", command_error("api error Throttling: Rate exceeded"), ["Throttling"], 255, "log"
    )
    assert not old_cli_throttled.terminated and not old_cli_throttled.cancelled and is_transient(old_cli_throttled)
    internal = EngineError("cell-alpha", command_error("error: panic"), ["panic"], 255, "log")
    assert not internal.terminated and not internal.cancelled
    throttled = EngineError("cell-alpha", command_error("api error Throttling: Rate exceeded"), ["x"], 1, "log")
    assert is_transient(throttled) and kind_of(throttled) == "throttled by the cloud API"
    locked = EngineError(
        "cell-alpha",
        command_error(
            "error: the stack is currently locked by 1 lock(s): created by a@b (pid 7) at T", cls=ConcurrentUpdateError
        ),
        ["locked"],
        1,
        "log",
    )
    assert is_lock_error(locked) and kind_of(locked) == "stack locked by a@b (pid 7) since T"


def test_evidence_keeps_the_cause_of_a_long_message_in_view() -> None:
    text = "sdk-v2/provider2.go:566: " + "x" * 400 + " api error Throttling: Rate exceeded: provider=aws@7.51.1"
    shown = evidence(command_error(text))
    assert "Throttling: Rate exceeded" in shown and len(shown) <= 202


def test_only_a_service_backend_gets_pulumi_cancel() -> None:
    assert is_service_backend("https://api.pulumi.com") and is_service_backend("http://pulumi.internal:8080")
    assert not is_service_backend("s3://acme-state") and not is_service_backend("file:///tmp/state")
    assert not is_service_backend(None)


# --- backend detection ----------------------------------------------------------------------------


def test_backend_from_the_environment_or_a_login(tmp_path: Path) -> None:
    assert detect_backend({"PULUMI_BACKEND_URL": "s3://state"}, tmp_path) == "s3://state"
    assert detect_backend({"PULUMI_ACCESS_TOKEN": "pul-x"}, tmp_path) == "https://api.pulumi.com"
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
    # As the CLI decides: a login wins over a token (with both, the CLI uses the S3 login)...
    assert detect_backend({"PULUMI_ACCESS_TOKEN": "pul-x"}, tmp_path) == "file:///var/state"
    # ...and the project's own `backend.url` over both.
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: honeycomb\nruntime: python\nbackend:\n  url: s3://acme-state\n")
    assert detect_backend({"PULUMI_ACCESS_TOKEN": "pul-x"}, tmp_path, project) == "s3://acme-state"
    assert detect_backend({"PULUMI_BACKEND_URL": "gs://other"}, tmp_path, project) == "gs://other"


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


# --- kept secrets-manager keys -------------------------------------------------------------------


def test_a_kept_salt_is_restored_only_into_runs_against_its_own_backend(tmp_path: Path) -> None:
    from pulumi.automation import PulumiCommand
    from semver import VersionInfo

    from cellctl.rollout.runner import AutomationRunner

    class NoCli(PulumiCommand):
        def __init__(self) -> None:
            self.command = "pulumi"
            self.version = VersionInfo(3, 272, 0)

    def run_dir(name: str) -> Path:
        path = tmp_path / name
        (path / "stacks").mkdir(parents=True)
        (path / "Pulumi.yaml").write_text("name: honeycomb\nruntime: python\nstackConfigDir: stacks\n")
        (path / "stacks" / "Pulumi.cell-alpha.yaml").write_text("config:\n  aws:region: eu-west-1\n")
        return path

    def runner(path: Path, backend: str) -> AutomationRunner:
        return AutomationRunner(path, home=tmp_path / "home", command=NoCli(), backend=backend, plugins={})

    first = run_dir("first")
    stack_file = first / "stacks" / "Pulumi.cell-alpha.yaml"
    stack_file.write_text("encryptionsalt: v1:salt-of-a\n" + stack_file.read_text())  # what `stack init` wrote
    runner(first, "s3://state-a")._keep_keys("cell-alpha")

    other = run_dir("other")
    runner(other, "https://api.pulumi.com")._restore_keys("cell-alpha")
    assert "encryptionsalt" not in (other / "stacks" / "Pulumi.cell-alpha.yaml").read_text()
    same = run_dir("same")
    runner(same, "s3://state-a")._restore_keys("cell-alpha")
    restored = (same / "stacks" / "Pulumi.cell-alpha.yaml").read_text()
    assert "encryptionsalt: v1:salt-of-a" in restored and "aws:region: eu-west-1" in restored
