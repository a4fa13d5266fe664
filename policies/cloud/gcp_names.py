"""GCP names, ids and labels against Google's documented rules (`cloud/gcp-names`).

`RULES` holds each rule once, with the page that documents it; `FIELDS` says which input of
which resource type each rule judges (`a[].b` looks into every object of list `a`). A label map
is judged key by key and value by value. Values unknown during a preview are skipped.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import regex

from policies.base import tag_field
from policies.cloud.common import finding, inputs, is_unknown, json_document, short
from policies.evaluate import Finding, Record

CHECKER = "cloud/gcp-names"


@dataclass(frozen=True)
class Rule:
    name: str
    says: str
    doc: str
    check: Callable[[str], bool]


def _regex(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda value: compiled.fullmatch(value) is not None


def _unicode_regex(pattern: str) -> Callable[[str], bool]:
    compiled = regex.compile(pattern)
    return lambda value: compiled.fullmatch(value) is not None


_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_BUCKET_PART = re.compile(r"[a-z0-9]([-a-z0-9_]{0,61}[a-z0-9])?")


def _bucket_name(value: str) -> bool:
    """Cloud Storage: 3 to 63 characters (222 with dots, 63 per dot-separated part), no IP address, no "goog" prefix."""
    if not 3 <= len(value) <= (222 if "." in value else 63):
        return False
    if _IPV4.fullmatch(value) or value.startswith("goog") or "google" in value:
        return False
    return all(_BUCKET_PART.fullmatch(part) for part in value.split("."))


def _label_char(char: str, first: bool) -> bool:
    """Lowercase letters (international too), and after the first: digits, `_` and `-`."""
    category = unicodedata.category(char)
    if category in ("Ll", "Lo"):
        return True
    return not first and (category == "Nd" or char in "_-")


def _label_key(value: str) -> bool:
    return 1 <= len(value) <= 63 and all(_label_char(c, i == 0) for i, c in enumerate(value))


def _label_value(value: str) -> bool:
    return len(value) <= 63 and all(_label_char(c, False) for c in value)


RFC1035 = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"

RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "project-id",
            "6 to 30 lowercase letters, digits or hyphens, starting with a letter, not ending with a hyphen",
            "https://cloud.google.com/resource-manager/docs/creating-managing-projects#before_you_begin",
            _regex(r"[a-z][-a-z0-9]{4,28}[a-z0-9]"),
        ),
        Rule(
            "project-name",
            "4 to 30 letters, digits, hyphens, single or double quotes, spaces or exclamation points",
            "https://cloud.google.com/resource-manager/reference/rest/v1/projects#Project",
            _regex(r"[A-Za-z0-9'\"! -]{4,30}"),
        ),
        Rule(
            "folder-name",
            "1 to 30 letters or digits (of any script), spaces, hyphens or underscores, starting and ending "
            "with a letter or digit",
            "https://cloud.google.com/resource-manager/reference/rest/v3/folders#Folder",
            # The reference's own expression: letters and digits of any script (`regex` knows \p{..}).
            _unicode_regex(r"[\p{L}\p{N}]([\p{L}\p{N}_\- ]{0,28}[\p{L}\p{N}])?"),
        ),
        Rule(
            "service-account-id",
            "6 to 30 lowercase letters, digits or hyphens, starting with a letter, ending with a letter or digit",
            "https://cloud.google.com/iam/docs/service-accounts-create#creating",
            _regex(r"[a-z][-a-z0-9]{4,28}[a-z0-9]"),
        ),
        Rule(
            "rfc1035",
            "1 to 63 characters per RFC 1035: a lowercase letter, then lowercase letters, digits or hyphens, "
            "not ending with a hyphen",
            "https://cloud.google.com/compute/docs/naming-resources#resource-name-format",
            _regex(RFC1035),
        ),
        Rule(
            "gke-cluster-name",
            "1 to 40 lowercase letters, digits or hyphens, starting with a letter, ending with a letter or digit",
            "https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#Cluster",
            _regex(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?"),
        ),
        Rule(
            "dns-zone-name",
            "1 to 63 lowercase letters, digits or dashes, starting with a letter, ending with a letter or digit",
            "https://cloud.google.com/dns/docs/reference/rest/v1/managedZones#resource",
            _regex(RFC1035),
        ),
        Rule(
            "dns-name",
            "a fully qualified DNS name ending with a dot, labels of at most 63 characters",
            "https://cloud.google.com/dns/docs/reference/rest/v1/resourceRecordSets#resource",
            _regex(r"(\*\.)?([A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?\.)+"),
        ),
        Rule(
            "kms-name",
            "1 to 63 letters, digits, underscores or hyphens",
            "https://cloud.google.com/kms/docs/resource-hierarchy#key_rings",
            _regex(r"[A-Za-z0-9_-]{1,63}"),
        ),
        Rule(
            "artifact-repository-id",
            "1 to 63 lowercase letters, digits or hyphens, starting with a letter, ending with a letter or digit",
            "https://cloud.google.com/artifact-registry/docs/repositories/create-repos#create",
            _regex(RFC1035),
        ),
        Rule(
            "custom-role-id",
            "3 to 64 letters, digits, underscores or periods",
            "https://cloud.google.com/iam/docs/creating-custom-roles#creating",
            _regex(r"[A-Za-z0-9_.]{3,64}"),
        ),
        Rule(
            "gcs-bucket-name",
            "3 to 63 lowercase letters, digits, dashes, underscores or dots (222 with dots, 63 between them), "
            "starting and ending with a letter or digit, not an IP address, not starting with goog nor "
            "containing google",
            "https://cloud.google.com/storage/docs/buckets#naming",
            _bucket_name,
        ),
        Rule(
            "label-key",
            "1 to 63 characters: a lowercase letter, then lowercase letters, digits, underscores or dashes",
            "https://cloud.google.com/resource-manager/docs/labels-overview#requirements",
            _label_key,
        ),
        Rule(
            "label-value",
            "at most 63 lowercase letters, digits, underscores or dashes",
            "https://cloud.google.com/resource-manager/docs/labels-overview#requirements",
            _label_value,
        ),
    )
}

#: A resource can have at most this many labels (same page as the label rules).
MAX_LABELS = 64
LABELS = "labels"

#: Which input of which type each rule judges; `LABELS` judges a label map.
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "gcp:organizations/project:Project": (("projectId", "project-id"), ("name", "project-name"), ("labels", LABELS)),
    "gcp:organizations/folder:Folder": (("displayName", "folder-name"),),
    "gcp:serviceaccount/account:Account": (("accountId", "service-account-id"),),
    "gcp:compute/network:Network": (("name", "rfc1035"),),
    "gcp:compute/subnetwork:Subnetwork": (("name", "rfc1035"), ("secondaryIpRanges[].rangeName", "rfc1035")),
    "gcp:compute/router:Router": (("name", "rfc1035"),),
    "gcp:compute/routerNat:RouterNat": (("name", "rfc1035"),),
    "gcp:compute/firewall:Firewall": (("name", "rfc1035"),),
    "gcp:container/cluster:Cluster": (
        ("name", "gke-cluster-name"),
        ("resourceLabels", LABELS),
        ("nodeConfig.resourceLabels", LABELS),
    ),
    "gcp:container/nodePool:NodePool": (("name", "rfc1035"), ("nodeConfig.resourceLabels", LABELS)),
    "gcp:dns/managedZone:ManagedZone": (("name", "dns-zone-name"), ("dnsName", "dns-name"), ("labels", LABELS)),
    "gcp:dns/recordSet:RecordSet": (("name", "dns-name"), ("managedZone", "dns-zone-name")),
    "gcp:kms/keyRing:KeyRing": (("name", "kms-name"),),
    "gcp:kms/cryptoKey:CryptoKey": (("name", "kms-name"), ("labels", LABELS)),
    "gcp:artifactregistry/repository:Repository": (("repositoryId", "artifact-repository-id"), ("labels", LABELS)),
    "gcp:projects/iAMCustomRole:IAMCustomRole": (("roleId", "custom-role-id"),),
    "gcp:monitoring/alertPolicy:AlertPolicy": (("userLabels", LABELS),),
    "gcp:monitoring/notificationChannel:NotificationChannel": (("userLabels", LABELS),),
    "gcp:storage/bucket:Bucket": (("name", "gcs-bucket-name"), ("labels", LABELS)),
    # The provider adds its default labels to every labelable resource (a JSON string here).
    "pulumi:providers:gcp": (("defaultLabels", LABELS),),
}


@functools.cache
def labelled(type_: str) -> tuple[tuple[str, str], ...]:
    """`FIELDS`' entry for a type, plus its label map wherever the SDK's schema says it has one.

    Label rules hold for every GCP resource, so a type the table does not name (a team's
    program may create any) still has its labels judged.
    """
    fields = FIELDS.get(type_, ())
    label = tag_field(type_) if type_.startswith("gcp:") else None
    if label is not None and all(path != label for path, _ in fields):
        fields = (*fields, (label, LABELS))
    return fields


def _values(values: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """(where, value) for a dotted path; `a[]` steps into every element of list `a`."""
    items: list[tuple[str, Any]] = [("", values)]
    for part in path.split("."):
        step: list[tuple[str, Any]] = []
        for where, node in items:
            key = part.removesuffix("[]")
            child = node.get(key) if isinstance(node, dict) else None
            here = f"{where}.{key}" if where else key
            if part.endswith("[]"):
                if isinstance(child, list):
                    step.extend((f"{here}[{i}]", item) for i, item in enumerate(child))
            elif child is not None:
                step.append((here, child))
        items = step
    yield from items


def _judge(record: Record, where: str, value: Any, rule_name: str) -> Iterator[Finding]:
    if is_unknown(value):
        return
    if rule_name == LABELS:
        yield from _labels(record, where, json_document(value))
        return
    rule = RULES[rule_name]
    if not isinstance(value, str) or not rule.check(value):
        yield finding(CHECKER, record, f"{where} {short(value)} breaks GCP's rule: {rule.says} ({rule.doc})")


def _labels(record: Record, where: str, labels: Any) -> Iterator[Finding]:
    if not isinstance(labels, dict):
        yield finding(CHECKER, record, f"{where} must be a map of labels, not {short(labels)}")
        return
    if len(labels) > MAX_LABELS:
        yield finding(CHECKER, record, f"{where} has {len(labels)} labels, more than GCP's {MAX_LABELS}")
    key_rule, value_rule = RULES["label-key"], RULES["label-value"]
    for key, value in labels.items():
        if not key_rule.check(key):
            yield finding(CHECKER, record, f"{where} key {short(key)}: {key_rule.says} ({key_rule.doc})")
        if is_unknown(value):
            continue
        if not isinstance(value, str) or not value_rule.check(value):
            yield finding(
                CHECKER, record, f"{where}[{key!r}] value {short(value)}: {value_rule.says} ({value_rule.doc})"
            )


def check(records: Sequence[Record]) -> list[Finding]:
    """Every GCP name, id and label map of the stack against its documented rule."""
    found: list[Finding] = []
    for record in records:
        fields = labelled(record.type)
        if not record.custom or not fields:
            continue
        values = inputs(record)
        for path, rule in fields:
            for where, value in _values(values, path):
                found.extend(_judge(record, where, value, rule))
    return found
