"""Rules 5 and 6: S3 buckets, security groups and firewalls, cluster hardening."""

from __future__ import annotations

import json

import pytest

from cells import Registry
from policies.clusters import cluster_hardening
from policies.exposure import s3_bucket_security, security_group_ingress
from policies.public import no_public_access
from policies.rotation import kms_key_rotation
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
        ("gcp:compute/firewall:Firewall", {"direction": "EGRESS", "allows": [{"protocol": "tcp"}]}, None),
        ("gcp:compute/firewall:Firewall", {"direction": "INGRESS", "allows": [{"protocol": "tcp"}]}, "all tcp"),
        # A direction the rule cannot read is not taken for egress.
        ("gcp:compute/firewall:Firewall", {"direction": "ingress", "allows": [{"protocol": "tcp"}]}, "cannot verify"),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {"type": "Ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]},
            "cannot verify",
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


@pytest.mark.parametrize("cidrs", [["0.0.0.0"], [{"cidr": "0.0.0.0/0"}], ["everywhere"]])
def test_eks_public_endpoint_with_unreadable_cidrs_cannot_be_verified(registry: Registry, cidrs: list) -> None:
    stack = Stack("cell-alpha")
    vpc = {"endpointPublicAccess": True, "publicAccessCidrs": cidrs}
    stack.add(EKS, "alpha-eks", {"encryptionConfig": ENCRYPTED, "vpcConfig": vpc})
    found = [f.message for f in stack.findings(registry, cluster_hardening)]
    if cidrs == ["0.0.0.0"]:  # a single address is a /32: readable, and not the internet
        assert found == []
    else:
        [message] = found
        assert message.startswith("cannot verify who reaches alpha-eks") and "is not a CIDR block" in message


def test_eks_public_endpoint_with_cidrs_is_fine_outside_prod(registry: Registry) -> None:
    stack = Stack("cell-staging")
    stack.add(EKS, "staging-eks", {"encryptionConfig": ENCRYPTED, "vpcConfig": {"endpointPublicAccess": True}})
    assert stack.findings(registry, cluster_hardening) == []


GKE_OK = {
    "databaseEncryption": {"state": "ENCRYPTED", "keyName": "projects/acme-cell-beta/keys/k"},
    "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False},
    "masterAuthorizedNetworksConfig": {
        "cidrBlocks": [{"cidrBlock": "10.48.0.0/20"}],
        "gcpPublicCidrsAccessEnabled": False,
    },
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
    assert len(messages) == 5
    assert "does not encrypt Kubernetes secrets" in messages[0]
    assert "has public nodes" in messages[1]
    assert "accepts all of Google Cloud's public addresses" in messages[2]
    assert "authorized for 0.0.0.0/0" in messages[3]
    assert "turns private nodes off" in messages[4]


@pytest.mark.parametrize(
    ("networks", "fires"),
    [
        ({"cidrBlocks": [{"cidrBlock": "10.0.0.0/8"}], "gcpPublicCidrsAccessEnabled": True}, "Google Cloud's public"),
        (
            {
                "cidrBlocks": [{"cidrBlock": "0.0.0.0/1"}, {"cidrBlock": "128.0.0.0/1"}],
                "gcpPublicCidrsAccessEnabled": False,
            },
            "authorized for 0.0.0.0/1, 128.0.0.0/1",
        ),
        ("open", "cannot verify who reaches"),
        # An authorized network the rule cannot read (no cidrBlock, not a CIDR) is not taken for a private one.
        ({"cidrBlocks": [{"cidr": "0.0.0.0/0"}], "gcpPublicCidrsAccessEnabled": False}, "None is not a CIDR block"),
        ({"cidrBlocks": [{"cidrBlock": "anywhere"}], "gcpPublicCidrsAccessEnabled": False}, "cannot verify who"),
    ],
)
def test_gke_prod_control_plane_exposure(registry: Registry, networks: object, fires: str) -> None:
    stack = Stack("cell-beta")
    stack.add(GKE, "beta-gke", {**GKE_OK, "masterAuthorizedNetworksConfig": networks})
    [finding] = stack.findings(registry, cluster_hardening)
    assert fires in finding.message or (
        fires == "together the whole internet" and "0.0.0.0/1, 128.0.0.0/1" in finding.message
    )


# --- implicit exposure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "inputs", "fires"),
    [
        # GCP: an INGRESS rule without sourceRanges (nor tags / service accounts) applies to 0.0.0.0/0.
        ("gcp:compute/firewall:Firewall", {"allows": [{"protocol": "tcp", "ports": ["22"]}]}, "no sourceRanges"),
        (
            "gcp:compute/firewall:Firewall",
            {"sourceTags": ["bastion"], "allows": [{"protocol": "tcp", "ports": ["22"]}]},
            None,
        ),
        (
            "gcp:compute/firewall:Firewall",
            {"direction": "EGRESS", "allows": [{"protocol": "tcp", "ports": ["22"]}]},
            None,
        ),
        (
            "gcp:compute/firewall:Firewall",
            {"sourceRanges": ["0.0.0.0/1", "128.0.0.0/1"], "allows": [{"protocol": "all"}]},
            "together the whole internet",
        ),
        (
            "aws:ec2/securityGroup:SecurityGroup",
            {
                "ingress": [
                    {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"]}
                ]
            },
            "tcp port 5432 to 0.0.0.0/1, 128.0.0.0/1 (together the whole internet)",
        ),
        (
            # Every public address, leaving out only private space, is still the internet.
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 22,
                "toPort": 22,
                "cidrBlocks": [
                    "11.0.0.0/8",
                    "12.0.0.0/6",
                    "16.0.0.0/4",
                    "32.0.0.0/3",
                    "64.0.0.0/2",
                    "128.0.0.0/1",
                    "1.0.0.0/8",
                    "2.0.0.0/7",
                    "4.0.0.0/6",
                    "8.0.0.0/7",
                ],
            },
            "together the whole internet",
        ),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/1"]},
            None,
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "::/0"},
            "tcp port 22 to ::/0",
        ),
        ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", {"vpcId": "vpc-1"}, None),
        (
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            {"egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]},
            "puts egress rules on the VPC's default security group",
        ),
        (
            "aws:eks/nodeGroup:NodeGroup",
            {"remoteAccess": {"ec2SshKey": "ops", "sourceSecurityGroupIds": ["sg-1"]}},
            None,
        ),
        ("aws:eks/nodeGroup:NodeGroup", {"remoteAccess": {"ec2SshKey": "ops"}}, "tcp port 22 (remoteAccess"),
    ],
)
def test_implicit_exposure(registry: Registry, type_: str, inputs: dict, fires: str | None) -> None:
    stack = Stack("cell-alpha")
    stack.add(type_, "sg", inputs)
    found = stack.findings(registry, security_group_ingress)
    if fires is None:
        assert found == []
    else:
        assert fires in found[0].message


