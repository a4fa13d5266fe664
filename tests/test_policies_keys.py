"""Rule kms-key-policy: an explicit key policy on every AWS KMS key, with the account root in charge."""

from __future__ import annotations

import json

import pytest

from cellctl.offline import run_stack
from cells import Registry
from components.aws.audit_trail import key_policy
from components.aws.cluster import secrets_key_policy
from policies.keys import kms_key_policy
from policies.testing import Stack

KEY = "aws:kms/key:Key"
ROOT = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"}
SERVICE = {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:GenerateDataKey*"}


def findings(registry: Registry, inputs: dict[str, object]) -> list[str]:
    stack = Stack("cell-alpha")
    stack.add(KEY, "alpha-key", inputs)
    return [f.message for f in stack.findings(registry, kms_key_policy)]


def test_honeycombs_key_policies_pass(registry: Registry) -> None:
    for policy in (
        secrets_key_policy("111111111111", "arn:aws:iam::111111111111:role/alpha-cluster"),
        key_policy("100000000001", "arn:aws:cloudtrail:us-east-1:100000000001:trail/t"),
    ):
        assert findings(registry, {"policy": policy}) == []


@pytest.mark.parametrize("stack", ["management", "cell-alpha"])
def test_every_key_the_programs_make_passes(registry: Registry, stack: str) -> None:
    plan = run_stack(stack, registry)
    keys = plan.of_type(KEY)
    assert keys
    for key in keys:
        assert findings(registry, key.inputs) == [], key.name


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (None, "has no key policy"),
        ("", "has no key policy"),
        ("{not json", "not a JSON policy document"),
        (json.dumps({"Version": "2012-10-17"}), "not a JSON policy document"),
        (json.dumps({"Statement": [SERVICE]}), "does not give the account's root kms:*"),
        (json.dumps({"Statement": [{**ROOT, "Action": "kms:Decrypt"}]}), "does not give the account's root kms:*"),
        (json.dumps({"Statement": [{**ROOT, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}), "root"),
        (json.dumps({"Statement": [{**ROOT, "Principal": {"AWS": "*"}}]}), "root"),
    ],
)
def test_a_key_without_its_account_in_charge_fires(registry: Registry, policy: object, message: str) -> None:
    inputs = {} if policy is None else {"policy": policy}
    (found,) = findings(registry, inputs)
    assert message in found and "alpha-key" in found


def test_the_root_must_be_the_keys_own_account(registry: Registry) -> None:
    """KMS's lockout check: another account's root in charge leaves the creating account out."""
    stack = Stack("cell-alpha")
    provider = stack.aws_provider("alpha", account="111111111111")
    own = json.dumps({"Statement": [ROOT]})
    foreign = json.dumps({"Statement": [{**ROOT, "Principal": {"AWS": "arn:aws:iam::222222222222:root"}}]})
    stack.add(KEY, "own-key", {"policy": own}, provider=provider)
    stack.add(KEY, "foreign-key", {"policy": foreign}, provider=provider)
    (found,) = [f.message for f in stack.findings(registry, kms_key_policy)]
    assert "foreign-key" in found and "111111111111" in found
