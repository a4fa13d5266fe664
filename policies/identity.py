"""Rules 7 and 8: identity and access. Admin by another name is admin.

`iam-no-admin-wildcard` (stack rule, so that an IAM Identity Center attachment can be traced to
its permission set). Nobody gets administrator power, however it is spelt:
- an IAM policy document (policy, role/user/group inline policy, a role's `inlinePolicies`, a
  permission set's inline policy) with an Allow of `*`, `*:*` or `iam:*` on every resource, an
  Allow with `NotAction` or `NotResource`, or `iam:PassRole` (or a pattern covering it) on every
  role;
- a managed policy equivalent to full admin or full IAM (`ADMIN_EQUIVALENT`: AdministratorAccess,
  IAMFullAccess, and PowerUserAccess, which is an Allow of everything but IAM through NotAction);
- on GCP, a basic role beyond viewer (`roles/owner`, `roles/editor`) on any IAM member, binding or
  policy resource. `roles/editor` is allowed exactly where the registry grants `admin`: in a GCP
  cell's own project, to the groups its access rules make admin and to a dev cell's owner.
The break-glass `admin` permission set is the one AWS exception.

`iam-trust-boundary` (stack rule): role trust policies admit only the organization's accounts
(the registry's, the cells' known ids, the accounts created in the stack, the accounts its
providers act in) and AWS services; no public principal without a limiting condition; federated
identities (OIDC, web identity) only with a condition on the provider's own keys (`<host>:sub`).

`iam-no-access-keys`: no long-lived credentials: IAM users, console passwords, access keys,
service-specific credentials, signing certificates; GCP service-account keys and HMAC keys.

`sso-session-duration` (advisory): permission set sessions last at most 8 hours, admin at most 1.

A document that cannot be read is a finding ("cannot verify"), never a pass.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

from pulumi_policy import ReportViolation

from cells import AwsCell, Environment, GcpCell, Permission
from policies.base import (
    ADVISORY,
    MANDATORY,
    UNKNOWN,
    Context,
    View,
    arn_account,
    as_list,
    cannot_verify,
    get,
    known,
    resource_rule,
    stack_rule,
)
from policies.documents import Document, allows, is_public, matches, parse, principals, restricting_conditions
from policies.public import gcp_grants, is_gcp_iam

PERMISSION_SET = "aws:ssoadmin/permissionSet:PermissionSet"
ROLE = "aws:iam/role:Role"
BREAK_GLASS = str(Permission.admin)
#: AWS managed policies that are full admin, or full IAM (which is admin one step later).
ADMIN_EQUIVALENT = re.compile(r"^arn:aws[\w-]*:iam::aws:policy/(AdministratorAccess|IAMFullAccess|PowerUserAccess)$")

#: type -> input holding a policy document
DOCUMENTS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
    "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy": "inlinePolicy",
}
GCP_BASIC_ADMIN = frozenset({"roles/owner", "roles/editor"})
#: type -> input holding a managed policy ARN
ATTACHMENTS = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "policyArn",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "policyArn",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment": "managedPolicyArn",
}
_FULL = frozenset({"*", "*:*", "iam:*"})


def _every_role(resources: Any) -> bool:
    return any(
        isinstance(r, str) and (r == "*" or r.endswith(":role/*") or r.endswith(":*")) for r in as_list(resources)
    )


#: ARNs of every kind: a resource pattern matching all of them is "every resource", however spelt.
_ANY_ARNS = (
    "arn:aws:s3:::bucket/key",
    "arn:aws:iam::123456789012:role/r",
    "arn:aws:ec2:us-east-1:123456789012:instance/i-0",
    "arn:aws-cn:kms:cn-north-1:123456789012:key/k",
)
_IAM_ARNS = (
    "arn:aws:iam::123456789012:role/r",
    "arn:aws:iam::123456789012:user/u",
    "arn:aws:iam::123456789012:policy/p",
)


def _every_resource(resources: Any, samples: tuple[str, ...] = _ANY_ARNS) -> bool:
    """Whether a pattern among `resources` covers all of `samples` (`*`, `arn:*`, `arn:aws:*:*:*:*`...)."""
    return any(isinstance(r, str) and all(fnmatch.fnmatchcase(arn, r) for arn in samples) for r in as_list(resources))


def admin_problems(document: Document) -> list[str]:
    """How a policy document grants administrator power (empty when it does not)."""
    problems = []
    for statement in allows(document):
        actions, resources = statement.get("Action"), statement.get("Resource")
        if "NotAction" in statement:
            problems.append(f"allows every action except {statement['NotAction']} (NotAction)")
        if "NotResource" in statement:
            problems.append(f"allows {actions} on every resource except {statement['NotResource']} (NotResource)")
        full = sorted({a.lower() for a in as_list(actions) if isinstance(a, str) and a.lower() in _FULL})
        everything = [a for a in full if a != "iam:*"]
        if (everything and _every_resource(resources)) or (full and _every_resource(resources, _IAM_ARNS)):
            what = "every action" if everything else "all of IAM (iam:*)"
            problems.append(f"allows {what} on every resource")
        elif matches(actions, "iam:PassRole") and _every_role(resources):
            problems.append("allows iam:PassRole on every role, so it can hand any role to a service it runs")
    return problems


def _permission_set(resource: View, sets: list[View]) -> View | None:
    arn = resource.props.get("permissionSetArn")
    for candidate in sets:
        if resource.depends_on(candidate) or (known(arn) and arn == candidate.props.get("arn")):
            return candidate
    return None


def _documents(resource: View) -> list[Any]:
    if resource.type in DOCUMENTS:
        value = resource.props.get(DOCUMENTS[resource.type])
        return [] if value is None else [value]
    if resource.type == ROLE:
        inline = resource.props.get("inlinePolicies")
        if inline is UNKNOWN:
            return []
        return [get(p, "policy") if isinstance(p, dict) else p for p in as_list(inline)]
    return []


def registry_admins(cell: AwsCell | GcpCell | None, ctx: Context) -> set[str]:
    """The IAM members the registry makes admin of a GCP cell: its admin groups, and a dev cell's owner."""
    if not isinstance(cell, GcpCell):
        return set()
    org = ctx.registry.organization
    members = {
        f"group:{org.group(rule.group).email}"
        for rule in ctx.registry.access_for(cell)
        if rule.permission == Permission.admin
    }
    if cell.environment == Environment.dev and cell.owner:
        members.add(f"user:{cell.owner}")
    return members


