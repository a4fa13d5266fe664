"""The routing stack under the mocks, the routing role's documents, and where routing sits among the stacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cellctl.offline import StackPlan, run_stack
from cellctl.rollout.plan import PlanError, bootstrap_plan, rollout_plan
from cellctl.stack_order import bootstrap_waves, violations
from cells import Registry, RegistryError, load_registry
from cells.routes import cell_origin, routes
from components.aws import routing_role
from tests.iam_verdicts import allowed_by, trusts

RECORD = "aws:route53/record:Record"
DNS = "100000000003"
CI = "arn:aws:iam::100000000001:role/honeycomb-ci"
ZONE = "Z04185402XJ3EXAMPLE"
REV = "c" * 40


@pytest.fixture(scope="module")
def plan(registry: Registry) -> StackPlan:
    return run_stack("routing", registry)


def test_every_sample_tenant_has_exactly_one_record_to_its_cells_origin(plan: StackPlan, registry: Registry) -> None:
    # The router's own records (its alias and certificate validation) are the router's test's.
    records = [r for r in plan.of_type(RECORD) if r.name.startswith("route-")]
    others = {r.inputs["type"] for r in plan.of_type(RECORD) if not r.name.startswith("route-")}
    assert others == {"A", "AAAA", "CNAME"}
    assert sorted(r.inputs["name"] for r in records) == sorted(f"{t.id}.cells.acme-corp.net" for t in registry.tenants)
    assert len({r.urn for r in records}) == len(records) == len(registry.tenants)
    for route in routes(registry):
        (record,) = [r for r in records if r.name == f"route-{route.tenant}"]
        assert record.inputs == {
            "zoneId": ZONE,
            "name": route.name,
            "type": "CNAME",
            "ttl": 60,
            "records": [cell_origin(registry, route.cell)],
            "allowOverwrite": False,
        }
        # A move owns the values: the stack never reverts its flip.
        assert set(record.ignore_changes) == {"records", "ttl"}


def test_the_records_go_through_the_routing_role_in_the_dns_account(plan: StackPlan) -> None:
    (provider,) = plan.of_type("pulumi:providers:aws")
    assert {r.provider for r in plan.of_type(RECORD)} == {provider.urn}
    assert provider.inputs["region"] == "us-east-1"
    assert json.loads(provider.inputs["allowedAccountIds"]) == [DNS]
    (assumed,) = json.loads(provider.inputs["assumeRoles"])
    assert assumed == {"roleArn": f"arn:aws:iam::{DNS}:role/honeycomb-routing", "sessionName": "honeycomb-routing"}


def test_the_sample_routing_stack_plans_clean(plan: StackPlan, registry: Registry) -> None:
    from cellctl.plan import account_ids
    from policies.evaluate import evaluate

    findings = evaluate(plan.resources, registry=registry, account_ids=account_ids(registry), stack_config=plan.config)
    assert [f for f in findings if f.level == "mandatory"] == []


def with_tenant(registry_copy: Path, edit_yaml: Any, **tenant: Any) -> Registry:
    entry = {"display_name": "New", "environment": "prod", "daily_requests": 1000, **tenant}
    edit_yaml(registry_copy / "tenants" / "gamma.yaml", lambda d: d["tenants"].append(entry))
    return load_registry(registry_copy)


def test_adding_a_tenant_adds_its_record_and_touches_no_other(
    plan: StackPlan, registry_copy: Path, edit_yaml: Any
) -> None:
    grown = run_stack("routing", with_tenant(registry_copy, edit_yaml, id="aaa-first"))
    before = {r.urn: r.inputs for r in plan.of_type(RECORD)}
    after = {r.urn: r.inputs for r in grown.of_type(RECORD)}
    (added,) = set(after) - set(before)
    assert added.endswith("::route-aaa-first")
    assert after[added]["records"] == ["web.gamma.cells.acme-corp.net"]
    assert {urn: after[urn] for urn in before} == before


@pytest.mark.parametrize(
    ("tenant_id", "expected"),
    [
        ("alpha", "would collide with cell 'alpha''s delegated zone"),
        ("app", "is the router's host (routing.host in organization.yaml)"),
    ],
)
def test_a_tenant_named_like_a_cell_or_the_router_is_refused(
    registry_copy: Path, edit_yaml: Any, tenant_id: str, expected: str
) -> None:
    with pytest.raises(RegistryError) as caught:
        with_tenant(registry_copy, edit_yaml, id=tenant_id)
    (issue,) = caught.value.issues
    assert issue.file.endswith("tenants/gamma.yaml")
    assert issue.path.endswith(".id") and issue.path.startswith("tenants[")
    assert expected in issue.message


def test_a_cell_named_like_the_router_is_refused(registry_copy: Path, edit_yaml: Any) -> None:
    edit_yaml(registry_copy / "organization.yaml", lambda d: d.update(routing={"host": "gamma"}))
    with pytest.raises(RegistryError) as caught:
        load_registry(registry_copy)
    (issue,) = caught.value.issues
    assert issue.file.endswith("cells/gamma.yaml") and issue.path == "name"
    assert "would collide with the router's name in the parent zone" in issue.message


# --- the routing role ------------------------------------------------------------------------------

POLICY = routing_role.routing_policy(
    dns_account_id=DNS, parent_zone_id=ZONE, domain="cells.acme-corp.net", router_host="app.cells.acme-corp.net"
)
ZONE_ARN = f"arn:aws:route53:::hostedzone/{ZONE}"
CHANGE = "route53:ChangeResourceRecordSets"


def change(types: list[str], names: list[str]) -> dict[str, Any]:
    return {
        "route53:ChangeResourceRecordSetsRecordTypes": types,
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
    }


def test_the_role_writes_tenant_cnames_and_the_routers_alias() -> None:
    assert allowed_by(POLICY, CHANGE, change(["CNAME"], ["acme-bank.cells.acme-corp.net"]), ZONE_ARN)
    assert allowed_by(POLICY, CHANGE, change(["CNAME"], ["_3f1a.app.cells.acme-corp.net"]), ZONE_ARN)
    assert allowed_by(POLICY, CHANGE, change(["A"], ["app.cells.acme-corp.net"]), ZONE_ARN)


def test_the_role_never_touches_a_delegation_another_zone_or_another_type() -> None:
    assert not allowed_by(POLICY, CHANGE, change(["NS"], ["alpha.cells.acme-corp.net"]), ZONE_ARN)
    assert not allowed_by(POLICY, CHANGE, change(["A"], ["acme-bank.cells.acme-corp.net"]), ZONE_ARN)
    assert not allowed_by(POLICY, CHANGE, change(["CNAME"], ["acme-bank.other.net"]), ZONE_ARN)
    assert not allowed_by(POLICY, CHANGE, change(["CNAME", "NS"], ["x.cells.acme-corp.net"] * 2), ZONE_ARN)
    assert not allowed_by(
        POLICY, CHANGE, change(["CNAME"], ["acme-bank.cells.acme-corp.net"]), "arn:aws:route53:::hostedzone/ZOTHER"
    )
    assert not allowed_by(POLICY, CHANGE, {}, ZONE_ARN)  # ForAllValues on absent keys holds: Null refuses it
    assert not allowed_by(POLICY, "route53:DeleteHostedZone", {}, ZONE_ARN)


def test_the_role_runs_the_router_in_its_own_account_only() -> None:
    assert allowed_by(POLICY, "cloudfront-keyvaluestore:PutKey", {}, f"arn:aws:cloudfront::{DNS}:key-value-store/k1")
    assert not allowed_by(
        POLICY, "cloudfront-keyvaluestore:PutKey", {}, "arn:aws:cloudfront::999999999999:key-value-store/k1"
    )
    assert allowed_by(POLICY, "cloudfront:UpdateDistribution", {}, f"arn:aws:cloudfront::{DNS}:distribution/E1")
    assert not allowed_by(POLICY, "cloudfront:UpdateDistribution", {}, f"arn:aws:cloudfront::{DNS}:function/f")
    assert not allowed_by(POLICY, "iam:PassRole", {}, "*")


def test_ci_assumes_the_role_as_the_stack_or_a_move_without_tags() -> None:
    trust = routing_role.trust_policy(CI)
    assume = "sts:AssumeRole"
    assert trusts(trust, CI, assume, {"sts:RoleSessionName": "honeycomb-routing"})
    assert trusts(trust, CI, assume, {"sts:RoleSessionName": routing_role.move_session("acme-bank")})
    assert not trusts(trust, CI, assume, {"sts:RoleSessionName": "honeycomb-alpha-dns"})
    assert not trusts(trust, CI, assume, {"sts:RoleSessionName": "honeycomb-routing", "aws:TagKeys": ["cell"]})
    assert not trusts(
        trust, "arn:aws:iam::100000000001:role/other", assume, {"sts:RoleSessionName": "honeycomb-routing"}
    )
    assert len(routing_role.move_session("t" * 63)) == 64


def test_the_management_stack_makes_the_role_and_lets_ci_assume_it(registry: Registry) -> None:
    management = run_stack("management", registry)
    role = management.one("aws:iam/role:Role", "routing-role")
    assert role.inputs["name"] == "honeycomb-routing"
    assert role.outputs["arn"] == routing_role.role_arn(DNS)
    policy = management.one("aws:iam/rolePolicy:RolePolicy", "routing-routing")
    assert json.loads(policy.inputs["policy"]) == json.loads(POLICY)
    ci = json.loads(management.one("aws:iam/rolePolicy:RolePolicy", "ci-assume").inputs["policy"])
    assert {"Sid": "RoutingRole", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role.outputs["arn"]} in ci[
        "Statement"
    ]


# --- order -------------------------------------------------------------------------------------------


def test_routing_comes_last_in_every_bootstrap_and_rollout(registry: Registry) -> None:
    assert registry.stack_names[-1] == "routing"
    assert bootstrap_waves(registry)[-1] == ("routing", ["routing"])
    boot = bootstrap_plan(registry, ["gamma"], revision=REV)
    assert [w.name for w in boot.waves] == ["management", "prod-main", "routing"]
    (target,) = boot.waves[-1].targets
    assert target.only_if_changes and not boot.waves[-1].health_gate
    full = rollout_plan(registry, revision=REV)
    assert full.waves[-1].name == "routing" and full.waves[-1].bake_seconds == 0
    assert [w.name for w in rollout_plan(registry, revision=REV, wave="routing").waves] == ["routing"]
    assert "routing" not in [w.name for w in rollout_plan(registry, revision=REV, wave="preprod").waves]


def test_a_runner_without_routing_settings_leaves_it_out_and_says_how(registry: Registry) -> None:
    assert "routing" not in [w.name for w in rollout_plan(registry, revision=REV, routing=False).waves]
    with pytest.raises(PlanError, match="--wave routing --runner local"):
        rollout_plan(registry, revision=REV, wave="routing", routing=False)


def test_the_routing_stack_needs_the_management_stacks_role_first(plan: StackPlan, registry: Registry) -> None:
    from cellctl.stack_order import stack_identities

    class Facts:
        def __init__(self, stack: str, resources: Any) -> None:
            self.stack, self.identities = stack, stack_identities(resources)

    stacks = [Facts("management", run_stack("management", registry).resources), Facts("routing", plan.resources)]
    assert routing_role.role_arn(DNS) in {n["identity"] for n in stacks[1].identities["names"]}
    assert violations(stacks, registry) == []
    early = [("routing", ["routing"]), ("management", ["management"])]
    (found,) = [f for stack, f in violations(stacks, registry, early) if stack == "routing"]
    assert "only stack management creates it" in found["message"]


def test_a_wave_named_like_the_routing_wave_is_refused(registry_copy: Path, edit_yaml: Any) -> None:
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["waves"][-1].update(name="routing"))
    for cell in ("beta", "gamma"):
        edit_yaml(registry_copy / "cells" / f"{cell}.yaml", lambda d: d.update(wave="routing"))
    with pytest.raises(RegistryError) as caught:
        load_registry(registry_copy)
    (issue,) = caught.value.issues
    assert issue.file.endswith("organization.yaml") and issue.path == "waves[2].name"
    assert "the routing stack's own wave" in issue.message
