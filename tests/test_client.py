"""cells.client reads a published registry back from S3 (a moto server on loopback), from Cloud Storage
(a small HTTP server on loopback answering like its JSON API, with anonymous credentials) or a path."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import boto3
import google.auth
import pytest
from google.auth.credentials import AnonymousCredentials

from cells import RegistryError
from cells.client import GCS_ENDPOINT_ENV, RegistryFallbackWarning, load, regional_location
from cells.export import registry_document, to_json
from stacks.management import published_outputs

PRIMARY = "acme-honeycomb-registry"


def empty_bucket(name: str, region: str):
    """The bucket, created on the session's moto server if need be, without objects from earlier tests."""
    s3 = boto3.client("s3", region_name=region)
    try:
        extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **extra)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=obj["Key"])
    return s3


@pytest.fixture
def bucket(aws_env):
    empty_bucket(f"{PRIMARY}-us-east-1", "us-east-1")  # the home region's own copy
    return empty_bucket(PRIMARY, "us-east-1")


@pytest.fixture
def eu_copy(bucket):
    return empty_bucket(f"{PRIMARY}-eu-west-1", "eu-west-1")


def publish(s3, bucket_name, registry, key="registry.json"):
    s3.put_object(Bucket=bucket_name, Key=key, Body=to_json(registry).encode())


def test_reads_the_published_registry_from_s3(bucket, registry):
    publish(bucket, PRIMARY, registry)
    publish(bucket, f"{PRIMARY}-us-east-1", registry)
    assert load(f"s3://{PRIMARY}/registry.json").registry == registry


def older(registry):
    """The registry as it was before the last tenant arrived: a copy that tells itself apart."""
    return registry.model_copy(update={"tenants": registry.tenants[:-1]})


def test_reads_its_own_regions_copy(eu_copy, bucket, registry, recwarn):
    publish(bucket, PRIMARY, registry)
    publish(eu_copy, f"{PRIMARY}-eu-west-1", older(registry))
    found = load(f"s3://{PRIMARY}/registry.json", region="eu-west-1")
    assert len(found.tenants) == len(registry.tenants) - 1  # the copy, not the primary
    assert not [w for w in recwarn if issubclass(w.category, RegistryFallbackWarning)]


