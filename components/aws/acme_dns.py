"""DNS-01 for the tenants' wildcard certificate: one role per cell in the DNS account, and the cell's
cert-manager identity that reaches it.

Why DNS-01 in the parent zone: a tenant's name `<tenant>.<domain>` is a CNAME to its cell's origin,
so every cell must serve TLS for any tenant name, and a move must not touch the cell. That takes a
certificate for `*.<domain>`, and Let's Encrypt issues wildcards through DNS-01 only: a TXT record
`_acme-challenge.<domain>` in the parent zone (Route53, DNS account), which no cell owns.

Each cell gets its own role `honeycomb-acme-dns01-<cell>` in the DNS account, created by the
management stack from the registry, whose one write permission is a TXT UPSERT or DELETE of
`_acme-challenge.<domain>` in the parent zone (Route53's condition keys on the normalized record
names, the record types and the change actions). One role per cell keeps each trust policy one
statement long (one role for every cell would need a statement per GKE cluster, past the 2,048
characters of a trust policy at a handful of cells), shows the cell in CloudTrail and lets one
cell be cut off alone. Who may assume it:

- AWS cell: the cell account's `honeycomb-cert-manager` role, only from a session EKS Pod Identity
  opened for the cert-manager service account of that cell's cluster. Pod Identity's session tags
  are transitive (EKS user guide, "Cross-account tags"), so they reach this trust policy as the
  caller's principal tags, and the chained AssumeRole needs `sts:TagSession` on both sides.
  cert-manager's Route53 solver assumes the role itself (`role`, ambient credentials: cert-manager
  docs "Cross Account Access", "EKS Pod Identity").
- GCP cell: the cluster's own service-account tokens. cert-manager requests a token for a
  dedicated service account (`serviceAccountRef`, audience `sts.amazonaws.com`) and exchanges it
  through AssumeRoleWithWebIdentity (cert-manager docs: "works even when cert-manager is deployed
  outside AWS"); an IAM OIDC provider for the GKE cluster's issuer
  (`https://container.googleapis.com/v1/projects/<project>/locations/<region>/clusters/<name>`)
  lets IAM verify them. Doubt, stated in the README: GKE's API reference marks the cluster's
  JWKS endpoint "not yet intended for general use, and not available for all clusters".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.account import role_arn
from components.aws.iam import document, pod_identity_trust_policy
from components.k8s.addons import CERT_MANAGER_NAMESPACE, CERT_MANAGER_SERVICE_ACCOUNT

#: Prefix of each cell's DNS-01 role in the DNS account: `honeycomb-acme-dns01-<cell>` (at most 53 characters).
ROLE_PREFIX = "honeycomb-acme-dns01"
#: The role in an AWS cell's account that cert-manager's pods get through EKS Pod Identity.
CERT_MANAGER_ROLE = "honeycomb-cert-manager"
#: GCP cells: the service account whose tokens cert-manager exchanges for the role.
TOKEN_SERVICE_ACCOUNT = "honeycomb-acme-dns01"  # noqa: S105 - a name, not a secret
#: The audience cert-manager asks for by default (`serviceAccountRef.audiences`) and AWS STS expects.
STS_AUDIENCE = "sts.amazonaws.com"
#: What a solver writes: cert-manager UPSERTs its challenge value and DELETEs it afterwards, never CREATE.
CHANGE_ACTIONS = ("UPSERT", "DELETE")
#: The region of a GCP cell's solver: cert-manager's STS client for AssumeRoleWithWebIdentity needs one (no
#: AWS_REGION outside AWS). AWS cells set none: under EKS Pod Identity the `route53.region` field is ignored
#: because the agent adds `AWS_REGION` (cert-manager docs, Route53, "Region").
ROUTE53_REGION = "us-east-1"
#: The thumbprint of the Google service that serves every GKE issuer URI (Google Cloud docs, "Use workload
#: identity with AWS": "always 08745487e891c19e3078c1f2a07e452950ef36f6"). IAM verifies Google's JWKS against
#: its own trusted root CAs and does not use it, but given, IAM need not read the issuer when the provider is
#: created: the management stack creates it before the cell stack creates the cluster.
GKE_ISSUER_THUMBPRINT = "08745487e891c19e3078c1f2a07e452950ef36f6"


def role_name(cell: str) -> str:
    return f"{ROLE_PREFIX}-{cell}"


def dns01_role_arn(dns_account_id: str, cell: str) -> str:
    """The cell's DNS-01 role: known from the registry alone, so the cell stack needs no stack output."""
    return role_arn(dns_account_id, role_name(cell))


