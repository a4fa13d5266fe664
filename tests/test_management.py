"""The management stack under Pulumi mocks: accounts, projects, SSO, guardrails, monitoring,
images and the published registry, for the sample organization and for one with a cell added."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest
import yaml
from iam_verdicts import allowed_by, denied_by, trusts

from cellctl.mocks import CloudMocks, MockContext, fake_account_id, fake_project_number
from cellctl.mocks import aws_org as org_mocks
from cellctl.mocks.pulumi_builtin import management_outputs
from cellctl.offline import PlannedResource, StackPlan, run_program, run_stack
from cells import AwsCell, Environment, GcpCell, Registry, RegistryError, load_registry
from cells.client import load as load_published
from components.aws import artifacts, dns_role, identity, monitoring, organization
from components.aws.delegation import delegation_provider
from components.gcp import monitoring_scope, projects
from policies.evaluate import reveal
from stacks import management
from stacks import outputs as out
from stacks.identity_center import DNS_ACCOUNT

ACCOUNT = "aws:organizations/account:Account"
OU = "aws:organizations/organizationalUnit:OrganizationalUnit"
SCP = "aws:organizations/policy:Policy"
SCP_ATTACHMENT = "aws:organizations/policyAttachment:PolicyAttachment"
PERMISSION_SET = "aws:ssoadmin/permissionSet:PermissionSet"
ASSIGNMENT = "aws:ssoadmin/accountAssignment:AccountAssignment"
MANAGED_ATTACHMENT = "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment"
INLINE_POLICY = "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy"
SINK = "aws:oam/sink:Sink"
SINK_POLICY = "aws:oam/sinkPolicy:SinkPolicy"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
DEPLOYMENT_SETTINGS = "pulumiservice:index:DeploymentSettings"
ECR_REPO = "aws:ecr/repository:Repository"
ECR_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
PROJECT = "gcp:organizations/project:Project"
FOLDER = "gcp:organizations/folder:Folder"
MONITORED = "gcp:monitoring/monitoredProject:MonitoredProject"
AR_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
SERVICE = "gcp:projects/service:Service"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
GCS_OBJECT = "gcp:storage/bucketObject:BucketObject"
GCS_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
CHANGE = "route53:ChangeResourceRecordSets"
#: IAM's limits: a role's trust policy (default quota; at most 4,096 when raised) and its inline policies.
TRUST_POLICY_LIMIT = 2048
INLINE_POLICY_LIMIT = 10240
ACCESS_ROLE = "OrganizationAccountAccessRole"


@pytest.fixture(scope="module")
def plan(registry: Registry) -> StackPlan:
    return run_stack("management", registry)


def by_name(plan: StackPlan, type_: str) -> dict[str, PlannedResource]:
    return {r.name: r for r in plan.of_type(type_)}


def provider_of(plan: StackPlan, resource: PlannedResource) -> PlannedResource:
    assert resource.provider is not None, f"{resource.urn} uses a default provider"
    return plan.by_urn()[resource.provider]


def ou_ids(plan: StackPlan) -> dict[str, str]:
    """OU id by environment."""
    return {r.inputs["name"].removeprefix("cells-"): r.outputs["id"] for r in plan.of_type(OU)}


def group_id(registry: Registry, name: str) -> str:
    return lookup(registry, "getGroup", name)["groupId"]


def user_id(registry: Registry, name: str) -> str:
    return lookup(registry, "getUser", name)["userId"]


def lookup(registry: Registry, kind: str, value: str) -> dict[str, Any]:
    """What the identity store (mock) answers for a display name or user name."""
    inputs = {
        "identityStoreId": registry.organization.aws.identity_store_id,
        "alternateIdentifier": {"uniqueAttribute": {"attributeValue": value}},
    }
    ctx = MockContext(kind, kind, inputs, {}, registry, CloudMocks(registry))
    handler = org_mocks.get_group if kind == "getGroup" else org_mocks.get_user
    return handler(ctx)


def generated_registry(n: int, dest: Path) -> Path:
    """`benchmarks/generate.py`'s registry of `n` cells (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("generate", Path(__file__).parents[1] / "benchmarks" / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate.write_registry(n, dest)


