"""Rule 10: Kubernetes workloads are schedulable, unprivileged and pinned.

Every container (init containers too) of a Deployment, StatefulSet, DaemonSet, ReplicaSet,
Job, CronJob or Pod sets CPU and memory requests and limits, is not privileged, and runs an
image pinned by tag or digest, never `:latest` or untagged; an image that is not a string is a
finding. Patch resources (`DeploymentPatch`...) are held to the same, less the requests and
limits a partial object may leave to the object it patches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from policies.base import MANDATORY, UNKNOWN, Context, View, as_list, cannot_verify, get, known, resource_rule

#: workload type -> path to its pod spec
POD_SPECS: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}


#: Patch resources (server-side apply) change part of a workload: they may leave out what the object has.
PATCHES: dict[str, tuple[str, ...]] = {f"{type_}Patch": path for type_, path in POD_SPECS.items()}


def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned, or None when it is (by tag or digest)."""
    if image is None or image is UNKNOWN:
        return None  # absent (a patch keeps the object's own), or not known yet
    if not isinstance(image, str):
        return f"its image {image!r} cannot be read as an image reference"
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (it means :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the :latest tag"
    return None


def _containers(pod: Any) -> Iterator[Any]:
    for key in ("initContainers", "containers"):
        for container in as_list(get(pod, key)):
            if container is not UNKNOWN:
                yield container


def container_problems(container: dict[str, Any], partial: bool = False) -> list[str]:
    """What a container gets wrong; a `partial` one (a patch's) need not repeat its requests and limits."""
    problems = []
    resources = container.get("resources")
    if resources is not UNKNOWN and not partial:
        for kind in ("requests", "limits"):
            values = get(resources, kind)
            if values is UNKNOWN:
                continue
            missing = [r for r in ("cpu", "memory") if not known(get(values, r)) and get(values, r) is not UNKNOWN]
            if missing:
                problems.append(f"no {kind} for {' and '.join(missing)}")
    if get(container, "securityContext", "privileged") is True:
        problems.append("runs privileged")
    if (why := image_problem(container.get("image"))) is not None:
        problems.append(why)
    return problems


@resource_rule(
    "k8s-workload-hygiene",
    "Kubernetes containers set CPU/memory requests and limits, are not privileged and pin their image (no :latest).",
    MANDATORY,
    types=[*POD_SPECS, *PATCHES],
)
def workload_hygiene(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    partial = resource.type in PATCHES
    pod = get(resource.props, *(PATCHES if partial else POD_SPECS)[resource.type])
    if not known(pod):
        return
    if not isinstance(pod, dict):
        report(cannot_verify(f"the containers of {resource.label}", f"its pod spec is {pod!r}"))
        return
    for container in _containers(pod):
        if not isinstance(container, dict):
            report(cannot_verify(f"the containers of {resource.label}", f"a container is {container!r}"))
            continue
        for problem in container_problems(container, partial):
            report(f"{resource.label} container {container.get('name')!s}: {problem}")
