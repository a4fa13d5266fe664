"""Hand-built resources for testing rules: the same shape the offline engine records.

`Stack("cell-alpha")` hands out URNs and providers; `stack.add(type, name, inputs, ...)`
records a resource; `stack.findings(registry, rule)` evaluates rules on it like `cellctl plan`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import Policy

from cells import Registry
from policies.evaluate import Finding, evaluate

PROJECT = "honeycomb"


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str | None = None
    provider: str | None = None
    protect: bool = False
    custom: bool = True
    ignore_changes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


def eks_kubeconfig(cluster: str, region: str, role_arn: str | None) -> str:
    """A kubeconfig (JSON) for an EKS cluster whose token comes from `aws eks get-token`."""
    args = ["eks", "get-token", "--cluster-name", cluster, "--region", region]
    if role_arn is not None:
        args += ["--role-arn", role_arn]
    name = f"{cluster}-{region}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": f"https://0123ABCD.gr7.{region}.eks.amazonaws.com"}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": {"exec": {"command": "aws", "args": args}}}],
        }
    )


def gke_kubeconfig(project: str, location: str, cluster: str) -> str:
    """A kubeconfig (YAML, as gcloud writes it) for a GKE cluster's DNS endpoint."""
    name = f"gke_{project}_{location}_{cluster}"
    region = "-".join(location.split("-")[:2])
    return (
        f"apiVersion: v1\nkind: Config\ncurrent-context: {name}\nclusters:\n- name: {name}\n  cluster:\n"
        f"    server: https://gke-0123-892085197045.{region}.gke.goog\ncontexts:\n- name: {name}\n  context:\n"
        f"    cluster: {name}\n    user: {name}\nusers:\n- name: {name}\n  user:\n    exec:\n"
        "      command: gke-gcloud-auth-plugin\n"
    )


@dataclass
class Stack:
    name: str
    resources: list[Resource] = field(default_factory=list)
    #: The stack's config (`aws:region` -> value), as `cellctl plan` passes it to the pack.
    config: dict[str, Any] = field(default_factory=dict)

    def urn(self, type_: str, name: str) -> str:
        return f"urn:pulumi:{self.name}::{PROJECT}::{type_}::{name}"

    def add(
        self,
        type_: str,
        name: str,
        inputs: dict[str, Any] | None = None,
        *,
        provider: Resource | None = None,
        protect: bool = False,
        outputs: dict[str, Any] | None = None,
        depends_on: tuple[Resource, ...] = (),
        custom: bool = True,
    ) -> Resource:
        inputs = dict(inputs or {})
        resource = Resource(
            type=type_,
            name=name,
            urn=self.urn(type_, name),
            inputs=inputs,
            outputs={**inputs, **(outputs or {})},
            provider=provider.urn if provider is not None else None,
            protect=protect,
            custom=custom,
            depends_on=tuple(d.urn for d in depends_on),
        )
        self.resources.append(resource)
        return resource

    def aws_provider(
        self,
        name: str,
        *,
        account: str | None,
        region: str = "us-east-1",
        tags: dict[str, str] | None = None,
        role: str = "OrganizationAccountAccessRole",
    ) -> Resource:
        """An AWS provider as the SDK sends it: nested objects as JSON strings."""
        inputs: dict[str, Any] = {"region": region}
        if account is not None:
            inputs["assumeRoles"] = json.dumps([{"roleArn": f"arn:aws:iam::{account}:role/{role}"}])
        if tags is not None:
            inputs["defaultTags"] = json.dumps({"tags": tags})
        return self.add("pulumi:providers:aws", name, inputs, custom=True)

    def gcp_provider(
        self, name: str, *, project: str, region: str = "europe-west1", labels: dict[str, str] | None = None
    ) -> Resource:
        inputs: dict[str, Any] = {"project": project, "region": region}
        if labels is not None:
            inputs["defaultLabels"] = json.dumps(labels)
        return self.add("pulumi:providers:gcp", name, inputs)

    def kubernetes_provider(self, name: str, kubeconfig: str | None) -> Resource:
        return self.add("pulumi:providers:kubernetes", name, {} if kubeconfig is None else {"kubeconfig": kubeconfig})

    def findings(self, registry: Registry, *rules: Policy, **kwargs: Any) -> list[Finding]:
        kwargs.setdefault("stack_config", self.config)
        return evaluate(self.resources, registry=registry, policies=list(rules) or None, **kwargs)