def _gcp_problems(resource: View, ctx: Context) -> list[str]:
    grants, problem = gcp_grants(resource)
    if problem:
        return [cannot_verify(f"the roles {resource.label} grants", problem)]
    cell = ctx.cell(resource.stack)
    admins = registry_admins(cell, ctx)
    project = resource.props.get("project")
    own_project = isinstance(cell, GcpCell) and project in (None, UNKNOWN, cell.project_id)
    problems = []
    for role, member in sorted(set(grants)):
        if role not in GCP_BASIC_ADMIN:
            continue
        if role == "roles/editor" and own_project and member in admins:
            continue  # the registry's admin of this cell
        problems.append(
            f"grants the basic role {role} to {member}; only the registry's admins get roles/editor, in their cell"
        )
    return problems


def _problems(resource: View, ctx: Context) -> list[str]:
    """Every way `resource` hands out administrator power (or cannot be read)."""
    problems: list[str] = []
    for value in _documents(resource):
        document = parse(value)
        if document.problem:
            problems.append(cannot_verify(f"what {resource.label}'s policy allows", document.problem))
        else:
            problems.extend(admin_problems(document))
    arns: list[Any] = []
    if resource.type in ATTACHMENTS:
        arns = [resource.props.get(ATTACHMENTS[resource.type])]
    elif resource.type == ROLE and resource.props.get("managedPolicyArns") is not UNKNOWN:
        arns = as_list(resource.props.get("managedPolicyArns"))
    for arn in arns:
        if arn is UNKNOWN or arn is None:
            continue
        if not isinstance(arn, str):
            problems.append(cannot_verify(f"which policy {resource.label} attaches", f"{arn!r} is not an ARN"))
        elif found := ADMIN_EQUIVALENT.match(arn):
            problems.append(f"attaches {found.group(1)}, which is administrator power")
    if is_gcp_iam(resource.type):
        problems.extend(_gcp_problems(resource, ctx))
    return problems


