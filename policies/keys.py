"""Rule 14: every AWS KMS key has an explicit key policy that keeps the account in charge.

Without `policy`, KMS applies its default policy, and nothing in the stack says which services
may use the key. With one, KMS refuses a policy that would lock the caller out (the lockout
safety check) unless told to bypass it: the account's root must keep `kms:*`, so IAM policies
go on deciding who administers the key. A policy that is not a JSON document is a finding (the
rule fails closed); one still unknown during a preview is skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from policies.base import MANDATORY, UNKNOWN, Context, View, as_list, resource_rule

KMS_KEY = "aws:kms/key:Key"
_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:root$")


def _administers(statement: Any) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or "Condition" in statement:
        return False
    principal = statement.get("Principal")
    roots = as_list(principal.get("AWS")) if isinstance(principal, dict) else []
    return any(isinstance(r, str) and _ROOT.match(r) for r in roots) and "kms:*" in as_list(statement.get("Action"))


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
    if not any(_administers(s) for s in statements):
        report(
            f"{resource.label}'s key policy does not give the account's root kms:* (unconditionally): "
            "KMS refuses it (lockout safety check) or the account loses control of the key"
        )
