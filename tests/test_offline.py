"""The offline engine: what it records of a program, and that program errors reach the caller."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from cellctl.mocks import CloudMocks, fake_account_id
from cellctl.offline import run_program
from stacks import outputs as mgmt


class Box(pulumi.ComponentResource):
    def __init__(self, name: str, provider: aws.Provider) -> None:
        super().__init__("honeycomb:test:Box", name, None, None)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            tags={"cell": "alpha"},
            opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=True, ignore_changes=["tags"]),
        )
        self.register_outputs({"bucket": self.bucket.id})


def sample_program() -> None:
    provider = aws.Provider("alpha-aws", region="us-east-1")
    box = Box("alpha-box", provider)
    aws.s3.Bucket("loose", opts=pulumi.ResourceOptions(import_="existing-bucket"))
    pulumi.export("bucket", box.bucket.id)
    pulumi.export("accounts", pulumi.StackReference("acme/honeycomb/management").get_output(mgmt.ACCOUNT_IDS))


@pytest.fixture
def plan(registry):
    return run_program(sample_program, stack="cell-alpha", mocks=CloudMocks(registry))


def test_records_type_parent_provider_protect(plan):
    box = plan.one("honeycomb:test:Box")
    bucket = plan.one("aws:s3/bucket:Bucket", "alpha-box-bucket")
    provider = plan.one("pulumi:providers:aws")
    assert not box.custom
    assert bucket.custom
    assert bucket.parent == box.urn
    assert bucket.provider == provider.urn
    assert bucket.protect is True
    assert bucket.ignore_changes == ("tags",)
    assert bucket.inputs == {"tags": {"cell": "alpha"}}
    assert bucket.outputs["id"].startswith("alpha-box-bucket-")


def test_default_provider_and_import_are_visible(plan):
    loose = plan.one("aws:s3/bucket:Bucket", "loose")
    assert loose.provider is None
    assert loose.import_id == "existing-bucket"
    assert loose.protect is False


def test_stack_outputs_and_synthesized_management_reference(plan, registry):
    assert plan.outputs["bucket"] == plan.one("aws:s3/bucket:Bucket", "alpha-box-bucket").outputs["id"]
    accounts = plan.outputs["accounts"]
    assert accounts["alpha"] == "210987654321"  # pinned in the registry
    assert accounts["gamma"] == fake_account_id("gamma")
    assert set(accounts) == {c.name for c in registry.aws_cells}


def test_urns_are_unique_and_runs_are_independent(plan, registry):
    assert len(plan.by_urn()) == len(plan.resources)
    again = run_program(sample_program, stack="cell-alpha", mocks=CloudMocks(registry))
    assert sorted(r.urn for r in again.resources) == sorted(r.urn for r in plan.resources)
    assert plan.count_by_type()["aws:s3/bucket:Bucket"] == 2


def test_program_errors_propagate(registry):
    def broken() -> None:
        bucket = aws.s3.Bucket("b", opts=pulumi.ResourceOptions(provider=aws.Provider("p", region="us-east-1")))
        bucket.id.apply(lambda _: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        run_program(broken, stack="cell-alpha", mocks=CloudMocks(registry))


def test_stack_outputs_override_for_tests(registry):
    def program() -> None:
        pulumi.export("x", pulumi.StackReference("management").get_output("custom"))

    mocks = CloudMocks(registry, stack_outputs={"management": {"custom": 42}})
    assert run_program(program, stack="cell-alpha", mocks=mocks).outputs == {"x": 42}
