"""The AWS cell program, run as `pulumi up --stack cell-<name>` would run it, under the cloud-like mocks.

Every sample AWS cell (staging, alpha, gamma, dev-jdoe) is planned once per module; tests assert
on the recorded inputs. The pure helpers (CIDR carving, policy documents, kubeconfig) are
tested directly at the end.
"""

from __future__ import annotations

import ipaddress
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iam_verdicts import trusts
from pulumi.runtime import rpc

from cellctl.mocks import fake_account_id
from cellctl.mocks.pulumi_builtin import management_outputs as synthesize_management_outputs
from cellctl.offline import PlannedResource, StackPlan, run_stack
from cells import AwsCell, Environment, Registry, load_registry
from components import cidr
from components.aws import cluster as cluster_mod
from components.aws import health, iam
from components.aws.metrics import LABEL_TEMPLATE, RESOURCE_TYPES
from stacks import cell_aws
from stacks import outputs as mgmt
from stacks.config_cidrs import CellConfigError

AWS_CELLS = ["staging", "alpha", "gamma", "dev-jdoe"]
PINNED = {"alpha": "210987654321"}
PUBLIC_CIDRS = ["203.0.113.0/24", "198.51.100.16/28"]

PROVIDER = "pulumi:providers:aws"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RECORD = "aws:route53/record:Record"
ZONE = "aws:route53/zone:Zone"

_PLANS: dict[tuple[str, str], StackPlan] = {}


def plan_of(registry: Registry, cell: str, config: dict[str, str] | None = None) -> StackPlan:
    """One run per cell and config for the whole module: a run takes seconds."""
    key = (cell, json.dumps(config or {}, sort_keys=True))
    if key not in _PLANS:
        _PLANS[key] = run_stack(f"cell-{cell}", registry, config=config)
    return _PLANS[key]


@pytest.fixture(params=AWS_CELLS)
def cell(request: pytest.FixtureRequest, registry: Registry) -> AwsCell:
    found = registry.cell(request.param)
    assert isinstance(found, AwsCell)
    return found


@pytest.fixture
def plan(registry: Registry, cell: AwsCell) -> StackPlan:
    return plan_of(registry, cell.name)


def expected_account(cell: AwsCell) -> str:
    return PINNED.get(cell.name) or fake_account_id(cell.name)


def provider_named(plan: StackPlan, name: str) -> PlannedResource:
    return plan.one(PROVIDER, name)


def assumed_role(provider: PlannedResource) -> str:
    roles = json.loads(provider.inputs["assumeRoles"])
    assert len(roles) == 1
    return roles[0]["roleArn"]


def management_outputs(registry: Registry) -> dict[str, Any]:
    """What the mocks' StackReference returns for the management stack (a fresh copy)."""
    return synthesize_management_outputs(SimpleNamespace(registry=registry))  # type: ignore[arg-type]


# --- providers and isolation ----------------------------------------------------------------


def test_sample_registry_has_the_aws_cells_under_test(registry: Registry) -> None:
    assert sorted(c.name for c in registry.aws_cells) == sorted(AWS_CELLS)
    assert PINNED["alpha"] == registry.cell("alpha").account_id


def test_every_resource_uses_an_explicit_provider_of_the_cell(plan: StackPlan, cell: AwsCell) -> None:
    cell_provider = provider_named(plan, f"{cell.name}-aws").urn
    delegation = provider_named(plan, f"{cell.name}-dns-delegation").urn
    checked = 0
    for r in plan.custom_resources:
        if r.type.startswith("pulumi:"):
            continue  # providers and the StackReference
        assert r.provider is not None, f"{r.urn} uses a default provider"
        if r.type.startswith("aws:"):
            expected = delegation if r.name == f"{cell.name}-delegation-ns" else cell_provider
            assert r.provider == expected, f"{r.urn} uses {r.provider}"
            checked += 1
        else:
            assert r.type.startswith("kubernetes:"), r.urn
            assert r.provider.endswith(f"::{cell.name}-k8s"), r.urn
    assert checked > 40
    # The one record in the parent zone is the only thing the delegation provider touches.
    assert [r.name for r in plan.custom_resources if r.provider == delegation] == [f"{cell.name}-delegation-ns"]


