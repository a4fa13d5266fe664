"""The clouds' own rules, offline: what AWS, GCP and Kubernetes would reject, before any deploy.

A second layer of findings beside the policy pack, evaluated on the same planned resources
(`policies.evaluate.Record`), from the clouds' own definitions rather than hand-kept lists:

| checker | judges | from |
|---|---|---|
| `cloud/botocore` | AWS inputs against the request shapes of the calls the provider makes | botocore's service models |
| `cloud/iam` | every AWS policy document: lint and size quota | parliament, AWS's documented quotas |
| `cloud/kubernetes` | every Kubernetes object, strictly, at the cluster's version | kubernetes-validate's schemas |
| `cloud/gcp-names` | GCP ids, names and labels | Google's documented naming rules |

Findings have `layer` "cloud" and level `error` (the API would reject it: the plan fails) or
`advisory`. Pure functions: no engine, no network.
"""

from __future__ import annotations

from collections.abc import Iterable

from policies.cloud import botocore_shapes, gcp_names, iam, kubernetes
from policies.cloud.common import Checker
from policies.evaluate import Finding, Record

#: Every checker by the name its findings carry in `policy`.
CHECKERS: dict[str, Checker] = {
    botocore_shapes.CHECKER: botocore_shapes.check,
    iam.CHECKER: iam.check,
    kubernetes.CHECKER: kubernetes.check,
    gcp_names.CHECKER: gcp_names.check,
}


def check(records: Iterable[Record]) -> list[Finding]:
    """Every checker on one stack's planned resources; findings in checker order, then resource order."""
    records = list(records)
    return [f for checker in CHECKERS.values() for f in checker(records)]


__all__ = ["CHECKERS", "check"]
