"""The router component (`components.aws.tenant_router`) under the cloud-like mocks: what it asks AWS for."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime import rpc

from cellctl.mocks import CloudMocks
from cellctl.offline import PlannedResource, StackPlan, run_program
from cells import Registry, routes
from components.aws import tenant_router
from components.aws.tenant_router import TenantRouter, TenantRouterArgs
from policies import cloud
from policies.base import tag_field
from policies.cloud import botocore_shapes
from policies.evaluate import evaluate, reveal
from policies.tagging import required_tags

STORE = "aws:cloudfront/keyValueStore:KeyValueStore"
KEY = "aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey"
FUNCTION = "aws:cloudfront/function:Function"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
CERTIFICATE = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
ZONE_ID = "Z0PARENTZONE0000000"
ROUTER_KEY = "k" * 64
DNS_ROLE = "arn:aws:iam::111111111111:role/honeycomb-dns"


def router_plan(registry: Registry, route_list: list[routes.Route] | None = None) -> tuple[StackPlan, dict[str, Any]]:
    seen: dict[str, Any] = {}

    def program() -> None:
        provider = aws.Provider(
            "routing-dns",
            region="us-east-1",
            assume_roles=[{"role_arn": DNS_ROLE}],
            default_tags={"tags": {"managed-by": "honeycomb"}},
        )
        router = TenantRouter(
            "router",
            TenantRouterArgs(
                routes=routes.routes(registry) if route_list is None else route_list,
                host=routes.router_host(registry),
                zone_id=ZONE_ID,
                default_origin=routes.cell_origin(registry, "alpha"),
                router_key=pulumi.Output.secret(ROUTER_KEY),
            ),
            provider=provider,
        )
        for name in ("store_arn", "store_id", "store_name", "distribution_domain", "certificate_arn", "url"):
            getattr(router, name).apply(lambda value, name=name: seen.update({name: value}))

    return run_program(program, stack="routing", mocks=CloudMocks(registry)), seen


@pytest.fixture(scope="module")
def planned(registry: Registry) -> tuple[StackPlan, dict[str, Any]]:
    return router_plan(registry)


@pytest.fixture
def plan(planned: tuple[StackPlan, dict[str, Any]]) -> StackPlan:
    return planned[0]


def only(plan: StackPlan, type_: str) -> PlannedResource:
    (found,) = plan.of_type(type_)
    return found


def test_one_store_key_per_tenant_with_the_registry_route_and_the_value_left_to_moves(plan, registry):
    store = only(plan, STORE)
    keys = {k.inputs["key"]: k for k in plan.of_type(KEY)}
    expected = {r.tenant: r.store_value() for r in routes.routes(registry)}
    assert {t: k.inputs["value"] for t, k in keys.items()} == expected
    assert all(k.inputs["keyValueStoreArn"] == store.outputs["arn"] for k in keys.values())
    assert all(k.ignore_changes == ("value",) for k in keys.values())
    assert {k.name for k in keys.values()} == {f"router-route-{t}" for t in expected}
    assert store.inputs["name"] == "router-tenants"


def test_the_function_runs_router_js_on_runtime_2_with_the_store_associated(plan):
    function = only(plan, FUNCTION)
    assert function.inputs["runtime"] == "cloudfront-js-2.0"
    assert function.inputs["publish"] is True
    assert function.inputs["code"] == tenant_router.function_code()
    assert function.inputs["keyValueStoreAssociations"] == [only(plan, STORE).outputs["arn"]]


def test_the_distribution_serves_the_host_with_its_validated_certificate_and_the_function(plan, registry):
    distribution = only(plan, DISTRIBUTION).inputs
    assert distribution["aliases"] == [routes.router_host(registry)]
    assert distribution["viewerCertificate"] == {
        "acmCertificateArn": only(plan, VALIDATION).outputs["certificateArn"],
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    behavior = distribution["defaultCacheBehavior"]
    assert behavior["functionAssociations"] == [
        {"eventType": "viewer-request", "functionArn": only(plan, FUNCTION).outputs["arn"]}
    ]
    assert behavior["cachePolicyId"] == tenant_router.CACHING_DISABLED
    assert behavior["originRequestPolicyId"] == tenant_router.ALL_VIEWER_EXCEPT_HOST_HEADER
    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
    assert set(behavior["allowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
    (origin,) = reveal(distribution["origins"])
    assert origin["domainName"] == "web.alpha.cells.acme-corp.net"
    assert origin["originId"] == behavior["targetOriginId"]
    assert origin["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    assert origin["customOriginConfig"]["originSslProtocols"] == ["TLSv1.2"]
    # CloudFront compresses only under a cache policy that enables it; CachingDisabled does not.
    assert "compress" not in behavior


def test_every_origin_request_carries_the_secret_router_key(plan):
    raw = only(plan, DISTRIBUTION).inputs["origins"]
    # Sent as a secret: the state and `pulumi preview` never show the key.
    assert raw[rpc._special_sig_key] == rpc._special_secret_sig
    (origin,) = reveal(raw)
    assert origin["customHeaders"] == [{"name": "x-honeycomb-router-key", "value": ROUTER_KEY}]


def test_the_certificate_is_validated_by_its_own_record_in_the_parent_zone(plan, registry):
    certificate = only(plan, CERTIFICATE)
    assert certificate.inputs["domainName"] == routes.router_host(registry)
    assert certificate.inputs["validationMethod"] == "DNS"
    # ACM in us-east-1, the only region CloudFront takes viewer certificates from.
    assert certificate.outputs["arn"].startswith("arn:aws:acm:us-east-1:111111111111:certificate/")
    (option,) = certificate.outputs["domainValidationOptions"]
    record = plan.one(RECORD, "router-certificate-validation").inputs
    assert (record["zoneId"], record["name"], record["type"], record["records"]) == (
        ZONE_ID,
        option["resourceRecordName"],
        "CNAME",
        [option["resourceRecordValue"]],
    )
    validation = only(plan, VALIDATION).inputs
    assert validation["certificateArn"] == certificate.outputs["arn"]
    assert validation["validationRecordFqdns"] == [option["resourceRecordName"].rstrip(".")]


def test_the_host_is_an_alias_to_the_distribution_for_ipv4_and_ipv6(plan, registry):
    domain = only(plan, DISTRIBUTION).outputs["domainName"]
    for kind in ("A", "AAAA"):
        record = plan.one(RECORD, f"router-alias-{kind.lower()}").inputs
        assert (record["zoneId"], record["name"], record["type"]) == (ZONE_ID, routes.router_host(registry), kind)
        assert record["aliases"] == [{"name": domain, "zoneId": "Z2FDTNDATAQYW2", "evaluateTargetHealth": False}]
        assert "ttl" not in record and "records" not in record
    assert only(plan, DISTRIBUTION).inputs["isIpv6Enabled"] is True


def test_every_resource_goes_through_the_given_provider_under_the_component(plan):
    (provider,) = [r for r in plan.resources if r.type == "pulumi:providers:aws"]
    (component,) = [r for r in plan.resources if r.type == "honeycomb:aws:TenantRouter"]
    children = [r for r in plan.resources if r.custom and r.type != "pulumi:providers:aws"]
    assert children and all(r.provider == provider.urn and r.parent == component.urn for r in children)
    assert all(count == 1 for count in Counter(r.urn for r in plan.resources).values())


def test_the_outputs_name_the_store_for_the_move_workflow(planned, registry):
    plan, seen = planned
    store = only(plan, STORE)
    assert seen["store_arn"] == store.outputs["arn"]
    assert seen["store_arn"].startswith("arn:aws:cloudfront::111111111111:key-value-store/")
    assert seen["store_id"] == seen["store_arn"].rsplit("/", 1)[1] and len(seen["store_id"]) == 36
    assert seen["store_name"] == "router-tenants"
    assert seen["distribution_domain"].endswith(".cloudfront.net")
    assert seen["url"] == f"https://{routes.router_host(registry)}/"


def test_a_tenant_mid_move_is_created_with_its_route_and_the_move(registry):
    found = routes.routes(registry)
    found[0] = replace(found[0], moving_to="gamma")
    plan, _ = router_plan(registry, found)
    key = next(k for k in plan.of_type(KEY) if k.inputs["key"] == found[0].tenant)
    assert routes.parse_store_value(key.inputs["value"])["moving_to"] == "gamma"


def test_duplicate_routes_stop_the_program_before_any_resource(registry):
    route = routes.routes(registry)[0]
    with pytest.raises(ValueError, match=f"tenant {route.tenant!r} has two routes"):
        router_plan(registry, [route, route])


def test_no_tenants_is_a_router_with_an_empty_store(registry):
    plan, _ = router_plan(registry, [])
    assert plan.of_type(KEY) == [] and len(plan.of_type(STORE)) == 1


# --- what the clouds' rules and the pack make of the router --------------------------------------


def changed(record: PlannedResource, **inputs: Any) -> PlannedResource:
    return replace(record, inputs={**record.inputs, **inputs})


def cloud_errors(records: list[PlannedResource]) -> list[str]:
    return [f.message for f in botocore_shapes.check(records) if f.level == "error"]


def test_every_router_type_and_input_has_a_cloud_mapping_and_the_plan_is_clean(plan):
    types = [r.type for r in plan.resources if r.custom]
    assert botocore_shapes.missing_types(types) == []
    for record in plan.resources:
        entry = botocore_shapes.CALLS.get(record.type)
        if not record.type.startswith("aws:") or isinstance(entry, botocore_shapes.NoShape) or entry is None:
            continue
        mapped = {name for call in entry for name in call.fields} | botocore_shapes.UNSENT.get(record.type, set())
        assert set(record.inputs) <= mapped, record.type
    for checker, check in cloud.CHECKERS.items():
        assert [f.message for f in check(plan.resources) if f.level == "error"] == [], checker


@pytest.mark.parametrize(
    ("type_", "inputs", "expected"),
    [
        (FUNCTION, {"runtime": "cloudfront-js-3.0"}, "FunctionConfig.Runtime is 'cloudfront-js-3.0', not one of"),
        (FUNCTION, {"keyValueStoreAssociations": ["my-store"]}, "KeyValueStoreARN is 'my-store', which does not match"),
        (FUNCTION, {"code": "//" + "x" * 10240}, "a function of at most 10 KB"),
        (STORE, {"name": "router tenants"}, "Name is 'router tenants', which does not match the pattern"),
        (KEY, {"key": "k" * 513}, "a key of at most 512 bytes"),
        (KEY, {"value": "é" * 513}, "a value of at most 1 KB"),
        (CERTIFICATE, {"validationMethod": "DNS01"}, "ValidationMethod is 'DNS01', not one of"),
    ],
)
def test_what_cloudfront_or_acm_would_reject_fires(plan, type_, inputs, expected):
    record = changed(plan.of_type(type_)[0], **inputs)
    [message] = cloud_errors([record])
    assert expected in message, message


def test_a_distribution_cloudfront_would_reject_fires(plan):
    distribution = only(plan, DISTRIBUTION)
    behavior = {**distribution.inputs["defaultCacheBehavior"], "cachedMethods": ["GET", "FETCH"]}
    arn = only(plan, FUNCTION).outputs["arn"]
    behavior["functionAssociations"] = [{"eventType": "viewer_request", "functionArn": arn}]
    certificate = {**distribution.inputs["viewerCertificate"], "minimumProtocolVersion": "TLSv1.2_2020"}
    found = cloud_errors([changed(distribution, defaultCacheBehavior=behavior, viewerCertificate=certificate)])
    assert any("CachedMethods.Items[1] is 'FETCH', not one of" in m for m in found), found
    assert any("FunctionAssociations.Items[0].EventType is 'viewer_request'" in m for m in found), found
    assert any("MinimumProtocolVersion is 'TLSv1.2_2020'" in m for m in found), found
    assert len(found) == 3


def test_a_viewer_certificate_outside_us_east_1_fires(plan):
    distribution = only(plan, DISTRIBUTION)
    arn = distribution.inputs["viewerCertificate"]["acmCertificateArn"].replace("us-east-1", "eu-west-1")
    certificate = {**distribution.inputs["viewerCertificate"], "acmCertificateArn": arn}
    [message] = cloud_errors([changed(distribution, viewerCertificate=certificate)])
    assert "ACMCertificateArn is 'arn:aws:acm:eu-west-1:" in message
    assert "a viewer certificate must be an ACM certificate in us-east-1" in message


def test_taggable_router_types_carry_the_tags_and_fire_without_them(plan, registry):
    taggable = {t for t in (STORE, KEY, FUNCTION, DISTRIBUTION, CERTIFICATE, VALIDATION) if tag_field(t)}
    assert taggable == {STORE, FUNCTION, DISTRIBUTION, CERTIFICATE}
    assert evaluate(plan.resources, registry=registry, policies=[required_tags]) == []
    untagged = [changed(r, defaultTags=None) if r.type == "pulumi:providers:aws" else r for r in plan.resources]
    untagged = [replace(r, inputs={k: v for k, v in r.inputs.items() if v is not None}) for r in untagged]
    found = evaluate(untagged, registry=registry, policies=[required_tags])
    assert sorted({f.type for f in found}) == sorted(taggable)
    assert all("lacks the tags managed-by" in f.message for f in found)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a resource's inputs (keys and list positions)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        found += [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    elif isinstance(value, list):
        found += [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return found


def _with(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _with(value[head], rest, new)}
    return [_with(v, rest, new) if i == head else v for i, v in enumerate(value)]


def test_no_cloud_checker_crashes_on_odd_router_inputs(plan):
    """Whatever a program passes (a type's wrong shape included), the checkers report, never raise."""
    records = [r for r in plan.resources if r.custom and r.type in botocore_shapes.CALLS and r.type != KEY]
    records.append(plan.of_type(KEY)[0])
    for record in records:
        for path in _paths(record.inputs):
            for odd in (None, 7, "x", [], {}, [1], True):
                mutated = replace(record, inputs=_with(record.inputs, path, odd))
                for check in cloud.CHECKERS.values():
                    check([mutated])


# --- the routing stack's router key (stack config) ----------------------------------------------


def test_the_routing_stack_sends_its_committed_secret_as_the_router_key(registry):
    from cellctl.offline import run_stack

    # The committed stack file's secure value: offline, the placeholder Pulumi shows for a secret.
    plan = run_stack("routing", registry)
    raw = only(plan, DISTRIBUTION).inputs["origins"]
    assert raw[rpc._special_sig_key] == rpc._special_secret_sig
    assert reveal(raw)[0]["customHeaders"] == [{"name": "x-honeycomb-router-key", "value": "[secret]"}]
    assert plan.outputs["router"]["store_arn"] == only(plan, STORE).outputs["arn"]


@pytest.mark.parametrize(
    ("config", "secret_keys", "expected"),
    [
        ({}, (), "stacks/Pulumi.routing.yaml: honeycomb:routerOriginSecret is missing: set it with `pulumi config set"),
        ({"routerOriginSecret": "k" * 64}, (), "honeycomb:routerOriginSecret is in plain text: set it with"),
    ],
)
def test_a_missing_or_plaintext_router_key_stops_the_routing_stack(registry, config, secret_keys, expected):
    from stacks import routing

    def program() -> None:
        routing.program(registry)

    with pytest.raises(routing.RoutingConfigError, match=re.escape(expected)) as raised:
        run_program(program, stack="routing", mocks=CloudMocks(registry), config=config, secret_keys=secret_keys)
    assert "x-honeycomb-router-key" in str(raised.value)