def test_provider_assumes_the_access_role_in_the_cell_account_and_region(
    plan: StackPlan, cell: AwsCell, registry: Registry
) -> None:
    provider = provider_named(plan, f"{cell.name}-aws")
    account = expected_account(cell)
    role = registry.organization.aws.access_role_name
    assert assumed_role(provider) == f"arn:aws:iam::{account}:role/{role}"
    assert provider.inputs["region"] == cell.region
    assert json.loads(provider.inputs["allowedAccountIds"]) == [account]
    # A root-level provider: its URN never depends on a component.
    assert provider.parent is None or provider.parent.endswith("pulumi:pulumi:Stack::honeycomb-" + plan.stack)
    assert plan.outputs["accountId"] == account


def test_provider_default_tags_are_the_cell_tags(plan: StackPlan, cell: AwsCell) -> None:
    provider = provider_named(plan, f"{cell.name}-aws")
    assert json.loads(provider.inputs["defaultTags"]) == {
        "tags": {"cell": cell.name, "environment": str(cell.environment), "managed-by": "honeycomb"}
    }


def test_no_resource_overrides_a_cell_tag(plan: StackPlan, cell: AwsCell) -> None:
    for r in plan.resources:
        tags = r.inputs.get("tags") or {}
        for key, value in cell.tags.items():
            assert tags.get(key, value) == value, f"{r.urn} sets {key}={tags[key]}"
    # And the mocks' `tagsAll` shows the provider's tags on every taggable AWS resource.
    taggable = [r for r in plan.custom_resources if r.type.startswith("aws:") and "tagsAll" in r.outputs]
    assert len(taggable) > 20
    for r in taggable:
        assert cell.tags.items() <= r.outputs["tagsAll"].items(), r.urn


def test_urns_are_unique(plan: StackPlan) -> None:
    urns = [r.urn for r in plan.resources]
    assert len(urns) == len(set(urns))


def test_names_start_with_the_cell_name(plan: StackPlan, cell: AwsCell) -> None:
    for r in plan.resources:
        if r.type == "pulumi:pulumi:StackReference":
            continue
        assert r.name.startswith(f"{cell.name}-") or r.name == cell.name, r.urn


# --- network --------------------------------------------------------------------------------


def test_subnets_are_inside_the_cidr_and_do_not_overlap(plan: StackPlan, cell: AwsCell) -> None:
    subnets = plan.of_type(SUBNET)
    nets = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in subnets]
    assert len(nets) == 6
    assert all(n.subnet_of(cell.network.cidr) for n in nets)
    assert cidr.overlapping(nets) == []
    assert plan.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"] == str(cell.network.cidr)


def test_public_and_private_subnets_span_three_zones_of_the_region(plan: StackPlan, cell: AwsCell) -> None:
    by_tier: dict[str, list[str]] = {"public": [], "private": []}
    for s in plan.of_type(SUBNET):
        by_tier[s.inputs["tags"]["tier"]].append(s.inputs["availabilityZone"])
        assert s.inputs["availabilityZone"].startswith(cell.region)
        assert s.inputs["mapPublicIpOnLaunch"] is False
    assert sorted(by_tier["public"]) == sorted(by_tier["private"])
    assert len(set(by_tier["public"])) == 3


def test_nat_gateways_one_per_zone_in_prod_one_otherwise(plan: StackPlan, cell: AwsCell) -> None:
    nats = plan.of_type(NAT)
    public_subnets = {s.outputs["id"]: s for s in plan.of_type(SUBNET) if s.inputs["tags"]["tier"] == "public"}
    assert all(n.inputs["subnetId"] in public_subnets for n in nats)
    routes = [r for r in plan.of_type("aws:ec2/route:Route") if "natGatewayId" in r.inputs]
    assert len(routes) == 3
    targets = {r.inputs["natGatewayId"] for r in routes}
    if cell.environment == Environment.prod:
        assert len(nats) == 3
        assert len({public_subnets[n.inputs["subnetId"]].inputs["availabilityZone"] for n in nats}) == 3
        assert targets == {n.outputs["id"] for n in nats}
    else:
        assert len(nats) == 1
        assert targets == {nats[0].outputs["id"]}


