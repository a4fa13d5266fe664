"""The bake gate: AWS composite alarms against the moto server, GCP open alerts through a faked HTTP layer."""

from __future__ import annotations

import io
import json
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import pytest

from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.health import AwsAlarmHealth, CellHealth, GcpAlertHealth, RestAlertsClient
from cellctl.rollout.journal import Journal, Status
from cellctl.rollout.memory import InMemoryRunner
from cellctl.rollout.orchestrator import Orchestrator
from cellctl.rollout.plan import rollout_plan
from cells import AwsCell, GcpCell, Registry

ROLE = "OrganizationAccountAccessRole"


@pytest.fixture(autouse=True)
def composite_alarms_in_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's server stores composite alarms through its metric-alarm handler (it reads `AlarmRule` there)
    but does not route the `PutCompositeAlarm` action to it; the client side stays the real boto3 call."""
    from moto.cloudwatch.responses import CloudWatchResponse

    if not hasattr(CloudWatchResponse, "put_composite_alarm"):
        monkeypatch.setattr(
            CloudWatchResponse, "put_composite_alarm", CloudWatchResponse.put_metric_alarm, raising=False
        )


def cloudwatch_in(account: str, region: str = "us-east-1") -> Any:
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="test-setup"
    )["Credentials"]
    return boto3.client(
        "cloudwatch",
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def make_health_alarm(cloudwatch: Any, cell: str, state: str) -> None:
    """What the cell stack creates: metric alarms and the composite `<cell>-health` over them."""
    for metric in ("5xx", "latency"):
        cloudwatch.put_metric_alarm(
            AlarmName=f"{cell}-{metric}",
            Namespace="Honeycomb",
            MetricName=metric,
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    cloudwatch.put_composite_alarm(
        AlarmName=f"{cell}-health", AlarmRule=f'ALARM("{cell}-5xx") OR ALARM("{cell}-latency")'
    )
    cloudwatch.set_alarm_state(AlarmName=f"{cell}-health", StateValue=state, StateReason=f"test set {state}")


def cell_in(registry: Registry, name: str, account: str) -> AwsCell:
    cell = registry.cell(name)
    assert isinstance(cell, AwsCell)
    return cell.model_copy(update={"account_id": account})


def test_ok_is_healthy_and_alarm_is_not(aws_env: str, registry: Registry) -> None:
    alpha = cell_in(registry, "alpha", "311111111111")
    cloudwatch = cloudwatch_in("311111111111")
    make_health_alarm(cloudwatch, "alpha", "OK")
    gate = AwsAlarmHealth(role_name=ROLE)
    ok = gate.check(alpha)
    assert ok.healthy is True and ok.detail == "alpha-health is OK"
    cloudwatch.set_alarm_state(AlarmName="alpha-health", StateValue="ALARM", StateReason="5xx above 1%")
    bad = gate.check(alpha)
    assert bad.healthy is False and "ALARM" in bad.detail and "5xx above 1%" in bad.detail


def test_the_alarm_is_read_in_the_cells_own_account(aws_env: str, registry: Registry) -> None:
    make_health_alarm(cloudwatch_in("322222222222"), "alpha", "ALARM")
    make_health_alarm(cloudwatch_in("333333333333"), "alpha", "OK")
    gate = AwsAlarmHealth(role_name=ROLE)
    assert gate.check(cell_in(registry, "alpha", "322222222222")).healthy is False
    assert gate.check(cell_in(registry, "alpha", "333333333333")).healthy is True


def test_account_ids_from_the_management_outputs(aws_env: str, registry: Registry) -> None:
    gamma = registry.cell("gamma")
    assert isinstance(gamma, AwsCell) and gamma.account_id is None
    make_health_alarm(cloudwatch_in("344444444444", gamma.region), "gamma", "ALARM")
    asked: list[int] = []

    def outputs() -> dict[str, str]:
        asked.append(1)
        return {"gamma": "344444444444"}

    gate = AwsAlarmHealth(role_name=ROLE, account_ids=outputs)
    result = gate.check(gamma)
    assert result.healthy is False and "gamma-health is in ALARM" in result.detail
    assert gate.check(gamma).healthy is False
    assert len(asked) == 1
    unknown = AwsAlarmHealth(role_name=ROLE).check(gamma)
    assert unknown.healthy is None and "account id of cell gamma is unknown" in unknown.detail


def test_alarms_kept_in_the_monitoring_account(aws_env: str, registry: Registry) -> None:
    make_health_alarm(cloudwatch_in("355555555555", "eu-west-1"), "gamma", "OK")
    gate = AwsAlarmHealth(role_name=ROLE, where="monitoring", monitoring_account_id="355555555555")
    assert gate.check(registry.cell("gamma")).healthy is True


def test_a_missing_composite_alarm_is_unhealthy(aws_env: str, registry: Registry) -> None:
    result = AwsAlarmHealth(role_name=ROLE).check(cell_in(registry, "alpha", "366666666666"))
    assert result.healthy is False and "does not exist" in result.detail


def test_insufficient_data(aws_env: str, registry: Registry) -> None:
    make_health_alarm(cloudwatch_in("377777777777"), "alpha", "INSUFFICIENT_DATA")
    alpha = cell_in(registry, "alpha", "377777777777")
    assert AwsAlarmHealth(role_name=ROLE).check(alpha).healthy is True
    strict = AwsAlarmHealth(role_name=ROLE, insufficient_data_is_healthy=False)
    assert strict.check(alpha).healthy is None


@pytest.mark.parametrize(("state", "status"), [("OK", Status.succeeded), ("ALARM", Status.halted)])
def test_rollout_gate_passes_on_ok_and_halts_on_alarm(
    aws_env: str, registry: Registry, tmp_path: Path, state: str, status: Status
) -> None:
    account = "388888888888" if state == "OK" else "399999999999"
    make_health_alarm(cloudwatch_in(account), "alpha", state)
    # The registry's own alpha, with its account pinned to this test's account.
    pinned = registry.model_copy(
        update={"cells": [cell_in(registry, "alpha", account) if c.name == "alpha" else c for c in registry.cells]}
    )
    plan = rollout_plan(pinned, revision="a" * 40, wave="prod-canary")
    runner = InMemoryRunner(VirtualClock())
    journal = Journal.create(tmp_path, plan, "gate")
    gate = CellHealth(aws=AwsAlarmHealth(role_name=ROLE))
    outcome = Orchestrator(
        plan,
        runner,
        journal,
        registry=pinned,
        clock=runner.clock,
        health=gate,
    ).run()
    assert outcome.status == status
    health = json.loads(journal.path.read_text())["waves"][0]["health"]
    assert health == {"alpha": "alpha-health is OK" if state == "OK" else "alpha-health is in ALARM: test set ALARM"}


# --- GCP ------------------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_rest_client_lists_open_alerts_of_the_policy() -> None:
    requests: list[Any] = []
    pages = [
        {
            "alerts": [
                {
                    "name": "a1",
                    "state": "OPEN",
                    "openTime": "2026-11-22T01:00:00Z",
                    "policy": {"displayName": "beta-health"},
                },
                {"name": "a2", "state": "CLOSED", "policy": {"displayName": "beta-health"}},
            ],
            "nextPageToken": "p2",
        },
        {"alerts": [{"name": "a3", "state": "OPEN", "policy": {"displayName": "beta-health-old"}}]},
    ]

    def urlopen(request: Any, timeout: float) -> FakeResponse:
        requests.append(request)
        return FakeResponse(json.dumps(pages[len(requests) - 1]).encode())

    client = RestAlertsClient(token=lambda: "tok", urlopen=urlopen)
    alerts = client.open_alerts("acme-cell-beta", "beta-health")
    assert [a["name"] for a in alerts] == ["a1"]
    first = urllib.parse.urlsplit(requests[0].full_url)
    assert first.path == "/v3/projects/acme-cell-beta/alerts"
    query = urllib.parse.parse_qs(first.query)
    assert query["filter"] == ['state = "OPEN" AND policy.display_name = "beta-health"']
    assert "pageToken" not in query
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(requests[1].full_url).query)["pageToken"] == ["p2"]
    assert requests[0].get_header("Authorization") == "Bearer tok"


def test_an_api_refusal_is_reported_in_the_apis_own_words(registry: Registry) -> None:
    import io
    import urllib.error

    body = {
        "error": {
            "code": 403,
            "message": "Permission monitoring.alerts.list denied (or it may not exist).",
            "status": "PERMISSION_DENIED",
        }
    }

    def urlopen(request: Any, timeout: float) -> FakeResponse:
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, io.BytesIO(json.dumps(body).encode()))  # type: ignore[arg-type]

    health = GcpAlertHealth(RestAlertsClient(token=lambda: "tok", urlopen=urlopen)).check(registry.cell("beta"))
    assert health.healthy is None
    assert "403: Permission monitoring.alerts.list denied" in health.detail


class FakeAlerts:
    def __init__(self, alerts: list[dict[str, Any]] | Exception) -> None:
        self.alerts = alerts
        self.asked: list[tuple[str, str]] = []

    def open_alerts(self, project: str, policy_display_name: str) -> list[dict[str, Any]]:
        self.asked.append((project, policy_display_name))
        if isinstance(self.alerts, Exception):
            raise self.alerts
        return self.alerts


def test_gcp_gate(registry: Registry) -> None:
    beta = registry.cell("beta")
    assert isinstance(beta, GcpCell)
    quiet = FakeAlerts([])
    assert GcpAlertHealth(quiet).check(beta).healthy is True
    assert quiet.asked == [("acme-cell-beta", "beta-health")]
    firing = GcpAlertHealth(FakeAlerts([{"state": "OPEN", "openTime": "2026-11-22T01:02:03Z"}])).check(beta)
    assert firing.healthy is False and "1 open alert" in firing.detail and "2026-11-22T01:02:03Z" in firing.detail
    broken = GcpAlertHealth(FakeAlerts(OSError("connection refused"))).check(beta)
    assert broken.healthy is None and "connection refused" in broken.detail


def test_cell_health_dispatches_by_cloud(registry: Registry) -> None:
    gate = CellHealth(gcp=GcpAlertHealth(FakeAlerts([])))
    assert gate.check(registry.cell("beta")).healthy is True
    assert gate.check(registry.cell("alpha")).healthy is None


# --- no special set-up: Application Default Credentials and a configurable endpoint -------------------


@pytest.fixture
def monitoring_server() -> Any:
    """A local stand-in of the OAuth token endpoint and Cloud Monitoring's `alerts.list`."""
    import http.server
    import threading

    seen: list[tuple[str, ...]] = []
    firing: set[str] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(("token", ""))
            self.reply({"access_token": "adc-token", "expires_in": 3600, "token_type": "Bearer"})

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization", ""), self.headers.get("x-goog-user-project", "")))
            project = self.path.split("/")[3]
            alerts = [{"state": "OPEN", "openTime": "2026-12-01T00:00:00Z", "policy": {"displayName": "beta-health"}}]
            self.reply({"alerts": alerts if project in firing else []})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen, firing
    finally:
        server.shutdown()


