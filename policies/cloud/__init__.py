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

from collections.abc import Iterable, Sequence

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


def check(records: Iterable[Record], context: Sequence[Record] = ()) -> list[Finding]:
    """Every checker on one stack's planned resources; findings in checker order, then resource order.

    `context` holds what the stack deploys onto but does not create (a team program's cell cluster):
    the Kubernetes checker takes its version from there when the stack has no cluster of its own.
    """
    records = list(records)
    found: list[Finding] = []
    for name, checker in CHECKERS.items():
        found.extend(kubernetes.check(records, context) if name == kubernetes.CHECKER else checker(records))
    return found


__all__ = ["CHECKERS", "check"]