def test_flow_logs_go_to_a_log_group_with_retention(plan: StackPlan, cell: AwsCell) -> None:
    flow = plan.one("aws:ec2/flowLog:FlowLog")
    group = plan.one("aws:cloudwatch/logGroup:LogGroup", f"{cell.name}-flow-logs")
    assert flow.inputs["logDestination"] == group.outputs["arn"]
    assert flow.inputs["logDestinationType"] == "cloud-watch-logs"
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["vpcId"] == plan.one("aws:ec2/vpc:Vpc").outputs["id"]
    assert group.inputs["retentionInDays"] == cell_aws.FLOW_LOG_RETENTION[cell.environment]
    role = plan.one("aws:iam/role:Role", f"{cell.name}-flow-logs")
    assert flow.inputs["iamRoleArn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": expected_account(cell)}
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", f"{cell.name}-flow-logs").inputs["policy"])
    assert group.outputs["arn"] in policy["Statement"][0]["Resource"]


# --- cluster --------------------------------------------------------------------------------


def test_eks_endpoint_is_private_and_public_only_to_the_deploy_runner(registry: Registry, cell: AwsCell) -> None:
    """The sample's CI runner reaches every cluster through the public endpoint, opened to its egress only."""
    runner_cidrs = [str(c) for c in registry.runner_for(cell).egress_cidrs]  # type: ignore[union-attr]
    vpc = plan_of(registry, cell.name).one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == runner_cidrs
    if cell.environment == Environment.prod:
        return
    configured = plan_of(registry, cell.name, {cell_aws.PUBLIC_ACCESS_CIDRS_CONFIG: json.dumps(PUBLIC_CIDRS)})
    vpc = configured.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == [*runner_cidrs, *PUBLIC_CIDRS]


def test_a_prod_cell_refuses_more_public_endpoint_cidrs(registry: Registry) -> None:
    config = {cell_aws.PUBLIC_ACCESS_CIDRS_CONFIG: json.dumps(PUBLIC_CIDRS)}
    with pytest.raises(CellConfigError, match="admits only the registry's deploy runner"):
        run_stack("cell-alpha", registry, config=config)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('["0.0.0.0/0"]', "every address"),
        ('["10.0.0.1/8"]', "no host bits"),
        ('"203.0.113.0/24"', "must be a list of CIDRs"),
        # Space a public endpoint never sees as a source.
        ('["10.16.0.0/16"]', "overlaps 10.0.0.0/8"),
        ('["172.20.0.0/16"]', "overlaps 172.16.0.0/12"),
        ('["192.168.1.0/24"]', "overlaps 192.168.0.0/16"),
        ('["100.64.0.0/10"]', "overlaps 100.64.0.0/10"),
        ('["127.0.0.1/32"]', "overlaps 127.0.0.0/8"),
        ('["169.254.169.254/32"]', "overlaps 169.254.0.0/16"),
        ('["0.0.0.0/1"]', "is not an IPv4 network"),
        ('["2001:db8::/32"]', "is not an IPv4 network"),
    ],
)
def test_bad_public_access_cidrs_are_clear_errors(registry: Registry, value: str, reason: str) -> None:
    with pytest.raises(CellConfigError, match=r"eksPublicAccessCidrs in stacks/Pulumi\.cell-staging\.yaml") as err:
        run_stack("cell-staging", registry, config={cell_aws.PUBLIC_ACCESS_CIDRS_CONFIG: value})
    assert reason in str(err.value)


def test_a_prod_cell_refuses_even_an_empty_or_open_list(registry: Registry) -> None:
    for value in ("[]", '["0.0.0.0/0"]'):
        with pytest.raises(CellConfigError, match="honeycomb:eksPublicAccessCidrs is set for the prod cell"):
            run_stack("cell-alpha", registry, config={cell_aws.PUBLIC_ACCESS_CIDRS_CONFIG: value})


