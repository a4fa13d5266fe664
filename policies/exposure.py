"""Rule 5: nothing is open to the internet by accident.

`s3-bucket-security` (stack rule, because AWS provider v7 configures a bucket through separate
resources): every S3 bucket has a public access block with all four settings on (or the
account-wide block) and server-side encryption configured, and no public canned ACL.

`security-group-ingress`: no security group (rule) or GCP firewall opens a port other than
80/443 to 0.0.0.0/0 or ::/0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import ReportViolation

from policies.base import MANDATORY, UNKNOWN, WORLD, Context, View, as_list, get, known, resource_rule, stack_rule

BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_BLOCK_TYPE = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
SSE_TYPES = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
BLOCK_SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
WEB_PORTS = frozenset({80, 443})


def _targets(resource: View, bucket: View) -> bool:
    """Whether a bucket-configuring resource configures `bucket`: by dependency, or by bucket name."""
    if resource.depends_on(bucket):
        return True
    target = resource.props.get("bucket")
    names = {bucket.props.get("bucket"), bucket.props.get("id")}
    return known(target) and target in names


def _blocks_everything(resource: View) -> bool | None:
    values = [resource.props.get(key) for key in BLOCK_SETTINGS]
    if any(v is UNKNOWN for v in values):
        return None
    return all(v is True for v in values)


@stack_rule(
    "s3-bucket-security",
    "S3 buckets block public access (all four settings) and are encrypted at rest.",
    MANDATORY,
)
def s3_bucket_security(resources: list[View], ctx: Context, report: ReportViolation) -> None:
    buckets = [r for r in resources if r.type in BUCKET_TYPES]
    if not buckets:
        return
    account_blocked = any(_blocks_everything(r) for r in resources if r.type == ACCOUNT_BLOCK_TYPE)
    blocks = [r for r in resources if r.type == BLOCK_TYPE]
    sse = [r for r in resources if r.type in SSE_TYPES]
    for bucket in buckets:
        acl = bucket.props.get("acl")
        if isinstance(acl, str) and acl in PUBLIC_ACLS:
            report(f"{bucket.label} has the public canned ACL {acl!r}", bucket.urn)
        if not account_blocked:
            mine = [b for b in blocks if _targets(b, bucket)]
            verdicts = [_blocks_everything(b) for b in mine]
            if not mine:
                report(
                    f"{bucket.label} has no aws.s3.BucketPublicAccessBlock: add one with "
                    f"{', '.join(BLOCK_SETTINGS)} all true",
                    bucket.urn,
                )
            elif None not in verdicts and not any(verdicts):
                settings = ", ".join(BLOCK_SETTINGS)
                report(f"{bucket.label}'s public access block does not set all of {settings}", bucket.urn)
        inline = bucket.props.get("serverSideEncryptionConfiguration")
        if not known(inline) and not any(_targets(s, bucket) for s in sse) and inline is not UNKNOWN:
            report(
                f"{bucket.label} is not encrypted: add an aws.s3.BucketServerSideEncryptionConfiguration "
                "(aws:kms or AES256)",
                bucket.urn,
            )


def _ports(from_port: Any, to_port: Any) -> set[int] | None:
    """The ports of a range, or None for 'all ports'."""
    if not isinstance(from_port, int | float) or not isinstance(to_port, int | float):
        return None
    low, high = int(from_port), int(to_port)
    if low <= 0 and high in (0, -1, 65535):
        return None
    if high - low > 1024:
        return None
    return set(range(low, high + 1))


def _opens(protocol: Any, from_port: Any, to_port: Any) -> str | None:
    """A description of what a world-open AWS rule exposes beyond the web ports, or None."""
    protocol = str(protocol).lower() if known(protocol) else None
    if protocol is None:
        return None
    if protocol in ("icmp", "icmpv6", "1", "58"):
        return None
    if protocol in ("-1", "all"):
        return "all protocols and ports"
    ports = _ports(from_port, to_port)
    if ports is None:
        return f"all {protocol} ports"
    extra = sorted(ports - WEB_PORTS)
    if extra:
        return f"{protocol} port{'s' if len(extra) > 1 else ''} {_ranges(extra)}"
    return None


def _ranges(ports: list[int]) -> str:
    return f"{ports[0]}" if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"


def _world(*ranges: Any) -> list[str]:
    return [c for r in ranges for c in as_list(r) if isinstance(c, str) and c in WORLD]


@resource_rule(
    "security-group-ingress",
    "No security group or firewall opens a non-web port (other than 80/443) to 0.0.0.0/0 or ::/0.",
    MANDATORY,
    types=[
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "gcp:compute/firewall:Firewall",
    ],
)
def security_group_ingress(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    props = resource.props
    exposures: list[tuple[str, str]] = []
    if resource.type == "aws:ec2/securityGroup:SecurityGroup":
        for rule in as_list(props.get("ingress")):
            for cidr in _world(get(rule, "cidrBlocks"), get(rule, "ipv6CidrBlocks")):
                what = _opens(get(rule, "protocol"), get(rule, "fromPort"), get(rule, "toPort"))
                if what:
                    exposures.append((what, cidr))
    elif resource.type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if props.get("type") == "ingress":
            for cidr in _world(props.get("cidrBlocks"), props.get("ipv6CidrBlocks")):
                what = _opens(props.get("protocol"), props.get("fromPort"), props.get("toPort"))
                if what:
                    exposures.append((what, cidr))
    elif resource.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        for cidr in _world(props.get("cidrIpv4"), props.get("cidrIpv6")):
            what = _opens(props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"))
            if what:
                exposures.append((what, cidr))
    else:
        direction = props.get("direction") or "INGRESS"
        if direction != "INGRESS" or props.get("disabled") is True:
            return
        for cidr in _world(props.get("sourceRanges")):
            for allow in as_list(props.get("allows")):
                what = _gcp_opens(get(allow, "protocol"), get(allow, "ports"))
                if what:
                    exposures.append((what, cidr))
    for what, cidr in dict.fromkeys(exposures):
        report(f"{resource.label} opens {what} to {cidr}; only 80 and 443 may face the internet")


def _gcp_opens(protocol: Any, ports: Any) -> str | None:
    if not known(protocol):
        return None
    protocol = str(protocol).lower()
    if protocol in ("icmp", "ipv6-icmp", "58"):
        return None
    if protocol == "all":
        return "all protocols and ports"
    if ports is UNKNOWN:
        return None
    if not ports:
        return f"all {protocol} ports"
    extra: set[int] = set()
    for spec in as_list(ports):
        if not isinstance(spec, str):
            continue
        low, _, high = spec.partition("-")
        found = _ports(int(low), int(high or low)) if low.isdigit() and (high or low).isdigit() else None
        if found is None:
            return f"{protocol} ports {spec}"
        extra |= found - WEB_PORTS
    return f"{protocol} ports {_ranges(sorted(extra))}" if extra else None
