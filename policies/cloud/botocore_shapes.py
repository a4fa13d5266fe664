"""AWS inputs against the request shapes of botocore's service models (`cloud/botocore`).

`CALLS` is the one table: for every AWS resource type the project creates, the API calls the
provider makes for it and how the engine's (camelCase) inputs land in each call's request. The
request built from a resource's inputs is walked against the operation's input shape by hand,
because botocore's own `validate_parameters` checks types and required members but ignores
enums and patterns. Checked: unknown members, types, enums, patterns, string lengths, numeric
ranges, list and map sizes, required members. Values unknown during a preview are skipped.

Patterns: the models' patterns are the services' (Java) validators' regular expressions, and
the services match them against the whole value (IAM answers "Member must satisfy regular
expression pattern" for a role name with a space although the pattern has no anchors), so they
are matched in full. They are compiled with the `regex` module, which knows Java's Unicode
classes (`\\p{L}`, `\\p{Z}`: every tag key and value pattern uses them) that `re` does not; a
pattern it still cannot compile is skipped, never failed, and recorded in `SKIPPED_PATTERNS`
(none among the services the table uses today).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex
from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from policies.cloud.common import ADVISORY, finding, inputs, is_unknown, json_document, short
from policies.evaluate import Finding, Record

CHECKER = "cloud/botocore"


@dataclass(frozen=True)
class To:
    """Where one input goes in the request: a member path (`A.B.0.C`), a conversion, nested inputs.

    `fields` renames the keys of a nested object (each element of a list of objects); without it
    the object's keys are sent as they are and must be the shape's own member names.
    """

    member: str
    convert: Callable[[Any], Any] | None = None
    fields: Mapping[str, str | To] | None = None


@dataclass(frozen=True)
class Call:
    """One API call the provider makes for a resource type."""

    service: str
    operation: str
    fields: Mapping[str, str | To]
    #: Required members the provider fills in itself (ids of what it just created, idempotency
    #: tokens, generated names when the input is absent), so their absence is not a finding.
    provided: frozenset[str] = frozenset()
    #: Fixed values the provider always sends.
    sends: Mapping[str, Any] = field(default_factory=dict)
    #: The input without which the provider does not make this call at all, or a test of the inputs.
    when: str | Callable[[Mapping[str, Any]], bool] | None = None
    #: What the service documents but its model does not carry, by request member path.
    documented: Mapping[str, Documented] = field(default_factory=dict)


@dataclass(frozen=True)
class Documented:
    """A constraint the service's API reference states in prose, absent from its model's shape."""

    says: str
    doc: str
    allowed: frozenset[int | str] | None = None
    min: int | None = None
    max: int | None = None
    #: The most UTF-8 bytes a string may take (quotas count bytes, the models characters).
    max_bytes: int | None = None
    #: A regular expression a string must match in full.
    pattern: str | None = None

    def breaks(self, value: Any) -> bool:
        """Whether a number or string breaks the rule (a value of another type is the shape's to report)."""
        if not (_number(value) or isinstance(value, str)):
            return False
        if self.allowed is not None and value not in self.allowed:
            return True
        if isinstance(value, str) and self.max_bytes is not None and len(value.encode()) > self.max_bytes:
            return True
        if isinstance(value, str) and self.pattern is not None and not re.fullmatch(self.pattern, value):
            return True
        if _number(value):
            return (self.min is not None and value < self.min) or (self.max is not None and value > self.max)
        return False


@dataclass(frozen=True)
class NoShape:
    """A planned type with no request worth checking, and why."""

    reason: str


def _tag_list(key: str = "Key", value: str = "Value") -> Callable[[Any], Any]:
    def convert(tags: Any) -> Any:
        return [{key: k, value: v} for k, v in tags.items()] if isinstance(tags, dict) else tags

    return convert


def _ec2_tags(resource_type: str) -> Callable[[Any], Any]:
    def convert(tags: Any) -> Any:
        return [{"ResourceType": resource_type, "Tags": _tag_list()(tags)}]

    return convert


def _one(value: Any) -> Any:
    return [value]


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _record_values(values: Any) -> Any:
    return [{"Value": v} for v in values] if isinstance(values, list) else values


def _log_types(types: Any) -> Any:
    return {"clusterLogging": [{"types": types, "enabled": True}]}


def _default_tags(value: Any) -> Any:
    """The provider's `defaultTags` (a JSON string `{"tags": {...}}`) as a tag list."""
    document = json_document(value)
    return _tag_list()(document.get("tags") if isinstance(document, dict) else document)


def _ip_permissions(rules: Any) -> Any:
    """A security group's inline `ingress`/`egress` rules as AuthorizeSecurityGroup* IpPermissions."""
    if not isinstance(rules, list):
        return rules

    def ranges(values: Any, key: str, description: Any) -> Any:
        if not isinstance(values, list):
            return values
        return [{key: v, **({"Description": description} if description is not None else {})} for v in values]

    out: list[Any] = []
    for rule in rules:
        if not isinstance(rule, dict):
            out.append(rule)
            continue
        description = rule.get("description")
        permission = {
            "IpProtocol": rule.get("protocol"),
            "FromPort": rule.get("fromPort"),
            "ToPort": rule.get("toPort"),
            "IpRanges": ranges(rule.get("cidrBlocks"), "CidrIp", description),
            "Ipv6Ranges": ranges(rule.get("ipv6CidrBlocks"), "CidrIpv6", description),
            "PrefixListIds": ranges(rule.get("prefixListIds"), "PrefixListId", description),
            "UserIdGroupPairs": ranges(rule.get("securityGroups"), "GroupId", description),
        }
        out.append({k: v for k, v in permission.items() if v not in (None, [])})
    return out


def _items(fields: Mapping[str, str | To] | None = None, wrap: str | None = None) -> Callable[[Any], Any]:
    """CloudFront's lists, `{"Quantity": n, "Items": [...]}`: items renamed by `fields` or wrapped as `{wrap: item}`."""

    def convert(values: Any) -> Any:
        if not isinstance(values, list):
            return values
        items = [_rename(v, fields) if fields else {wrap: v} if wrap else v for v in values]
        return {"Quantity": len(items), "Items": items}

    return convert


def _cache_behavior(behavior: Any) -> Any:
    """A cache behavior: the provider's flat `cachedMethods` goes inside CloudFront's `AllowedMethods`."""
    if not isinstance(behavior, dict):
        return behavior
    out = _rename(behavior, CACHE_BEHAVIOR)
    allowed = _items()(behavior.get("allowedMethods"))
    if isinstance(allowed, dict) and behavior.get("cachedMethods") is not None:
        allowed["CachedMethods"] = _items()(behavior["cachedMethods"])
    if allowed is not None:
        out["AllowedMethods"] = allowed
    return out


def _geo_restriction(geo: Any) -> Any:
    if not isinstance(geo, dict):
        return geo
    locations = _items()(geo.get("locations") or [])
    out = {"RestrictionType": geo.get("restrictionType")}
    out.update(locations if isinstance(locations, dict) else {"Items": locations})
    return {k: v for k, v in out.items() if v is not None}


def _dimensions(dims: Any) -> Any:
    return [{"Name": k, "Value": v} for k, v in dims.items()] if isinstance(dims, dict) else dims


def _get(values: Any, *path: str) -> Any:
    for step in path:
        values = values.get(step) if isinstance(values, Mapping) else None
    return values


#: CloudWatch Logs' retention periods (PutRetentionPolicy's reference lists them; the model does not).
RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)
RETENTION_DAYS += (1096, 1827, 2192, 2557, 2922, 3288, 3653)

