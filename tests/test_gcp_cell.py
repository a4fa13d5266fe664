"""The GCP cell (`cell-beta`, and a generated dev cell) run under the offline engine's mocks."""

from __future__ import annotations

import inspect
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_gcp
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pulumi.runtime.sync_await import _sync_await

from cellctl.mocks import fake_project_number
from cellctl.offline import PlannedResource, StackPlan, _drop_follow_on_errors, run_stack
from cells import GcpCell, Registry, load_registry
from components.cidr import gke_ranges, max_pods_per_node
from components.gcp.monitoring_scope import node_service_account_email
from stacks import workloads

CELL = "beta"
PROJECT = "acme-cell-beta"
GROUPS = {
    "platform-admins": "group:platform-admins@acme-corp.net",
    "cell-operators": "group:cell-operators@acme-corp.net",
    "engineering": "group:engineering@acme-corp.net",
    "support": "group:support@acme-corp.net",
}
ADMIN_ROLES = {"roles/editor", "roles/resourcemanager.projectIamAdmin", "roles/container.admin"}
DEV_CELL = {
    "name": "dev-gjoe",
    "cloud": "gcp",
    "environment": "dev",
    "region": "us-central1",
    "wave": "preprod",
    "size": "small",
    "network": {"cidr": "10.210.0.0/20"},
    "capacity": {"max_tenants": 5, "max_daily_requests": 100000},
    "project_id": "acme-cell-dev-gjoe",
    "owner": "joe.gcp@acme-corp.net",
}


@pytest.fixture(scope="module")
def plan(registry: Registry) -> StackPlan:
    return run_stack(f"cell-{CELL}", registry)


@pytest.fixture
def plan_with(registry_copy: Path) -> Callable[..., StackPlan]:
    """Plan a stack of an edited registry copy: `plan_with(stack, edit=fn(cells_dir))`."""

    def run(stack: str, edit: Callable[[Path], None] | None = None, **kwargs: Any) -> StackPlan:
        if edit is not None:
            edit(registry_copy / "cells")
        return run_stack(stack, load_registry(registry_copy), **kwargs)

    return run


def add_dev_cell(cells: Path) -> None:
    (cells / f"{DEV_CELL['name']}.yaml").write_text(yaml.safe_dump(DEV_CELL, sort_keys=False))


def gcp_resources(plan: StackPlan) -> list[PlannedResource]:
    return [r for r in plan.resources if r.custom and r.type.startswith("gcp:")]


def sdk_args(token: str) -> set[str]:
    """The argument names of a pulumi_gcp resource class, from its token (gcp:container/cluster:Cluster)."""
    module, cls = token.split(":", 1)[1].split(":")
    resource = getattr(getattr(pulumi_gcp, module.split("/")[0]), cls)
    return set(inspect.signature(resource._internal_init).parameters)


def label_field(token: str) -> str | None:
    """Where a GCP resource takes its resource labels (a notification channel's `labels` are its settings)."""
    args = sdk_args(token)
    for arg, field in (("user_labels", "userLabels"), ("resource_labels", "resourceLabels"), ("labels", "labels")):
        if arg in args:
            return field
    return None


def provider_of(plan: StackPlan, token: str, name: str) -> str:
    return plan.one(token, name).urn


def iam_members(plan: StackPlan) -> set[tuple[str, str]]:
    """(member, role) of every human grant (service account grants excluded)."""
    return {
        (r.inputs["member"], r.inputs["role"])
        for r in plan.of_type("gcp:projects/iAMMember:IAMMember")
        if not r.inputs["member"].startswith("serviceAccount:")
    }


# --- isolation ----------------------------------------------------------------------------------


def test_urns_are_unique(plan: StackPlan) -> None:
    urns = [r.urn for r in plan.resources]
    assert len(urns) == len(set(urns))


def test_the_cell_provider_targets_the_cells_project_region_and_labels(plan: StackPlan) -> None:
    provider = plan.one("pulumi:providers:gcp")
    assert provider.name == f"{CELL}-gcp"
    assert provider.parent is None or provider.parent.endswith("pulumi:pulumi:Stack::honeycomb-cell-beta")
    assert provider.inputs["project"] == PROJECT
    assert provider.inputs["region"] == "europe-west1"
    labels = provider.inputs["defaultLabels"]
    labels = json.loads(labels) if isinstance(labels, str) else labels
    assert labels == {"cell": CELL, "environment": "prod", "managed-by": "honeycomb"}


