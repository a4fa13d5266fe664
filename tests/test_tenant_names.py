"""Tenant names at the cell: every cell answers `*.<domain>` with a certificate for it and its own origin,
issued through DNS-01 in the parent zone by the cell's own role in the DNS account."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from iam_verdicts import allowed_by, trusts
from test_management import generated_registry

from cellctl.offline import PlannedResource, StackPlan, run_stack
from cellctl.rollout.plan import Target, WavePlan, bootstrap_plan, challenge_cap, describe
from cells import Registry, load_registry
from cells.routes import cell_origin, routes
from components.aws import acme_dns
from components.gcp.cluster import cluster_name as gke_cluster_name
from components.k8s import addons
from components.k8s.spec import (
    DUPLICATE_CERTIFICATE_LIMIT,
    MAX_CONCURRENT_CHALLENGES,
    TenantNames,
    redundant_names,
    renew_before,
    tenant_names,
    wildcard_host,
    wildcard_matches,
)
from components.k8s.workloads import TENANT_TLS_SECRET

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
CHANGE = "route53:ChangeResourceRecordSets"
DOMAIN = "cells.acme-corp.net"
ZONE = "Z04185402XJ3EXAMPLE"
DNS_ACCOUNT = "100000000003"
CELLS = ["alpha", "beta", "dev-jdoe", "gamma", "staging"]


@pytest.fixture(scope="module")
def plans(registry: Registry) -> dict[str, StackPlan]:
    return {name: run_stack(f"cell-{name}", registry) for name in CELLS}


@pytest.fixture(scope="module")
def management(registry: Registry) -> StackPlan:
    return run_stack("management", registry)


def tenant_certificate(plan: StackPlan) -> PlannedResource:
    return plan.one(CERTIFICATE)


def tenant_ingress(plan: StackPlan, cell: str) -> PlannedResource:
    return plan.one(INGRESS, f"{cell}-workloads-web-tenants-ingress")


def tenant_issuer(plan: StackPlan, cell: str) -> PlannedResource:
    return plan.one(ISSUER, f"{cell}-addons-tenant-issuer")


# --- names: Ingress wildcards and Let's Encrypt's rules ---------------------------------------------


@pytest.mark.parametrize(
    ("host", "matches"),
    [
        ("acme-bank.cells.acme-corp.net", True),
        ("cells.acme-corp.net", False),  # the wildcard's own parent
        ("web.alpha.cells.acme-corp.net", False),  # two labels: a wildcard matches exactly one
        ("acme-bankcells.acme-corp.net", False),
        (".cells.acme-corp.net", False),
    ],
)
def test_a_wildcard_host_matches_exactly_one_label(host: str, matches: bool) -> None:
    assert wildcard_matches(wildcard_host(DOMAIN), host) is matches


def test_redundant_names_follow_lets_encrypts_check() -> None:
    assert redundant_names(["*.cells.acme-corp.net", "acme.cells.acme-corp.net"]) == ["acme.cells.acme-corp.net"]
    assert redundant_names(["*.cells.acme-corp.net", "web.alpha.cells.acme-corp.net"]) == []


@pytest.mark.parametrize("origin", ["web.cells.acme-corp.net", "web.alpha.example.com"])
def test_an_origin_the_wildcard_covers_or_outside_the_domain_is_refused(origin: str) -> None:
    with pytest.raises(ValueError, match=r"must lie at least two labels under 'cells\.acme-corp\.net'") as err:
        TenantNames(domain=DOMAIN, component="web", origin=origin)
    assert origin in str(err.value)


def test_every_tenant_name_is_served_by_its_cells_wildcard(registry: Registry) -> None:
    wildcard = wildcard_host(registry.organization.domain)
    found = routes(registry)
    assert found
    for route in found:
        assert wildcard_matches(wildcard, route.name), route.name
        # The origin the tenant's CNAME names is the one host the cell's certificate names besides the wildcard.
        names = tenant_names(registry.organization.domain, "web", _identity(registry, route.cell))
        assert names.origin == route.origin == cell_origin(registry, route.cell)


def _identity(registry: Registry, cell: str) -> Any:
    from components.k8s.spec import cell_identity

    return cell_identity(registry.cell(cell), registry.organization.domain)


def test_certificate_names_differ_per_cell_and_none_is_redundant(plans: dict[str, StackPlan]) -> None:
    """Let's Encrypt issues an exact set of names at most five times a week: one shared `*.<domain>`
    certificate would fail at the sixth cell, so each cell's set also names its own origin."""
    sets = {cell: tuple(tenant_certificate(plan).inputs["spec"]["dnsNames"]) for cell, plan in plans.items()}
    assert len(set(sets.values())) == len(sets) > DUPLICATE_CERTIFICATE_LIMIT - 1
    for cell, names in sets.items():
        assert names == (f"*.{DOMAIN}", f"web.{cell}.{DOMAIN}")
        assert redundant_names(names) == []