def add_cell(registry_dir: Path, data: dict[str, Any]) -> Registry:
    (registry_dir / "cells" / f"{data['name']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_registry(registry_dir)


# --- the whole plan --------------------------------------------------------------------------


def test_urns_are_unique_and_every_resource_has_an_explicit_provider(plan: StackPlan) -> None:
    urns = [r.urn for r in plan.resources]
    assert len(urns) == len(set(urns))
    for r in plan.custom_resources:
        if not r.type.startswith("pulumi:providers:"):
            provider_of(plan, r)


def test_exports_match_what_cell_stacks_are_shown(plan: StackPlan, registry: Registry) -> None:
    """The StackReference mock synthesizes the management outputs; they must be the real ones."""
    ctx = MockContext("pulumi:pulumi:StackReference", "management", {}, {}, registry, CloudMocks(registry))
    assert plan.outputs == management_outputs(ctx)
    for name in (
        out.ACCOUNT_IDS,
        out.PROJECT_NUMBERS,
        out.NODE_SERVICE_ACCOUNTS,
        out.OAM_SINK_ARNS,
        out.DNS_DELEGATION_ROLE_ARN,
        out.CI_ROLE_ARN,
        out.ECR_REGISTRY,
        out.REGISTRY_URL,
        out.REGISTRY_REPLICA_URLS,
    ):
        assert plan.outputs[name], name


# --- AWS Organizations -------------------------------------------------------------------------


def test_one_account_per_aws_cell_in_its_environments_ou(plan: StackPlan, registry: Registry) -> None:
    accounts = by_name(plan, ACCOUNT)
    assert set(accounts) == {f"{c.name}-account" for c in registry.aws_cells}
    ous = ou_ids(plan)
    assert set(ous) == {str(e) for e in Environment}
    for cell in registry.aws_cells:
        account = accounts[f"{cell.name}-account"]
        assert account.inputs["name"] == f"cell-{cell.name}"
        assert account.inputs["email"] == cell.account_email
        assert account.inputs["parentId"] == ous[str(cell.environment)]
        assert account.inputs["roleName"] == registry.organization.aws.access_role_name
        assert account.inputs["closeOnDeletion"] is False
        assert account.inputs["tags"] == cell.tags
        assert "roleName" in account.ignore_changes
        assert account.protect is (cell.environment is Environment.prod)
        assert provider_of(plan, account).name == "management"


def test_a_pinned_account_is_imported_and_keeps_its_id(plan: StackPlan, registry: Registry) -> None:
    accounts = by_name(plan, ACCOUNT)
    for cell in registry.aws_cells:
        account = accounts[f"{cell.name}-account"]
        assert account.import_id == cell.account_id
        expected = cell.account_id or fake_account_id(cell.name)
        assert account.outputs["id"] == expected
        assert plan.outputs[out.ACCOUNT_IDS][cell.name] == expected
    assert registry.cell("alpha").account_id == "210987654321"  # the sample pins alpha


def test_no_account_for_gcp_cells(plan: StackPlan, registry: Registry) -> None:
    names = {r.inputs["name"] for r in plan.of_type(ACCOUNT)}
    assert all(f"cell-{c.name}" not in names for c in registry.gcp_cells)
    assert set(plan.outputs[out.ACCOUNT_IDS]) == {c.name for c in registry.aws_cells}


def test_scps_are_valid_json_and_attached_to_every_cell_ou(plan: StackPlan, registry: Registry) -> None:
    policies = {r.inputs["name"]: r for r in plan.of_type(SCP)}
    assert set(policies) == {"honeycomb-cells-regions", "honeycomb-cells-guardrails", "honeycomb-cells-protections"}
    for policy in policies.values():
        assert policy.inputs["type"] == "SERVICE_CONTROL_POLICY"
        assert len(policy.inputs["content"]) <= organization.MAX_SCP_CHARS
        json.loads(policy.inputs["content"])
    attached = {(a.inputs["policyId"], a.inputs["targetId"]) for a in plan.of_type(SCP_ATTACHMENT)}
    assert attached == {(p.outputs["id"], ou) for p in policies.values() for ou in ou_ids(plan).values()}
    regions = json.loads(policies["honeycomb-cells-regions"].inputs["content"])["Statement"][0]
    assert regions["Condition"]["StringNotEquals"]["aws:RequestedRegion"] == sorted(
        registry.organization.aws.allowed_regions
    )


class TestRegionGuardrail:
    def test_denies_every_region_but_the_allowed_ones(self) -> None:
        doc = json.loads(organization.region_guardrail_policy(["us-west-2", "eu-west-1", "us-west-2"]))
        (statement,) = doc["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Resource"] == "*"
        assert statement["Condition"] == {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-west-2"]}}

    def test_global_services_are_exempt(self) -> None:
        exempt = json.loads(organization.region_guardrail_policy(["eu-west-1"]))["Statement"][0]["NotAction"]
        for action in ("iam:*", "organizations:*", "sts:*", "route53:*", "cloudfront:*", "support:*", "sso:*"):
            assert action in exempt
        assert not any(a.startswith(("ec2:Run", "eks:", "s3:PutObject")) for a in exempt)

    def test_needs_a_region(self) -> None:
        with pytest.raises(ValueError, match="at least one allowed region"):
            organization.region_guardrail_policy([])


class TestCellGuardrails:
    @pytest.fixture
    def statements(self) -> dict[str, dict[str, Any]]:
        doc = json.loads(organization.cell_guardrail_policy(ACCESS_ROLE))
        assert len(organization.cell_guardrail_policy(ACCESS_ROLE)) <= organization.MAX_SCP_CHARS
        return {s["Sid"]: s for s in doc["Statement"]}

    def test_every_statement_denies(self, statements: dict[str, dict[str, Any]]) -> None:
        assert {s["Effect"] for s in statements.values()} == {"Deny"}

    def test_deny_leaving_the_organization(self, statements: dict[str, dict[str, Any]]) -> None:
        assert statements["DenyLeavingOrganization"]["Action"] == "organizations:LeaveOrganization"

    def test_deny_stopping_or_deleting_cloudtrail(self, statements: dict[str, dict[str, Any]]) -> None:
        assert {"cloudtrail:StopLogging", "cloudtrail:DeleteTrail"} <= set(
            statements["DenyCloudTrailTampering"]["Action"]
        )

    def test_deny_deleting_the_observability_link(self, statements: dict[str, dict[str, Any]]) -> None:
        assert "oam:DeleteLink" in statements["DenyObservabilityUnlink"]["Action"]

    def test_deny_the_root_user(self, statements: dict[str, dict[str, Any]]) -> None:
        root = statements["DenyRootUser"]
        assert root["Action"] == "*"
        assert root["Condition"] == {"StringLike": {"aws:PrincipalArn": "arn:*:iam::*:root"}}


# --- GCP -----------------------------------------------------------------------------------------


def test_one_project_per_gcp_cell(plan: StackPlan, registry: Registry) -> None:
    found = by_name(plan, PROJECT)
    assert set(found) == {f"{c.name}-project" for c in registry.gcp_cells}
    folders = {r.inputs["displayName"]: r for r in plan.of_type(FOLDER)}
    assert set(folders) == {f"acme-cells-{e}" for e in Environment}
    for cell in registry.gcp_cells:
        project = found[f"{cell.name}-project"]
        folder = folders[f"acme-cells-{cell.environment}"]
        assert project.inputs["projectId"] == cell.project_id
        assert project.inputs["billingAccount"] == registry.organization.gcp.billing_account
        assert project.inputs["folderId"] == folder.outputs["folderId"]
        assert project.inputs["labels"] == cell.tags
        assert project.inputs["autoCreateNetwork"] is False
        assert folder.inputs["parent"] == f"organizations/{registry.organization.gcp.organization_id}"
        assert plan.outputs[out.PROJECT_NUMBERS][cell.name] == fake_project_number(cell.project_id)


def test_prod_projects_are_protected_and_refuse_deletion(plan: StackPlan, registry: Registry) -> None:
    beta = registry.cell("beta")
    assert beta.environment is Environment.prod
    project = by_name(plan, PROJECT)["beta-project"]
    assert project.inputs["deletionPolicy"] == "PREVENT"
    assert project.protect is True


def test_other_projects_can_go_and_a_cell_folder_wins(registry_copy: Path, edit_yaml: Any, registry: Registry) -> None:
    def to_preprod(data: dict[str, Any]) -> None:
        data.update(environment="preprod", wave="preprod", folder="folders/123456")

    edit_yaml(registry_copy / "cells" / "beta.yaml", to_preprod)
    (registry_copy / "tenants" / "beta.yaml").unlink()  # prod tenants would not stay in a preprod cell
    project = run_stack("management", load_registry(registry_copy)).one(PROJECT, "beta-project")
    assert project.inputs["deletionPolicy"] == "DELETE"
    assert project.protect is False
    assert project.inputs["folderId"] == "123456"


def test_gcp_cells_join_the_central_metrics_scope(plan: StackPlan, registry: Registry) -> None:
    scoped = by_name(plan, MONITORED)
    assert set(scoped) == {f"{c.name}-monitored-project" for c in registry.gcp_cells}
    for cell in registry.gcp_cells:
        member = scoped[f"{cell.name}-monitored-project"]
        assert (
            member.inputs["metricsScope"]
            == f"locations/global/metricsScopes/{registry.organization.gcp.monitoring_project}"
        )
        assert member.inputs["name"] == cell.project_id


def test_gcp_cell_nodes_may_read_images(plan: StackPlan, registry: Registry) -> None:
    members = by_name(plan, AR_MEMBER)
    assert set(members) == {f"{c.name}-image-reader" for c in registry.gcp_cells}
    beta = members["beta-image-reader"]
    assert beta.inputs["role"] == "roles/artifactregistry.reader"
    assert beta.inputs["member"] == "serviceAccount:beta-nodes@acme-cell-beta.iam.gserviceaccount.com"


def test_gcp_cell_node_accounts_exist_before_their_image_grants(plan: StackPlan, registry: Registry) -> None:
    """GCP refuses a grant to an account that does not exist: this stack creates the account it grants."""
    accounts = by_name(plan, SERVICE_ACCOUNT)
    apis = by_name(plan, SERVICE)
    projects_by_cell = by_name(plan, PROJECT)
    for cell in registry.gcp_cells:
        account = accounts[f"{cell.name}-nodes-sa"]
        assert account.inputs["project"] == cell.project_id
        assert account.inputs["accountId"] == monitoring_scope.node_service_account_id(cell.name)
        # Creating a service account needs the IAM API on, in the account's project.
        api = apis[f"{cell.name}-iam-api"]
        assert api.inputs["project"] == cell.project_id and api.inputs["service"] == "iam.googleapis.com"
        assert api.inputs["disableOnDestroy"] is False
        assert api.urn in account.depends_on
        assert projects_by_cell[f"{cell.name}-project"].urn in account.depends_on
        grant = by_name(plan, AR_MEMBER)[f"{cell.name}-image-reader"]
        assert grant.inputs["member"] == f"serviceAccount:{account.outputs['email']}"
        assert account.urn in grant.depends_on
        assert plan.outputs[out.NODE_SERVICE_ACCOUNTS][cell.name] == account.outputs["email"]
        # Deleting a prod cell's node account would stop its nodes.
        assert account.protect is (cell.environment is Environment.prod)


class TestNodeServiceAccount:
    def test_short_names_are_plain(self) -> None:
        assert monitoring_scope.node_service_account_email("beta", "p-1") == "beta-nodes@p-1.iam.gserviceaccount.com"

    def test_long_names_fit_and_stay_distinct(self) -> None:
        a = monitoring_scope.node_service_account_id("a" * 32)
        b = monitoring_scope.node_service_account_id("a" * 31 + "b")
        assert a != b
        for account_id in (a, b):
            assert 6 <= len(account_id) <= 30
            assert account_id.endswith("-nodes")

    def test_deletion_policy(self) -> None:
        assert projects.deletion_policy(prod=True) == "PREVENT"
        assert projects.deletion_policy(prod=False) == "DELETE"


# --- Identity Center ---------------------------------------------------------------------------------


def expected_assignments(registry: Registry, plan: StackPlan) -> Counter[tuple[str, str, str, str]]:
    """(account id, principal type, principal id, permission set ARN) the registry implies."""
    arns = {r.inputs["name"]: r.outputs["arn"] for r in plan.of_type(PERMISSION_SET)}
    accounts = plan.outputs[out.ACCOUNT_IDS]
    expected: Counter[tuple[str, str, str, str]] = Counter()
    for cell in registry.aws_cells:
        for rule in registry.access_for(cell):
            expected[(accounts[cell.name], "GROUP", group_id(registry, rule.group), arns[str(rule.permission)])] += 1
        if cell.environment is Environment.dev:
            assert cell.owner
            expected[(accounts[cell.name], "USER", user_id(registry, cell.owner), arns["admin"])] += 1
    dns = registry.organization.aws.dns_account_id
    for rule in registry.organization.access[Environment.prod]:
        if str(rule.permission) in {"cell-operator", "admin"}:  # who operates prod moves tenants
            expected[(dns, "GROUP", group_id(registry, rule.group), arns["cell-operator"])] += 1
    return expected


def test_assignments_are_exactly_the_cross_product_of_the_access_rules(plan: StackPlan, registry: Registry) -> None:
    found = plan.of_type(ASSIGNMENT)
    expected = expected_assignments(registry, plan)
    # prod: 4 rules each (alpha, gamma), preprod: 3 (staging), dev: 2 + the owner's admin (dev-jdoe);
    # the DNS account: cell-operator for prod's cell-operators and platform-admins (tenant moves)
    assert len(found) == sum(expected.values()) == 4 + 4 + 3 + 3 + 2
    actual = Counter(
        (r.inputs["targetId"], r.inputs["principalType"], r.inputs["principalId"], r.inputs["permissionSetArn"])
        for r in found
    )
    assert actual == expected
    for r in found:
        assert r.inputs["targetType"] == "AWS_ACCOUNT"
        assert r.inputs["instanceArn"] == registry.organization.aws.sso_instance_arn


def test_every_group_is_a_distinct_identity_store_lookup(plan: StackPlan, registry: Registry) -> None:
    by_principal: dict[str, set[str]] = {}
    for r in plan.of_type(ASSIGNMENT):
        if r.inputs["principalType"] == "GROUP":
            by_principal.setdefault(r.inputs["principalId"], set()).add(r.name.split("-group-")[1].rsplit("-", 2)[0])
    groups = {rule.group for c in registry.aws_cells for rule in registry.access_for(c)}
    assert len(by_principal) == len(groups)


def test_a_dev_cells_owner_gets_admin_there_only(plan: StackPlan, registry: Registry) -> None:
    users = [r for r in plan.of_type(ASSIGNMENT) if r.inputs["principalType"] == "USER"]
    dev = registry.cell("dev-jdoe")
    admin_arn = by_name(plan, PERMISSION_SET)["sso-admin"].outputs["arn"]
    assert [(u.inputs["targetId"], u.inputs["principalId"], u.inputs["permissionSetArn"]) for u in users] == [
        (plan.outputs[out.ACCOUNT_IDS]["dev-jdoe"], user_id(registry, dev.owner or ""), admin_arn)
    ]


def test_assignments_are_keyed_by_stable_ids(plan: StackPlan) -> None:
    names = set(by_name(plan, ASSIGNMENT))
    assert "alpha-group-cell-operators-cell-operator" in names
    assert "dev-jdoe-user-jane.doe@acme-corp.net-admin" in names


def test_permission_sets(plan: StackPlan, registry: Registry) -> None:
    sets = {r.inputs["name"]: r for r in plan.of_type(PERMISSION_SET)}
    assert set(sets) == {"read-only", "cell-operator", "admin"}
    assert sets["admin"].inputs["sessionDuration"] == "PT1H"
    for ps in sets.values():
        hours = int(ps.inputs["sessionDuration"].removeprefix("PT").removesuffix("H"))
        assert 1 <= hours <= 8
        assert ps.inputs["description"]
        assert ps.inputs["instanceArn"] == registry.organization.aws.sso_instance_arn
    managed = {(r.inputs["permissionSetArn"], r.inputs["managedPolicyArn"]) for r in plan.of_type(MANAGED_ATTACHMENT)}
    assert (sets["read-only"].outputs["arn"], "arn:aws:iam::aws:policy/ReadOnlyAccess") in managed
    assert (sets["admin"].outputs["arn"], "arn:aws:iam::aws:policy/AdministratorAccess") in managed
    assert not any(arn == sets["cell-operator"].outputs["arn"] and "Administrator" in p for arn, p in managed)
    (inline,) = plan.of_type(INLINE_POLICY)
    assert inline.inputs["permissionSetArn"] == sets["cell-operator"].outputs["arn"]


def test_policy_attachments_depend_on_their_permission_sets_assignments(plan: StackPlan) -> None:
    assignments = plan.of_type(ASSIGNMENT)
    for attachment in [*plan.of_type(MANAGED_ATTACHMENT), *plan.of_type(INLINE_POLICY)]:
        mine = {a.urn for a in assignments if a.inputs["permissionSetArn"] == attachment.inputs["permissionSetArn"]}
        assert mine
        assert mine <= set(attachment.depends_on)


def test_cell_operator_policy_operates_but_never_touches_identity() -> None:
    doc = json.loads(identity.cell_operator_policy())
    allow = next(s for s in doc["Statement"] if s["Effect"] == "Allow")
    deny = next(s for s in doc["Statement"] if s["Effect"] == "Deny")
    assert "eks:AccessKubernetesApi" in allow["Action"]
    assert not any(a.startswith(("iam:", "organizations:", "sso:")) or a == "*" for a in allow["Action"])
    assert {"iam:*", "organizations:*", "oam:*"} <= set(deny["Action"])


def test_clashing_assignment_names_are_refused() -> None:
    a = identity.Assignment("a-group-b", identity.PrincipalType.group, "c", "admin")
    b = identity.Assignment("a", identity.PrincipalType.group, "b-group-c", "admin")
    assert a.key == b.key
    specs = identity.permission_set_specs()
    with pytest.raises(ValueError, match="share the resource name"):
        identity._check_assignments([a, b], specs, {"a-group-b": "1", "a": "2"})
    with pytest.raises(ValueError, match="no permission set named 'root'"):
        identity._check_assignments(
            [identity.Assignment("a", identity.PrincipalType.group, "g", "root")], specs, {"a": "1"}
        )


# --- DNS delegation and CI -------------------------------------------------------------------------------


def test_dns_delegation_role_lets_each_cell_change_only_its_own_ns_record(plan: StackPlan, registry: Registry) -> None:
    aws_org = registry.organization.aws
    role = plan.one(ROLE, "dns-role")
    assert role.inputs["name"] == aws_org.dns_delegation_role_name
    assert provider_of(plan, role).name == "dns"
    assert plan.outputs[out.DNS_DELEGATION_ROLE_ARN] == role.outputs["arn"]
    assert "cell" not in role.inputs["tags"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert {s["Action"]: s["Principal"] for s in trust} == {
        "sts:AssumeRole": {"AWS": plan.outputs[out.CI_ROLE_ARN]},
        "sts:TagSession": {"AWS": plan.outputs[out.CI_ROLE_ARN]},
    }
    for statement in trust:
        assert statement["Condition"]["StringLike"]["aws:RequestTag/cell"] == "?*"
        assert statement["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"] == ["cell"]

    policy = json.loads(plan.one(ROLE_POLICY, "dns-ns-records").inputs["policy"])["Statement"]
    zone_arn = f"arn:aws:route53:::hostedzone/{aws_org.parent_zone_id}"
    (write,) = [s for s in policy if s["Action"] == "route53:ChangeResourceRecordSets"]
    assert write["Resource"] == zone_arn
    assert write["Condition"]["ForAllValues:StringEquals"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
            "${aws:PrincipalTag/cell}." + registry.organization.domain
        ],
        "route53:ChangeResourceRecordSetsRecordTypes": ["NS"],
    }
    reads = {s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"]): s["Resource"] for s in policy}
    assert reads[("route53:GetHostedZone", "route53:ListResourceRecordSets")] == zone_arn
    assert reads["route53:GetChange"] == "arn:aws:route53:::change/*"
    # Every cell's record, through its own tagged session, and only through it.
    for cell in registry.cells:
        for other in registry.cells:
            change = TestDnsDelegationVerdicts.change(other.name, [registry.zone_name(cell)], ["NS"])
            assert allowed_by(json.dumps({"Statement": policy}), CHANGE, change) == (cell is other)


def test_dns_delegation_documents_do_not_grow_with_the_cells(plan: StackPlan, tmp_path: Path) -> None:
    """Hundreds of cells: the same two documents as for the sample's five, well inside IAM's limits
    (listing cells, 300 of them took a 37,000-character trust policy)."""
    many = load_registry(generated_registry(300, tmp_path / "org"))
    assert len(many.cells) == 300
    big = run_stack("management", many)
    documents = {
        "trust": (plan.one(ROLE, "dns-role").inputs["assumeRolePolicy"], TRUST_POLICY_LIMIT),
        "permissions": (plan.one(ROLE_POLICY, "dns-ns-records").inputs["policy"], INLINE_POLICY_LIMIT),
    }
    generated = {
        "trust": big.one(ROLE, "dns-role").inputs["assumeRolePolicy"],
        "permissions": big.one(ROLE_POLICY, "dns-ns-records").inputs["policy"],
    }
    for what, (text, limit) in documents.items():
        assert generated[what] == text, what
        assert len(text) < limit / 2, f"{what}: {len(text)} characters"
    assert "c0299" not in generated["trust"] + generated["permissions"]


def test_the_delegation_role_refuses_a_cell_tag_of_its_own(registry: Registry) -> None:
    def program() -> None:
        provider = aws.Provider("dns", region="us-east-1")
        dns_role.DnsDelegationRole(
            "dns",
            {
                "role_name": "honeycomb-dns-delegation",
                "parent_zone_id": "Z1",
                "domain": "cells.example.com",
                "ci_role_arn": "arn:aws:iam::100000000001:role/honeycomb-ci",
                "tags": {"cell": "alpha"},
            },
            provider=provider,
        )

    with pytest.raises(ValueError, match="cannot carry a 'cell' tag"):
        run_program(program, stack="management", mocks=CloudMocks(registry))


def test_dns_session_matches_the_cells_delegation_provider(registry: Registry) -> None:
    def program() -> None:
        delegation_provider("alpha-dns", role_arn="arn:aws:iam::1:role/x", cell="alpha", tags={})

    provider = run_program(program, stack="cell-alpha", mocks=CloudMocks(registry)).one("pulumi:providers:aws")
    (assume,) = json.loads(provider.inputs["assumeRoles"])
    assert assume["sessionName"] == dns_role.session_name("alpha") == "honeycomb-alpha-dns"
    assert assume["tags"] == {dns_role.CELL_TAG: "alpha"}
    assert assume["transitiveTagKeys"] == [dns_role.CELL_TAG]
    # What that provider asks for is what the trust policy grants.
    trust = dns_role.trust_policy("arn:aws:iam::1:role/ci")
    request = TestDnsDelegationVerdicts.assume(assume["sessionName"], assume["tags"], assume["transitiveTagKeys"])
    assert trusts(trust, "arn:aws:iam::1:role/ci", "sts:AssumeRole", request)
    assert trusts(trust, "arn:aws:iam::1:role/ci", "sts:TagSession", request)


def test_ci_role(plan: StackPlan, registry: Registry) -> None:
    """The CI role trusts GitHub Actions of the registry's repository by default (tests/test_aws_guardrails.py)."""
    role = plan.one(ROLE, "ci-role")
    assert role.inputs["name"] == management.CI_ROLE_NAME
    assert provider_of(plan, role).name == "management"
    github, deployments = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    providers = by_name(plan, OIDC_PROVIDER)
    assert github["Principal"] == {"Federated": providers["ci-github"].outputs["arn"]}
    # Pulumi Deployments of the cell stacks (`--runner deployments`), through Pulumi Cloud's issuer.
    assert deployments["Principal"] == {"Federated": providers["ci-pulumi"].outputs["arn"]}
    assert providers["ci-pulumi"].inputs["url"] == "https://api.pulumi.com/oidc"
    assert providers["ci-pulumi"].inputs["clientIdLists"] == ["acme"]


def test_ci_principals_from_config(registry: Registry) -> None:
    arn = "arn:aws:iam::100000000001:role/runner"
    plan = run_stack("management", registry, config={"ciPrincipalArns": json.dumps([arn])})
    statements = json.loads(plan.one(ROLE, "ci-role").inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in statements][1] == {"AWS": [arn]}
    with pytest.raises(ValueError, match="JSON list of IAM role ARNs"):
        run_stack("management", registry, config={"ciPrincipalArns": "not json"})


def test_identity_center_in_its_own_region(registry: Registry) -> None:
    plan = run_stack("management", registry, config={"identityCenterRegion": "eu-west-1"})
    for r in [*plan.of_type(PERMISSION_SET), *plan.of_type(ASSIGNMENT)]:
        provider = provider_of(plan, r)
        assert provider.name == "management-sso"
        assert provider.inputs["region"] == "eu-west-1"
    assert provider_of(plan, plan.of_type(ACCOUNT)[0]).name == "management"


def test_organization_ids_from_config_skip_the_lookup(registry: Registry) -> None:
    config = {"awsOrganizationId": "o-abcdefghij", "awsOrganizationRootId": "r-ab12"}
    plan = run_stack("management", registry, config=config)
    assert {r.inputs["parentId"] for r in plan.of_type(OU)} == {"r-ab12"}
    paths = json.loads(plan.of_type(ECR_POLICY)[0].inputs["policy"])["Statement"][0]["Condition"]
    assert all(
        p.startswith("o-abcdefghij/r-ab12/ou-") for p in paths["ForAnyValue:StringLike"]["aws:PrincipalOrgPaths"]
    )


# --- central monitoring ------------------------------------------------------------------------------------


def test_one_sink_per_region_with_aws_cells_admitting_exactly_its_accounts(plan: StackPlan, registry: Registry) -> None:
    accounts = plan.outputs[out.ACCOUNT_IDS]
    regions = {c.region for c in registry.aws_cells}
    sinks = {provider_of(plan, s).inputs["region"]: s for s in plan.of_type(SINK)}
    assert set(sinks) == regions
    assert plan.outputs[out.OAM_SINK_ARNS] == {r: s.outputs["arn"] for r, s in sinks.items()}
    policies = {p.inputs["sinkIdentifier"]: p for p in plan.of_type(SINK_POLICY)}
    monitoring_role = (
        f"arn:aws:iam::{registry.organization.aws.monitoring_account_id}:role/OrganizationAccountAccessRole"
    )
    for region, sink in sinks.items():
        assert json.loads(provider_of(plan, sink).inputs["assumeRoles"])[0]["roleArn"] == monitoring_role
        policy = policies[sink.outputs["arn"]]
        assert provider_of(plan, policy).urn == sink.provider
        (statement,) = json.loads(policy.inputs["policy"])["Statement"]
        expected = sorted(accounts[c.name] for c in registry.aws_cells if c.region == region)
        assert statement["Principal"] == {"AWS": expected}
        assert set(statement["Action"]) == {"oam:CreateLink", "oam:UpdateLink"}


def dashboard_widgets(plan: StackPlan) -> list[dict[str, Any]]:
    return [w for d in plan.of_type(DASHBOARD) for w in json.loads(d.inputs["dashboardBody"])["widgets"]]


def widget_label(widget: dict[str, Any]) -> str:
    props = widget["properties"]
    return str(props.get("title") or props["markdown"].splitlines()[0])


def test_dashboards_name_every_cell(plan: StackPlan, registry: Registry) -> None:
    labels = [widget_label(w) for w in dashboard_widgets(plan)]
    for cell in registry.cells:
        assert f"### {cell.name}" in labels
    accounts = plan.outputs[out.ACCOUNT_IDS]
    for cell in registry.aws_cells:
        metrics = [w for w in dashboard_widgets(plan) if w["properties"].get("title", "").startswith(f"{cell.name} · ")]
        assert len(metrics) == len(monitoring.AWS_KEY_METRICS) + len(monitoring.CAPACITY_METRICS)
        for widget in metrics:
            assert widget["properties"]["region"] == cell.region
            assert f':aws.AccountId="{accounts[cell.name]}"' in widget["properties"]["metrics"][0][0]["expression"]


def test_each_cell_shows_its_capacity_against_its_limits(plan: StackPlan, registry: Registry) -> None:
    widgets = dashboard_widgets(plan)
    for cell in registry.aws_cells:
        tenants, requests = (
            next(w for w in widgets if w["properties"].get("title") == f"{cell.name} · {what} (capacity)")
            for what in ("tenants", "daily requests")
        )
        for widget, metric, limit in (
            (tenants, "TenantCount", cell.capacity.max_tenants),
            (requests, "DailyRequests", cell.capacity.max_daily_requests),
        ):
            expression = widget["properties"]["metrics"][0][0]["expression"]
            assert expression.startswith("SEARCH('{Honeycomb/Tenants,cell} ")
            assert f'MetricName="{metric}" cell="{cell.name}"' in expression
            lines = {a["label"]: a["value"] for a in widget["properties"]["annotations"]["horizontal"]}
            assert lines == {"limit": limit, "headroom line": limit * 85 // 100}
    texts = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    [beta] = [t for t in texts if t.startswith("### beta\n")]
    assert "`custom.googleapis.com/honeycomb/tenants` (limit 250, headroom line 212)" in beta
    assert "`custom.googleapis.com/honeycomb/daily_requests` (limit 40,000,000, headroom line 34,000,000)" in beta


def test_one_dashboard_in_the_monitoring_account_grouped_by_environment(plan: StackPlan, registry: Registry) -> None:
    (board,) = plan.of_type(DASHBOARD)
    assert board.inputs["dashboardName"] == "honeycomb-cells"
    assert provider_of(plan, board).inputs["allowedAccountIds"] == json.dumps(
        [registry.organization.aws.monitoring_account_id]
    )
    texts = [
        w["properties"]["markdown"].splitlines()[0]
        for w in sorted(json.loads(board.inputs["dashboardBody"])["widgets"], key=lambda w: (w["y"], w["x"]))
        if w["type"] == "text"
    ]
    expected: list[str] = []
    for env in ("prod", "preprod", "dev"):
        expected += [f"## {env}", *sorted(f"### {c.name}" for c in registry.cells if str(c.environment) == env)]
    assert texts == expected


def test_dashboard_pages_stay_under_the_widget_limit() -> None:
    cells = [monitoring.DashboardCell(f"c{i:04d}", "aws", "prod", "us-east-1", account_id="1") for i in range(300)]
    cells.append(monitoring.DashboardCell("g", "gcp", "dev", "europe-west1", project_id="p"))
    pages = monitoring.dashboard_pages(cells, prefix="p")
    assert list(pages) == ["p", "p-2", "p-3", "p-4"]  # six widgets per AWS cell: 83 cells a page
    assert [c.name for page in pages.values() for c in page] == [c.name for c in cells]
    for page in pages.values():
        widgets = json.loads(monitoring.dashboard_body(page, scoping_project="s"))["widgets"]
        assert len(widgets) <= monitoring.MAX_WIDGETS
        assert widgets[0]["properties"]["markdown"] == "## prod"


def test_sink_policy_needs_an_account() -> None:
    with pytest.raises(ValueError, match="at least one account"):
        monitoring.sink_policy([])


# --- images and the published registry -----------------------------------------------------------------------


def test_image_repositories_per_component_pullable_from_the_cell_ous(plan: StackPlan, registry: Registry) -> None:
    repos = {r.inputs["name"]: r for r in plan.of_type(ECR_REPO)}
    assert set(repos) == {f"acme/{c.name}" for c in registry.organization.components}
    for repo in repos.values():
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.outputs["repositoryUrl"].startswith(plan.outputs[out.ECR_REGISTRY] + "/")
    policies = plan.of_type(ECR_POLICY)
    assert {p.inputs["repository"] for p in policies} == set(repos)
    org_id = org_mocks.organization_id(MockContext("", "", {}, {}, registry, CloudMocks(registry)))
    root_id = org_mocks.root_id(MockContext("", "", {}, {}, registry, CloudMocks(registry)))
    for policy in policies:
        (statement,) = json.loads(policy.inputs["policy"])["Statement"]
        assert set(statement["Action"]) == set(artifacts.PULL_ACTIONS)
        assert statement["Condition"]["ForAnyValue:StringLike"]["aws:PrincipalOrgPaths"] == sorted(
            f"{org_id}/{root_id}/{ou}/*" for ou in ou_ids(plan).values()
        )


def test_registry_bucket_is_versioned_encrypted_and_private(plan: StackPlan, registry: Registry) -> None:
    bucket = plan.one("aws:s3/bucket:Bucket", "registry-bucket")
    assert bucket.inputs["bucket"] == registry.organization.registry.bucket
    assert plan.one("aws:s3/bucketVersioning:BucketVersioning", "registry-versioning").inputs[
        "versioningConfiguration"
    ] == {"status": "Enabled"}
    sse = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    (rule,) = plan.one(sse, "registry-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "registry-public-access").inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    policy = json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy", "registry-policy").inputs["policy"])["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_published_registry_holds_every_cell_with_resolved_outputs(
    plan: StackPlan, registry: Registry, tmp_path: Path
) -> None:
    obj = plan.one("aws:s3/bucketObjectv2:BucketObjectv2")
    assert obj.inputs["key"] == registry.organization.registry.key
    assert obj.inputs["contentType"] == "application/json"
    published = json.loads(obj.inputs["content"])
    cells = {c["name"]: c for c in published["cells"]}
    assert set(cells) == {c.name for c in registry.cells}
    for cell in registry.cells:
        outputs = cells[cell.name]["outputs"]
        assert outputs["zone_name"] == registry.zone_name(cell)
        if isinstance(cell, AwsCell):
            assert outputs["account_id"] == plan.outputs[out.ACCOUNT_IDS][cell.name]
            assert outputs["oam_sink_arn"] == plan.outputs[out.OAM_SINK_ARNS][cell.region]
        else:
            assert isinstance(cell, GcpCell)
            assert outputs["project_number"] == plan.outputs[out.PROJECT_NUMBERS][cell.name]
    path = tmp_path / "registry.json"
    path.write_text(obj.inputs["content"])
    loaded = load_published(str(path))
    assert loaded.registry == registry
    assert len(loaded.tenants) == len(published["tenants"]) == len(registry.tenants) > 0
    # Everything published comes back: account ids, project numbers, sinks, zones.
    for cell in registry.cells:
        assert loaded.outputs_for(cell).model_dump(exclude_none=True) == cells[cell.name]["outputs"]
    assert plan.outputs[out.REGISTRY_URL] == f"s3://{registry.organization.registry.bucket}/registry.json"


def test_every_gcp_region_with_cells_has_a_private_regional_copy_in_cloud_storage(
    plan: StackPlan, registry: Registry
) -> None:
    """What Cloud Storage takes (google_storage_bucket): a location, and here the region itself; uniform
    bucket-level access and enforced public access prevention keep it IAM-only and never public."""
    regions = sorted({c.region for c in registry.gcp_cells})
    assert regions
    buckets = by_name(plan, GCS_BUCKET)
    assert set(buckets) == {f"registry-gcs-{region}-bucket" for region in regions}
    shared = registry.organization.gcp.monitoring_project  # the artifacts project by default
    for region in regions:
        bucket = buckets[f"registry-gcs-{region}-bucket"].inputs
        assert bucket["name"] == f"{registry.organization.registry.bucket}-{region}"
        assert bucket["location"] == region.upper()
        assert bucket["project"] == shared
        assert bucket["uniformBucketLevelAccess"] is True
        assert bucket["publicAccessPrevention"] == "enforced"
        assert bucket["versioning"] == {"enabled": True}
        assert bucket["labels"] == {"managed-by": "honeycomb"}
        assert plan.outputs[out.REGISTRY_REPLICA_URLS][region] == f"gs://{bucket['name']}/registry.json"


def test_each_gcp_copy_holds_exactly_what_the_s3_primary_holds(plan: StackPlan, registry: Registry) -> None:
    primary = plan.one("aws:s3/bucketObjectv2:BucketObjectv2").inputs["content"]
    objects = by_name(plan, GCS_OBJECT)
    assert len(objects) == len({c.region for c in registry.gcp_cells})
    for obj in objects.values():
        assert obj.inputs["name"] == registry.organization.registry.key
        assert obj.inputs["contentType"] == "application/json"
        # The provider marks an object's content secret: the same document, kept encrypted in the state.
        assert reveal(obj.inputs["content"]) == primary


def test_gcp_cell_nodes_read_their_regions_copy_only(plan: StackPlan, registry: Registry) -> None:
    members = by_name(plan, GCS_MEMBER)
    assert set(members) == {f"{c.name}-registry-reader" for c in registry.gcp_cells}
    for cell in registry.gcp_cells:
        grant = members[f"{cell.name}-registry-reader"].inputs
        assert grant["role"] == "roles/storage.objectViewer"
        assert grant["bucket"] == f"{registry.organization.registry.bucket}-{cell.region}"
        assert grant["member"] == f"serviceAccount:{plan.outputs[out.NODE_SERVICE_ACCOUNTS][cell.name]}"


def test_the_gcp_copies_pass_the_cloud_layer_which_knows_a_name_cloud_storage_refuses(plan: StackPlan) -> None:
    import dataclasses

    from policies import cloud

    records = plan.custom_resources
    assert not [f for f in cloud.check(records) if f.type.startswith("gcp:storage/")]
    (bucket, *_) = plan.of_type(GCS_BUCKET)
    renamed = dataclasses.replace(bucket, inputs={**bucket.inputs, "name": "b" * 64})
    (found,) = cloud.check([renamed])
    assert (found.policy, found.level) == ("cloud/gcp-names", "error")
    assert "storage/docs/buckets#naming" in found.message


# --- adding a cell ------------------------------------------------------------------------------------------------


NEW_AWS_CELL = {
    "name": "delta",
    "cloud": "aws",
    "environment": "prod",
    "region": "eu-west-1",
    "wave": "prod-main",
    "size": "small",
    "network": {"cidr": "10.80.0.0/16"},
    "capacity": {"max_tenants": 10, "max_daily_requests": 1000},
    "account_email": "aws+cell-delta@acme-corp.net",
}
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


def test_adding_an_aws_cell_adds_exactly_its_account_assignments_and_widgets(
    plan: StackPlan, registry: Registry, registry_copy: Path
) -> None:
    bigger = add_cell(registry_copy, NEW_AWS_CELL)
    after = run_stack("management", bigger)
    before_urns, after_urns = set(plan.by_urn()), set(after.by_urn())
    assert before_urns <= after_urns
    added = [after.by_urn()[u] for u in after_urns - before_urns]
    delta = bigger.cell("delta")
    assert {(r.type, r.name) for r in added} == {
        (ACCOUNT, "delta-account"),
        (DEPLOYMENT_SETTINGS, "deployments-cell-delta"),  # its Pulumi Deployments settings
        # Its DNS-01 role in the DNS account, for the tenants' wildcard certificate.
        ("aws:iam/role:Role", "acme-delta"),
        ("aws:iam/rolePolicy:RolePolicy", "acme-delta-challenge"),
        *((ASSIGNMENT, f"delta-group-{rule.group}-{rule.permission}") for rule in bigger.access_for(delta)),
    }
    assert len(bigger.access_for(delta)) == 4

    old = Counter(widget_label(w) for w in dashboard_widgets(plan))
    new = Counter(widget_label(w) for w in dashboard_widgets(after))
    gained = new - old
    assert not old - new
    assert sum(gained.values()) == 1 + len(monitoring.AWS_KEY_METRICS) + len(monitoring.CAPACITY_METRICS)
    assert all(label.startswith(("### delta", "delta · ")) for label in gained)

    account = after.outputs[out.ACCOUNT_IDS]["delta"]
    (policy,) = [p for p in after.of_type(SINK_POLICY) if ":eu-west-1:" in p.inputs["sinkIdentifier"]]
    assert account in json.loads(policy.inputs["policy"])["Statement"][0]["Principal"]["AWS"]


def test_adding_a_gcp_cell_adds_exactly_its_project_and_scope(
    plan: StackPlan, registry: Registry, registry_copy: Path
) -> None:
    after = run_stack("management", add_cell(registry_copy, NEW_GCP_CELL))
    added = [after.by_urn()[u] for u in set(after.by_urn()) - set(plan.by_urn())]
    assert {(r.type, r.name) for r in added} == {
        (PROJECT, "epsilon-project"),
        (MONITORED, "epsilon-monitored-project"),
        (AR_MEMBER, "epsilon-image-reader"),
        (SERVICE, "epsilon-iam-api"),
        (SERVICE_ACCOUNT, "epsilon-nodes-sa"),
        (DEPLOYMENT_SETTINGS, "deployments-cell-epsilon"),
        # Its DNS-01 role in the DNS account, trusting its GKE cluster's tokens through an OIDC provider.
        ("aws:iam/role:Role", "acme-epsilon"),
        ("aws:iam/rolePolicy:RolePolicy", "acme-epsilon-challenge"),
        ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "acme-epsilon-gke"),
        # us-central1 had no GCP cell: it gains the registry's copy, which the cell's nodes read.
        (GCS_BUCKET, "registry-gcs-us-central1-bucket"),
        (GCS_OBJECT, "registry-gcs-us-central1-object"),
        (GCS_MEMBER, "epsilon-registry-reader"),
    }
    assert after.outputs[out.REGISTRY_REPLICA_URLS]["us-central1"] == (
        f"gs://{registry.organization.registry.bucket}-us-central1/registry.json"
    )
    assert set(plan.by_urn()) <= set(after.by_urn())
    assert "### epsilon" in [widget_label(w) for w in dashboard_widgets(after)]


def test_assignments_for_matches_the_registry(registry: Registry) -> None:
    found = management.assignments_for(registry)
    assert len(found) == len(set(found))
    assert {a.cell for a in found} == {c.name for c in registry.aws_cells} | {DNS_ACCOUNT}
    # The DNS account: cell-operator (never admin) for whoever operates prod, so they can run a move.
    assert sorted((a.principal, a.permission) for a in found if a.cell == DNS_ACCOUNT) == [
        ("cell-operators", "cell-operator"),
        ("platform-admins", "cell-operator"),
    ]
    assert [a for a in found if a.principal_type is identity.PrincipalType.user] == [
        identity.Assignment("dev-jdoe", identity.PrincipalType.user, "jane.doe@acme-corp.net", "admin")
    ]


def test_the_policy_pack_finds_nothing_in_the_management_stack(plan: StackPlan, registry: Registry) -> None:
    from policies.evaluate import evaluate

    findings = evaluate(plan.resources, registry=registry, account_ids=plan.outputs[out.ACCOUNT_IDS])
    assert [f"{f.policy}: {f.message}" for f in findings] == []


# --- policy verdicts (the evaluator lives in tests/iam_verdicts.py) -------------------------------------------


class TestDnsDelegationVerdicts:
    DOMAIN = "cells.example.com"
    CI = "arn:aws:iam::100000000001:role/honeycomb-ci"

    @staticmethod
    def change(cell: str | None, names: list[str], types: list[str]) -> dict[str, Any]:
        """A record change by a session of the delegation role tagged `cell=<cell>` (None: untagged)."""
        return {
            "aws:PrincipalTag/cell": cell,
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
            "route53:ChangeResourceRecordSetsRecordTypes": types,
        }

    @staticmethod
    def assume(session: str, tags: dict[str, str], transitive: list[str] | None = None) -> dict[str, Any]:
        """An AssumeRole request with session tags, as the trust policy sees it."""
        return {
            "sts:RoleSessionName": session,
            "aws:TagKeys": list(tags),
            "sts:TransitiveTagKeys": transitive or [],
            **{f"aws:RequestTag/{key}": value for key, value in tags.items()},
        }

    def verdict(self, cell: str | None, names: list[str], types: list[str]) -> bool:
        policy = dns_role.delegation_policy("Z1", self.DOMAIN)
        return allowed_by(policy, CHANGE, self.change(cell, names, types))

    def test_a_cell_writes_its_own_ns_record(self) -> None:
        assert self.verdict("alpha", ["alpha.cells.example.com"], ["NS"])
        assert self.verdict("gamma", ["gamma.cells.example.com"], ["NS"])

    def test_a_cell_cannot_write_another_cells_record(self) -> None:
        assert not self.verdict("alpha", ["gamma.cells.example.com"], ["NS"])
        assert not self.verdict("alpha", ["alpha.cells.example.com", "gamma.cells.example.com"], ["NS"])
        assert not self.verdict("alpha", ["x.alpha.cells.example.com"], ["NS"])
        assert not self.verdict("alpha", ["cells.example.com"], ["NS"])

    def test_only_ns_records(self) -> None:
        assert not self.verdict("alpha", ["alpha.cells.example.com"], ["A"])
        assert not self.verdict("alpha", ["alpha.cells.example.com"], ["NS", "A"])

    def test_an_untagged_session_writes_nothing(self) -> None:
        assert not self.verdict(None, ["alpha.cells.example.com"], ["NS"])

    def test_reads_need_no_tag(self) -> None:
        policy = dns_role.delegation_policy("Z1", self.DOMAIN)
        assert allowed_by(policy, "route53:ListResourceRecordSets", {})
        assert allowed_by(policy, "route53:GetChange", {})
        assert not allowed_by(policy, "route53:DeleteHostedZone", {})

    def test_the_domain_is_normalized(self) -> None:
        policy = dns_role.delegation_policy("Z1", "Cells.Example.COM.")
        assert allowed_by(policy, CHANGE, self.change("alpha", ["alpha.cells.example.com"], ["NS"]))

    def test_ci_assumes_only_with_a_cell_tag(self) -> None:
        trust = dns_role.trust_policy(self.CI)
        tagged = self.assume("honeycomb-alpha-dns", {"cell": "alpha"}, ["cell"])
        assert trusts(trust, self.CI, "sts:AssumeRole", tagged)
        assert trusts(trust, self.CI, "sts:TagSession", tagged)
        assert trusts(trust, self.CI, "sts:TagSession", self.assume("honeycomb-alpha-dns", {"cell": "alpha"}))
        assert not trusts(trust, self.CI, "sts:AssumeRole", self.assume("honeycomb-alpha-dns", {}))
        assert not trusts(trust, self.CI, "sts:AssumeRole", self.assume("honeycomb-alpha-dns", {"cell": ""}))

    def test_no_other_tag_keys_and_only_dns_sessions(self) -> None:
        trust = dns_role.trust_policy(self.CI)
        extra = self.assume("honeycomb-alpha-dns", {"cell": "alpha", "team": "x"})
        assert not trusts(trust, self.CI, "sts:AssumeRole", extra)
        assert not trusts(trust, self.CI, "sts:TagSession", extra)
        other_transitive = self.assume("honeycomb-alpha-dns", {"cell": "alpha"}, ["team"])
        assert not trusts(trust, self.CI, "sts:TagSession", other_transitive)
        assert not trusts(trust, self.CI, "sts:AssumeRole", self.assume("honeycomb-alpha", {"cell": "alpha"}))

    def test_nobody_but_ci(self) -> None:
        trust = dns_role.trust_policy(self.CI)
        request = self.assume("honeycomb-alpha-dns", {"cell": "alpha"})
        for principal in ("arn:aws:iam::111111111111:root", "arn:aws:iam::111111111111:role/honeycomb-ci"):
            assert not trusts(trust, principal, "sts:AssumeRole", request)
            assert not trusts(trust, principal, "sts:TagSession", request)


class TestScpVerdicts:
    REGIONS = ["us-east-1", "eu-west-1"]

    def test_regional_actions_outside_the_allowed_regions_are_denied(self) -> None:
        scp = organization.region_guardrail_policy(self.REGIONS)
        assert denied_by(scp, "ec2:RunInstances", {"aws:RequestedRegion": "ap-south-1"})
        assert not denied_by(scp, "ec2:RunInstances", {"aws:RequestedRegion": "eu-west-1"})

    def test_global_services_work_from_anywhere(self) -> None:
        scp = organization.region_guardrail_policy(self.REGIONS)
        assert not denied_by(scp, "iam:CreateRole", {"aws:RequestedRegion": "ap-south-1"})
        assert not denied_by(scp, "sts:AssumeRole", {"aws:RequestedRegion": "ap-south-1"})

    def test_guardrails(self) -> None:
        scp = organization.cell_guardrail_policy(ACCESS_ROLE)
        user = {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/operator"}
        assert denied_by(scp, "organizations:LeaveOrganization", user)
        assert denied_by(scp, "cloudtrail:StopLogging", user)
        assert denied_by(scp, "oam:DeleteLink", user)
        assert not denied_by(scp, "oam:CreateLink", user)
        assert not denied_by(scp, "ec2:RunInstances", user)
        assert denied_by(scp, "ec2:RunInstances", {"aws:PrincipalArn": "arn:aws:iam::111111111111:root"})


def test_sink_policy_verdicts() -> None:
    policy = monitoring.sink_policy(["111111111111", "222222222222"])
    (statement,) = json.loads(policy)["Statement"]
    assert statement["Principal"] == {"AWS": ["111111111111", "222222222222"]}
    assert allowed_by(policy, "oam:CreateLink", {"oam:ResourceTypes": ["AWS::CloudWatch::Metric"]})
    assert not allowed_by(
        policy, "oam:CreateLink", {"oam:ResourceTypes": ["AWS::CloudWatch::Metric", "AWS::S3::Bucket"]}
    )
    assert not allowed_by(policy, "oam:DeleteSink", {})


# --- the registry, read locally in every region ---------------------------------------------------------------

REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"


def test_every_region_with_aws_cells_gets_a_private_versioned_copy(plan: StackPlan, registry: Registry) -> None:
    regions = sorted({c.region for c in registry.aws_cells})
    assert regions == ["eu-west-1", "us-east-1", "us-west-2"]
    primary = registry.organization.registry.bucket
    buckets = {r.inputs["bucket"]: r for r in plan.of_type("aws:s3/bucket:Bucket") if r.name.startswith("registry-")}
    assert set(buckets) == {primary, *(f"{primary}-{region}" for region in regions)}
    management = registry.organization.aws.management_account_id
    for region in regions:
        bucket = buckets[f"{primary}-{region}"]
        provider = provider_of(plan, bucket).inputs
        assert provider["region"] == region and provider["allowedAccountIds"] == json.dumps([management])
        # The same hardening as the primary: versioned (replication needs it), SSE-S3, private, TLS only.
        assert plan.one("aws:s3/bucketVersioning:BucketVersioning", f"registry-{region}-versioning").inputs[
            "versioningConfiguration"
        ] == {"status": "Enabled"}
        sse = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        (rule,) = plan.one(sse, f"registry-{region}-encryption").inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
        block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"registry-{region}-public-access")
        assert block.inputs["restrictPublicBuckets"] is True
        policy = json.loads(plan.one("aws:s3/bucketPolicy:BucketPolicy", f"registry-{region}-policy").inputs["policy"])
        assert {s["Sid"] for s in policy["Statement"]} == {"OrganizationReads", "DenyInsecureTransport"}
        assert f"arn:aws:s3:::{primary}-{region}/*" in policy["Statement"][0]["Resource"]
    s3_copies = {r: url for r, url in plan.outputs[out.REGISTRY_REPLICA_URLS].items() if url.startswith("s3://")}
    assert s3_copies == {region: f"s3://{primary}-{region}/registry.json" for region in regions}


def test_a_copy_can_go_when_its_region_loses_its_last_cell(plan: StackPlan, registry: Registry) -> None:
    # S3 deletes only an empty bucket, and a versioned copy is never empty: without force_destroy the update
    # that removes a region's last AWS cell fails on DeleteBucket (BucketNotEmpty). The copies are derived;
    # the primary, which holds the history, is never emptied by Pulumi.
    primary = registry.organization.registry.bucket
    buckets = {r.inputs["bucket"]: r for r in plan.of_type("aws:s3/bucket:Bucket") if r.name.startswith("registry-")}
    assert not buckets.pop(primary).inputs.get("forceDestroy")
    assert buckets and all(bucket.inputs.get("forceDestroy") is True for bucket in buckets.values())


def test_replication_is_configured_the_way_s3_accepts_it(plan: StackPlan, registry: Registry) -> None:
    primary = registry.organization.registry.bucket
    config = plan.one(REPLICATION)
    assert config.inputs["bucket"] == primary
    rules = config.inputs["rules"]
    replicas = {r.inputs["bucket"]: r for r in plan.of_type("aws:s3/bucket:Bucket")}
    assert [r["destination"]["bucket"] for r in rules] == [
        replicas[f"{primary}-{region}"].outputs["arn"] for region in ("eu-west-1", "us-east-1", "us-west-2")
    ]
    # V2 rules (more than one destination): each has a filter, a delete marker setting, a unique priority.
    assert len({r["priority"] for r in rules}) == len(rules) == 3
    for rule in rules:
        assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""}
        assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    # Versioning on both sides before the configuration, and the role's rights with it.
    by_urn = plan.by_urn()
    waits = {by_urn[u].name for u in config.depends_on}
    assert {
        "registry-versioning",
        *(f"registry-{r}-versioning" for r in ("eu-west-1", "us-east-1", "us-west-2")),
    } <= waits
    assert "registry-replication-policy" in waits
    # The object is written once replication is on: S3 replicates only objects written after it.
    obj = plan.one("aws:s3/bucketObjectv2:BucketObjectv2")
    assert config.urn in obj.depends_on


def test_the_replication_role_is_s3s_and_may_only_replicate_the_registry(plan: StackPlan, registry: Registry) -> None:
    primary = registry.organization.registry.bucket
    role = plan.one("aws:iam/role:Role", "registry-replication-role")
    assert plan.one(REPLICATION).inputs["role"] == role.outputs["arn"]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    statements = {
        s["Sid"]: s
        for s in json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "registry-replication-policy").inputs["policy"])[
            "Statement"
        ]
    }
    assert statements["ReadTheSourceConfiguration"]["Resource"] == f"arn:aws:s3:::{primary}"
    assert statements["ReadTheSourceVersions"]["Resource"] == f"arn:aws:s3:::{primary}/*"
    assert set(statements["WriteTheReplicas"]["Action"]) == {
        "s3:ReplicateObject",
        "s3:ReplicateDelete",
        "s3:ReplicateTags",
    }
    assert statements["WriteTheReplicas"]["Resource"] == [
        f"arn:aws:s3:::{primary}-{region}/*" for region in ("eu-west-1", "us-east-1", "us-west-2")
    ]


