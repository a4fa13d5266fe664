"""A move's route writes on AWS: the tenant's CNAME in the parent zone and its router store key.

Both live in the DNS account, reached through the routing role (`honeycomb-routing`, made by the
management stack) under the session `honeycomb-move-<tenant>`, which the role's trust policy
allows beside the routing stack's own session; CloudTrail tells a move's writes apart by it.

- Route53 (`route53`, a global API served from us-east-1): `ListResourceRecordSets` from the
  tenant's name reads the record; `ChangeResourceRecordSets` UPSERTs it, then `GetChange` is
  polled until `INSYNC` with the delay and attempts of botocore's own
  `resource_record_sets_changed` waiter, sleeping on the move's `Clock` (the waiter itself would
  sleep on the wall clock).
- CloudFront KeyValueStore (`cloudfront-keyvaluestore`): `DescribeKeyValueStore` gives the store's
  ETag, `GetKey` the value, `PutKey` writes with `IfMatch` that ETag; a stale ETag is a 409
  `ConflictException` (`StoreConflictError`: the engine reads again and retries). The ETag is the
  whole store's, so parallel moves of other tenants change it too: the engine's compare-and-set
  on the tenant's own value is what keeps another writer's change from being overwritten. Its
  endpoint rules sign every request with SigV4A (region set `*`), which botocore implements with
  the AWS common runtime: `boto3[crt]` in pyproject.toml.

The store's ARN is the routing stack's output (`router_store_arn`), or `--store-arn`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cellctl.rollout.clock import Clock
from cellctl.tenants.move import MoveError, Record, StoreConflictError

if TYPE_CHECKING:
    from cells import Registry

#: The routing role in the DNS account and a move's session on it (`components.aws.routing_role`).
ROUTING_ROLE_NAME = "honeycomb-routing"
MOVE_SESSION_PREFIX = "honeycomb-move-"
#: Route53 and CloudFront are global services whose APIs are in us-east-1.
REGION = "us-east-1"
#: Where the routing stack's outputs may carry the store's ARN: top level, or inside the router's.
STORE_ARN_OUTPUTS = ("routerStoreArn", "storeArn", "store_arn", "keyValueStoreArn")


def move_session(tenant_id: str) -> str:
    """The session a move of `tenant_id` opens on the routing role (IAM allows 64 characters)."""
    return f"{MOVE_SESSION_PREFIX}{tenant_id}"[:64]


def store_arn_from_outputs(outputs: Mapping[str, Any]) -> str | None:
    """The router store's ARN among the routing stack's outputs (top level or in `router`), if there."""
    places: list[Mapping[str, Any]] = [outputs]
    router = outputs.get("router")
    if isinstance(router, Mapping):
        places.append(router)
    for place in places:
        for key in STORE_ARN_OUTPUTS:
            value = place.get(key)
            if isinstance(value, str) and value.startswith("arn:"):
                return value
    return None


class AwsRoutes:
    """`cellctl.tenants.move.Routes` over boto3 clients for Route53 and the router's key-value store."""

    def __init__(self, *, route53: Any, kvs: Any, zone_id: str, store_arn: str, clock: Clock) -> None:
        self.route53 = route53
        self.kvs = kvs
        self.zone_id = zone_id
        self.store_arn = store_arn
        self.clock = clock
        waiter = route53.get_waiter("resource_record_sets_changed")
        self.delay = float(waiter.config.delay)
        self.attempts = int(waiter.config.max_attempts)

    # --- the router store ----------------------------------------------------------------------

    def get_key(self, key: str) -> tuple[str | None, str]:
        from botocore.exceptions import ClientError

        # The ETag first: a change between the two reads then fails the write's IfMatch.
        etag = str(self._kvs("DescribeKeyValueStore", self.kvs.describe_key_value_store, KvsARN=self.store_arn)["ETag"])
        try:
            value = self.kvs.get_key(KvsARN=self.store_arn, Key=key)["Value"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None, etag
            raise MoveError(f"cannot read router store key {key!r} ({self.store_arn}): {exc}") from None
        return str(value), etag

    def put_key(self, key: str, value: str, if_match: str) -> str:
        from botocore.exceptions import ClientError

        try:
            answer = self.kvs.put_key(KvsARN=self.store_arn, Key=key, Value=value, IfMatch=if_match)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConflictException":
                raise StoreConflictError(str(exc)) from None
            raise MoveError(f"cannot write router store key {key!r} ({self.store_arn}): {exc}") from None
        return str(answer["ETag"])

    def _kvs(self, what: str, call: Callable[..., Any], **args: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call(**args)
        except (BotoCoreError, ClientError) as exc:
            raise MoveError(f"cloudfront-keyvaluestore {what} on {self.store_arn} failed: {exc}") from None

    # --- the record ----------------------------------------------------------------------------

    def get_record(self, name: str) -> Record | None:
        from botocore.exceptions import BotoCoreError, ClientError

        fqdn = name.rstrip(".") + "."
        try:
            found = self.route53.list_resource_record_sets(
                HostedZoneId=self.zone_id, StartRecordName=fqdn, StartRecordType="CNAME", MaxItems="1"
            )["ResourceRecordSets"]
        except (BotoCoreError, ClientError) as exc:
            raise MoveError(f"cannot read record {name} in zone {self.zone_id}: {exc}") from None
        for record in found:
            if record["Name"].lower() == fqdn.lower() and record["Type"] == "CNAME" and record.get("ResourceRecords"):
                return Record(record["ResourceRecords"][0]["Value"].rstrip("."), int(record["TTL"]))
        return None

    def upsert_record(self, name: str, record: Record) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        change = {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": name,
                "Type": "CNAME",
                "TTL": record.ttl,
                "ResourceRecords": [{"Value": record.target}],
            },
        }
        try:
            info = self.route53.change_resource_record_sets(
                HostedZoneId=self.zone_id,
                ChangeBatch={"Comment": f"cellctl tenants move: {name} -> {record.target}", "Changes": [change]},
            )["ChangeInfo"]
            for _ in range(self.attempts):
                if info["Status"] == "INSYNC":
                    return
                self.clock.sleep(self.delay)
                info = self.route53.get_change(Id=info["Id"])["ChangeInfo"]
        except (BotoCoreError, ClientError) as exc:
            raise MoveError(f"cannot write record {name} in zone {self.zone_id}: {exc}") from None
        raise MoveError(f"the change of {name} was not in sync after {self.attempts * self.delay:.0f} s")


def aws_routes(
    registry: Registry,
    tenant_id: str,
    store_arn: str,
    clock: Clock,
    *,
    session_factory: Callable[..., Any] | None = None,
) -> AwsRoutes:
    """Clients in the DNS account through the routing role, under the move's session name."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    factory = session_factory or boto3.Session
    org = registry.organization.aws
    role = f"arn:aws:iam::{org.dns_account_id}:role/{ROUTING_ROLE_NAME}"
    try:
        creds = (
            factory(region_name=REGION)
            .client("sts")
            .assume_role(RoleArn=role, RoleSessionName=move_session(tenant_id))["Credentials"]
        )
    except (BotoCoreError, ClientError) as exc:
        raise MoveError(f"cannot assume the routing role {role} to flip {tenant_id}: {exc}") from None
    session = factory(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    return AwsRoutes(
        route53=session.client("route53"),
        kvs=session.client("cloudfront-keyvaluestore"),
        zone_id=org.parent_zone_id,
        store_arn=store_arn,
        clock=clock,
    )
