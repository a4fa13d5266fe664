"""Stack rule: the node pools at their maximum hold every pod the stack may run at its maximum.

Every HorizontalPodAutoscaler may grow its Deployment to `maxReplicas`; the node autoscaler (EKS:
the Cluster Autoscaler on the managed node group, GKE: node pool autoscaling) may grow the nodes
to their maximum. If the second does not hold the first, pods stay Pending at peak, the
unschedulable-pods alarm fires, the cell's health goes to ALARM and rollouts halt. So:

  demand = sum of Deployments/StatefulSets: max(replicas, HPA maxReplicas) x sum of container requests
         + Helm charts and EKS add-ons this rule knows (their pods and requests, read from values)
         + the cloud's own system pods (estimates below)
  supply = sum of node pools: max nodes x (allocatable per node - DaemonSet pods per node)

CPU, memory and pod slots are each compared, and the largest single pod must fit one node.
Allocatable follows each cloud's published reservations: EKS AL2023 (`nodeadm`): kube-reserved
CPU 6 % of the first core, 1 % of the second, 0.5 % of cores 3-4, 0.25 % beyond; memory
11 MiB x maxPods + 255 MiB; eviction at 100 MiB. GKE ("Plan GKE Standard node sizes"): the same
CPU steps; memory 25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next 8, 6 % of the next
112, 2 % beyond; eviction at 100 MiB. It is an aggregate check (no bin packing), so it is
necessary, not sufficient. Fails closed: an instance/machine type, chart, add-on or quantity it
cannot interpret is a finding; values unknown during a preview are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ReportViolation

from policies.base import MANDATORY, UNKNOWN, Context, View, as_list, get, known, stack_rule

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "gcp:container/nodePool:NodePool"
EKS_ADDON = "aws:eks/addon:Addon"
HELM = "kubernetes:helm.sh/v3:Release"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
GKE_ZONES = 3
GKE_DEFAULT_MAX_PODS = 110


@dataclass(frozen=True)
class Machine:
    cpu_m: int
    memory_mi: int
    max_pods: int | None = None
    """EKS: the VPC CNI's limit, ENIs x (IPv4 addresses per ENI - 1) + 2."""


#: EC2 instance types the registry's sizes use (and neighbours): vCPUs, memory, VPC CNI max pods.
INSTANCE_TYPES: dict[str, Machine] = {
    f"{family}.{size}": Machine(cpu * 1000, cpu * 4096, pods)
    for family in ("m5", "m6i", "m7i")
    for size, cpu, pods in (("large", 2, 29), ("xlarge", 4, 58), ("2xlarge", 8, 58), ("4xlarge", 16, 234))
}
#: The burstable family, t3.medium among them: EKS's default when a node group names no instance type.
INSTANCE_TYPES |= {
    f"{family}.{size}": Machine(cpu * 1000, memory, pods)
    for family in ("t3", "t3a")
    for size, cpu, memory, pods in (
        ("small", 2, 2048, 11),
        ("medium", 2, 4096, 17),
        ("large", 2, 8192, 35),
        ("xlarge", 4, 16384, 58),
        ("2xlarge", 8, 32768, 58),
    )
}
#: GCE machine types: vCPUs and memory (pods per node come from the node pool).
MACHINE_TYPES: dict[str, Machine] = {
    f"{family}-standard-{cpu}": Machine(cpu * 1000, cpu * 4096)
    for family in ("e2", "n2", "n2d")
    for cpu in (2, 4, 8, 16)
}


@dataclass(frozen=True)
class Pods:
    """`count` pods, each requesting `cpu_m` millicores and `memory_mi` MiB."""

    what: str
    count: int
    cpu_m: float
    memory_mi: float


#: Pods the clouds run on every node (DaemonSets: EKS aws-node, kube-proxy, eks-pod-identity-agent;
#: GKE with Dataplane V2 anetd, fluentbit-gke, gke-metrics-agent, pdcsi-node, netd): estimates.
PER_NODE = {"aws": Pods("system DaemonSets", 3, 150, 128), "gcp": Pods("system DaemonSets", 5, 300, 400)}
#: Cluster-wide system pods (EKS: CoreDNS; GKE: kube-dns, konnectivity, metrics-server): estimates.
SYSTEM = {"aws": Pods("CoreDNS", 2, 100, 70), "gcp": Pods("GKE system pods", 6, 700 / 6, 100)}
#: EKS add-ons: cluster-wide pods; DaemonSet add-ons are in PER_NODE (None).
ADDONS: dict[str, Pods | None] = {
    "metrics-server": Pods("metrics-server add-on", 2, 100, 200),
    "coredns": None,
    "kube-proxy": None,
    "vpc-cni": None,
    "eks-pod-identity-agent": None,
}


