"""Rule 1 (required-tags): tags from the resource and the provider's defaults, taggability from the SDK."""

from __future__ import annotations

import pytest

from cells import Registry
from policies.base import tag_field
from policies.tagging import required_tags
from policies.testing import Stack

ALPHA_TAGS = {"cell": "alpha", "environment": "prod", "managed-by": "honeycomb"}


@pytest.mark.parametrize(
    ("type_", "field"),
    [
        ("aws:ec2/vpc:Vpc", "tags"),
        ("aws:s3/bucket:Bucket", "tags"),
        ("aws:ec2/route:Route", None),  # no tags in the AWS API
        ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", None),
        ("gcp:compute/subnetwork:Subnetwork", None),  # subnetworks take no labels
        ("gcp:storage/bucket:Bucket", "labels"),
        ("gcp:container/cluster:Cluster", "resourceLabels"),
        ("gcp:monitoring/notificationChannel:NotificationChannel", None),  # `labels` is channel config there
        ("kubernetes:apps/v1:Deployment", None),
        ("aws:no/such:Type", None),
    ],
)
def test_taggability_comes_from_the_sdk_schema(type_: str, field: str | None) -> None:
    assert tag_field(type_) == field


def test_provider_default_tags_count(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    provider = stack.aws_provider("alpha", account="210987654321", tags=ALPHA_TAGS)
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {"cidrBlock": "10.32.0.0/16"}, provider=provider)
    assert stack.findings(registry, required_tags) == []


def test_missing_tags_fire(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    provider = stack.aws_provider("alpha", account="210987654321")
    vpc = stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {"tags": {"cell": "alpha"}}, provider=provider)
    stack.add("aws:ec2/route:Route", "alpha-route", {}, provider=provider)  # not taggable: no finding
    [finding] = stack.findings(registry, required_tags)
    assert finding.policy == "required-tags"
    assert finding.level == "mandatory"
    assert finding.urn == vpc.urn
    assert "environment, managed-by" in finding.message


def test_wrong_value_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    provider = stack.aws_provider("alpha", account="210987654321", tags=ALPHA_TAGS)
    stack.add("aws:s3/bucket:Bucket", "alpha-logs", {"tags": {"cell": "beta"}}, provider=provider)
    [finding] = stack.findings(registry, required_tags)
    assert "cell='beta', expected 'alpha'" in finding.message


def test_gcp_labels_from_provider_and_resource(registry: Registry) -> None:
    stack = Stack("cell-beta")
    labels = {"cell": "beta", "environment": "prod", "managed-by": "honeycomb"}
    good = stack.gcp_provider("beta", project="acme-cell-beta", labels=labels)
    bare = stack.gcp_provider("bare", project="acme-cell-beta")
    stack.add("gcp:container/cluster:Cluster", "beta-gke", {"resourceLabels": labels}, provider=bare)
    stack.add("gcp:storage/bucket:Bucket", "beta-ok", {}, provider=good)
    bad = stack.add("gcp:storage/bucket:Bucket", "beta-bad", {"labels": {"cell": "beta"}}, provider=bare)
    [finding] = stack.findings(registry, required_tags)
    assert finding.urn == bad.urn
    assert "labels environment, managed-by" in finding.message


def test_management_stack_needs_managed_by_only(registry: Registry) -> None:
    stack = Stack("management")
    provider = stack.aws_provider("org", account=None, tags={"managed-by": "honeycomb"})
    stack.add("aws:s3/bucket:Bucket", "registry", {}, provider=provider)
    assert stack.findings(registry, required_tags) == []
    bare = stack.aws_provider("bare", account=None)
    stack.add("aws:s3/bucket:Bucket", "untagged", {}, provider=bare)
    assert [f.name for f in stack.findings(registry, required_tags)] == ["untagged"]
