"""Read a published registry back, the way other infrastructure consumes it.

`load("s3://bucket/key")`, `load("gs://bucket/key")` or `load("/path/registry.json")` returns the
same validated models the management stack published, with everything it published beside them:
each cell's resolved outputs (account id, project number, zone name, monitoring sink) and the
document's format version. boto3 picks up AWS credentials and endpoint the usual way; Cloud Storage
is read through its JSON API with Application Default Credentials (`google.auth.default()`), at
`HONEYCOMB_GCS_ENDPOINT` when set (a test server, an emulator).

One registry, read locally everywhere: the management stack replicates the primary
(`s3://<bucket>/<key>`) to `s3://<bucket>-<region>/<key>` in every AWS region with cells and
writes the same document to `gs://<bucket>-<region>/<key>` in every GCP region with cells, so a
cell's infrastructure reads its own region's copy and a region's outage elsewhere does not stop
it. `load` reads the copy of its region (the `region` argument, a GCP region naming the Cloud
Storage copy; else boto3's: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile) and falls back to the
primary with a `RegistryFallbackWarning` when the copy cannot be read (no copy in that region, not
replicated yet, unreadable). A copy trails the primary by the replication delay (S3: usually
seconds; Cloud Storage: the management update that writes every copy)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from cells.export import route_document
from cells.loader import RegistryError, RegistryIssue, load_registry_data
from cells.models import AccountId, AwsCell, GcpCell, Registry, replica_bucket
from cells.regions import GCP_REGIONS
from cells.routes import Route, routes
from cells.routes import route_for as tenant_route
from cells.tenants import Tenant

#: Where the Cloud Storage JSON API is read (overridden by `HONEYCOMB_GCS_ENDPOINT`).
GCS_ENDPOINT_ENV = "HONEYCOMB_GCS_ENDPOINT"
GCS_ENDPOINT = "https://storage.googleapis.com"
#: Reading an object needs no more than this scope (with `roles/storage.objectViewer` on the bucket).
GCS_READ_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
GCS_TIMEOUT_SECONDS = 30


class RegistryFallbackWarning(UserWarning):
    """The region's copy of the registry could not be read; the primary was read instead."""


class CellOutputs(BaseModel):
    """What the management stack resolved for one cell; keys added later are kept, not refused."""

    model_config = ConfigDict(extra="allow", frozen=True)

    stack_name: str
    zone_name: str
    account_id: AccountId | None = Field(default=None, description="AWS cells: the cell's account.")
    oam_sink_arn: str | None = Field(default=None, description="AWS cells: the monitoring sink of its region.")
    project_id: str | None = Field(default=None, description="GCP cells: the cell's project.")
    project_number: str | None = Field(default=None, description="GCP cells: the project's number.")


class UnknownTenantError(LookupError):
    """A tenant id the published registry does not hold."""


class PublishedRegistry(Registry):
    """A `Registry` as the management stack published it, with each cell's outputs."""

    format_version: int
    outputs: dict[str, CellOutputs] = Field(default_factory=dict)
    _tenants_by_id: dict[str, Tenant] | None = PrivateAttr(default=None)

    def route_for(self, tenant_id: str) -> Route:
        """The tenant's route: its name and the origin of its registry cell (`cells.routes`)."""
        if self._tenants_by_id is None:  # built once: token issuers ask per token
            self._tenants_by_id = {t.id: t for t in self.tenants}
        tenant = self._tenants_by_id.get(tenant_id)
        if tenant is None:
            raise UnknownTenantError(
                f"no tenant {tenant_id!r} in the published registry ({len(self._tenants_by_id)} tenants known); "
                "a tenant placed since is there after the management stack's next update"
            )
        return tenant_route(self, tenant)

    def endpoint_for(self, tenant_id: str) -> str:
        """The host a token issuer gives the tenant's clients: the tenant's own name, `<tenant>.<domain>`.

        Not the cell's host: a move flips the name's record and the router's entry, so a token issued
        before a move keeps working after it (the name follows the tenant, within its record's TTL).
        """
        return self.route_for(tenant_id).name

    def outputs_for(self, cell: AwsCell | GcpCell | str) -> CellOutputs:
        name = cell if isinstance(cell, str) else cell.name
        self.cell(name)  # an unknown cell is an UnknownCellError naming the known ones
        try:
            return self.outputs[name]
        except KeyError:
            raise LookupError(f"the published registry has no outputs for cell {name!r}") from None

    @property
    def registry(self) -> Registry:
        """The registry alone, equal to the one loaded from the YAML it was published from."""
        return Registry(organization=self.organization, cells=self.cells, tenants=self.tenants)


