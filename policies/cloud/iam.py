"""Every AWS policy document linted with parliament and held to its size quota (`cloud/iam`).

`DOCUMENTS` names every input that holds policy JSON, with its kind (identity, trust, resource,
SCP) and the quota AWS documents for it. parliament (which ships its own copy of the IAM
actions, resources and condition keys, so it needs no network) lints each document: its
malformed-policy findings (groups ERROR and MALFORMED: bad JSON, a missing element, duplicate
statement ids, actions that match none of the statement's resources) are cloud errors, every
other finding is advisory.

Suppressed, with the reason:
- "Statement contains neither Resource nor NotResource" on trust and resource policies: a trust
  policy has no Resource element at all, and a resource policy may leave it out (ECR repository
  policies do: the resource is the repository the policy is attached to).
- RESOURCE_STAR on resource policies: there `"Resource": "*"` means the one resource the policy
  is attached to (CloudWatch OAM sink policies are documented that way).
- UNKNOWN_FEDERATION_SOURCE for an IAM OIDC or SAML provider's ARN: parliament knows only the
  named web identity providers (Cognito, Google, Facebook, Amazon), while a trust policy's
  `Federated` principal may be any identity provider of the account (GitHub Actions' OIDC
  provider is `arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com`).

Sizes: IAM does not count white space against its quotas (managed policy 6,144 characters,
role trust policy 2,048 by default, all inline policies of a role together 10,240); AWS
Organizations stores a policy sent through the API exactly as sent, so an SCP's 5,120
characters include its white space.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import sys
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.cloud.common import ADVISORY, ERROR, contains_unknown, finding, inputs, short
from policies.evaluate import Finding, Record

CHECKER = "cloud/iam"

IDENTITY, TRUST, RESOURCE, SCP = "identity", "trust", "resource", "service control"

#: Documented quotas, in characters (`None`: none that a plan can check).
ROLE_TRUST_QUOTA = 2_048  # the default; an account can raise it through Service Quotas
MANAGED_POLICY_QUOTA = 6_144
ROLE_INLINE_QUOTA = 10_240  # every inline policy of one role together
USER_INLINE_QUOTA = 2_048
GROUP_INLINE_QUOTA = 5_120
SCP_QUOTA = 5_120
PERMISSION_SET_INLINE_QUOTA = 32_768  # IAM Identity Center: inline policy of a permission set
BUCKET_POLICY_QUOTA = 20_480  # S3: 20 KB
KEY_POLICY_QUOTA = 32_768  # KMS: 32 KB


@dataclass(frozen=True)
class Document:
    """An input holding policy JSON (`field` may name a list of objects: `inlinePolicies[].policy`)."""

    field: str
    kind: str
    quota: int | None = None
    #: Whether white space counts against the quota (the service stores the text as sent).
    spaces_count: bool = False
    #: Inline policies of a role: summed per role for the role's aggregate quota.
    role_inline: bool = False


DOCUMENTS: dict[str, tuple[Document, ...]] = {
    "aws:iam/role:Role": (
        Document("assumeRolePolicy", TRUST, ROLE_TRUST_QUOTA),
        Document("inlinePolicies[].policy", IDENTITY, role_inline=True),
    ),
    "aws:iam/rolePolicy:RolePolicy": (Document("policy", IDENTITY, role_inline=True),),
    "aws:iam/policy:Policy": (Document("policy", IDENTITY, MANAGED_POLICY_QUOTA),),
    "aws:iam/userPolicy:UserPolicy": (Document("policy", IDENTITY, USER_INLINE_QUOTA),),
    "aws:iam/groupPolicy:GroupPolicy": (Document("policy", IDENTITY, GROUP_INLINE_QUOTA),),
    "aws:organizations/policy:Policy": (Document("content", SCP, SCP_QUOTA, spaces_count=True),),
    "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy": (
        Document("inlinePolicy", IDENTITY, PERMISSION_SET_INLINE_QUOTA),
    ),
    "aws:s3/bucketPolicy:BucketPolicy": (Document("policy", RESOURCE, BUCKET_POLICY_QUOTA),),
    "aws:s3/bucket:Bucket": (Document("policy", RESOURCE, BUCKET_POLICY_QUOTA),),  # the inline policy
    "aws:s3/accessPoint:AccessPoint": (Document("policy", RESOURCE),),
    "aws:kms/key:Key": (Document("policy", RESOURCE, KEY_POLICY_QUOTA),),
    "aws:kms/keyPolicy:KeyPolicy": (Document("policy", RESOURCE, KEY_POLICY_QUOTA),),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": (Document("policy", RESOURCE),),
    "aws:ecr/registryPolicy:RegistryPolicy": (Document("policy", RESOURCE),),
    "aws:oam/sinkPolicy:SinkPolicy": (Document("policy", RESOURCE),),
    "aws:sns/topic:Topic": (Document("policy", RESOURCE),),
    "aws:sns/topicPolicy:TopicPolicy": (Document("policy", RESOURCE),),
    "aws:sqs/queuePolicy:QueuePolicy": (Document("policy", RESOURCE),),
    "aws:sqs/queue:Queue": (Document("policy", RESOURCE),),
    "aws:secretsmanager/secret:Secret": (Document("policy", RESOURCE),),
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": (Document("policyDocument", RESOURCE),),
    "aws:secretsmanager/secretPolicy:SecretPolicy": (Document("policy", RESOURCE),),
}

#: Parliament's finding groups that mean the policy is malformed (the rest are warnings).
ERROR_GROUPS = frozenset({"ERROR", "MALFORMED"})
_NO_RESOURCE = "Statement contains neither Resource nor NotResource"
_PROVIDER_ARN = re.compile(r"arn:aws[\w-]*:iam::\d{12}:(oidc|saml)-provider/\S+$")


def _documents(values: dict[str, Any], field: str) -> list[tuple[str, Any]]:
    """(where, text) for every document a field holds; `a[].b` looks into each object of list `a`."""
    if "[]." not in field:
        return [(field, values.get(field))]
    outer, inner = field.split("[].", 1)
    items = values.get(outer)
    if not isinstance(items, list):
        return []
    return [(f"{outer}[{i}].{inner}", item.get(inner)) for i, item in enumerate(items) if isinstance(item, dict)]


@functools.cache
def _parliament() -> Any:
    """parliament, imported once per process.

    It imports `pkg_resources` for one thing, `resource_filename`, to find its two data files
    beside its own module. Importing the real one costs about 0.1 s (it scans every installed
    distribution) and warns that it is deprecated; when nothing has imported it yet, a stand-in
    answering just that call serves parliament's import and is withdrawn straight after, so that
    anyone else importing `pkg_resources` later gets the real one.
    """
    if "pkg_resources" in sys.modules:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import parliament
        return parliament
    stand_in = types.ModuleType("pkg_resources", "parliament's data files, without the real pkg_resources")

    def resource_filename(package: str, resource: str) -> str:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(package)
        return str(Path(spec.origin).parent / resource)

    stand_in.resource_filename = resource_filename  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = stand_in
    try:
        import parliament
    finally:
        if sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]
    return parliament


@functools.cache
def _lint(text: str) -> tuple[tuple[str, str, str], ...]:
    """(issue, group, detail) of every parliament finding; cached, the same document recurs in every cell."""
    parliament = _parliament()
    policy = parliament.analyze_policy_string(text, ignore_private_auditors=True)
    out = []
    for item in policy.findings:
        settings = parliament.config.get(item.issue, {})
        title = str(settings.get("title", "")).strip().rstrip(".")
        detail = _detail(item.detail)
        out.append((str(item.issue), str(settings.get("group", "")), f"{title}: {detail}" if title else detail))
    return tuple(out)


def _detail(detail: Any) -> str:
    if isinstance(detail, list) and len(detail) > 5:
        return f"{', '.join(map(str, detail[:5]))} and {len(detail) - 5} more"
    return detail if isinstance(detail, str) else json.dumps(detail, default=str)


def _suppressed(kind: str, issue: str, detail: str) -> bool:
    if kind in (TRUST, RESOURCE) and issue == "MALFORMED" and _NO_RESOURCE in detail:
        return True
    if issue == "UNKNOWN_FEDERATION_SOURCE" and _PROVIDER_ARN.search(detail):
        return True
    return kind == RESOURCE and issue == "RESOURCE_STAR"


def size(text: str, spaces_count: bool) -> int:
    """A document's size as the service counts it: IAM ignores white space outside strings."""
    if spaces_count:
        return len(text)
    try:
        return len(json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False))
    except ValueError:
        return len(text)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):  # a document given as an object is sent as its JSON
        return json.dumps(value)
    return None


