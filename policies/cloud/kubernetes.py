"""Every Kubernetes object validated against the API's schemas, strictly (`cloud/kubernetes`).

The schemas are kubernetes-validate's strict ones (unknown fields are errors), of the minor
version the stack's cluster runs:
- EKS: the cluster's `version` input;
- GKE: `minMasterVersion` when it is pinned; a cluster on a release channel has no version of
  its own (Google picks and upgrades it), so its objects are checked against each of the last
  `CHANNEL_MINORS` minors kubernetes-validate ships;
- no cluster in the stack: the cluster it deploys onto, when the plan knows it (a team's program
  planned as a cell's stack: the cell's own cluster); else the newest minor shipped.
A version newer than any shipped uses the newest; an older one, the oldest.

Each object is what the provider sends to the API server: `apiVersion` and `kind` from the
resource type, the inputs' integral numbers as integers, keys starting with `__` (the SDK's own)
dropped. Objects whose API group the cluster does not serve in that version (a removed beta API)
are errors.

Not covered: Helm releases (`kubernetes:helm.sh/v3:Release`) render their manifests inside the
provider, with the chart fetched from its repository, which a plan without network cannot do;
custom resources (cert-manager's `ClusterIssuer`) have their `metadata` checked against
ObjectMeta, but not their `spec`: the CRD's schema comes with the chart, and no installed
package ships it, so each such object gets an advisory "cannot verify" finding naming what
went unchecked. Patch resources (`DeploymentPatch`) are checked as their kind, less the
required fields a partial object may leave out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from typing import Any

from policies.cloud.common import ADVISORY, ERROR, finding, inputs, is_unknown
from policies.evaluate import Finding, Record

CHECKER = "cloud/kubernetes"
CHANNEL_MINORS = 3
#: Errors reported per object at most (the rest are counted).
MAX_ERRORS = 8
_UNKNOWN = "<unknown during a preview: cloud/kubernetes>"
_NOT_API_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")
#: Patch resources (`DeploymentPatch`) apply a partial object of their kind with server-side apply.
PATCH = "Patch"
_TYPE = re.compile(r"^kubernetes:(?P<group>[^/]+)/(?P<version>[^:]+):(?P<kind>.+)$")


@functools.cache
def shipped_minors() -> tuple[tuple[int, int], ...]:
    from kubernetes_validate import utils

    found = {_minor(v) for v in utils.all_versions()}
    return tuple(sorted(m for m in found if m is not None))


def _minor(version: Any) -> tuple[int, int] | None:
    match = re.match(r"^v?(\d+)\.(\d+)", version) if isinstance(version, str) else None
    return (int(match[1]), int(match[2])) if match else None


def schema_minor(version: tuple[int, int]) -> tuple[int, int]:
    """The shipped minor that stands for `version`: the newest not newer, else the oldest."""
    minors = shipped_minors()
    older = [m for m in minors if m <= version]
    return older[-1] if older else minors[0]


def cluster_minors(
    records: Sequence[Record], context: Sequence[Record] = ()
) -> tuple[tuple[tuple[int, int], ...], str]:
    """The minors to check a stack's objects against, and where they come from (for messages).

    The stack's own cluster first; else the cluster it deploys onto (`context`: a team program's cell).
    """
    for record in (*records, *context):
        values = inputs(record)
        if record.type == "aws:eks/cluster:Cluster":
            version = values.get("version")
            minor = _minor(version)
            if minor is not None:
                return (schema_minor(minor),), f"the EKS cluster's version {version}"
            if version is not None and not is_unknown(version):
                # A version that cannot be read is no reason to check less: any of the newest minors.
                return shipped_minors()[-CHANNEL_MINORS:], f"the EKS cluster's unreadable version {version!r}"
        if record.type == "gcp:container/cluster:Cluster":
            minor = _minor(values.get("minMasterVersion"))
            if minor is not None:
                return (schema_minor(minor),), f"the GKE cluster's minMasterVersion {values['minMasterVersion']}"
            release = values.get("releaseChannel")
            channel = release.get("channel") if isinstance(release, dict) else None
            channel = channel if isinstance(channel, str) else "REGULAR" if release is None else "release"
            return shipped_minors()[-CHANNEL_MINORS:], f"the GKE {channel} channel (any of its versions)"
    return (shipped_minors()[-1],), "no cluster in this stack: the newest Kubernetes known"


@functools.cache
def _definitions(minor: tuple[int, int]) -> Any:
    from kubernetes_validate import utils

    return utils.schema_contents(f"kubernetes-json-schema/{_dir(minor)}/_definitions.json", _text(minor))


def _dir(minor: tuple[int, int]) -> str:
    return f"v{minor[0]}.{minor[1]}.0-local-strict"


def _text(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


@functools.cache
def validator(minor: tuple[int, int], kind: str, api_version: str) -> Any:
    """The strict validator of one kind (None when the version does not serve it), built once."""
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"kubernetes-json-schema/{_dir(minor)}/{kind.lower()}-{group}.json", "")
    except FileNotFoundError:
        return None
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(_definitions(minor)) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def metadata_validator(minor: tuple[int, int]) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kubernetes.io/api/object-meta.json",
        "$ref": "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    }
    registry: Registry[Any] = Resource.from_contents(_definitions(minor)) @ Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


def api_object(record: Record) -> dict[str, Any] | None:
    """The object the provider would send for a Kubernetes resource, or None for what is not one."""
    match = _TYPE.match(record.type)
    if not record.custom or match is None or record.type.startswith(_NOT_API_OBJECTS):
        return None
    group, version, kind = match["group"], match["version"], match["kind"]
    kind = kind.removesuffix(PATCH)  # a patch resource sends its object's own kind (server-side apply)
    body = {k: _wire(v) for k, v in inputs(record).items() if not k.startswith("__")}
    body["apiVersion"] = version if group == "core" else f"{group}/{version}"
    body["kind"] = kind
    return body


def _wire(value: Any) -> Any:
    if is_unknown(value):
        return _UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def builtin(api_version: str) -> bool:
    """Whether the API group is Kubernetes' own (core, `apps`, `*.k8s.io`), not a custom resource's."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def _involves_unknown(value: Any) -> bool:
    """Whether a value the schema rejects is, or holds, one unknown during a preview."""
    if isinstance(value, dict):
        return any(_involves_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_involves_unknown(v) for v in value)
    return isinstance(value, str) and value == _UNKNOWN


