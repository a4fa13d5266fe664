"""The move's route writes on AWS: Route53 against a moto server, the router store against a stand-in.

Both with real boto3 clients: the record is UPSERTed and waited for, the store written with the
store's ETag as `IfMatch` and signed with SigV4A, as the service's endpoint rules require.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kvs_server import KvsServer

from cellctl.rollout.clock import VirtualClock
from cellctl.tenants.aws_routes import AwsRoutes, aws_routes, move_session, store_arn_from_outputs
from cellctl.tenants.move import MoveError, Record, StoreConflictError
from cells import Registry

STORE_ARN = "arn:aws:cloudfront::100000000003:key-value-store/0f9a3c1e-1111-4222-8333-944455556666"
NAME = "acme-bank.cells.acme-corp.net"


@pytest.fixture(scope="module")
def kvs_server() -> Iterator[KvsServer]:
    server = KvsServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kvs(kvs_server: KvsServer) -> KvsServer:
    kvs_server.state.reset()
    from kvs_server import Store

    kvs_server.state.stores[STORE_ARN] = Store({"acme-bank": '{"cell":"alpha"}'})
    return kvs_server


@pytest.fixture
def zone(aws_env: str) -> str:
    route53 = boto3.client("route53")
    zone_id: str = route53.create_hosted_zone(Name="cells.acme-corp.net", CallerReference="move-test")["HostedZone"][
        "Id"
    ].split("/")[-1]
    return zone_id


def routes(kvs: KvsServer, zone_id: str, clock: Any = None) -> AwsRoutes:
    client = kvs.route_to(boto3.client("cloudfront-keyvaluestore", region_name="us-east-1", endpoint_url=kvs.endpoint))
    return AwsRoutes(
        route53=boto3.client("route53"), kvs=client, zone_id=zone_id, store_arn=STORE_ARN, clock=clock or VirtualClock()
    )


def create(r: AwsRoutes, name: str, record: Record) -> None:
    """The record as the routing stack creates it."""
    change = {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "CNAME", "TTL": record.ttl}}
    change["ResourceRecordSet"]["ResourceRecords"] = [{"Value": record.target}]  # type: ignore[index]
    r.route53.change_resource_record_sets(HostedZoneId=r.zone_id, ChangeBatch={"Changes": [change]})


def test_store_reads_and_writes_with_the_stores_etag_signed_with_sigv4a(kvs: KvsServer, zone: str) -> None:
    r = routes(kvs, zone)
    value, etag = r.get_key("acme-bank")
    assert value == '{"cell":"alpha"}' and etag == kvs.state.stores[STORE_ARN].etag
    new = r.put_key("acme-bank", '{"cell":"gamma"}', etag)
    assert kvs.state.stores[STORE_ARN].items["acme-bank"] == '{"cell":"gamma"}'
    assert new == kvs.state.stores[STORE_ARN].etag != etag
    assert r.get_key("nobody") == (None, new)
    # The endpoint rules' auth scheme is sigv4a: the common runtime signs every request.
    assert set(kvs.state.algorithms) == {"AWS4-ECDSA-P256-SHA256"}


def test_a_stale_etag_is_a_conflict_and_nothing_is_written(kvs: KvsServer, zone: str) -> None:
    r = routes(kvs, zone)
    _, etag = r.get_key("acme-bank")
    r.put_key("other", "x", etag)  # another tenant's key changes the store's ETag
    with pytest.raises(StoreConflictError):
        r.put_key("acme-bank", '{"cell":"gamma"}', etag)
    assert kvs.state.stores[STORE_ARN].items["acme-bank"] == '{"cell":"alpha"}'


def test_a_missing_store_is_a_move_error_naming_it(kvs: KvsServer, zone: str) -> None:
    kvs.state.stores.clear()
    with pytest.raises(MoveError, match="key-value-store/0f9a3c1e"):
        routes(kvs, zone).get_key("acme-bank")


def test_record_upsert_waits_for_insync_and_reads_back(kvs: KvsServer, zone: str) -> None:
    clock = VirtualClock()
    r = routes(kvs, zone, clock)
    assert r.get_record(NAME) is None
    create(r, NAME, Record("web.alpha.cells.acme-corp.net", 60))
    assert r.get_record(NAME) == Record("web.alpha.cells.acme-corp.net", 60)
    r.replace_record(NAME, Record("web.alpha.cells.acme-corp.net", 60), Record("web.gamma.cells.acme-corp.net", 5))
    assert r.get_record(NAME) == Record("web.gamma.cells.acme-corp.net", 5)
    # A neighbour's record is not mistaken for this one.
    assert r.get_record("zz-other.cells.acme-corp.net") is None
    # The waiter's own settings: botocore's resource_record_sets_changed polls every 30 s, 60 times.
    assert (r.delay, r.attempts) == (30.0, 60)


def test_a_change_not_in_sync_is_polled_on_the_clock(kvs: KvsServer, zone: str) -> None:
    clock = VirtualClock()
    r = routes(kvs, zone, clock)
    answers = iter([{"ChangeInfo": {"Id": "c1", "Status": s}} for s in ("PENDING", "INSYNC")])
    real = r.route53

    class Slow:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def change_resource_record_sets(self, **kwargs: Any) -> Any:
            real.change_resource_record_sets(**kwargs)
            return {"ChangeInfo": {"Id": "c1", "Status": "PENDING"}}

        def get_change(self, Id: str) -> Any:  # noqa: N803 (boto3's parameter name)
            assert Id == "c1"
            return next(answers)

    create(r, NAME, Record("web.alpha.cells.acme-corp.net", 60))
    r.route53 = Slow()
    r.replace_record(NAME, Record("web.alpha.cells.acme-corp.net", 60), Record("web.alpha.cells.acme-corp.net", 5))
    assert clock.now() == 60.0  # two polls, 30 s apart


class Recording:
    """boto3.Session, recording each STS client's endpoint and its AssumeRole calls."""

    seen: list[dict[str, Any]]
    endpoints: list[str]

    def __init__(self, **kwargs: Any) -> None:
        self.session = boto3.Session(**kwargs)

    def get_credentials(self) -> Any:
        return self.session.get_credentials()

    def client(self, name: str, **kwargs: Any) -> Any:
        client = self.session.client(name, **kwargs)
        if name == "sts":
            Recording.endpoints.append(client.meta.endpoint_url)
            assume = client.assume_role

            def recorded(**args: Any) -> Any:
                Recording.seen.append(args)
                if isinstance(Recording.deny, Exception):
                    raise Recording.deny
                return assume(**args)

            client.assume_role = recorded
        return client

    deny: Exception | None = None


