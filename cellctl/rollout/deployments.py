"""The remote runner: each stack update is a Pulumi Deployment, created and followed through Pulumi Cloud.

`DeploymentsRunner` implements the orchestrator's `StackRunner` with the Pulumi Cloud SDK for
Python (`pulumi_cloud_sdk`, generated from the service's OpenAPI document). Per stack update it:

- creates a deployment (`POST /api/stacks/{org}/{project}/{stack}/deployments`) that inherits the
  stack's deployment settings (repository, path, agent pool, OIDC, pre-run commands: the
  `pulumiservice.DeploymentSettings` of the management stack) and pins the source to the
  rollout's commit (`sourceContext.git.commit`; the API treats commit and branch as mutually
  exclusive, so the request sends `branch: null`, and no other null: the service's merge removes
  what a request sets to null, `create_request`);
- records the deployment id in the journal before it does anything else, so a retry or a resumed
  rollout follows the deployment that runs instead of starting a second one;
- polls it and streams its log lines into `.honeycomb/logs/<stack>.log`, then maps the result
  onto the runner's states: `succeeded` is a `RunResult` with the update's resource changes,
  `failed`/`skipped` a `DeploymentError` with the log's error lines;
- tags the stack with the deployed revision (`honeycomb:revision`, as the local runner does),
  plus the rollout id and the revision it replaced, so a rollback finds the last good one.

Stopping: the API's cancel stops a running deployment at once ("may leave the stack in an
inconsistent state", docs: `pulumi deployment cancel`). So the first stop cancels only the
deployments still queued (they have touched nothing) and lets running ones finish; a forced stop
(a second Ctrl-C) cancels those too, reported like a local `terminated` update.

API errors: 429 is retried after its `Retry-After`, 5xx and lost connections after the usual
backoff (`cellctl.rollout.retry`); every other 4xx is a clear, final error.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import os
import re
import threading
import urllib.error
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cellctl.rollout.clock import Clock, Signal
from cellctl.rollout.plan import Target
from cellctl.rollout.retry import CancelledError, RateLimitedError, RetryPolicy, TransientError, call_with_retry
from cellctl.rollout.runner import REVISION_TAG, RunResult

T = TypeVar("T")

#: Where Pulumi Cloud's API lives unless `PULUMI_API` (self-hosted) says otherwise.
DEFAULT_HOST = "https://api.pulumi.com"
TOKEN_ENV = "PULUMI_ACCESS_TOKEN"  # noqa: S105  # the variable's name, not a token
#: Stack tags next to `REVISION_TAG`: the rollout that set it, and the revision it replaced.
ROLLOUT_TAG = "honeycomb:rollout"
PREVIOUS_TAG = "honeycomb:previous-revision"
#: Job statuses (docs: Deployments, "Deployment status"): queued, picked up, running, and the terminal ones.
QUEUED = frozenset({"not-started", "accepted"})
ACTIVE = QUEUED | {"running"}
#: Retries of one API call (429, 5xx, a dropped connection); the orchestrator's policy retries whole updates.
API_RETRY = RetryPolicy(attempts=6, initial=2.0, maximum=60.0, jitter=1.0)
_ERROR_LINE = re.compile(r"(^|\s)(error|failed)[:\s]", re.IGNORECASE)


class DeploymentsUnavailableError(RuntimeError):
    """The remote runner cannot start (no token, no organization): bad input, reported before anything runs."""


class DeploymentApiError(RuntimeError):
    """Pulumi Cloud refused a request for good (401, 403, 404, 400): retrying would not help."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class DeploymentError(RuntimeError):
    """A deployment that ended without succeeding; `terminated` when cellctl cancelled it through the API."""

    def __init__(
        self, stack: str, deployment_id: str, status: str, diagnostics: list[str], log: str, *, terminated: bool
    ) -> None:
        self.stack = stack
        self.deployment_id = deployment_id
        self.status = status
        self.diagnostics = diagnostics
        self.log = log
        self.terminated = terminated
        self.cancelled = False
        what = "cancelled through the API" if terminated else status
        text = "; ".join(diagnostics) or "the deployment's log has no error lines"
        super().__init__(f"deployment {deployment_id} {what}: {text} (full log: {log})")


