"""The AWS mocks behave like a cloud: ids, ARNs in the provider's account and region, calls, defaults."""

from __future__ import annotations

import base64
import re

import pulumi
import pulumi_aws as aws
import pytest

from cellctl.mocks import CloudMocks
from cellctl.mocks import aws as aws_mocks
from cellctl.offline import StackPlan, run_program
from cells import Registry

ACCOUNT = "444455556666"
REGION = "eu-west-1"


def provider(name: str = "cell-aws", account: str = ACCOUNT, region: str = REGION) -> aws.Provider:
    return aws.Provider(
        name,
        region=region,
        assume_roles=[
            aws.ProviderAssumeRoleArgs(role_arn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole")
        ],
        default_tags=aws.ProviderDefaultTagsArgs(tags={"cell": "x"}),
    )


def sample() -> None:
    p = provider()
    opts = pulumi.ResourceOptions(provider=p)
    vpc = aws.ec2.Vpc("x-vpc", cidr_block="10.0.0.0/16", tags={"Name": "x-vpc"}, opts=opts)
    aws.ec2.Subnet("x-subnet", vpc_id=vpc.id, cidr_block="10.0.0.0/24", availability_zone=f"{REGION}b", opts=opts)
    aws.iam.Role("x-role", name="x-role", assume_role_policy="{}", opts=opts)
    aws.iam.Role("x-unnamed", assume_role_policy="{}", opts=opts)
    cluster = aws.eks.Cluster(
        "x-cluster", name="x", role_arn="arn", vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["s"]), opts=opts
    )
    aws.route53.Zone("x-zone", name="x.example.com", opts=opts)
    aws.kms.Key("x-key", opts=opts)
    aws.ec2.Vpc("x-other-region", cidr_block="10.1.0.0/16", region="us-west-2", opts=opts)
    aws.sqs.Queue("x-queue", tags={"team": "y"}, opts=opts)  # no dedicated handler
    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(provider=p))
    zones = aws.get_availability_zones_output(opts=pulumi.InvokeOptions(provider=p))
    partition = aws.get_partition_output(opts=pulumi.InvokeOptions(provider=p))
    pulumi.export("account", identity.account_id)
    pulumi.export("callerArn", identity.arn)
    pulumi.export("zones", zones.names)
    pulumi.export("zoneIds", zones.zone_ids)
    pulumi.export("partition", partition.partition)
    pulumi.export("endpoint", cluster.endpoint)


@pytest.fixture
def plan(registry: Registry) -> StackPlan:
    return run_program(sample, stack="cell-x", mocks=CloudMocks(registry))


