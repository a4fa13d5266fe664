"""Mock outputs of what application programs commonly create in a cell (registered in `HANDLERS`).

Honeycomb's own stacks do not create these, but the programs application teams plan with
`cellctl plan --program` do: EC2 instances and the AMI lookup that feeds them, load balancers,
S3 static-website configuration. Each gets the outputs a program typically reads (instance ids
and addresses, a load balancer's DNS name and zone, a website endpoint) in the shapes AWS uses,
so such a program runs to the end instead of failing on a `None`.
"""

from __future__ import annotations

from typing import Any

from cellctl.mocks import HANDLERS, MockContext, digest
from cellctl.mocks.aws import account_of, arn, hex_id, physical_name, region_of, with_tags

#: Regions whose S3 website endpoint is `s3-website-<region>`; the others use `s3-website.<region>`.
WEBSITE_DASH_REGIONS = frozenset(
    {
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
        "us-gov-west-1",
    }
)
#: Route53 hosted zone ids of Elastic Load Balancing per region (ALB/CLB; NLB has its own).
ELB_ZONE_IDS = {"us-east-1": "Z35SXDOTRQ7X7K", "us-west-2": "Z1H1FL5HABSF5", "eu-west-1": "Z32O12XQLNTSW2"}
NLB_ZONE_IDS = {"us-east-1": "Z26RNL4JYFTOTI", "us-west-2": "Z18D5FSROUN65G", "eu-west-1": "Z2IFOLAFXWLO4F"}


def _host(ctx: MockContext, salt: str) -> tuple[str, int]:
    """A stable 32-bit number per resource, and the private IP it makes in the default VPC (172.31.0.0/16)."""
    n = int(digest(salt, ctx.token, ctx.name, account_of(ctx), length=8), 16)
    return f"172.31.{n >> 8 & 255}.{n & 255 or 1}", n


def _ec2_dns(ip: str, region: str, *, public: bool) -> str:
    dashed = ip.replace(".", "-")
    if region == "us-east-1":
        return f"ec2-{dashed}.compute-1.amazonaws.com" if public else f"ip-{dashed}.ec2.internal"
    return f"ec2-{dashed}.{region}.compute.amazonaws.com" if public else f"ip-{dashed}.{region}.compute.internal"


@HANDLERS.resource("aws:ec2/instance:Instance")
def ec2_instance(ctx: MockContext) -> dict[str, Any]:
    region = region_of(ctx)
    instance_id = hex_id("i", ctx)
    private_ip, n = _host(ctx, "instance")
    zone = str(ctx.inputs.get("availabilityZone") or f"{region}a")
    outputs: dict[str, Any] = {
        "id": instance_id,
        "arn": arn(ctx, "ec2", f"instance/{instance_id}"),
        "instanceState": "running",
        "availabilityZone": zone,
        "privateIp": ctx.inputs.get("privateIp") or private_ip,
        "privateDns": _ec2_dns(private_ip, region, public=False),
        "primaryNetworkInterfaceId": hex_id("eni", ctx),
        "subnetId": ctx.inputs.get("subnetId") or hex_id("subnet", ctx),
        "ownerId": account_of(ctx),
        **with_tags(ctx),
    }
    # Default-VPC subnets (no subnet given) map a public IP on launch; a chosen subnet only when asked.
    public = ctx.inputs.get("associatePublicIpAddress")
    if public is True or (public is None and not ctx.inputs.get("subnetId")):
        public_ip = f"54.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255 or 1}"
        outputs.update(publicIp=public_ip, publicDns=_ec2_dns(public_ip, region, public=True))
    else:
        outputs.update(publicIp="", publicDns="")
    return outputs


@HANDLERS.call("aws:ec2/getAmi:getAmi")
def get_ami(ctx: MockContext) -> dict[str, Any]:
    image_id = hex_id("ami", ctx)
    names = [f.get("values", [None])[0] for f in ctx.inputs.get("filters") or [] if f.get("name") == "name"]
    name = str(names[0] or "al2023-ami-2023.6.20260101.0-kernel-6.1-x86_64").replace("*", "2023.6.20260101.0")
    return {
        "id": image_id,
        "imageId": image_id,
        "arn": f"arn:aws:ec2:{region_of(ctx)}::image/{image_id}",
        "name": name,
        "architecture": "arm64" if "arm64" in name else "x86_64",
        "ownerId": "137112412989",  # Amazon's own AMIs
        "rootDeviceName": "/dev/xvda",
        "rootDeviceType": "ebs",
        "virtualizationType": "hvm",
        "state": "available",
        "mostRecent": ctx.inputs.get("mostRecent"),
        "owners": ctx.inputs.get("owners"),
    }


def _lb_dns(ctx: MockContext, name: str, *, internal: bool) -> str:
    prefix = "internal-" if internal else ""
    number = int(digest("lb", name, account_of(ctx), length=8), 16) % 10**10
    return f"{prefix}{name[:32]}-{number}.{region_of(ctx)}.elb.amazonaws.com"


@HANDLERS.resource("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
def load_balancer(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    kind = str(ctx.inputs.get("loadBalancerType") or "application")
    short = {"application": "app", "network": "net", "gateway": "gwy"}.get(kind, "app")
    lb_arn = arn(ctx, "elasticloadbalancing", f"loadbalancer/{short}/{name}/{digest('lbid', name, length=16)}")
    zones = NLB_ZONE_IDS if kind == "network" else ELB_ZONE_IDS
    return {
        "id": lb_arn,
        "arn": lb_arn,
        "arnSuffix": lb_arn.split(":loadbalancer/", 1)[1],
        "name": name,
        "dnsName": _lb_dns(ctx, name, internal=bool(ctx.inputs.get("internal"))),
        "zoneId": zones.get(region_of(ctx), "Z35SXDOTRQ7X7K"),
        "vpcId": hex_id("vpc", ctx),
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:elb/loadBalancer:LoadBalancer")
def classic_load_balancer(ctx: MockContext) -> dict[str, Any]:
    name = physical_name(ctx)
    return {
        "id": name,
        "name": name,
        "arn": arn(ctx, "elasticloadbalancing", f"loadbalancer/{name}"),
        "dnsName": _lb_dns(ctx, name, internal=bool(ctx.inputs.get("internal"))),
        "zoneId": ELB_ZONE_IDS.get(region_of(ctx), "Z35SXDOTRQ7X7K"),
        "sourceSecurityGroupId": hex_id("sg", ctx),
        **with_tags(ctx),
    }


@HANDLERS.resource("aws:s3/bucketWebsiteConfiguration:BucketWebsiteConfiguration")
def bucket_website(ctx: MockContext) -> dict[str, Any]:
    region = region_of(ctx)
    domain = f"s3-website{'-' if region in WEBSITE_DASH_REGIONS else '.'}{region}.amazonaws.com"
    bucket = str(ctx.inputs.get("bucket") or ctx.name)
    return {"id": bucket, "websiteDomain": domain, "websiteEndpoint": f"{bucket}.{domain}"}
