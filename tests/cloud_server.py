"""A stand-in for the few Pulumi Cloud endpoints the deployments runner uses, on 127.0.0.1.

Bodies are checked against the models of `pulumi_cloud_sdk` (the SDK ships its generated models,
not the OpenAPI document they come from): a request body must deserialize into the operation's
request model and re-serialize to the same JSON (an unknown field, a wrong type or a bad enum
value is a 400, as the service would answer), and every response is built with the model's own
constructor (which refuses a missing required field) and serialized by the SDK's encoder.

A deployment that inherits its stack's settings runs with the request merged onto them, by the
rules the Deployments REST API documents for its settings merge (an object merges key by key, a
key set to `null` is removed, anything else replaces), and the merged settings must name the
repository and one of branch or commit, as the service requires.

A deployment moves one status along its script per read (`not-started`, `running`, …, then its
final status); faults (429 with Retry-After, a dropped connection, a 5xx) are injected per route.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pulumi_cloud_sdk import default_encoder, models

TOKEN = "pul-test-token"
_STACK = r"/api/stacks/(?P<org>[^/]+)/(?P<project>[^/]+)/(?P<stack>[^/]+)"


@dataclass
class Script:
    """What a stack's deployments do: the statuses reads see, then `final`."""

    statuses: list[str] = field(default_factory=lambda: ["not-started", "running"])
    final: str = "succeeded"
    logs: list[str] = field(default_factory=lambda: ["Updating (cell)", "Resources: 3 updated"])
    changes: dict[str, int] = field(default_factory=lambda: {"update": 3, "same": 40})
    #: Hold at the last status until `release` is set (a deployment that runs until the test says so).
    hold: threading.Event | None = None


@dataclass
class Fault:
    method: str
    path: str  # a regular expression matched against the path
    kind: str  # "429" | "drop" | "500" | "404"
    count: int = 1
    retry_after: str | None = None


def stack_settings(agent_pool_id: str | None = None) -> dict[str, Any]:
    """Deployment settings as the management stack writes them (`components.pulumi_cloud`), in the API's shape."""
    settings: dict[str, Any] = {
        "sourceContext": {
            "git": {"repoUrl": "https://github.com/acme/honeycomb.git", "branch": "main", "repoDir": "."}
        },
        "operationContext": {
            "preRunCommands": ["python3 -m venv .venv"],
            "options": {"skipInstallDependencies": True},
            "oidc": {"aws": {"roleArn": "arn:aws:iam::111111111111:role/ci", "sessionName": "honeycomb"}},
        },
    }
    if agent_pool_id:
        settings["agentPoolID"] = agent_pool_id
    return settings


def merge_settings(current: Any, patch: Any) -> Any:
    """The documented merge: objects key by key (`null` removes the key), every other value replaces."""
    if not isinstance(current, dict) or not isinstance(patch, dict):
        return patch
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_settings(current.get(key), value)
    return merged


def source_problem(settings: dict[str, Any]) -> str | None:
    """What the service refuses in a deployment's merged source: no repository, or not exactly one of branch/commit."""
    git = (settings.get("sourceContext") or {}).get("git") or {}
    if not git.get("repoUrl"):
        return "sourceContext.git.repoUrl is required"
    if bool(git.get("branch")) == bool(git.get("commit")):
        return "exactly one of sourceContext.git.branch and sourceContext.git.commit must be set"
    return None


@dataclass
class Deployment:
    id: str
    stack: str
    script: Script
    request: dict[str, Any]
    #: The settings it runs with: the stack's, merged with the request (or the request alone).
    settings: dict[str, Any] = field(default_factory=dict)
    reads: int = 0
    status: str = "not-started"
    cancelled: bool = False
    log: list[str] = field(default_factory=list)