class UnreadableError(ValueError):
    """A value the rule cannot interpret: a finding, never a silent pass."""


class NotKnownYetError(Exception):
    """A value not known yet (preview): skip the check."""


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_MI = {None: 1 / 2**20, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 2**20, "k": 1e3 / 2**20, "M": 1e6 / 2**20}
_MEMORY_MI |= {"G": 1e9 / 2**20, "T": 1e12 / 2**20}


def cpu_millicores(value: Any) -> float:
    if value is UNKNOWN:
        raise NotKnownYetError
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) * 1000
    found = _CPU.match(str(value))
    if not found:
        raise UnreadableError(f"CPU quantity {value!r}")
    return float(found.group(1)) * (1 if found.group(2) else 1000)


def memory_mebibytes(value: Any) -> float:
    if value is UNKNOWN:
        raise NotKnownYetError
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 2**20
    found = _MEMORY.match(str(value))
    if not found:
        raise UnreadableError(f"memory quantity {value!r}")
    return float(found.group(1)) * _MEMORY_MI[found.group(2)]


def _reserved_cpu(cpu_m: int) -> float:
    steps = ((1000, 0.06), (1000, 0.01), (2000, 0.005), (float("inf"), 0.0025))
    left, reserved = float(cpu_m), 0.0
    for width, share in steps:
        part = min(left, width)
        reserved += part * share
        left -= part
    return reserved


def _reserved_gke_memory(memory_mi: int) -> float:
    steps = ((4096, 0.25), (4096, 0.20), (8192, 0.10), (114688, 0.06), (float("inf"), 0.02))
    left, reserved = float(memory_mi), 0.0
    for width, share in steps:
        part = min(left, width)
        reserved += part * share
        left -= part
    return reserved


@dataclass(frozen=True)
class Pool:
    """A node pool at its maximum: per-node allocatable and how many nodes."""

    name: str
    machine: str
    nodes: int
    cpu_m: float
    memory_mi: float
    pods: int


def _int(value: Any, what: str) -> int:
    if value is UNKNOWN:
        raise NotKnownYetError
    if isinstance(value, int | float) and not isinstance(value, bool) and value == int(value):
        return int(value)
    raise UnreadableError(f"{what} {value!r}")


def eks_pool(group: View) -> Pool:
    types = group.props.get("instanceTypes")
    if types is UNKNOWN or UNKNOWN in as_list(types):
        raise NotKnownYetError
    kind = as_list(types)[0] if as_list(types) else "t3.medium"  # EKS's default instance type
    machine = INSTANCE_TYPES.get(kind)
    if machine is None or machine.max_pods is None:
        raise UnreadableError(f"instance type {kind!r} (not in policies.capacity.INSTANCE_TYPES)")
    nodes = _int(get(group.props, "scalingConfig", "maxSize"), "scalingConfig.maxSize")
    memory = machine.memory_mi - (11 * machine.max_pods + 255) - 100
    return Pool(group.name, kind, nodes, machine.cpu_m - _reserved_cpu(machine.cpu_m), memory, machine.max_pods)