def test_eks_encrypts_secrets_with_a_rotated_key_and_logs_everything(plan: StackPlan, cell: AwsCell) -> None:
    eks = plan.one(CLUSTER)
    key = plan.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert eks.inputs["encryptionConfig"] == {"resources": ["secrets"], "provider": {"keyArn": key.outputs["arn"]}}
    assert sorted(eks.inputs["enabledClusterLogTypes"]) == sorted(cluster_mod.LOG_TYPES)
    assert eks.inputs["name"] == cell.name
    assert eks.inputs["roleArn"] == plan.one("aws:iam/role:Role", f"{cell.name}-cluster").outputs["arn"]
    private = {s.outputs["id"] for s in plan.of_type(SUBNET) if s.inputs["tags"]["tier"] == "private"}
    assert set(eks.inputs["vpcConfig"]["subnetIds"]) == private
    logs = plan.one("aws:cloudwatch/logGroup:LogGroup", f"{cell.name}-cluster-logs")
    assert logs.inputs["name"] == f"/aws/eks/{cell.name}/cluster"
    assert logs.urn in eks.depends_on


def test_node_group_follows_size(plan: StackPlan, cell: AwsCell) -> None:
    nodes = plan.one(NODE_GROUP)
    sizing = cell.sizing
    assert nodes.inputs["scalingConfig"] == {
        "minSize": sizing.min,
        "desiredSize": sizing.desired,
        "maxSize": sizing.max,
    }
    assert nodes.inputs["instanceTypes"] == [sizing.instance_type]
    private = {s.outputs["id"] for s in plan.of_type(SUBNET) if s.inputs["tags"]["tier"] == "private"}
    assert set(nodes.inputs["subnetIds"]) == private
    assert nodes.inputs["nodeRoleArn"] == plan.one("aws:iam/role:Role", f"{cell.name}-nodes").outputs["arn"]


def test_everyday_kubeconfig_looks_and_the_stack_deploys_as_the_access_role(
    plan: StackPlan, cell: AwsCell, registry: Registry
) -> None:
    config = json.loads(plan.outputs["kubeconfig"])
    eks = plan.one(CLUSTER)
    assert config["clusters"][0]["cluster"]["server"] == eks.outputs["endpoint"]
    assert config["clusters"][0]["cluster"]["certificate-authority-data"] == eks.outputs["certificateAuthority"]["data"]
    args = config["users"][0]["user"]["exec"]["args"]
    read_only = plan.one("aws:iam/role:Role", f"{cell.name}-read-only").outputs["arn"]
    assert args[args.index("--role-arn") + 1] == read_only
    assert args[args.index("--cluster-name") + 1] == cell.name
    assert args[args.index("--region") + 1] == cell.region
    # The workloads' Kubernetes provider deploys as the cluster's creator, the access role, as a secret.
    given = plan.one("pulumi:providers:kubernetes", f"{cell.name}-k8s").inputs["kubeconfig"]
    assert given[rpc._special_sig_key] == rpc._special_secret_sig
    deploy_args = json.loads(given["value"])["users"][0]["user"]["exec"]["args"]
    access_role = f"arn:aws:iam::{expected_account(cell)}:role/{registry.organization.aws.access_role_name}"
    assert deploy_args[deploy_args.index("--role-arn") + 1] == access_role


def test_cell_roles_get_cluster_access(plan: StackPlan, cell: AwsCell) -> None:
    entries = {
        e.name: e.inputs["principalArn"]
        for e in plan.of_type("aws:eks/accessEntry:AccessEntry")
        if "-sso-" not in e.name
    }
    deployer = plan.one("aws:iam/role:Role", f"{cell.name}-deployer").outputs["arn"]
    read_only = plan.one("aws:iam/role:Role", f"{cell.name}-read-only").outputs["arn"]
    assert entries == {f"{cell.name}-access-deployer": deployer, f"{cell.name}-access-read-only": read_only}
    policies = {
        a.inputs["principalArn"]: a.inputs["policyArn"]
        for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        if "-sso-" not in a.name
    }
    assert policies == {deployer: cluster_mod.ADMIN_ACCESS_POLICY, read_only: cluster_mod.VIEW_ACCESS_POLICY}


# --- DNS, IAM, metrics, health --------------------------------------------------------------