def test_gcp_gate_uses_application_default_credentials_and_the_configured_endpoint(
    monitoring_server: Any, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cellctl.rollout import health

    url, seen, firing = monitoring_server
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "acme-monitoring",
                "private_key_id": "k1",
                "private_key": pem.decode(),
                "client_email": "bake-gate@acme-monitoring.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{url}/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv(health.GCP_ENDPOINT_ENV, url)
    monkeypatch.setattr(health, "_CREDENTIALS", {})
    beta = registry.cell("beta")
    gate = GcpAlertHealth(RestAlertsClient())
    assert gate.check(beta).healthy is True
    firing.add("acme-cell-beta")
    assert gate.check(beta).healthy is False
    assert seen[0] == ("token", "")  # one token, refreshed once and reused
    assert [s for s in seen if s[0] == "token"] == [("token", "")]
    assert seen[1][0].startswith("/v3/projects/acme-cell-beta/alerts?") and seen[1][1] == "Bearer adc-token"


def test_gcp_gate_sends_the_quota_project_of_user_credentials(
    monitoring_server: Any, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gcloud auth application-default login` credentials need `x-goog-user-project` on every API call."""
    from cellctl.rollout import health

    url, seen, _ = monitoring_server
    adc = tmp_path / "adc.json"
    user = {"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    adc.write_text(json.dumps({**user, "quota_project_id": "acme-ops"}))
    import google.oauth2.credentials

    # User credentials always refresh at Google's token endpoint: point it at the local stand-in.
    monkeypatch.setattr(google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", f"{url}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv(health.GCP_ENDPOINT_ENV, url)
    monkeypatch.setattr(health, "_CREDENTIALS", {})
    assert GcpAlertHealth(RestAlertsClient()).check(registry.cell("beta")).healthy is True
    [call] = [s for s in seen if s[0] != "token"]
    assert call[1] == "Bearer adc-token" and call[2] == "acme-ops"


def test_missing_credentials_are_named_up_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cellctl.rollout.health import check_credentials

    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server to ask
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("HOME", str(tmp_path))

    class NoCredentials:
        def get_credentials(self) -> None:
            return None

    problems = check_credentials({"aws", "gcp"}, session_factory=NoCredentials)
    assert len(problems) == 2
    assert "no AWS credentials for the bake gate" in problems[0] and "AWS_PROFILE" in problems[0]
    assert "no GCP credentials for the bake gate" in problems[1] and "application-default login" in problems[1]
    assert check_credentials(set()) == []