# --- the cell: Ingress, Certificate, ClusterIssuer --------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_the_serving_component_answers_every_tenant_name(plans: dict[str, StackPlan], cell: str) -> None:
    plan = plans[cell]
    ingress = tenant_ingress(plan, cell)
    spec = ingress.inputs["spec"]
    assert ingress.inputs["metadata"]["namespace"] == "web"
    assert spec["ingressClassName"] == addons.INGRESS_CLASS
    assert spec["tls"] == [{"hosts": [f"*.{DOMAIN}"], "secretName": TENANT_TLS_SECRET}]
    (rule,) = spec["rules"]
    assert rule["host"] == f"*.{DOMAIN}"
    (path,) = rule["http"]["paths"]
    assert path["backend"] == {"service": {"name": "web", "port": {"number": 3000}}}
    # Its certificate is the explicit one: no ingress-shim annotation (it would name the wildcard alone).
    assert "annotations" not in ingress.inputs["metadata"]
    assert ingress.provider == plan.one("pulumi:providers:kubernetes", f"{cell}-k8s").urn
    # Only the serving component answers tenant names.
    assert [r.name for r in plan.of_type(INGRESS) if "tenants" in r.name] == [ingress.name]


@pytest.mark.parametrize("cell", CELLS)
def test_the_tenants_certificate_comes_from_the_dns01_issuer(plans: dict[str, StackPlan], cell: str) -> None:
    plan = plans[cell]
    certificate = tenant_certificate(plan)
    issuer = tenant_issuer(plan, cell)
    assert certificate.inputs["metadata"]["namespace"] == "web"
    assert certificate.inputs["spec"]["secretName"] == TENANT_TLS_SECRET
    assert certificate.inputs["spec"]["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": issuer.inputs["metadata"]["name"],
    }
    assert issuer.inputs["metadata"]["name"] == addons.TENANT_ISSUER != addons.CLUSTER_ISSUER
    acme = issuer.inputs["spec"]["acme"]
    assert acme["server"] == addons.LETSENCRYPT
    http01, dns01 = acme["solvers"]
    origin = f"web.{cell}.{DOMAIN}"
    # A `dnsNames` selector wins over `dnsZones`: the origin through HTTP-01 (it already resolves to the cell),
    # the wildcard (in the domain's zone) through DNS-01, the only challenge that can prove a wildcard.
    assert http01 == {"selector": {"dnsNames": [origin]}, "http01": {"ingress": {"ingressClassName": "nginx"}}}
    assert dns01["selector"] == {"dnsZones": [DOMAIN]}
    route53 = dns01["dns01"]["route53"]
    assert route53["hostedZoneID"] == ZONE
    assert route53["role"] == f"arn:aws:iam::{DNS_ACCOUNT}:role/honeycomb-acme-dns01-{cell}"
    # Under EKS Pod Identity cert-manager ignores `region` (the agent sets AWS_REGION); a GKE cell's STS client
    # for the web-identity exchange needs it.
    if cell == "beta":
        assert route53["region"] == acme_dns.ROUTE53_REGION
    else:
        assert "region" not in route53
    assert set(certificate.inputs["spec"]["dnsNames"]) == {f"*.{DOMAIN}", origin}
    assert plan.one(RELEASE, f"{cell}-addons-cert-manager").urn in issuer.depends_on


