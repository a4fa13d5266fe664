"""A move's route writes on AWS: the tenant's CNAME in the parent zone and its router store key.

Both live in the DNS account, reached through the routing role (`honeycomb-routing`, made by the
management stack) under the session `honeycomb-move-<tenant>`, which the role's trust policy
allows beside the routing stack's own session; CloudTrail tells a move's writes apart by it.

- Route53 (`route53`, a global API served from us-east-1): `ListResourceRecordSets` from the
  tenant's name reads the record; `ChangeResourceRecordSets` replaces it with one change batch,
  DELETE the record this move expects + CREATE the new one: "Change batches are considered
  transactional ... either makes all or none of the changes", and a DELETE must name the record's
  exact values (Route 53 API reference, ChangeResourceRecordSets), so a record someone else changed
  fails the batch (`InvalidChangeBatch`) instead of being overwritten. Then `GetChange` is polled
  until `INSYNC` with the delay and attempts of botocore's own `resource_record_sets_changed`
  waiter, every answer checked, sleeping on the move's `Clock` (the waiter itself would sleep on
  the wall clock); throttling while polling is polled again. The clients retry in botocore's
  `standard` mode with more attempts (Route53 throttles per account; parallel moves share it).
- CloudFront KeyValueStore (`cloudfront-keyvaluestore`): `DescribeKeyValueStore` gives the store's
  ETag, `GetKey` the value, `PutKey` writes with `IfMatch` that ETag; a stale ETag is a 409
  `ConflictException` (`StoreConflictError`: the engine reads again and retries). The ETag is the
  whole store's, so parallel moves of other tenants change it too: the engine's compare-and-set
  on the tenant's own value is what keeps another writer's change from being overwritten. Its
  endpoint rules sign every request with SigV4A (region set `*`), which botocore implements with
  the AWS common runtime: `boto3[crt]` in pyproject.toml. SigV4A with temporary credentials needs
  version 2 session tokens (CloudFront Developer Guide, "Work with key value data"), which the
  regional STS endpoints issue and the legacy global one does not (unless the account says so):
  STS is always called at its us-east-1 regional endpoint, and boto3 is at least 1.40 (regional
  STS by default).

The routing role's session is refreshed by botocore before it expires
(`AssumeRoleCredentialFetcher` + `DeferredRefreshableCredentials`, as a profile's `role_arn`
does), from base credentials that must renew themselves (an SSO profile, instance or container
credentials); a move can outlast the role's one-hour session (a mirror of hours, a slow INSYNC).

The store's ARN is the routing stack's output (`router_store_arn`), or `--store-arn`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cellctl.rollout.clock import Clock
from cellctl.tenants.move import MoveError, Record, StoreConflictError
from components.aws.routing_role import MOVE_SESSION_PREFIX, REGION, move_session, role_arn

if TYPE_CHECKING:
    from cells import Registry

__all__ = ["MOVE_SESSION_PREFIX", "AwsRoutes", "aws_routes", "move_session", "store_arn_from_outputs"]

#: STS at its regional endpoint: version 2 session tokens, which SigV4A requires; never the global
#: one (an endpoint configured on purpose, a VPC endpoint or a test's, is kept).
STS_ENDPOINT = f"https://sts.{REGION}.amazonaws.com"
LEGACY_STS_ENDPOINT = "https://sts.amazonaws.com"
#: botocore's standard retry mode (throttling and transient errors, exponential backoff), more attempts.
RETRIES = {"mode": "standard", "max_attempts": 10}
#: Error codes of a poll that is asked again rather than failing the step.
POLL_AGAIN = frozenset({"Throttling", "ThrottlingException", "PriorRequestNotComplete"})
#: Where the routing stack's outputs may carry the store's ARN: top level, or inside the router's.
STORE_ARN_OUTPUTS = ("routerStoreArn", "storeArn", "store_arn", "keyValueStoreArn")


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
        from botocore.exceptions import BotoCoreError, ClientError

        # The ETag first: a change between the two reads then fails the write's IfMatch.
        etag = str(self._kvs("DescribeKeyValueStore", self.kvs.describe_key_value_store, KvsARN=self.store_arn)["ETag"])
        try:
            value = self.kvs.get_key(KvsARN=self.store_arn, Key=key)["Value"]
        except (BotoCoreError, ClientError) as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None, etag
            raise MoveError(f"cannot read router store key {key!r} ({self.store_arn}): {exc}") from None
        return str(value), etag

    def put_key(self, key: str, value: str, if_match: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.kvs.put_key(KvsARN=self.store_arn, Key=key, Value=value, IfMatch=if_match)
        except (BotoCoreError, ClientError) as exc:
            if _code(exc) == "ConflictException":
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

    def replace_record(self, name: str, expected: Record, new: Record) -> None:
        """One all-or-nothing batch, DELETE `expected` + CREATE `new`; a record already `new` is left as it is."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self.get_record(name) == new:
            return
        batch = {
            "Comment": f"cellctl tenants move: {name} -> {new.target}",
            "Changes": [_change("DELETE", name, expected), _change("CREATE", name, new)],
        }
        try:
            info = self.route53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch=batch)["ChangeInfo"]
        except (BotoCoreError, ClientError) as exc:
            # A DELETE that does not match fails the batch (InvalidChangeBatch); say so when that is why.
            now = self.get_record(name) if _code(exc) in {"InvalidChangeBatch", "InvalidInput"} else expected
            if now != expected:
                raise MoveError(
                    f"the record {name} changed: it is {now} rather than {expected} as this move left it, so this "
                    "move does not overwrite it"
                ) from None
            raise MoveError(f"cannot write record {name} in zone {self.zone_id}: {exc}") from None
        self._wait_in_sync(name, info)

    def _wait_in_sync(self, name: str, info: dict[str, Any]) -> None:
        """Every GetChange answer is looked at, the last one too; throttling is polled again."""
        from botocore.exceptions import BotoCoreError, ClientError

        for _ in range(self.attempts):
            if info["Status"] == "INSYNC":
                return
            self.clock.sleep(self.delay)
            try:
                info = self.route53.get_change(Id=info["Id"])["ChangeInfo"]
            except (BotoCoreError, ClientError) as exc:
                if _code(exc) not in POLL_AGAIN:
                    raise MoveError(f"cannot follow the change of {name} in zone {self.zone_id}: {exc}") from None
        if info["Status"] == "INSYNC":
            return
        raise MoveError(f"the change of {name} was not in sync after {self.attempts * self.delay:.0f} s")


