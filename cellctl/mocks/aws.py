"""Mock outputs of aws resources and calls (registered in `cellctl.mocks.HANDLERS`).

Outputs look like AWS's: ids with the real prefixes (`vpc-`, `subnet-`, `nat-`), ARNs in the
account of the role the resource's provider assumes and in the provider's (or the resource's
own `region`) region, EKS endpoints and certificate data, Route53 name servers. Everything is
derived from names and inputs, so two runs of the same program give the same outputs. Types
without a handler get an ARN and `tagsAll` from the package default.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from cellctl.mocks import HANDLERS, MockContext, digest, fake_account_id, generic

#: Account of resources whose provider assumes no role (a default provider or ambient credentials).
AMBIENT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
#: Availability zones a mock region offers; real regions have three to six.
ZONE_LETTERS = {"us-east-1": "abcdef", "us-west-1": "ab"}


# --- provider context -----------------------------------------------------------------------


def _decoded(value: Any) -> Any:
    """Provider inputs of object type reach the mocks JSON-encoded; decode them when they are."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def assumed_role_arn(provider: dict[str, Any]) -> str | None:
    """The role ARN a provider assumes (the first of `assumeRoles`, or the legacy `assumeRole`)."""
    roles = _decoded(provider.get("assumeRoles"))
    if isinstance(roles, dict):
        roles = [roles]
    if not roles:
        roles = [_decoded(provider.get("assumeRole"))] if provider.get("assumeRole") else []
    for role in roles or []:
        if isinstance(role, dict):
            arn = role.get("roleArn") or role.get("role_arn")
            if arn:
                return str(arn)
    return None


def account_of(ctx: MockContext) -> str:
    arn = assumed_role_arn(ctx.provider)
    if arn:
        parts = arn.split(":")
        if len(parts) > 4 and parts[4]:
            return parts[4]
    allowed = _decoded(ctx.provider.get("allowedAccountIds"))
    if isinstance(allowed, list) and allowed:
        return str(allowed[0])
    return ctx.mocks.ambient.get("aws:account", AMBIENT_ACCOUNT)


def region_of(ctx: MockContext) -> str:
    return str(
        ctx.inputs.get("region") or ctx.provider.get("region") or ctx.mocks.ambient.get("aws:region") or DEFAULT_REGION
    )


def partition_of(ctx: MockContext) -> str:
    region = region_of(ctx)
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def default_tags(ctx: MockContext) -> dict[str, str]:
    tags = _decoded(ctx.provider.get("defaultTags"))
    if isinstance(tags, dict) and isinstance(tags.get("tags"), dict):
        return {str(k): str(v) for k, v in tags["tags"].items()}
    return {}