TAGS = To("Tags", _tag_list())
ALARM_ACTIONS = {
    "alarmActions": "AlarmActions",
    "okActions": "OKActions",
    "insufficientDataActions": "InsufficientDataActions",
    "actionsEnabled": "ActionsEnabled",
}
RRSET = "ChangeBatch.Changes.0.ResourceRecordSet"
DISTRIBUTION = "DistributionConfigWithTags.DistributionConfig"
CLOUDFRONT_QUOTAS = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html"
CACHE_BEHAVIOR: dict[str, str | To] = {
    "targetOriginId": "TargetOriginId",
    "viewerProtocolPolicy": "ViewerProtocolPolicy",
    "cachePolicyId": "CachePolicyId",
    "originRequestPolicyId": "OriginRequestPolicyId",
    "responseHeadersPolicyId": "ResponseHeadersPolicyId",
    "compress": "Compress",
    "smoothStreaming": "SmoothStreaming",
    "fieldLevelEncryptionId": "FieldLevelEncryptionId",
    "realtimeLogConfigArn": "RealtimeLogConfigArn",
    "functionAssociations": To(
        "FunctionAssociations", _items({"eventType": "EventType", "functionArn": "FunctionARN"})
    ),
}
ORIGIN: dict[str, str | To] = {
    "originId": "Id",
    "domainName": "DomainName",
    "originPath": "OriginPath",
    "connectionAttempts": "ConnectionAttempts",
    "connectionTimeout": "ConnectionTimeout",
    "originAccessControlId": "OriginAccessControlId",
    "customHeaders": To("CustomHeaders", _items({"name": "HeaderName", "value": "HeaderValue"})),
    "customOriginConfig": To(
        "CustomOriginConfig",
        fields={
            "httpPort": "HTTPPort",
            "httpsPort": "HTTPSPort",
            "originProtocolPolicy": "OriginProtocolPolicy",
            "originSslProtocols": To("OriginSslProtocols", _items()),
            "originReadTimeout": "OriginReadTimeout",
            "originKeepaliveTimeout": "OriginKeepaliveTimeout",
            "ipAddressType": "IpAddressType",
        },
    ),
}