def test_zone_and_delegation_record_match(plan: StackPlan, cell: AwsCell, registry: Registry) -> None:
    zone = plan.one(ZONE)
    record = plan.one(RECORD, f"{cell.name}-delegation-ns")
    assert zone.inputs["name"] == registry.zone_name(cell) == f"{cell.name}.cells.acme-corp.net"
    assert record.inputs["name"] == zone.inputs["name"]
    assert record.inputs["type"] == "NS"
    assert record.inputs["zoneId"] == registry.organization.aws.parent_zone_id
    assert record.inputs["records"] == zone.outputs["nameServers"]
    assert len(record.inputs["records"]) == 4
    delegation = provider_named(plan, f"{cell.name}-dns-delegation")
    assert assumed_role(delegation) == management_outputs(registry)[mgmt.DNS_DELEGATION_ROLE_ARN]
    # The delegation role lets a session write only the record of the cell its `cell` tag names.
    (assume,) = json.loads(delegation.inputs["assumeRoles"])
    assert assume["tags"] == {"cell": cell.name}
    assert assume["sessionName"] == f"honeycomb-{cell.name}-dns"
    assert plan.outputs["zoneName"] == zone.inputs["name"]
    assert plan.outputs["nameServers"] == zone.outputs["nameServers"]


def test_deployer_is_trusted_only_by_ci_and_read_only_by_the_management_account(
    plan: StackPlan, cell: AwsCell, registry: Registry
) -> None:
    management = registry.organization.aws.management_account_id
    ci_role = management_outputs(registry)[mgmt.CI_ROLE_ARN]
    deployer = json.loads(plan.one("aws:iam/role:Role", f"{cell.name}-deployer").inputs["assumeRolePolicy"])
    assert {json.dumps(s["Principal"]) for s in deployer["Statement"]} == {json.dumps({"AWS": ci_role})}
    assert deployer["Statement"][0]["Condition"]["StringEquals"] == {"aws:PrincipalAccount": management}
    read_only = json.loads(plan.one("aws:iam/role:Role", f"{cell.name}-read-only").inputs["assumeRolePolicy"])
    assert read_only["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{management}:root"}
    assert read_only["Statement"][0]["Condition"]["ArnLike"] == {"aws:PrincipalArn": iam.sso_role_pattern(management)}
    assert plan.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"{cell.name}-deployer-read").inputs[
        "policyArn"
    ] == iam.managed_policy_arn(iam.READ_ONLY_ACCESS)
    reach = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", f"{cell.name}-deployer-cluster").inputs["policy"])
    assert reach["Statement"][0]["Resource"] == plan.one(CLUSTER).outputs["arn"]


def test_the_zone_is_protected_in_prod_only(plan: StackPlan, cell: AwsCell) -> None:
    assert plan.one(ZONE).protect is (cell.environment == Environment.prod)


def test_oam_link_points_to_the_sink_of_the_cell_region(plan: StackPlan, cell: AwsCell, registry: Registry) -> None:
    link = plan.one("aws:oam/link:Link")
    assert link.inputs["sinkIdentifier"] == management_outputs(registry)[mgmt.OAM_SINK_ARNS][cell.region]
    assert f":{cell.region}:" in link.inputs["sinkIdentifier"]
    assert sorted(link.inputs["resourceTypes"]) == sorted(RESOURCE_TYPES)
    assert link.inputs["labelTemplate"] == LABEL_TEMPLATE == "$AccountName"
    assert link.outputs["arn"].startswith(f"arn:aws:oam:{cell.region}:{expected_account(cell)}:link/")


def test_composite_health_alarm_watches_every_standard_alarm(plan: StackPlan, cell: AwsCell) -> None:
    composite = plan.one("aws:cloudwatch/compositeAlarm:CompositeAlarm")
    assert composite.inputs["alarmName"] == f"{cell.name}-health" == plan.outputs["healthAlarmName"]
    alarms = plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    names = sorted(a.inputs["name"] for a in alarms)
    rule = composite.inputs["alarmRule"]
    assert sorted(re.findall(r'ALARM\("([^"]+)"\)', rule)) == names
    assert rule.count(" OR ") == len(names) - 1
    assert {a.urn for a in alarms} <= set(composite.depends_on)
    nat_alarms = [n for n in names if n.startswith(f"{cell.name}-nat-")]
    assert len(nat_alarms) == len(plan.of_type(NAT))
    eks = {a.inputs["dimensions"].get("ClusterName") for a in alarms if a.inputs.get("namespace") == "AWS/EKS"}
    assert eks == {cell.name}