def arn(ctx: MockContext, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
    return (
        f"arn:{partition_of(ctx)}:{service}:{region_of(ctx) if region else ''}:"
        f"{account_of(ctx) if account else ''}:{resource}"
    )


def hex_id(prefix: str, ctx: MockContext, length: int = 17) -> str:
    """An id like AWS's (`vpc-0a1b2c3d4e5f60718`), stable per type, name and account."""
    return f"{prefix}-{digest(prefix, ctx.token, ctx.name, account_of(ctx), length=length)}"


def uuid(ctx: MockContext, salt: str = "") -> str:
    h = digest(ctx.token, ctx.name, account_of(ctx), salt, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def physical_name(ctx: MockContext, key: str = "name") -> str:
    """The resource's name input, or what Pulumi's auto-naming would make (name plus a suffix)."""
    return str(ctx.inputs.get(key) or f"{ctx.name}-{digest(ctx.name, length=7)}")


def with_tags(ctx: MockContext) -> dict[str, Any]:
    """`tagsAll`: the provider's default tags under the resource's own."""
    own = ctx.inputs.get("tags") or {}
    return {"tagsAll": {**default_tags(ctx), **own}}


@HANDLERS.default("aws")
def any_aws_resource(ctx: MockContext) -> dict[str, Any]:
    """Unknown aws types: an ARN from the type token (aws:<module>/<type>:<Type>) when the type has one, tagsAll."""
    module = ctx.token.split(":")[1].split("/")[0] if ":" in ctx.token else "aws"
    kind = ctx.token.rsplit(":", 1)[-1].lower()
    outputs: dict[str, Any] = {}
    if generic.has_output(ctx.token, "arn") is not False:
        outputs["arn"] = ctx.inputs.get("arn") or arn(ctx, module, f"{kind}/{physical_name(ctx)}")
    if "tags" in ctx.inputs:
        outputs.update(with_tags(ctx))
    return outputs


# --- EC2 / VPC ------------------------------------------------------------------------------


def _ec2(prefix: str, kind: str, ctx: MockContext, **extra: Any) -> dict[str, Any]:
    rid = hex_id(prefix, ctx)
    return {"id": rid, "arn": arn(ctx, "ec2", f"{kind}/{rid}"), "ownerId": account_of(ctx), **with_tags(ctx), **extra}


@HANDLERS.resource("aws:ec2/vpc:Vpc")
def vpc(ctx: MockContext) -> dict[str, Any]:
    return _ec2(
        "vpc",
        "vpc",
        ctx,
        defaultSecurityGroupId=hex_id("sg", ctx),
        defaultNetworkAclId=hex_id("acl", ctx),
        defaultRouteTableId=hex_id("rtb", ctx),
        mainRouteTableId=hex_id("rtb", ctx),
        dhcpOptionsId=hex_id("dopt", ctx),
        instanceTenancy="default",
    )


@HANDLERS.resource("aws:ec2/subnet:Subnet")
def subnet(ctx: MockContext) -> dict[str, Any]:
    zone = str(ctx.inputs.get("availabilityZone") or f"{region_of(ctx)}a")
    return _ec2("subnet", "subnet", ctx, availabilityZoneId=f"{zone_id_prefix(region_of(ctx))}-az{ord(zone[-1]) - 96}")


@HANDLERS.resource("aws:ec2/internetGateway:InternetGateway")
def internet_gateway(ctx: MockContext) -> dict[str, Any]:
    return _ec2("igw", "internet-gateway", ctx)


@HANDLERS.resource("aws:ec2/eip:Eip")
def eip(ctx: MockContext) -> dict[str, Any]:
    n = int(digest(ctx.name, account_of(ctx), length=6), 16)
    ip = f"52.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    rid = hex_id("eipalloc", ctx)
    return {
        "id": rid,
        "allocationId": rid,
        "publicIp": ip,
        "arn": arn(ctx, "ec2", f"elastic-ip/{rid}"),
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:ec2/natGateway:NatGateway")
def nat_gateway(ctx: MockContext) -> dict[str, Any]:
    n = int(digest(ctx.name, length=4), 16)
    return _ec2(
        "nat", "natgateway", ctx, privateIp=f"10.0.{n >> 8 & 255}.{n & 255}", networkInterfaceId=hex_id("eni", ctx)
    )


@HANDLERS.resource("aws:ec2/routeTable:RouteTable")
def route_table(ctx: MockContext) -> dict[str, Any]:
    return _ec2("rtb", "route-table", ctx)


@HANDLERS.resource("aws:ec2/route:Route")
def route(ctx: MockContext) -> dict[str, Any]:
    return {"id": f"r-{ctx.inputs.get('routeTableId', 'rtb')}{digest(ctx.name, length=8)}", "state": "active"}


@HANDLERS.resource("aws:ec2/routeTableAssociation:RouteTableAssociation")
def route_table_association(ctx: MockContext) -> dict[str, Any]:
    return {"id": hex_id("rtbassoc", ctx)}


@HANDLERS.resource("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "aws:ec2/securityGroup:SecurityGroup")
def security_group(ctx: MockContext) -> dict[str, Any]:
    return _ec2("sg", "security-group", ctx, name=ctx.inputs.get("name") or "default")


@HANDLERS.resource("aws:ec2/flowLog:FlowLog")
def flow_log(ctx: MockContext) -> dict[str, Any]:
    return _ec2("fl", "vpc-flow-log", ctx)


# --- IAM, KMS, logs -------------------------------------------------------------------------


@HANDLERS.resource("aws:iam/role:Role")
def iam_role(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    path = ctx.inputs.get("path") or "/"
    return {
        "id": name,
        "name": name,
        "arn": arn(ctx, "iam", f"role{path}{name}", region=False),
        "uniqueId": "AROA" + digest(ctx.name, account_of(ctx), length=17).upper(),
        "createDate": "2026-01-01T00:00:00Z",
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:iam/policy:Policy")
def iam_policy(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    policy_arn = arn(ctx, "iam", f"policy{ctx.inputs.get('path') or '/'}{name}", region=False)
    return {"id": policy_arn, "name": name, "arn": policy_arn, "policyId": "ANPA" + digest(name, length=17).upper()}


@HANDLERS.resource("aws:iam/rolePolicy:RolePolicy")
def iam_role_policy(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    return {"id": f"{ctx.inputs.get('role')}:{name}", "name": name}


@HANDLERS.resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def iam_role_policy_attachment(ctx: MockContext) -> dict[str, Any]:
    return {"id": f"{ctx.inputs.get('role')}-{digest(str(ctx.inputs.get('policyArn')), length=8)}"}


@HANDLERS.resource("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
def iam_oidc_provider(ctx: MockContext) -> dict[str, Any]:
    # IAM names a provider after its issuer's host and path: arn:aws:iam::<account>:oidc-provider/<host>
    host = str(ctx.inputs.get("url") or "").removeprefix("https://")
    provider_arn = arn(ctx, "iam", f"oidc-provider/{host}", region=False)
    return {"id": provider_arn, "arn": provider_arn, **with_tags(ctx)}


@HANDLERS.resource("aws:kms/key:Key")
def kms_key(ctx: MockContext) -> dict[str, Any]:
    key_id = uuid(ctx)
    return {"id": key_id, "keyId": key_id, "arn": arn(ctx, "kms", f"key/{key_id}"), **with_tags(ctx)}


@HANDLERS.resource("aws:kms/alias:Alias")
def kms_alias(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    return {
        "id": name,
        "arn": arn(ctx, "kms", name),
        "targetKeyArn": arn(ctx, "kms", f"key/{ctx.inputs.get('targetKeyId')}"),
    }


@HANDLERS.resource("aws:cloudwatch/logGroup:LogGroup")
def log_group(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    return {"id": name, "name": name, "arn": arn(ctx, "logs", f"log-group:{name}"), **with_tags(ctx)}


# --- EKS ------------------------------------------------------------------------------------


def _certificate(ctx: MockContext) -> str:
    body = base64.b64encode(bytes.fromhex(digest("ca", ctx.name, account_of(ctx), length=64)) * 8).decode()
    pem = "-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


@HANDLERS.resource("aws:eks/cluster:Cluster")
def eks_cluster(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    region = region_of(ctx)
    endpoint_id = digest("eks", name, account_of(ctx), region, length=32).upper()
    vpc_config = dict(ctx.inputs.get("vpcConfig") or {})
    vpc_config.setdefault("endpointPrivateAccess", False)
    vpc_config.setdefault("endpointPublicAccess", True)
    vpc_config.update(clusterSecurityGroupId=hex_id("sg", ctx), vpcId=hex_id("vpc", ctx))
    return {
        "id": name,
        "name": name,
        "arn": arn(ctx, "eks", f"cluster/{name}"),
        "endpoint": f"https://{endpoint_id}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": _certificate(ctx)},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{endpoint_id}"}]}],
        "vpcConfig": vpc_config,
        "version": ctx.inputs.get("version") or "1.33",
        "platformVersion": "eks.1",
        "status": "ACTIVE",
        "clusterId": uuid(ctx),
        "createdAt": "2026-01-01T00:00:00Z",
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:eks/nodeGroup:NodeGroup")
def eks_node_group(ctx: MockContext) -> dict[str, Any]:
    cluster = ctx.inputs.get("clusterName") or "cluster"
    name = physical_name(ctx, "nodeGroupName")
    group_uuid = uuid(ctx)
    return {
        "id": f"{cluster}:{name}",
        "nodeGroupName": name,
        "arn": arn(ctx, "eks", f"nodegroup/{cluster}/{name}/{group_uuid}"),
        "status": "ACTIVE",
        "version": "1.33",
        "releaseVersion": "1.33.0-20260101",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{name}-{group_uuid}"}], "remoteAccessSecurityGroupId": ""}],
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:eks/accessEntry:AccessEntry")
def eks_access_entry(ctx: MockContext) -> dict[str, Any]:
    principal = str(ctx.inputs.get("principalArn") or "")
    return {
        "id": f"{ctx.inputs.get('clusterName')}:{principal}",
        "accessEntryArn": arn(ctx, "eks", f"access-entry/{ctx.inputs.get('clusterName')}/{uuid(ctx)}"),
        "userName": principal,
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
def eks_access_policy_association(ctx: MockContext) -> dict[str, Any]:
    inputs = ctx.inputs
    return {"id": f"{inputs.get('clusterName')}#{inputs.get('principalArn')}#{inputs.get('policyArn')}"}


@HANDLERS.resource("aws:eks/podIdentityAssociation:PodIdentityAssociation")
def eks_pod_identity_association(ctx: MockContext) -> dict[str, Any]:
    """EKS names an association `a-` plus 17 lowercase characters; the provider's id is `<cluster>,<id>`."""
    cluster = ctx.inputs.get("clusterName")
    association = "a-" + digest("pod-identity", str(cluster), ctx.name, length=17)
    return {
        "id": f"{cluster},{association}",
        "associationId": association,
        "associationArn": arn(ctx, "eks", f"podidentityassociation/{cluster}/{association}"),
        **with_tags(ctx),
    }


# --- Route53, OAM, CloudWatch ---------------------------------------------------------------


@HANDLERS.resource("aws:route53/zone:Zone")
def route53_zone(ctx: MockContext) -> dict[str, Any]:
    zone_id = "Z" + digest("zone", str(ctx.inputs.get("name")), account_of(ctx), length=20).upper()
    n = int(digest("ns", zone_id, length=8), 16)
    name_servers = [
        f"ns-{n % 512}.awsdns-{n % 64:02d}.com",
        f"ns-{512 + n % 512}.awsdns-{(n >> 6) % 64:02d}.net",
        f"ns-{1024 + n % 512}.awsdns-{(n >> 12) % 64:02d}.org",
        f"ns-{1536 + n % 512}.awsdns-{(n >> 18) % 64:02d}.co.uk",
    ]
    return {
        "id": zone_id,
        "zoneId": zone_id,
        "arn": f"arn:{partition_of(ctx)}:route53:::hostedzone/{zone_id}",
        "nameServers": name_servers,
        "primaryNameServer": name_servers[0],
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:route53/record:Record")
def route53_record(ctx: MockContext) -> dict[str, Any]:
    name = str(ctx.inputs.get("name") or ctx.name).rstrip(".")
    return {"id": f"{ctx.inputs.get('zoneId')}_{name}_{ctx.inputs.get('type')}", "fqdn": name}


@HANDLERS.resource("aws:oam/link:Link")
def oam_link(ctx: MockContext) -> dict[str, Any]:
    link_id = uuid(ctx)
    label = str(ctx.inputs.get("labelTemplate") or "").replace("$AccountName", f"account-{account_of(ctx)}")
    return {
        "id": arn(ctx, "oam", f"link/{link_id}"),
        "arn": arn(ctx, "oam", f"link/{link_id}"),
        "linkId": link_id,
        "label": label.replace("$AccountEmail", f"{account_of(ctx)}@example.com"),
        "sinkArn": ctx.inputs.get("sinkIdentifier"),
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:cloudwatch/metricAlarm:MetricAlarm")
def metric_alarm(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    return {"id": name, "name": name, "arn": arn(ctx, "cloudwatch", f"alarm:{name}"), **with_tags(ctx)}


@HANDLERS.resource("aws:cloudwatch/compositeAlarm:CompositeAlarm")
def composite_alarm(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx, "alarmName")
    return {"id": name, "alarmName": name, "arn": arn(ctx, "cloudwatch", f"alarm:{name}"), **with_tags(ctx)}


# --- CloudFront, ACM (the router) -------------------------------------------------------------

#: The hosted zone every CloudFront distribution's domain name lives in (alias records target it).
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"


def _global_arn(ctx: MockContext, service: str, resource: str) -> str:
    """CloudFront ARNs name the account but no region: arn:aws:cloudfront::<account>:<resource>."""
    return arn(ctx, service, resource, region=False)


def _etag(ctx: MockContext, *salt: str) -> str:
    return "E" + digest("etag", ctx.name, *salt, length=13).upper()


@HANDLERS.resource("aws:cloudfront/keyValueStore:KeyValueStore")
def cloudfront_key_value_store(ctx: MockContext) -> dict[str, Any]:
    # The provider's id is the store's name (key_value_store.go `setID`: "API response has a field named
    # 'Id' which isn't the resource's ID"); its ARN ends with the store's own id, a UUID.
    name = physical_name(ctx)
    return {
        "id": name,
        "name": name,
        "arn": _global_arn(ctx, "cloudfront", f"key-value-store/{uuid(ctx)}"),
        "etag": _etag(ctx),
        "lastModifiedTime": "2026-01-01T00:00:00Z",
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey")
def cloudfront_keyvaluestore_key(ctx: MockContext) -> dict[str, Any]:
    key, value = str(ctx.inputs.get("key") or ""), str(ctx.inputs.get("value") or "")
    store = str(ctx.inputs.get("keyValueStoreArn"))
    # PutKey answers the whole store's size ("Total size of the Key Value Store in bytes"), keys and values.
    ctx.mocks.kvs_bytes[store] = ctx.mocks.kvs_bytes.get(store, 0) + len(key.encode()) + len(value.encode())
    return {"id": f"{store},{key}", "totalSizeInBytes": ctx.mocks.kvs_bytes[store]}


@HANDLERS.resource("aws:cloudfront/function:Function")
def cloudfront_function(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    published = ctx.inputs.get("publish", True) is not False
    return {
        "id": name,
        "name": name,
        "arn": _global_arn(ctx, "cloudfront", f"function/{name}"),
        "etag": _etag(ctx, "DEVELOPMENT"),
        "liveStageEtag": _etag(ctx, "LIVE") if published else "",
        "status": "UNASSOCIATED",
        "publish": published,
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:cloudfront/distribution:Distribution")
def cloudfront_distribution(ctx: MockContext) -> dict[str, Any]:
    dist_id = "E" + digest("distribution", ctx.name, account_of(ctx), length=13).upper()
    return {
        "id": dist_id,
        "arn": _global_arn(ctx, "cloudfront", f"distribution/{dist_id}"),
        "domainName": f"d{digest('domain', dist_id, length=13)}.cloudfront.net",
        "hostedZoneId": CLOUDFRONT_ZONE_ID,
        "etag": _etag(ctx),
        "status": "Deployed",
        "callerReference": f"terraform-{digest('caller', dist_id, length=20)}",
        "inProgressValidationBatches": 0,
        "lastModifiedTime": "2026-01-01 00:00:00 +0000 UTC",
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:acm/certificate:Certificate")
def acm_certificate(ctx: MockContext) -> dict[str, Any]:
    """An ACM certificate asking for DNS validation: one CNAME per name, as ACM words them."""
    cert_arn = arn(ctx, "acm", f"certificate/{uuid(ctx)}")
    alternatives = [str(n) for n in ctx.inputs.get("subjectAlternativeNames") or []]
    names = [str(ctx.inputs.get("domainName") or ""), *alternatives]
    options = [
        {
            "domainName": n,
            "resourceRecordName": f"_{digest('acm-name', n, length=32)}.{n}.",
            "resourceRecordType": "CNAME",
            "resourceRecordValue": f"_{digest('acm-value', n, cert_arn, length=32)}.{digest(n, length=10)}"
            ".acm-validations.aws.",
        }
        for n in dict.fromkeys(names)
        if n
    ]
    return {
        "id": cert_arn,
        "arn": cert_arn,
        "domainValidationOptions": options,
        "status": "PENDING_VALIDATION",
        "type": "AMAZON_ISSUED",
        "keyAlgorithm": ctx.inputs.get("keyAlgorithm") or "RSA_2048",
        "validationMethod": ctx.inputs.get("validationMethod") or "DNS",
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:acm/certificateValidation:CertificateValidation")
def acm_certificate_validation(ctx: MockContext) -> dict[str, Any]:
    # The provider's id is the time validation finished; its output is the certificate's ARN.
    return {"id": "2026-01-01 00:00:00 +0000 UTC", "certificateArn": ctx.inputs.get("certificateArn")}


# --- calls ----------------------------------------------------------------------------------

_ZONE_ID_PREFIX = re.compile(r"^([a-z]{2})-?([a-z]+)-(\d+)$")


def zone_id_prefix(region: str) -> str:
    """AWS's short zone-id prefix: us-east-1 -> use1, eu-west-1 -> euw1."""
    m = _ZONE_ID_PREFIX.match(region)
    if not m:
        return region.replace("-", "")
    area, direction, number = m.groups()
    short = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c", "northeast": "ne"}
    return f"{area}{short.get(direction, direction[:2])}{number}"


@HANDLERS.call("aws:index/getAvailabilityZones:getAvailabilityZones")
def get_availability_zones(ctx: MockContext) -> dict[str, Any]:
    region = region_of(ctx)
    letters = ZONE_LETTERS.get(region, "abc")
    prefix = zone_id_prefix(region)
    return {
        "id": region,
        "names": [f"{region}{letter}" for letter in letters],
        "zoneIds": [f"{prefix}-az{i + 1}" for i in range(len(letters))],
        "groupNames": [region] * len(letters),
        "state": ctx.inputs.get("state"),
    }


@HANDLERS.call("aws:index/getCallerIdentity:getCallerIdentity")
def get_caller_identity(ctx: MockContext) -> dict[str, Any]:
    account = account_of(ctx)
    role = assumed_role_arn(ctx.provider)
    if role:
        role_name = role.rsplit("/", 1)[-1]
        caller = f"arn:{partition_of(ctx)}:sts::{account}:assumed-role/{role_name}/honeycomb"
        user_id = "AROA" + digest(role, length=17).upper() + ":honeycomb"
    else:
        caller = f"arn:{partition_of(ctx)}:iam::{account}:user/honeycomb"
        user_id = "AIDA" + digest(account, length=17).upper()
    return {"id": account, "accountId": account, "arn": caller, "userId": user_id}


def identity_center_roles(ctx: MockContext) -> list[tuple[str, str]]:
    """(path, name) of the permission-set roles IAM Identity Center keeps in the provider's account:
    one per permission set the registry assigns to the cell of that account, at Identity Center's
    path (with the region segment unless Identity Center is in us-east-1, the first allowed region
    here), each with a 16-hex suffix. The account's cell is the one its provider tags resources with
    (or whose account it is). No cell, no assignments: no roles, like a real account."""
    from stacks.identity_center import permission_sets_of

    account = account_of(ctx)
    tagged = default_tags(ctx).get("cell")
    home = ctx.registry.organization.aws.allowed_regions[0]
    path = "/aws-reserved/sso.amazonaws.com/" + ("" if home == "us-east-1" else f"{home}/")
    for cell in ctx.registry.aws_cells:
        if cell.name == tagged or (cell.account_id or fake_account_id(cell.name)) == account:
            return [
                (path, f"AWSReservedSSO_{ps}_{digest('sso-role', account, ps, length=16)}")
                for ps in permission_sets_of(ctx.registry, cell)
            ]
    return []


@HANDLERS.call("aws:iam/getRoles:getRoles")
def get_roles(ctx: MockContext) -> dict[str, Any]:
    """IAM's ListRoles filtered as the data source does: path prefix, then the name regex."""
    prefix = str(ctx.inputs.get("pathPrefix") or "/")
    pattern = re.compile(str(ctx.inputs.get("nameRegex") or ".*"))
    roles = [(p, n) for p, n in identity_center_roles(ctx) if p.startswith(prefix) and pattern.search(n)]
    return {
        "id": account_of(ctx),
        "arns": [arn(ctx, "iam", f"role{p}{n}", region=False) for p, n in roles],
        "names": [n for _, n in roles],
        "nameRegex": ctx.inputs.get("nameRegex"),
        "pathPrefix": ctx.inputs.get("pathPrefix"),
    }


@HANDLERS.call("aws:index/getPartition:getPartition")
def get_partition(ctx: MockContext) -> dict[str, Any]:
    partition = partition_of(ctx)
    suffix = {"aws-cn": "amazonaws.com.cn"}.get(partition, "amazonaws.com")
    return {
        "id": partition,
        "partition": partition,
        "dnsSuffix": suffix,
        "reverseDnsPrefix": ".".join(reversed(suffix.split("."))),
    }


@HANDLERS.call("aws:index/getRegion:getRegion")
def get_region(ctx: MockContext) -> dict[str, Any]:
    region = region_of(ctx)
    return {"id": region, "name": region, "region": region, "endpoint": f"ec2.{region}.amazonaws.com"}
