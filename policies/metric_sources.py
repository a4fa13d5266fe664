"""Stack rule: every metric a stack alarms on is emitted by something the stack creates.

A CloudWatch alarm on a namespace nothing publishes, or a Cloud Monitoring condition on a metric
type no resource writes, never fires: the cell looks healthy while it is down. `CATALOG` maps
each CloudWatch namespace and Cloud Monitoring metric-type prefix to what emits it, as a test on
the stack's planned resources (an NLB: an `aws.lb.LoadBalancer` of type network, or a Kubernetes
LoadBalancer Service annotated for one; ingress-nginx's Prometheus counter: the chart with
metrics on, a `PodMonitoring` for it and a GKE cluster with managed Prometheus; the application's
capacity metrics, exactly the names of `cells.app_metrics`: the application's workloads). A metric the
catalog does not know is a finding too (fail closed): add its source here first.

Judged: `aws.cloudwatch.MetricAlarm` (its namespace, its metric queries' namespaces, and the
`SCHEMA(...)`/`FROM` of Metrics Insights queries) and `gcp.monitoring.AlertPolicy` threshold and
absence conditions (`metric.type` in the filter). Dashboards span stacks (the management stack
shows every cell): `sources_missing` is the same test for them, used by the tests on the plans.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pulumi_policy import ReportViolation

from cells import MANAGED_BY, app_metrics
from policies.base import MANDATORY, UNKNOWN, Context, View, as_list, get, stack_rule

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
K8S_SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
NLB_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"

#: A verdict: emitted, not emitted, or cannot tell (a value unknown during a preview).
Verdict = bool | None
Test = Callable[[Sequence[View]], Verdict]


@dataclass(frozen=True)
class Source:
    """Metrics whose namespace (CloudWatch) or type (Cloud Monitoring) starts with `prefix` exist
    only when `emitted` holds for the stack's resources."""

    prefix: str
    what: str
    emitted: Test
    #: The metric must be `prefix` itself: a contract's names, not a namespace anyone may extend.
    exact: bool = False


def _any(*types: str) -> Test:
    return lambda resources: any(r.type in types for r in resources)


def _load_balancer_services(resources: Sequence[View]) -> Iterator[tuple[str, dict[str, object]]]:
    """(type, annotations) of every Kubernetes LoadBalancer Service: plain Services, and the
    controller Service of the ingress-nginx chart (its values)."""
    for r in resources:
        if r.type == K8S_SERVICE:
            spec, meta = r.props.get("spec"), r.props.get("metadata")
            kind, annotations = get(spec, "type"), get(meta, "annotations")
        elif r.type == HELM_RELEASE and r.props.get("chart") == "ingress-nginx":
            service = get(r.props, "values", "controller", "service")
            kind = get(service, "type") or "LoadBalancer"  # the chart's default
            annotations = get(service, "annotations")
        else:
            continue
        if kind is UNKNOWN or annotations is UNKNOWN:
            yield UNKNOWN, {}
        elif kind == "LoadBalancer":
            yield "LoadBalancer", annotations if isinstance(annotations, dict) else {}


def _elb(lb_type: str, annotation: str | None) -> Test:
    """An `aws.lb.LoadBalancer` of `lb_type`, or (NLB) a LoadBalancer Service annotated for one."""

    def test(resources: Sequence[View]) -> Verdict:
        for r in resources:
            if r.type in ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"):
                found = r.props.get("loadBalancerType") or "application"
                if found is UNKNOWN or found == lb_type:
                    return None if found is UNKNOWN else True
        if annotation is None:
            return False
        for kind, found_annotations in _load_balancer_services(resources):
            if kind is UNKNOWN:
                return None
            if found_annotations.get(NLB_ANNOTATION) in (annotation, "external"):
                return True
        return False

    return test


def _application_workloads(resources: Sequence[View]) -> Verdict:
    """The application's Deployments (`components.k8s.workloads`, labelled managed-by: honeycomb)."""
    labels = [get(r.props, "metadata", "labels") for r in resources if r.type == DEPLOYMENT]
    if UNKNOWN in labels:
        return None
    return any(isinstance(found, dict) and found.get("managed-by") == MANAGED_BY for found in labels)


_APPLICATION = (
    "the application's workloads (a Deployment labelled managed-by: honeycomb), which publish the capacity "
    "metrics of cells.app_metrics"
)


def _passthrough_load_balancer(resources: Sequence[View]) -> Verdict:
    """A forwarding rule, or a LoadBalancer Service on GKE (GKE makes an external passthrough NLB for it)."""
    if any(r.type == "gcp:compute/forwardingRule:ForwardingRule" for r in resources):
        return True
    if not any(r.type == GKE_CLUSTER for r in resources):
        return False
    kinds = [kind for kind, _ in _load_balancer_services(resources)]
    if "LoadBalancer" in kinds:
        return True
    return None if UNKNOWN in kinds else False


def _managed_prometheus(resources: Sequence[View]) -> Verdict:
    clusters = [
        get(r.props, "monitoringConfig", "managedPrometheus", "enabled") for r in resources if r.type == GKE_CLUSTER
    ]
    if UNKNOWN in clusters:
        return None
    return True in clusters


def _ingress_nginx_scraped(resources: Sequence[View]) -> Verdict:
    """The chart with `controller.metrics.enabled`, a PodMonitoring of its `metrics` port, managed Prometheus."""
    enabled = [
        get(r.props, "values", "controller", "metrics", "enabled")
        for r in resources
        if r.type == HELM_RELEASE and r.props.get("chart") == "ingress-nginx"
    ]
    ports = [
        get(endpoint, "port")
        for r in resources
        if r.type == POD_MONITORING
        for endpoint in as_list(get(r.props, "spec", "endpoints"))
    ]
    if UNKNOWN in enabled or UNKNOWN in ports:
        return None
    prometheus = _managed_prometheus(resources)
    if prometheus is None:
        return None
    return True in enabled and "metrics" in ports and prometheus


