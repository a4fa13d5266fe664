"""Rule 14: every AWS KMS key has an explicit key policy that keeps the account in charge.

Without `policy`, KMS applies its default policy, and nothing in the stack says which services
may use the key. With one, KMS refuses a policy that would lock the caller out (the lockout
safety check) unless told to bypass it: the root of the key's own account (the provider's, when
known) must keep `kms:*`, so IAM policies go on deciding who administers the key. A policy that
is not a JSON document is a finding (the rule fails closed); one still unknown during a preview
is skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from policies.base import MANDATORY, UNKNOWN, Context, View, arn_account, as_list, resource_rule

KMS_KEY = "aws:kms/key:Key"
_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):root$")


def _key_account(resource: View) -> str | None:
    """The account the key is made in, when its provider says (the role it assumes, or the one
    account it allows); None when unknown, and then any account's root is taken."""
    provider = resource.provider
    if provider is None:
        return None
    roles = [arn_account(arn) for arn in provider.role_arns]
    if roles:
        return roles[-1]
    allowed = provider.props.get("allowedAccountIds")
    return str(allowed[0]) if isinstance(allowed, list) and len(allowed) == 1 else None


def _administers(statement: Any, account: str | None) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or "Condition" in statement:
        return False
    principal = statement.get("Principal")
    roots = (
        [_ROOT.match(r) for r in as_list(principal.get("AWS")) if isinstance(r, str)]
        if isinstance(principal, dict)
        else []
    )
    in_charge = any(m is not None and account in (None, m["account"]) for m in roots)
    return in_charge and "kms:*" in as_list(statement.get("Action"))


@resource_rule(
    "kms-key-policy",
    "AWS KMS keys have an explicit key policy in which the account's root keeps kms:*",
    MANDATORY,
    types=[KMS_KEY],
)
def kms_key_policy(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    policy = resource.props.get("policy")
    if policy is UNKNOWN:
        return
    if not policy:
        report(f"{resource.label} has no key policy: KMS's default says nothing of the services that use the key")
        return
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
        statements = as_list(document["Statement"])
    except (ValueError, TypeError, KeyError):
        report(f"{resource.label} has a key policy that is not a JSON policy document")
        return
    account = _key_account(resource)
    if not any(_administers(s, account) for s in statements):
        whose = f"its account {account}" if account else "the account"
        report(
            f"{resource.label}'s key policy does not give {whose}'s root kms:* (unconditionally): "
            "KMS refuses it (lockout safety check) or the account loses control of the key"
        )