class DeploymentBook(Protocol):
    """Where deployment ids are kept, by stack and `<operation>:<revision>` (the journal, in a rollout)."""

    def get(self, stack: str, key: str) -> str | None: ...

    def put(self, stack: str, key: str, deployment_id: str) -> None: ...


class MemoryBook:
    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], str] = {}

    def get(self, stack: str, key: str) -> str | None:
        return self._ids.get((stack, key))

    def put(self, stack: str, key: str, deployment_id: str) -> None:
        self._ids[(stack, key)] = deployment_id


class JournalBook:
    """The rollout journal's `deployments` per cell: saved before the deployment is followed."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal

    def get(self, stack: str, key: str) -> str | None:
        entry = self.journal.doc.cells.get(stack)
        return entry.deployments.get(key) if entry is not None else None

    def put(self, stack: str, key: str, deployment_id: str) -> None:
        if stack not in self.journal.doc.cells:
            return
        entry = self.journal.cell(stack)
        self.journal.update_cell(stack, deployments={**entry.deployments, key: deployment_id})


def access_token(env: Mapping[str, str] | None = None) -> str:
    """The Pulumi Cloud token, or one paragraph saying where to get one."""
    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise DeploymentsUnavailableError(
            f"{TOKEN_ENV} is not set: the deployments runner creates and follows Pulumi Deployments through "
            "Pulumi Cloud's API, which needs an access token (an organization or team token in CI, a personal "
            "one for an operator). Set it, or use --runner local"
        )
    return token


def make_client(host: str, token: str, transport: Any = None) -> Any:
    """An `ApiClient` for `host` with `token` (`transport` lets a caller change how requests are sent)."""
    from pulumi_cloud_sdk import ApiClient, Configuration

    config = Configuration()
    config.host = host
    config.access_token = token
    return ApiClient(config, transport=transport)


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date (RFC 9110 10.2.3); None when unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def translate(what: str, fn: Callable[[], T]) -> T:
    """Run one API call, turning HTTP and network failures into transient or final errors."""
    try:
        return fn()
    except urllib.error.HTTPError as exc:
        body = " ".join(exc.read().decode("utf-8", "replace").split())[:300] if exc.fp else ""
        detail = f"HTTP {exc.code} {exc.reason}" + (f": {body}" if body else "")
        if exc.code == 429:
            raise RateLimitedError(
                f"429 Too Many Requests from Pulumi Cloud ({what})", retry_after(exc.headers.get("Retry-After"))
            ) from exc
        if exc.code >= 500 or exc.code in {408, 409}:
            raise TransientError(f"Pulumi Cloud could not {what} ({detail})") from exc
        if exc.code in {401, 403}:
            raise DeploymentApiError(
                f"Pulumi Cloud refused to {what} ({detail}): check that {TOKEN_ENV} is a token of the organization "
                "with access to the stack and to Deployments",
                exc.code,
            ) from exc
        raise DeploymentApiError(f"Pulumi Cloud refused to {what} ({detail})", exc.code) from exc
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransientError(f"network error while trying to {what}: {type(reason).__name__}: {reason}") from exc
    except (ValueError, TypeError) as exc:
        # The SDK's models refuse a body that lacks a required field or has an unknown enum value.
        raise DeploymentApiError(
            f"Pulumi Cloud's answer when trying to {what} does not match the SDK's models ({exc}): "
            "a newer pulumi-cloud-sdk may read it"
        ) from exc


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def create_request(operation: str, revision: str) -> dict[str, Any]:
    """The body of a deployment that inherits the stack's settings and pins `revision` (when given).

    The service merges the body onto the stack's settings and a `null` there removes a setting, but the
    SDK's models serialize every unset field as `null` (`agentPoolID`, `operationContext`, `repoUrl`, ...):
    sent as they are, the deployment would lose its repository, OIDC, pre-run commands and agent pool. So
    the model is built (it checks the values) and its nulls dropped, but the inherited branch's, which
    must go for the commit to count (the two are mutually exclusive).
    """
    from pulumi_cloud_sdk import default_encoder, models

    source = models.SourceContextRequest(git=models.SourceContextGitRequest(commit=revision)) if revision else None
    model = models.CreateDeploymentRequest(
        operation=models.PulumiOperation(operation), inherit_settings=True, source_context=source
    )
    body: dict[str, Any] = _without_nulls(default_encoder.sanitize_for_serialization(model))
    if revision:
        body["sourceContext"]["git"]["branch"] = None
    return body


@dataclass
class _Run:
    """One stack's deployment as this process follows it."""

    deployment_id: str | None = None
    status: str = ""
    wake: Signal | None = None
    cancelled: bool = False
    log_token: str | None = None
    #: The service said the log has no more lines ("nextToken" empty after lines, or once the deployment ended).
    log_done: bool = False