#: What emits what. Longest prefix wins; a metric no entry covers is a finding.
CATALOG: tuple[Source, ...] = (
    Source("AWS/EKS", "an EKS cluster (control plane metrics)", _any("aws:eks/cluster:Cluster")),
    Source(
        "AWS/EC2",
        "EC2 instances (an EKS node group, an Auto Scaling group or an instance)",
        _any("aws:eks/nodeGroup:NodeGroup", "aws:autoscaling/group:Group", "aws:ec2/instance:Instance"),
    ),
    Source("AWS/NATGateway", "a NAT gateway", _any("aws:ec2/natGateway:NatGateway")),
    Source(
        "AWS/NetworkELB",
        "a Network Load Balancer (aws.lb.LoadBalancer of type network, or a Kubernetes LoadBalancer Service "
        f"annotated {NLB_ANNOTATION}: nlb)",
        _elb("network", "nlb"),
    ),
    Source(
        "AWS/ApplicationELB",
        "an Application Load Balancer (aws.lb.LoadBalancer of type application)",
        _elb("application", None),
    ),
    Source("kubernetes.io/", "a GKE cluster (its system metrics)", _any(GKE_CLUSTER)),
    Source(
        "prometheus.googleapis.com/nginx_ingress_controller_",
        "ingress-nginx with controller.metrics.enabled, scraped by a PodMonitoring of its `metrics` port on a "
        "GKE cluster with managed Prometheus",
        _ingress_nginx_scraped,
    ),
    Source(
        "loadbalancing.googleapis.com/https/",
        "an external Application Load Balancer (a target HTTPS proxy)",
        _any("gcp:compute/targetHttpsProxy:TargetHttpsProxy"),
    ),
    Source(
        "loadbalancing.googleapis.com/l3/external/",
        "an external passthrough Network Load Balancer (a forwarding rule, or a LoadBalancer Service on GKE)",
        _passthrough_load_balancer,
    ),
    # The application's own metrics: exactly the names `cells.app_metrics` documents.
    Source(app_metrics.CLOUDWATCH_NAMESPACE, _APPLICATION, _application_workloads, exact=True),
    *(Source(metric, _APPLICATION, _application_workloads, exact=True) for metric in app_metrics.GCP_METRICS),
)


def source_of(metric: str) -> Source | None:
    """The catalog entry for a CloudWatch namespace or a Cloud Monitoring metric type."""
    matches = [s for s in CATALOG if metric == s.prefix or (not s.exact and metric.startswith(s.prefix))]
    return max(matches, key=lambda s: len(s.prefix)) if matches else None


def sources_missing(metrics: Sequence[str], resources: Sequence[View]) -> list[str]:
    """Why each of `metrics` that nothing in `resources` emits is not there; [] when all are."""
    problems = []
    for metric in dict.fromkeys(metrics):
        source = source_of(metric)
        if source is None:
            problems.append(f"{metric}: no known source (add what emits it to policies.metric_sources.CATALOG)")
        elif source.emitted(resources) is False:
            problems.append(f"{metric}: needs {source.what}, and the stack has none")
    return problems


#: A Metrics Insights query's namespace: `FROM SCHEMA("AWS/EC2", ...)` or `FROM "AWS/EC2"` / `FROM AWS/EC2`.
_SCHEMA = re.compile(r"""\bSCHEMA\(\s*"?([\w/.-]+)"?|\bFROM\s+(?!SCHEMA\b)"?([A-Za-z][\w/.-]*)"?""", re.I)
_METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"([^"]+)"')


def alarm_metrics(alarm: View) -> list[str] | None:
    """The CloudWatch namespaces an alarm reads; None when it cannot be told (unknown, or no namespace)."""
    found: list[str] = []
    namespace = alarm.props.get("namespace")
    if namespace is UNKNOWN:
        return None
    if isinstance(namespace, str) and namespace:
        found.append(namespace)
    for query in as_list(alarm.props.get("metricQueries")):
        nested = get(query, "metric", "namespace")
        expression = get(query, "expression")
        if nested is UNKNOWN or expression is UNKNOWN:
            return None
        if isinstance(nested, str):
            found.append(nested)
        if isinstance(expression, str):
            found += [a or b for a, b in _SCHEMA.findall(expression)]
    return found


def condition_metrics(policy: View) -> list[str] | None:
    """The metric types an alert policy's threshold and absence conditions read; None if unknown."""
    found: list[str] = []
    for condition in as_list(policy.props.get("conditions")):
        for kind in ("conditionThreshold", "conditionAbsent"):
            text = get(condition, kind, "filter")
            if text is UNKNOWN:
                return None
            if isinstance(text, str):
                found += _METRIC_TYPE.findall(text)
    return found


@stack_rule(
    "metric-sources",
    "Every alarm and alert condition reads a metric that something in the stack emits.",
    MANDATORY,
)
def metric_sources(resources: list[View], ctx: Context, report: ReportViolation) -> None:
    for resource in resources:
        if resource.type == METRIC_ALARM:
            metrics = alarm_metrics(resource)
        elif resource.type == ALERT_POLICY:
            metrics = condition_metrics(resource)
        else:
            continue
        if metrics is None:
            continue  # unknown during a preview
        if not metrics:
            report(
                f"{resource.label}: reads no metric this rule can identify (no namespace or metric.type)", resource.urn
            )
        for problem in sources_missing(metrics, resources):
            report(f"{resource.label} watches {problem}: it can never fire", resource.urn)