def test_the_ingress_alarm_queries_the_load_balancer_kubernetes_made(plan: StackPlan, cell: AwsCell) -> None:
    """The NLB's name is Kubernetes's, unknown to Pulumi: the alarm is a Metrics Insights query over it."""
    alarm = plan.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"{cell.name}-ingress-unreachable")
    [query] = alarm.inputs["metricQueries"]
    assert query["expression"].startswith('SELECT MIN(HealthyHostCount) FROM SCHEMA("AWS/NetworkELB",')
    assert query["returnData"] is True and query["period"] % 60 == 0
    assert re.fullmatch(r"[a-z][A-Za-z0-9_]*", query["id"])
    # PutMetricAlarm takes either a metric or `Metrics`, never both.
    assert not {"namespace", "metricName", "statistic", "dimensions", "period"} & set(alarm.inputs)
    assert alarm.inputs["comparisonOperator"] == "LessThanThreshold" and alarm.inputs["threshold"] == 1


def test_missing_management_outputs_are_clear_errors(registry: Registry) -> None:
    outputs = management_outputs(registry)
    outputs[mgmt.ACCOUNT_IDS] = {}
    with pytest.raises(Exception, match=r"no entry 'gamma'.*pulumi up --stack management"):
        run_stack("cell-gamma", registry, stack_outputs={"management": outputs})
    outputs = management_outputs(registry)
    outputs[mgmt.OAM_SINK_ARNS] = {"us-east-1": "arn:aws:oam:us-east-1:100000000002:sink/x"}
    with pytest.raises(Exception, match=r"oamSinkArns.*no entry 'eu-west-1'"):
        run_stack("cell-gamma", registry, stack_outputs={"management": outputs})
    outputs = management_outputs(registry)
    del outputs[mgmt.CI_ROLE_ARN]
    with pytest.raises(Exception, match=r"no output ciRoleArn: run `pulumi up --stack management`"):
        run_stack("cell-gamma", registry, stack_outputs={"management": outputs})


def test_management_stack_name_comes_from_config(registry: Registry) -> None:
    outputs = management_outputs(registry)
    outputs[mgmt.ACCOUNT_IDS] = {"gamma": "333333333333"}
    plan = run_stack(
        "cell-gamma",
        registry,
        config={mgmt.MANAGEMENT_STACK_CONFIG: "acme/honeycomb/mgmt-blue"},
        stack_outputs={"mgmt-blue": outputs},
    )
    # The mocks answer only for `mgmt-blue` with this account: the program read that stack.
    assert assumed_role(provider_named(plan, "gamma-aws")).startswith("arn:aws:iam::333333333333:role/")


def test_the_policy_pack_finds_nothing(plan: StackPlan, registry: Registry) -> None:
    from policies.evaluate import evaluate

    accounts = {c.name: expected_account(c) for c in registry.aws_cells}
    findings = evaluate(plan.resources, registry=registry, account_ids=accounts)
    assert findings == [], "\n".join(f"{f.policy}: {f.message}" for f in findings)


# --- a cell file change changes exactly what it should ---------------------------------------


def _inputs_by_urn(plan: StackPlan) -> dict[str, str]:
    return {r.urn: json.dumps(r.inputs, sort_keys=True, default=str) for r in plan.resources}


def _changed(before: StackPlan, after: StackPlan) -> set[str]:
    a, b = _inputs_by_urn(before), _inputs_by_urn(after)
    assert a.keys() == b.keys(), "a cell file change must not add, remove or rename resources"
    return {urn for urn in a if a[urn] != b[urn]}


def _aws(plan: StackPlan, urns: set[str]) -> set[str]:
    by_urn = plan.by_urn()
    return {by_urn[u].name for u in urns if by_urn[u].type.startswith("aws:")}