def test_replication_rules_refuse_what_s3_refuses() -> None:
    from components.aws.registry_bucket import MAX_REPLICATION_RULES, replication_rules

    with pytest.raises(ValueError, match="one replica per region"):
        replication_rules([("eu-west-1", "a"), ("eu-west-1", "b")])
    with pytest.raises(ValueError, match="1 to 1000 rules"):
        replication_rules([])
    many = [(f"r{i}", "arn") for i in range(MAX_REPLICATION_RULES + 1)]
    with pytest.raises(ValueError, match="1 to 1000 rules"):
        replication_rules(many)


def test_a_bucket_name_too_long_for_its_copies_is_a_registry_error(registry_copy: Path, edit_yaml: Any) -> None:
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["registry"].update(bucket="b" * 50))
    assert load_registry(registry_copy)  # 50 + "-europe-west1": 63 characters, the longest both stores allow
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["registry"].update(bucket="b" * 51))
    with pytest.raises(RegistryError) as info:
        load_registry(registry_copy)
    (only,) = [str(i) for i in info.value.issues]  # the longest GCP region alone is over
    assert only.endswith(
        f"organization.yaml: registry.bucket: the registry's copy in europe-west1, '{'b' * 51}-europe-west1', is 64 "
        "characters: Cloud Storage allows 63; shorten the bucket name"
    )
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["registry"].update(bucket="b" * 54))
    with pytest.raises(RegistryError) as info:
        load_registry(registry_copy)
    found = [str(i) for i in info.value.issues]
    assert len(found) == 5, found  # one per allowed AWS region and GCP region
    assert (
        f"organization.yaml: registry.bucket: the registry's copy in us-west-2, '{'b' * 54}-us-west-2', is 64 "
        "characters: S3 allows 63; shorten the bucket name"
    ) in [f[f.index("organization.yaml") :] for f in found]


