"""Mock outputs of gcp resources and calls (registered in `cellctl.mocks.HANDLERS`).

Ids and self links have the shapes the GCP APIs return (`projects/<p>/regions/<r>/subnetworks/<n>`),
always in the project and region of the resource's inputs or, failing those, of its provider,
so a resource that used the wrong provider shows it in its outputs. Numbers (project numbers,
unique ids) derive from names, so every run yields the same plan.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any

from cellctl.mocks import HANDLERS, MockContext, digest, fake_project_number

COMPUTE = "https://www.googleapis.com/compute/v1"
_NS_SHARDS = "abcd"


def _number(*parts: str, length: int = 12) -> str:
    """A stable decimal id of `length` digits (no leading zero)."""
    return "1" + str(int(digest(*parts, length=16), 16))[-(length - 1) :].zfill(length - 1)


def _provider_value(ctx: MockContext, key: str) -> Any:
    value = ctx.provider.get(key)
    # Providers receive complex settings JSON-encoded.
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def project(ctx: MockContext) -> str:
    return str(
        ctx.inputs.get("project")
        or _provider_value(ctx, "project")
        or ctx.mocks.ambient.get("gcp:project")
        or "unknown-project"
    )


def region(ctx: MockContext) -> str:
    ambient = ctx.mocks.ambient.get("gcp:region")
    return str(ctx.inputs.get("region") or _provider_value(ctx, "region") or ambient or "us-central1")


def location(ctx: MockContext) -> str:
    return str(ctx.inputs.get("location") or region(ctx))


def name(ctx: MockContext) -> str:
    return str(ctx.inputs.get("name") or ctx.name)


def _labels(ctx: MockContext, key: str = "labels") -> dict[str, Any]:
    """What the provider adds to a labelled resource: its labels merged over the default labels."""
    labels = ctx.inputs.get(key)
    if not isinstance(labels, dict):
        return {}
    defaults = _provider_value(ctx, "defaultLabels")
    merged = {**(defaults if isinstance(defaults, dict) else {}), **labels}
    return {"effectiveLabels": merged, "pulumiLabels": merged}


@HANDLERS.default("gcp")
def default(ctx: MockContext) -> dict[str, Any]:
    return {"project": project(ctx), **_labels(ctx)}


# --- projects, services, IAM -----------------------------------------------------------------


@HANDLERS.resource("gcp:organizations/project:Project")
def gcp_project(ctx: MockContext) -> dict[str, Any]:
    pid = str(ctx.inputs.get("projectId") or ctx.name)
    return {"id": f"projects/{pid}", "projectId": pid, "number": fake_project_number(pid), **_labels(ctx)}


@HANDLERS.resource("gcp:organizations/folder:Folder")
def folder(ctx: MockContext) -> dict[str, Any]:
    folder_name = f"folders/{_number('folder', ctx.name)}"
    return {"id": folder_name, "name": folder_name, "folderId": folder_name.split("/")[1], "lifecycleState": "ACTIVE"}


@HANDLERS.resource("gcp:projects/service:Service")
def service(ctx: MockContext) -> dict[str, Any]:
    return {"id": f"{project(ctx)}/{ctx.inputs.get('service')}", "project": project(ctx)}


@HANDLERS.resource("gcp:projects/iAMMember:IAMMember")
def project_iam_member(ctx: MockContext) -> dict[str, Any]:
    p = project(ctx)
    return {
        "id": f"{p}/{ctx.inputs.get('role')}/{ctx.inputs.get('member')}",
        "project": p,
        "etag": f"BwY{digest('etag', ctx.name, length=9)}=",
    }


@HANDLERS.resource("gcp:projects/iAMCustomRole:IAMCustomRole")
def custom_role(ctx: MockContext) -> dict[str, Any]:
    role = f"projects/{project(ctx)}/roles/{ctx.inputs.get('roleId')}"
    return {"id": role, "name": role, "project": project(ctx), "deleted": False}


@HANDLERS.resource("gcp:serviceaccount/account:Account")
def service_account(ctx: MockContext) -> dict[str, Any]:
    p = project(ctx)
    email = f"{ctx.inputs.get('accountId')}@{p}.iam.gserviceaccount.com"
    return {
        "id": f"projects/{p}/serviceAccounts/{email}",
        "name": f"projects/{p}/serviceAccounts/{email}",
        "email": email,
        "member": f"serviceAccount:{email}",
        "uniqueId": _number("sa", email, length=21),
        "project": p,
    }


#: Domains of Google-managed service agents (`service-<project number>@<domain>`) by API.
SERVICE_AGENT_DOMAINS = {"container.googleapis.com": "container-engine-robot.iam.gserviceaccount.com"}


@HANDLERS.resource("gcp:projects/serviceIdentity:ServiceIdentity")
def service_identity(ctx: MockContext) -> dict[str, Any]:
    """The service agent of an API in a project; most are `service-<number>@gcp-sa-<api>.iam...`."""
    api = str(ctx.inputs.get("service"))
    domain = SERVICE_AGENT_DOMAINS.get(api, f"gcp-sa-{api.split('.', 1)[0]}.iam.gserviceaccount.com")
    email = f"service-{fake_project_number(project(ctx))}@{domain}"
    return {
        "id": f"projects/{project(ctx)}/services/{api}",
        "email": email,
        "member": f"serviceAccount:{email}",
        "project": project(ctx),
    }


# --- network ----------------------------------------------------------------------------------


@HANDLERS.resource("gcp:compute/network:Network")
def network(ctx: MockContext) -> dict[str, Any]:
    rid = f"projects/{project(ctx)}/global/networks/{name(ctx)}"
    return {
        "id": rid,
        "name": name(ctx),
        "selfLink": f"{COMPUTE}/{rid}",
        "numericId": _number("network", rid, length=19),
        "project": project(ctx),
    }


@HANDLERS.resource("gcp:compute/subnetwork:Subnetwork")
def subnetwork(ctx: MockContext) -> dict[str, Any]:
    rid = f"projects/{project(ctx)}/regions/{region(ctx)}/subnetworks/{name(ctx)}"
    cidr = ctx.inputs.get("ipCidrRange")
    gateway = str(next(ipaddress.IPv4Network(cidr).hosts())) if cidr else None
    return {
        "id": rid,
        "name": name(ctx),
        "selfLink": f"{COMPUTE}/{rid}",
        "gatewayAddress": gateway,
        "region": region(ctx),
        "project": project(ctx),
        "subnetworkId": int(_number("subnetwork", rid, length=18)),
    }


@HANDLERS.resource("gcp:compute/router:Router")
def router(ctx: MockContext) -> dict[str, Any]:
    rid = f"projects/{project(ctx)}/regions/{region(ctx)}/routers/{name(ctx)}"
    return {
        "id": rid,
        "name": name(ctx),
        "selfLink": f"{COMPUTE}/{rid}",
        "region": region(ctx),
        "project": project(ctx),
    }


@HANDLERS.resource("gcp:compute/routerNat:RouterNat")
def router_nat(ctx: MockContext) -> dict[str, Any]:
    return {
        "id": f"{project(ctx)}/{region(ctx)}/{ctx.inputs.get('router')}/{name(ctx)}",
        "name": name(ctx),
        "region": region(ctx),
        "project": project(ctx),
    }


# --- KMS --------------------------------------------------------------------------------------


@HANDLERS.resource("gcp:kms/keyRing:KeyRing")
def key_ring(ctx: MockContext) -> dict[str, Any]:
    rid = f"projects/{project(ctx)}/locations/{location(ctx)}/keyRings/{name(ctx)}"
    return {"id": rid, "name": name(ctx), "location": location(ctx), "project": project(ctx)}


@HANDLERS.resource("gcp:kms/cryptoKey:CryptoKey")
def crypto_key(ctx: MockContext) -> dict[str, Any]:
    rid = f"{ctx.inputs.get('keyRing')}/cryptoKeys/{name(ctx)}"
    return {
        "id": rid,
        "name": name(ctx),
        "primaries": [{"name": f"{rid}/cryptoKeyVersions/1", "state": "ENABLED"}],
        **_labels(ctx),
    }


@HANDLERS.resource("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
def crypto_key_iam_member(ctx: MockContext) -> dict[str, Any]:
    return {
        "id": f"{ctx.inputs.get('cryptoKeyId')}/{ctx.inputs.get('role')}/{ctx.inputs.get('member')}",
        "etag": f"BwY{digest('etag', ctx.name, length=9)}=",
    }


# --- GKE --------------------------------------------------------------------------------------


def fake_ca_certificate(cluster_id: str) -> str:
    """Base64 of a PEM-shaped certificate, as GKE's masterAuth.clusterCaCertificate is."""
    body = base64.b64encode(("honeycomb mock CA for " + cluster_id).encode()).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def _public_ip(*parts: str) -> str:
    n = int(digest(*parts, length=6), 16)
    return f"34.{(n >> 16) % 256}.{(n >> 8) % 256}.{n % 254 + 1}"