def test_the_region_comes_from_the_environment(eu_copy, bucket, registry, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    publish(bucket, PRIMARY, registry)
    publish(eu_copy, f"{PRIMARY}-eu-west-1", older(registry))
    assert len(load(f"s3://{PRIMARY}/registry.json").tenants) == len(registry.tenants) - 1


def test_no_copy_in_the_region_falls_back_to_the_primary_with_a_warning(bucket, registry):
    publish(bucket, PRIMARY, registry)
    with pytest.warns(RegistryFallbackWarning, match=r"copy in ap-southeast-2 .*NoSuchBucket.*reading the primary"):
        found = load(f"s3://{PRIMARY}/registry.json", region="ap-southeast-2")
    assert found.registry == registry


def test_a_copy_not_replicated_yet_falls_back_too(eu_copy, bucket, registry):
    publish(bucket, PRIMARY, registry)
    with pytest.warns(RegistryFallbackWarning, match=r"acme-honeycomb-registry-eu-west-1/registry.json: .*NoSuchKey"):
        assert load(f"s3://{PRIMARY}/registry.json", region="eu-west-1").registry == registry


def test_a_broken_copy_falls_back_and_a_broken_primary_is_an_error(eu_copy, bucket, registry):
    eu_copy.put_object(Bucket=f"{PRIMARY}-eu-west-1", Key="registry.json", Body=b"{half")
    publish(bucket, PRIMARY, registry)
    with pytest.warns(RegistryFallbackWarning, match="invalid JSON"):
        assert load(f"s3://{PRIMARY}/registry.json", region="eu-west-1").registry == registry
    bucket.put_object(Bucket=PRIMARY, Key="registry.json", Body=b"[]")
    with pytest.warns(RegistryFallbackWarning), pytest.raises(RegistryError, match="expected a JSON object"):
        load(f"s3://{PRIMARY}/registry.json", region="eu-west-1")


def test_the_primary_alone_when_asked(eu_copy, bucket, registry, recwarn):
    publish(bucket, PRIMARY, registry)
    publish(eu_copy, f"{PRIMARY}-eu-west-1", older(registry))
    assert load(f"s3://{PRIMARY}/registry.json", region="eu-west-1", local=False).registry == registry
    assert not recwarn.list


@pytest.mark.parametrize("region", [None, "eu-west-1"])
def test_a_broken_aws_configuration_is_a_registry_error(tmp_path, monkeypatch, region):
    # A profile that does not exist: boto3 refuses to build a session; the reader names the location and why.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "absent")
    fallback = pytest.warns(RegistryFallbackWarning) if region else contextlib.nullcontext()
    with fallback, pytest.raises(RegistryError) as info:
        load(f"s3://{PRIMARY}/registry.json", region=region)
    assert str(info.value.issues[-1]) == (
        f"s3://{PRIMARY}/registry.json: cannot read published registry from S3: "
        "The config profile (absent) could not be found"
    )


def test_regional_location():
    assert regional_location("s3://b/k/registry.json", "eu-west-1") == "s3://b-eu-west-1/k/registry.json"
    assert regional_location("s3://b/k/registry.json", "europe-west1") == "gs://b-europe-west1/k/registry.json"


def test_missing_object_is_a_clear_error(bucket):
    with pytest.raises(RegistryError, match="cannot read published registry from S3: NoSuchKey"):
        load("s3://acme-honeycomb-registry/absent.json", local=False)


def test_invalid_json_in_s3_names_the_location(bucket):
    bucket.put_object(Bucket="acme-honeycomb-registry", Key="broken.json", Body=b"{not json")
    with pytest.raises(RegistryError, match=r"s3://acme-honeycomb-registry/broken.json: line 1: invalid JSON"):
        load("s3://acme-honeycomb-registry/broken.json", local=False)


def test_published_document_is_validated_like_the_yaml(bucket, registry):
    text = to_json(registry).replace('"region": "eu-west-1"', '"region": "eu-west-9"')
    bucket.put_object(Bucket="acme-honeycomb-registry", Key="bad.json", Body=text.encode())
    with pytest.raises(RegistryError, match=r"cells\[\d\]|region 'eu-west-9' is not allowed"):
        load("s3://acme-honeycomb-registry/bad.json", local=False)


def test_local_path(tmp_path, registry):
    path = tmp_path / "registry.json"
    path.write_text(to_json(registry))
    assert load(str(path)).registry == registry
    with pytest.raises(RegistryError, match="cannot read published registry"):
        load(str(tmp_path / "absent.json"))


def test_malformed_s3_url():
    with pytest.raises(RegistryError, match=r"expected s3://<bucket>/<key>"):
        load("s3://only-bucket")


def _published(registry):
    account_ids = {c.name: f"3000000000{i:02d}" for i, c in enumerate(registry.aws_cells)}
    numbers = {c.name: f"81234567890{i}" for i, c in enumerate(registry.gcp_cells)}
    sinks = {"us-east-1": "arn:aws:oam:us-east-1:100000000002:sink/abc"}
    return published_outputs(registry, account_ids, numbers, sinks), account_ids, numbers


def test_everything_the_management_stack_publishes_comes_back(tmp_path, registry):
    outputs, account_ids, numbers = _published(registry)
    path = tmp_path / "registry.json"
    path.write_text(to_json(registry, outputs))
    published = load(str(path))
    assert published.format_version == 1
    assert published.outputs_for("gamma").account_id == account_ids["gamma"]
    assert published.outputs_for("alpha").oam_sink_arn == "arn:aws:oam:us-east-1:100000000002:sink/abc"
    assert published.outputs_for("gamma").oam_sink_arn is None
    beta = published.outputs_for(published.cell("beta"))
    assert (beta.project_id, beta.project_number) == ("acme-cell-beta", numbers["beta"])
    assert beta.zone_name == "beta.cells.acme-corp.net" and beta.stack_name == "cell-beta"
    assert [t.id for t in published.tenants] == [t.id for t in registry.tenants]
    with pytest.raises(LookupError, match="no cell named 'zeta'"):
        published.outputs_for("zeta")


def test_outputs_added_later_are_kept(tmp_path, registry):
    doc = registry_document(registry, {"alpha": {"stack_name": "cell-alpha", "zone_name": "z", "vpc_id": "vpc-1"}})
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(doc))
    assert load(str(path)).outputs_for("alpha").model_extra == {"vpc_id": "vpc-1"}


def test_bad_outputs_and_version_are_reported_together(tmp_path, registry):
    doc = registry_document(registry, {"alpha": {"stack_name": "cell-alpha", "zone_name": "z", "account_id": "12"}})
    doc["format_version"] = "one"
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(RegistryError) as info:
        load(str(path))
    found = [str(i) for i in info.value.issues]
    assert len(found) == 2, found
    assert any("outputs.account_id: " in e and "12" in e for e in found)
    assert any("format_version: expected a whole number, got 'one'" in e for e in found)