def regional_location(location: str, region: str) -> str:
    """The copy of `s3://<bucket>/<key>` in `region`: `s3://<bucket>-<region>/<key>` in an AWS region,
    `gs://<bucket>-<region>/<key>` in a GCP region."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    scheme = "gs" if region in GCP_REGIONS else "s3"
    return f"{scheme}://{replica_bucket(bucket, region)}/{key}"


def load(location: str, *, region: str | None = None, local: bool = True, s3_client: Any = None) -> PublishedRegistry:
    """Load a published registry from `s3://bucket/key` (its region's copy first), `gs://bucket/key`
    or a local path.

    `local=False` reads the primary only (what the management stack itself checks against).
    """
    if location.startswith("gs://"):
        text = _read_gcs(location)
    elif location.startswith("s3://"):
        _split(location)
        region = region or (_default_region(location) if local else None)
        if local and region:
            copy = regional_location(location, region)
            try:
                text = _read_gcs(copy) if copy.startswith("gs://") else _read_s3(copy, s3_client, region)
                return parse(text, copy)
            except RegistryError as exc:
                reasons = "; ".join(issue.message for issue in exc.issues[:3])
                warnings.warn(
                    f"cannot read the registry's copy in {region} ({copy}: {reasons}); reading the primary "
                    f"{location} instead",
                    RegistryFallbackWarning,
                    stacklevel=2,
                )
        text = _read_s3(location, s3_client)
    else:
        try:
            text = Path(location).read_text(encoding="utf-8")
        except OSError as exc:
            raise RegistryError(
                [RegistryIssue(location, "", f"cannot read published registry: {exc.strerror}")]
            ) from exc
    return parse(text, location)


def parse(text: str, location: str) -> PublishedRegistry:
    """A published registry document, validated with the registry's rules plus its outputs."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError([RegistryIssue(location, f"line {exc.lineno}", f"invalid JSON: {exc.msg}")]) from exc
    if not isinstance(data, dict):
        raise RegistryError([RegistryIssue(location, "", "expected a JSON object")])
    registry = load_registry_data(data, source=location)
    issues: list[RegistryIssue] = []
    outputs: dict[str, CellOutputs] = {}
    for i, cell in enumerate(data.get("cells") or []):
        if isinstance(cell, dict) and "outputs" in cell:
            try:
                outputs[str(cell["name"])] = CellOutputs.model_validate(cell["outputs"])
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(p) for p in err["loc"])
                    issues.append(RegistryIssue(location, f"cells[{i}].outputs.{where}", err["msg"]))
    issues += _route_issues(data.get("routes"), registry, location)
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        issues.append(RegistryIssue(location, "format_version", f"expected a whole number, got {version!r}"))
    if issues:
        raise RegistryError(issues)
    assert isinstance(version, int)
    return PublishedRegistry(
        organization=registry.organization,
        cells=registry.cells,
        tenants=registry.tenants,
        format_version=version,
        outputs=outputs,
    )


def _route_issues(published: Any, registry: Registry, location: str) -> list[RegistryIssue]:
    """The published `routes` must be what the published registry implies (absent: an older document)."""
    if published is None:
        return []
    expected = [route_document(r) for r in routes(registry)]
    if published == expected:
        return []
    if not isinstance(published, list):
        return [RegistryIssue(location, "routes", f"expected a list of routes, got {type(published).__name__}")]
    by_tenant = {r["tenant"]: r for r in expected}
    issues = []
    for i, route in enumerate(published):
        tenant = route.get("tenant") if isinstance(route, dict) else None
        if route != by_tenant.get(str(tenant)):
            issues.append(
                RegistryIssue(
                    location,
                    f"routes[{i}]",
                    f"{route!r} is not the route the registry gives tenant {tenant!r} ({by_tenant.get(str(tenant))!r})",
                )
            )
    missing = sorted(set(by_tenant) - {r.get("tenant") for r in published if isinstance(r, dict)})
    if missing:
        issues.append(RegistryIssue(location, "routes", f"no route for tenants {', '.join(missing)}"))
    return issues


def _split(location: str) -> tuple[str, str]:
    scheme = location[:5] if location.startswith("gs://") else "s3://"
    bucket, _, key = location.removeprefix(scheme).partition("/")
    if not bucket or not key:
        raise RegistryError([RegistryIssue(location, "", f"expected {scheme}<bucket>/<key>")])
    return bucket, key


def _default_region(location: str) -> str | None:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        name = boto3.session.Session().region_name
    except BotoCoreError as exc:  # a profile that does not exist, a config file that does not parse
        raise RegistryError([RegistryIssue(location, "", f"cannot read published registry from S3: {exc}")]) from exc
    return str(name) if name else None


def _read_s3(location: str, s3_client: Any, region: str | None = None) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _split(location)
    try:
        # Inside the try: building the client reads the profile, which may not exist.
        client = s3_client or (boto3.client("s3", region_name=region) if region else boto3.client("s3"))
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise RegistryError([RegistryIssue(location, "", f"cannot read published registry from S3: {code}")]) from exc
    except BotoCoreError as exc:
        raise RegistryError([RegistryIssue(location, "", f"cannot read published registry from S3: {exc}")]) from exc
    return str(body.decode("utf-8"))


def _read_gcs(location: str) -> str:
    """The object through the JSON API (`GET /storage/v1/b/<bucket>/o/<key>?alt=media`), the key
    URL-encoded whole (a `/` in it is `%2F`), as Cloud Storage requires of object names in a path."""
    import google.auth
    import requests
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError
    from google.auth.transport.requests import AuthorizedSession

    bucket, key = _split(location)

    def error(reason: str) -> RegistryError:
        return RegistryError(
            [RegistryIssue(location, "", f"cannot read published registry from Cloud Storage: {reason}")]
        )

    endpoint = (os.environ.get(GCS_ENDPOINT_ENV) or GCS_ENDPOINT).rstrip("/")
    url = f"{endpoint}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}"
    try:
        credentials, _ = google.auth.default(scopes=[GCS_READ_SCOPE])
        session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        response = session.get(url, params={"alt": "media"}, timeout=GCS_TIMEOUT_SECONDS)
    except DefaultCredentialsError as exc:
        raise error(f"no Google credentials ({exc})") from exc
    except GoogleAuthError as exc:
        raise error(f"cannot authenticate ({exc})") from exc
    except requests.RequestException as exc:
        raise error(f"cannot reach {endpoint} ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise error(f"HTTP {response.status_code} {_gcs_message(response) or response.reason}".rstrip())
    try:
        return str(response.content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error("the object is not UTF-8 text") from exc


def _gcs_message(response: Any) -> str:
    """The JSON API's own explanation (`{"error": {"message": ...}}`), when the body carries one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if isinstance(message, str) else ""
