"""Rules 5 and 6: S3 buckets, security groups and firewalls, cluster hardening."""

from __future__ import annotations

import pytest

from cells import Registry
from policies.clusters import cluster_hardening
from policies.exposure import s3_bucket_security, security_group_ingress
from policies.testing import Stack

BLOCK_ALL = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"


def _bucket(stack: Stack, name: str, *, block: dict[str, bool] | None = BLOCK_ALL, encrypted: bool = True) -> str:
    bucket = stack.add("aws:s3/bucket:Bucket", name, {}, outputs={"bucket": f"{name}-1a2b"})
    if block is not None:
        stack.add(PAB, f"{name}-pab", {"bucket": "<unknown id>", **block}, depends_on=(bucket,))
    if encrypted:
        stack.add(SSE, f"{name}-sse", {"bucket": f"{name}-1a2b", "rules": [{}]})  # matched by name
    return bucket.urn


def test_private_encrypted_bucket_passes(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    _bucket(stack, "alpha-logs")
    assert stack.findings(registry, s3_bucket_security) == []


def test_unencrypted_bucket_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    _bucket(stack, "alpha-ok")
    urn = _bucket(stack, "alpha-logs", encrypted=False)
    [finding] = stack.findings(registry, s3_bucket_security)
    assert finding.urn == urn
    assert finding.name == "alpha-logs"
    assert "is not encrypted" in finding.message


def test_public_bucket_fires(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    missing = _bucket(stack, "alpha-a", block=None)
    partial = _bucket(stack, "alpha-b", block={**BLOCK_ALL, "restrictPublicBuckets": False})
    found = stack.findings(registry, s3_bucket_security)
    assert [(f.urn, "no aws.s3.BucketPublicAccessBlock" in f.message) for f in found] == [
        (missing, True),
        (partial, False),
    ]


def test_account_wide_block_counts(registry: Registry) -> None:
    stack = Stack("management")
    _bucket(stack, "registry", block=None)
    stack.add("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock", "account", BLOCK_ALL)
    assert stack.findings(registry, s3_bucket_security) == []


@pytest.mark.parametrize(
    ("type_", "inputs", "fires"),
    [
        (
            "aws:ec2/securityGroup:SecurityGroup",
            {"ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}]},
            None,
        ),
        (
            "aws:ec2/securityGroup:SecurityGroup",
            {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8"]}]},
            None,
        ),
        (
            "aws:ec2/securityGroup:SecurityGroup",
            {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]},
            "tcp port 22 to 0.0.0.0/0",
        ),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]},
            "all protocols and ports to ::/0",
        ),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]},
            None,
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "tcp", "fromPort": 80, "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
            "tcp ports 81-442",
        ),
        (
            "gcp:compute/firewall:Firewall",
            {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["80", "443"]}]},
            None,
        ),
        (
            "gcp:compute/firewall:Firewall",
            {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["3389"]}]},
            "tcp ports 3389 to 0.0.0.0/0",
        ),
        (
            "gcp:compute/firewall:Firewall",
            {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp"}]},
            "all tcp ports",
        ),
    ],
)
def test_security_group_ingress(registry: Registry, type_: str, inputs: dict, fires: str | None) -> None:
    stack = Stack("cell-alpha")
    stack.add(type_, "sg", inputs)
    found = stack.findings(registry, security_group_ingress)
    if fires is None:
        assert found == []
    else:
        [finding] = found
        assert fires in finding.message


EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
ENCRYPTED = {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:210987654321:key/1"}}


def test_eks_private_encrypted_passes(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add(EKS, "alpha-eks", {"encryptionConfig": ENCRYPTED, "vpcConfig": {"endpointPublicAccess": False}})
    assert stack.findings(registry, cluster_hardening) == []


def test_eks_public_prod_and_unencrypted_fire(registry: Registry) -> None:
    stack = Stack("cell-alpha")
    stack.add(EKS, "alpha-eks", {"vpcConfig": {"endpointPublicAccess": True}})
    messages = [f.message for f in stack.findings(registry, cluster_hardening)]
    assert len(messages) == 2
    assert "does not encrypt Kubernetes secrets" in messages[0]
    assert "public API endpoint is open to 0.0.0.0/0" in messages[1]


def test_eks_public_endpoint_with_cidrs_is_fine_outside_prod(registry: Registry) -> None:
    stack = Stack("cell-staging")
    stack.add(EKS, "staging-eks", {"encryptionConfig": ENCRYPTED, "vpcConfig": {"endpointPublicAccess": True}})
    assert stack.findings(registry, cluster_hardening) == []


GKE_OK = {
    "databaseEncryption": {"state": "ENCRYPTED", "keyName": "projects/acme-cell-beta/keys/k"},
    "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False},
    "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "10.48.0.0/20"}]},
}


def test_gke_private_encrypted_passes(registry: Registry) -> None:
    stack = Stack("cell-beta")
    stack.add(GKE, "beta-gke", GKE_OK)
    stack.add("gcp:container/nodePool:NodePool", "beta-nodes", {"networkConfig": {"enablePrivateNodes": True}})
    assert stack.findings(registry, cluster_hardening) == []


def test_gke_public_nodes_world_endpoint_and_plain_secrets_fire(registry: Registry) -> None:
    stack = Stack("cell-beta")
    stack.add(
        GKE,
        "beta-gke",
        {
            "databaseEncryption": {"state": "DECRYPTED"},
            "privateClusterConfig": {"enablePrivateNodes": False},
            "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}]},
        },
    )
    stack.add("gcp:container/nodePool:NodePool", "beta-nodes", {"networkConfig": {"enablePrivateNodes": False}})
    messages = [f.message for f in stack.findings(registry, cluster_hardening)]
    assert len(messages) == 4
    assert "does not encrypt Kubernetes secrets" in messages[0]
    assert "has public nodes" in messages[1]
    assert "authorized for 0.0.0.0/0" in messages[2]
    assert "turns private nodes off" in messages[3]