def test_every_resource_uses_an_explicit_provider_of_its_cloud(plan: StackPlan) -> None:
    gcp_provider = provider_of(plan, "pulumi:providers:gcp", f"{CELL}-gcp")
    dns_provider = provider_of(plan, "pulumi:providers:aws", f"{CELL}-dns-delegation")
    checked = 0
    for resource in plan.custom_resources:
        if resource.type.startswith("pulumi:providers:"):
            continue
        assert resource.provider is not None, f"{resource.urn} uses a default provider"
        if resource.type.startswith("gcp:"):
            assert resource.provider == gcp_provider, resource.urn
            checked += 1
        elif resource.type.startswith("aws:"):
            assert resource.type == "aws:route53/record:Record"
            assert resource.provider == dns_provider
    assert checked == len(gcp_resources(plan)) > 20


def test_every_gcp_resource_targets_the_cells_project(plan: StackPlan) -> None:
    for resource in gcp_resources(plan):
        if "project" in sdk_args(resource.type):
            assert resource.inputs.get("project") == PROJECT, resource.urn
        else:
            # KMS keys and their grants live under the key ring, which names the project.
            assert resource.outputs["id"].startswith(f"projects/{PROJECT}/"), resource.urn


def test_labels_on_every_labelable_gcp_resource(plan: StackPlan) -> None:
    tags = {"cell": CELL, "environment": "prod", "managed-by": "honeycomb"}
    labelled = set()
    for resource in gcp_resources(plan):
        field = label_field(resource.type)
        if field is not None:
            assert resource.inputs.get(field) == tags, resource.urn
            labelled.add(resource.type)
    assert {
        "gcp:container/cluster:Cluster",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:dns/managedZone:ManagedZone",
        "gcp:monitoring/alertPolicy:AlertPolicy",
    } <= labelled
    # The nodes' VM labels too.
    assert plan.one("gcp:container/nodePool:NodePool").inputs["nodeConfig"]["resourceLabels"] == tags


def test_resources_wait_for_the_project_services(plan: StackPlan) -> None:
    services = plan.of_type("gcp:projects/service:Service")
    assert {s.inputs["service"] for s in services} >= {"container.googleapis.com", "compute.googleapis.com"}
    assert all(s.inputs["disableOnDestroy"] is False for s in services)
    apis = {s.urn for s in services}
    for resource in gcp_resources(plan):
        if resource.type != "gcp:projects/service:Service":
            assert apis <= set(resource.depends_on), resource.urn


# --- network ------------------------------------------------------------------------------------


def test_subnet_and_secondary_ranges_inside_the_cidr_without_overlap(plan: StackPlan, registry: Registry) -> None:
    cidr = registry.cell(CELL).network.cidr
    subnet = plan.one("gcp:compute/subnetwork:Subnetwork")
    ranges = [ipaddress.IPv4Network(subnet.inputs["ipCidrRange"])] + [
        ipaddress.IPv4Network(r["ipCidrRange"]) for r in subnet.inputs["secondaryIpRanges"]
    ]
    assert len(ranges) == 3
    assert all(r.subnet_of(cidr) for r in ranges)
    assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert subnet.inputs["logConfig"]["flowSampling"] > 0
    assert subnet.inputs["region"] == "europe-west1"
    assert {r["rangeName"] for r in subnet.inputs["secondaryIpRanges"]} == {f"{CELL}-pods", f"{CELL}-services"}


def test_custom_mode_vpc_with_router_and_nat(plan: StackPlan) -> None:
    vpc = plan.one("gcp:compute/network:Network")
    assert vpc.inputs["autoCreateSubnetworks"] is False
    router = plan.one("gcp:compute/router:Router")
    assert router.inputs["network"] == vpc.outputs["id"]
    nat = plan.one("gcp:compute/routerNat:RouterNat")
    assert nat.inputs["router"] == router.inputs["name"]
    assert nat.inputs["subnetworks"][0]["name"] == plan.one("gcp:compute/subnetwork:Subnetwork").outputs["id"]
    assert nat.inputs["logConfig"]["enable"] is True


