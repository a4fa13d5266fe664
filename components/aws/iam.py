"""The cell's IAM roles, and every IAM policy document of an AWS cell as a pure function.

Two roles live in each cell account besides the organization's access role (through which
`pulumi up` changes the cell's infrastructure):

- `<cell>-deployer`: what CI assumes to deploy onto the cell. Trusted only by the CI role of
  the management account, and only for sessions that name themselves `honeycomb-*`. It reads
  everything and reaches the cell's cluster, where an EKS access entry makes it cluster admin;
  it cannot change the account's infrastructure (no one outside break-glass gets
  AdministratorAccess).
- `<cell>-read-only`: for people who look (the stack's everyday kubeconfig uses it). Trusted only
  by IAM Identity Center's roles in the management account, where people sign in.

Policy documents are built by plain functions returning JSON so they are tested directly and
the components only wire them to resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

VERSION = "2012-10-17"
#: Sessions CI opens in a cell must carry this prefix, so CloudTrail shows who changed what.
SESSION_PREFIX = "honeycomb-"
#: AWS managed policies, by the ARN suffix after `arn:<partition>:iam::aws:policy/`.
READ_ONLY_ACCESS = "ReadOnlyAccess"


def document(*statements: Mapping[str, Any]) -> str:
    """A policy document as stable JSON (sorted keys, so a diff means a real change)."""
    return json.dumps({"Version": VERSION, "Statement": list(statements)}, sort_keys=True)


def managed_policy_arn(name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def service_trust_policy(service: str, *, source_account: str | None = None, source_arn: str | None = None) -> str:
    """Trust for an AWS service; the source conditions stop the confused-deputy problem."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    condition: dict[str, dict[str, str]] = {}
    if source_account is not None:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    if condition:
        statement["Condition"] = condition
    return document(statement)


def pod_identity_trust_policy(cluster_name: str, namespace: str, service_account: str) -> str:
    """EKS Pod Identity may assume the role, only for one service account of one cluster (the session
    tags Pod Identity sets: EKS user guide, "Create IAM role with trust policy required by EKS Pod Identity")."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:RequestTag/eks-cluster-name": cluster_name,
                    "aws:RequestTag/kubernetes-namespace": namespace,
                    "aws:RequestTag/kubernetes-service-account": service_account,
                }
            },
        }
    )


def flow_logs_trust_policy(account_id: str, region: str, partition: str = "aws") -> str:
    """VPC Flow Logs may assume the role, only on behalf of this account's flow logs."""
    return service_trust_policy(
        "vpc-flow-logs.amazonaws.com",
        source_account=account_id,
        source_arn=f"arn:{partition}:ec2:{region}:{account_id}:vpc-flow-log/*",
    )


def flow_logs_policy(log_group_arn: str) -> str:
    """Writing flow logs into exactly one log group (and its streams)."""
    return document(
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        },
        {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
    )


def deployer_trust_policy(ci_role_arn: str, management_account_id: str) -> str:
    """Only the CI role of the management account, with a `honeycomb-*` session name."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ci_role_arn},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:PrincipalAccount": management_account_id},
                "StringLike": {"sts:RoleSessionName": f"{SESSION_PREFIX}*"},
            },
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": ci_role_arn},
            "Action": "sts:TagSession",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": management_account_id}},
        },
    )


#: Where IAM Identity Center puts the roles of permission sets: `/aws-reserved/sso.amazonaws.com/`,
#: plus `<region>/` when Identity Center is not in us-east-1. Role names: AWSReservedSSO_<set>_<hash>.
SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/"


def sso_role_pattern(account_id: str, permission_set: str = "*", partition: str = "aws") -> str:
    """Every Identity Center role of an account (or of one permission set), with or without the region segment."""
    return f"arn:{partition}:iam::{account_id}:role{SSO_ROLE_PATH}*AWSReservedSSO_{permission_set}_*"


def read_only_trust_policy(management_account_id: str, partition: str = "aws") -> str:
    """People signed in through IAM Identity Center in the management account (its permission sets'
    roles), never the account's other roles or users."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{management_account_id}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:PrincipalAccount": management_account_id},
                "ArnLike": {"aws:PrincipalArn": sso_role_pattern(management_account_id, partition=partition)},
            },
        }
    )


def cluster_arn(account_id: str, region: str, cluster_name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster_name}"


def deployer_policy(cluster: str) -> str:
    """On top of ReadOnlyAccess: what `aws eks get-token` and a kubeconfig need for the cell's cluster."""
    return document(
        {
            "Sid": "ReachTheCellCluster",
            "Effect": "Allow",
            "Action": ["eks:DescribeCluster", "eks:AccessKubernetesApi"],
            "Resource": cluster,
        },
        {"Sid": "FindTheCluster", "Effect": "Allow", "Action": "eks:ListClusters", "Resource": "*"},
    )


@dataclass(frozen=True)
class CellRolesArgs:
    account_id: pulumi.Input[str]
    """The cell's account: the deployer's policy names the cluster by ARN."""
    region: str
    """The cell's region."""
    cluster_name: str
    """The cell's EKS cluster, which the deployer deploys onto."""
    management_account_id: str
    """The organization's management account, where CI and IAM Identity Center live."""
    ci_role_arn: pulumi.Input[str]
    """The identity CI deploys as (the management stack's `ciRoleArn` output)."""
    max_session_seconds: int = 3600
    """How long a session of either role lasts."""


class CellRoles(pulumi.ComponentResource):
    """The deployer and read-only roles of one cell account."""

    deployer_role_arn: pulumi.Output[str]
    read_only_role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: CellRolesArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:CellRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        deployer_name, read_only_name = f"{name}-deployer", f"{name}-read-only"

        deployer = aws.iam.Role(
            deployer_name,
            name=deployer_name,
            description="CI deploys the cell's workloads with this role.",
            assume_role_policy=pulumi.Output.from_input(args.ci_role_arn).apply(
                lambda ci: deployer_trust_policy(ci, args.management_account_id)
            ),
            max_session_duration=args.max_session_seconds,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{deployer_name}-read", role=deployer.name, policy_arn=managed_policy_arn(READ_ONLY_ACCESS), opts=child
        )
        aws.iam.RolePolicy(
            f"{deployer_name}-cluster",
            role=deployer.name,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: deployer_policy(cluster_arn(account, args.region, args.cluster_name))
            ),
            opts=child,
        )

        read_only = aws.iam.Role(
            read_only_name,
            name=read_only_name,
            description="Read-only access to the cell for operators and tools.",
            assume_role_policy=read_only_trust_policy(args.management_account_id),
            max_session_duration=args.max_session_seconds,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{read_only_name}-read", role=read_only.name, policy_arn=managed_policy_arn(READ_ONLY_ACCESS), opts=child
        )

        self.deployer_role_arn = deployer.arn
        self.read_only_role_arn = read_only.arn
        self.register_outputs(
            {"deployer_role_arn": self.deployer_role_arn, "read_only_role_arn": self.read_only_role_arn}
        )