def test_the_node_group_is_auto_named_so_its_replacement_can_come_first(registry: Registry) -> None:
    """An instance type change replaces the group, create before delete: two groups of one name cannot exist."""
    nodes = plan_of(registry, "alpha").one(NODE_GROUP)
    assert "nodeGroupName" not in nodes.inputs
    assert nodes.outputs["nodeGroupName"].startswith("alpha-nodes-")
    assert "nodeGroupName" not in nodes.ignore_changes


def test_size_change_resizes_only_the_node_group(registry: Registry, registry_copy, edit_yaml) -> None:
    edit_yaml(registry_copy / "cells" / "alpha.yaml", lambda d: d.update(size="medium"))
    changed_registry = load_registry(registry_copy)
    before, after = plan_of(registry, "alpha"), run_stack("cell-alpha", changed_registry)
    changed = _changed(before, after)
    assert _aws(before, changed) == {"alpha-nodes"}
    nodes = after.one(NODE_GROUP).inputs
    assert nodes["scalingConfig"] == {"minSize": 3, "desiredSize": 4, "maxSize": 8}
    assert nodes["instanceTypes"] == ["m6i.xlarge"]
    # Outside AWS, only the workloads (replicas, resources per size) may follow the size.
    assert all(before.by_urn()[u].type.startswith(("aws:", "kubernetes:")) for u in changed)


def test_cidr_change_readdresses_only_the_vpc_and_subnets(registry: Registry, registry_copy, edit_yaml) -> None:
    edit_yaml(registry_copy / "cells" / "alpha.yaml", lambda d: d["network"].update(cidr="10.33.0.0/16"))
    changed_registry = load_registry(registry_copy)
    before, after = plan_of(registry, "alpha"), run_stack("cell-alpha", changed_registry)
    changed = _changed(before, after)
    assert _aws(before, changed) == {"alpha-vpc"} | {f"alpha-{t}-{z}" for t in ("public", "private") for z in "abc"}
    assert changed == {u for u in changed if before.by_urn()[u].type in ("aws:ec2/vpc:Vpc", SUBNET)}
    nets = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in after.of_type(SUBNET)]
    assert all(n.subnet_of(ipaddress.IPv4Network("10.33.0.0/16")) for n in nets)


def test_unchanged_registry_gives_the_same_plan(registry: Registry) -> None:
    assert _changed(plan_of(registry, "dev-jdoe"), run_stack("cell-dev-jdoe", registry)) == set()


# --- pure helpers ---------------------------------------------------------------------------


def test_subnet_layout_of_a_16_and_a_20() -> None:
    big = cidr.subnet_layout("10.32.0.0/16")
    assert [str(n) for n in big.private] == ["10.32.0.0/18", "10.32.64.0/18", "10.32.128.0/18"]
    assert [str(n) for n in big.public] == ["10.32.192.0/20", "10.32.208.0/20", "10.32.224.0/20"]
    small = cidr.subnet_layout("10.200.0.0/20")
    assert [str(n) for n in small.private] == ["10.200.0.0/22", "10.200.4.0/22", "10.200.8.0/22"]
    assert [str(n) for n in small.public] == ["10.200.12.0/24", "10.200.13.0/24", "10.200.14.0/24"]


@given(
    base=st.integers(min_value=0, max_value=2**24 - 1).map(lambda n: ipaddress.IPv4Address((10 << 24) | n)),
    prefix=st.integers(min_value=16, max_value=20),
    zones=st.integers(min_value=1, max_value=3),
)
def test_subnet_layout_is_inside_disjoint_and_deterministic(
    base: ipaddress.IPv4Address, prefix: int, zones: int
) -> None:
    net = ipaddress.IPv4Network(f"{base}/{prefix}", strict=False)
    layout = cidr.subnet_layout(net, zones)
    assert len(layout.public) == len(layout.private) == zones
    assert all(cidr.contains(net, n) for n in layout.all)
    assert cidr.overlapping(layout.all) == []
    assert layout == cidr.subnet_layout(str(net), zones)


