"""The published registry: an S3 bucket and the registry JSON in it, for other infrastructure,
replicated to a bucket in every AWS region that hosts cells, so each region reads it locally.

Every bucket is versioned (every published registry can be recovered), encrypted (SSE-S3),
closed to the public and only reachable over TLS; principals of the organization may read it.
The object is `cells.export.to_json(registry, outputs)`: the registry plus values only known
after the management stack ran (account ids, project numbers, zone names), which `cells.client`
reads back.

Replication (S3 Replication, live, from the primary to `<bucket>-<region>`, the primary's own
region included through same-region replication so every cell region follows one rule), as S3
requires it: versioning on the source and on every destination before the configuration is
put; an IAM role only `s3.amazonaws.com` may assume, allowed to read the
primary's versions and to replicate into the replicas and nothing else; with more than one
destination the V2 form, where each rule has a filter, a unique priority and a delete marker
setting (enabled: a removed key disappears everywhere, so no region serves a stale copy; deleting
a version is never replicated, so history stays in each bucket). The objects are SSE-S3
encrypted, which replication copies without KMS settings (an SSE-KMS bucket would need
`sse_kms_encrypted_objects` and a replica key per region). Only objects written after the
configuration replicate, so the registry object waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from cells.models import replica_bucket
from components.aws.iam import document, service_trust_policy

#: S3's limit of rules in one replication configuration, so of replica regions.
MAX_REPLICATION_RULES = 1000


def replication_rules(
    destinations: Sequence[tuple[str, pulumi.Input[str]]],
) -> list[aws.s3.BucketReplicationConfigRuleArgsDict]:
    """One V2 rule per (region, replica bucket ARN): whole bucket, unique priority, delete markers on."""
    regions = [region for region, _ in destinations]
    if len(set(regions)) != len(regions):
        raise ValueError(f"one replica per region, got {regions}")
    if not 1 <= len(destinations) <= MAX_REPLICATION_RULES:
        raise ValueError(f"S3 replication takes 1 to {MAX_REPLICATION_RULES} rules, got {len(destinations)}")
    return [
        {
            "id": f"registry-to-{region}",
            "priority": priority,
            "status": "Enabled",
            "filter": {"prefix": ""},
            "delete_marker_replication": {"status": "Enabled"},
            "destination": {"bucket": arn, "storage_class": "STANDARD"},
        }
        for priority, (region, arn) in enumerate(sorted(destinations, key=lambda d: d[0]))
    ]


def replication_policy(source: str, replicas: Sequence[str]) -> str:
    """What the replication role may do: read the primary's versions, replicate into the replicas."""
    source_arn = f"arn:aws:s3:::{source}"
    return document(
        {
            "Sid": "ReadTheSourceConfiguration",
            "Effect": "Allow",
            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
            "Resource": source_arn,
        },
        {
            "Sid": "ReadTheSourceVersions",
            "Effect": "Allow",
            "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
            "Resource": f"{source_arn}/*",
        },
        {
            "Sid": "WriteTheReplicas",
            "Effect": "Allow",
            "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
            "Resource": [f"arn:aws:s3:::{replica}/*" for replica in sorted(replicas)],
        },
    )


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
    replica_regions: NotRequired[Sequence[str]]
    """Regions that get a replica `<bucket>-<region>` (each needs a provider in `replica_providers`)."""
    tags: Mapping[str, str]


class RegistryBucket(pulumi.ComponentResource):
    url: pulumi.Output[str]
    version_id: pulumi.Output[str]
    replica_urls: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: RegistryBucketArgs,
        *,
        provider: aws.Provider,
        replica_providers: Mapping[str, aws.Provider] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`provider`: the primary's account and region; `replica_providers`: the same account by region."""
        super().__init__("honeycomb:aws:RegistryBucket", name, None, opts)
        replica_providers = replica_providers or {}
        bucket, ready = self._bucket(name, args["bucket"], args, provider)
        replicas: dict[str, tuple[aws.s3.Bucket, list[pulumi.Resource]]] = {}
        for region in sorted(args.get("replica_regions", ())):
            if region not in replica_providers:
                raise ValueError(f"no provider for the registry's replica in {region!r}")
            replica_name = replica_bucket(args["bucket"], region)
            replicas[region] = self._bucket(
                f"{name}-{region}", replica_name, args, replica_providers[region], copy=True
            )
        waits = list(ready)
        if replicas:
            waits.append(self._replication(name, args, bucket, ready, replicas, provider))
        obj = aws.s3.BucketObjectv2(
            f"{name}-object",
            bucket=bucket.id,
            key=args["key"],
            content=args["content"],
            content_type="application/json",
            # Written only once the bucket is versioned and encrypted, so no version is ever plain, and
            # once replication is on, since S3 replicates only objects written after it.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=waits),
        )
        self.url = pulumi.Output.concat("s3://", bucket.id, "/", obj.key)
        self.version_id = obj.version_id
        self.replica_urls = {
            region: pulumi.Output.concat("s3://", replica.id, "/", obj.key) for region, (replica, _) in replicas.items()
        }
        self.register_outputs({"url": self.url, "version_id": self.version_id, "replica_urls": self.replica_urls})

    def _bucket(
        self, prefix: str, bucket_name: str, args: RegistryBucketArgs, provider: aws.Provider, *, copy: bool = False
    ) -> tuple[aws.s3.Bucket, list[pulumi.Resource]]:
        """A versioned, encrypted, private bucket the organization reads; returns it and what must exist
        before anything is written to it.

        A copy is emptied when it is deleted (its region lost its last AWS cell): S3 deletes only empty
        buckets and a versioned one never is, so the update would fail; the primary keeps the history.
        """
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        bucket = aws.s3.Bucket(
            f"{prefix}-bucket",
            bucket=bucket_name,
            force_destroy=copy or None,
            tags=dict(args["tags"]),
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{prefix}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{prefix}-encryption",
            bucket=bucket.id,
            rules=[
                {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}, "bucket_key_enabled": True}
            ],
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{prefix}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{prefix}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        aws.s3.BucketPolicy(
            f"{prefix}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.from_input(args["organization_id"]).apply(lambda org: bucket_policy(bucket_name, org)),
            # The organization-only policy is not public, but S3 checks it against the block.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[public_access]),
        )
        return bucket, [versioning, encryption, public_access, ownership]

    def _replication(
        self,
        name: str,
        args: RegistryBucketArgs,
        source: aws.s3.Bucket,
        source_ready: list[pulumi.Resource],
        replicas: Mapping[str, tuple[aws.s3.Bucket, list[pulumi.Resource]]],
        provider: aws.Provider,
    ) -> aws.s3.BucketReplicationConfig:
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        replica_names = [replica_bucket(args["bucket"], region) for region in replicas]
        role = aws.iam.Role(
            f"{name}-replication-role",
            name=f"{args['bucket']}-replication"[:64],
            # S3's own trust, as S3's replication setup gives it: an IAM role cannot be passed to another
            # account's bucket (PutBucketReplication needs iam:PassRole here), so no deputy can borrow it.
            assume_role_policy=service_trust_policy("s3.amazonaws.com"),
            tags=dict(args["tags"]),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-replication-policy",
            role=role.id,
            policy=replication_policy(args["bucket"], replica_names),
            opts=child,
        )
        destinations = [(region, replica.arn) for region, (replica, _) in replicas.items()]
        versioned = [r for _, (_, ready) in replicas.items() for r in ready[:1]]
        return aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=source.id,
            role=role.arn,
            rules=replication_rules(destinations),
            # S3 refuses the configuration unless both sides are versioned already.
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[source_ready[0], *versioned, policy]
            ),
        )