class FakeCloud:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.scripts: dict[str, Script] = {}
            self.deployments: dict[str, Deployment] = {}
            self.faults: list[Fault] = []
            self.calls: list[tuple[str, str]] = []
            self.tags: dict[str, dict[str, str]] = {}
            #: Each stack's deployment settings; a stack not listed has `stack_settings()`.
            self.settings: dict[str, dict[str, Any]] = {}
            self.invalid: list[str] = []
            self._ids = itertools.count(1)

    def created(self, stack: str | None = None) -> list[Deployment]:
        return [d for d in self.deployments.values() if stack is None or d.stack == stack]

    def seed(self, stack: str, script: Script, status: str = "running") -> str:
        """A deployment already under way (started by an earlier cellctl)."""
        with self.lock:
            dep = Deployment(f"dep-{next(self._ids)}", stack, script, {}, status=status)
            dep.reads = script.statuses.index(status) + 1 if status in script.statuses else 0
            self.deployments[dep.id] = dep
            return dep.id

    def fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and fault.method == method and re.search(fault.path, path):
                    fault.count -= 1
                    return fault
        return None

    # --- the deployment's progress ----------------------------------------------------------------

    def advance(self, dep: Deployment) -> None:
        script = dep.script
        if dep.cancelled:
            dep.status = "failed"
            if not dep.log or dep.log[-1] != "error: the deployment was canceled":
                dep.log.append("error: the deployment was canceled")
            return
        if dep.status in {"succeeded", "failed", "skipped"}:
            return
        if dep.reads < len(script.statuses):
            dep.status = script.statuses[dep.reads]
            dep.reads += 1
            if dep.status == "running" and not dep.log:
                dep.log.append(script.logs[0] if script.logs else "running")
            return
        if script.hold is not None and not script.hold.is_set():
            return
        dep.status = script.final
        for line in script.logs[1:] if dep.log else script.logs:
            dep.log.append(line)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def check_body(body: Any, model: str) -> str | None:
    """None when `body` is exactly what the SDK's `model` reads and writes; else what is wrong."""
    try:
        parsed = default_encoder.deserialize(body, model)
    except (TypeError, ValueError) as exc:
        return f"{model}: {exc}"
    again = _strip(default_encoder.sanitize_for_serialization(parsed))
    if again != _strip(body):
        return f"{model}: body has fields or values the model does not: sent {_strip(body)}, model reads {again}"
    return None


def dump(model: Any) -> bytes:
    return json.dumps(_strip(default_encoder.sanitize_for_serialization(model))).encode()


