"""Rules 10 and 11: Kubernetes workload hygiene and cell observability."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cells import Registry
from policies.observability import cell_observability
from policies.testing import Stack
from policies.workloads import image_problem, workload_hygiene

CONTAINER = {
    "name": "api",
    "image": "ghcr.io/acme/api:1.42.0",
    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "securityContext": {"privileged": False, "runAsNonRoot": True},
}


def _deployment(**changes: Any) -> dict[str, Any]:
    container = copy.deepcopy(CONTAINER)
    container.update(changes)
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("ghcr.io/acme/api:1.42.0", None),
        ("localhost:5000/api@sha256:" + "a" * 64, None),
        ("localhost:5000/api", "has no tag"),
        ("ghcr.io/acme/api:latest", "uses the :latest tag"),
    ],
)
def test_image_pinning(image: str, problem: str | None) -> None:
    found = image_problem(image)
    assert found is None if problem is None else problem in found


def test_good_deployment_passes(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add("kubernetes:apps/v1:Deployment", "alpha-api", _deployment())
    assert stack.findings(registry, workload_hygiene) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"image": "ghcr.io/acme/api:latest"}, "image 'ghcr.io/acme/api:latest' uses the :latest tag"),
        ({"securityContext": {"privileged": True}}, "runs privileged"),
        ({"resources": {"requests": {"cpu": "1"}}}, "no requests for memory"),
        ({"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}}, "no limits for cpu"),
    ],
)
def test_bad_container_fires(registry: Registry, changes: dict[str, Any], problem: str) -> None:
    stack = Stack("cell-alpha")
    bad = stack.add("kubernetes:apps/v1:Deployment", "alpha-api", _deployment(**changes))
    found = stack.findings(registry, workload_hygiene)
    assert found
    assert {f.urn for f in found} == {bad.urn}
    assert any(f"container api: {problem}" in f.message for f in found)


def test_an_image_that_is_not_a_string_cannot_be_verified(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add("kubernetes:apps/v1:Deployment", "alpha-api", _deployment(image={"repository": "nginx"}))
    [finding] = stack.findings(registry, workload_hygiene)
    assert "container api: its image {'repository': 'nginx'} cannot be read" in finding.message


def test_patches_are_held_to_privilege_and_pinning(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    # A patch that changes only the image need not repeat the container's requests and limits...
    stack.add("kubernetes:apps/v1:DeploymentPatch", "ok", _deployment(resources=None))
    assert stack.findings(registry, workload_hygiene) == []
    # ...but may not make it privileged or unpinned.
    bad = stack.add(
        "kubernetes:apps/v1:DeploymentPatch", "bad", _deployment(image="nginx", securityContext={"privileged": True})
    )
    found = [f for f in stack.findings(registry, workload_hygiene) if f.urn == bad.urn]
    assert {f.message.split(": ", 1)[1] for f in found} == {
        "runs privileged",
        "image 'nginx' has no tag (it means :latest)",
    }


def test_cronjob_init_containers_are_checked(registry: Registry) -> None:
    stack = Stack("cell-beta")
    pod = {"initContainers": [{**CONTAINER, "name": "migrate", "image": "busybox"}], "containers": [CONTAINER]}
    stack.add(
        "kubernetes:batch/v1:CronJob", "beta-job", {"spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}}
    )
    [finding] = stack.findings(registry, workload_hygiene)
    assert "container migrate: image 'busybox' has no tag" in finding.message


MONITORING = "100000000002"


def _aws_cell(stack: Stack, *, region: str = "us-east-1", alarm: str = "alpha-health") -> None:
    stack.add(
        "aws:oam/link:Link",
        "alpha-link",
        {
            "sinkIdentifier": f"arn:aws:oam:{region}:{MONITORING}:sink/abc",
            "resourceTypes": ["AWS::CloudWatch::Metric", "AWS::Logs::LogGroup"],
        },
    )
    stack.add("aws:cloudwatch/compositeAlarm:CompositeAlarm", "alpha-health-alarm", {"alarmName": alarm})


def test_aws_cell_observability(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    _aws_cell(stack)
    assert stack.findings(registry, cell_observability) == []


def test_aws_cell_without_health_or_with_a_far_sink_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    _aws_cell(stack, region="eu-west-1", alarm="alpha-other")
    found = stack.findings(registry, cell_observability)
    assert len(found) == 2
    assert "not the monitoring account 100000000002's sink in us-east-1" in found[0].message
    assert "no composite alarm 'alpha-health'" in found[1].message
    assert found[1].urn is None  # a stack-level finding


def test_aws_cell_without_link_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add("aws:cloudwatch/compositeAlarm:CompositeAlarm", "alpha-health", {"alarmName": "alpha-health"})
    [finding] = stack.findings(registry, cell_observability)
    assert "exports no telemetry" in finding.message


def test_gcp_cell_observability(registry: Registry) -> None:
    stack = Stack("cell-beta")
    stack.add("gcp:monitoring/alertPolicy:AlertPolicy", "beta-health", {"displayName": "beta-health"})
    assert stack.findings(registry, cell_observability) == []
    [finding] = Stack("cell-beta").findings(registry, cell_observability) or [None]
    assert finding is None  # an empty stack has nothing to judge
    stack = Stack("cell-beta")
    stack.add("gcp:monitoring/alertPolicy:AlertPolicy", "beta-cpu", {"displayName": "beta-cpu"})
    [finding] = stack.findings(registry, cell_observability)
    assert "no alert policy 'beta-health'" in finding.message


def test_management_sinks_and_metrics_scope(registry: Registry) -> None:
    stack = Stack("management")
    regions = sorted({c.region for c in registry.aws_cells})
    for region in regions:
        provider = stack.aws_provider(f"monitoring-{region}", account=MONITORING, region=region)
        stack.add("aws:oam/sink:Sink", f"sink-{region}", {"name": "cells"}, provider=provider)
    project = stack.add("gcp:organizations/project:Project", "beta", {"projectId": "acme-cell-beta"})
    stack.add(
        "gcp:monitoring/monitoredProject:MonitoredProject",
        "beta-scope",
        {"name": "acme-cell-beta"},
        depends_on=(project,),
    )
    assert stack.findings(registry, cell_observability) == []
    stack.resources = [r for r in stack.resources if "eu-west-1" not in r.urn and "Monitored" not in r.type]
    messages = [f.message for f in stack.findings(registry, cell_observability)]
    assert messages == [
        "no aws.oam.Sink in eu-west-1, where AWS cells are: their links need one in their own region",
        "GCP cell beta's project acme-cell-beta is not in the central metrics scope",
    ]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"template": {"spec": {"containers": ["nginx:1.27"]}}}, "a container is 'nginx:1.27'"),
        ({"template": {"spec": "nginx"}}, "its pod spec is 'nginx'"),
    ],
)
def test_a_pod_spec_of_unknown_shape_cannot_be_verified(registry: Registry, spec: dict[str, Any], why: str) -> None:
    stack = Stack("cell-alpha")
    stack.add("kubernetes:apps/v1:Deployment", "odd", {"spec": spec})
    [finding] = stack.findings(registry, workload_hygiene)
    assert "cannot verify the containers of odd" in finding.message
    assert why in finding.message