def challenge_record(domain: str) -> str:
    """The TXT record Let's Encrypt reads for `*.<domain>`, as Route53 normalizes names (lowercase, no dot)."""
    return f"_acme-challenge.{domain.rstrip('.').lower()}"


def gke_issuer(project: str, region: str, cluster: str) -> str:
    """The issuer of a GKE cluster's service-account tokens (a regional cluster's location is its region)."""
    return f"https://container.googleapis.com/v1/projects/{project}/locations/{region}/clusters/{cluster}"


def challenge_policy(parent_zone_id: str, domain: str) -> str:
    """Only TXT UPSERT/DELETE of `_acme-challenge.<domain>` in the parent zone, and waiting for the change.

    cert-manager's Route53 solver with `hostedZoneID` set calls ChangeResourceRecordSets and GetChange
    and nothing else (no ListHostedZonesByName lookup). The `Null` check keeps the write closed should
    a request ever carry no record names (`ForAllValues` alone holds for an empty set).
    """
    names_key = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
    return document(
        {
            "Sid": "ChallengeRecordOnly",
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": f"arn:aws:route53:::hostedzone/{parent_zone_id}",
            "Condition": {
                "ForAllValues:StringEquals": {
                    names_key: [challenge_record(domain)],
                    "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
                    "route53:ChangeResourceRecordSetsActions": list(CHANGE_ACTIONS),
                },
                "Null": {names_key: "false"},
            },
        },
        {
            "Sid": "WaitForChanges",
            "Effect": "Allow",
            "Action": "route53:GetChange",
            "Resource": "arn:aws:route53:::change/*",
        },
    )


def aws_cell_trust_policy(account_id: str, cluster_name: str) -> str:
    """The cell account's cert-manager role, only in a Pod Identity session of that cluster's cert-manager."""
    return document(
        {
            "Sid": "CellCertManager",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            # The Pod Identity session's tags are transitive: the chained session must be allowed to carry them.
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "ArnEquals": {"aws:PrincipalArn": role_arn(account_id, CERT_MANAGER_ROLE)},
                "StringEquals": {
                    "aws:PrincipalTag/eks-cluster-name": cluster_name,
                    "aws:PrincipalTag/kubernetes-namespace": CERT_MANAGER_NAMESPACE,
                    "aws:PrincipalTag/kubernetes-service-account": CERT_MANAGER_SERVICE_ACCOUNT,
                },
            },
        }
    )


def gcp_cell_trust_policy(provider_arn: str, issuer: str) -> str:
    """Tokens of the cluster's DNS-01 service account, for STS, verified through the cluster's OIDC provider."""
    host = issuer.removeprefix("https://")
    return document(
        {
            "Sid": "CellServiceAccountToken",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{host}:aud": STS_AUDIENCE,
                    f"{host}:sub": f"system:serviceaccount:{CERT_MANAGER_NAMESPACE}:{TOKEN_SERVICE_ACCOUNT}",
                }
            },
        }
    )


@dataclass(frozen=True)
class AwsCellSolver:
    """An AWS cell: its account (an output of the management stack for a new account) and EKS cluster."""

    account_id: pulumi.Input[str]
    cluster_name: str


@dataclass(frozen=True)
class GcpCellSolver:
    """A GCP cell: the issuer of its GKE cluster's service-account tokens (`gke_issuer`)."""

    issuer: str


class AcmeDnsRolesArgs(TypedDict):
    parent_zone_id: str
    """Route53 id of the parent zone (DNS account)."""
    domain: str
    """The organization's domain: the wildcard is `*.<domain>`."""
    cells: Mapping[str, AwsCellSolver | GcpCellSolver]
    """Every cell, by name."""
    tags: Mapping[str, Mapping[str, str]]
    """Tags of each cell's role (and OIDC provider), by cell name."""