@given(
    base=st.integers(min_value=0, max_value=255),
    prefix=st.integers(min_value=16, max_value=20),
)
def test_gke_ranges_are_deterministic_disjoint_and_inside(base: int, prefix: int) -> None:
    cidr = ipaddress.IPv4Network(f"10.{base}.0.0/{prefix}", strict=False)
    ranges = gke_ranges(cidr)
    assert ranges == gke_ranges(str(cidr))
    assert all(r.subnet_of(cidr) for r in ranges.all)
    assert not any(a.overlaps(b) for i, a in enumerate(ranges.all) for b in ranges.all[i + 1 :])
    assert ranges.pods.num_addresses == cidr.num_addresses // 2


def test_gke_ranges_layout_of_a_16() -> None:
    ranges = gke_ranges("10.48.0.0/16")
    assert (str(ranges.pods), str(ranges.nodes), str(ranges.services)) == (
        "10.48.0.0/17",
        "10.48.128.0/19",
        "10.48.160.0/19",
    )


def test_max_pods_per_node_shrinks_for_small_ranges_and_explains_when_impossible() -> None:
    assert max_pods_per_node("10.0.0.0/17", 17) == 110
    assert max_pods_per_node("10.0.0.0/21", 17) == 32
    with pytest.raises(ValueError, match="cannot hold 300 nodes"):
        max_pods_per_node("10.0.0.0/21", 300)


# --- cluster ------------------------------------------------------------------------------------


def test_cluster_has_private_nodes_and_a_restricted_control_plane(plan: StackPlan) -> None:
    cluster = plan.one("gcp:container/cluster:Cluster").inputs
    nodes_cidr = plan.one("gcp:compute/subnetwork:Subnetwork").inputs["ipCidrRange"]
    assert cluster["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": True}
    # People and CI come in through the IAM-authorized DNS endpoint, not an IP endpoint.
    assert cluster["controlPlaneEndpointsConfig"]["dnsEndpointConfig"] == {"allowExternalTraffic": True}
    authorized = cluster["masterAuthorizedNetworksConfig"]
    assert [b["cidrBlock"] for b in authorized["cidrBlocks"]] == [nodes_cidr]
    assert authorized["gcpPublicCidrsAccessEnabled"] is False
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["enableShieldedNodes"] is True
    assert cluster["workloadIdentityConfig"]["workloadPool"] == f"{PROJECT}.svc.id.goog"
    assert cluster["releaseChannel"]["channel"] == "STABLE"
    assert cluster["deletionProtection"] is True
    assert cluster["location"] == "europe-west1"
    assert cluster["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": f"{CELL}-pods",
        "servicesSecondaryRangeName": f"{CELL}-services",
    }