@pytest.mark.parametrize(
    ("type_", "inputs", "why"),
    [
        (
            "aws:ec2/securityGroup:SecurityGroup",
            {"ingress": [{"protocol": "tcp", "cidrBlocks": ["everywhere"]}]},
            "not a CIDR block",
        ),
        ("aws:ec2/securityGroup:SecurityGroup", {"ingress": ["tcp:22"]}, "not an object"),
        (
            "gcp:compute/firewall:Firewall",
            {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["ssh"]}]},
            "not a port",
        ),
        (
            "gcp:compute/firewall:Firewall",
            {"sourceRanges": ["0.0.0.0/0"], "allows": [{"IPProtocol": "tcp"}]},
            "protocol None",
        ),
    ],
)
def test_unreadable_rules_cannot_be_verified(registry: Registry, type_: str, inputs: dict, why: str) -> None:
    stack = Stack("cell-alpha")
    stack.add(type_, "sg", inputs)
    [finding] = stack.findings(registry, security_group_ingress)
    assert "cannot verify what sg" in finding.message
    assert why in finding.message


# --- public access through side resources ----------------------------------------------------


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


READ = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}


@pytest.mark.parametrize(
    ("type_", "inputs", "fires"),
    [
        ("aws:s3/bucketPolicy:BucketPolicy", {"policy": _doc({**READ, "Principal": "*"})}, "to any principal"),
        ("aws:s3/bucketPolicy:BucketPolicy", {"policy": _doc({**READ, "Principal": {"AWS": "*"}})}, "to any principal"),
        (
            "aws:s3/bucketPolicy:BucketPolicy",
            {"policy": _doc({**READ, "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]}})},
            "to any principal",
        ),
        (
            "aws:s3/bucketPolicy:BucketPolicy",
            {"policy": _doc({**READ, "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}})},
            None,
        ),
        (
            "aws:s3/bucketPolicy:BucketPolicy",
            {
                "policy": _doc(
                    {**READ, "Principal": "*", "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-1"}}}
                )
            },
            "to any principal",
        ),
        (
            "aws:sqs/queuePolicy:QueuePolicy",
            {"policy": _doc({**READ, "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["0.0.0.0/0"]}}})},
            "to any principal",
        ),
        ("aws:s3/bucketPolicy:BucketPolicy", {"policy": _doc({**READ, "Effect": "Deny", "Principal": "*"})}, None),
        (
            # The key policy AWS itself writes for a service: any principal of one account, through the service.
            "aws:kms/key:Key",
            {
                "policy": _doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": ["kms:Decrypt"],
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {
                                "kms:CallerAccount": "210987654321",
                                "kms:ViaService": "eks.us-east-1.amazonaws.com",
                            }
                        },
                    }
                )
            },
            None,
        ),
        ("aws:s3/bucketPolicy:BucketPolicy", {"policy": "{broken"}, "cannot verify who"),
        ("aws:s3/bucketAclV2:BucketAclV2", {"acl": "private"}, None),
        ("aws:s3/bucketAclV2:BucketAclV2", {"acl": "public-read"}, "public canned ACL 'public-read'"),
        (
            "aws:s3/bucketAclV2:BucketAclV2",
            {
                "accessControlPolicy": {
                    "grants": [
                        {
                            "grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
                            "permission": "READ",
                        }
                    ],
                    "owner": {"id": "abc"},
                }
            },
            "grants READ to AllUsers",
        ),
        (
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            {"role": "roles/storage.objectViewer", "member": "allUsers"},
            "to allUsers",
        ),
        (
            "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
            {"role": "roles/run.invoker", "members": ["allAuthenticatedUsers"]},
            "allAuthenticatedUsers",
        ),
        (
            "gcp:projects/iAMPolicy:IAMPolicy",
            {"policyData": json.dumps({"bindings": [{"role": "roles/viewer", "members": ["allUsers"]}]})},
            "grants roles/viewer to allUsers",
        ),
        ("gcp:pubsub/topicIAMPolicy:TopicIAMPolicy", {"policyData": "not json"}, "cannot verify who"),
        (
            "gcp:storage/bucketIAMBinding:BucketIAMBinding",
            {"role": "roles/storage.objectViewer", "members": [{"allUsers": True}]},
            "cannot verify who",
        ),
        # Policies given inline, as the resource's own input.
        (
            "aws:sns/topic:Topic",
            {"policy": _doc({"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*"})},
            "allows sns:Publish to any principal",
        ),
        (
            "aws:sqs/queue:Queue",
            {"policy": _doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:*", "Resource": "*"})},
            "allows sqs:* to any principal",
        ),
        (
            "aws:sqs/queue:Queue",
            {
                "policy": _doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                    }
                )
            },
            None,
        ),
        ("aws:secretsmanager/secret:Secret", {"policy": "{not json"}, "cannot verify who"),
        (
            "aws:s3/bucket:Bucket",
            {"policy": _doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"})},
            "allows s3:GetObject to any principal",
        ),
        (
            "aws:s3/bucketAclV2:BucketAclV2",
            {"accessControlPolicy": {"grants": [{"grantee": "AllUsers", "permission": "READ"}], "owner": {"id": "a"}}},
            "cannot verify the grants",
        ),
        (
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            {"role": "roles/storage.objectViewer", "member": "group:x@acme-corp.net"},
            None,
        ),
    ],
)
def test_public_access_through_side_resources(registry: Registry, type_: str, inputs: dict, fires: str | None) -> None:
    stack = Stack("cell-alpha")
    stack.add(type_, "side", inputs)
    found = stack.findings(registry, no_public_access)
    if fires is None:
        assert found == []
    else:
        [finding] = found
        assert fires in finding.message


# --- key rotation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "inputs", "fires"),
    [
        ("aws:kms/key:Key", {"enableKeyRotation": True}, None),
        ("aws:kms/key:Key", {"enableKeyRotation": True, "rotationPeriodInDays": 90}, None),
        ("aws:kms/key:Key", {}, "does not rotate"),
        ("aws:kms/key:Key", {"enableKeyRotation": True, "rotationPeriodInDays": 730}, "every 730 days"),
        ("aws:kms/key:Key", {"customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"}, None),
        ("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "7776000s"}, None),
        ("gcp:kms/cryptoKey:CryptoKey", {"purpose": "ASYMMETRIC_SIGN"}, None),
        ("gcp:kms/cryptoKey:CryptoKey", {}, "does not rotate"),
        ("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "3600s"}, "at least one day"),
        ("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "63072000s"}, "every 730 days"),
        ("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": "P90D"}, "cannot verify"),
    ],
)
def test_kms_key_rotation(registry: Registry, type_: str, inputs: dict, fires: str | None) -> None:
    stack = Stack("cell-alpha")
    stack.add(type_, "key", inputs)
    found = stack.findings(registry, kms_key_rotation)
    if fires is None:
        assert found == []
    else:
        [finding] = found
        assert fires in finding.message
