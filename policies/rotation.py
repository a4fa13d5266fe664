"""Rule 12: encryption keys rotate.

`kms-key-rotation`: every symmetric AWS KMS key has `enableKeyRotation` on (with
`rotationPeriodInDays`, if set, at most 365); every GCP `CryptoKey` for ENCRYPT_DECRYPT (the
default purpose) has a `rotationPeriod` of at least one day (GCP's minimum) and at most 365 days.
Keys that the clouds cannot rotate automatically (AWS asymmetric and HMAC keys, imported key
material; GCP asymmetric and MAC keys) are out of scope. A rotation period that does not parse
is a finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from policies.base import MANDATORY, UNKNOWN, Context, View, cannot_verify, resource_rule

AWS_KEY = "aws:kms/key:Key"
GCP_KEY = "gcp:kms/cryptoKey:CryptoKey"
MAX_DAYS = 365
DAY = 86400
_SECONDS = re.compile(r"^(\d+)(?:\.\d{1,9})?s$")


def _aws(resource: View, report: Callable[[str], None]) -> None:
    props = resource.props
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or "SYMMETRIC_DEFAULT"
    usage = props.get("keyUsage") or "ENCRYPT_DECRYPT"
    if UNKNOWN in (spec, usage) or spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        return  # AWS rotates only symmetric encryption keys automatically
    enabled = props.get("enableKeyRotation")
    if enabled is UNKNOWN:
        return
    if enabled is not True:
        report(f"{resource.label} does not rotate: set enableKeyRotation=True (AWS rotates the key material yearly)")
        return
    days = props.get("rotationPeriodInDays")
    if days is None or days is UNKNOWN:
        return
    if not isinstance(days, int | float) or isinstance(days, bool):
        report(cannot_verify(f"how often {resource.label} rotates", f"rotationPeriodInDays is {days!r}"))
    elif days > MAX_DAYS:
        report(f"{resource.label} rotates every {int(days)} days; at most {MAX_DAYS}")


def _gcp(resource: View, report: Callable[[str], None]) -> None:
    props = resource.props
    purpose = props.get("purpose") or "ENCRYPT_DECRYPT"
    period = props.get("rotationPeriod")
    if purpose != "ENCRYPT_DECRYPT" or period is UNKNOWN:
        return  # GCP rotates only symmetric encryption keys automatically
    if period is None:
        report(f"{resource.label} does not rotate: set rotationPeriod (for example 7776000s, 90 days)")
        return
    found = _SECONDS.match(period) if isinstance(period, str) else None
    if found is None:
        report(cannot_verify(f"how often {resource.label} rotates", f"rotationPeriod {period!r} is not '<seconds>s'"))
        return
    seconds = int(found.group(1))
    if seconds < DAY:
        report(f"{resource.label} has rotationPeriod {period}; GCP requires at least one day ({DAY}s)")
    elif seconds > MAX_DAYS * DAY:
        report(f"{resource.label} rotates every {seconds // DAY} days; at most {MAX_DAYS}")


@resource_rule(
    "kms-key-rotation",
    "Symmetric KMS keys rotate: AWS enableKeyRotation, GCP rotationPeriod, at most yearly.",
    MANDATORY,
    types=[AWS_KEY, GCP_KEY],
)
def kms_key_rotation(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    if resource.type == AWS_KEY:
        _aws(resource, report)
    else:
        _gcp(resource, report)