# --- Cloud Storage -------------------------------------------------------------------------------


@dataclass
class FakeGcs:
    """Objects by (bucket, name); every request seen, as (path, query)."""

    url: str
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    status: int | None = None  # answer every request with this error instead


def serve(gcs: FakeGcs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            gcs.requests.append((parts.path, parts.query))
            # /storage/v1/b/<bucket>/o/<object, URL-encoded whole>
            segments = parts.path.split("/")
            found = None
            if len(segments) == 7 and segments[1:4] == ["storage", "v1", "b"] and segments[5] == "o":
                found = gcs.objects.get((unquote(segments[4]), unquote(segments[6])))
            if gcs.status or found is None or parts.query != "alt=media":
                code = gcs.status or 404
                body = f'{{"error": {{"code": {code}, "message": "No such object: {parts.path}"}}}}'.encode()
                self.send_response(code)
            else:
                body = found
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcs]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = FakeGcs(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = serve(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(GCS_ENDPOINT_ENV, fake.url)
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (AnonymousCredentials(), None))
    yield fake
    server.shutdown()
    server.server_close()


def test_reads_a_gs_url_through_the_json_api(gcs, registry):
    gcs.objects[("regs", "v1/registry.json")] = to_json(registry).encode()
    assert load("gs://regs/v1/registry.json").registry == registry
    # The key is encoded whole, its slash too, as the JSON API requires of object names.
    assert gcs.requests == [("/storage/v1/b/regs/o/v1%2Fregistry.json", "alt=media")]


def test_a_gcp_region_reads_its_cloud_storage_copy(gcs, bucket, registry, recwarn):
    publish(bucket, PRIMARY, registry)
    gcs.objects[(f"{PRIMARY}-europe-west1", "registry.json")] = to_json(older(registry)).encode()
    found = load(f"s3://{PRIMARY}/registry.json", region="europe-west1")
    assert len(found.tenants) == len(registry.tenants) - 1  # the copy, not the primary
    assert not [w for w in recwarn if issubclass(w.category, RegistryFallbackWarning)]
    assert gcs.requests == [(f"/storage/v1/b/{PRIMARY}-europe-west1/o/registry.json", "alt=media")]


def test_no_copy_in_the_gcp_region_falls_back_to_the_primary_with_a_warning(gcs, bucket, registry):
    publish(bucket, PRIMARY, registry)
    with pytest.warns(
        RegistryFallbackWarning,
        match=rf"copy in us-central1 \(gs://{PRIMARY}-us-central1/registry.json: .*HTTP 404 No such object.*"
        rf"reading the primary s3://{PRIMARY}/registry.json",
    ):
        found = load(f"s3://{PRIMARY}/registry.json", region="us-central1")
    assert found.registry == registry


def test_an_http_error_is_one_clear_registry_error(gcs):
    gcs.status = 403
    with pytest.raises(RegistryError) as info:
        load("gs://regs/registry.json")
    (issue,) = info.value.issues
    assert str(issue) == (
        "gs://regs/registry.json: cannot read published registry from Cloud Storage: HTTP 403 "
        "No such object: /storage/v1/b/regs/o/registry.json"
    )


def test_an_unreadable_copy_is_reported_not_parsed(gcs):
    gcs.objects[("regs", "registry.json")] = b"\xff\xfe"
    with pytest.raises(RegistryError, match="the object is not UTF-8 text"):
        load("gs://regs/registry.json")
    gcs.objects[("regs", "registry.json")] = b"{"
    with pytest.raises(RegistryError, match=r"gs://regs/registry.json: line 1: invalid JSON"):
        load("gs://regs/registry.json")


def test_no_credentials_is_a_registry_error(tmp_path, monkeypatch):
    """google.auth.default() itself, pointed at a key file that does not exist."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(RegistryError, match=r"Cloud Storage: no Google credentials \(.*missing.json") as info:
        load("gs://regs/registry.json")
    assert len(info.value.issues) == 1


def test_an_unreachable_endpoint_is_a_registry_error(gcs, monkeypatch):
    monkeypatch.setenv(GCS_ENDPOINT_ENV, "http://127.0.0.1:9")  # discard: nothing listens
    with pytest.raises(RegistryError, match=r"cannot reach http://127.0.0.1:9 \(ConnectionError\)"):
        load("gs://regs/registry.json")


def test_malformed_gs_url():
    with pytest.raises(RegistryError, match="expected gs://<bucket>/<key>"):
        load("gs://only-a-bucket")