@pytest.mark.parametrize("cell", ["alpha", "staging"])
def test_aws_cert_manager_gets_its_role_through_pod_identity(plans: dict[str, StackPlan], cell: str) -> None:
    plan = plans[cell]
    role = plan.one(ROLE, f"{cell}-cert-manager")
    association = plan.one(ASSOCIATION, f"{cell}-cert-manager")
    grant = plan.one(ROLE_POLICY, f"{cell}-cert-manager")
    release = plan.one(RELEASE, f"{cell}-addons-cert-manager")
    assert role.inputs["name"] == acme_dns.CERT_MANAGER_ROLE
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert condition == {
        "aws:RequestTag/eks-cluster-name": cell,
        "aws:RequestTag/kubernetes-namespace": "cert-manager",
        "aws:RequestTag/kubernetes-service-account": "cert-manager",
    }
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("cert-manager", "cert-manager")
    assert association.inputs["roleArn"] == role.outputs["arn"]
    assert association.inputs["clusterName"] == plan.outputs["clusterName"]
    assert association.provider == plan.one("pulumi:providers:aws", f"{cell}-aws").urn
    # The chart's service account is the association's, and its pods start after the association exists.
    values = release.inputs["values"]
    assert values["serviceAccount"] == {"create": True, "name": association.inputs["serviceAccount"]}
    assert {association.urn, grant.urn} <= set(release.depends_on)
    # And after the agent that serves those credentials (cert-manager docs, Route53, "EKS Pod Identity": step 1).
    assert plan.one("aws:eks/addon:Addon", f"{cell}-pod-identity-agent").urn in release.depends_on
    # Keyed on the association: a replaced one (even with the same role) restarts the pods, which get
    # their credentials at start.
    assert association.outputs["associationId"]
    assert values["podAnnotations"] == {addons.IDENTITY_ANNOTATION: association.outputs["associationId"]}
    dns01 = f"arn:aws:iam::{DNS_ACCOUNT}:role/honeycomb-acme-dns01-{cell}"
    assert allowed_by(grant.inputs["policy"], "sts:AssumeRole", {}, dns01)
    assert allowed_by(grant.inputs["policy"], "sts:TagSession", {}, dns01)
    assert not allowed_by(grant.inputs["policy"], "sts:AssumeRole", {}, dns01.replace(cell, "gamma"))
    # Ambient credentials: no service-account token exchange on AWS.
    (_, solver) = tenant_issuer(plan, cell).inputs["spec"]["acme"]["solvers"]
    assert "auth" not in solver["dns01"]["route53"]


def test_gcp_cert_manager_exchanges_its_own_service_accounts_tokens(plans: dict[str, StackPlan]) -> None:
    plan = plans["beta"]
    assert plan.of_type(ASSOCIATION) == []
    issuer = tenant_issuer(plan, "beta")
    (_, solver) = issuer.inputs["spec"]["acme"]["solvers"]
    account = acme_dns.TOKEN_SERVICE_ACCOUNT
    assert solver["dns01"]["route53"]["auth"] == {"kubernetes": {"serviceAccountRef": {"name": account}}}
    service_account = plan.one("kubernetes:core/v1:ServiceAccount", "beta-addons-dns01-service-account")
    rbac_role = plan.one("kubernetes:rbac.authorization.k8s.io/v1:Role")
    binding = plan.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    for obj in (service_account, rbac_role, binding):
        assert obj.inputs["metadata"]["namespace"] == addons.CERT_MANAGER_NAMESPACE
    assert service_account.inputs["metadata"]["name"] == account
    assert service_account.inputs["automountServiceAccountToken"] is False
    assert rbac_role.inputs["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": [account], "verbs": ["create"]}
    ]
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "cert-manager", "namespace": "cert-manager"}
    ]
    assert binding.inputs["roleRef"]["name"] == rbac_role.inputs["metadata"]["name"]
    assert {service_account.urn, binding.urn} <= set(issuer.depends_on)
    assert "podAnnotations" not in plan.one(RELEASE, "beta-addons-cert-manager").inputs["values"]


# --- the DNS account: one role per cell ----------------------------------------------------------------


