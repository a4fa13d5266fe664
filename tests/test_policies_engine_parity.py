"""The pack under the engine judges a whole sample stack exactly as the offline plan does.

Each stack is planned offline, then every one of its resources goes through the analyzer the way
the engine sends it (`policies/__main__.py` served by pulumi-policy, the stack config in
`PULUMI_CONFIG`): `Analyze` per resource with its inputs, options and provider, then one
`AnalyzeStack` with every resource's outputs, parent and dependencies. The diagnostics must be
the offline findings, rule for rule, resource for resource, message for message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from cellctl.offline import PlannedResource, StackPlan, run_stack
from cellctl.plan import account_ids
from cells import Registry, load_registry
from cells.loader import DEFAULT_REGISTRY
from policies import POLICIES
from policies.evaluate import evaluate
from tests.test_policies_engine import _serve, _struct

LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory", analyzer_pb2.REMEDIATE: "mandatory"}

Verdict = tuple[str, str, str | None, str]
DESCRIPTIONS = {p.name: p.description for p in POLICIES}


def _message(d: analyzer_pb2.AnalyzeDiagnostic) -> str:
    """The rule's own message: pulumi-policy puts the rule's description in front of it."""
    return d.message.removeprefix(f"{DESCRIPTIONS[d.policyName]}\n")


def _options(record: PlannedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=record.protect, ignoreChanges=list(record.ignore_changes), parent=record.parent or ""
    )


def _provider(record: PlannedResource, by_urn: dict[str, PlannedResource]) -> analyzer_pb2.AnalyzerProviderResource:
    provider = by_urn.get(record.provider or "")
    if provider is None:
        return analyzer_pb2.AnalyzerProviderResource()
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, properties=_struct(provider.inputs), urn=provider.urn, name=provider.name
    )


def _wire(value: Any) -> Any:
    """Plain JSON, as a protobuf Struct holds it."""
    return json.loads(json.dumps(value, default=str))


def _fields(record: PlannedResource, properties: dict[str, Any], by_urn: dict[str, PlannedResource]) -> dict[str, Any]:
    """What an analyzer request says of a resource: the engine sends inputs per resource, outputs per stack."""
    return {
        "type": record.type,
        "properties": _struct(_wire(properties)),
        "urn": record.urn,
        "name": record.name,
        "options": _options(record),
        "provider": _provider(record, by_urn),
    }


def engine_verdicts(stub: analyzer_pb2_grpc.AnalyzerStub, plan: StackPlan) -> set[Verdict]:
    records = plan.resources + plan.reads
    by_urn = {r.urn: r for r in records}
    found: set[Verdict] = set()
    for record in records:
        request = analyzer_pb2.AnalyzeRequest(**_fields(record, record.inputs, by_urn))
        for d in stub.Analyze(request, timeout=60).diagnostics:
            # A resource's diagnostics leave the URN to the engine, which knows what it asked about.
            found.add((d.policyName, LEVELS[d.enforcementLevel], d.urn or record.urn, _message(d)))
    resources = [
        analyzer_pb2.AnalyzerResource(
            **_fields(r, r.outputs, by_urn),
            parent=r.parent or "",
            dependencies=[d for d in r.depends_on if d in by_urn],
        )
        for r in records
    ]
    stack = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=120)
    found |= {(d.policyName, LEVELS[d.enforcementLevel], d.urn or None, _message(d)) for d in stack.diagnostics}
    return found


def offline_verdicts(plan: StackPlan, registry: Registry) -> set[Verdict]:
    findings = evaluate(
        plan.resources + plan.reads, registry=registry, account_ids=account_ids(registry), stack_config=plan.config
    )
    return {(f.policy, f.level, f.urn, f.message) for f in findings}


@pytest.fixture(scope="module")
def sample() -> Registry:
    return load_registry(DEFAULT_REGISTRY)


def _analyzer(plan: StackPlan) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    yield from _serve({"PULUMI_CONFIG": json.dumps(plan.config)})


@pytest.mark.parametrize("stack", ["cell-alpha", "cell-beta", "management", "routing"])
def test_the_engine_judges_a_sample_stack_like_the_offline_plan(stack: str, sample: Registry) -> None:
    plan = run_stack(stack, sample)
    offline = offline_verdicts(plan, sample)
    for stub in _analyzer(plan):
        engine = engine_verdicts(stub, plan)
        assert engine == offline, {"engine only": sorted(engine - offline), "offline only": sorted(offline - engine)}


def test_the_engine_judges_a_broken_stack_like_the_offline_plan(sample: Registry) -> None:
    """The same on a stack with findings: a parity of empty sets would prove nothing."""
    import dataclasses

    plan = run_stack("cell-alpha", sample)
    broken = []
    for record in plan.resources:
        if record.type == "aws:ec2/vpc:Vpc":
            record = dataclasses.replace(record, inputs={**record.inputs, "tags": {"cell": "beta"}})
        if record.type == "aws:kms/key:Key":
            record = dataclasses.replace(record, inputs={**record.inputs, "policy": "not json"})
        broken.append(record)
    plan = dataclasses.replace(plan, resources=broken)
    offline = offline_verdicts(plan, sample)
    assert {"required-tags", "kms-key-policy"} <= {policy for policy, *_ in offline}
    for stub in _analyzer(plan):
        engine = engine_verdicts(stub, plan)
        assert engine == offline, {"engine only": sorted(engine - offline), "offline only": sorted(offline - engine)}


def test_the_engine_judges_broken_tenant_records_like_the_offline_plan(sample: Registry) -> None:
    """The routing rules on both paths: a TTL over the maximum, a record into another cell, one doubled."""
    import dataclasses

    plan = run_stack("routing", sample)
    broken = []
    for record in plan.resources:
        if record.name == "route-acme-bank":
            inputs = {**record.inputs, "ttl": 900, "records": ["web.gamma.cells.acme-corp.net"]}
            record = dataclasses.replace(record, inputs=inputs, outputs={**record.outputs, **inputs})
            broken.append(dataclasses.replace(record, name="route-acme-bank-2", urn=record.urn + "-2"))
        broken.append(record)
    plan = dataclasses.replace(plan, resources=broken)
    offline = offline_verdicts(plan, sample)
    assert {"tenant-route-ttl", "tenant-route-isolation", "tenant-records"} <= {policy for policy, *_ in offline}
    for stub in _analyzer(plan):
        engine = engine_verdicts(stub, plan)
        assert engine == offline, {"engine only": sorted(engine - offline), "offline only": sorted(offline - engine)}


@pytest.mark.parametrize("program", ["web-server", "static-site", "cluster-app"])
def test_the_engine_judges_a_teams_program_like_the_offline_plan(program: str, sample: Registry) -> None:
    """Programs written by others: explicit providers from typed args (their settings as the SDK's JSON
    strings), exposure and missing tags, all judged alike."""
    from cellctl.programs import load_program, run_program_dir
    from tests.test_programs import PROGRAMS

    plan = run_program_dir(load_program(PROGRAMS / program), "cell-alpha", sample)
    offline = offline_verdicts(plan, sample)
    assert offline, "the fixture is written to have findings"
    for stub in _analyzer(plan):
        engine = engine_verdicts(stub, plan)
        assert engine == offline, {"engine only": sorted(engine - offline), "offline only": sorted(offline - engine)}