#: Every AWS resource type the project creates: the provider's API calls and the inputs each sends.
CALLS: dict[str, tuple[Call, ...] | NoShape] = {
    "aws:acm/certificate:Certificate": (
        Call(
            "acm",
            "RequestCertificate",
            {
                "domainName": "DomainName",
                "validationMethod": "ValidationMethod",
                "subjectAlternativeNames": "SubjectAlternativeNames",
                "keyAlgorithm": "KeyAlgorithm",
                "certificateAuthorityArn": "CertificateAuthorityArn",
                "options": To(
                    "Options",
                    fields={"certificateTransparencyLoggingPreference": "CertificateTransparencyLoggingPreference"},
                ),
                "tags": TAGS,
            },
        ),
    ),
    "aws:acm/certificateValidation:CertificateValidation": NoShape(
        "the provider only waits (DescribeCertificate) until ACM has issued the certificate: no request of ours"
    ),
    "aws:cloudfront/distribution:Distribution": (
        Call(
            "cloudfront",
            "CreateDistributionWithTags",
            {
                "aliases": To(f"{DISTRIBUTION}.Aliases", _items()),
                "comment": f"{DISTRIBUTION}.Comment",
                "enabled": f"{DISTRIBUTION}.Enabled",
                "isIpv6Enabled": f"{DISTRIBUTION}.IsIPV6Enabled",
                "httpVersion": f"{DISTRIBUTION}.HttpVersion",
                "priceClass": f"{DISTRIBUTION}.PriceClass",
                "defaultRootObject": f"{DISTRIBUTION}.DefaultRootObject",
                "webAclId": f"{DISTRIBUTION}.WebACLId",
                "origins": To(f"{DISTRIBUTION}.Origins", _items(ORIGIN)),
                "defaultCacheBehavior": To(f"{DISTRIBUTION}.DefaultCacheBehavior", _cache_behavior),
                "restrictions": To(
                    f"{DISTRIBUTION}.Restrictions", fields={"geoRestriction": To("GeoRestriction", _geo_restriction)}
                ),
                "viewerCertificate": To(
                    f"{DISTRIBUTION}.ViewerCertificate",
                    fields={
                        "acmCertificateArn": "ACMCertificateArn",
                        "sslSupportMethod": "SSLSupportMethod",
                        "minimumProtocolVersion": "MinimumProtocolVersion",
                        "cloudfrontDefaultCertificate": "CloudFrontDefaultCertificate",
                        "iamCertificateId": "IAMCertificateId",
                    },
                ),
                "tags": To("DistributionConfigWithTags.Tags.Items", _tag_list()),
            },
            # The provider makes up the caller reference and sends the tag list, empty or not.
            sends={f"{DISTRIBUTION}.CallerReference": "generated", "DistributionConfigWithTags.Tags.Items": []},
            documented={
                f"{DISTRIBUTION}.ViewerCertificate.ACMCertificateArn": Documented(
                    "a viewer certificate must be an ACM certificate in us-east-1",
                    "https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html",
                    pattern=r"arn:aws:acm:us-east-1:[0-9]{12}:certificate/.+",
                )
            },
        ),
    ),
    "aws:cloudfront/function:Function": (
        Call(
            "cloudfront",
            "CreateFunction",
            {
                "name": "Name",
                "comment": "FunctionConfig.Comment",
                "runtime": "FunctionConfig.Runtime",
                "keyValueStoreAssociations": To(
                    "FunctionConfig.KeyValueStoreAssociations", _items(wrap="KeyValueStoreARN")
                ),
                "code": "FunctionCode",
                "tags": To("Tags.Items", _tag_list()),
            },
            provided=frozenset({"Name"}),
            sends={"FunctionConfig.Comment": ""},  # the provider sends an empty comment when none is set
            documented={
                "FunctionCode": Documented(
                    "a function of at most 10 KB (CloudFront Functions quotas)", CLOUDFRONT_QUOTAS, max_bytes=10 * 1024
                )
            },
        ),
        Call(
            "cloudfront",
            "PublishFunction",
            {"name": "Name"},
            provided=frozenset({"Name", "IfMatch"}),
            when=lambda values: values.get("publish") is not False,
        ),
    ),
    "aws:cloudfront/keyValueStore:KeyValueStore": (
        Call(
            "cloudfront",
            "CreateKeyValueStore",
            {"name": "Name", "comment": "Comment", "tags": To("Tags.Items", _tag_list())},
        ),
    ),
    "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey": (
        Call(
            "cloudfront-keyvaluestore",
            "PutKey",
            {"key": "Key", "value": "Value", "keyValueStoreArn": "KvsARN"},
            provided=frozenset({"IfMatch"}),  # the store's current ETag, which the provider reads first
            documented={
                "Key": Documented(
                    "a key of at most 512 bytes (KeyValueStore quotas)", CLOUDFRONT_QUOTAS, max_bytes=512
                ),
                "Value": Documented(
                    "a value of at most 1 KB (KeyValueStore quotas)", CLOUDFRONT_QUOTAS, max_bytes=1024
                ),
            },
        ),
    ),
    "aws:cloudtrail/trail:Trail": (
        Call(
            "cloudtrail",
            "CreateTrail",
            {
                "name": "Name",
                "s3BucketName": "S3BucketName",
                "s3KeyPrefix": "S3KeyPrefix",
                "snsTopicName": "SnsTopicName",
                "includeGlobalServiceEvents": "IncludeGlobalServiceEvents",
                "isMultiRegionTrail": "IsMultiRegionTrail",
                "enableLogFileValidation": "EnableLogFileValidation",
                "cloudWatchLogsGroupArn": "CloudWatchLogsLogGroupArn",
                "cloudWatchLogsRoleArn": "CloudWatchLogsRoleArn",
                "kmsKeyId": "KmsKeyId",
                "isOrganizationTrail": "IsOrganizationTrail",
                "tags": To("TagsList", _tag_list()),
            },
            provided=frozenset({"Name"}),
        ),
    ),
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": (
        Call(
            "cloudwatch",
            "PutCompositeAlarm",
            {
                "alarmName": "AlarmName",
                "alarmRule": "AlarmRule",
                "alarmDescription": "AlarmDescription",
                **ALARM_ACTIONS,
                "tags": TAGS,
            },
        ),
    ),
    "aws:cloudwatch/dashboard:Dashboard": (
        Call("cloudwatch", "PutDashboard", {"dashboardName": "DashboardName", "dashboardBody": "DashboardBody"}),
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        Call(
            "cloudwatch",
            "PutMetricAlarm",
            {
                "name": "AlarmName",
                "alarmDescription": "AlarmDescription",
                "comparisonOperator": "ComparisonOperator",
                "datapointsToAlarm": "DatapointsToAlarm",
                "dimensions": To("Dimensions", _dimensions),
                "evaluationPeriods": "EvaluationPeriods",
                "metricName": "MetricName",
                "namespace": "Namespace",
                "period": "Period",
                "statistic": "Statistic",
                "extendedStatistic": "ExtendedStatistic",
                "threshold": "Threshold",
                "treatMissingData": "TreatMissingData",
                "unit": "Unit",
                "metricQueries": To(
                    "Metrics",
                    fields={
                        "id": "Id",
                        "expression": "Expression",
                        "label": "Label",
                        "returnData": "ReturnData",
                        "period": "Period",
                        "accountId": "AccountId",
                        "metric": To(
                            "MetricStat",
                            fields={
                                "metricName": "Metric.MetricName",
                                "namespace": "Metric.Namespace",
                                "dimensions": To("Metric.Dimensions", _dimensions),
                                "period": "Period",
                                "stat": "Stat",
                                "unit": "Unit",
                            },
                        ),
                    },
                ),
                **ALARM_ACTIONS,
                "tags": TAGS,
            },
            provided=frozenset({"AlarmName"}),
        ),
    ),
    "aws:cloudwatch/logGroup:LogGroup": (
        Call(
            "logs",
            "CreateLogGroup",
            {"name": "logGroupName", "kmsKeyId": "kmsKeyId", "logGroupClass": "logGroupClass", "tags": "tags"},
            provided=frozenset({"logGroupName"}),
        ),
        Call(
            "logs",
            "PutRetentionPolicy",
            {"name": "logGroupName", "retentionInDays": "retentionInDays"},
            provided=frozenset({"logGroupName"}),
            # 0 means "never expire": the provider calls DeleteRetentionPolicy instead.
            when=lambda values: values.get("retentionInDays") not in (None, 0),
            documented={
                "retentionInDays": Documented(
                    f"one of {', '.join(map(str, RETENTION_DAYS))} days",
                    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html",
                    allowed=frozenset(RETENTION_DAYS),
                )
            },
        ),
    ),
    # The provider adds its default tags to every taggable resource; they follow the tag rules every
    # service shares, checked here once against IAM's (TagRole) tag shape.
    "pulumi:providers:aws": (
        Call("iam", "TagRole", {"defaultTags": To("Tags", _default_tags)}, frozenset({"RoleName"})),
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": NoShape(
        "adopts the VPC's existing default group: no create call; its ingress/egress rules (none here) "
        "would go through AuthorizeSecurityGroupIngress/Egress"
    ),
    "aws:ec2/eip:Eip": (
        Call(
            "ec2",
            "AllocateAddress",
            {
                "domain": "Domain",
                "publicIpv4Pool": "PublicIpv4Pool",
                "networkBorderGroup": "NetworkBorderGroup",
                "tags": To("TagSpecifications", _ec2_tags("elastic-ip")),
            },
        ),
    ),
    "aws:ec2/securityGroup:SecurityGroup": (
        Call(
            "ec2",
            "CreateSecurityGroup",
            {
                "name": "GroupName",
                "description": "Description",
                "vpcId": "VpcId",
                "tags": To("TagSpecifications", _ec2_tags("security-group")),
            },
            # The provider names the group after the resource, and describes it "Managed by Pulumi".
            provided=frozenset({"GroupName", "Description"}),
        ),
        Call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            {"ingress": To("IpPermissions", _ip_permissions)},
            provided=frozenset({"GroupId"}),
        ),
        Call(
            "ec2",
            "AuthorizeSecurityGroupEgress",
            {"egress": To("IpPermissions", _ip_permissions)},
            provided=frozenset({"GroupId"}),
        ),
    ),
    "aws:ec2/instance:Instance": (
        Call(
            "ec2",
            "RunInstances",
            {
                "ami": "ImageId",
                "instanceType": "InstanceType",
                "keyName": "KeyName",
                "subnetId": "SubnetId",
                "privateIp": "PrivateIpAddress",
                "vpcSecurityGroupIds": "SecurityGroupIds",
                "securityGroups": "SecurityGroups",
                "userData": "UserData",
                "monitoring": "Monitoring.Enabled",
                "disableApiTermination": "DisableApiTermination",
                "disableApiStop": "DisableApiStop",
                "instanceInitiatedShutdownBehavior": "InstanceInitiatedShutdownBehavior",
                "iamInstanceProfile": "IamInstanceProfile.Name",
                "metadataOptions": To(
                    "MetadataOptions",
                    fields={
                        "httpTokens": "HttpTokens",
                        "httpEndpoint": "HttpEndpoint",
                        "httpPutResponseHopLimit": "HttpPutResponseHopLimit",
                        "httpProtocolIpv6": "HttpProtocolIpv6",
                        "instanceMetadataTags": "InstanceMetadataTags",
                    },
                ),
                "tags": To("TagSpecifications", _ec2_tags("instance")),
            },
            provided=frozenset({"MinCount", "MaxCount"}),  # one instance: the provider sends 1 and 1
        ),
    ),
    "aws:ec2/flowLog:FlowLog": (
        Call(
            "ec2",
            "CreateFlowLogs",
            {
                "iamRoleArn": "DeliverLogsPermissionArn",
                "deliverCrossAccountRole": "DeliverCrossAccountRole",
                "logDestination": "LogDestination",
                "logDestinationType": "LogDestinationType",
                "logFormat": "LogFormat",
                "maxAggregationInterval": "MaxAggregationInterval",
                "trafficType": "TrafficType",
                "vpcId": To("ResourceIds", _one),
                "subnetId": To("ResourceIds", _one),
                "eniId": To("ResourceIds", _one),
                "transitGatewayId": To("ResourceIds", _one),
                "tags": To("TagSpecifications", _ec2_tags("vpc-flow-log")),
            },
            provided=frozenset({"ResourceType"}),  # derived from which of the ids is set
        ),
    ),
    "aws:ec2/internetGateway:InternetGateway": (
        Call(
            "ec2",
            "CreateInternetGateway",
            {"tags": To("TagSpecifications", _ec2_tags("internet-gateway"))},
        ),
        Call("ec2", "AttachInternetGateway", {"vpcId": "VpcId"}, provided=frozenset({"InternetGatewayId", "VpcId"})),
    ),
    "aws:ec2/natGateway:NatGateway": (
        Call(
            "ec2",
            "CreateNatGateway",
            {
                "allocationId": "AllocationId",
                "connectivityType": "ConnectivityType",
                "subnetId": "SubnetId",
                "privateIp": "PrivateIpAddress",
                "secondaryAllocationIds": "SecondaryAllocationIds",
                "secondaryPrivateIpAddresses": "SecondaryPrivateIpAddresses",
                "secondaryPrivateIpAddressCount": "SecondaryPrivateIpAddressCount",
                "tags": To("TagSpecifications", _ec2_tags("natgateway")),
            },
        ),
    ),
    "aws:ec2/route:Route": (
        Call(
            "ec2",
            "CreateRoute",
            {
                "routeTableId": "RouteTableId",
                "destinationCidrBlock": "DestinationCidrBlock",
                "destinationIpv6CidrBlock": "DestinationIpv6CidrBlock",
                "destinationPrefixListId": "DestinationPrefixListId",
                "natGatewayId": "NatGatewayId",
                "gatewayId": "GatewayId",
                "transitGatewayId": "TransitGatewayId",
                "vpcEndpointId": "VpcEndpointId",
                "vpcPeeringConnectionId": "VpcPeeringConnectionId",
                "networkInterfaceId": "NetworkInterfaceId",
                "egressOnlyGatewayId": "EgressOnlyInternetGatewayId",
            },
        ),
    ),
    "aws:ec2/routeTable:RouteTable": (
        Call("ec2", "CreateRouteTable", {"vpcId": "VpcId", "tags": To("TagSpecifications", _ec2_tags("route-table"))}),
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (
        Call(
            "ec2",
            "AssociateRouteTable",
            {"routeTableId": "RouteTableId", "subnetId": "SubnetId", "gatewayId": "GatewayId"},
        ),
    ),
    "aws:ec2/subnet:Subnet": (
        Call(
            "ec2",
            "CreateSubnet",
            {
                "vpcId": "VpcId",
                "cidrBlock": "CidrBlock",
                "availabilityZone": "AvailabilityZone",
                "availabilityZoneId": "AvailabilityZoneId",
                "ipv6CidrBlock": "Ipv6CidrBlock",
                "ipv6Native": "Ipv6Native",
                "outpostArn": "OutpostArn",
                "tags": To("TagSpecifications", _ec2_tags("subnet")),
            },
        ),
        Call(
            "ec2",
            "ModifySubnetAttribute",
            {"mapPublicIpOnLaunch": "MapPublicIpOnLaunch.Value"},
            provided=frozenset({"SubnetId"}),
        ),
    ),
    "aws:ec2/vpc:Vpc": (
        Call(
            "ec2",
            "CreateVpc",
            {
                "cidrBlock": "CidrBlock",
                "instanceTenancy": "InstanceTenancy",
                "ipv4IpamPoolId": "Ipv4IpamPoolId",
                "ipv4NetmaskLength": "Ipv4NetmaskLength",
                "assignGeneratedIpv6CidrBlock": "AmazonProvidedIpv6CidrBlock",
                "tags": To("TagSpecifications", _ec2_tags("vpc")),
            },
        ),
        # ModifyVpcAttribute takes one attribute per call.
        Call("ec2", "ModifyVpcAttribute", {"enableDnsHostnames": "EnableDnsHostnames.Value"}, frozenset({"VpcId"})),
        Call("ec2", "ModifyVpcAttribute", {"enableDnsSupport": "EnableDnsSupport.Value"}, frozenset({"VpcId"})),
    ),
    "aws:ecr/repository:Repository": (
        Call(
            "ecr",
            "CreateRepository",
            {
                "name": "repositoryName",
                "imageTagMutability": "imageTagMutability",
                "imageScanningConfiguration": "imageScanningConfiguration",
                "encryptionConfigurations": To("encryptionConfiguration", _first),
                "tags": To("tags", _tag_list()),
            },
        ),
    ),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": (
        Call("ecr", "SetRepositoryPolicy", {"repository": "repositoryName", "policy": "policyText"}),
    ),
    "aws:eks/accessEntry:AccessEntry": (
        Call(
            "eks",
            "CreateAccessEntry",
            {
                "clusterName": "clusterName",
                "principalArn": "principalArn",
                "kubernetesGroups": "kubernetesGroups",
                "type": "type",
                "userName": "username",
                "tags": "tags",
            },
        ),
    ),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": (
        Call(
            "eks",
            "AssociateAccessPolicy",
            {
                "clusterName": "clusterName",
                "principalArn": "principalArn",
                "policyArn": "policyArn",
                "accessScope": "accessScope",
            },
        ),
    ),
    "aws:eks/addon:Addon": (
        Call(
            "eks",
            "CreateAddon",
            {
                "clusterName": "clusterName",
                "addonName": "addonName",
                "addonVersion": "addonVersion",
                "serviceAccountRoleArn": "serviceAccountRoleArn",
                "resolveConflictsOnCreate": "resolveConflicts",
                "configurationValues": "configurationValues",
                "tags": "tags",
            },
        ),
        Call(
            "eks",
            "UpdateAddon",
            {"clusterName": "clusterName", "addonName": "addonName", "resolveConflictsOnUpdate": "resolveConflicts"},
            when="resolveConflictsOnUpdate",
        ),
    ),
    "aws:eks/cluster:Cluster": (
        Call(
            "eks",
            "CreateCluster",
            {
                "name": "name",
                "version": "version",
                "roleArn": "roleArn",
                "vpcConfig": "resourcesVpcConfig",
                "kubernetesNetworkConfig": "kubernetesNetworkConfig",
                "enabledClusterLogTypes": To("logging", _log_types),
                "encryptionConfig": To("encryptionConfig", _one),
                "accessConfig": "accessConfig",
                "bootstrapSelfManagedAddons": "bootstrapSelfManagedAddons",
                "upgradePolicy": "upgradePolicy",
                "zonalShiftConfig": "zonalShiftConfig",
                "deletionProtection": "deletionProtection",
                "tags": "tags",
            },
            provided=frozenset({"name"}),
        ),
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        Call(
            "eks",
            "CreateNodegroup",
            {
                "clusterName": "clusterName",
                "nodeGroupName": "nodegroupName",
                "nodeRoleArn": "nodeRole",
                "subnetIds": "subnets",
                "scalingConfig": "scalingConfig",
                "instanceTypes": "instanceTypes",
                "amiType": "amiType",
                "capacityType": "capacityType",
                "diskSize": "diskSize",
                "labels": "labels",
                "taints": "taints",
                "updateConfig": "updateConfig",
                "launchTemplate": "launchTemplate",
                "version": "version",
                "releaseVersion": "releaseVersion",
                "tags": "tags",
            },
            provided=frozenset({"nodegroupName"}),
        ),
    ),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": (
        Call(
            "eks",
            "CreatePodIdentityAssociation",
            {
                "clusterName": "clusterName",
                "namespace": "namespace",
                "serviceAccount": "serviceAccount",
                "roleArn": "roleArn",
                "targetRoleArn": "targetRoleArn",
                "disableSessionTags": "disableSessionTags",
                "tags": "tags",
            },
        ),
    ),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (
        Call(
            "iam",
            "CreateOpenIDConnectProvider",
            {
                "url": "Url",
                "clientIdLists": "ClientIDList",
                "thumbprintLists": "ThumbprintList",
                "tags": TAGS,
            },
        ),
    ),
    "aws:iam/role:Role": (
        Call(
            "iam",
            "CreateRole",
            {
                "name": "RoleName",
                "assumeRolePolicy": "AssumeRolePolicyDocument",
                "description": "Description",
                "maxSessionDuration": "MaxSessionDuration",
                "path": "Path",
                "permissionsBoundary": "PermissionsBoundary",
                "tags": TAGS,
            },
            provided=frozenset({"RoleName"}),
        ),
    ),
    "aws:iam/rolePolicy:RolePolicy": (
        Call(
            "iam",
            "PutRolePolicy",
            {"role": "RoleName", "name": "PolicyName", "policy": "PolicyDocument"},
            provided=frozenset({"PolicyName"}),
        ),
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (
        Call("iam", "AttachRolePolicy", {"role": "RoleName", "policyArn": "PolicyArn"}),
    ),
    "aws:kms/alias:Alias": (
        Call("kms", "CreateAlias", {"name": "AliasName", "targetKeyId": "TargetKeyId"}, frozenset({"AliasName"})),
    ),
    "aws:kms/key:Key": (
        Call(
            "kms",
            "CreateKey",
            {
                "policy": "Policy",
                "description": "Description",
                "keyUsage": "KeyUsage",
                "customerMasterKeySpec": "KeySpec",
                "bypassPolicyLockoutSafetyCheck": "BypassPolicyLockoutSafetyCheck",
                "multiRegion": "MultiRegion",
                "customKeyStoreId": "CustomKeyStoreId",
                "xksKeyId": "XksKeyId",
                "tags": To("Tags", _tag_list("TagKey", "TagValue")),
            },
        ),
        Call(
            "kms",
            "EnableKeyRotation",
            {"rotationPeriodInDays": "RotationPeriodInDays"},
            frozenset({"KeyId"}),
            when="enableKeyRotation",
        ),
        # On destroy: the pending window the key waits before it is deleted.
        Call(
            "kms",
            "ScheduleKeyDeletion",
            {"deletionWindowInDays": "PendingWindowInDays"},
            frozenset({"KeyId"}),
            documented={
                "PendingWindowInDays": Documented(
                    "between 7 and 30 days, inclusive",
                    "https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html",
                    min=7,
                    max=30,
                )
            },
        ),
    ),
    "aws:oam/link:Link": (
        Call(
            "oam",
            "CreateLink",
            {
                "labelTemplate": "LabelTemplate",
                "resourceTypes": "ResourceTypes",
                "sinkIdentifier": "SinkIdentifier",
                "tags": "Tags",
            },
        ),
    ),
    "aws:oam/sink:Sink": (Call("oam", "CreateSink", {"name": "Name", "tags": "Tags"}, frozenset({"Name"})),),
    "aws:oam/sinkPolicy:SinkPolicy": (
        Call("oam", "PutSinkPolicy", {"policy": "Policy", "sinkIdentifier": "SinkIdentifier"}),
    ),
    "aws:organizations/account:Account": (
        Call(
            "organizations",
            "CreateAccount",
            {
                "email": "Email",
                "name": "AccountName",
                "roleName": "RoleName",
                "iamUserAccessToBilling": "IamUserAccessToBilling",
                "tags": TAGS,
            },
        ),
        Call(
            "organizations",
            "MoveAccount",
            {"parentId": "DestinationParentId"},
            provided=frozenset({"AccountId", "SourceParentId"}),
            when="parentId",
        ),
    ),
    "aws:organizations/organizationalUnit:OrganizationalUnit": (
        Call("organizations", "CreateOrganizationalUnit", {"name": "Name", "parentId": "ParentId", "tags": TAGS}),
    ),
    "aws:organizations/policy:Policy": (
        Call(
            "organizations",
            "CreatePolicy",
            {"content": "Content", "description": "Description", "name": "Name", "type": "Type", "tags": TAGS},
            provided=frozenset({"Description", "Type"}),  # the provider sends "" and SERVICE_CONTROL_POLICY
        ),
    ),
    "aws:organizations/policyAttachment:PolicyAttachment": (
        Call("organizations", "AttachPolicy", {"policyId": "PolicyId", "targetId": "TargetId"}),
    ),
    "aws:route53/record:Record": (
        Call(
            "route53",
            "ChangeResourceRecordSets",
            {
                "zoneId": "HostedZoneId",
                "name": f"{RRSET}.Name",
                "type": f"{RRSET}.Type",
                "ttl": f"{RRSET}.TTL",
                "records": To(f"{RRSET}.ResourceRecords", _record_values),
                "setIdentifier": f"{RRSET}.SetIdentifier",
                "healthCheckId": f"{RRSET}.HealthCheckId",
                "aliases": To(
                    f"{RRSET}.AliasTarget",
                    _first,
                    {"name": "DNSName", "zoneId": "HostedZoneId", "evaluateTargetHealth": "EvaluateTargetHealth"},
                ),
            },
            sends={"ChangeBatch.Changes.0.Action": "CREATE"},
        ),
    ),
    "aws:route53/zone:Zone": (
        Call(
            "route53",
            "CreateHostedZone",
            {"name": "Name", "comment": "HostedZoneConfig.Comment", "delegationSetId": "DelegationSetId"},
            provided=frozenset({"CallerReference"}),
        ),
    ),
    "aws:s3/bucket:Bucket": (
        Call(
            "s3",
            "CreateBucket",
            {"bucket": "Bucket", "objectLockEnabled": "ObjectLockEnabledForBucket"},
            provided=frozenset({"Bucket"}),
        ),
        Call(
            "s3",
            "PutBucketTagging",
            {"tags": To("Tagging.TagSet", _tag_list())},
            provided=frozenset({"Bucket"}),
            when="tags",
        ),
    ),
    "aws:s3/bucketObjectv2:BucketObjectv2": (
        Call(
            "s3",
            "PutObject",
            {
                "bucket": "Bucket",
                "key": "Key",
                "acl": "ACL",
                "cacheControl": "CacheControl",
                "contentDisposition": "ContentDisposition",
                "contentEncoding": "ContentEncoding",
                "contentLanguage": "ContentLanguage",
                "contentType": "ContentType",
                "serverSideEncryption": "ServerSideEncryption",
                "storageClass": "StorageClass",
                "kmsKeyId": "SSEKMSKeyId",
                "bucketKeyEnabled": "BucketKeyEnabled",
                "websiteRedirect": "WebsiteRedirectLocation",
                "metadata": "Metadata",
            },
            provided=frozenset({"Key"}),  # the provider names the object after the resource when `key` is unset
        ),
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (
        Call(
            "s3",
            "PutBucketOwnershipControls",
            {
                "bucket": "Bucket",
                "rule": To("OwnershipControls.Rules.0", fields={"objectOwnership": "ObjectOwnership"}),
            },
        ),
    ),
    "aws:s3/bucketPolicy:BucketPolicy": (Call("s3", "PutBucketPolicy", {"bucket": "Bucket", "policy": "Policy"}),),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        Call(
            "s3",
            "PutPublicAccessBlock",
            {
                "bucket": "Bucket",
                **{
                    name: f"PublicAccessBlockConfiguration.{name[0].upper()}{name[1:]}"
                    for name in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
                },
            },
            provided=frozenset({"PublicAccessBlockConfiguration"}),  # sent even when every flag is false
        ),
    ),
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": (
        Call(
            "s3",
            "PutBucketReplication",
            {
                "bucket": "Bucket",
                "role": "ReplicationConfiguration.Role",
                "rules": To(
                    "ReplicationConfiguration.Rules",
                    fields={
                        "id": "ID",
                        "priority": "Priority",
                        "status": "Status",
                        "prefix": "Prefix",
                        "filter": To("Filter", fields={"prefix": "Prefix"}),
                        "deleteMarkerReplication": To("DeleteMarkerReplication", fields={"status": "Status"}),
                        "destination": To(
                            "Destination",
                            fields={"bucket": "Bucket", "storageClass": "StorageClass", "account": "Account"},
                        ),
                    },
                ),
                "token": "Token",
            },
        ),
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        Call(
            "s3",
            "PutBucketEncryption",
            {
                "bucket": "Bucket",
                "rules": To(
                    "ServerSideEncryptionConfiguration.Rules",
                    fields={
                        "applyServerSideEncryptionByDefault": To(
                            "ApplyServerSideEncryptionByDefault",
                            fields={"sseAlgorithm": "SSEAlgorithm", "kmsMasterKeyId": "KMSMasterKeyID"},
                        ),
                        "bucketKeyEnabled": "BucketKeyEnabled",
                    },
                ),
            },
        ),
    ),
    "aws:s3/bucketVersioning:BucketVersioning": (
        Call(
            "s3",
            "PutBucketVersioning",
            {
                "bucket": "Bucket",
                "versioningConfiguration": To(
                    "VersioningConfiguration", fields={"status": "Status", "mfaDelete": "MFADelete"}
                ),
                "mfa": "MFA",
            },
            # `Disabled` (an unversioned bucket, which S3 cannot be set back to) makes no call: the
            # provider only records it, so S3's Enabled/Suspended enum does not apply to it.
            when=lambda values: _get(values, "versioningConfiguration", "status") != "Disabled",
        ),
    ),
    "aws:ssoadmin/accountAssignment:AccountAssignment": (
        Call(
            "sso-admin",
            "CreateAccountAssignment",
            {
                name: name[0].upper() + name[1:]
                for name in (
                    "instanceArn",
                    "permissionSetArn",
                    "principalId",
                    "principalType",
                    "targetId",
                    "targetType",
                )
            },
            provided=frozenset({"TargetType"}),  # the provider sends AWS_ACCOUNT, the only type
        ),
    ),
    "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment": (
        Call(
            "sso-admin",
            "AttachManagedPolicyToPermissionSet",
            {
                "instanceArn": "InstanceArn",
                "permissionSetArn": "PermissionSetArn",
                "managedPolicyArn": "ManagedPolicyArn",
            },
        ),
    ),
    "aws:ssoadmin/permissionSet:PermissionSet": (
        Call(
            "sso-admin",
            "CreatePermissionSet",
            {
                "name": "Name",
                "description": "Description",
                "instanceArn": "InstanceArn",
                "sessionDuration": "SessionDuration",
                "relayState": "RelayState",
                "tags": TAGS,
            },
        ),
    ),
    "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy": (
        Call(
            "sso-admin",
            "PutInlinePolicyToPermissionSet",
            {"instanceArn": "InstanceArn", "permissionSetArn": "PermissionSetArn", "inlinePolicy": "InlinePolicy"},
        ),
    ),
}