def test_management_gives_each_cell_its_own_dns01_role(management: StackPlan, registry: Registry) -> None:
    dns = management.one("pulumi:providers:aws", "dns").urn
    for cell in registry.cells:
        role = management.one(ROLE, f"acme-{cell.name}")
        policy = management.one(ROLE_POLICY, f"acme-{cell.name}-challenge")
        assert role.inputs["name"] == acme_dns.role_name(cell.name)
        # The ARN the cell's issuer names is this role's.
        assert (
            acme_dns.dns01_role_arn(DNS_ACCOUNT, cell.name) == f"arn:aws:iam::{DNS_ACCOUNT}:role/{role.inputs['name']}"
        )
        assert len(role.inputs["name"]) <= 64
        assert (role.provider, policy.provider) == (dns, dns)
        assert policy.inputs["policy"] == acme_dns.challenge_policy(ZONE, DOMAIN)
        assert role.inputs["tags"]["cell"] == cell.name
        statement = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        if cell.cloud == "aws":
            account = management.outputs["accountIds"][cell.name]
            assert statement == json.loads(acme_dns.aws_cell_trust_policy(account, cell.name))["Statement"]
        else:
            oidc = management.one(OIDC, f"acme-{cell.name}-gke")
            issuer = acme_dns.gke_issuer(cell.project_id, cell.region, gke_cluster_name(cell.name))
            assert oidc.inputs["url"] == issuer
            assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
            # Google's documented thumbprint: IAM need not read an issuer whose cluster a later stack creates.
            assert oidc.inputs["thumbprintLists"] == ["08745487e891c19e3078c1f2a07e452950ef36f6"]
            assert statement == json.loads(acme_dns.gcp_cell_trust_policy(oidc.outputs["arn"], issuer))["Statement"]
    assert management.outputs["acmeDnsRoleArns"] == {
        c.name: acme_dns.dns01_role_arn(DNS_ACCOUNT, c.name) for c in registry.cells
    }


def test_the_gke_issuer_is_the_clusters() -> None:
    assert acme_dns.gke_issuer("acme-cell-beta", "europe-west1", "beta-gke") == (
        "https://container.googleapis.com/v1/projects/acme-cell-beta/locations/europe-west1/clusters/beta-gke"
    )


class TestChallengeVerdicts:
    ZONE_ARN = f"arn:aws:route53:::hostedzone/{ZONE}"

    @staticmethod
    def change(names: list[str] | None, types: list[str], actions: list[str]) -> dict[str, Any]:
        return {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
            "route53:ChangeResourceRecordSetsRecordTypes": types,
            "route53:ChangeResourceRecordSetsActions": actions,
        }

    def verdict(self, names: list[str] | None, types: list[str], actions: list[str], zone: str = ZONE_ARN) -> bool:
        return allowed_by(acme_dns.challenge_policy(ZONE, DOMAIN), CHANGE, self.change(names, types, actions), zone)

    def test_txt_upsert_and_delete_of_the_challenge_record(self) -> None:
        assert self.verdict([f"_acme-challenge.{DOMAIN}"], ["TXT"], ["UPSERT"])
        assert self.verdict([f"_acme-challenge.{DOMAIN}"], ["TXT"], ["DELETE"])

    def test_nothing_else(self) -> None:
        challenge = f"_acme-challenge.{DOMAIN}"
        assert not self.verdict([challenge], ["TXT"], ["CREATE"])
        assert not self.verdict([challenge], ["CNAME"], ["UPSERT"])
        assert not self.verdict([challenge], ["TXT", "NS"], ["UPSERT"])
        assert not self.verdict([f"acme-bank.{DOMAIN}"], ["TXT"], ["UPSERT"])
        assert not self.verdict([f"_acme-challenge.alpha.{DOMAIN}"], ["TXT"], ["UPSERT"])
        assert not self.verdict([challenge, f"alpha.{DOMAIN}"], ["TXT"], ["UPSERT"])
        assert not self.verdict(None, ["TXT"], ["UPSERT"])
        assert not self.verdict([challenge], ["TXT"], ["UPSERT"], zone="arn:aws:route53:::hostedzone/ZOTHER")

    def test_waiting_for_a_change_and_no_other_call(self) -> None:
        policy = acme_dns.challenge_policy(ZONE, DOMAIN)
        assert allowed_by(policy, "route53:GetChange", {}, "arn:aws:route53:::change/C123")
        for action in ("route53:ListHostedZonesByName", "route53:DeleteHostedZone", "route53:ListResourceRecordSets"):
            assert not allowed_by(policy, action, {}, self.ZONE_ARN), action

    def test_the_domain_is_normalized(self) -> None:
        assert acme_dns.challenge_record("Cells.Acme-Corp.NET.") == f"_acme-challenge.{DOMAIN}"


