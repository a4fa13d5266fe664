"""Stack rule: the declared deploy runner can reach every cluster the stack's Kubernetes providers target.

A cell stack creates its cluster and then installs Helm charts and workloads through a
Kubernetes provider; `pulumi up` runs wherever the registry's `deploy.runner` says
(`cells.deploy`). Each `pulumi:providers:kubernetes` is matched to the cluster it targets (its
kubeconfig's server, else its dependency on the cluster) and the cluster's endpoint settings are
checked against the runner:

- EKS, `ci` runner: public access on and every egress CIDR inside `publicAccessCidrs` (absent
  means EKS's default, the whole internet). `in-network` runner: private access on, and each of
  its CIDRs / its security group admitted on 443 by an ingress rule on the cluster security group
  (EKS creates that group admitting only itself), and the provider depending on those rules (else the
  first `up` may call the API before the rules exist).
- GKE: the DNS-based endpoint is reachable from any network once `allowExternalTraffic` is on
  (IAM authorizes each request); from inside the network it always is. The private IP endpoint is
  out of reach of a `ci` runner; the public IP endpoint (and the private one for an in-network
  runner) needs the runner's CIDRs in the master authorized networks.

Fails closed: a kubeconfig without a server, or a server no cluster of the stack serves, is a
finding. Values unknown during a preview are skipped.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

import yaml
from pulumi_policy import ReportViolation

from cells.deploy import CiRunner, InNetworkRunner
from policies.base import MANDATORY, UNKNOWN, Context, View, as_list, get, known, stack_rule

K8S_PROVIDER = "pulumi:providers:kubernetes"
EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
API_PORT = 443

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def describe(runner: CiRunner | InNetworkRunner) -> str:
    if isinstance(runner, CiRunner):
        return f"ci runner (egress {', '.join(map(str, runner.egress_cidrs))})"
    parts = [*map(str, runner.cidrs), *([runner.security_group_id] if runner.security_group_id else [])]
    return f"in-network runner ({', '.join(parts)})"


def kubeconfig_server(kubeconfig: Any) -> str | None:
    """The host of the current context's cluster server; None when there is none to read."""
    if not isinstance(kubeconfig, str):
        return None
    try:
        doc = json.loads(kubeconfig)  # EKS kubeconfigs are JSON: much faster than the YAML parser
    except ValueError:
        try:
            doc = yaml.safe_load(kubeconfig)
        except yaml.YAMLError:
            return None
    if not isinstance(doc, dict):
        return None
    clusters = {c.get("name"): c.get("cluster") or {} for c in as_list(doc.get("clusters")) if isinstance(c, dict)}
    contexts = {c.get("name"): c.get("context") or {} for c in as_list(doc.get("contexts")) if isinstance(c, dict)}
    context = contexts.get(doc.get("current-context")) or next(iter(contexts.values()), {})
    cluster = clusters.get(context.get("cluster")) or next(iter(clusters.values()), {})
    server = cluster.get("server") if isinstance(cluster, dict) else None
    return host(server) if isinstance(server, str) else None


def host(address: Any) -> str | None:
    if not isinstance(address, str) or not address:
        return None
    return urlparse(address if "://" in address else f"https://{address}").hostname


