"""The published registry's copies in Cloud Storage: one bucket per GCP region that hosts cells,
so a GCP cell reads the registry in its own region (`gs://<bucket>-<region>/<key>`).

S3 cannot replicate into Cloud Storage, so the management stack publishes each copy itself: one
`BucketObject` per region holding the same JSON as the S3 primary (one write per region per
update). Each bucket, as Cloud Storage takes it (`google_storage_bucket`): `location` is required
and is the region (a regional bucket); uniform bucket-level access (IAM only, no object ACLs);
public access prevention `enforced` (no `allUsers`/`allAuthenticatedUsers` grant can ever apply);
object versioning (every published registry can be recovered); the project's labels. Bucket
names are global and follow Cloud Storage's rules (3-63 characters, lowercase letters, digits,
dashes, dots; no "goog" prefix, no "google"), which the cloud layer checks on every plan
(`policies/cloud/gcp_names.py`). Readers: the GKE node service accounts of the cells, with
`roles/storage.objectViewer` on the bucket (object get and list, nothing else).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from cells.models import replica_bucket

READER_ROLE = "roles/storage.objectViewer"


class RegistryCopiesArgs(TypedDict):
    project: str
    """The project holding the buckets (the management stack's shared GCP project)."""
    bucket: str
    """The registry's primary bucket name; each copy is `<bucket>-<region>`."""
    key: str
    content: pulumi.Input[str]
    """The registry JSON, the same the S3 primary holds."""
    readers: Mapping[str, Mapping[str, pulumi.Input[str]]]
    """Region -> {cell name: email of its node service account}: who reads that region's copy."""
    labels: Mapping[str, str]


class RegistryCopies(pulumi.ComponentResource):
    urls: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: RegistryCopiesArgs,
        *,
        provider: gcp.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:gcp:RegistryCopies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.urls = {}
        for region, readers in sorted(args["readers"].items()):
            prefix = f"{name}-{region}"
            bucket = gcp.storage.Bucket(
                f"{prefix}-bucket",
                name=replica_bucket(args["bucket"], region),
                project=args["project"],
                location=region.upper(),  # Cloud Storage reports locations in capitals
                storage_class="STANDARD",
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                versioning={"enabled": True},
                # A copy goes with its region's last GCP cell; Cloud Storage deletes only empty buckets.
                force_destroy=True,
                labels=dict(args["labels"]),
                opts=child,
            )
            obj = gcp.storage.BucketObject(
                f"{prefix}-object",
                bucket=bucket.name,
                name=args["key"],
                content=args["content"],
                content_type="application/json",
                opts=child,
            )
            for cell, email in sorted(readers.items()):
                gcp.storage.BucketIAMMember(
                    f"{cell}-registry-reader",
                    bucket=bucket.name,
                    role=READER_ROLE,
                    member=pulumi.Output.concat("serviceAccount:", email),
                    opts=child,
                )
            self.urls[region] = pulumi.Output.concat("gs://", bucket.name, "/", obj.name)
        self.register_outputs({"urls": self.urls})
