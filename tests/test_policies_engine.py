"""The pack as the Pulumi engine runs it: `policies/__main__.py` serving the analyzer gRPC protocol.

The CLI starts the pack the way the Python language host does (`python -m pulumi.policy ENGINE .` in
the pack's directory, which runs `__main__.py`), reads the port it prints and calls `GetAnalyzerInfo`, `Configure`,
`Analyze` (per resource) and `AnalyzeStack`; these tests make the same calls, with a preview's
unknown values among the properties.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE

import policies
from policies import POLICIES

PACK = Path(policies.__file__).parent
STACK = "urn:pulumi:cell-alpha::honeycomb::"
ALPHA_ROLE = "arn:aws:iam::210987654321:role/OrganizationAccountAccessRole"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    yield from _serve({})


#: A stack config whose default AWS provider targets alpha's account (as `pulumi config set` writes it).
STACK_CONFIG = {"aws:region": "us-east-1", "aws:assumeRoles": json.dumps([{"roleArn": ALPHA_ROLE}])}


@pytest.fixture(scope="module")
def configured_analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack as the engine starts it for a stack with config: the config travels in PULUMI_CONFIG."""
    yield from _serve({"PULUMI_CONFIG": json.dumps(STACK_CONFIG)})


def _serve(extra_env: dict[str, str]) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    env = {k: v for k, v in os.environ.items() if k not in ("HONEYCOMB_REGISTRY", "PULUMI_CONFIG")}  # the sample
    env.update(extra_env)
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=PACK,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait()


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def _provider(role: str) -> analyzer_pb2.AnalyzerProviderResource:
    props = {"region": "us-east-1", "assumeRoles": json.dumps([{"roleArn": role}])}
    return analyzer_pb2.AnalyzerProviderResource(
        type="pulumi:providers:aws", properties=_struct(props), urn=f"{STACK}pulumi:providers:aws::alpha", name="alpha"
    )


def _analyze(stub: analyzer_pb2_grpc.AnalyzerStub, type_: str, name: str, props: dict[str, Any], role: str) -> Any:
    request = analyzer_pb2.AnalyzeRequest(
        type=type_,
        properties=_struct(props),
        urn=f"{STACK}{type_}::{name}",
        name=name,
        options=analyzer_pb2.AnalyzerResourceOptions(),
        provider=_provider(role),
    )
    return stub.Analyze(request, timeout=30).diagnostics


def test_the_engine_sees_every_rule(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "honeycomb-guardrails"
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]


def test_analyze_fires_and_passes_like_the_offline_plan(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    tags = {"cell": "alpha", "environment": "prod", "managed-by": "honeycomb"}
    assert list(_analyze(analyzer, "aws:ec2/vpc:Vpc", "alpha-vpc", {"tags": tags}, ALPHA_ROLE)) == []
    found = _analyze(analyzer, "aws:ec2/vpc:Vpc", "alpha-vpc", {"tags": {}}, "arn:aws:iam::100000000001:role/x")
    assert sorted(d.policyName for d in found) == ["cell-isolation", "required-tags"]
    # Resource diagnostics leave the URN to the engine, which knows the resource it asked about.
    assert all("alpha-vpc (aws:ec2/vpc:Vpc)" in d.message for d in found)
    assert {d.enforcementLevel for d in found} == {analyzer_pb2.MANDATORY}


def test_unknown_values_skip(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    found = _analyze(analyzer, "aws:ec2/vpc:Vpc", "alpha-vpc", {"tags": UNKNOWN_OBJECT_VALUE}, ALPHA_ROLE)
    assert list(found) == []


def test_analyze_stack(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    bucket = analyzer_pb2.AnalyzerResource(
        type="aws:s3/bucket:Bucket",
        properties=_struct({"bucket": "alpha-data"}),
        urn=f"{STACK}aws:s3/bucket:Bucket::alpha-data",
        name="alpha-data",
        options=analyzer_pb2.AnalyzerResourceOptions(),
    )
    found = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[bucket]), timeout=30).diagnostics
    buckets = [d for d in found if d.policyName == "s3-bucket-security"]
    assert {d.urn for d in buckets} == {bucket.urn}
    assert any("is not encrypted" in d.message for d in buckets)


def test_pack_config_changes_levels(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    config = {"required-tags": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.ADVISORY)}
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config), timeout=30)
    try:
        found = _analyze(analyzer, "aws:ec2/vpc:Vpc", "alpha-vpc", {"tags": {}}, ALPHA_ROLE)
        assert [(d.policyName, d.enforcementLevel) for d in found] == [("required-tags", analyzer_pb2.ADVISORY)]
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(), timeout=30)


def test_a_default_provider_is_read_from_the_stack_config_like_the_offline_plan(
    configured_analyzer: analyzer_pb2_grpc.AnalyzerStub, registry: Any
) -> None:
    from policies.isolation import cell_isolation
    from policies.testing import Stack

    tags = {"cell": "alpha", "environment": "prod", "managed-by": "honeycomb"}
    # The engine names the default provider it made from the stack config; its inputs may be empty.
    default = analyzer_pb2.AnalyzerProviderResource(
        type="pulumi:providers:aws",
        properties=_struct({}),
        urn=f"{STACK}pulumi:providers:aws::default_7_0_0",
        name="default_7_0_0",
    )
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:ec2/vpc:Vpc",
        properties=_struct({"tags": tags}),
        urn=f"{STACK}aws:ec2/vpc:Vpc::alpha-vpc",
        name="alpha-vpc",
        options=analyzer_pb2.AnalyzerResourceOptions(),
        provider=default,
    )
    assert list(configured_analyzer.Analyze(request, timeout=30).diagnostics) == []
    # Offline, the same stack config reaches the pack through the plan: the same verdict.
    stack = Stack("cell-alpha", config=STACK_CONFIG)
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {"tags": tags})
    assert stack.findings(registry, cell_isolation) == []
    stack.config = {"aws:region": "us-east-1"}
    assert "account cannot be established" in stack.findings(registry, cell_isolation)[0].message


def test_analyze_stack_judges_trust_and_admin_like_the_offline_plan(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    def role(name: str, principal: Any) -> analyzer_pb2.AnalyzerResource:
        trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}]}
        return analyzer_pb2.AnalyzerResource(
            type="aws:iam/role:Role",
            properties=_struct({"assumeRolePolicy": json.dumps(trust), "name": name}),
            urn=f"{STACK}aws:iam/role:Role::{name}",
            name=name,
            options=analyzer_pb2.AnalyzerResourceOptions(),
        )

    good, open_ = role("alpha-ok", {"Service": "eks.amazonaws.com"}), role("alpha-open", {"AWS": "*"})
    request = analyzer_pb2.AnalyzeStackRequest(resources=[good, open_])
    found = [d for d in analyzer.AnalyzeStack(request, timeout=30).diagnostics if d.policyName == "iam-trust-boundary"]
    assert [d.urn for d in found] == [open_.urn]
    assert 'trusts any principal ("*")' in found[0].message
