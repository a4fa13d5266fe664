"""Pulumi Deployments settings, agent pools and the GitHub OIDC issuer, written by the management stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from iam_verdicts import trusts

from cellctl.mocks.pulumi_cloud import agent_pool_id, agent_pool_token
from cellctl.offline import StackPlan, run_stack
from cells import Registry, RegistryError, load_registry
from components import pulumi_cloud
from components.aws import identity
from components.pulumi_cloud import DeploymentSettingsError, StackDeployment, session_name, settings_problems
from stacks import outputs as out

SETTINGS = "pulumiservice:index:DeploymentSettings"
POOL = "pulumiservice:index:AgentPool"
ISSUER = "pulumiservice:index:OidcIssuer"
IN_NETWORK = {"runner": {"kind": "in-network", "cidrs": ["10.64.200.0/24"]}}
AGENT_IMAGE = "pulumi/customer-managed-workflow-agent:v1.2.3"


@pytest.fixture(scope="module")
def plan(registry: Registry) -> StackPlan:
    return run_stack("management", registry)


def in_network_gamma(registry_copy: Path, edit_yaml: Any, *, image: str | None = AGENT_IMAGE) -> Registry:
    """gamma (prod AWS) deployed from inside its network: its API is private, so it gets an agent pool."""
    edit_yaml(registry_copy / "cells" / "gamma.yaml", lambda d: d.update(deploy=IN_NETWORK))
    if image is not None:
        edit_yaml(registry_copy / "organization.yaml", lambda d: d["pulumi_deployments"].update(agent_image=image))
    return load_registry(registry_copy)


def test_every_cell_stack_gets_its_settings(plan: StackPlan, registry: Registry) -> None:
    found = {r.inputs["stack"]: r for r in plan.of_type(SETTINGS)}
    assert sorted(found) == sorted(c.stack_name for c in registry.cells)
    for cell in registry.cells:
        inputs = found[cell.stack_name].inputs
        assert (inputs["organization"], inputs["project"]) == ("acme", "honeycomb")
        assert inputs["sourceContext"]["git"] == {
            "repoUrl": "https://github.com/acme/honeycomb.git",
            "branch": "main",
            "repoDir": ".",
        }
        context = inputs["operationContext"]
        # pyproject.toml, no requirements.txt: the pre-run commands build the .venv Pulumi.yaml names.
        assert context["preRunCommands"][0] == "python3 -m venv .venv"
        assert context["preRunCommands"][-1] == ".venv/bin/python -m pip install --quiet -e ."
        assert context["options"] == {"skipInstallDependencies": True}
        assert "agentPoolId" not in inputs  # every sample cell is reached by Pulumi's hosted agents
        assert found[cell.stack_name].provider is not None and found[cell.stack_name].provider.endswith("pulumi-cloud")


def test_aws_cells_assume_the_ci_role_gcp_cells_the_registrys_service_account(
    plan: StackPlan, registry: Registry
) -> None:
    found = {r.inputs["stack"]: r.inputs["operationContext"]["oidc"] for r in plan.of_type(SETTINGS)}
    ci_role = plan.outputs[out.CI_ROLE_ARN]
    assert found["cell-alpha"] == {
        "aws": {"roleARN": ci_role, "sessionName": "honeycomb-cell-alpha", "duration": "1h0m0s"}
    }
    assert found["cell-beta"] == {
        "gcp": {
            "projectId": "482019384001",
            "workloadPoolId": "pulumi-deployments",
            "providerId": "pulumi-cloud",
            "serviceAccount": "honeycomb-deploy@acme-cells-monitoring.iam.gserviceaccount.com",
        }
    }


def test_the_ci_role_trusts_the_projects_cell_deployments_only(plan: StackPlan) -> None:
    provider = next(
        r for r in plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") if r.name == "ci-pulumi"
    )
    arn = provider.outputs["arn"]
    trust = next(r for r in plan.of_type("aws:iam/role:Role") if r.name == "ci-role").inputs["assumeRolePolicy"]
    action = "sts:AssumeRoleWithWebIdentity"

    def token(sub: str, aud: str = "acme") -> dict[str, str]:
        return {"api.pulumi.com/oidc:sub": sub, "api.pulumi.com/oidc:aud": aud}

    cell = "pulumi:deploy:org:acme:project:honeycomb:stack:cell-alpha:operation:update:scope:write"
    assert trusts(trust, arn, action, token(cell))
    assert not trusts(trust, arn, action, token(cell, aud="other-org"))
    assert not trusts(trust, arn, action, token(cell.replace("org:acme", "org:evil")))
    assert not trusts(trust, arn, action, token(cell.replace("stack:cell-alpha", "stack:management")))
    assert not trusts(trust, arn, action, token(cell.replace("project:honeycomb", "project:other")))


def test_github_actions_may_exchange_its_token_for_an_organization_token(plan: StackPlan) -> None:
    [issuer] = plan.of_type(ISSUER)
    assert issuer.inputs["url"] == "https://token.actions.githubusercontent.com"
    rules = sorted(p["rules"]["sub"] for p in issuer.inputs["policies"])
    assert rules == [
        "repo:acme/honeycomb:environment:preprod",
        "repo:acme/honeycomb:environment:prod",
    ]
    assert {p["rules"]["aud"] for p in issuer.inputs["policies"]} == {"urn:pulumi:org:acme"}
    assert {(p["decision"], p["tokenType"]) for p in issuer.inputs["policies"]} == {("allow", "organization")}


def test_no_pulumi_deployments_no_pulumi_cloud_resources(registry_copy: Path, edit_yaml: Any) -> None:
    edit_yaml(registry_copy / "organization.yaml", lambda d: d.pop("pulumi_deployments"))
    plan = run_stack("management", load_registry(registry_copy))
    assert not [r for r in plan.resources if r.type.startswith("pulumiservice:")]
    statements = json.loads(
        next(r for r in plan.of_type("aws:iam/role:Role") if r.name == "ci-role").inputs["assumeRolePolicy"]
    )["Statement"]
    assert [s["Sid"] for s in statements] == ["GithubActions"]
    assert plan.outputs[out.AGENT_POOL_TOKENS] == {}


# --- agent pools ---------------------------------------------------------------------------------------


def test_a_private_prod_aws_cell_gets_an_agent_pool(registry_copy: Path, edit_yaml: Any) -> None:
    registry = in_network_gamma(registry_copy, edit_yaml)
    assert [c.name for c in registry.agent_pool_cells()] == ["gamma"]
    plan = run_stack("management", registry)
    [pool] = plan.of_type(POOL)
    assert pool.inputs["name"] == "honeycomb-gamma" and pool.inputs["organizationName"] == "acme"
    settings = {r.inputs["stack"]: r.inputs for r in plan.of_type(SETTINGS)}
    assert settings["cell-gamma"]["agentPoolId"] == agent_pool_id("gamma")
    assert "agentPoolId" not in settings["cell-alpha"]
    assert plan.outputs[out.AGENT_POOL_TOKENS] == {"gamma": agent_pool_token("gamma")}


def test_agent_pools_only_for_prod_aws_cells_deployed_from_inside(registry_copy: Path, edit_yaml: Any) -> None:
    # staging (preprod AWS) with an in-network runner keeps Pulumi's hosted agents: not prod.
    edit_yaml(
        registry_copy / "cells" / "staging.yaml",
        lambda d: d.update(deploy={"runner": {"kind": "in-network", "cidrs": [_subnet(d["network"]["cidr"])]}}),
    )
    assert load_registry(registry_copy).agent_pool_cells() == []


def _subnet(cidr: str) -> str:
    import ipaddress

    return str(next(ipaddress.IPv4Network(cidr).subnets(new_prefix=24)))


def test_an_agent_pool_needs_the_agent_image(registry_copy: Path, edit_yaml: Any) -> None:
    registry = in_network_gamma(registry_copy, edit_yaml, image=None)
    with pytest.raises(DeploymentSettingsError, match=r"pulumi_deployments.agent_image is not set.*gamma"):
        run_stack("management", registry)


def test_the_agent_image_is_pinned(registry_copy: Path, edit_yaml: Any) -> None:
    edit_yaml(
        registry_copy / "organization.yaml",
        lambda d: d["pulumi_deployments"].update(agent_image="pulumi/customer-managed-workflow-agent:latest"),
    )
    with pytest.raises(RegistryError, match="latest"):
        load_registry(registry_copy)


def test_gcp_cells_need_the_gcp_settings(registry_copy: Path, edit_yaml: Any) -> None:
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["pulumi_deployments"].pop("gcp"))
    with pytest.raises(DeploymentSettingsError, match=r"pulumi_deployments.gcp is not set.*beta"):
        run_stack("management", load_registry(registry_copy))


# --- what STS and the API accept -------------------------------------------------------------------------


def test_session_names_fit_sts() -> None:
    long = "cell-" + "a" * 63
    assert len(session_name(long)) == 64 and pulumi_cloud.SESSION_NAME.match(session_name(long))
    with pytest.raises(DeploymentSettingsError, match="role session name"):
        session_name("cell with spaces")


def test_the_aws_session_fits_the_ci_roles_maximum(registry: Registry) -> None:
    settings = registry.organization.pulumi_deployments
    assert settings is not None
    stacks = [StackDeployment("cell-alpha", "alpha", "aws", False)]
    assert settings_problems(settings, stacks, ci_max_session_seconds=identity.CI_MAX_SESSION_SECONDS) == []
    [problem] = settings_problems(settings, stacks, ci_max_session_seconds=1800)
    assert "longer than the CI role's maximum session" in problem


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("repository", "git@github.com:acme/honeycomb.git", "repository"),
        ("repo_dir", "../elsewhere", "repo_dir"),
        ("concurrency", 0, "concurrency"),
        ("organization", "acme corp", "organization"),
    ],
)
def test_bad_registry_settings(registry_copy: Path, edit_yaml: Any, field: str, value: Any, message: str) -> None:
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["pulumi_deployments"].update({field: value}))
    with pytest.raises(RegistryError, match=message):
        load_registry(registry_copy)
