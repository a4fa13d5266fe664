"""Rules 7 and 8: identity and access.

`iam-no-admin-wildcard` (stack rule, so that an IAM Identity Center attachment can be traced to
its permission set): no IAM policy allows `*` on `*` and no one gets `AdministratorAccess`,
except the break-glass `admin` permission set; on GCP, no one gets basic `roles/owner`.
`iam-no-access-keys`: no long-lived IAM user access keys.
`sso-session-duration` (advisory): permission set sessions last at most 8 hours, admin at most 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pulumi_policy import ReportViolation

from cells import Permission
from policies.base import ADVISORY, MANDATORY, Context, View, as_list, get, known, resource_rule, stack_rule

PERMISSION_SET = "aws:ssoadmin/permissionSet:PermissionSet"
BREAK_GLASS = str(Permission.admin)
ADMIN_POLICY = re.compile(r"^arn:aws[\w-]*:iam::aws:policy/AdministratorAccess$")

#: type -> input holding a policy document
DOCUMENTS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
    "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy": "inlinePolicy",
}
#: GCP IAM grants whose `role` must not be the all-powerful basic role.
GCP_GRANTS = frozenset(
    {
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:folder/iAMMember:IAMMember",
        "gcp:folder/iAMBinding:IAMBinding",
        "gcp:organizations/iAMMember:IAMMember",
        "gcp:organizations/iAMBinding:IAMBinding",
    }
)
GCP_OWNER = "roles/owner"
#: type -> input holding a managed policy ARN
ATTACHMENTS = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "policyArn",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "policyArn",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment": "managedPolicyArn",
}


def grants_everything(document: Any) -> bool:
    """Whether a policy document has an Allow statement with Action `*` on Resource `*`."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False
    if not isinstance(document, dict):
        return False
    for statement in as_list(document.get("Statement")):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = as_list(statement.get("Action"))
        resources = as_list(statement.get("Resource"))
        if any(a in ("*", "*:*") for a in actions) and "*" in resources:
            return True
    return False


def _permission_set(resource: View, sets: list[View]) -> View | None:
    arn = resource.props.get("permissionSetArn")
    for candidate in sets:
        if resource.depends_on(candidate) or (known(arn) and arn == candidate.props.get("arn")):
            return candidate
    return None


@stack_rule(
    "iam-no-admin-wildcard",
    "No IAM policy allows `*` on `*` and no one gets AdministratorAccess, except the break-glass admin permission set.",
    MANDATORY,
)
def iam_no_admin_wildcard(resources: list[View], ctx: Context, report: ReportViolation) -> None:
    sets = [r for r in resources if r.type == PERMISSION_SET]
    for resource in resources:
        problem = None
        props = resource.props
        if resource.type in DOCUMENTS and grants_everything(resource.props.get(DOCUMENTS[resource.type])):
            problem = "allows every action on every resource"
        elif resource.type in ATTACHMENTS:
            arn = resource.props.get(ATTACHMENTS[resource.type])
            if isinstance(arn, str) and ADMIN_POLICY.match(arn):
                problem = "attaches AdministratorAccess"
        elif resource.type in GCP_GRANTS and props.get("role") == GCP_OWNER:
            problem = f"grants {GCP_OWNER} to {props.get('member') or props.get('members')}"
        elif resource.type == "aws:iam/role:Role":
            if any(grants_everything(get(p, "policy")) for p in as_list(resource.props.get("inlinePolicies"))):
                problem = "has an inline policy that allows every action on every resource"
            elif any(isinstance(a, str) and ADMIN_POLICY.match(a) for a in as_list(props.get("managedPolicyArns"))):
                problem = "attaches AdministratorAccess"
        if problem is None:
            continue
        if resource.type.startswith("aws:ssoadmin/"):
            owner = _permission_set(resource, sets)
            if owner is not None and owner.props.get("name") == BREAK_GLASS:
                continue
            if owner is None and not known(resource.props.get("permissionSetArn")):
                continue
        report(f"{resource.label} {problem}; only the break-glass {BREAK_GLASS!r} permission set may", resource.urn)


@resource_rule(
    "iam-no-access-keys",
    "No IAM user access keys: people sign in through IAM Identity Center, machines assume roles.",
    MANDATORY,
    types=["aws:iam/accessKey:AccessKey"],
)
def iam_no_access_keys(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    report(f"{resource.label} creates a long-lived access key for IAM user {resource.props.get('user')!s}")


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
    if not isinstance(value, str):
        return  # absent: AWS's default of one hour
    seconds = duration_seconds(value)
    limit = MAX_ADMIN_SESSION if resource.props.get("name") == BREAK_GLASS else MAX_SESSION
    if seconds is None:
        report(f"{resource.label} has a session duration {value!r} that is not an ISO 8601 duration (PT8H)")
    elif seconds > limit:
        report(f"{resource.label} sessions last {value}; at most PT{limit // 3600}H")