class TestTrustVerdicts:
    ACCOUNT = "210987654321"
    CERT_MANAGER = f"arn:aws:iam::{ACCOUNT}:role/honeycomb-cert-manager"

    def session(self, role: str = CERT_MANAGER, **tags: str) -> dict[str, Any]:
        """A chained AssumeRole from a Pod Identity session: its transitive tags are the caller's."""
        found = {"eks-cluster-name": "alpha", "kubernetes-namespace": "cert-manager"}
        found |= {"kubernetes-service-account": "cert-manager", **tags}
        return {"aws:PrincipalArn": role, **{f"aws:PrincipalTag/{k}": v for k, v in found.items()}}

    def trusted(self, request: dict[str, Any], action: str = "sts:AssumeRole") -> bool:
        trust = acme_dns.aws_cell_trust_policy(self.ACCOUNT, "alpha")
        return trusts(trust, f"arn:aws:iam::{self.ACCOUNT}:root", action, request)

    def test_the_cells_cert_manager_assumes_and_carries_its_tags(self) -> None:
        assert self.trusted(self.session())
        assert self.trusted(self.session(), "sts:TagSession")

    def test_no_other_pod_role_or_cluster(self) -> None:
        assert not self.trusted(self.session(**{"kubernetes-service-account": "web"}))
        assert not self.trusted(self.session(**{"kubernetes-namespace": "web"}))
        assert not self.trusted(self.session(**{"eks-cluster-name": "gamma"}))
        assert not self.trusted(self.session(role=f"arn:aws:iam::{self.ACCOUNT}:role/alpha-deployer"))
        untagged = {"aws:PrincipalArn": self.CERT_MANAGER}
        assert not self.trusted(untagged)

    def test_no_other_account(self) -> None:
        trust = acme_dns.aws_cell_trust_policy(self.ACCOUNT, "alpha")
        other = self.session(role="arn:aws:iam::111111111111:role/honeycomb-cert-manager")
        assert not trusts(trust, "arn:aws:iam::111111111111:root", "sts:AssumeRole", other)

    def test_gke_tokens_of_the_dns01_service_account_only(self) -> None:
        issuer = acme_dns.gke_issuer("acme-cell-beta", "europe-west1", "beta-gke")
        host = issuer.removeprefix("https://")
        provider = f"arn:aws:iam::{DNS_ACCOUNT}:oidc-provider/{host}"
        trust = acme_dns.gcp_cell_trust_policy(provider, issuer)
        token = {
            f"{host}:aud": "sts.amazonaws.com",
            f"{host}:sub": "system:serviceaccount:cert-manager:honeycomb-acme-dns01",
        }
        assert trusts(trust, provider, "sts:AssumeRoleWithWebIdentity", token)
        assert not trusts(
            trust, provider, "sts:AssumeRoleWithWebIdentity", {**token, f"{host}:sub": "system:serviceaccount:web:web"}
        )
        assert not trusts(trust, provider, "sts:AssumeRoleWithWebIdentity", {**token, f"{host}:aud": "other"})
        assert not trusts(trust, provider, "sts:AssumeRole", token)


# --- Let's Encrypt's budget and Route53's eight answers ----------------------------------------------

SHIM = "cert-manager.io/cluster-issuer"


@pytest.mark.parametrize("cell", CELLS)
def test_one_new_certificate_per_component(plans: dict[str, StackPlan], registry: Registry, cell: str) -> None:
    """Let's Encrypt issues 50 new certificates per registered domain a week, whoever asks: the serving
    component's own host comes from the tenants' certificate (which names it), not from one more of its own."""
    plan = plans[cell]
    shimmed = [i for i in plan.of_type(INGRESS) if SHIM in (i.inputs["metadata"].get("annotations") or {})]
    assert len(shimmed) + len(plan.of_type(CERTIFICATE)) == len(registry.organization.components)
    web = plan.one(INGRESS, f"{cell}-workloads-web-ingress")
    assert SHIM not in (web.inputs["metadata"].get("annotations") or {})
    assert web.inputs["spec"]["tls"] == [{"hosts": [f"web.{cell}.{DOMAIN}"], "secretName": TENANT_TLS_SECRET}]
    assert f"web.{cell}.{DOMAIN}" in tenant_certificate(plan).inputs["spec"]["dnsNames"]
    # The other components keep their own certificate.
    api = plan.one(INGRESS, f"{cell}-workloads-api-ingress")
    assert api.inputs["metadata"]["annotations"] == {SHIM: addons.CLUSTER_ISSUER}
    assert api.inputs["spec"]["tls"][0]["secretName"] == "api-tls"


