"""Every rule on the sample's real planned stacks: each passes there, and fires once one real resource is broken.

The firing cases start from the resources the real programs record (engine camelCase names,
providers as the SDK sends them) and change one thing, so the rules are proven on the shapes
the stacks really have.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from cellctl.offline import PlannedResource, StackPlan, run_stack
from cellctl.plan import account_ids
from cells import Registry
from policies import POLICIES
from policies.clusters import cluster_hardening
from policies.evaluate import Finding, evaluate
from policies.exposure import security_group_ingress
from policies.identity import iam_no_admin_wildcard, iam_trust_boundary
from policies.isolation import cell_isolation, no_cross_cell_references
from policies.public import no_public_access
from policies.rotation import kms_key_rotation
from policies.testing import eks_kubeconfig, gke_kubeconfig

STACKS = ("cell-alpha", "cell-beta", "management")


@pytest.fixture(scope="module")
def plans(registry: Registry) -> dict[str, StackPlan]:
    return {stack: run_stack(stack, registry) for stack in STACKS}


def findings(plan: StackPlan, records: list[PlannedResource], registry: Registry, *rules: Any) -> list[Finding]:
    return evaluate(
        records, registry=registry, account_ids=account_ids(registry), policies=list(rules), stack_config=plan.config
    )


def broken(
    plan: StackPlan, type_: str, name: str, change: Callable[[dict[str, Any]], None]
) -> tuple[list[PlannedResource], PlannedResource]:
    """The plan's resources with one resource's inputs changed (outputs follow, as after an update)."""
    records = plan.resources + plan.reads
    [target] = [r for r in records if r.type == type_ and r.name == name]
    inputs = copy.deepcopy(target.inputs)
    change(inputs)
    new = replace(target, inputs=inputs, outputs={**target.outputs, **inputs})
    return [new if r.urn == target.urn else r for r in records], new


def fires(
    plans: dict[str, StackPlan],
    registry: Registry,
    stack: str,
    rule: Any,
    type_: str,
    name: str,
    change: Callable[[dict[str, Any]], None],
) -> list[str]:
    plan = plans[stack]
    records, target = broken(plan, type_, name, change)
    found = findings(plan, records, registry, rule)
    assert found, f"{rule.name} did not fire"
    assert {f.urn for f in found} == {target.urn}
    return [f.message for f in found]


@pytest.mark.parametrize("stack", STACKS)
def test_every_rule_passes_on_the_sample(plans: dict[str, StackPlan], registry: Registry, stack: str) -> None:
    plan = plans[stack]
    assert findings(plan, plan.resources + plan.reads, registry, *POLICIES) == []


def _policy(doc: dict[str, Any]) -> str:
    return json.dumps(doc)


def test_isolation_reads_a_plain_dict_provider_the_same(plans: dict[str, StackPlan], registry: Registry) -> None:
    def snake_case_elsewhere(inputs: dict[str, Any]) -> None:
        inputs["assumeRoles"] = json.dumps([{"role_arn": "arn:aws:iam::100000000002:role/x", "session_name": "s"}])
        inputs.pop("allowedAccountIds")

    plan = plans["cell-alpha"]
    records, _ = broken(plan, "pulumi:providers:aws", "alpha-aws", snake_case_elsewhere)
    found = findings(plan, records, registry, cell_isolation)
    assert len(found) > 50  # every resource of the cell provider
    assert "assumes arn:aws:iam::100000000002:role/x in the monitoring account" in found[0].message


def test_isolation_fires_on_a_kubeconfig_for_another_cluster(plans: dict[str, StackPlan], registry: Registry) -> None:
    plan = plans["cell-alpha"]
    gamma = eks_kubeconfig("gamma", "eu-west-1", "arn:aws:iam::210987654321:role/OrganizationAccountAccessRole")
    records, _ = broken(plan, "pulumi:providers:kubernetes", "alpha-k8s", lambda i: i.update(kubeconfig=gamma))
    found = findings(plan, records, registry, cell_isolation)
    assert found and all(f.type.startswith("kubernetes:") for f in found)
    assert "kubeconfig targets a cluster in eu-west-1" in found[0].message
    plan = plans["cell-beta"]
    other = gke_kubeconfig("acme-cell-zeta", "europe-west1", "zeta-gke")
    records, _ = broken(plan, "pulumi:providers:kubernetes", "beta-k8s", lambda i: i.update(kubeconfig=other))
    assert "targets project acme-cell-zeta" in findings(plan, records, registry, cell_isolation)[0].message


def test_a_stack_reference_to_another_cell_fires(plans: dict[str, StackPlan], registry: Registry) -> None:
    [message] = fires(
        plans,
        registry,
        "cell-alpha",
        no_cross_cell_references,
        "pulumi:pulumi:StackReference",
        "organization/honeycomb/management",
        lambda i: i.update(name="organization/honeycomb/cell-gamma"),
    )
    assert "another cell's stack" in message


def test_rules_on_the_default_security_group_fire(plans: dict[str, StackPlan], registry: Registry) -> None:
    rule = {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/8"]}
    [message] = fires(
        plans,
        registry,
        "cell-alpha",
        security_group_ingress,
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "alpha-default-sg",
        lambda i: i.update(ingress=[rule]),
    )
    assert "puts ingress rules on the VPC's default security group" in message


def test_node_ssh_without_source_groups_fires(plans: dict[str, StackPlan], registry: Registry) -> None:
    [message] = fires(
        plans,
        registry,
        "cell-alpha",
        security_group_ingress,
        "aws:eks/nodeGroup:NodeGroup",
        "alpha-nodes",
        lambda i: i.update(remoteAccess={"ec2SshKey": "ops"}),
    )
    assert "opens tcp port 22" in message and "to 0.0.0.0/0" in message


def test_a_bucket_policy_open_to_anyone_fires(plans: dict[str, StackPlan], registry: Registry) -> None:
    def unconditional(inputs: dict[str, Any]) -> None:
        doc = json.loads(inputs["policy"])
        doc["Statement"][0].pop("Condition")
        inputs["policy"] = json.dumps(doc)

    [message] = fires(
        plans,
        registry,
        "management",
        no_public_access,
        "aws:s3/bucketPolicy:BucketPolicy",
        "registry-policy",
        unconditional,
    )
    assert "'OrganizationReads' allows" in message and "to any principal" in message


def test_a_negated_condition_does_not_limit_a_public_principal(plans: dict[str, StackPlan], registry: Registry) -> None:
    def negated(inputs: dict[str, Any]) -> None:
        inputs["policy"] = inputs["policy"].replace("ForAnyValue:StringLike", "ForAnyValue:StringNotLike")

    fires(
        plans,
        registry,
        "management",
        no_public_access,
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "images-api-pull",
        negated,
    )


def test_a_grant_to_all_users_fires(plans: dict[str, StackPlan], registry: Registry) -> None:
    [message] = fires(
        plans,
        registry,
        "cell-beta",
        no_public_access,
        "gcp:projects/iAMMember:IAMMember",
        "beta-engineering-viewer",
        lambda i: i.update(member="allUsers"),
    )
    assert "grants roles/viewer to allUsers" in message


def test_admin_equivalents_fire_on_real_grants(plans: dict[str, StackPlan], registry: Registry) -> None:
    [message] = fires(
        plans,
        registry,
        "cell-alpha",
        iam_no_admin_wildcard,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "alpha-deployer-read",
        lambda i: i.update(policyArn="arn:aws:iam::aws:policy/PowerUserAccess"),
    )
    assert "attaches PowerUserAccess" in message
    [message] = fires(
        plans,
        registry,
        "cell-beta",
        iam_no_admin_wildcard,
        "gcp:projects/iAMMember:IAMMember",
        "beta-support-viewer",
        lambda i: i.update(role="roles/editor"),
    )
    assert "roles/editor to group:support@acme-corp.net" in message

    def pass_any_role(inputs: dict[str, Any]) -> None:
        doc = json.loads(inputs["policy"])
        doc["Statement"][0].update(Action=["sts:AssumeRole", "iam:PassRole"], Resource="*")
        inputs["policy"] = json.dumps(doc)

    [message] = fires(
        plans,
        registry,
        "management",
        iam_no_admin_wildcard,
        "aws:iam/rolePolicy:RolePolicy",
        "ci-assume",
        pass_any_role,
    )
    assert "iam:PassRole on every role" in message


def test_a_trust_outside_the_organization_fires(plans: dict[str, StackPlan], registry: Registry) -> None:
    def foreign(inputs: dict[str, Any]) -> None:
        inputs["assumeRolePolicy"] = inputs["assumeRolePolicy"].replace("100000000001:role", "999999999999:role")

    messages = fires(plans, registry, "cell-alpha", iam_trust_boundary, "aws:iam/role:Role", "alpha-deployer", foreign)
    assert "account 999999999999 outside the organization" in messages[0]


def test_keys_that_do_not_rotate_fire(plans: dict[str, StackPlan], registry: Registry) -> None:
    [message] = fires(
        plans,
        registry,
        "cell-alpha",
        kms_key_rotation,
        "aws:kms/key:Key",
        "alpha-eks",
        lambda i: i.update(enableKeyRotation=False),
    )
    assert "does not rotate" in message
    [message] = fires(
        plans,
        registry,
        "cell-beta",
        kms_key_rotation,
        "gcp:kms/cryptoKey:CryptoKey",
        "beta-secrets-key",
        lambda i: i.pop("rotationPeriod"),
    )
    assert "does not rotate" in message
    [message] = fires(
        plans,
        registry,
        "cell-beta",
        kms_key_rotation,
        "gcp:kms/cryptoKey:CryptoKey",
        "beta-secrets-key",
        lambda i: i.update(rotationPeriod="90d"),
    )
    assert "cannot verify" in message


def test_a_prod_gke_control_plane_open_to_google_cloud_fires(plans: dict[str, StackPlan], registry: Registry) -> None:
    [message] = fires(
        plans,
        registry,
        "cell-beta",
        cluster_hardening,
        "gcp:container/cluster:Cluster",
        "beta-gke",
        lambda i: i["masterAuthorizedNetworksConfig"].pop("gcpPublicCidrsAccessEnabled"),
    )
    assert "accepts all of Google Cloud's public addresses" in message


def test_the_plan_hands_the_pack_the_stack_config(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    import policies.evaluate
    from cellctl.plan import plan_stack
    from cellctl.stack_config import StackConfig

    seen: dict[str, Any] = {}
    real = policies.evaluate.evaluate

    def spy(records: Any, **kwargs: Any) -> list[Finding]:
        seen.update(kwargs.get("stack_config") or {})
        return real(records, **kwargs)

    monkeypatch.setattr(policies.evaluate, "evaluate", spy)
    result = plan_stack("cell-staging", registry, config=StackConfig({"aws:skipMetadataApiCheck": "true"}))
    assert result.error is None
    assert seen["aws:skipMetadataApiCheck"] == "true"
