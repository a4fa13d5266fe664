"""The organization's CloudTrail trail: every account's management events, every region, into one
bucket of the management account, encrypted with a key of its own and validated (digest files).

The SCPs deny stopping or changing trails in cell accounts; this is the trail they protect. An
organization trail can only be made in the management account (or a delegated administrator),
with all features of Organizations on and CloudTrail's trusted access enabled (CreateTrail fails
with CloudTrailAccessNotEnabledException otherwise). Honeycomb does not own the organization, so
both are checked at preview (`require_trail_prerequisites`) with the command that fixes them.

What CloudTrail requires (CloudTrail user guide: "Amazon S3 bucket policy for CloudTrail",
organization trail section, and "Configure AWS KMS key policies for CloudTrail"):
- the bucket policy lets `cloudtrail.amazonaws.com` read the bucket ACL and put objects under
  `AWSLogs/<management account>/` and `AWSLogs/<organization id>/`, with the
  `bucket-owner-full-control` ACL, only for this trail (`aws:SourceArn`);
- the key policy lets CloudTrail generate data keys for trails of the management account (the
  encryption context of an organization trail names it) and describe the key, and lets the
  account's principals decrypt the logs; the account's root administers the key.
The trail's ARN is known before the trail exists (`arn:aws:cloudtrail:<region>:<account>:trail/<name>`),
so both policies name it without waiting on it, and the trail waits on both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.iam import document

CLOUDTRAIL = "cloudtrail.amazonaws.com"


class TrailPrerequisiteError(ValueError):
    """The organization cannot hold an organization trail yet; the message says what to turn on."""


def require_trail_prerequisites(feature_set: str | None, service_principals: Sequence[str] | None) -> None:
    """CreateTrail with `IsOrganizationTrail` needs an organization with all features and CloudTrail's
    trusted access, else it fails (CloudTrailAccessNotEnabledException) after the bucket and key
    exist. Honeycomb does not own the organization, so it checks at preview and names the fix."""
    if feature_set != "ALL":
        raise TrailPrerequisiteError(
            f"the organization has feature set {feature_set!r}: an organization trail needs all features "
            "(AWS Organizations console, Settings, enable all features), then run `pulumi up --stack management` again"
        )
    if CLOUDTRAIL not in (service_principals or ()):
        raise TrailPrerequisiteError(
            "trusted access for CloudTrail is not enabled in the organization, so CloudTrail cannot create the "
            "organization trail: from the management account run `aws organizations enable-aws-service-access "
            f"--service-principal {CLOUDTRAIL}`, then run `pulumi up --stack management` again"
        )


def trail_arn(region: str, account_id: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{name}"


def bucket_policy(bucket: str, trail: str, management_account_id: str, organization_id: str) -> str:
    """CloudTrail may deliver this trail's logs (the management account's and every member's); no plain HTTP."""
    arn = f"arn:aws:s3:::{bucket}"
    service = {"Service": CLOUDTRAIL}
    delivered = {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail}}
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": service,
            "Action": "s3:GetBucketAcl",
            "Resource": arn,
            "Condition": {"StringEquals": {"aws:SourceArn": trail}},
        },
        {
            "Sid": "CloudTrailWrite",
            "Effect": "Allow",
            "Principal": service,
            "Action": "s3:PutObject",
            "Resource": f"{arn}/AWSLogs/{management_account_id}/*",
            "Condition": delivered,
        },
        {
            "Sid": "CloudTrailOrganizationWrite",
            "Effect": "Allow",
            "Principal": service,
            "Action": "s3:PutObject",
            "Resource": f"{arn}/AWSLogs/{organization_id}/*",
            "Condition": delivered,
        },
    )


def key_policy(management_account_id: str, trail: str, partition: str = "aws") -> str:
    """The trail's key: the account administers it, CloudTrail encrypts this trail's logs with it,
    the account's principals (IAM decides which) decrypt them."""
    context = {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{partition}:cloudtrail:*:{management_account_id}:trail/*"
    }
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{management_account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudTrailEncryptsLogs",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail}, "StringLike": context},
        },
        {
            "Sid": "CloudTrailDescribesTheKey",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail}},
        },
        {
            "Sid": "AccountDecryptsLogs",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": management_account_id}, "StringLike": context},
        },
    ]
    return document(*statements)


class OrganizationTrailArgs(TypedDict):
    trail_name: str
    """The trail's name (its ARN is built from it)."""
    bucket: str
    """The log bucket's name (globally unique)."""
    region: str
    """The trail's home region: the management provider's."""
    management_account_id: str
    organization_id: pulumi.Input[str]
    """The organization (`o-…`): member accounts' logs land under `AWSLogs/<organization id>/`."""
    tags: Mapping[str, str]


class OrganizationTrail(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    bucket: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: OrganizationTrailArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:OrganizationTrail", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        tags = dict(args["tags"])
        account, bucket_name = args["management_account_id"], args["bucket"]
        arn = trail_arn(args["region"], account, args["trail_name"])

        key = aws.kms.Key(
            f"{name}-key",
            description="Encryption of the organization's CloudTrail logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(account, arn),
            tags=tags,
            opts=child,
        )
        aws.kms.Alias(f"{name}-key", name=f"alias/{args['trail_name']}", target_key_id=key.key_id, opts=child)

        bucket = aws.s3.Bucket(f"{name}-bucket", bucket=bucket_name, tags=tags, opts=child)
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": key.arn,
                    },
                    # No S3 Bucket Key: with one, S3 asks KMS under the bucket's ARN as encryption
                    # context, not the trail's, so the key policy's CloudTrail statements (conditioned on
                    # `aws:cloudtrail:arn`) would not match, and CloudTrail wants more of the key to create
                    # the trail. A bucket key saves nothing here: CloudTrail's own KMS use is not billed.
                    "bucket_key_enabled": False,
                }
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
        # ACLs off: CloudTrail's `bucket-owner-full-control` is the one ACL S3 still accepts.
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.from_input(args["organization_id"]).apply(
                lambda org: bucket_policy(bucket_name, arn, account, org)
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[public_access]),
        )
        # Checked at preview, before anything exists; the trail waits for the check.
        organization = aws.organizations.get_organization_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
        )

        def checked_name(found: list[Any]) -> str:
            require_trail_prerequisites(found[0], found[1])
            return args["trail_name"]

        trail_name = pulumi.Output.all(organization.feature_set, organization.aws_service_access_principals).apply(
            checked_name
        )
        # CloudTrail checks at creation that it may write to the bucket and use the key.
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=bucket.id,
            is_organization_trail=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=key.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[policy, encryption, versioning, ownership]
            ),
        )
        self.arn = trail.arn
        self.bucket = bucket.id
        self.key_arn = key.arn
        self.register_outputs({"arn": self.arn, "bucket": self.bucket, "key_arn": self.key_arn})