#: Inputs of a type that reach no request member: the provider acts on them itself, or sends them
#: in a form the shapes do not constrain (an object's body). A test holds every sample input to
#: `CALLS` or this table, so that a new input is mapped or explained.
UNSENT: dict[str, frozenset[str]] = {
    "aws:organizations/account:Account": frozenset({"closeOnDeletion"}),  # CloseAccount on destroy, or not
    "aws:route53/zone:Zone": frozenset({"forceDestroy"}),  # deletes the records before DeleteHostedZone
    "aws:route53/record:Record": frozenset({"allowOverwrite"}),  # UPSERT instead of CREATE
    "aws:cloudfront/function:Function": frozenset({"publish"}),  # decides whether PublishFunction is called
    "aws:s3/bucket:Bucket": frozenset({"forceDestroy"}),
    "aws:s3/bucketObjectv2:BucketObjectv2": frozenset({"content", "source"}),  # the Body blob
    "aws:kms/key:Key": frozenset({"enableKeyRotation"}),  # decides whether EnableKeyRotation is called
    # StartLogging or StopLogging after the trail is created
    "aws:cloudtrail/trail:Trail": frozenset({"enableLogging"}),
}

#: Patterns met that Python's `re` cannot compile: skipped, never failed (see the module docstring).
SKIPPED_PATTERNS: set[str] = set()

