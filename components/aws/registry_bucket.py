"""The published registry: an S3 bucket and the registry JSON in it, for other infrastructure.

The bucket is versioned (every published registry can be recovered), encrypted, closed to the
public and only reachable over TLS; principals of the organization may read it. The object is
`cells.export.to_json(registry, outputs)`: the registry plus values only known after the
management stack ran (account ids, project numbers, zone names), which `cells.client` reads back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.iam import document


def bucket_policy(bucket: str, organization_id: str) -> str:
    """Principals of the organization may read; nobody may talk to the bucket without TLS."""
    arn = f"arn:aws:s3:::{bucket}"
    return document(
        {
            "Sid": "OrganizationReads",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"],
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
        },
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )


class RegistryBucketArgs(TypedDict):
    bucket: str
    """Bucket name (globally unique)."""
    key: str
    """Object key of the registry JSON."""
    content: pulumi.Input[str]
    """The registry JSON."""
    organization_id: pulumi.Input[str]
    """The AWS organization whose principals may read."""
    tags: Mapping[str, str]


class RegistryBucket(pulumi.ComponentResource):
    url: pulumi.Output[str]
    version_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: RegistryBucketArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:RegistryBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        bucket = aws.s3.Bucket(f"{name}-bucket", bucket=args["bucket"], tags=dict(args["tags"]), opts=child)
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}
            ],
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.from_input(args["organization_id"]).apply(
                lambda org: bucket_policy(args["bucket"], org)
            ),
            # The organization-only policy is not public, but S3 checks it against the block.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[public_access]),
        )
        obj = aws.s3.BucketObjectv2(
            f"{name}-object",
            bucket=bucket.id,
            key=args["key"],
            content=args["content"],
            content_type="application/json",
            # Written only once the bucket is versioned and encrypted, so no version is ever plain.
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[versioning, encryption, public_access, ownership]
            ),
        )
        self.url = pulumi.Output.concat("s3://", bucket.id, "/", obj.key)
        self.version_id = obj.version_id
        self.register_outputs({"url": self.url, "version_id": self.version_id})
