"""Pulumi Deployments' customer-managed agents on a cell's own cluster, for a cell whose API is private.

A prod AWS cell updated from inside its network keeps its EKS endpoint private, so Pulumi's hosted
agents cannot reach it. Its agent pool (created by the management stack) is served by agents
running here, in namespace `pulumi-agents`: in Kubernetes mode (`PULUMI_AGENT_DEPLOY_TARGET`)
each agent starts one worker pod per deployment, from the same image, so the agent's service
account may create, watch and delete pods and config maps in its namespace only. The worker pods
run the repository's program under an account of their own with no rights (a pod that may create
pods may mount any Secret of the namespace, the pool's token included). The pool's
token (the management stack's `agentPoolTokens` output) is a Secret read through `secretKeyRef`,
never a plain env value. Settings follow the agent's documented `PULUMI_AGENT_*` variables.

Bootstrapping: these agents run on the cluster the cell stack creates, so the cell's first update
cannot run on them: it runs where the API is reachable (`cellctl bootstrap` with the local runner
from inside the network); every later rollout may use `--runner deployments`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

NAMESPACE = "pulumi-agents"
TOKEN_KEY = "PULUMI_AGENT_TOKEN"  # noqa: S105  # the Secret key and env name, not a token
WORK_DIR = "/mnt/work"
AGENT_ACCOUNT = "pulumi-deployment-agent"
#: What worker pods run as (`PULUMI_AGENT_SERVICE_ACCOUNT_NAME`): bound to no Role.
WORKER_ACCOUNT = "pulumi-deployment-worker"
LABELS = {"app.kubernetes.io/name": "pulumi-deployment-agent", "app.kubernetes.io/part-of": "honeycomb"}


@dataclass(frozen=True)
class DeploymentAgentArgs:
    image: str
    """The customer-managed agent image, pinned (`pulumi_deployments.agent_image`); workers run it too."""
    token: pulumi.Input[str]
    """The agent pool's access token (secret)."""
    replicas: int = 2
    service_url: str = "https://api.pulumi.com"


def _meta(name: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=NAMESPACE, labels=LABELS)


class DeploymentAgents(pulumi.ComponentResource):
    """Namespace, token Secret, RBAC for worker pods, and the agents' Deployment."""

    def __init__(
        self,
        name: str,
        args: DeploymentAgentArgs,
        *,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("honeycomb:k8s:DeploymentAgents", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = k8s.core.v1.Namespace(
            f"{name}-agents-ns", metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels=LABELS), opts=child
        )
        after = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[namespace])
        secret = k8s.core.v1.Secret(
            f"{name}-agent-token",
            metadata=_meta("pulumi-agent-token"),
            type="Opaque",
            string_data={TOKEN_KEY: pulumi.Output.secret(args.token)},
            opts=after,
        )
        account = k8s.core.v1.ServiceAccount(f"{name}-agent-sa", metadata=_meta(AGENT_ACCOUNT), opts=after)
        worker = k8s.core.v1.ServiceAccount(f"{name}-worker-sa", metadata=_meta(WORKER_ACCOUNT), opts=after)
        role = k8s.rbac.v1.Role(
            f"{name}-agent-role",
            metadata=_meta("pulumi-deployment-agent"),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["pods", "pods/log", "configmaps"],
                    verbs=["create", "get", "list", "watch", "update", "delete"],
                )
            ],
            opts=after,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-agent-binding",
            metadata=_meta("pulumi-deployment-agent"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=AGENT_ACCOUNT, namespace=NAMESPACE)],
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name="pulumi-deployment-agent"
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[role, account]),
        )
        env = [
            {"name": "PULUMI_AGENT_DEPLOY_TARGET", "value": "kubernetes"},
            {"name": "PULUMI_AGENT_SHARED_VOLUME_DIRECTORY", "value": WORK_DIR},
            {"name": "PULUMI_AGENT_SERVICE_URL", "value": args.service_url},
            {"name": "PULUMI_AGENT_IMAGE", "value": args.image},
            {"name": "PULUMI_AGENT_IMAGE_PULL_POLICY", "value": "IfNotPresent"},
            {"name": "PULUMI_AGENT_SERVICE_ACCOUNT_NAME", "value": WORKER_ACCOUNT},
            {"name": TOKEN_KEY, "valueFrom": {"secretKeyRef": {"name": "pulumi-agent-token", "key": TOKEN_KEY}}},
        ]
        # The API's own shape (camelCase), checked against the API's schema by cloud/kubernetes.
        spec: Any = {
            "replicas": args.replicas,
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "serviceAccountName": AGENT_ACCOUNT,
                    "containers": [
                        {
                            "name": "agent",
                            "image": args.image,
                            "imagePullPolicy": "IfNotPresent",
                            "env": env,
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                            "securityContext": {"allowPrivilegeEscalation": False},
                            "volumeMounts": [{"name": "work", "mountPath": WORK_DIR}],
                        }
                    ],
                    "volumes": [{"name": "work", "emptyDir": {}}],
                },
            },
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-agents",
            metadata=_meta("pulumi-deployment-agent"),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[secret, account, worker]),
        )
        self.register_outputs({})