@stack_rule(
    "iam-no-admin-wildcard",
    "Nobody gets admin by any name (`*`, iam:*, NotAction/NotResource, iam:PassRole on *, AdministratorAccess, "
    "IAMFullAccess, PowerUserAccess, GCP owner/editor), except the break-glass admin and the registry's GCP admins.",
    MANDATORY,
)
def iam_no_admin_wildcard(resources: list[View], ctx: Context, report: ReportViolation) -> None:
    sets = [r for r in resources if r.type == PERMISSION_SET]
    for resource in resources:
        problems = _problems(resource, ctx)
        if not problems:
            continue
        if resource.type.startswith("aws:ssoadmin/"):
            owner = _permission_set(resource, sets)
            if owner is not None and owner.props.get("name") == BREAK_GLASS:
                continue
            if owner is None and not known(resource.props.get("permissionSetArn")):
                continue
        for problem in problems:
            if problem.startswith("cannot verify"):
                report(f"{resource.label}: {problem}", resource.urn)
            else:
                report(
                    f"{resource.label} {problem}; only the break-glass {BREAK_GLASS!r} permission set may", resource.urn
                )


# --- trust ---------------------------------------------------------------------------------

ACCOUNT_TYPE = "aws:organizations/account:Account"


def organization_accounts(resources: list[View], ctx: Context) -> set[str]:
    """Accounts known to be the organization's: the registry's, the cells', the stack's own and its providers'."""
    accounts = set(ctx.organization_accounts()) | set(ctx.account_ids.values())
    for resource in resources:
        if resource.type == ACCOUNT_TYPE and isinstance(resource.props.get("id"), str):
            accounts.add(resource.props["id"])
        if resource.provider is not None and resource.provider.package == "aws":
            target = ctx.target(resource.provider)
            accounts.update(a for a in (target.account, *(target.allowed_accounts or ())) if a)
    return accounts


_ACCOUNT_PRINCIPAL = re.compile(r"^\d{12}$")


def trust_problems(document: Document, org: set[str]) -> list[str]:
    problems = []
    for statement in allows(document):
        if is_public(statement):
            if not restricting_conditions(statement):
                problems.append('trusts any principal ("*") without a condition that limits it')
            continue
        for kind, values in principals(statement).items():
            for value in values:
                if kind == "AWS":
                    account = value if _ACCOUNT_PRINCIPAL.match(value) else arn_account(value)
                    if account is None:
                        problems.append(
                            cannot_verify("a trusted principal", f"{value!r} is neither an account nor an ARN")
                        )
                    elif account not in org:
                        problems.append(f"trusts {value}, in account {account} outside the organization")
                elif kind == "Federated":
                    # OIDC: conditions name the provider's host (`<host>:sub`); SAML: `SAML:aud`.
                    host = value.split("oidc-provider/", 1)[-1] if ":oidc-provider/" in value else value
                    host = "SAML" if ":saml-provider/" in value else host
                    account = arn_account(value)
                    if account is not None and account not in org:
                        problems.append(
                            f"trusts the identity provider {value}, in account {account} outside the organization"
                        )
                    keys = {k.lower() for k in restricting_keys_of(statement)}
                    if not any(k.startswith(f"{host.lower()}:") for k in keys):
                        key = "SAML:aud" if host == "SAML" else f"{host}:sub"
                        problems.append(f"trusts every identity of {value}: add a condition on {key}")
                elif kind not in ("Service", "CanonicalUser"):
                    problems.append(
                        cannot_verify("a trusted principal", f"principal kind {kind!r} is not one IAM knows")
                    )
    return problems