def check(records: Sequence[Record]) -> list[Finding]:
    """Lint every policy document of a stack and hold each (and each role's inline total) to its quota."""
    found: list[Finding] = []
    inline: dict[str, list[tuple[Record, int]]] = {}
    for record in records:
        if not record.custom:
            continue
        values = inputs(record)
        for doc in DOCUMENTS.get(record.type, ()):
            for where, value in _documents(values, doc.field):
                if value is None or contains_unknown(value):
                    continue  # not set, or (part of) it unknown during a preview
                text = _text(value)
                if text is None:
                    found.append(finding(CHECKER, record, f"{where} is not a policy document: {short(value)}"))
                    continue
                if "04da6b54-80e4-46f7-96ec-b56ff0331ba9" in text:
                    continue  # a document built from values unknown during a preview
                found.extend(_lint_findings(record, where, doc.kind, text))
                length = size(text, doc.spaces_count)
                if doc.quota is not None and length > doc.quota:
                    counted = "" if doc.spaces_count else " (white space not counted)"
                    found.append(
                        finding(
                            CHECKER,
                            record,
                            f"{where}: the {doc.kind} policy has {length:,} characters{counted}, more than "
                            f"AWS's quota of {doc.quota:,}",
                        )
                    )
                if doc.role_inline:
                    role = values.get("name") if record.type == "aws:iam/role:Role" else values.get("role")
                    if isinstance(role, str):
                        inline.setdefault(role, []).append((record, length))
    for role, parts in inline.items():
        total = sum(length for _, length in parts)
        if total > ROLE_INLINE_QUOTA:
            found.append(
                finding(
                    CHECKER,
                    parts[-1][0],
                    f"the inline policies of role {role!r} have {total:,} characters together (white space not "
                    f"counted), more than IAM's quota of {ROLE_INLINE_QUOTA:,} per role",
                )
            )
    return found


def _lint_findings(record: Record, where: str, kind: str, text: str) -> list[Finding]:
    out = []
    for issue, group, detail in _lint(text):
        if _suppressed(kind, issue, detail):
            continue
        level = ERROR if group in ERROR_GROUPS else ADVISORY
        out.append(finding(CHECKER, record, f"{where} ({kind} policy): parliament {issue}: {detail}", level))
    return out
