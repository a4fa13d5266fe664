"""Rule 5b: nothing is made public through a side door.

`no-public-access`:
- AWS resource policies (`RESOURCE_POLICIES`: bucket, repository, queue, topic, key, secret,
  sink policies, and the inline `policy` of topics, queues, secrets and buckets) allow nothing
  to a public principal (`"*"`, `{"AWS": "*"}`) unless a condition ties it to the organization,
  an account, a source ARN or VPC endpoint, or a network
  (`policies.documents.RESTRICTING_KEYS`, positive operators only, no `...IfExists`).
- S3 ACLs set through side resources (`aws:s3/bucketAclV2`, `aws:s3/bucketAcl`) or a bucket's
  inline `grants` use no public canned ACL and grant nothing to the AllUsers or
  AuthenticatedUsers groups. Ownership controls that turn ACLs back on expose nothing by
  themselves and are not judged; the public ACL they would let through is.
- Any GCP IAM member, binding or policy resource, of any type (matched by its type token, so new
  resource types are covered), grants nothing to `allUsers` or `allAuthenticatedUsers`; policies
  set wholesale (`...IamPolicy` with `policyData`) are read binding by binding.

A document that cannot be read is a finding ("cannot verify"), never a pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from policies.base import MANDATORY, UNKNOWN, Context, View, as_list, cannot_verify, package_of, resource_rule
from policies.documents import allows, is_public, parse, restricting_conditions

#: type -> input holding a resource policy document
RESOURCE_POLICIES = {
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:kms/key:Key": "policy",
    "aws:kms/keyPolicy:KeyPolicy": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
    "aws:oam/sinkPolicy:SinkPolicy": "policy",
    "aws:s3/accessPoint:AccessPoint": "policy",
    "aws:ecr/registryPolicy:RegistryPolicy": "policy",
    # Resources that take their policy inline, as an input of their own.
    "aws:sns/topic:Topic": "policy",
    "aws:sqs/queue:Queue": "policy",
    "aws:secretsmanager/secret:Secret": "policy",
    "aws:s3/bucket:Bucket": "policy",
    "aws:s3/bucketV2:BucketV2": "policy",
}
ACL_TYPES = frozenset({"aws:s3/bucketAclV2:BucketAclV2", "aws:s3/bucketAcl:BucketAcl"})
#: Buckets that take an ACL inline (`grants`, the older provider's shape).
INLINE_ACL_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
#: GCP IAM resources of every service: `...IamMember`, `...IAMBinding`, `...IamPolicy` and the like.
_GCP_IAM = re.compile(r"iam(member|binding|policy)$", re.IGNORECASE)

TYPES = [*RESOURCE_POLICIES, *ACL_TYPES]


def is_gcp_iam(type_: str) -> bool:
    return package_of(type_) == "gcp" and bool(_GCP_IAM.search(type_.rsplit(":", 1)[-1]))


def _aws_policy(resource: View, report: Callable[[str], None]) -> None:
    value = resource.props.get(RESOURCE_POLICIES[resource.type])
    if value is None:
        return
    document = parse(value)
    if document.problem:
        report(cannot_verify(f"who {resource.label} lets in", document.problem))
        return
    for statement in allows(document):
        if is_public(statement) and not restricting_conditions(statement):
            sid = f" {statement['Sid']!r}" if statement.get("Sid") else ""
            report(
                f"{resource.label} statement{sid} allows {statement.get('Action') or statement.get('NotAction')} to "
                "any principal without a condition that limits it (aws:PrincipalOrgID, aws:SourceArn, "
                "aws:SourceVpce...)"
            )


def _acl(resource: View, report: Callable[[str], None]) -> None:
    props = resource.props
    acl = props.get("acl")
    if isinstance(acl, str) and acl in PUBLIC_ACLS:
        report(f"{resource.label} sets the public canned ACL {acl!r}")
    policy = props.get("accessControlPolicy")
    if policy is None or policy is UNKNOWN:
        return
    grants = policy.get("grants") if isinstance(policy, dict) else None
    if grants is UNKNOWN:
        return
    if not isinstance(grants, list):
        report(cannot_verify(f"the grants of {resource.label}", f"accessControlPolicy is {policy!r}"))
        return
    for grant in grants:
        grantee = grant.get("grantee") if isinstance(grant, dict) else None
        if grantee is UNKNOWN or grant is UNKNOWN:
            continue
        if not isinstance(grantee, dict):
            report(cannot_verify(f"the grants of {resource.label}", f"a grant is {grant!r}, with no grantee object"))
            continue
        uri = grantee.get("uri")
        if uri in PUBLIC_GROUPS:
            report(f"{resource.label} grants {grant.get('permission')} to {uri.rsplit('/', 1)[-1]}")


@resource_rule(
    "no-public-access",
    "Nothing is made public through a side door: resource policies with a public principal and no limiting "
    "condition, public S3 ACL resources, GCP IAM grants to allUsers/allAuthenticatedUsers.",
    MANDATORY,
)
def no_public_access(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    if resource.type in RESOURCE_POLICIES:
        _aws_policy(resource, report)
    if resource.type in ACL_TYPES:
        _acl(resource, report)
    elif resource.type in INLINE_ACL_TYPES:
        for grant in as_list(resource.props.get("grants")):
            if isinstance(grant, dict) and grant.get("uri") in PUBLIC_GROUPS:
                report(f"{resource.label} grants {grant.get('permissions')} to {grant['uri'].rsplit('/', 1)[-1]}")
    elif is_gcp_iam(resource.type):
        grants, problem = gcp_grants(resource)
        if problem:
            report(cannot_verify(f"who {resource.label} grants to", problem))
        for role, member in sorted({(r, m) for r, m in grants if m in PUBLIC_MEMBERS}):
            report(f"{resource.label} grants {role} to {member}: that is everyone")


def gcp_grants(resource: View) -> tuple[list[tuple[str, str]], str | None]:
    """(role, member) pairs a GCP IAM resource grants, or why they cannot be read."""
    props = resource.props
    pairs: list[tuple[str, str]] = []
    role = props.get("role")
    members = []
    for member in as_list(props.get("member")) + as_list(props.get("members")):
        if isinstance(member, str):
            members.append(member)
        elif member is not UNKNOWN:
            return [], f"a member is {member!r}, not an IAM member string"
    pairs.extend((role if isinstance(role, str) else "a role", m) for m in members)
    data = props.get("policyData")
    if data is not None and data is not UNKNOWN:
        try:
            policy: Any = json.loads(data) if isinstance(data, str) else data
        except ValueError as exc:
            return [], f"policyData is not valid JSON ({exc})"
        if not isinstance(policy, dict):
            return [], f"policyData is {policy!r}, not a policy"
        for binding in as_list(policy.get("bindings")):
            if not isinstance(binding, dict) or not isinstance(binding.get("role"), str):
                return [], f"a binding of policyData is {binding!r}"
            pairs.extend((binding["role"], str(m)) for m in as_list(binding.get("members")))
    return pairs, None
