"""The bake gate: is each cell of a wave healthy?

AWS: the state of the cell's composite alarm `<cell>-health` (the cell stack creates it), read
with CloudWatch `DescribeAlarms` in the cell's account through an assumed role (or in the
monitoring account, when alarms are kept there). GCP: open alerts of the cell's alert policy
`<cell>-health`, from the Cloud Monitoring API's `projects.alerts.list` (an alert is an incident
of a policy; an `OPEN` one means the policy is firing).

A cell whose health cannot be read is *unknown*: the gate keeps polling, and only an unknown
that lasts to the end of the bake counts as unhealthy.

Endpoints and credentials come from the usual places, so nothing needs setting up for the gate
itself: boto3's credential chain and `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_CLOUDWATCH`,
`AWS_ENDPOINT_URL_STS`); Application Default Credentials (google-auth) and
`HONEYCOMB_GCP_MONITORING_ENDPOINT` (default `https://monitoring.googleapis.com`).
`check_credentials` is run before a rollout starts, so missing credentials stop it up front.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from cells import AwsCell, GcpCell


class HealthError(RuntimeError):
    pass


@dataclass(frozen=True)
class Health:
    cell: str
    #: True healthy, False unhealthy, None could not tell.
    healthy: bool | None
    detail: str


class HealthGate(Protocol):
    def check(self, cell: AwsCell | GcpCell) -> Health: ...


def alarm_name(cell: str) -> str:
    return f"{cell}-health"


# --- AWS ----------------------------------------------------------------------------------------


class AwsAlarmHealth:
    """Composite alarm `<cell>-health` through CloudWatch.

    `where="cell"` reads it in the cell's account (its id from the registry or the management
    stack's `accountIds` output) by assuming `role_name` there; `where="monitoring"` reads it in
    the monitoring account. With `role_name=None` the ambient credentials are used as they are.
    """

    def __init__(
        self,
        *,
        role_name: str | None,
        account_ids: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        where: Literal["cell", "monitoring"] = "cell",
        monitoring_account_id: str | None = None,
        session_factory: Callable[..., Any] | None = None,
        insufficient_data_is_healthy: bool = True,
    ) -> None:
        import boto3

        self.role_name = role_name
        # A callable is asked once, on first need (the management stack's outputs cost an engine call).
        self._account_ids = account_ids
        self.where = where
        self.monitoring_account_id = monitoring_account_id
        self.session_factory = session_factory or boto3.Session
        self.insufficient_data_is_healthy = insufficient_data_is_healthy
        self._sessions: dict[str, tuple[Any, datetime]] = {}
        self._lock = threading.Lock()

    @property
    def account_ids(self) -> Mapping[str, str]:
        if callable(self._account_ids):
            try:
                self._account_ids = dict(self._account_ids())
            except Exception as exc:
                raise HealthError(f"could not read the cells' account ids: {exc}") from exc
        return self._account_ids or {}

    def account_for(self, cell: AwsCell) -> str:
        if self.where == "monitoring":
            if not self.monitoring_account_id:
                raise HealthError("no monitoring account id to read alarms in")
            return self.monitoring_account_id
        account = cell.account_id or self.account_ids.get(cell.name)
        if not account:
            raise HealthError(f"the account id of cell {cell.name} is unknown (not pinned, not in accountIds)")
        return account

    def _session(self, account: str, region: str) -> Any:
        if self.role_name is None:
            return self.session_factory(region_name=region)
        with self._lock:
            cached = self._sessions.get(account)
            if cached and cached[1] - datetime.now(UTC) > timedelta(minutes=5):
                return cached[0]
        sts = self.session_factory(region_name=region).client("sts")
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{self.role_name}", RoleSessionName="honeycomb-bake-gate"
        )["Credentials"]
        session = self.session_factory(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region,
        )
        expires = creds["Expiration"]
        if isinstance(expires, str):
            expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        with self._lock:
            self._sessions[account] = (session, expires)
        return session

    def cloudwatch(self, cell: AwsCell) -> Any:
        return self._session(self.account_for(cell), cell.region).client("cloudwatch", region_name=cell.region)

    def check(self, cell: AwsCell | GcpCell) -> Health:
        assert isinstance(cell, AwsCell)
        from botocore.exceptions import BotoCoreError, ClientError

        name = alarm_name(cell.name)
        try:
            found = self.cloudwatch(cell).describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])
        except (BotoCoreError, ClientError, HealthError) as exc:
            return Health(cell.name, None, f"could not read alarm {name}: {exc}")
        alarms = found.get("CompositeAlarms", [])
        if not alarms:
            return Health(cell.name, False, f"composite alarm {name} does not exist")
        state, reason = alarms[0]["StateValue"], alarms[0].get("StateReason", "")
        if state == "OK":
            return Health(cell.name, True, f"{name} is OK")
        if state == "ALARM":
            return Health(cell.name, False, f"{name} is in ALARM: {reason}".rstrip(": "))
        healthy = True if self.insufficient_data_is_healthy else None
        return Health(cell.name, healthy, f"{name} has insufficient data")


# --- GCP ----------------------------------------------------------------------------------------


class AlertsClient(Protocol):
    def open_alerts(self, project: str, policy_display_name: str) -> list[dict[str, Any]]:
        """Open alerts (incidents) of the policy named `policy_display_name` in `project`."""


#: Overrides the Cloud Monitoring API's base URL (a regional or private endpoint, or a test server).
GCP_ENDPOINT_ENV = "HONEYCOMB_GCP_MONITORING_ENDPOINT"
GCP_ENDPOINT = "https://monitoring.googleapis.com"
MONITORING_READ = "https://www.googleapis.com/auth/monitoring.read"


class RestAlertsClient:
    """Cloud Monitoring API v3 `projects.alerts.list`, over HTTPS with an OAuth access token.

    The headers come from Application Default Credentials (google-auth): the token, and for user
    credentials (`gcloud auth application-default login`) the quota project
    (`x-goog-user-project`), without which the API refuses them. No client library is needed
    for one list call. `token` replaces them with a bare bearer token.
    """

    def __init__(
        self,
        token: Callable[[], str] | None = None,
        urlopen: Callable[..., Any] = urllib.request.urlopen,
        timeout: float = 30.0,
        endpoint: str | None = None,
    ) -> None:
        self.headers: Callable[[], dict[str, str]] = (
            (lambda: {"Authorization": f"Bearer {token()}"}) if token is not None else default_headers
        )
        self.urlopen = urlopen
        self.timeout = timeout
        base = endpoint or os.environ.get(GCP_ENDPOINT_ENV) or GCP_ENDPOINT
        self.endpoint = base.rstrip("/") + "/v3/projects/{project}/alerts"

    def open_alerts(self, project: str, policy_display_name: str) -> list[dict[str, Any]]:
        query = {"filter": f'state = "OPEN" AND policy.display_name = "{policy_display_name}"', "pageSize": "100"}
        alerts: list[dict[str, Any]] = []
        while True:
            url = self.endpoint.format(project=project) + "?" + urllib.parse.urlencode(query)
            request = urllib.request.Request(url, headers=self.headers())  # noqa: S310
            try:
                with self.urlopen(request, timeout=self.timeout) as response:
                    page = json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                raise HealthError(f"Cloud Monitoring answered {exc.code}: {_api_message(exc)}") from exc
            alerts.extend(page.get("alerts", []))
            if not page.get("nextPageToken"):
                break
            query["pageToken"] = page["nextPageToken"]
        # The filter already asks for these; checking again keeps a lax server from hiding nothing.
        return [
            a
            for a in alerts
            if a.get("state") == "OPEN" and a.get("policy", {}).get("displayName") == policy_display_name
        ]


def _api_message(error: urllib.error.HTTPError) -> str:
    """The API's own words (`error.message`: a missing permission or quota project), not just "Forbidden"."""
    try:
        body = json.loads(error.read().decode("utf-8"))
        return " ".join(str(body["error"]["message"]).split())
    except (OSError, ValueError, KeyError, TypeError):
        return str(error.reason)


