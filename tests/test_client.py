"""cells.client reads a published registry back from S3 (a moto server on loopback) or a path."""

from __future__ import annotations

import json

import boto3
import pytest

from cells import RegistryError
from cells.client import load
from cells.export import registry_document, to_json
from stacks.management import published_outputs


@pytest.fixture
def bucket(aws_env):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-honeycomb-registry")
    return s3


def test_reads_the_published_registry_from_s3(bucket, registry):
    bucket.put_object(Bucket="acme-honeycomb-registry", Key="registry.json", Body=to_json(registry).encode())
    assert load("s3://acme-honeycomb-registry/registry.json").registry == registry


def test_missing_object_is_a_clear_error(bucket):
    with pytest.raises(RegistryError, match="cannot read published registry from S3: NoSuchKey"):
        load("s3://acme-honeycomb-registry/absent.json")


def test_invalid_json_in_s3_names_the_location(bucket):
    bucket.put_object(Bucket="acme-honeycomb-registry", Key="broken.json", Body=b"{not json")
    with pytest.raises(RegistryError, match=r"s3://acme-honeycomb-registry/broken.json: line 1: invalid JSON"):
        load("s3://acme-honeycomb-registry/broken.json")


def test_published_document_is_validated_like_the_yaml(bucket, registry):
    text = to_json(registry).replace('"region": "eu-west-1"', '"region": "eu-west-9"')
    bucket.put_object(Bucket="acme-honeycomb-registry", Key="bad.json", Body=text.encode())
    with pytest.raises(RegistryError, match=r"cells\[\d\]|region 'eu-west-9' is not allowed"):
        load("s3://acme-honeycomb-registry/bad.json")


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