@HANDLERS.resource("gcp:container/cluster:Cluster")
def cluster(ctx: MockContext) -> dict[str, Any]:
    rid = f"projects/{project(ctx)}/locations/{location(ctx)}/clusters/{name(ctx)}"
    endpoint = _public_ip("gke", rid)
    private = dict(ctx.inputs.get("privateClusterConfig") or {})
    if private.get("enablePrivateNodes"):
        private.update({"privateEndpoint": f"172.16.{int(digest('gke-private', rid, length=2), 16) % 256}.2"})
        private.setdefault("publicEndpoint", endpoint)
    endpoints = dict(ctx.inputs.get("controlPlaneEndpointsConfig") or {})
    endpoints["dnsEndpointConfig"] = {
        **(endpoints.get("dnsEndpointConfig") or {}),
        "endpoint": f"gke-{digest('dns', rid, length=32)}-{fake_project_number(project(ctx))}.{location(ctx)}.gke.goog",
    }
    return {
        "id": rid,
        "name": name(ctx),
        "location": location(ctx),
        "project": project(ctx),
        "endpoint": private.get("privateEndpoint", endpoint) if private.get("enablePrivateEndpoint") else endpoint,
        "controlPlaneEndpointsConfig": endpoints,
        "selfLink": f"https://container.googleapis.com/v1/{rid}",
        "masterVersion": "1.33.5-gke.1000000",
        "labelFingerprint": digest("labels", rid),
        "masterAuth": {
            "clusterCaCertificate": fake_ca_certificate(rid),
            "clientCertificateConfig": {"issueClientCertificate": False},
        },
        "privateClusterConfig": private or None,
        **_labels(ctx, "resourceLabels"),
    }


