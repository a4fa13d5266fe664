"""The bootstrap-order check across stacks (`cellctl.stack_order`): what it collects, what it
reports, and that `cellctl bootstrap --all --dry-run` and `cellctl plan --all` agree with it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest
import yaml
from typer.testing import CliRunner

import stacks.cell_gcp
import stacks.management
from cellctl import stack_order
from cellctl.main import app
from cellctl.plan import plan_stacks
from cells import GcpCell, Registry, load_registry

cli = CliRunner()

NEW_GCP_CELL = {
    "name": "epsilon",
    "cloud": "gcp",
    "environment": "preprod",
    "region": "us-central1",
    "wave": "preprod",
    "size": "small",
    "network": {"cidr": "10.96.0.0/16"},
    "capacity": {"max_tenants": 10, "max_daily_requests": 1000},
    "project_id": "acme-cell-epsilon",
}
EXTRA_ACCOUNT = "beta-extra@acme-cell-beta.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Res:
    """A planned resource as the check reads it."""

    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    custom: bool = True
    stack: str = "s"

    @property
    def urn(self) -> str:
        return f"urn:pulumi:{self.stack}::honeycomb::{self.type}::{self.name}"


@dataclass
class Facts:
    stack: str
    identities: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)


def account(name: str, email: str, stack: str) -> Res:
    return Res(
        "gcp:serviceaccount/account:Account",
        name,
        {"accountId": email.split("@")[0]},
        {"email": email},
        (),
        True,
        stack,
    )


def grant(name: str, member: str, stack: str, depends_on: tuple[str, ...] = ()) -> Res:
    inputs = {"role": "roles/viewer", "member": f"serviceAccount:{member}"}
    return Res("gcp:projects/iAMMember:IAMMember", name, inputs, {}, depends_on, True, stack)


def facts(stack: str, *resources: Res) -> Facts:
    return Facts(stack, stack_order.stack_identities(list(resources)))


# --- what a stack creates and names ------------------------------------------------------------------


class TestNamedIdentities:
    def test_members_arns_and_json_documents(self) -> None:
        found = stack_order.named_identities(
            {
                "member": "serviceAccount:a-nodes@p-1.iam.gserviceaccount.com",
                "assumeRoles": [{"roleArn": "arn:aws:iam::123456789012:role/Access"}],
                "values": {"annotations": {"role": "arn:aws:iam::123456789012:role/irsa"}},
            }
        )
        assert found == {
            "a-nodes@p-1.iam.gserviceaccount.com",
            "arn:aws:iam::123456789012:role/Access",
            "arn:aws:iam::123456789012:role/irsa",
        }

    def test_in_policy_documents_only_principals_must_exist(self) -> None:
        document = json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci"},
                        "Action": "sts:AssumeRole",
                        "Resource": "arn:aws:iam::210987654321:role/later-deployer",
                        "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::210987654321:role/x"}},
                    }
                ]
            }
        )
        assert stack_order.named_identities({"assumeRolePolicy": document}) == {"arn:aws:iam::123456789012:role/ci"}

    def test_patterns_and_policy_variables_name_nothing(self) -> None:
        found = stack_order.named_identities(
            {"a": "arn:aws:iam::123456789012:role/honeycomb-*", "b": "arn:aws:iam::123456789012:role/${aws:username}"}
        )
        assert found == set()

    def test_an_organizations_account_creates_its_access_role(self) -> None:
        made = Res("aws:organizations/account:Account", "a", {"roleName": "Access"}, {"id": "210987654321"})
        assert stack_order.created_identities(made) == {"arn:aws:iam::210987654321:role/Access"}


def test_same_stack_grant_that_waits_for_its_account_is_fine() -> None:
    sa = account("sa", "x@p.iam.gserviceaccount.com", "s")
    assert facts("s", sa, grant("g", "x@p.iam.gserviceaccount.com", "s", (sa.urn,))).identities["unordered"] == []


def test_same_stack_grant_that_does_not_wait_is_reported(registry: Registry) -> None:
    sa = account("sa", "x@p.iam.gserviceaccount.com", "management")
    found = stack_order.violations(
        [facts("management", sa, grant("g", "x@p.iam.gserviceaccount.com", "management"))], registry
    )
    [(stack, finding)] = found
    assert stack == "management"
    assert finding["policy"] == "stack-order" and finding["level"] == "mandatory" and finding["name"] == "g"
    assert "x@p.iam.gserviceaccount.com" in finding["message"] and "does not wait for it" in finding["message"]


# --- across stacks ----------------------------------------------------------------------------------


def test_a_grant_to_what_a_later_stack_creates_names_both_stacks(registry: Registry) -> None:
    email = "beta-nodes@acme-cell-beta.iam.gserviceaccount.com"
    stacks_ = [
        facts("management", grant("beta-image-reader", email, "management")),
        facts("cell-beta", account("beta-nodes-sa", email, "cell-beta")),
    ]
    [(stack, finding)] = stack_order.violations(stacks_, registry)
    assert stack == "management"
    assert finding["name"] == "beta-image-reader"
    message = finding["message"]
    assert email in message and "only stack cell-beta creates it" in message
    assert "cell-beta runs after management" in message


def test_the_other_way_round_is_the_right_order(registry: Registry) -> None:
    email = "beta-nodes@acme-cell-beta.iam.gserviceaccount.com"
    stacks_ = [
        facts("management", account("beta-nodes-sa", email, "management")),
        facts("cell-beta", grant("beta-nodes-role", email, "cell-beta")),
    ]
    assert stack_order.violations(stacks_, registry) == []


def test_stacks_of_one_wave_run_together(registry: Registry) -> None:
    email = "x@acme-cell-beta.iam.gserviceaccount.com"
    stacks_ = [
        facts("cell-alpha", grant("g", email, "cell-alpha")),
        facts("cell-beta", account("sa", email, "cell-beta")),
    ]
    waves = [("management", ["management"]), ("prod", ["cell-alpha", "cell-beta"])]
    [(_, finding)] = stack_order.violations(stacks_, registry, waves)
    assert "runs in the same wave as cell-alpha" in finding["message"]


def test_a_service_agent_nobody_creates_is_reported_once_every_stack_is_planned(registry: Registry) -> None:
    agent = "service-123@container-engine-robot.iam.gserviceaccount.com"
    kms = Res(
        "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "k", {"member": f"serviceAccount:{agent}"}, stack="cell-beta"
    )
    others = [Facts(s, {"creates": {}, "names": [], "unordered": []}) for s in registry.stack_names if s != "cell-beta"]
    [(stack, finding)] = stack_order.violations([facts("cell-beta", kms), *others], registry)
    assert stack == "cell-beta" and "no stack creates it" in finding["message"]
    assert "ServiceIdentity" in finding["message"]
    # With only some stacks planned, another one may create it: nothing to say.
    assert stack_order.violations([facts("cell-beta", kms)], registry) == []


def test_identities_outside_the_stacks_are_not_judged(registry: Registry) -> None:
    outside = [
        grant("a", "ci@tools-project.iam.gserviceaccount.com", "management"),
        Res(
            "aws:iam/role:Role",
            "r",
            {"assumeRolePolicy": {"Statement": [{"Principal": {"AWS": "arn:aws:iam::100000000001:root"}}]}},
        ),
    ]
    others = [
        Facts(s, {"creates": {}, "names": [], "unordered": []}) for s in registry.stack_names if s != "management"
    ]
    assert stack_order.violations([facts("management", *outside), *others], registry) == []


# --- the real programs --------------------------------------------------------------------------------


def test_bootstrap_order_is_the_bootstrap_commands(registry: Registry) -> None:
    waves = stack_order.bootstrap_waves(registry)
    assert waves[0] == ("management", ["management"])
    assert [w for w, _ in waves[1:-1]] == [w.name for w in registry.organization.waves]
    assert sorted(s for _, members in waves[1:-1] for s in members) == sorted(c.stack_name for c in registry.cells)
    assert waves[-1] == ("routing", ["routing"])  # its records name the cells' hosts


def test_a_new_gcp_cell_bootstraps_in_the_order_the_dry_run_shows(registry_copy: Path, tmp_path: Path) -> None:
    (registry_copy / "cells" / "epsilon.yaml").write_text(yaml.safe_dump(NEW_GCP_CELL, sort_keys=False))
    project = tmp_path / "project"
    project.mkdir()
    result = cli.invoke(
        app,
        ["bootstrap", "--all", "--dry-run", "--json", "--registry", str(registry_copy), "--project-dir", str(project)],
    )
    assert result.exit_code == 0, result.output
    shown = [(w["name"], [s["stack"] for s in w["stacks"]]) for w in json.loads(result.output)["waves"]]
    registry = load_registry(registry_copy)
    assert shown == stack_order.bootstrap_waves(registry)
    assert "cell-epsilon" in shown[1][1]

    planned = plan_stacks([s for _, members in shown for s in members], registry, jobs=1)
    assert [r.error for r in planned if r.error] == []
    assert stack_order.violations(planned, registry, shown) == []
    # The new cell's nodes run as the account management created before granting it image pulls.
    management = next(r for r in planned if r.stack == "management")
    epsilon = next(r for r in planned if r.stack == "cell-epsilon")
    email = "epsilon-nodes@acme-cell-epsilon.iam.gserviceaccount.com"
    assert email in management.identities["creates"]
    assert email in {n["identity"] for n in epsilon.identities["names"]}

    # Run the cells before management and the check refuses: that is the order it guards.
    backwards = [*shown[1:], shown[0]]
    found = stack_order.violations(planned, registry, backwards)
    assert any(stack == "cell-epsilon" and email in f["message"] for stack, f in found)


def test_plan_all_reports_a_forward_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    """Management granting an account that only the cell stack creates: the first `up` would fail."""
    management_program, cell_program = stacks.management.program, stacks.cell_gcp.program

    def management(registry: Registry) -> None:
        management_program(registry)
        gcp.projects.IAMMember(
            "beta-extra-viewer",
            project="acme-cell-beta",
            role="roles/viewer",
            member=f"serviceAccount:{EXTRA_ACCOUNT}",
            opts=pulumi.ResourceOptions(provider=gcp.Provider("extra", project="acme-cell-beta")),
        )

    def cell(registry: Registry, cell: GcpCell) -> None:
        cell_program(registry, cell)
        if cell.name == "beta":
            gcp.serviceaccount.Account(
                "beta-extra",
                account_id="beta-extra",
                project="acme-cell-beta",
                opts=pulumi.ResourceOptions(provider=gcp.Provider("beta-extra", project="acme-cell-beta")),
            )

    monkeypatch.setattr(stacks.management, "program", management)
    monkeypatch.setattr(stacks.cell_gcp, "program", cell)
    result = cli.invoke(app, ["plan", "--all", "--jobs", "1", "--json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    order = [(s["stack"], f) for s in doc["stacks"] for f in s["findings"] if f["policy"] == stack_order.POLICY]
    [(stack, finding)] = order
    assert stack == "management" and finding["level"] == "mandatory" and finding["name"] == "beta-extra-viewer"
    assert EXTRA_ACCOUNT in finding["message"]
    assert "only stack cell-beta creates it" in finding["message"]
