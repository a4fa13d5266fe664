"""Rules 7-9: IAM wildcards and access keys, SSO session lengths, prod protection."""

from __future__ import annotations

import json

import pytest

from cells import Registry
from policies.identity import duration_seconds, iam_no_access_keys, iam_no_admin_wildcard, sso_session_duration
from policies.protection import prod_protection
from policies.testing import Stack

EVERYTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
SCOPED = json.dumps({"Statement": [{"Effect": "Allow", "Action": ["eks:Describe*"], "Resource": "*"}]})
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
PS = "aws:ssoadmin/permissionSet:PermissionSet"


def test_scoped_policies_pass(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add("aws:iam/rolePolicy:RolePolicy", "alpha-deployer", {"policy": SCOPED})
    stack.add("gcp:projects/iAMMember:IAMMember", "viewer", {"role": "roles/viewer", "member": "group:e@acme-corp.net"})
    stack.add(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "ro",
        {"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
    )
    assert stack.findings(registry, iam_no_admin_wildcard) == []


@pytest.mark.parametrize(
    ("type_", "inputs"),
    [
        ("aws:iam/policy:Policy", {"policy": EVERYTHING}),
        ("aws:iam/role:Role", {"inlinePolicies": [{"name": "all", "policy": EVERYTHING}]}),
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"policyArn": ADMIN_ARN}),
        ("gcp:projects/iAMMember:IAMMember", {"role": "roles/owner", "member": "group:eng@acme-corp.net"}),
    ],
)
def test_admin_grants_fire(registry: Registry, type_: str, inputs: dict) -> None:
    stack = Stack("cell-alpha")
    bad = stack.add(type_, "alpha-too-much", inputs)
    [finding] = stack.findings(registry, iam_no_admin_wildcard)
    assert finding.urn == bad.urn
    assert finding.level == "mandatory"


def test_only_the_break_glass_permission_set_may_be_admin(registry: Registry) -> None:
    stack = Stack("management")
    admin = stack.add(PS, "admin", {"name": "admin"}, outputs={"arn": "arn:aws:sso:::permissionSet/ssoins-1/ps-admin"})
    operator = stack.add(PS, "cell-operator", {"name": "cell-operator"}, outputs={"arn": "arn:ps-op"})
    mpa = "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment"
    stack.add(mpa, "admin-admin", {"managedPolicyArn": ADMIN_ARN, "permissionSetArn": "x"}, depends_on=(admin,))
    assert stack.findings(registry, iam_no_admin_wildcard) == []
    bad = stack.add(mpa, "operator-admin", {"managedPolicyArn": ADMIN_ARN, "permissionSetArn": "arn:ps-op"})
    inline = stack.add(
        "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy",
        "operator-inline",
        {"inlinePolicy": EVERYTHING},
        depends_on=(operator,),
    )
    assert [f.urn for f in stack.findings(registry, iam_no_admin_wildcard)] == [bad.urn, inline.urn]


def test_access_keys_fire(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add("aws:iam/user:User", "bot", {})
    assert stack.findings(registry, iam_no_access_keys) == []
    key = stack.add("aws:iam/accessKey:AccessKey", "bot-key", {"user": "bot"})
    [finding] = stack.findings(registry, iam_no_access_keys)
    assert (finding.urn, finding.policy) == (key.urn, "iam-no-access-keys")


def test_duration_parsing() -> None:
    assert duration_seconds("PT8H") == 8 * 3600
    assert duration_seconds("PT1H30M") == 5400
    assert duration_seconds("8 hours") is None


def test_session_durations(registry: Registry) -> None:
    stack = Stack("management")
    stack.add(PS, "read-only", {"name": "read-only", "sessionDuration": "PT8H"})
    stack.add(PS, "admin", {"name": "admin", "sessionDuration": "PT1H"})
    stack.add(PS, "default", {"name": "cell-operator"})
    assert stack.findings(registry, sso_session_duration) == []
    long = stack.add(PS, "long", {"name": "cell-operator", "sessionDuration": "PT12H"})
    admin = stack.add(PS, "admin2", {"name": "admin", "sessionDuration": "PT2H"})
    found = stack.findings(registry, sso_session_duration)
    assert [(f.urn, f.level) for f in found] == [(long.urn, "advisory"), (admin.urn, "advisory")]
    assert "at most PT1H" in found[1].message


def test_prod_protection(registry: Registry) -> None:
    stack = Stack("management")
    account = "aws:organizations/account:Account"
    stack.add(account, "alpha", {"email": "aws+cell-alpha@acme-corp.net", "name": "cell-alpha"}, protect=True)
    stack.add(account, "staging", {"email": "aws+cell-staging@acme-corp.net"})  # preprod: may be unprotected
    stack.add("gcp:organizations/project:Project", "beta", {"projectId": "acme-cell-beta"}, protect=True)
    assert stack.findings(registry, prod_protection) == []
    gamma = stack.add(account, "gamma", {"email": "aws+cell-gamma@acme-corp.net"})
    found = stack.findings(registry, prod_protection)
    assert [(f.urn, f.level) for f in found] == [(gamma.urn, "advisory")]
    assert "prod cell gamma's account" in found[0].message


def test_prod_zone_protection(registry: Registry) -> None:
    stack = Stack("cell-beta")
    zone = stack.add("gcp:dns/managedZone:ManagedZone", "beta-zone", {"dnsName": "beta.cells.acme-corp.net."})
    assert [f.urn for f in stack.findings(registry, prod_protection)] == [zone.urn]
    stack = Stack("cell-alpha")
    stack.add("aws:route53/zone:Zone", "alpha-zone", {"name": "alpha.cells.acme-corp.net"}, protect=True)
    assert stack.findings(registry, prod_protection) == []
