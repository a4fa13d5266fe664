"""Rules 7-9: IAM wildcards and access keys, SSO session lengths, prod protection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cells import Registry
from policies.identity import (
    duration_seconds,
    iam_no_access_keys,
    iam_no_admin_wildcard,
    iam_trust_boundary,
    sso_session_duration,
)
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


def test_roles_and_service_accounts_pass(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add("aws:iam/role:Role", "alpha-nodes", {})
    stack.add("gcp:serviceaccount/account:Account", "beta-nodes", {"accountId": "beta-nodes"})
    assert stack.findings(registry, iam_no_access_keys) == []


@pytest.mark.parametrize(
    ("type_", "inputs", "message"),
    [
        ("aws:iam/accessKey:AccessKey", {"user": "bot"}, "creates a long-lived access key for bot"),
        ("aws:iam/user:User", {"name": "bot"}, "creates an IAM user"),
        ("aws:iam/userLoginProfile:UserLoginProfile", {"user": "jane"}, "gives an IAM user a console password"),
        (
            "gcp:serviceaccount/key:Key",
            {"serviceAccountId": "beta-nodes"},
            "creates a service-account key for beta-nodes",
        ),
        ("gcp:storage/hmacKey:HmacKey", {"serviceAccountEmail": "x@p.iam"}, "creates a long-lived HMAC key"),
    ],
)
def test_long_lived_credentials_fire(registry: Registry, type_: str, inputs: dict, message: str) -> None:
    stack = Stack("cell-alpha")
    key = stack.add(type_, "bot-key", inputs)
    [finding] = stack.findings(registry, iam_no_access_keys)
    assert (finding.urn, finding.policy) == (key.urn, "iam-no-access-keys")
    assert message in finding.message


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize(
    ("type_", "inputs", "message"),
    [
        (
            "aws:iam/policy:Policy",
            {"policy": _doc({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})},
            "NotAction",
        ),
        (
            "aws:iam/rolePolicy:RolePolicy",
            {"policy": _doc({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::x"})},
            "NotResource",
        ),
        ("aws:iam/policy:Policy", {"policy": _doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"})}, "iam:*"),
        (
            "aws:iam/policy:Policy",
            {
                "policy": _doc(
                    {"Effect": "Allow", "Action": ["iam:Pass*"], "Resource": "arn:aws:iam::210987654321:role/*"}
                )
            },
            "iam:PassRole on every role",
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"policyArn": "arn:aws:iam::aws:policy/IAMFullAccess"},
            "attaches IAMFullAccess",
        ),
        # "Every resource" spelt as an ARN pattern.
        (
            "aws:iam/policy:Policy",
            {"policy": _doc({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:*:*:*:*"})},
            "allows every action on every resource",
        ),
        (
            "aws:iam/policy:Policy",
            {"policy": _doc({"Effect": "Allow", "Action": "*", "Resource": "arn:*"})},
            "allows every action on every resource",
        ),
        (
            "aws:iam/policy:Policy",
            {"policy": _doc({"Effect": "Allow", "Action": "IAM:*", "Resource": "arn:aws:iam::*:*"})},
            "allows all of IAM (iam:*) on every resource",
        ),
        ("aws:iam/role:Role", {"managedPolicyArns": ["arn:aws:iam::aws:policy/PowerUserAccess"]}, "PowerUserAccess"),
        (
            "gcp:projects/iAMMember:IAMMember",
            {"role": "roles/editor", "member": "group:eng@acme-corp.net"},
            "roles/editor",
        ),
        (
            "gcp:storage/bucketIAMBinding:BucketIAMBinding",
            {"role": "roles/owner", "members": ["user:x@acme-corp.net"]},
            "roles/owner",
        ),
        (
            "gcp:projects/iAMPolicy:IAMPolicy",
            {"policyData": json.dumps({"bindings": [{"role": "roles/owner", "members": ["user:x@acme-corp.net"]}]})},
            "roles/owner to user:x@acme-corp.net",
        ),
    ],
)
def test_admin_by_another_name_fires(registry: Registry, type_: str, inputs: dict, message: str) -> None:
    stack = Stack("cell-beta")
    bad = stack.add(type_, "beta-too-much", inputs)
    [finding] = stack.findings(registry, iam_no_admin_wildcard)
    assert finding.urn == bad.urn
    assert message in finding.message


def test_gcp_editor_exactly_as_the_registry_says(registry: Registry) -> None:
    # beta is prod: platform-admins are its admins (roles/editor) in its own project.
    stack = Stack("cell-beta")
    member = "group:platform-admins@acme-corp.net"
    stack.add(
        "gcp:projects/iAMMember:IAMMember",
        "ok",
        {"role": "roles/editor", "member": member, "project": "acme-cell-beta"},
    )
    assert stack.findings(registry, iam_no_admin_wildcard) == []
    elsewhere = stack.add(
        "gcp:projects/iAMMember:IAMMember", "far", {"role": "roles/editor", "member": member, "project": "acme-other"}
    )
    owner = stack.add("gcp:projects/iAMMember:IAMMember", "own", {"role": "roles/owner", "member": member})
    support = stack.add(
        "gcp:projects/iAMMember:IAMMember", "sup", {"role": "roles/editor", "member": "group:support@acme-corp.net"}
    )
    assert [f.urn for f in stack.findings(registry, iam_no_admin_wildcard)] == [elsewhere.urn, owner.urn, support.urn]
    # In a management stack nobody is a cell's admin.
    mgmt = Stack("management")
    mgmt.add("gcp:projects/iAMMember:IAMMember", "ok", {"role": "roles/editor", "member": member})
    assert len(mgmt.findings(registry, iam_no_admin_wildcard)) == 1


def test_a_dev_cells_owner_is_its_gcp_admin(registry: Registry, registry_copy: Any, edit_yaml: Any) -> None:
    from cells import load_registry

    path = registry_copy / "cells" / "dev-jdoe.yaml"
    edit_yaml(
        path,
        lambda d: (
            d.update(cloud="gcp", region="europe-west1", project_id="acme-cell-dev-jdoe"),
            d.pop("account_email"),
        ),
    )
    reg = load_registry(registry_copy)
    stack = Stack("cell-dev-jdoe")
    stack.add(
        "gcp:projects/iAMMember:IAMMember", "owner", {"role": "roles/editor", "member": "user:jane.doe@acme-corp.net"}
    )
    assert stack.findings(reg, iam_no_admin_wildcard) == []
    stack.add(
        "gcp:projects/iAMMember:IAMMember", "eng", {"role": "roles/editor", "member": "group:engineering@acme-corp.net"}
    )
    assert len(stack.findings(reg, iam_no_admin_wildcard)) == 1


@pytest.mark.parametrize(
    ("inputs", "why"),
    [
        ({"policy": "{not json"}, "not valid JSON"),
        ({"policy": json.dumps({"statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})}, "no Statement"),
        ({"policy": _doc({"effect": "Allow", "action": "*", "resource": "*"})}, "elements IAM does not know"),
        ({"policy": _doc({"Effect": "allow", "Action": "*", "Resource": "*"})}, "not Allow or Deny"),
    ],
)
def test_an_unreadable_policy_document_cannot_be_verified(registry: Registry, inputs: dict, why: str) -> None:
    stack = Stack("cell-alpha")
    stack.add("aws:iam/policy:Policy", "alpha-odd", inputs)
    [finding] = stack.findings(registry, iam_no_admin_wildcard)
    assert "cannot verify what alpha-odd (aws:iam/policy:Policy)'s policy allows" in finding.message
    assert why in finding.message


TRUST = "arn:aws:iam::100000000001:role/honeycomb-ci"


def _trust(principal: object, condition: dict | None = None) -> dict:
    statement: dict = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}
    if condition:
        statement["Condition"] = condition
    return {"assumeRolePolicy": _doc(statement)}


def test_trust_inside_the_organization_passes(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add("aws:iam/role:Role", "a", _trust({"AWS": TRUST}))
    stack.add("aws:iam/role:Role", "b", _trust({"Service": "eks.amazonaws.com"}))
    stack.add("aws:iam/role:Role", "c", _trust({"AWS": "210987654321"}))
    stack.add("aws:iam/role:Role", "d", _trust("*", {"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}}))
    oidc = "arn:aws:iam::100000000001:oidc-provider/token.actions.githubusercontent.com"
    repo = {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/honeycomb:*"}}
    stack.add("aws:iam/role:Role", "e", _trust({"Federated": oidc}, repo))
    saml = "arn:aws:iam::100000000001:saml-provider/okta"
    stack.add(
        "aws:iam/role:Role",
        "f",
        _trust({"Federated": saml}, {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}),
    )
    assert stack.findings(registry, iam_trust_boundary) == []


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (_trust("*"), 'trusts any principal ("*")'),
        (_trust({"AWS": "*"}, {"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}}), "trusts any principal"),
        (_trust({"AWS": "arn:aws:iam::999999999999:root"}), "in account 999999999999 outside the organization"),
        (_trust({"AWS": ["123456789012"]}), "account 123456789012 outside the organization"),
        (
            _trust({"Federated": "arn:aws:iam::100000000001:oidc-provider/token.actions.githubusercontent.com"}),
            "add a condition on token.actions.githubusercontent.com:sub",
        ),
        (_trust({"Federated": "arn:aws:iam::100000000001:saml-provider/okta"}), "add a condition on SAML:aud"),
        ({"assumeRolePolicy": "{"}, "cannot verify whom it trusts"),
        (_trust({"AWS": "honeycomb-ci"}), "neither an account nor an ARN"),
    ],
)
def test_trust_outside_the_organization_fires(registry: Registry, inputs: dict, message: str) -> None:
    stack = Stack("cell-alpha")
    bad = stack.add("aws:iam/role:Role", "alpha-open", inputs)
    [finding] = stack.findings(registry, iam_trust_boundary)
    assert finding.urn == bad.urn
    assert message in finding.message


def test_accounts_created_in_the_stack_are_the_organizations(registry: Registry) -> None:
    stack = Stack("management")
    stack.add("aws:organizations/account:Account", "zeta", {"email": "z@acme-corp.net"}, outputs={"id": "777777777777"})
    stack.add("aws:iam/role:Role", "reader", _trust({"AWS": "arn:aws:iam::777777777777:root"}))
    assert stack.findings(registry, iam_trust_boundary) == []


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


def test_a_session_duration_of_unknown_shape_cannot_be_verified(registry: Registry) -> None:
    stack = Stack("management")
    stack.add(PS, "odd", {"name": "cell-operator", "sessionDuration": 3600})
    [finding] = stack.findings(registry, sso_session_duration)
    assert "cannot verify how long" in finding.message