def gke_pool(pool: View) -> Pool:
    kind = get(pool.props, "nodeConfig", "machineType")
    if kind is UNKNOWN:
        raise NotKnownYetError
    kind = kind or "e2-medium"
    machine = MACHINE_TYPES.get(kind)
    if machine is None:
        raise UnreadableError(f"machine type {kind!r} (not in policies.capacity.MACHINE_TYPES)")
    autoscaling = pool.props.get("autoscaling")
    zones = len(as_list(pool.props.get("nodeLocations"))) or GKE_ZONES
    if known(get(autoscaling, "totalMaxNodeCount")) or get(autoscaling, "totalMaxNodeCount") is UNKNOWN:
        nodes = _int(get(autoscaling, "totalMaxNodeCount"), "autoscaling.totalMaxNodeCount")
    elif known(get(autoscaling, "maxNodeCount")) or get(autoscaling, "maxNodeCount") is UNKNOWN:
        nodes = _int(get(autoscaling, "maxNodeCount"), "autoscaling.maxNodeCount") * zones
    else:
        count = pool.props.get("nodeCount")
        count = count if known(count) or count is UNKNOWN else pool.props.get("initialNodeCount")
        nodes = _int(count, "nodeCount") * zones
    max_pods = pool.props.get("maxPodsPerNode")
    pods = GKE_DEFAULT_MAX_PODS if max_pods is None else _int(max_pods, "maxPodsPerNode")
    memory = machine.memory_mi - _reserved_gke_memory(machine.memory_mi) - 100
    return Pool(pool.name, kind, nodes, machine.cpu_m - _reserved_cpu(machine.cpu_m), memory, pods)


def _requests(containers: Any) -> tuple[float, float]:
    cpu = memory = 0.0
    for container in as_list(containers):
        requests = get(container, "resources", "requests")
        if requests is UNKNOWN:
            raise NotKnownYetError
        if not isinstance(requests, dict):
            raise UnreadableError(f"container {get(container, 'name')!s} has no resource requests")
        cpu += cpu_millicores(requests.get("cpu", 0))
        memory += memory_mebibytes(requests.get("memory", 0))
    return cpu, memory


def _chart_pods(release: View) -> Iterator[Pods]:
    chart, values = release.props.get("chart"), release.props.get("values")
    if chart is UNKNOWN or values is UNKNOWN:
        raise NotKnownYetError
    reader = CHARTS.get(str(chart))
    if reader is None:
        raise UnreadableError(f"Helm chart {chart!r} (teach policies.capacity.CHARTS what it runs)")
    yield from reader(values if isinstance(values, dict) else {})


def _pods_of(what: str, count: Any, resources: Any) -> Pods:
    requests = get(resources, "requests")
    if requests is UNKNOWN or count is UNKNOWN:
        raise NotKnownYetError
    if not isinstance(requests, dict):
        raise UnreadableError(f"{what} sets no resource requests")
    replicas = _int(1 if count is None else count, f"{what} replicas")
    return Pods(what, replicas, cpu_millicores(requests.get("cpu", 0)), memory_mebibytes(requests.get("memory", 0)))


def _ingress_nginx(values: dict[str, Any]) -> Iterator[Pods]:
    controller = values.get("controller") or {}
    yield _pods_of("ingress-nginx controller", controller.get("replicaCount"), controller.get("resources"))


def _cert_manager(values: dict[str, Any]) -> Iterator[Pods]:
    yield _pods_of("cert-manager", values.get("replicaCount"), values.get("resources"))
    for part in ("webhook", "cainjector"):
        section = values.get(part) or {}
        yield _pods_of(f"cert-manager {part}", section.get("replicaCount"), section.get("resources"))


def _cluster_autoscaler(values: dict[str, Any]) -> Iterator[Pods]:
    yield _pods_of("cluster-autoscaler", values.get("replicaCount"), values.get("resources"))


#: What each chart the cells install runs, read from its values (a chart missing here is a finding).
CHARTS: dict[str, Callable[[dict[str, Any]], Iterator[Pods]]] = {
    "ingress-nginx": _ingress_nginx,
    "cert-manager": _cert_manager,
    "cluster-autoscaler": _cluster_autoscaler,
}