def test_secrets_are_encrypted_with_the_cells_key_usable_by_the_gke_agent(plan: StackPlan) -> None:
    key = plan.one("gcp:kms/cryptoKey:CryptoKey")
    cluster = plan.one("gcp:container/cluster:Cluster")
    assert cluster.inputs["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key.outputs["id"]}
    assert key.inputs["keyRing"] == plan.one("gcp:kms/keyRing:KeyRing").outputs["id"]
    assert key.inputs["rotationPeriod"]
    grant = plan.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    number = fake_project_number(PROJECT)
    assert grant.inputs == {
        "cryptoKeyId": key.outputs["id"],
        "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "member": f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com",
    }
    assert grant.urn in cluster.depends_on


def test_the_gke_service_agent_is_created_before_its_key_grant(plan: StackPlan) -> None:
    """GCP refuses a grant to a service agent that does not exist yet: the cell creates it first."""
    agent = plan.one("gcp:projects/serviceIdentity:ServiceIdentity")
    assert agent.inputs == {"project": PROJECT, "service": "container.googleapis.com"}
    grant = plan.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert grant.inputs["member"] == agent.outputs["member"]
    assert agent.urn in grant.depends_on
    services = {r.urn for r in plan.of_type("gcp:projects/service:Service")}
    assert services <= set(agent.depends_on)


def test_the_key_grant_names_the_agent_even_when_generate_service_identity_returns_no_email(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`generateServiceIdentity` may succeed without an email; the provider then leaves `member` empty."""
    from cellctl.mocks import HANDLERS

    token = "gcp:projects/serviceIdentity:ServiceIdentity"
    original = HANDLERS.resources[token]
    monkeypatch.setitem(HANDLERS.resources, token, lambda ctx: {**original(ctx), "email": None, "member": None})
    plan = run_stack(f"cell-{CELL}", registry)
    grant = plan.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    number = fake_project_number(PROJECT)
    assert grant.inputs["member"] == f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"
    assert plan.one(token).urn in grant.depends_on


def test_the_gke_service_agent_needs_a_project_number() -> None:
    from components.gcp.cluster import gke_service_agent

    assert gke_service_agent("123456789012") == "service-123456789012@container-engine-robot.iam.gserviceaccount.com"
    with pytest.raises(ValueError, match="project number is digits"):
        gke_service_agent("acme-cell-beta")


def test_node_pool_follows_the_cells_size_on_its_own_service_account(plan: StackPlan, registry: Registry) -> None:
    sizing = registry.cell(CELL).sizing  # medium
    pool = plan.one("gcp:container/nodePool:NodePool").inputs
    assert pool["nodeConfig"]["machineType"] == sizing.machine_type == "e2-standard-4"
    assert pool["autoscaling"]["totalMinNodeCount"] == sizing.min
    assert pool["autoscaling"]["totalMaxNodeCount"] == sizing.max
    assert pool["initialNodeCount"] * 3 >= sizing.desired
    assert pool["cluster"] == f"{CELL}-gke"
    assert pool["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert pool["nodeConfig"]["shieldedInstanceConfig"]["enableSecureBoot"] is True

    # The management stack creates the account (so that it can grant it image pulls); the cell uses it.
    assert not plan.of_type("gcp:serviceaccount/account:Account")
    email = f"{CELL}-nodes@{PROJECT}.iam.gserviceaccount.com"
    assert pool["nodeConfig"]["serviceAccount"] == email
    node_roles = {
        r.inputs["role"]
        for r in plan.of_type("gcp:projects/iAMMember:IAMMember")
        if r.inputs["member"] == f"serviceAccount:{email}"
    }
    assert node_roles == {"roles/container.defaultNodeServiceAccount"}


def test_the_cluster_waits_for_its_node_accounts_grants(plan: StackPlan) -> None:
    """The default pool's nodes start with the cluster: without their role they never report in."""
    cluster = plan.one("gcp:container/cluster:Cluster")
    pool = plan.one("gcp:container/nodePool:NodePool")
    email = cluster.inputs["nodeConfig"]["serviceAccount"]
    grants = [
        r for r in plan.of_type("gcp:projects/iAMMember:IAMMember") if r.inputs["member"] == f"serviceAccount:{email}"
    ]
    assert grants
    for grant in grants:
        assert grant.urn in cluster.depends_on
        assert grant.urn in pool.depends_on


def test_kubeconfig_uses_the_gcloud_auth_plugin_and_is_secret(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    deploy = workloads.deploy

    def spy(registry: Registry, cell: GcpCell, kubeconfig: Any, **kwargs: Any) -> Any:
        seen["kubeconfig"] = kubeconfig
        return deploy(registry, cell, kubeconfig, **kwargs)

    monkeypatch.setattr(workloads, "deploy", spy)
    plan = run_stack(f"cell-{CELL}", registry)
    assert _sync_await(seen["kubeconfig"].is_secret()) is True
    config = yaml.safe_load(plan.outputs["kubeconfig"])
    cluster = plan.one("gcp:container/cluster:Cluster").outputs
    dns_endpoint = cluster["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["endpoint"]
    assert dns_endpoint.endswith(".europe-west1.gke.goog")
    # The DNS endpoint's certificate is publicly trusted: no cluster CA pinned in the file.
    assert config["clusters"][0]["cluster"] == {"server": f"https://{dns_endpoint}"}
    assert plan.outputs["clusterEndpoint"] == dns_endpoint
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert config["current-context"] == f"gke_{PROJECT}_europe-west1_{CELL}-gke"


def test_a_size_change_touches_only_the_node_pool(plan: StackPlan, plan_with: Callable[..., StackPlan]) -> None:
    def to_large(cells: Path) -> None:
        path = cells / f"{CELL}.yaml"
        path.write_text(path.read_text().replace("size: medium", "size: large"))

    large = plan_with(f"cell-{CELL}", to_large)
    before = {r.urn: r.inputs for r in gcp_resources(plan)}
    after = {r.urn: r.inputs for r in gcp_resources(large)}
    assert before.keys() == after.keys()
    changed = {urn.rsplit("::", 1)[-1] for urn in before if before[urn] != after[urn]}
    assert changed == {f"{CELL}-nodes"}
    pool = large.one("gcp:container/nodePool:NodePool").inputs
    assert pool["nodeConfig"]["machineType"] == "e2-standard-8"
    assert (pool["autoscaling"]["totalMinNodeCount"], pool["autoscaling"]["totalMaxNodeCount"]) == (6, 16)


def test_authorized_networks_from_stack_config(registry: Registry) -> None:
    plan = run_stack(f"cell-{CELL}", registry, config={"masterAuthorizedNetworks": '["203.0.113.0/24"]'})
    blocks = plan.one("gcp:container/cluster:Cluster").inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]
    assert [b["cidrBlock"] for b in blocks] == ["10.48.128.0/19", "203.0.113.0/24"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('["0.0.0.0/0"]', "every address"),
        ('["10.8.0.1/16"]', "no host bits"),
        ('"10.8.0.0/16"', "must be a list of CIDRs"),
        ('["vpn"]', "is not an IPv4 network"),
        ('["127.0.0.0/8"]', "overlaps 127.0.0.0/8, which no request comes from"),
        ('["224.0.0.0/4"]', "overlaps 224.0.0.0/4"),
        (json.dumps([f"10.{i}.0.0/16" for i in range(50)]), "lists 50 CIDRs; at most 49 fit"),
    ],
)
def test_bad_authorized_networks_are_clear_errors(registry: Registry, value: str, reason: str) -> None:
    with pytest.raises(ValueError, match="honeycomb:masterAuthorizedNetworks in stacks/") as err:
        run_stack(f"cell-{CELL}", registry, config={"masterAuthorizedNetworks": value})
    assert f"Pulumi.cell-{CELL}.yaml" in str(err.value) and reason in str(err.value)


def test_private_authorized_networks_are_the_point(registry: Registry) -> None:
    """The endpoint is the private one: a VPN's internal range is what the setting is for."""
    plan = run_stack(f"cell-{CELL}", registry, config={"masterAuthorizedNetworks": '["10.200.0.0/16"]'})
    blocks = plan.one("gcp:container/cluster:Cluster").inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]
    assert [b["cidrBlock"] for b in blocks] == ["10.48.128.0/19", "10.200.0.0/16"]


def test_a_long_cell_name_still_fits_gcp_name_limits(plan_with: Callable[..., StackPlan]) -> None:
    name = "a-rather-long-gcp-cell-name-xyz"  # 31 characters: `<name>-nodes` would be too long an account id

    def add(cells: Path) -> None:
        cell = {**DEV_CELL, "name": name, "project_id": "acme-long-cell-xyz", "network": {"cidr": "10.212.0.0/20"}}
        (cells / f"{name}.yaml").write_text(yaml.safe_dump(cell, sort_keys=False))

    plan = plan_with(f"cell-{name}", add)
    management = plan_with("management")
    accounts = management.of_type("gcp:serviceaccount/account:Account")
    (account,) = [a for a in accounts if a.inputs["project"] == "acme-long-cell-xyz"]
    assert 6 <= len(account.inputs["accountId"]) <= 30
    # The management stack creates the account the cell's nodes run as.
    email = node_service_account_email(name, "acme-long-cell-xyz")
    assert account.outputs["email"] == email == management.outputs["nodeServiceAccounts"][name]
    assert plan.one("gcp:container/nodePool:NodePool").inputs["nodeConfig"]["serviceAccount"] == email
    assert len(plan.one("gcp:container/cluster:Cluster").inputs["name"]) <= 40
    assert len(plan.one("gcp:container/nodePool:NodePool").inputs["name"]) <= 40


# --- DNS ----------------------------------------------------------------------------------------


def test_zone_and_its_delegation_in_the_parent_zone(plan: StackPlan, registry: Registry) -> None:
    zone = plan.one("gcp:dns/managedZone:ManagedZone")
    assert zone.inputs["dnsName"] == "beta.cells.acme-corp.net."
    assert zone.inputs["visibility"] == "public"
    assert zone.inputs["dnssecConfig"]["state"] == "on"
    assert zone.protect is True  # a prod cell's zone
    record = plan.one("aws:route53/record:Record")
    assert record.inputs["name"] == "beta.cells.acme-corp.net"
    assert record.inputs["type"] == "NS"
    assert record.inputs["zoneId"] == registry.organization.aws.parent_zone_id
    assert record.inputs["records"] == zone.outputs["nameServers"]
    assert len(record.inputs["records"]) == 4
    assert plan.outputs["zoneName"] == "beta.cells.acme-corp.net"
    assert plan.outputs["nameServers"] == zone.outputs["nameServers"]

    provider = plan.one("pulumi:providers:aws", f"{CELL}-dns-delegation").inputs
    roles = provider["assumeRoles"]
    roles = json.loads(roles) if isinstance(roles, str) else roles
    assert roles[0]["roleArn"] == "arn:aws:iam::100000000003:role/honeycomb-dns-delegation"


# --- IAM ----------------------------------------------------------------------------------------


def test_iam_members_match_the_prod_access_rules(plan: StackPlan) -> None:
    operator = f"projects/{PROJECT}/roles/honeycombCellOperator"
    expected = {
        (GROUPS["cell-operators"], operator),
        (GROUPS["engineering"], "roles/viewer"),
        (GROUPS["support"], "roles/viewer"),
        *((GROUPS["platform-admins"], role) for role in ADMIN_ROLES),
    }
    assert iam_members(plan) == expected
    role = plan.one("gcp:projects/iAMCustomRole:IAMCustomRole").inputs
    assert role["roleId"] == "honeycombCellOperator"
    assert {"container.clusters.getCredentials", "container.clusters.connect"} <= set(role["permissions"])
    assert not any(p.startswith(("resourcemanager.projects.setIam", "iam.")) for p in role["permissions"])


def test_dev_cell_owner_gets_admin_and_dev_rules_apply(plan_with: Callable[..., StackPlan]) -> None:
    plan = plan_with("cell-dev-gjoe", add_dev_cell)
    expected = {
        (GROUPS["engineering"], "roles/viewer"),
        *((GROUPS["platform-admins"], role) for role in ADMIN_ROLES),
        *(("user:joe.gcp@acme-corp.net", role) for role in ADMIN_ROLES),
    }
    assert iam_members(plan) == expected
    # And the rest of the cell follows the dev environment and its small /20.
    cluster = plan.one("gcp:container/cluster:Cluster").inputs
    assert cluster["releaseChannel"]["channel"] == "REGULAR"
    assert cluster["deletionProtection"] is False
    assert plan.one("gcp:dns/managedZone:ManagedZone").protect is False
    pool = plan.one("gcp:container/nodePool:NodePool").inputs
    assert pool["nodeConfig"]["machineType"] == "e2-standard-2"
    assert pool["maxPodsPerNode"] == 110  # 5 nodes fit the /21 pod range at /24 each
    assert all(
        r.inputs.get("project") == "acme-cell-dev-gjoe" for r in gcp_resources(plan) if "project" in sdk_args(r.type)
    )
    subnet = plan.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert ipaddress.IPv4Network(subnet["ipCidrRange"]).subnet_of(ipaddress.IPv4Network("10.210.0.0/20"))


# --- health and outputs ---------------------------------------------------------------------------


def test_health_alert_policy(plan: StackPlan) -> None:
    policy = plan.one("gcp:monitoring/alertPolicy:AlertPolicy")
    assert policy.inputs["displayName"] == "beta-health"
    assert policy.inputs["combiner"] == "OR"
    assert len(policy.inputs["conditions"]) >= 2
    assert any('cluster_name = "beta-gke"' in c["conditionThreshold"]["filter"] for c in policy.inputs["conditions"])
    # Behind GKE's passthrough load balancer the 5xx are ingress-nginx's, scraped by managed Prometheus.
    (ingress,) = [c for c in policy.inputs["conditions"] if c["displayName"] == "ingress 5xx"]
    text = ingress["conditionThreshold"]["filter"]
    assert 'metric.type = "prometheus.googleapis.com/nginx_ingress_controller_requests/counter"' in text
    assert 'resource.type = "prometheus_target"' in text and 'resource.labels.cluster = "beta-gke"' in text
    assert 'metric.labels.status = monitoring.regex.full_match("5..")' in text
    assert "https" not in text
    assert not plan.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert plan.outputs["healthPolicyName"] == policy.outputs["name"]
    assert plan.outputs["healthPolicyName"].startswith(f"projects/{PROJECT}/alertPolicies/")


def test_health_notification_channel_when_configured(registry: Registry) -> None:
    plan = run_stack(f"cell-{CELL}", registry, config={"healthNotificationEmail": "oncall@acme-corp.net"})
    channel = plan.one("gcp:monitoring/notificationChannel:NotificationChannel")
    assert channel.inputs["type"] == "email"
    assert channel.inputs["labels"] == {"email_address": "oncall@acme-corp.net"}
    policy = plan.one("gcp:monitoring/alertPolicy:AlertPolicy")
    assert policy.inputs["notificationChannels"] == [channel.outputs["name"]]


def test_stack_exports(plan: StackPlan) -> None:
    assert plan.outputs["projectId"] == PROJECT
    assert plan.outputs["projectNumber"] == fake_project_number(PROJECT)
    assert plan.outputs["networkName"] == f"{CELL}-vpc"
    assert plan.outputs["clusterName"] == f"{CELL}-gke"
    assert plan.outputs["nodeServiceAccount"] == f"{CELL}-nodes@{PROJECT}.iam.gserviceaccount.com"
    assert plan.outputs["healthPolicyDisplayName"] == "beta-health"


def test_missing_management_output_is_explained(registry: Registry) -> None:
    outputs = {
        "projectNumbers": {},
        "nodeServiceAccounts": {CELL: f"{CELL}-nodes@{PROJECT}.iam.gserviceaccount.com"},
        "dnsDelegationRoleArn": "arn:aws:iam::100000000003:role/honeycomb-dns-delegation",
    }
    with pytest.raises(Exception, match=r"(?s)no output projectNumbers\['beta'\].*pulumi up --stack management"):
        run_stack(f"cell-{CELL}", registry, stack_outputs={"management": outputs})


def test_a_node_account_management_has_not_created_is_explained(registry: Registry) -> None:
    outputs = {
        "projectNumbers": {CELL: "123456789012"},
        "nodeServiceAccounts": {},
        "dnsDelegationRoleArn": "arn:aws:iam::100000000003:role/honeycomb-dns-delegation",
    }
    with pytest.raises(Exception, match=r"(?s)no output nodeServiceAccounts\['beta'\].*pulumi up --stack management"):
        run_stack(f"cell-{CELL}", registry, stack_outputs={"management": outputs})


def test_workloads_are_deployed_on_the_cells_cluster(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []
    deploy = workloads.deploy

    def spy(registry: Registry, cell: GcpCell, kubeconfig: Any, **kwargs: Any) -> Any:
        calls.append((cell.name, cell))
        return deploy(registry, cell, kubeconfig, **kwargs)

    monkeypatch.setattr(workloads, "deploy", spy)
    run_stack(f"cell-{CELL}", registry)
    assert len(calls) == 1
    assert calls[0][0] == CELL
    assert isinstance(calls[0][1], GcpCell)


def test_management_stack_named_by_config(registry: Registry) -> None:
    outputs = {
        "projectNumbers": {CELL: "123456789012"},
        "nodeServiceAccounts": {CELL: f"other-nodes@{PROJECT}.iam.gserviceaccount.com"},
        "dnsDelegationRoleArn": "arn:aws:iam::100000000003:role/other-delegation",
    }
    plan = run_stack(
        f"cell-{CELL}",
        registry,
        config={"managementStack": "acme/honeycomb/management-next"},
        stack_outputs={"management-next": outputs},
    )
    assert plan.outputs["projectNumber"] == "123456789012"
    assert plan.outputs["nodeServiceAccount"] == f"other-nodes@{PROJECT}.iam.gserviceaccount.com"
    pool = plan.one("gcp:container/nodePool:NodePool")
    assert pool.inputs["nodeConfig"]["serviceAccount"] == f"other-nodes@{PROJECT}.iam.gserviceaccount.com"


def test_outputs_that_failed_with_the_program_stay_quiet() -> None:
    """A failed program used to log its error again for every dependent input, thousands of lines per test run."""
    seen: list[str] = []

    class Loop:
        def default_exception_handler(self, context: dict[str, Any]) -> None:
            seen.append(context["message"])

    _drop_follow_on_errors(Loop(), {"message": "Future exception was never retrieved", "exception": ValueError()})  # type: ignore[arg-type]
    _drop_follow_on_errors(Loop(), {"message": "Task exception was never retrieved"})  # type: ignore[arg-type]
    _drop_follow_on_errors(Loop(), {"message": "Exception in callback Handle._run()"})  # type: ignore[arg-type]
    assert seen == ["Exception in callback Handle._run()"]