class AcmeDnsRoles(pulumi.ComponentResource):
    """Each cell's DNS-01 role in the DNS account (and a GKE cell's OIDC provider), keyed by cell name."""

    arns: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        args: AcmeDnsRolesArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:AcmeDnsRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        policy = challenge_policy(args["parent_zone_id"], args["domain"])
        arns: dict[str, pulumi.Output[str]] = {}
        for cell, solver in sorted(args["cells"].items()):
            tags = dict(args["tags"][cell])
            trust: pulumi.Output[str]
            if isinstance(solver, AwsCellSolver):
                trust = pulumi.Output.from_input(solver.account_id).apply(
                    functools.partial(aws_cell_trust_policy, cluster_name=solver.cluster_name)
                )
            else:
                # One provider per issuer URL and account; IAM verifies the tokens' signatures with its keys.
                oidc = aws.iam.OpenIdConnectProvider(
                    f"{name}-{cell}-gke",
                    url=solver.issuer,
                    client_id_lists=[STS_AUDIENCE],
                    thumbprint_lists=[GKE_ISSUER_THUMBPRINT],
                    tags=tags,
                    opts=child,
                )
                trust = oidc.arn.apply(functools.partial(gcp_cell_trust_policy, issuer=solver.issuer))
            role = aws.iam.Role(
                f"{name}-{cell}",
                name=role_name(cell),
                description=f"cert-manager of cell {cell} answers DNS-01 for the tenants' wildcard certificate",
                assume_role_policy=trust,
                max_session_duration=3600,
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicy(f"{name}-{cell}-challenge", role=role.id, policy=policy, opts=child)
            arns[cell] = role.arn
        self.arns = pulumi.Output.all(**arns) if arns else pulumi.Output.from_input({})
        self.register_outputs({"arns": self.arns})


# --- the AWS cell's side ----------------------------------------------------------------------


def cert_manager_policy(dns01_role: str) -> str:
    """cert-manager may assume its cell's DNS-01 role, carrying Pod Identity's transitive session tags."""
    return document(
        {
            "Sid": "AssumeDns01Role",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Resource": dns01_role,
        }
    )


@dataclass(frozen=True)
class CertManagerIdentityArgs:
    cluster_name: pulumi.Input[str]
    """The EKS cluster (the association's)."""
    cluster_name_known: str
    """The same name as a plain string, for the trust policy."""
    dns01_role_arn: str
    """The cell's DNS-01 role in the DNS account (`dns01_role_arn`)."""


class CertManagerIdentity(pulumi.ComponentResource):
    """An AWS cell's `honeycomb-cert-manager` role, given to cert-manager's service account by EKS Pod Identity.

    Pod Identity injects credentials when a pod starts, so the cert-manager release must wait for
    `ready` (the association and the role's policy) and restart when the association changes: a
    replaced association (even with the same role) has a new `association_id`.
    """

    role_arn: pulumi.Output[str]
    association_id: pulumi.Output[str]
    ready: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        args: CertManagerIdentityArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:CertManagerIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        role = aws.iam.Role(
            f"{name}-cert-manager",
            name=CERT_MANAGER_ROLE,
            description="cert-manager's pods (EKS Pod Identity); it assumes the cell's DNS-01 role",
            assume_role_policy=pod_identity_trust_policy(
                args.cluster_name_known, CERT_MANAGER_NAMESPACE, CERT_MANAGER_SERVICE_ACCOUNT
            ),
            opts=child,
        )
        grant = aws.iam.RolePolicy(
            f"{name}-cert-manager", role=role.id, policy=cert_manager_policy(args.dns01_role_arn), opts=child
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-cert-manager",
            cluster_name=args.cluster_name,
            namespace=CERT_MANAGER_NAMESPACE,
            service_account=CERT_MANAGER_SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
        self.role_arn = role.arn
        self.association_id = association.association_id
        self.ready = [grant, association]
        self.register_outputs({"role_arn": self.role_arn, "association_id": self.association_id})


def solver_settings(parent_zone_id: str, role: str, *, token_service_account: str | None = None) -> dict[str, Any]:
    """The Route53 solver of the DNS-01 ClusterIssuer: the parent zone, the cell's role and how to reach it.

    Without `token_service_account` cert-manager uses its ambient credentials (Pod Identity) to assume
    `role`; with it, it exchanges that service account's token for `role` (AssumeRoleWithWebIdentity).
    """
    route53: dict[str, Any] = {"hostedZoneID": parent_zone_id, "role": role}
    if token_service_account is not None:
        route53["region"] = ROUTE53_REGION
        route53["auth"] = {"kubernetes": {"serviceAccountRef": {"name": token_service_account}}}
    return route53