_CREDENTIALS: dict[str, Any] = {}
_CREDENTIALS_LOCK = threading.Lock()


def default_headers() -> dict[str, str]:
    """Request headers from Application Default Credentials (token refreshed when about to expire, quota project)."""
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.urllib3
    import urllib3

    with _CREDENTIALS_LOCK:
        try:
            if "credentials" not in _CREDENTIALS:
                _CREDENTIALS["credentials"], _ = google.auth.default(scopes=[MONITORING_READ])
            credentials = _CREDENTIALS["credentials"]
            if not credentials.valid:
                request = google.auth.transport.urllib3.Request(urllib3.PoolManager())  # type: ignore[no-untyped-call]
                credentials.refresh(request)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise HealthError(f"no usable GCP credentials: {exc}") from exc
        headers: dict[str, str] = {}
        credentials.apply(headers)
        return headers


def check_credentials(clouds: set[str], session_factory: Callable[..., Any] | None = None) -> list[str]:
    """What is missing for the bake gate to read health on `clouds` (empty when nothing is)."""
    problems = []
    if "aws" in clouds:
        import boto3

        if (session_factory or boto3.Session)().get_credentials() is None:
            problems.append(
                "no AWS credentials for the bake gate: it reads each AWS cell's `<cell>-health` alarm with "
                "CloudWatch. Set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or run `aws sso login`"
            )
    if "gcp" in clouds:
        import google.auth
        import google.auth.exceptions

        try:
            google.auth.default(scopes=[MONITORING_READ])
        except google.auth.exceptions.DefaultCredentialsError as exc:
            problems.append(
                "no GCP credentials for the bake gate: it reads each GCP cell's open alerts with Application "
                "Default Credentials. Run `gcloud auth application-default login` or set "
                f"GOOGLE_APPLICATION_CREDENTIALS ({' '.join(str(exc).split())})"
            )
    return problems


class GcpAlertHealth:
    """Open alerts of the cell's alert policy `<cell>-health` in the cell's project."""

    def __init__(self, client: AlertsClient) -> None:
        self.client = client

    def check(self, cell: AwsCell | GcpCell) -> Health:
        assert isinstance(cell, GcpCell)
        name = alarm_name(cell.name)
        try:
            alerts = self.client.open_alerts(cell.project_id, name)
        except (OSError, ValueError, HealthError) as exc:
            return Health(cell.name, None, f"could not read alerts of policy {name}: {exc}")
        if alerts:
            opened = sorted(a.get("openTime", "?") for a in alerts)
            return Health(cell.name, False, f"policy {name} has {len(alerts)} open alert(s), first opened {opened[0]}")
        return Health(cell.name, True, f"policy {name} has no open alert")


class CellHealth:
    """Dispatches to the cloud's gate; a cloud with no gate configured reads as unknown."""

    def __init__(self, aws: HealthGate | None = None, gcp: HealthGate | None = None) -> None:
        self.aws = aws
        self.gcp = gcp

    def check(self, cell: AwsCell | GcpCell) -> Health:
        gate = self.aws if isinstance(cell, AwsCell) else self.gcp
        if gate is None:
            return Health(cell.name, None, f"no health gate configured for {cell.cloud}")
        return gate.check(cell)