def test_ids_have_aws_prefixes_and_arns_the_provider_account_and_region(plan: StackPlan) -> None:
    vpc = plan.one("aws:ec2/vpc:Vpc", "x-vpc")
    assert vpc.outputs["id"].startswith("vpc-")
    assert vpc.outputs["arn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{vpc.outputs['id']}"
    assert vpc.outputs["ownerId"] == ACCOUNT
    subnet = plan.one("aws:ec2/subnet:Subnet")
    assert subnet.outputs["id"].startswith("subnet-")
    assert subnet.outputs["availabilityZoneId"] == "euw1-az2"
    assert subnet.inputs["vpcId"] == vpc.outputs["id"]


def test_a_resource_region_overrides_the_provider_region(plan: StackPlan) -> None:
    assert ":us-west-2:" in plan.one("aws:ec2/vpc:Vpc", "x-other-region").outputs["arn"]


def test_iam_arns_have_no_region_and_auto_names_get_a_suffix(plan: StackPlan) -> None:
    named = plan.one("aws:iam/role:Role", "x-role")
    assert named.outputs["arn"] == f"arn:aws:iam::{ACCOUNT}:role/x-role"
    unnamed = plan.one("aws:iam/role:Role", "x-unnamed")
    assert unnamed.outputs["name"].startswith("x-unnamed-")
    assert unnamed.outputs["arn"].endswith(f":role/{unnamed.outputs['name']}")


def test_eks_endpoint_and_certificate(plan: StackPlan) -> None:
    cluster = plan.one("aws:eks/cluster:Cluster")
    assert cluster.outputs["endpoint"].startswith("https://")
    assert cluster.outputs["endpoint"].endswith(f".{REGION}.eks.amazonaws.com")
    assert plan.outputs["endpoint"] == cluster.outputs["endpoint"]
    pem = base64.b64decode(cluster.outputs["certificateAuthority"]["data"]).decode()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert cluster.outputs["arn"] == f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/x"


def test_route53_zone_has_four_name_servers(plan: StackPlan) -> None:
    zone = plan.one("aws:route53/zone:Zone")
    assert zone.outputs["id"].startswith("Z")
    servers = zone.outputs["nameServers"]
    assert len(servers) == 4
    assert [s.rsplit(".", 1)[-1] for s in servers] == ["com", "net", "org", "uk"]


def test_calls_answer_for_the_provider_account_and_region(plan: StackPlan) -> None:
    assert plan.outputs["account"] == ACCOUNT
    assert plan.outputs["callerArn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/OrganizationAccountAccessRole/honeycomb"
    assert plan.outputs["zones"] == [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
    assert plan.outputs["zoneIds"] == ["euw1-az1", "euw1-az2", "euw1-az3"]
    assert plan.outputs["partition"] == "aws"


def test_unknown_aws_types_echo_inputs_with_an_arn_and_tags(plan: StackPlan) -> None:
    queue = plan.one("aws:sqs/queue:Queue")
    assert queue.outputs["arn"].startswith(f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue/x-queue")
    assert queue.outputs["tags"] == {"team": "y"}
    assert queue.outputs["tagsAll"] == {"cell": "x", "team": "y"}


def test_outputs_are_deterministic(registry: Registry) -> None:
    first = run_program(sample, stack="cell-x", mocks=CloudMocks(registry))
    second = run_program(sample, stack="cell-x", mocks=CloudMocks(registry))
    assert {r.urn: r.outputs for r in first.resources} == {r.urn: r.outputs for r in second.resources}
    assert first.outputs == second.outputs


def test_another_account_gets_other_ids(registry: Registry) -> None:
    def other() -> None:
        p = provider(account="777788889999")
        aws.ec2.Vpc("x-vpc", cidr_block="10.0.0.0/16", opts=pulumi.ResourceOptions(provider=p))

    mine = run_program(sample, stack="cell-x", mocks=CloudMocks(registry)).one("aws:ec2/vpc:Vpc", "x-vpc")
    theirs = run_program(other, stack="cell-x", mocks=CloudMocks(registry)).one("aws:ec2/vpc:Vpc", "x-vpc")
    assert mine.outputs["id"] != theirs.outputs["id"]
    assert ":777788889999:" in theirs.outputs["arn"]


def test_unknown_packages_still_work(registry: Registry) -> None:
    class Thing(pulumi.CustomResource):
        def __init__(self, name: str) -> None:
            super().__init__("acme:things/thing:Thing", name, {"size": 3})

    def program() -> None:
        Thing("t")

    thing = run_program(program, stack="cell-x", mocks=CloudMocks(registry)).one("acme:things/thing:Thing")
    assert thing.outputs["size"] == 3
    assert thing.outputs["id"]


@pytest.mark.parametrize(
    ("provider_inputs", "account"),
    [
        ({"assumeRoles": '[{"roleArn": "arn:aws:iam::111122223333:role/r"}]'}, "111122223333"),
        ({"assumeRole": '{"roleArn": "arn:aws:iam::222233334444:role/r"}'}, "222233334444"),
        ({"allowedAccountIds": '["333344445555"]'}, "333344445555"),
        ({}, aws_mocks.AMBIENT_ACCOUNT),
    ],
)
def test_account_of_a_provider(registry: Registry, provider_inputs: dict, account: str) -> None:
    from cellctl.mocks import MockContext

    ctx = MockContext("aws:x/y:Y", "n", {}, provider_inputs, registry, CloudMocks(registry))
    assert aws_mocks.account_of(ctx) == account


@pytest.mark.parametrize(
    ("region", "prefix"), [("us-east-1", "use1"), ("eu-west-1", "euw1"), ("ap-northeast-2", "apne2")]
)
def test_zone_id_prefix(region: str, prefix: str) -> None:
    assert aws_mocks.zone_id_prefix(region) == prefix


def cloudfront_sample() -> None:
    opts = pulumi.ResourceOptions(provider=provider("edge", region="us-east-1"))
    store = aws.cloudfront.KeyValueStore("x-store", name="x-store", opts=opts)
    first = aws.cloudfront.KeyvaluestoreKey("x-key", key_value_store_arn=store.arn, key="t1", value="vé", opts=opts)
    # After the first, so that the store's running size is known at each put.
    after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[first]))
    aws.cloudfront.KeyvaluestoreKey("x-key2", key_value_store_arn=store.arn, key="t2", value="v", opts=after)
    aws.cloudfront.Function("x-fn", name="x-fn", runtime="cloudfront-js-2.0", code="x", opts=opts)
    aws.cloudfront.Function("x-draft", name="x-draft", runtime="cloudfront-js-2.0", code="x", publish=False, opts=opts)
    aws.acm.Certificate(
        "x-cert",
        domain_name="a.example.com",
        subject_alternative_names=["b.example.com"],
        validation_method="DNS",
        opts=opts,
    )


def test_cloudfront_and_acm_outputs_look_like_the_provider_s(registry: Registry) -> None:
    plan = run_program(cloudfront_sample, stack="cell-x", mocks=CloudMocks(registry))
    store = plan.one("aws:cloudfront/keyValueStore:KeyValueStore").outputs
    # CloudFront ARNs carry the account, no region; the store's ends with its UUID (CreateFunction's pattern).
    assert re.fullmatch(rf"arn:aws:cloudfront::{ACCOUNT}:key-value-store/[0-9a-f-]{{36}}", store["arn"])
    assert store["id"] == store["name"] == "x-store" and store["etag"].startswith("E")
    key = plan.one("aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey", "x-key").outputs
    assert key["id"] == f"{store['arn']},t1" and key["totalSizeInBytes"] == len("t1vé".encode())
    # The store's size after the put, as PutKey answers it, not the pair's own.
    second = plan.one("aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey", "x-key2").outputs
    assert second["totalSizeInBytes"] == len("t1vé".encode()) + len("t2v")
    function = plan.one("aws:cloudfront/function:Function", "x-fn").outputs
    assert function["arn"] == f"arn:aws:cloudfront::{ACCOUNT}:function/x-fn" and function["liveStageEtag"]
    assert plan.one("aws:cloudfront/function:Function", "x-draft").outputs["liveStageEtag"] == ""
    cert = plan.one("aws:acm/certificate:Certificate").outputs
    assert re.fullmatch(rf"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/[0-9a-f-]{{36}}", cert["arn"])
    options = cert["domainValidationOptions"]
    assert [o["domainName"] for o in options] == ["a.example.com", "b.example.com"]
    assert all(
        o["resourceRecordType"] == "CNAME" and o["resourceRecordName"].endswith(f".{o['domainName']}.") for o in options
    )
    assert all(o["resourceRecordValue"].endswith(".acm-validations.aws.") for o in options)
    assert cert["tagsAll"] == {"cell": "x"}