def _hours(duration: str) -> float:
    """A Go duration of hours and minutes (`720h5m`) in hours."""
    match = re.fullmatch(r"(\d+)h(\d+)m", duration)
    assert match, duration
    return int(match[1]) + int(match[2]) / 60


def test_cells_renew_their_tenant_certificates_at_different_times(plans: dict[str, StackPlan]) -> None:
    """Cells issued together would renew together and present `_acme-challenge.<domain>` at once: each
    cell's `renewBefore` is its own, stable, and under cert-manager's default 90-day `duration`."""
    renewals = {cell: tenant_certificate(plan).inputs["spec"]["renewBefore"] for cell, plan in plans.items()}
    assert len(set(renewals.values())) == len(renewals)
    for cell, value in renewals.items():
        assert value == renew_before(cell)
        assert 720 <= _hours(value) < 744 < 90 * 24


def test_renewals_spread_over_a_day_for_many_cells() -> None:
    """A thousand cells: no renewal minute holds more than Route53's 8 answers."""
    minutes = Counter(round(_hours(renew_before(f"c{i:04d}")) * 60) for i in range(1000))
    assert max(minutes.values()) <= MAX_CONCURRENT_CHALLENGES
    assert len(minutes) > 500


def _wave(name: str, cells: int) -> WavePlan:
    return WavePlan(name, 0.0, tuple(Target(f"cell-c{i}", name, f"c{i}") for i in range(cells)))


def test_a_bootstrap_of_more_than_eight_new_cells_at_once_is_capped() -> None:
    waves = [_wave("management", 1), _wave("prod-main", 12), _wave("routing", 1)]
    concurrency, notes = challenge_cap(25, waves)
    assert concurrency == MAX_CONCURRENT_CHALLENGES == 8
    (note,) = notes
    assert "capped at 8 (asked 25)" in note and "12 new cells" in note and "_acme-challenge" in note


@pytest.mark.parametrize(("asked", "cells"), [(8, 12), (25, 8), (4, 30)])
def test_a_bootstrap_within_eight_at_once_keeps_its_concurrency(asked: int, cells: int) -> None:
    assert challenge_cap(asked, [_wave("management", 1), _wave("prod-main", cells)]) == (asked, ())


def test_bootstrap_plans_cap_what_the_registry_would_start_at_once(registry: Registry, tmp_path: Path) -> None:
    sample = bootstrap_plan(registry, [c.name for c in registry.cells], revision="c" * 40, concurrency=25)
    assert (sample.concurrency, sample.notes) == (25, ())
    many = load_registry(generated_registry(40, tmp_path / "org"))
    plan = bootstrap_plan(many, [c.name for c in many.cells], revision="c" * 40, concurrency=25)
    assert plan.concurrency == 8 and plan.notes
    assert describe(plan, {})["notes"] == list(plan.notes)


# --- the GKE issuer is the cluster's --------------------------------------------------------------------


def test_the_gke_issuer_trusted_in_the_dns_account_is_the_planned_clusters(
    plans: dict[str, StackPlan], management: StackPlan
) -> None:
    """Built from the cluster the cell stack really creates: a renamed cluster would otherwise leave the
    OIDC trust matching no token's `iss`."""
    cluster = plans["beta"].one("gcp:container/cluster:Cluster").inputs
    issuer = acme_dns.gke_issuer(cluster["project"], cluster["location"], cluster["name"])
    assert management.one(OIDC, "acme-beta-gke").inputs["url"] == issuer
    assert plans["beta"].outputs["clusterName"] == cluster["name"]


def test_cellctl_bootstrap_says_why_it_runs_fewer_cells_at_once(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cellctl.main import app

    many = generated_registry(40, tmp_path / "org")
    project = tmp_path / "project"
    project.mkdir()
    args = ["bootstrap", "--all", "-c", "25", "--dry-run", "--registry", str(many), "--project-dir", str(project)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert "note: concurrency capped at 8 (asked 25)" in " ".join(result.stderr.split())
    schedule = json.loads(result.stdout)
    assert schedule["concurrency"] == 8 and "Route53" in schedule["notes"][0]