def test_a_bucket_name_cloud_storage_refuses_is_a_registry_error(registry_copy: Path, edit_yaml: Any) -> None:
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["registry"].update(bucket="goog-registry"))
    with pytest.raises(RegistryError, match="start with 'goog' or contain 'google'"):
        load_registry(registry_copy)
    edit_yaml(registry_copy / "organization.yaml", lambda d: d["registry"].update(bucket="my-goo-registry"))
    assert load_registry(registry_copy)


def test_gcp_cells_capacity_is_charted_in_the_metrics_scope(plan: StackPlan, registry: Registry) -> None:
    (board,) = plan.of_type("gcp:monitoring/dashboard:Dashboard")
    assert board.inputs["project"] == registry.organization.gcp.monitoring_project
    body = json.loads(board.inputs["dashboardJson"])
    assert body["displayName"] == "honeycomb-cells-capacity"
    tiles = body["mosaicLayout"]["tiles"]
    assert len(tiles) == 2 * len(registry.gcp_cells)
    beta = registry.cell("beta")
    charts = {t["widget"]["title"]: t["widget"]["xyChart"] for t in tiles}
    for title, metric, limit in (
        ("tenants", "custom.googleapis.com/honeycomb/tenants", beta.capacity.max_tenants),
        ("daily requests", "custom.googleapis.com/honeycomb/daily_requests", beta.capacity.max_daily_requests),
    ):
        chart = charts[f"beta · {title} (capacity)"]
        (data,) = chart["dataSets"]
        assert data["timeSeriesQuery"]["timeSeriesFilter"]["filter"] == (
            f'metric.type = "{metric}" AND metric.labels.cell = "beta"'
        )
        assert {t["label"]: t["value"] for t in chart["thresholds"]} == {
            "limit": limit,
            "headroom line": limit * 85 // 100,
        }
    assert all(t["xPos"] + t["width"] <= body["mosaicLayout"]["columns"] for t in tiles)


def test_capacity_dashboards_page_past_the_tile_limit() -> None:
    limits = {"max_tenants": 1, "effective_max_tenants": 1, "max_daily_requests": 1, "effective_max_daily_requests": 1}
    pages = monitoring_scope.capacity_dashboards({f"c{i:03d}": limits for i in range(45)})
    assert list(pages) == ["honeycomb-cells-capacity", "honeycomb-cells-capacity-2", "honeycomb-cells-capacity-3"]
    counts = [len(json.loads(body)["mosaicLayout"]["tiles"]) for body in pages.values()]
    assert counts == [40, 40, 10] and max(counts) <= monitoring_scope.MAX_TILES
    assert monitoring_scope.capacity_dashboards({}) == {}