def _code(exc: Exception) -> str | None:
    """A ClientError's AWS error code (`None` for botocore's own errors)."""
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _change(action: str, name: str, record: Record) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name,
            "Type": "CNAME",
            "TTL": record.ttl,
            "ResourceRecords": [{"Value": record.target}],
        },
    }


def aws_routes(
    registry: Registry,
    tenant_id: str,
    store_arn: str,
    clock: Clock,
    *,
    session_factory: Callable[..., Any] | None = None,
) -> AwsRoutes:
    """Clients in the DNS account through the routing role, under the move's session name.

    The role is assumed here, once (a missing grant fails now, before anything is written), and
    again by botocore whenever the session nears its expiry."""
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.credentials import AssumeRoleCredentialFetcher, RefreshableCredentials
    from botocore.exceptions import BotoCoreError, ClientError

    factory = session_factory or boto3.Session
    org = registry.organization.aws
    role = role_arn(org.dns_account_id)
    base = factory(region_name=REGION)
    source = base.get_credentials()
    if source is None:
        raise MoveError(f"no AWS credentials to assume the routing role {role} with (sign in first)")

    def sts(name: str, **kwargs: Any) -> Any:
        client = base.client(name, region_name=REGION, **kwargs)
        if client.meta.endpoint_url == LEGACY_STS_ENDPOINT:  # boto3 < 1.40, or AWS_STS_REGIONAL_ENDPOINTS=legacy
            client = base.client(name, region_name=REGION, endpoint_url=STS_ENDPOINT, **kwargs)
        return client

    fetcher = AssumeRoleCredentialFetcher(
        sts,
        source,
        role,
        extra_args={"RoleSessionName": move_session(tenant_id)},
    )
    try:
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=fetcher.fetch_credentials(), refresh_using=fetcher.fetch_credentials, method="assume-role"
        )
    except (BotoCoreError, ClientError) as exc:
        raise MoveError(f"cannot assume the routing role {role} to flip {tenant_id}: {exc}") from None
    core = botocore.session.get_session()
    core._credentials = credentials  # botocore's documented way is a profile; this is the same object it builds
    session = factory(botocore_session=core, region_name=REGION)
    config = Config(retries=RETRIES)
    return AwsRoutes(
        route53=session.client("route53", config=config),
        kvs=session.client("cloudfront-keyvaluestore", config=config),
        zone_id=org.parent_zone_id,
        store_arn=store_arn,
        clock=clock,
    )
