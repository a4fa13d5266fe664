"""The guardrails on a real GCP cell: `cell-beta`'s plan passes them, and each fires once the plan is broken.

Every firing case starts from the resources the real program records and changes one thing,
so the rules are proven on the shapes a GCP cell really has (engine names, nested inputs,
provider inputs as the SDK sends them), not only on hand-built resources.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from cellctl.offline import PlannedResource, StackPlan, run_stack
from cells import Registry, load_registry
from policies import POLICIES
from policies.clusters import cluster_hardening
from policies.evaluate import Finding, evaluate
from policies.isolation import cell_isolation, no_cross_cell_references
from policies.placement import allowed_regions
from policies.tagging import required_tags

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
GCP_PROVIDER = "pulumi:providers:gcp"
LABELS = {"cell": "beta", "environment": "prod", "managed-by": "honeycomb"}


@pytest.fixture(scope="module")
def plan(registry: Registry) -> StackPlan:
    return run_stack("cell-beta", registry)


def changed(
    plan: StackPlan, type_: str, change: Callable[[dict[str, Any]], None], name: str | None = None
) -> tuple[list[PlannedResource], PlannedResource]:
    """The plan's resources with one resource's inputs changed; returns them and the changed resource."""
    target = plan.one(type_, name)
    inputs = copy.deepcopy(target.inputs)
    change(inputs)
    new = replace(target, inputs=inputs)
    return [new if r.urn == target.urn else r for r in plan.resources], new


def findings(records: list[PlannedResource], registry: Registry, *rules: Any) -> list[Finding]:
    return evaluate(records, registry=registry, policies=list(rules))


def gcp_resources(records: list[PlannedResource]) -> list[PlannedResource]:
    return [r for r in records if r.custom and r.type.startswith("gcp:")]


def test_the_whole_pack_passes_on_the_gcp_cell(plan: StackPlan, registry: Registry) -> None:
    assert findings(plan.resources, registry, *POLICIES) == []


def test_the_whole_pack_passes_on_a_gcp_dev_cell(registry_copy: Path) -> None:
    cell = {
        "name": "dev-gpol",
        "cloud": "gcp",
        "environment": "dev",
        "region": "us-central1",
        "wave": "preprod",
        "size": "small",
        "network": {"cidr": "10.211.0.0/20"},
        "capacity": {"max_tenants": 5, "max_daily_requests": 100000},
        "project_id": "acme-cell-dev-gpol",
        "owner": "pol@acme-corp.net",
    }
    (registry_copy / "cells" / "dev-gpol.yaml").write_text(yaml.safe_dump(cell))
    registry = load_registry(registry_copy)
    plan = run_stack("cell-dev-gpol", registry)
    assert gcp_resources(plan.resources)
    assert findings(plan.resources, registry, *POLICIES) == []


# --- labels -------------------------------------------------------------------------------------


def test_labels_pass_even_without_the_providers_default_labels(plan: StackPlan, registry: Registry) -> None:
    # Every labelable resource carries the labels itself, so they do not hang on the provider alone.
    records, _ = changed(plan, GCP_PROVIDER, lambda inputs: inputs.pop("defaultLabels"))
    assert findings(records, registry, required_tags) == []


def test_labels_fire_on_a_resource_without_them(plan: StackPlan, registry: Registry) -> None:
    records, _ = changed(plan, GCP_PROVIDER, lambda inputs: inputs.pop("defaultLabels"))
    records = [
        replace(r, inputs={k: v for k, v in r.inputs.items() if k != "labels"})
        if r.type == "gcp:dns/managedZone:ManagedZone"
        else r
        for r in records
    ]
    [finding] = findings(records, registry, required_tags)
    assert finding.name == "beta-zone"
    assert "lacks the labels cell, environment, managed-by" in finding.message


def test_labels_fire_on_another_cells_label(plan: StackPlan, registry: Registry) -> None:
    records, key = changed(plan, "gcp:kms/cryptoKey:CryptoKey", lambda inputs: inputs["labels"].update(cell="gamma"))
    [finding] = findings(records, registry, required_tags)
    assert finding.urn == key.urn
    assert "cell='gamma', expected 'beta'" in finding.message


def test_provider_labels_alone_are_enough(plan: StackPlan, registry: Registry) -> None:
    # And the other way round: with the provider's default labels, a resource's own may go.
    records, cluster = changed(plan, CLUSTER, lambda inputs: inputs.pop("resourceLabels"))
    assert findings(records, registry, required_tags) == []
    provider = plan.one(GCP_PROVIDER)
    assert json.loads(provider.inputs["defaultLabels"]) == LABELS
    assert cluster.provider == provider.urn


# --- regions ------------------------------------------------------------------------------------


def test_regions_pass_in_the_cells_region(plan: StackPlan, registry: Registry) -> None:
    assert registry.cell("beta").region in registry.organization.gcp.allowed_regions
    assert findings(plan.resources, registry, allowed_regions) == []


def test_regions_fire_on_a_provider_outside_the_allowed_ones(plan: StackPlan, registry: Registry) -> None:
    records, provider = changed(plan, GCP_PROVIDER, lambda inputs: inputs.update(region="asia-east1"))
    [finding] = findings(records, registry, allowed_regions)
    assert finding.urn == provider.urn
    assert "GCP region asia-east1; allowed: europe-west1, us-central1" in finding.message


def test_regions_fire_on_a_resource_that_names_another_region(plan: StackPlan, registry: Registry) -> None:
    records, subnet = changed(
        plan, "gcp:compute/subnetwork:Subnetwork", lambda inputs: inputs.update(region="us-east4")
    )
    records, cluster = changed(
        StackPlan(plan.stack, records), CLUSTER, lambda inputs: inputs.update(location="asia-northeast1-a")
    )
    assert {f.urn for f in findings(records, registry, allowed_regions)} == {subnet.urn, cluster.urn}


# --- isolation ----------------------------------------------------------------------------------


def test_isolation_passes_on_the_cells_project(plan: StackPlan, registry: Registry) -> None:
    assert findings(plan.resources, registry, cell_isolation, no_cross_cell_references) == []


def test_isolation_fires_on_every_resource_when_the_provider_targets_another_project(
    plan: StackPlan, registry: Registry
) -> None:
    monitoring = registry.organization.gcp.monitoring_project
    records, _ = changed(plan, GCP_PROVIDER, lambda inputs: inputs.update(project=monitoring))
    found = findings(records, registry, cell_isolation)
    assert {f.urn for f in found} == {r.urn for r in gcp_resources(records)}
    assert all(f"project {monitoring}, not cell beta's project acme-cell-beta" in f.message for f in found)


def test_isolation_fires_on_a_resource_that_overrides_the_project(plan: StackPlan, registry: Registry) -> None:
    # Through the cell's own provider, but pointed at another project by its own `project` input.
    monitoring = registry.organization.gcp.monitoring_project
    records, zone = changed(plan, "gcp:dns/managedZone:ManagedZone", lambda inputs: inputs.update(project=monitoring))
    [finding] = findings(records, registry, cell_isolation)
    assert finding.urn == zone.urn
    assert f"sets project {monitoring}, not cell beta's project acme-cell-beta" in finding.message


def test_isolation_fires_on_a_default_provider(plan: StackPlan, registry: Registry) -> None:
    cluster = plan.one(CLUSTER)
    records = [replace(r, provider=None) if r.urn == cluster.urn else r for r in plan.resources]
    [finding] = findings(records, registry, cell_isolation)
    assert finding.urn == cluster.urn
    assert "default gcp provider" in finding.message or "default provider, which" in finding.message


def test_isolation_fires_when_the_delegation_provider_writes_anything_else(plan: StackPlan, registry: Registry) -> None:
    delegation = plan.one("pulumi:providers:aws")
    zone = plan.one("gcp:dns/managedZone:ManagedZone")
    rogue = replace(zone, type="aws:route53/zone:Zone", urn=zone.urn + "-rogue", provider=delegation.urn)
    [finding] = findings([*plan.resources, rogue], registry, cell_isolation)
    assert finding.urn == rogue.urn
    assert "may only write the cell's NS record" in finding.message


def test_isolation_fires_on_another_cells_names(plan: StackPlan, registry: Registry) -> None:
    records, policy = changed(
        plan,
        "gcp:monitoring/alertPolicy:AlertPolicy",
        lambda inputs: inputs["documentation"].update(content="see api.gamma.cells.acme-corp.net"),
    )
    [finding] = findings(records, registry, no_cross_cell_references)
    assert finding.urn == policy.urn
    assert "gamma.cells.acme-corp.net" in finding.message


# --- private nodes and the control plane ---------------------------------------------------------


def test_cluster_hardening_passes_on_the_gcp_cells_cluster(plan: StackPlan, registry: Registry) -> None:
    assert findings(plan.resources, registry, cluster_hardening) == []


def test_cluster_hardening_fires_on_public_nodes(plan: StackPlan, registry: Registry) -> None:
    records, cluster = changed(
        plan, CLUSTER, lambda inputs: inputs["privateClusterConfig"].update(enablePrivateNodes=False)
    )
    [finding] = findings(records, registry, cluster_hardening)
    assert finding.urn == cluster.urn
    assert "has public nodes" in finding.message


def test_cluster_hardening_fires_on_a_node_pool_that_turns_private_nodes_off(
    plan: StackPlan, registry: Registry
) -> None:
    records, pool = changed(plan, NODE_POOL, lambda inputs: inputs.update(networkConfig={"enablePrivateNodes": False}))
    [finding] = findings(records, registry, cluster_hardening)
    assert finding.urn == pool.urn


def test_cluster_hardening_fires_on_a_prod_endpoint_open_to_the_world(plan: StackPlan, registry: Registry) -> None:
    def open_up(inputs: dict[str, Any]) -> None:
        inputs["privateClusterConfig"]["enablePrivateEndpoint"] = False
        inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"].append({"cidrBlock": "0.0.0.0/0"})

    records, cluster = changed(plan, CLUSTER, open_up)
    [finding] = findings(records, registry, cluster_hardening)
    assert finding.urn == cluster.urn
    assert "authorized for 0.0.0.0/0" in finding.message


def test_cluster_hardening_fires_on_unencrypted_secrets(plan: StackPlan, registry: Registry) -> None:
    records, cluster = changed(plan, CLUSTER, lambda inputs: inputs.update(databaseEncryption={"state": "DECRYPTED"}))
    [finding] = findings(records, registry, cluster_hardening)
    assert finding.urn == cluster.urn
    assert "does not encrypt Kubernetes secrets" in finding.message