class DeploymentsRunner:
    """`StackRunner` on Pulumi Deployments (see the module docstring)."""

    def __init__(
        self,
        *,
        organization: str,
        project: str,
        home: Path,
        clock: Clock,
        token: str,
        host: str = DEFAULT_HOST,
        poll_seconds: float = 10.0,
        retry: RetryPolicy = API_RETRY,
        book: DeploymentBook | None = None,
        transport: Any = None,
        revision: str = "",
    ) -> None:
        from pulumi_cloud_sdk import apis

        if not organization:
            raise DeploymentsUnavailableError("the deployments runner needs the Pulumi organization's name")
        self.organization = organization
        self.project = project
        self.home = Path(home)
        self.log_dir = self.home / ".honeycomb" / "logs"
        self.clock = clock
        self.poll_seconds = poll_seconds
        #: The commit a preview runs (`up` gets its revision from the orchestrator); empty: the settings' branch.
        self.revision = revision
        self.retry = retry
        self.book: DeploymentBook = book or MemoryBook()
        self.client = make_client(host, token, transport)
        self.deployments = apis.DeploymentsApi(self.client)
        self.stacks = apis.StacksApi(self.client)
        self._guard = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._stopping: dict[str, bool] = {}
        #: Never set: API retries keep going while a rollout stops (a poll must still learn how a deployment ended).
        self._never = clock.signal()

    def bind(self, book: DeploymentBook) -> None:
        """Keep deployment ids in `book` (the rollout's journal) from now on."""
        self.book = book

    # --- API calls ------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        result, _ = call_with_retry(lambda: translate(what, fn), policy=self.retry, clock=self.clock, stop=self._never)
        return result

    def _path(self, stack: str) -> tuple[str, str, str]:
        return self.organization, self.project, stack

    # --- StackRunner ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Nothing to install here: the agents bring the CLI and plugins (pre-run commands set up the venv)."""

    def up(self, target: Target, *, revision: str, run_id: str = "") -> RunResult:
        previous = self._tags(target.stack).get(REVISION_TAG)
        result = self._deploy(target, "update", revision)
        tags = {REVISION_TAG: revision, ROLLOUT_TAG: run_id or "-"}
        if previous and previous != revision:
            tags[PREVIOUS_TAG] = previous
        try:
            self._set_tags(target.stack, tags)
        except (DeploymentApiError, TransientError) as exc:
            with self._log(target.stack, "tag") as write:
                write(f"could not tag the stack with its revision: {exc}")
        return result

    def preview(self, target: Target) -> RunResult:
        return self._deploy(target, "preview", self.revision)

    def cancel(self, stack: str, *, force: bool = False) -> None:
        """Queued deployments are cancelled at once; running ones only with `force` (the API stops them mid-step)."""
        with self._guard:
            self._stopping[stack] = self._stopping.get(stack, False) or force
            run = self._runs.get(stack)
        if run is None or run.deployment_id is None:
            return
        if run.status in QUEUED or (force and run.status in ACTIVE):
            self._cancel(stack, run)

    def running(self, stack: str) -> bool:
        with self._guard:
            run = self._runs.get(stack)
        return run is not None and run.status in ACTIVE

    def release(self, stack: str) -> str | None:
        with self._guard:
            run = self._runs.get(stack)
        if run is None or not run.cancelled:
            return None
        return f"deployment {run.deployment_id} was cancelled through the Pulumi Cloud API"

    def last_revision(self, stack: str, *, exclude_run: str | None = None) -> str | None:
        try:
            tags = self._tags(stack)
        except (DeploymentApiError, TransientError):
            return None
        if exclude_run and tags.get(ROLLOUT_TAG) == exclude_run:
            return tags.get(PREVIOUS_TAG)
        return tags.get(REVISION_TAG)

    def outputs(self, stack: str) -> dict[str, Any]:
        try:
            found = self._call("read the stack's outputs", lambda: self.stacks.get_stack_outputs(*self._path(stack)))
        except DeploymentApiError:
            return {}
        return dict(found.outputs or {})

    # --- one deployment -------------------------------------------------------------------------

    def _deploy(self, target: Target, operation: str, revision: str) -> RunResult:
        stack = target.stack
        key = f"{operation}:{revision}"
        with self._guard:
            run = self._runs.setdefault(stack, _Run())
            run.wake = self.clock.signal()
            run.cancelled = False
            stopping = stack in self._stopping
        known = self.book.get(stack, key)
        status = self._status(stack, known) if known else None
        if known and status in ACTIVE | {"succeeded"}:
            if run.deployment_id != known:
                run.log_token, run.log_done = None, False
            run.deployment_id = known
            with self._log(stack, f"following deployment {known} ({status})") as write:
                return self._follow(target, run, write)
        if stopping:
            raise CancelledError(f"{stack} was stopped before its deployment was created")
        run.status, run.log_token, run.log_done = "", None, False
        deployment_id = self._create(stack, operation, revision)
        run.deployment_id = deployment_id
        self.book.put(stack, key, deployment_id)
        with self._log(stack, f"{operation} as deployment {deployment_id} of {revision}") as write:
            return self._follow(target, run, write)

    def _status(self, stack: str, deployment_id: str) -> str | None:
        """A recorded deployment's status; None when the service no longer knows it (404: a new one is started).
        Any other refusal is raised: the recorded deployment may still run, and a second must not start."""
        try:
            found = self._call(
                "read a recorded deployment", lambda: self.deployments.get_deployment(*self._path(stack), deployment_id)
            )
        except DeploymentApiError as exc:
            if exc.code == 404:
                return None
            raise
        return str(found.status)

    def _create(self, stack: str, operation: str, revision: str) -> str:
        request = create_request(operation, revision)
        created = self._call(
            f"create a deployment of {stack}",
            lambda: self.deployments.create_api_deployment_handler_v2(*self._path(stack), request),
        )
        return str(created.id)

    def _cancel(self, stack: str, run: _Run) -> None:
        assert run.deployment_id is not None
        deployment_id = run.deployment_id
        run.cancelled = True
        with contextlib.suppress(DeploymentApiError, TransientError, CancelledError):
            self._call(
                f"cancel deployment {deployment_id}",
                lambda: self.deployments.cancel_deployment(*self._path(stack), deployment_id),
            )
        if run.wake is not None:
            run.wake.set()

    def _follow(self, target: Target, run: _Run, write: Callable[[str], None]) -> RunResult:
        stack = target.stack
        deployment_id = run.deployment_id
        assert deployment_id is not None
        lines: list[str] = []
        while True:
            found = self._call(
                f"read deployment {deployment_id}",
                lambda: self.deployments.get_deployment(*self._path(stack), deployment_id),
            )
            run.status = str(found.status)
            self._pull_logs(stack, run, write, lines)
            if run.status not in ACTIVE:
                break
            with self._guard:
                force = self._stopping.get(stack)
            if force is not None and not run.cancelled and (force or run.status in QUEUED):
                self._cancel(stack, run)
            assert run.wake is not None
            if self.clock.wait(run.wake, self.poll_seconds):
                run.wake = self.clock.signal()
        self._pull_logs(stack, run, write, lines)
        status, run.status = run.status, "done"
        if status == "succeeded":
            return RunResult(self._changes(stack, deployment_id), str(self.log_path(stack)))
        diagnostics = [line for line in lines if _ERROR_LINE.search(line)][-3:] or lines[-3:]
        if status == "skipped":
            diagnostics = ["the service skipped it (queued over 7 days, or superseded by a newer deployment)"]
        raise DeploymentError(
            stack, deployment_id, status, diagnostics, str(self.log_path(stack)), terminated=run.cancelled
        )

    def _pull_logs(self, stack: str, run: _Run, write: Callable[[str], None], lines: list[str]) -> None:
        """Append the log lines the service has beyond `run.log_token`; a broken log read never fails the update.

        An empty `nextToken` means no more logs (docs: DeploymentLogs): the page that says so may still carry the
        last lines, so after it the log is not read again (from the old token it would repeat them).
        """
        deployment_id = run.deployment_id
        assert deployment_id is not None
        for _ in range(1000):
            if run.log_done:
                return
            try:
                page = self._call(
                    f"read the log of deployment {deployment_id}",
                    lambda: self.deployments.get_deployment_logs(
                        *self._path(stack), deployment_id, continuation_token=run.log_token
                    ),
                )
            except (DeploymentApiError, TransientError) as exc:
                write(f"(could not read the deployment's log: {exc})")
                return
            page_lines = getattr(page, "lines", None) or []
            for line in page_lines:
                text = str(line.line or "").rstrip("\n")
                lines.append(text)
                write(text)
            token = getattr(page, "next_token", None)
            if not token:
                run.log_done = bool(page_lines) or run.status not in ACTIVE
                return
            if token == run.log_token:
                return
            run.log_token = token

    def _changes(self, stack: str, deployment_id: str) -> dict[str, int]:
        try:
            updates = self._call(
                f"read the updates of deployment {deployment_id}",
                lambda: self.deployments.get_deployment_updates(*self._path(stack), deployment_id),
            )
        except DeploymentApiError:
            return {}
        changes: dict[str, int] = {}
        for update in updates or []:
            for op, count in ((update.info.resource_changes if update.info else None) or {}).items():
                changes[str(op)] = changes.get(str(op), 0) + int(count)
        return changes

    # --- tags -----------------------------------------------------------------------------------

    def _tags(self, stack: str) -> dict[str, str]:
        try:
            found = self._call(f"read stack {stack}", lambda: self.stacks.get_stack(*self._path(stack)))
        except DeploymentApiError:
            return {}
        return dict(found.tags or {})

    def _set_tags(self, stack: str, tags: dict[str, str]) -> None:
        """PATCH replaces the stack's whole tag set, so the current tags are read and merged first."""
        merged = {**self._tags(stack), **tags}
        self._call(f"tag stack {stack}", lambda: self.stacks.update_stack_tags(*self._path(stack), merged))

    # --- logs -----------------------------------------------------------------------------------

    def log_path(self, stack: str) -> Path:
        return self.log_dir / f"{stack}.log"

    @contextlib.contextmanager
    def _log(self, stack: str, operation: str) -> Iterator[Callable[[str], None]]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(stack).open("a", encoding="utf-8") as handle:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            handle.write(f"=== {stamp} {operation} {stack} on Pulumi Deployments ({self.organization})\n")
            handle.flush()

            def write(line: str) -> None:
                handle.write(line + "\n")
                handle.flush()

            yield write