@pytest.mark.parametrize(("value", "zones", "message"), [("10.0.0.0/25", 3, "too small"), ("10.0.0.0/16", 4, "1 to 3")])
def test_subnet_layout_rejects_what_it_cannot_carve(value: str, zones: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cidr.subnet_layout(value, zones)


def test_host_bits_are_an_error_not_silently_dropped() -> None:
    with pytest.raises(ValueError, match="host bits"):
        cidr.network("10.32.0.1/16")


def test_deployer_trust_policy_requires_ci_account_and_session_name() -> None:
    doc = json.loads(iam.deployer_trust_policy("arn:aws:iam::100000000001:role/honeycomb-ci", "100000000001"))
    assume = doc["Statement"][0]
    assert assume["Action"] == "sts:AssumeRole"
    assert assume["Principal"] == {"AWS": "arn:aws:iam::100000000001:role/honeycomb-ci"}
    assert assume["Condition"]["StringLike"] == {"sts:RoleSessionName": "honeycomb-*"}
    assert assume["Condition"]["StringEquals"] == {"aws:PrincipalAccount": "100000000001"}


def test_read_only_trust_policy_admits_only_identity_center_roles_of_the_management_account() -> None:
    trust = iam.read_only_trust_policy("100000000001")
    root = "arn:aws:iam::100000000001:root"
    sso = "arn:aws:iam::100000000001:role/aws-reserved/sso.amazonaws.com"

    def admits(principal_arn: str, account: str = "100000000001") -> bool:
        request = {"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": account}
        return trusts(trust, root, "sts:AssumeRole", request)

    assert admits(f"{sso}/AWSReservedSSO_read-only_0123456789abcdef")
    assert admits(f"{sso}/eu-west-1/AWSReservedSSO_cell-operator_0123456789abcdef")
    assert not admits("arn:aws:iam::100000000001:role/honeycomb-ci")
    assert not admits("arn:aws:iam::100000000001:role/AWSReservedSSO_admin_0123456789abcdef")  # not the SSO path
    assert not admits("arn:aws:iam::100000000001:user/alice")
    assert not admits(f"{sso}/AWSReservedSSO_read-only_0123456789abcdef", account="999999999999")


def test_deployer_policy_reaches_only_its_cluster() -> None:
    arn = iam.cluster_arn("123456789012", "eu-west-1", "gamma")
    assert arn == "arn:aws:eks:eu-west-1:123456789012:cluster/gamma"
    statements = json.loads(iam.deployer_policy(arn))["Statement"]
    assert statements[0]["Resource"] == arn
    assert all(s["Effect"] == "Allow" and "*" not in s["Action"] for s in statements)
    assert [s["Action"] for s in statements if s["Resource"] == "*"] == ["eks:ListClusters"]


def test_service_trust_policy_conditions() -> None:
    bare = json.loads(iam.service_trust_policy("eks.amazonaws.com"))["Statement"][0]
    assert bare == {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    scoped = json.loads(iam.flow_logs_trust_policy("123456789012", "eu-west-1"))["Statement"][0]
    assert scoped["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:ec2:eu-west-1:123456789012:vpc-flow-log/*"}


def test_flow_logs_policy_is_limited_to_its_log_group() -> None:
    arn = "arn:aws:logs:us-east-1:1:log-group:/honeycomb/alpha/vpc-flow-logs"
    write = json.loads(iam.flow_logs_policy(arn))["Statement"][0]
    assert write["Resource"] == [arn, f"{arn}:log-stream:*"]
    assert "logs:PutLogEvents" in write["Action"]


def test_kubeconfig_document() -> None:
    doc = json.loads(cluster_mod.kubeconfig("alpha", "https://x.eks", "Q0E=", "us-east-1", "arn:aws:iam::1:role/r"))
    assert doc["current-context"] == "alpha-us-east-1"
    user = doc["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["args"][:2] == ["eks", "get-token"]
    assert "arn:aws:iam::1:role/r" in user["args"]


def test_composite_rule() -> None:
    assert health.composite_rule(["a", "b"]) == 'ALARM("a") OR ALARM("b")'
    with pytest.raises(ValueError, match="at least one"):
        health.composite_rule([])
