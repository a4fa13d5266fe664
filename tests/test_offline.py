"""The offline engine: what it records of a program, and that program errors reach the caller."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from cellctl.mocks import CloudMocks, fake_account_id
from cellctl.offline import DefaultProviderDisabledError, run_program
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
    provider = plan.one("pulumi:providers:aws", "alpha-aws")
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
    default = plan.by_urn()[loose.provider]
    assert default.type == "pulumi:providers:aws"
    assert default.name.startswith("default_7_")  # as the engine names it: default_<version>
    assert default.parent is None
    assert loose.import_id == "existing-bucket"
    assert loose.protect is False


def test_default_provider_is_configured_from_stack_config(registry):
    """The engine gives a default provider the stack config's `aws:*` keys; resources and calls see them."""
    role = "arn:aws:iam::210987654321:role/app-deploy"

    def program() -> None:
        bucket = aws.s3.Bucket("site")
        pulumi.export("region", bucket.bucket_region)
        pulumi.export("arn", bucket.arn)
        pulumi.export("account", aws.get_caller_identity().account_id)

    config = {"aws:region": "eu-west-1", "aws:assumeRoles": f'[{{"roleArn": "{role}"}}]'}
    plan = run_program(program, stack="cell-alpha", mocks=CloudMocks(registry), config=config)
    default = plan.one("pulumi:providers:aws")
    assert default.inputs["region"] == "eu-west-1"
    assert default.inputs["assumeRoles"] == config["aws:assumeRoles"]
    assert plan.one("aws:s3/bucket:Bucket").provider == default.urn
    assert plan.outputs["region"] == "eu-west-1"
    assert plan.outputs["arn"].startswith("arn:aws:s3:::site-")  # auto-named, as Pulumi names it
    assert plan.outputs["account"] == "210987654321"


def test_disabled_default_provider_fails_like_the_engine(registry):
    def program() -> None:
        aws.s3.Bucket("site")

    config = {"pulumi:disable-default-providers": '["aws"]'}
    with pytest.raises(DefaultProviderDisabledError, match="Default provider for 'aws' disabled"):
        run_program(program, stack="cell-alpha", mocks=CloudMocks(registry), config=config)


def test_records_the_source_line_that_created_each_resource(plan):
    bucket = plan.one("aws:s3/bucket:Bucket", "alpha-box-bucket")
    loose = plan.one("aws:s3/bucket:Bucket", "loose")
    lines = Path(__file__).read_text().splitlines()
    assert bucket.source is not None and loose.source is not None
    assert Path(bucket.source["file"]) == Path(__file__).resolve()
    assert "aws.s3.Bucket(" in lines[bucket.source["line"] - 1]  # inside Box.__init__
    assert 'aws.s3.Bucket("loose"' in lines[loose.source["line"] - 1]
    # A provider's position is the program's line too, not the SDK's own constructor.
    provider = plan.one("pulumi:providers:aws", "alpha-aws")
    assert 'aws.Provider("alpha-aws"' in lines[provider.source["line"] - 1]


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