@HANDLERS.resource("gcp:container/nodePool:NodePool")
def node_pool(ctx: MockContext) -> dict[str, Any]:
    cluster_name = ctx.inputs.get("cluster")
    rid = f"projects/{project(ctx)}/locations/{location(ctx)}/clusters/{cluster_name}/nodePools/{name(ctx)}"
    return {
        "id": rid,
        "name": name(ctx),
        "location": location(ctx),
        "project": project(ctx),
        "version": "1.33.5-gke.1000000",
        "instanceGroupUrls": [
            f"{COMPUTE}/projects/{project(ctx)}/zones/{location(ctx)}-{zone}/instanceGroupManagers/"
            f"gke-{cluster_name}-{name(ctx)}-{digest(rid, zone)}-grp"
            for zone in "bcd"
        ],
    }


# --- DNS and monitoring ----------------------------------------------------------------------


@HANDLERS.resource("gcp:dns/managedZone:ManagedZone")
def managed_zone(ctx: MockContext) -> dict[str, Any]:
    rid = f"projects/{project(ctx)}/managedZones/{name(ctx)}"
    shard = int(digest("zone", rid, length=2), 16) % 5 + 1
    return {
        "id": rid,
        "name": name(ctx),
        "project": project(ctx),
        "managedZoneId": int(_number("zone", rid, length=19)),
        "nameServers": [f"ns-cloud-{letter}{shard}.googledomains.com." for letter in _NS_SHARDS],
        "creationTime": "2026-01-01T00:00:00.000Z",
        **_labels(ctx),
    }


@HANDLERS.resource("gcp:monitoring/alertPolicy:AlertPolicy")
def alert_policy(ctx: MockContext) -> dict[str, Any]:
    policy = f"projects/{project(ctx)}/alertPolicies/{_number('alert', project(ctx), ctx.name, length=20)}"
    conditions = [
        {**c, "name": f"{policy}/conditions/{_number('condition', policy, str(i), length=20)}"}
        for i, c in enumerate(ctx.inputs.get("conditions") or [])
    ]
    return {"id": policy, "name": policy, "project": project(ctx), "conditions": conditions}


@HANDLERS.resource("gcp:monitoring/notificationChannel:NotificationChannel")
def notification_channel(ctx: MockContext) -> dict[str, Any]:
    channel = f"projects/{project(ctx)}/notificationChannels/{_number('channel', project(ctx), ctx.name, length=19)}"
    return {"id": channel, "name": channel, "project": project(ctx), "verificationStatus": "VERIFIED"}


@HANDLERS.resource("gcp:monitoring/monitoredProject:MonitoredProject")
def monitored_project(ctx: MockContext) -> dict[str, Any]:
    scope = str(ctx.inputs.get("metricsScope", "")).rsplit("/", 1)[-1]
    monitored = f"locations/global/metricsScopes/{scope}/projects/{ctx.inputs.get('name')}"
    return {"id": monitored, "createTime": "2026-01-01T00:00:00Z"}


# --- Cloud Storage (the registry's copies) ----------------------------------------------------


@HANDLERS.resource("gcp:storage/bucket:Bucket")
def storage_bucket(ctx: MockContext) -> dict[str, Any]:
    bucket = name(ctx)
    return {
        "id": bucket,
        "project": project(ctx),
        "location": str(ctx.inputs.get("location", "US")).upper(),
        "url": f"gs://{bucket}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}",
        **_labels(ctx),
    }


@HANDLERS.resource("gcp:storage/bucketObject:BucketObject")
def storage_bucket_object(ctx: MockContext) -> dict[str, Any]:
    bucket, key = ctx.inputs.get("bucket"), ctx.inputs.get("name")
    return {
        "id": f"{bucket}-{key}",
        "outputName": key,
        "generation": int(_number("generation", ctx.name, length=16)),
        "md5hash": f"{digest('md5', ctx.name, length=22)}==",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{key}",
        "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{key}?alt=media",
    }


@HANDLERS.resource("gcp:storage/bucketIAMMember:BucketIAMMember")
def storage_bucket_iam_member(ctx: MockContext) -> dict[str, Any]:
    return {
        "id": f"b/{ctx.inputs.get('bucket')}/{ctx.inputs.get('role')}/{ctx.inputs.get('member')}",
        "etag": f"CAE{digest('etag', ctx.name, length=6)}=",
    }
