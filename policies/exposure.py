"""Rule 5: nothing is open to the internet by accident.

`s3-bucket-security` (stack rule, because AWS provider v7 configures a bucket through separate
resources): every S3 bucket has a public access block with all four settings on (or the
account-wide block) and server-side encryption configured, and no public canned ACL.

`security-group-ingress`: no security group (rule) or GCP firewall opens a port other than
80/443 to 0.0.0.0/0 or ::/0.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from pulumi_policy import ReportViolation

from policies.base import (
    MANDATORY,
    UNKNOWN,
    WORLD,
    Context,
    View,
    as_list,
    cannot_verify,
    known,
    resource_rule,
    stack_rule,
)
from policies.documents import covers_the_internet

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
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


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
    if not isinstance(protocol, str | int) or isinstance(protocol, bool):
        return f"protocol {protocol!r} (cannot tell which ports)"
    protocol = str(protocol).lower()
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


class _UnreadableError(ValueError):
    """A value the rule cannot interpret: reported as "cannot verify"."""


def _internet(*ranges: Any) -> str | None:
    """How a set of CIDRs faces the whole internet (`0.0.0.0/0`, or blocks that together cover it), or None."""
    cidrs: list[str] = []
    for value in ranges:
        for cidr in as_list(value):
            if cidr is UNKNOWN:
                continue
            if not isinstance(cidr, str):
                raise _UnreadableError(f"the CIDR {cidr!r} is not a string")
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise _UnreadableError(f"{cidr!r} is not a CIDR block") from None
            cidrs.append(cidr)
    world = [c for c in cidrs if c in WORLD]
    if world:
        return ", ".join(world)
    if covers_the_internet(cidrs):
        return f"{', '.join(cidrs)} (together the whole internet)"
    return None


def _gcp_firewall(props: dict[str, Any]) -> list[tuple[str, str]]:
    direction = props.get("direction") or "INGRESS"
    if direction is UNKNOWN or direction == "EGRESS" or props.get("disabled") is True:
        return []
    if direction != "INGRESS":
        raise _UnreadableError(f"its direction is {direction!r}, neither INGRESS nor EGRESS")
    sources = props.get("sourceRanges")
    if sources is UNKNOWN:
        return []
    if not sources and not props.get("sourceTags") and not props.get("sourceServiceAccounts"):
        # GCP: an INGRESS rule with no source ranges, tags or service accounts applies to 0.0.0.0/0.
        where = "0.0.0.0/0 (no sourceRanges: GCP's default for INGRESS)"
    else:
        where = _internet(sources) or ""
    if not where:
        return []
    exposures = []
    for allow in as_list(props.get("allows")):
        if allow is UNKNOWN:
            continue
        if not isinstance(allow, dict):
            raise _UnreadableError(f"an allows entry is {allow!r}, not an object")
        what = _gcp_opens(allow.get("protocol"), allow.get("ports"))
        if what:
            exposures.append((what, where))
    return exposures


def _eks_remote_access(props: dict[str, Any]) -> list[tuple[str, str]]:
    remote = props.get("remoteAccess")
    if remote is None or remote is UNKNOWN:
        return []
    if not isinstance(remote, dict):
        raise _UnreadableError(f"remoteAccess is {remote!r}")
    sources = remote.get("sourceSecurityGroupIds")
    if sources is UNKNOWN or not remote.get("ec2SshKey"):
        return []
    if not sources:
        # EKS: an SSH key without source security groups opens port 22 on the nodes to 0.0.0.0/0.
        return [("tcp port 22 (remoteAccess with an ec2SshKey and no sourceSecurityGroupIds)", "0.0.0.0/0")]
    return []


def _default_security_group(resource: View) -> list[str]:
    rules = [key for key in ("ingress", "egress") if as_list(resource.props.get(key))]
    return (
        [f"{resource.label} puts {' and '.join(rules)} rules on the VPC's default security group; leave it empty"]
        if rules
        else []
    )


@resource_rule(
    "security-group-ingress",
    "Nothing opens a non-web port (other than 80/443) to the internet: security groups and their rules, GCP "
    "firewalls (no source ranges means 0.0.0.0/0), EKS node SSH; the default security group carries no rules.",
    MANDATORY,
    types=[
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        DEFAULT_SG,
        NODE_GROUP,
        "gcp:compute/firewall:Firewall",
    ],
)
def security_group_ingress(resource: View, ctx: Context, report: Callable[[str], None]) -> None:
    props = resource.props
    exposures: list[tuple[str, str]] = []
    try:
        if resource.type == DEFAULT_SG:
            for message in _default_security_group(resource):
                report(message)
        if resource.type in ("aws:ec2/securityGroup:SecurityGroup", DEFAULT_SG):
            for rule in as_list(props.get("ingress")):
                if rule is UNKNOWN:
                    continue
                if not isinstance(rule, dict):
                    raise _UnreadableError(f"an ingress rule is {rule!r}, not an object")
                if cidr := _internet(rule.get("cidrBlocks"), rule.get("ipv6CidrBlocks")):
                    what = _opens(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"))
                    if what:
                        exposures.append((what, cidr))
        elif resource.type == "aws:ec2/securityGroupRule:SecurityGroupRule":
            cidr = _internet(props.get("cidrBlocks"), props.get("ipv6CidrBlocks"))
            if known(props.get("type")) and props.get("type") not in ("ingress", "egress"):
                raise _UnreadableError(f"its type is {props.get('type')!r}, neither ingress nor egress")
            if props.get("type") == "ingress" and cidr:
                what = _opens(props.get("protocol"), props.get("fromPort"), props.get("toPort"))
                if what:
                    exposures.append((what, cidr))
        elif resource.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
            if cidr := _internet(props.get("cidrIpv4"), props.get("cidrIpv6")):
                what = _opens(props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"))
                if what:
                    exposures.append((what, cidr))
        elif resource.type == NODE_GROUP:
            exposures = _eks_remote_access(props)
        elif resource.type == "gcp:compute/firewall:Firewall":
            exposures = _gcp_firewall(props)
    except _UnreadableError as exc:
        report(cannot_verify(f"what {resource.label} exposes", str(exc)))
        return
    for what, cidr in dict.fromkeys(exposures):
        report(f"{resource.label} opens {what} to {cidr}; only 80 and 443 may face the internet")


def _gcp_opens(protocol: Any, ports: Any) -> str | None:
    if protocol is UNKNOWN or ports is UNKNOWN:
        return None
    if not isinstance(protocol, str):
        raise _UnreadableError(f"an allows entry has protocol {protocol!r}")
    protocol = protocol.lower()
    if protocol in ("icmp", "ipv6-icmp", "58"):
        return None
    if protocol == "all":
        return "all protocols and ports"
    if not ports:
        return f"all {protocol} ports"
    extra: set[int] = set()
    for spec in as_list(ports):
        spec = str(spec) if isinstance(spec, int) else spec
        if not isinstance(spec, str):
            raise _UnreadableError(f"a port is {spec!r}")
        low, _, high = spec.partition("-")
        if not low.isdigit() or not (high or low).isdigit():
            raise _UnreadableError(f"{spec!r} is not a port or port range")
        found = _ports(int(low), int(high or low))
        if found is None:
            return f"{protocol} ports {spec}"
        extra |= found - WEB_PORTS
    return f"{protocol} ports {_ranges(sorted(extra))}" if extra else None
