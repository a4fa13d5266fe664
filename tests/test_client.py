"""cells.client reads a published registry back from S3 (a moto server on loopback) or a path."""

from __future__ import annotations

import boto3
import pytest

from cells import RegistryError
from cells.client import load
from cells.export import to_json


@pytest.fixture
def bucket(aws_env):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-honeycomb-registry")
    return s3


def test_reads_the_published_registry_from_s3(bucket, registry):
    bucket.put_object(Bucket="acme-honeycomb-registry", Key="registry.json", Body=to_json(registry).encode())
    assert load("s3://acme-honeycomb-registry/registry.json") == registry


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
    assert load(str(path)) == registry
    with pytest.raises(RegistryError, match="cannot read published registry"):
        load(str(tmp_path / "absent.json"))


def test_malformed_s3_url():
    with pytest.raises(RegistryError, match=r"expected s3://<bucket>/<key>"):
        load("s3://only-bucket")