def is_patch(record: Record) -> bool:
    return record.type.endswith(PATCH)


def problems(body: dict[str, Any], minor: tuple[int, int], partial: bool = False) -> Iterator[str]:
    """Schema errors of `body`; a `partial` object (a patch) may leave out required fields."""
    api_version, kind = body["apiVersion"], body["kind"]
    if builtin(api_version):
        check = validator(minor, kind, api_version)
        if check is None:
            yield f"Kubernetes {_text(minor)} serves no {kind} in {api_version}"
            return
        errors = check.iter_errors(body)
    else:
        errors = metadata_validator(minor).iter_errors(body.get("metadata", {}))
    for error in errors:
        if partial and error.validator == "required":
            continue
        if not _involves_unknown(error.instance):
            where = ".".join(str(p) for p in error.absolute_path) or "(the object)"
            message = error.message if len(error.message) <= 300 else error.message[:299] + "…"
            yield f"{where}: {message}"


def check(records: Sequence[Record], context: Sequence[Record] = ()) -> list[Finding]:
    """Validate every Kubernetes object of the stack against the schemas of its cluster's version."""
    minors, source = cluster_minors(records, context)
    found: list[Finding] = []
    for record in records:
        body = api_object(record)
        if body is None:
            continue
        seen: dict[str, list[str]] = {}
        for minor in minors:
            for problem in problems(body, minor, partial=is_patch(record)):
                seen.setdefault(problem, []).append(_text(minor))
        unchecked = sorted(k for k in body if k not in _OBJECT_FIELDS)
        if not builtin(body["apiVersion"]) and unchecked:
            found.append(
                finding(
                    CHECKER,
                    record,
                    f"{body['kind']} {_name(body)}: cannot verify its {', '.join(unchecked)} offline: the schema of "
                    f"{body['apiVersion']} comes with its CRD, which no installed package ships (only its metadata "
                    "was checked)",
                    ADVISORY,
                )
            )
        for count, (problem, versions) in enumerate(seen.items()):
            if count == MAX_ERRORS:
                found.append(finding(CHECKER, record, f"… and {len(seen) - MAX_ERRORS} more schema errors"))
                break
            found.append(
                finding(
                    CHECKER,
                    record,
                    f"{body['kind']} {_name(body)} is invalid on Kubernetes {', '.join(versions)} ({source}): "
                    f"{problem}",
                    ERROR,
                )
            )
    return found


#: The fields every object has, which the ObjectMeta schema covers for a custom resource.
_OBJECT_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


def _name(body: dict[str, Any]) -> str:
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = meta.get("name", "(unnamed)")
    return f"{meta['namespace']}/{name}" if isinstance(meta.get("namespace"), str) else str(name)