_loader = Loader()


@functools.cache
def service_model(service: str) -> ServiceModel:
    """A service's model, loaded once per process (the larger ones take a noticeable part of a second)."""
    return ServiceModel(_loader.load_service_model(service, "service-2"), service_name=service)


@functools.cache
def operation(service: str, name: str) -> OperationModel:
    return service_model(service).operation_model(name)


@functools.cache
def _pattern(pattern: str) -> Any:
    try:
        return regex.compile(pattern)
    except regex.error:
        SKIPPED_PATTERNS.add(pattern)
        return None


# --- building a request ---------------------------------------------------------------------


def _put(request: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at a dotted member path; numeric parts index lists (created as needed)."""
    parts = path.split(".")
    node: Any = request
    for here, following in itertools.pairwise(parts):
        child: Any = [] if following.isdigit() else {}
        if here.isdigit():
            index = int(here)
            while len(node) <= index:
                node.append(child)
            node = node[index]
        else:
            node = node.setdefault(here, child)
    last = parts[-1]
    if last.isdigit():
        while len(node) <= int(last):
            node.append({})
        node[int(last)] = value
    else:
        node[last] = value


def _convert(value: Any, target: str | To) -> tuple[str, Any]:
    if isinstance(target, str):
        return target, value
    if target.convert is not None:
        value = target.convert(value)
    if target.fields is not None:
        value = _rename(value, target.fields)
    return target.member, value


def _rename(value: Any, fields: Mapping[str, str | To]) -> Any:
    if isinstance(value, list):
        return [_rename(v, fields) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in fields and item is not None:
            member, converted = _convert(item, fields[key])
            _put(out, member, converted)
    return out


def build_request(call: Call, values: Mapping[str, Any]) -> dict[str, Any]:
    """The request the provider would send for `call`, from a resource's inputs."""
    request: dict[str, Any] = {}
    for path, value in call.sends.items():
        _put(request, path, value)
    for name, target in call.fields.items():
        if values.get(name) is None:
            continue
        member, value = _convert(values[name], target)
        _put(request, member, value)
    return request


# --- walking a shape ---------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def problems(value: Any, shape: Shape, path: str, provided: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every way `value` breaks `shape` (path names the member, for the message)."""
    if value is None or is_unknown(value):
        return
    meta = shape.metadata
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            yield f"{path} must be an object ({shape.name}), not {short(value)}"
            return
        for key, item in value.items():
            if key not in shape.members:
                where = f"{path}.{key}" if path else key
                yield f"{where} is not a member of {shape.name} (members: {', '.join(shape.members)})"
            else:
                yield from problems(item, shape.members[key], f"{path}.{key}" if path else key)
        for required in shape.required_members:
            if value.get(required) is None and required not in provided:
                yield f"{path + '.' if path else ''}{required} is required by {shape.name}"
        return
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            yield f"{path} must be a list, not {short(value)}"
            return
        yield from _size(path, len(value), meta, "items")
        for i, item in enumerate(value):
            yield from problems(item, shape.member, f"{path}[{i}]")
        return
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            yield f"{path} must be a map, not {short(value)}"
            return
        yield from _size(path, len(value), meta, "entries")
        for key, item in value.items():
            yield from problems(key, shape.key, f"{path} key {key!r}")
            yield from problems(item, shape.value, f"{path}[{key!r}]")
        return
    if kind == "string":
        if not isinstance(value, str):
            yield f"{path} must be a string, not {short(value)}"
            return
        enum = meta.get("enum")
        if enum and value not in enum:
            yield f"{path} is {short(value)}, not one of {', '.join(enum)}"
        yield from _size(path, len(value), meta, "characters")
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            yield f"{path} is {short(value)}, which does not match the pattern {meta['pattern']}"
        return
    if kind in ("integer", "long"):
        if not _number(value) or not float(value).is_integer():
            yield f"{path} must be a whole number, not {short(value)}"
            return
        yield from _range(path, value, meta)
        return
    if kind in ("double", "float"):
        if not _number(value) or math.isnan(value):
            yield f"{path} must be a number, not {short(value)}"
            return
        yield from _range(path, value, meta)
        return
    if kind == "boolean" and not isinstance(value, bool):
        yield f"{path} must be true or false, not {short(value)}"
    # blob and timestamp values are not checked: the provider encodes them.


def _size(path: str, size: int, meta: Mapping[str, Any], unit: str) -> Iterator[str]:
    if "min" in meta and size < meta["min"]:
        yield f"{path} has {size} {unit}, fewer than the minimum {meta['min']}"
    if "max" in meta and size > meta["max"]:
        yield f"{path} has {size} {unit}, more than the maximum {meta['max']}"


def _range(path: str, value: float, meta: Mapping[str, Any]) -> Iterator[str]:
    if "min" in meta and value < meta["min"]:
        yield f"{path} is {value:g}, below the minimum {meta['min']}"
    if "max" in meta and value > meta["max"]:
        yield f"{path} is {value:g}, above the maximum {meta['max']}"


def _made(call: Call, values: Mapping[str, Any]) -> bool:
    if call.when is None:
        return True
    if isinstance(call.when, str):
        return values.get(call.when) is not None
    return call.when(values)


def check_call(call: Call, values: Mapping[str, Any]) -> list[str]:
    """The problems of one call's request built from `values`; a call none of whose inputs is set is not made."""
    if not _made(call, values):
        return []
    request = build_request(call, values)
    if not request:
        return []
    shape = operation(call.service, call.operation).input_shape
    if shape is None:
        return []
    found = list(problems(request, shape, "", call.provided))
    for path, rule in call.documented.items():
        value = _get(request, *path.split("."))
        if value is not None and not is_unknown(value) and rule.breaks(value):
            shown = f"{value:g}" if _number(value) else short(value)
            found.append(f"{path} is {shown}: the API reference says {rule.says} ({rule.doc})")
    return found


def _pulumi_name(call: Call, problem: str) -> str:
    """The input a problem is about: the one whose member path is the longest prefix of the problem's."""
    where = re.sub(r"\[(\d+)\]", r".\1", problem.split(" ")[0])
    best, length = where.split(".")[0], 0
    for name, target in call.fields.items():
        member = target if isinstance(target, str) else target.member
        if (where == member or where.startswith(member + ".")) and len(member) > length:
            best, length = name, len(member)
    return best


def check(records: Sequence[Record]) -> list[Finding]:
    """Every known AWS input checked against the request shapes of the calls the provider makes.

    A type with no entry (a team's program may create any) is not passed in silence: its first
    resource gets an advisory finding saying its inputs went unchecked.
    """
    found: list[Finding] = []
    unmapped: set[str] = set()
    for record in records:
        entry = CALLS.get(record.type)
        if entry is None and record.custom and record.type.startswith("aws:") and record.type not in unmapped:
            unmapped.add(record.type)
            found.append(
                finding(
                    CHECKER,
                    record,
                    f"cannot verify the inputs of {record.type} against AWS's API: the cloud layer has no entry "
                    "for the calls its provider makes (policies/cloud/botocore_shapes.py CALLS)",
                    ADVISORY,
                )
            )
        if not record.custom or entry is None or isinstance(entry, NoShape):
            continue
        values = inputs(record)
        for call in entry:
            for problem in check_call(call, values):
                found.append(
                    finding(
                        CHECKER,
                        record,
                        f"{call.service} {call.operation} would reject input {_pulumi_name(call, problem)!r}: "
                        f"{problem}",
                    )
                )
    return found


def missing_types(types: Sequence[str]) -> list[str]:
    """AWS resource types among `types` with no entry in `CALLS` (a test keeps this empty)."""
    return sorted({t for t in types if t.startswith("aws:") and t not in CALLS})
