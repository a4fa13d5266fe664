"""Mock outputs of the management stack's resources and calls: AWS Organizations, IAM Identity
Center and the identity store, CloudWatch observability sinks and dashboards, ECR, the registry
bucket, and the GCP folders, projects and metrics scope.

Ids agree with what the cell stacks are shown through the management StackReference
(`cellctl.mocks.pulumi_builtin`): a created account's id is `fake_account_id(cell)`, a pinned
one keeps its id (it is imported), a project's number is `fake_project_number(project_id)`, a
sink's ARN is the one synthesized there. The cell mock modules are loaded first, so the types
only this stack creates (accounts, SSO, sinks, dashboards) get these handlers whatever the
import order, while types a cell stack creates too (IAM roles, S3, ECR, GCP projects and folders)
keep the cell modules' handlers and get these only when no other module has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cellctl.mocks import HANDLERS, Handler, MockContext, digest, fake_account_id, fake_project_number, sink_arn
from cellctl.mocks import gcp as _gcp_cells  # noqa: F401 - registers first, see the module docstring
from cellctl.mocks.aws import account_of, region_of  # also registers the cell handlers first


def _fallback(*tokens: str) -> Callable[[Handler], Handler]:
    """Register a handler for the tokens no other mock module handles yet."""

    def deco(fn: Handler) -> Handler:
        for token in tokens:
            HANDLERS.resources.setdefault(token, fn)
        return fn

    return deco


def organization_id(ctx: MockContext) -> str:
    return "o-" + digest("organization", ctx.registry.organization.name, length=10)


def root_id(ctx: MockContext) -> str:
    return "r-" + digest("root", ctx.registry.organization.name, length=4)


# --- Organizations -------------------------------------------------------------------------

#: Services with trusted access in the sample organization (what the management stack relies on).
ENABLED_SERVICE_PRINCIPALS: tuple[str, ...] = ("cloudtrail.amazonaws.com", "sso.amazonaws.com")


@HANDLERS.call("aws:organizations/getOrganization:getOrganization")
def get_organization(ctx: MockContext) -> dict[str, Any]:
    mgmt = ctx.registry.organization.aws.management_account_id
    org, root = organization_id(ctx), root_id(ctx)
    return {
        "id": org,
        "arn": f"arn:aws:organizations::{mgmt}:organization/{org}",
        "featureSet": "ALL",
        "awsServiceAccessPrincipals": list(ENABLED_SERVICE_PRINCIPALS),
        "masterAccountId": mgmt,
        "masterAccountArn": f"arn:aws:organizations::{mgmt}:account/{org}/{mgmt}",
        "roots": [
            {
                "id": root,
                "name": "Root",
                "arn": f"arn:aws:organizations::{mgmt}:root/{org}/{root}",
                "policyTypes": [{"status": "ENABLED", "type": "SERVICE_CONTROL_POLICY"}],
            }
        ],
    }


@HANDLERS.resource("aws:organizations/account:Account")
def account(ctx: MockContext) -> dict[str, Any]:
    tags = ctx.inputs.get("tags") or {}
    cell = tags.get("cell") or str(ctx.inputs.get("name", ctx.name)).removeprefix("cell-")
    # An imported (pinned) account keeps its id; a created one gets the id the cells expect.
    account_id = ctx.resource_id or fake_account_id(cell)
    mgmt = ctx.registry.organization.aws.management_account_id
    return {
        "id": account_id,
        "arn": f"arn:aws:organizations::{mgmt}:account/{organization_id(ctx)}/{account_id}",
        "status": "ACTIVE",
        "state": "ACTIVE",
        "joinedMethod": "INVITED" if ctx.resource_id else "CREATED",
        "tagsAll": tags,
    }


@HANDLERS.resource("aws:organizations/organizationalUnit:OrganizationalUnit")
def organizational_unit(ctx: MockContext) -> dict[str, Any]:
    ou = f"ou-{root_id(ctx)[2:]}-{digest('ou', ctx.name)}"
    mgmt = ctx.registry.organization.aws.management_account_id
    return {"id": ou, "arn": f"arn:aws:organizations::{mgmt}:ou/{organization_id(ctx)}/{ou}", "accounts": []}


@HANDLERS.resource("aws:organizations/policy:Policy")
def organizations_policy(ctx: MockContext) -> dict[str, Any]:
    policy = "p-" + digest("policy", ctx.name)
    mgmt = ctx.registry.organization.aws.management_account_id
    return {"id": policy, "arn": f"arn:aws:organizations::{mgmt}:policy/{organization_id(ctx)}/scp/{policy}"}


@HANDLERS.resource("aws:organizations/policyAttachment:PolicyAttachment")
def policy_attachment(ctx: MockContext) -> dict[str, Any]:
    return {"id": f"{ctx.inputs.get('targetId')}:{ctx.inputs.get('policyId')}"}


# --- IAM Identity Center ---------------------------------------------------------------------


@HANDLERS.resource("aws:ssoadmin/permissionSet:PermissionSet")
def permission_set(ctx: MockContext) -> dict[str, Any]:
    instance = str(ctx.inputs.get("instanceArn", ""))
    arn = f"arn:aws:sso:::permissionSet/{instance.rsplit('/', 1)[-1]}/ps-{digest('ps', ctx.name, length=16)}"
    return {"id": f"{arn},{instance}", "arn": arn, "createdDate": "2026-01-01T00:00:00Z"}


@HANDLERS.resource("aws:ssoadmin/accountAssignment:AccountAssignment")
def account_assignment(ctx: MockContext) -> dict[str, Any]:
    i = ctx.inputs
    keys = ("principalId", "principalType", "targetId", "targetType", "permissionSetArn", "instanceArn")
    return {"id": ",".join(str(i.get(k, "")) for k in keys)}


@HANDLERS.resource(
    "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment",
    "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy",
)
def permission_set_policy(ctx: MockContext) -> dict[str, Any]:
    parts = [ctx.inputs.get("managedPolicyArn"), ctx.inputs.get("permissionSetArn"), ctx.inputs.get("instanceArn")]
    return {"id": ",".join(str(p) for p in parts if p)}


def _unique_attribute(ctx: MockContext) -> str:
    ident = ctx.inputs.get("alternateIdentifier") or {}
    return str((ident.get("uniqueAttribute") or {}).get("attributeValue", ""))


def _store_id(ctx: MockContext, kind: str, value: str) -> str:
    store = ctx.inputs.get("identityStoreId", "")
    h = digest(kind, str(store), value, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


@HANDLERS.call("aws:identitystore/getGroup:getGroup")
def get_group(ctx: MockContext) -> dict[str, Any]:
    name = _unique_attribute(ctx)
    gid = _store_id(ctx, "group", name)
    return {"id": gid, "groupId": gid, "displayName": name, "identityStoreId": ctx.inputs.get("identityStoreId")}


@HANDLERS.call("aws:identitystore/getUser:getUser")
def get_user(ctx: MockContext) -> dict[str, Any]:
    name = _unique_attribute(ctx)
    uid = _store_id(ctx, "user", name)
    return {"id": uid, "userId": uid, "userName": name, "identityStoreId": ctx.inputs.get("identityStoreId")}


# --- central monitoring -----------------------------------------------------------------------


@HANDLERS.resource("aws:oam/sink:Sink")
def oam_sink(ctx: MockContext) -> dict[str, Any]:
    arn = sink_arn(region_of(ctx), account_of(ctx))
    return {"id": arn, "arn": arn, "sinkId": arn.rsplit("/", 1)[-1]}


@HANDLERS.resource("aws:oam/sinkPolicy:SinkPolicy")
def oam_sink_policy(ctx: MockContext) -> dict[str, Any]:
    sink = str(ctx.inputs.get("sinkIdentifier", ""))
    return {"id": sink, "arn": sink, "sinkId": sink.rsplit("/", 1)[-1]}


@HANDLERS.resource("aws:cloudwatch/dashboard:Dashboard")
def dashboard(ctx: MockContext) -> dict[str, Any]:
    name = str(ctx.inputs.get("dashboardName", ctx.name))
    return {"id": name, "dashboardArn": f"arn:aws:cloudwatch::{account_of(ctx)}:dashboard/{name}"}


# --- shared AWS types (only if no other module handles them) -------------------------------------


@_fallback("aws:iam/role:Role")
def iam_role(ctx: MockContext) -> dict[str, Any]:
    name = str(ctx.inputs.get("name") or ctx.name)
    return {
        "id": name,
        "arn": f"arn:aws:iam::{account_of(ctx)}:role/{name}",
        "uniqueId": "AROA" + digest("role", account_of(ctx), name, length=16).upper(),
    }


@_fallback("aws:iam/rolePolicy:RolePolicy")
def iam_role_policy(ctx: MockContext) -> dict[str, Any]:
    return {"id": f"{ctx.inputs.get('role')}:{ctx.inputs.get('name') or ctx.name}"}


@_fallback("aws:ecr/repository:Repository")
def ecr_repository(ctx: MockContext) -> dict[str, Any]:
    name, account, region = str(ctx.inputs.get("name") or ctx.name), account_of(ctx), region_of(ctx)
    return {
        "id": name,
        "arn": f"arn:aws:ecr:{region}:{account}:repository/{name}",
        "registryId": account,
        "repositoryUrl": f"{account}.dkr.ecr.{region}.amazonaws.com/{name}",
    }


@_fallback("aws:s3/bucket:Bucket")
def s3_bucket(ctx: MockContext) -> dict[str, Any]:
    region = region_of(ctx)
    # Auto-named like Pulumi does (the resource name plus a suffix) when the program gives no name.
    name = ctx.inputs.get("bucket") or f"{ctx.name}-{digest(ctx.name, length=7)}"
    return {
        "id": name,
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketRegion": region,
        "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
    }


@_fallback("aws:s3/bucketObjectv2:BucketObjectv2")
def s3_object(ctx: MockContext) -> dict[str, Any]:
    content = str(ctx.inputs.get("content") or "")
    return {
        "id": str(ctx.inputs.get("key", ctx.name)),
        "versionId": digest("version", content, length=32),
        "etag": digest("etag", content, length=32),
    }


# --- GCP: folders, projects, metrics scope -------------------------------------------------------


@_fallback("gcp:organizations/folder:Folder")
def gcp_folder(ctx: MockContext) -> dict[str, Any]:
    number = str(int(digest("folder", ctx.name, length=12), 16))[-12:]
    return {"id": f"folders/{number}", "name": f"folders/{number}", "folderId": number, "lifecycleState": "ACTIVE"}


@_fallback("gcp:organizations/project:Project")
def gcp_project(ctx: MockContext) -> dict[str, Any]:
    project_id = str(ctx.inputs.get("projectId") or ctx.name)
    return {"id": f"projects/{project_id}", "projectId": project_id, "number": fake_project_number(project_id)}


@_fallback("gcp:monitoring/monitoredProject:MonitoredProject")
def gcp_monitored_project(ctx: MockContext) -> dict[str, Any]:
    scope, project = ctx.inputs.get("metricsScope", ""), ctx.inputs.get("name", "")
    return {"id": f"{scope}/projects/{project}", "createTime": "2026-01-01T00:00:00Z"}


@_fallback("gcp:artifactregistry/repository:Repository")
def gcp_artifact_repository(ctx: MockContext) -> dict[str, Any]:
    i = ctx.inputs
    name = f"projects/{i.get('project')}/locations/{i.get('location')}/repositories/{i.get('repositoryId')}"
    return {"id": name, "name": i.get("repositoryId")}