class Handler(BaseHTTPRequestHandler):
    cloud: FakeCloud

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, message: str) -> None:
        self._send(code, json.dumps({"code": code, "message": message}).encode())

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _handle(self, method: str) -> None:
        cloud = self.cloud
        path = self.path.split("?", 1)[0]
        body = self._body()
        with cloud.lock:
            cloud.calls.append((method, path))
        if self.headers.get("Authorization") != f"token {TOKEN}":
            self._error(401, "Unauthorized: No credentials provided or are invalid.")
            return
        fault = cloud.fault(method, path)
        if fault is not None:
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault.kind == "429":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._send(429, json.dumps({"code": 429, "message": "Too Many Requests"}).encode(), headers)
                return
            self._error(int(fault.kind), "injected")
            return
        for pattern, route in ROUTES.get(method, []):
            found = re.fullmatch(pattern, path)
            if found:
                route(self, found.groupdict(), body)
                return
        self._error(404, f"no route {method} {path}")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    # --- routes ---------------------------------------------------------------------------------

    def create(self, p: dict[str, str], body: Any) -> None:
        problem = check_body(body, "CreateDeploymentRequest")
        if problem:
            self.cloud.invalid.append(problem)
            self._error(400, problem)
            return
        cloud = self.cloud
        current = cloud.settings.get(p["stack"], stack_settings())
        settings = merge_settings(current, body) if body.get("inheritSettings", True) else body
        problem = source_problem(settings)
        if problem:
            cloud.invalid.append(problem)
            self._error(400, problem)
            return
        with cloud.lock:
            dep = Deployment(
                f"dep-{next(cloud._ids)}", p["stack"], cloud.scripts.get(p["stack"], Script()), _strip(body), settings
            )
            cloud.deployments[dep.id] = dep
        self._send(
            201, dump(models.CreateDeploymentResponse(id=dep.id, console_url=f"http://console/{dep.id}", version=1))
        )

    def _dep(self, p: dict[str, str]) -> Deployment | None:
        dep = self.cloud.deployments.get(p["id"])
        if dep is None or dep.stack != p["stack"]:
            self._error(404, f"deployment {p['id']} not found")
            return None
        return dep

    def get(self, p: dict[str, str], body: Any) -> None:
        dep = self._dep(p)
        if dep is None:
            return
        with self.cloud.lock:
            self.cloud.advance(dep)
            status = dep.status
        response = models.GetDeploymentResponse(
            id=dep.id,
            created="2026-12-02 10:00:00.000",
            modified="2026-12-02 10:01:00.000",
            status=models.JobStatus(status),
            version=1,
            requested_by=models.UserInfo(name="ci", github_login="ci", avatar_url="http://avatar"),
            latest_version=1,
            pulumi_operation=models.PulumiOperation(dep.request.get("operation", "update")),
        )
        self._send(200, dump(response))

    def logs(self, p: dict[str, str], body: Any) -> None:
        dep = self._dep(p)
        if dep is None:
            return
        query = dict(part.split("=", 1) for part in self.path.partition("?")[2].split("&") if "=" in part)
        start = int(query.get("continuationToken") or 0)
        with self.cloud.lock:
            lines = dep.log[start:]
            done = dep.status in {"succeeded", "failed", "skipped"}
        page = models.DeploymentLogs(
            lines=[models.DeploymentLogLine(header="pulumi up", timestamp=None, line=text) for text in lines],
            next_token=None if done else str(start + len(lines)),
        )
        self._send(200, dump(page))

    def updates(self, p: dict[str, str], body: Any) -> None:
        dep = self._dep(p)
        if dep is None:
            return
        info = models.AppUpdateInfo(
            kind=models.AppUpdateKind("update"),
            start_time=1,
            message="",
            environment={},
            config={},
            result=models.AppUpdateResult("succeeded"),
            end_time=2,
            version=1,
            resource_changes=dep.script.changes,
        )
        update = models.UpdateInfo(
            info=info,
            update_id="u-1",
            version=1,
            latest_version=1,
            requested_by=models.UserInfo(name="ci", github_login="ci", avatar_url="http://avatar"),
        )
        self._send(200, json.dumps([json.loads(dump(update))]).encode())

    def cancel(self, p: dict[str, str], body: Any) -> None:
        dep = self._dep(p)
        if dep is None:
            return
        with self.cloud.lock:
            dep.cancelled = True
        self._send(200)

    def stack(self, p: dict[str, str], body: Any) -> None:
        tags = self.cloud.tags.get(p["stack"], {"pulumi:project": p["project"]})
        found = models.AppStack(
            id=f"{p['org']}/{p['project']}/{p['stack']}",
            org_name=p["org"],
            project_name=p["project"],
            stack_name=p["stack"],
            active_update="",
            version=1,
            tags=tags,
        )
        self._send(200, dump(found))

    def set_tags(self, p: dict[str, str], body: Any) -> None:
        if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
            self._error(400, "tags must be a map of strings")
            return
        self.cloud.tags[p["stack"]] = dict(body)
        self._send(204)


ROUTES: dict[str, list[tuple[str, Any]]] = {
    "POST": [
        (_STACK + "/deployments", Handler.create),
        (_STACK + r"/deployments/(?P<id>[^/]+)/cancel", Handler.cancel),
    ],
    "GET": [
        (_STACK + r"/deployments/(?P<id>[^/]+)/logs", Handler.logs),
        (_STACK + r"/deployments/(?P<id>[^/]+)/updates", Handler.updates),
        (_STACK + r"/deployments/(?P<id>[^/]+)", Handler.get),
        (_STACK, Handler.stack),
    ],
    "PATCH": [(_STACK + "/tags", Handler.set_tags)],
}


class CloudServer:
    def __init__(self) -> None:
        self.cloud = FakeCloud()
        handler = type("BoundHandler", (Handler,), {"cloud": self.cloud})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CloudServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