@pytest.fixture
def recording() -> type[Recording]:
    Recording.seen, Recording.endpoints, Recording.deny = [], [], None
    return Recording


def test_aws_routes_assumes_the_routing_role_under_the_moves_session(
    registry: Registry, aws_env: str, recording: type[Recording]
) -> None:
    r = aws_routes(registry, "acme-bank", STORE_ARN, VirtualClock(), session_factory=recording)
    assert recording.seen == [
        {"RoleArn": "arn:aws:iam::100000000003:role/honeycomb-routing", "RoleSessionName": "honeycomb-move-acme-bank"}
    ]
    assert r.zone_id == registry.organization.aws.parent_zone_id and r.store_arn == STORE_ARN
    assert len(move_session("t" * 63)) == 64
    # Route53 throttling: botocore's standard retry mode, more attempts than the legacy four.
    retries = r.route53.meta.config.retries
    assert retries["mode"] == "standard" and retries["total_max_attempts"] == 10 + 1


def test_sts_is_never_the_global_endpoint_whose_tokens_sigv4a_rejects(
    registry: Registry, aws_env: str, recording: type[Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")
    recording.deny = RuntimeError("no network in tests")
    with pytest.raises(RuntimeError):
        aws_routes(registry, "acme-bank", STORE_ARN, VirtualClock(), session_factory=recording)
    assert recording.endpoints[-1] == "https://sts.us-east-1.amazonaws.com"


def test_the_routing_session_renews_itself_before_it_expires(
    registry: Registry, aws_env: str, recording: type[Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime

    import botocore.credentials

    r = aws_routes(registry, "acme-bank", STORE_ARN, VirtualClock(), session_factory=recording)
    assert len(recording.seen) == 1
    credentials = r.route53._request_signer._credentials
    assert isinstance(credentials, botocore.credentials.RefreshableCredentials)
    # A long mirror later: 14 minutes before the session's end (botocore refreshes within 15).
    later = credentials._expiry_time - datetime.timedelta(minutes=14)
    monkeypatch.setattr(credentials, "_time_fetcher", lambda: later)
    monkeypatch.setattr(botocore.credentials, "_local_now", lambda: later)  # the fetcher's cache ages too
    credentials.get_frozen_credentials()  # what every call does before it signs
    assert len(recording.seen) == 2 and recording.seen[1]["RoleSessionName"] == "honeycomb-move-acme-bank"


def test_a_routing_role_these_credentials_may_not_assume_is_bad_input_before_any_journal(
    registry_copy: Any, aws_env: str, recording: type[Recording], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from cellctl.tenants import aws_routes as module
    from cellctl.tenants.move import MoveInputError
    from cellctl.tenants.move_setup import make_mover
    from cells import load_registry

    recording.deny = ClientError({"Error": {"Code": "AccessDenied", "Message": "not trusted"}}, "AssumeRole")
    real = module.aws_routes
    monkeypatch.setattr(module, "aws_routes", lambda *a, **k: real(*a, **k, session_factory=recording))
    with pytest.raises(MoveInputError, match=r"cannot assume the routing role .*AccessDenied.*Sign in as CI"):
        make_mover(load_registry(registry_copy), tmp_path, store_arn=STORE_ARN, health=object())  # type: ignore[arg-type]
    assert recording.seen[0]["RoleSessionName"] == "honeycomb-move-preflight"
    assert not (tmp_path / ".honeycomb").exists()


def test_the_last_answer_of_the_poll_is_looked_at(kvs: KvsServer, zone: str) -> None:
    r = routes(kvs, zone, VirtualClock())
    create(r, NAME, Record("web.alpha.cells.acme-corp.net", 60))
    answers = iter(["PENDING"] * 59 + ["INSYNC"])  # the 60th GetChange, the waiter's last
    r.route53 = Stubbed(r.route53, lambda: {"ChangeInfo": {"Id": "c1", "Status": next(answers)}})
    r.replace_record(NAME, Record("web.alpha.cells.acme-corp.net", 60), Record("web.gamma.cells.acme-corp.net", 5))


def test_throttling_while_polling_is_polled_again(kvs: KvsServer, zone: str) -> None:
    from botocore.exceptions import ClientError

    r = routes(kvs, zone, VirtualClock())
    create(r, NAME, Record("web.alpha.cells.acme-corp.net", 60))
    throttled = [ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetChange")]

    def answer() -> Any:
        if throttled:
            raise throttled.pop()
        return {"ChangeInfo": {"Id": "c1", "Status": "INSYNC"}}

    r.route53 = Stubbed(r.route53, answer)
    r.replace_record(NAME, Record("web.alpha.cells.acme-corp.net", 60), Record("web.gamma.cells.acme-corp.net", 5))
    assert r.get_record(NAME) == Record("web.gamma.cells.acme-corp.net", 5)


def test_a_record_someone_else_changed_is_not_overwritten(kvs: KvsServer, zone: str) -> None:
    r = routes(kvs, zone, VirtualClock())
    create(r, NAME, Record("web.beta.cells.acme-corp.net", 5))  # a hand fix
    with pytest.raises(MoveError, match="changed"):
        r.replace_record(NAME, Record("web.alpha.cells.acme-corp.net", 5), Record("web.gamma.cells.acme-corp.net", 5))
    assert r.get_record(NAME) == Record("web.beta.cells.acme-corp.net", 5)


def test_a_store_that_cannot_be_reached_is_a_move_error_naming_it(zone: str) -> None:
    from botocore.config import Config

    client = boto3.client(
        "cloudfront-keyvaluestore",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    r = AwsRoutes(route53=boto3.client("route53"), kvs=client, zone_id=zone, store_arn=STORE_ARN, clock=VirtualClock())
    with pytest.raises(MoveError, match="key-value-store/0f9a3c1e"):
        r.put_key("acme-bank", "x", "E0")


class Stubbed:
    """A Route53 client whose change is PENDING until `get_change` (the stub's answers) says otherwise."""

    def __init__(self, real: Any, get_change: Any) -> None:
        self.real, self.answer = real, get_change

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def change_resource_record_sets(self, **kwargs: Any) -> Any:
        self.real.change_resource_record_sets(**kwargs)
        return {"ChangeInfo": {"Id": "c1", "Status": "PENDING"}}

    def get_change(self, Id: str) -> Any:  # noqa: N803 (boto3's parameter name)
        return self.answer()


def test_store_arn_comes_from_the_routing_stacks_outputs() -> None:
    assert store_arn_from_outputs({"routerStoreArn": STORE_ARN}) == STORE_ARN
    assert store_arn_from_outputs({"router": {"storeArn": STORE_ARN}}) == STORE_ARN
    assert store_arn_from_outputs({"router": {"storeArn": "not an arn"}, "tenantNames": {}}) is None


def test_a_whole_move_against_route53_and_the_store(
    kvs: KvsServer, zone: str, registry_copy: Any, tmp_path: Any
) -> None:
    from move_fakes import FakeHealth, FakeLifecycle, FakeRoutes

    from cellctl.tenants.move_setup import make_mover
    from cells import load_registry
    from cells.routes import routes as every_route

    reg = load_registry(registry_copy)
    clock = VirtualClock()
    r = routes(kvs, zone, clock)
    for route in every_route(reg):
        kvs.state.stores[STORE_ARN].items[route.tenant] = route.store_value()
        create(r, route.name, Record(route.origin, route.ttl))
    kvs.state.conflicts = 2  # other moves write other keys meanwhile
    mover = make_mover(
        reg,
        tmp_path,
        registry_dir=registry_copy,
        clock=clock,
        routes=r,
        lifecycle=FakeLifecycle(FakeRoutes()),
        health=FakeHealth(),
        wait_grace=False,
    )
    from cellctl.tenants.moves import MoveRequest

    result = mover(MoveRequest("delta-retail", "alpha", "gamma"))
    assert result.ok, result.message
    assert (
        kvs.state.stores[STORE_ARN].items["delta-retail"] == '{"cell":"gamma","origin":"web.gamma.cells.acme-corp.net"}'
    )
    assert r.get_record("delta-retail.cells.acme-corp.net") == Record("web.gamma.cells.acme-corp.net", 60)
    assert [c for c in kvs.state.calls if c[0] == "PUT"] == [("PUT", "delta-retail")] * 5  # 3 writes, 2 retried


def test_the_store_arn_from_the_routing_stack_or_a_clear_paragraph() -> None:
    from cellctl.tenants.move import MoveInputError
    from cellctl.tenants.move_setup import routing_store_arn

    class Outputs:
        def __init__(self, found: dict[str, Any] | Exception) -> None:
            self.found = found

        def outputs(self, stack: str) -> dict[str, Any]:
            assert stack == "routing"
            if isinstance(self.found, Exception):
                raise self.found
            return self.found

    assert routing_store_arn(Outputs({"router": {"storeArn": STORE_ARN}})) == STORE_ARN  # type: ignore[arg-type]
    with pytest.raises(MoveInputError, match=r"no router store ARN among its outputs \(routerHost\).*--store-arn"):
        routing_store_arn(Outputs({"routerHost": "app.x"}))  # type: ignore[arg-type]
    with pytest.raises(MoveInputError, match=r"the Pulumi CLI is not on PATH.*or pass --store-arn"):
        routing_store_arn(Outputs(RuntimeError("the Pulumi CLI is not on PATH")))  # type: ignore[arg-type]


def test_each_tenant_gets_its_own_session() -> None:
    from cellctl.tenants.move_setup import _PerTenantRoutes

    opened: list[str] = []

    class Stub:
        def __init__(self, tenant: str) -> None:
            opened.append(tenant)

        def get_key(self, key: str) -> tuple[str | None, str]:
            return None, "E0"

        def get_record(self, name: str) -> Record | None:
            return None

    per = _PerTenantRoutes(Stub)  # type: ignore[arg-type]
    per.get_key("acme-bank")
    per.get_record("acme-bank.cells.acme-corp.net")
    per.get_key("blue-harbor")
    assert opened == ["acme-bank", "blue-harbor"]


def test_the_boto3_floor_calls_regional_sts_whose_tokens_sigv4a_accepts() -> None:
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    [boto] = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "boto3"]
    assert "crt" in boto.extras
    assert not boto.specifier.contains("1.39.99") and boto.specifier.contains("1.40.0")