def restricting_keys_of(statement: dict[str, Any]) -> list[str]:
    """Condition keys a statement tests with a positive operator (any key)."""
    keys: list[str] = []
    condition = statement.get("Condition")
    for operator, tests in condition.items() if isinstance(condition, dict) else []:
        if "Not" in str(operator) or str(operator).endswith("IfExists") or not isinstance(tests, dict):
            continue
        keys.extend(str(k) for k, v in tests.items() if v not in ("*", ["*"]))
    return keys


@stack_rule(
    "iam-trust-boundary",
    "Role trust policies admit only the organization's accounts and AWS services; no public principal, no "
    "federated identity without a condition on its subject.",
    MANDATORY,
)
def iam_trust_boundary(resources: list[View], ctx: Context, report: ReportViolation) -> None:
    roles = [r for r in resources if r.type == ROLE]
    if not roles:
        return
    org = organization_accounts(resources, ctx)
    for role in roles:
        value = role.props.get("assumeRolePolicy")
        if value is None:
            continue
        document = parse(value)
        if document.problem:
            report(f"{role.label}: " + cannot_verify("whom it trusts", document.problem), role.urn)
            continue
        for problem in dict.fromkeys(trust_problems(document, org)):
            report(f"{role.label} {problem}", role.urn)


# --- long-lived credentials ------------------------------------------------------------------

CREDENTIALS = {
    "aws:iam/accessKey:AccessKey": "creates a long-lived access key",
    "aws:iam/user:User": "creates an IAM user",
    "aws:iam/userLoginProfile:UserLoginProfile": "gives an IAM user a console password",
    "aws:iam/serviceSpecificCredential:ServiceSpecificCredential": "creates a long-lived service credential",
    "aws:iam/signingCertificate:SigningCertificate": "creates a long-lived signing certificate",
    "gcp:serviceaccount/key:Key": "creates a service-account key",
    "gcp:storage/hmacKey:HmacKey": "creates a long-lived HMAC key",
}


@resource_rule(
    "iam-no-access-keys",
    "No long-lived credentials: no IAM users, console passwords or access keys, no GCP service-account or HMAC "
    "keys. People sign in through IAM Identity Center or Google groups, machines assume roles.",
    MANDATORY,
    types=list(CREDENTIALS),
)
def iam_no_access_keys(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    who = (
        resource.props.get("user")
        or resource.props.get("serviceAccountId")
        or resource.props.get("serviceAccountEmail")
    )
    suffix = f" for {who}" if isinstance(who, str) else ""
    report(f"{resource.label} {CREDENTIALS[resource.type]}{suffix}")


_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def duration_seconds(value: str) -> int | None:
    """Seconds of an ISO 8601 duration like PT8H or PT1H30M, None if it is not one."""
    found = _DURATION.match(value)
    if not found or not any(found.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return hours * 3600 + minutes * 60 + seconds


MAX_SESSION = 8 * 3600
MAX_ADMIN_SESSION = 3600


@resource_rule(
    "sso-session-duration",
    "IAM Identity Center permission set sessions last at most 8 hours, the admin set at most 1 hour.",
    ADVISORY,
    types=[PERMISSION_SET],
)
def sso_session_duration(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    value = resource.props.get("sessionDuration")
    if value is None or value is UNKNOWN:
        return  # absent: AWS's default of one hour
    if not isinstance(value, str):
        report(cannot_verify(f"how long {resource.label}'s sessions last", f"sessionDuration is {value!r}"))
        return
    seconds = duration_seconds(value)
    limit = MAX_ADMIN_SESSION if resource.props.get("name") == BREAK_GLASS else MAX_SESSION
    if seconds is None:
        report(f"{resource.label} has a session duration {value!r} that is not an ISO 8601 duration (PT8H)")
    elif seconds > limit:
        report(f"{resource.label} sessions last {value}; at most PT{limit // 3600}H")