def demand(resources: list[View], cloud: str) -> tuple[list[Pods], Pods]:
    """Every pod at its maximum, and what each node gives up to DaemonSets."""
    found: list[Pods] = [SYSTEM[cloud]]
    per_node = PER_NODE[cloud]
    hpa_max: dict[tuple[Any, Any], int] = {}
    for hpa in (r for r in resources if r.type == HPA):
        target = get(hpa.props, "spec", "scaleTargetRef", "name")
        key = (get(hpa.props, "metadata", "namespace"), target)
        hpa_max[key] = _int(get(hpa.props, "spec", "maxReplicas"), f"{hpa.name} spec.maxReplicas")
    for resource in resources:
        if resource.type in SCALED:
            meta = resource.props.get("metadata") or {}
            replicas = get(resource.props, "spec", "replicas")
            base = 1 if replicas is None else _int(replicas, f"{resource.name} spec.replicas")
            count = max(base, hpa_max.get((get(meta, "namespace"), get(meta, "name")), 0))
            cpu, memory = _requests(get(resource.props, "spec", "template", "spec", "containers"))
            found.append(Pods(str(get(meta, "name") or resource.name), count, cpu, memory))
        elif resource.type == DAEMON_SET:
            cpu, memory = _requests(get(resource.props, "spec", "template", "spec", "containers"))
            per_node = Pods(per_node.what, per_node.count + 1, per_node.cpu_m + cpu, per_node.memory_mi + memory)
        elif resource.type == HELM:
            found.extend(_chart_pods(resource))
        elif resource.type == EKS_ADDON:
            name = resource.props.get("addonName")
            if name is UNKNOWN:
                raise NotKnownYetError
            if name not in ADDONS:
                raise UnreadableError(f"EKS add-on {name!r} (teach policies.capacity.ADDONS what it runs)")
            if (pods := ADDONS[str(name)]) is not None:
                found.append(pods)
    return found, per_node


def _fmt(cpu_m: float, memory_mi: float) -> str:
    return f"{cpu_m / 1000:.1f} vCPU, {memory_mi / 1024:.1f} GiB"


@stack_rule(
    "node-capacity",
    "The node pools at their maximum hold every workload at its maximum replicas (CPU, memory, pods).",
    MANDATORY,
)
def node_capacity(resources: list[View], ctx: Context, report: ReportViolation) -> None:
    groups = [r for r in resources if r.type in (NODE_GROUP, NODE_POOL)]
    if not groups:
        return
    stack = groups[0].stack
    cell = ctx.cell(stack)
    who = f"cell {cell.name}" if cell is not None else f"stack {stack}"
    cloud = "aws" if groups[0].type == NODE_GROUP else "gcp"
    try:
        pools = [eks_pool(g) if g.type == NODE_GROUP else gke_pool(g) for g in groups]
        pods, per_node = demand(resources, cloud)
    except NotKnownYetError:
        return
    except UnreadableError as exc:
        report(f"{who}: cannot check node capacity: cannot interpret the {exc}", None)
        return
    nodes = sum(p.nodes for p in pools)
    supply_cpu = sum(p.nodes * (p.cpu_m - per_node.cpu_m) for p in pools)
    supply_memory = sum(p.nodes * (p.memory_mi - per_node.memory_mi) for p in pools)
    supply_pods = sum(p.nodes * (p.pods - per_node.count) for p in pools)
    need_cpu = sum(p.count * p.cpu_m for p in pods)
    need_memory = sum(p.count * p.memory_mi for p in pods)
    need_pods = sum(p.count for p in pods)
    shape = " + ".join(f"{p.nodes} x {p.machine}" for p in pools)
    biggest = sorted(pods, key=lambda p: p.count * p.cpu_m, reverse=True)[:4]
    largest = ", ".join(f"{p.what} {p.count} x ({_fmt(p.cpu_m, p.memory_mi)})" for p in biggest)
    short = []
    if need_cpu > supply_cpu:
        short.append(f"CPU {need_cpu / 1000:.1f} > {supply_cpu / 1000:.1f} vCPU")
    if need_memory > supply_memory:
        short.append(f"memory {need_memory / 1024:.1f} > {supply_memory / 1024:.1f} GiB")
    if need_pods > supply_pods:
        short.append(f"pods {need_pods} > {supply_pods} slots")
    if short:
        report(
            f"{who}: at their maximum the node pools ({shape}, {nodes} nodes; allocatable after system DaemonSets "
            f"{_fmt(supply_cpu, supply_memory)}) cannot hold every workload at its maximum replicas: "
            f"{'; '.join(short)}. Largest: {largest}. Raise the size's max nodes or instance type, or lower "
            "replicas or requests",
            None,
        )
    node_cpu = max(p.cpu_m for p in pools) - per_node.cpu_m
    node_memory = max(p.memory_mi for p in pools) - per_node.memory_mi
    for p in pods:
        if p.cpu_m > node_cpu or p.memory_mi > node_memory:
            report(
                f"{who}: one {p.what} pod requests {_fmt(p.cpu_m, p.memory_mi)}, more than any node offers "
                f"({_fmt(node_cpu, node_memory)} allocatable): it can never be scheduled",
                None,
            )