def _networks(values: Iterable[Any]) -> list[Network] | None:
    """Parsed CIDRs; None when one is not a CIDR (the caller reports it)."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            return None
    return out


def _uncovered(wanted: Iterable[ipaddress.IPv4Network], allowed: list[Network]) -> list[str]:
    return [str(c) for c in wanted if not any(isinstance(a, ipaddress.IPv4Network) and c.subnet_of(a) for a in allowed)]


def _eks(provider: View, cluster: View, runner: CiRunner | InNetworkRunner, rules: list[View]) -> str | None:
    """Why the runner cannot reach this EKS cluster, or None."""
    vpc = cluster.props.get("vpcConfig")
    if not known(vpc) or not isinstance(vpc, dict):
        return None if vpc is UNKNOWN else "it has no vpcConfig"
    if isinstance(runner, CiRunner):
        public = vpc.get("endpointPublicAccess")
        if public is UNKNOWN:
            return None
        if public is False:
            return "its public endpoint is off (vpcConfig.endpointPublicAccess false) and the runner is outside the VPC"
        cidrs = vpc.get("publicAccessCidrs")
        if cidrs is UNKNOWN or (isinstance(cidrs, list) and UNKNOWN in cidrs):
            return None
        allowed = _networks(as_list(cidrs) or ["0.0.0.0/0"])
        if allowed is None:
            return f"vpcConfig.publicAccessCidrs {cidrs!r} holds a value that is not a CIDR"
        missing = _uncovered(runner.egress_cidrs, allowed)
        if missing:
            return f"vpcConfig.publicAccessCidrs ({', '.join(as_list(cidrs))}) does not admit {', '.join(missing)}"
        return None
    private = vpc.get("endpointPrivateAccess")
    if private is UNKNOWN:
        return None
    if private is not True:
        return "its private endpoint is off (vpcConfig.endpointPrivateAccess), which an in-network runner needs"
    groups = {vpc.get("clusterSecurityGroupId"), *as_list(vpc.get("securityGroupIds"))} - {None, ""}
    admitted_cidrs: list[Network] = []
    admitted_groups: set[Any] = set()
    unawaited: list[str] = []
    for rule in rules:
        target = rule.props.get("securityGroupId")
        if not (target in groups if known(target) else rule.depends_on(cluster)):
            continue
        if not _admits_api(rule):
            continue
        if rule.type == SG_INGRESS:
            cidrs, group = as_list(rule.props.get("cidrIpv4")), rule.props.get("referencedSecurityGroupId")
        else:
            cidrs, group = as_list(rule.props.get("cidrBlocks")), rule.props.get("sourceSecurityGroupId")
        if UNKNOWN in cidrs or group is UNKNOWN:
            return None
        admitted_cidrs += _networks(cidrs) or []
        admitted_groups.add(group)
        if not provider.depends_on(rule):
            unawaited.append(rule.name)
    missing = _uncovered(runner.cidrs, admitted_cidrs)
    if runner.security_group_id and runner.security_group_id not in admitted_groups:
        missing.append(f"security group {runner.security_group_id}")
    if missing:
        return f"no ingress rule on the cluster security group admits {', '.join(missing)} on port {API_PORT}"
    if unawaited:
        return (
            f"the provider does not wait for the ingress rule(s) {', '.join(sorted(unawaited))}, so the first "
            f"`pulumi up` may call the API before port {API_PORT} is open (make the kubeconfig depend on them)"
        )
    return None


def _admits_api(rule: View) -> bool:
    props = rule.props
    if rule.type == SG_RULE and props.get("type") != "ingress":
        return False
    protocol = str(props.get("ipProtocol") if rule.type == SG_INGRESS else props.get("protocol"))
    if protocol in ("-1", "all"):
        return True
    low, high = props.get("fromPort"), props.get("toPort")
    # Numbers cross the engine's wire format as floats.
    if not (isinstance(low, int | float) and isinstance(high, int | float)):
        return False
    return protocol in ("tcp", "6") and low <= API_PORT <= high


def _gke(cluster: View, server: str | None, runner: CiRunner | InNetworkRunner) -> str | None:
    """Why the runner cannot reach the GKE endpoint `server` names, or None."""
    props = cluster.props
    dns = get(props, "controlPlaneEndpointsConfig", "dnsEndpointConfig")
    private_ip = get(props, "privateClusterConfig", "privateEndpoint")
    if server is None:
        return None  # preview: the kubeconfig is not known yet
    if server == get(dns, "endpoint"):
        if isinstance(runner, CiRunner) and get(dns, "allowExternalTraffic") is not True:
            external = get(dns, "allowExternalTraffic")
            if external is UNKNOWN:
                return None
            return "its DNS endpoint refuses traffic from outside Google Cloud (dnsEndpointConfig.allowExternalTraffic)"
        return None
    if server == private_ip and isinstance(runner, CiRunner):
        return "the kubeconfig targets the private IP endpoint, which a runner outside the VPC cannot reach"
    config = props.get("masterAuthorizedNetworksConfig")
    if config is UNKNOWN:
        return None
    blocks = [get(b, "cidrBlock") for b in as_list(get(config, "cidrBlocks"))]
    if UNKNOWN in blocks:
        return None
    if not known(config) and server != private_ip:
        return None  # no authorized networks: the public IP endpoint takes any source
    allowed = _networks(blocks)
    if allowed is None:
        return f"masterAuthorizedNetworksConfig holds a value that is not a CIDR ({blocks!r})"
    wanted = runner.egress_cidrs if isinstance(runner, CiRunner) else runner.cidrs
    missing = _uncovered(wanted, allowed)
    if missing:
        listed = ", ".join(map(str, blocks)) or "none"
        return f"the master authorized networks ({listed}) do not admit {', '.join(missing)}"
    return None


def _target(provider: View, clusters: list[View]) -> tuple[View | None, str | None]:
    """The cluster a Kubernetes provider targets and the host it names (None when not known yet)."""
    kubeconfig = provider.props.get("kubeconfig")
    server = kubeconfig_server(kubeconfig) if known(kubeconfig) else None
    if server is not None:
        for cluster in clusters:
            names = {host(cluster.props.get("endpoint"))}
            if cluster.type == GKE:
                names |= {
                    get(cluster.props, "controlPlaneEndpointsConfig", "dnsEndpointConfig", "endpoint"),
                    get(cluster.props, "privateClusterConfig", "privateEndpoint"),
                    get(cluster.props, "privateClusterConfig", "publicEndpoint"),
                }
            if server in names - {None, UNKNOWN}:
                return cluster, server
    depends = [c for c in clusters if provider.depends_on(c)]
    return (depends[0] if len(depends) == 1 else None), server


@stack_rule(
    "deploy-reachability",
    "The registry's deploy runner can reach every cluster API the stack's Kubernetes providers target.",
    MANDATORY,
)
def deploy_reachability(resources: list[View], ctx: Context, report: ReportViolation) -> None:
    providers = [r for r in resources if r.type == K8S_PROVIDER]
    if not providers:
        return
    stack = providers[0].stack
    cell = ctx.cell(stack)
    runner = ctx.registry.runner_for(cell) if cell is not None else ctx.registry.organization.deploy.runner
    who = f"cell {cell.name}" if cell is not None else f"stack {stack}"
    clusters = [r for r in resources if r.type in (EKS, GKE)]
    rules = [r for r in resources if r.type in (SG_INGRESS, SG_RULE)]
    for provider in providers:
        kubeconfig = provider.props.get("kubeconfig")
        if kubeconfig is UNKNOWN:
            if not any(provider.depends_on(c) for c in clusters):
                continue
        elif known(kubeconfig) and kubeconfig_server(kubeconfig) is None:
            report(
                f"{who}: the Kubernetes provider {provider.name} has a kubeconfig without a cluster server: "
                f"cannot tell whether the {describe(runner)} reaches it",
                provider.urn,
            )
            continue
        cluster, server = _target(provider, clusters)
        if cluster is None:
            report(
                f"{who}: the Kubernetes provider {provider.name} targets {server or 'a cluster'} that no cluster of "
                f"this stack serves: cannot tell whether the {describe(runner)} reaches it",
                provider.urn,
            )
            continue
        why = _eks(provider, cluster, runner, rules) if cluster.type == EKS else _gke(cluster, server, runner)
        if why:
            report(
                f"{who}: the Kubernetes provider {provider.name} targets the cluster {cluster.name}, which the "
                f"declared {describe(runner)} cannot reach: {why}. Fix the cluster's endpoint access or the "
                "registry's deploy.runner",
                provider.urn,
            )
