"""The pack as a whole: the engine's entry point and the offline plan share the rule objects."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

import policies
import policies.base
from cells import Registry
from policies import POLICIES
from policies.evaluate import PolicyConfigError, enforcement_levels, evaluate
from policies.isolation import cell_isolation
from policies.tagging import required_tags
from policies.testing import Stack

PACK = Path(policies.__file__).parent


def test_rules_are_named_uniquely_and_have_levels() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == 25
    assert {p.enforcement_level for p in POLICIES} == {EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY}
    assert {p.name for p in POLICIES if p.enforcement_level == EnforcementLevel.ADVISORY} == {
        "sso-session-duration",
        "prod-protection",
    }


def test_main_builds_the_pack_from_the_same_rule_objects(monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    built: dict[str, Any] = {}

    def fake_pack(name: str, policies: list[Any], **kwargs: Any) -> None:
        built.update(name=name, policies=policies, **kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", fake_pack)
    runpy.run_path(str(PACK / "__main__.py"), run_name="__main__")
    assert built["name"] == "honeycomb-guardrails"
    assert [id(p) for p in built["policies"]] == [id(p) for p in POLICIES]
    # The offline evaluation runs exactly these objects: a broken resource fires through either list.
    stack = Stack("cell-alpha")
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {})
    assert evaluate(stack.resources, registry=registry) == evaluate(
        stack.resources, registry=registry, policies=built["policies"]
    )


def test_pack_project_file() -> None:
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "../.venv"}}


def test_levels_follow_pack_config(registry: Registry) -> None:
    levels = enforcement_levels(
        POLICIES, {"required-tags": "advisory", "prod-protection": {"enforcementLevel": "mandatory"}}
    )
    assert levels["required-tags"] == EnforcementLevel.ADVISORY
    assert levels["prod-protection"] == EnforcementLevel.MANDATORY
    assert levels["cell-isolation"] == EnforcementLevel.MANDATORY
    assert set(enforcement_levels(POLICIES, {"all": "disabled"}).values()) == {EnforcementLevel.DISABLED}
    stack = Stack("cell-alpha")
    stack.add("aws:ec2/vpc:Vpc", "alpha-vpc", {})
    assert {f.level for f in stack.findings(registry, required_tags, cell_isolation)} == {"mandatory"}
    found = stack.findings(registry, required_tags, cell_isolation, config={"required-tags": "advisory"})
    assert {(f.policy, f.level) for f in found} == {("required-tags", "advisory"), ("cell-isolation", "mandatory")}
    assert stack.findings(registry, required_tags, config={"required-tags": "disabled"}) == []


@pytest.mark.parametrize(
    ("config", "message"),
    [({"no-such-rule": "advisory"}, "unknown rules no-such-rule"), ({"required-tags": "loud"}, "'loud' is not")],
)
def test_bad_pack_config(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        enforcement_levels(POLICIES, config)


def _engine_args(
    props: dict[str, Any], provider_props: dict[str, Any], type_: str = "aws:ec2/vpc:Vpc", stack: str = "cell-alpha"
) -> ResourceValidationArgs:
    """Args the way the engine builds them during a preview: proxies that raise on unknown values."""
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    provider = PolicyProviderResource(
        "pulumi:providers:aws",
        unknown_checking_proxy(provider_props),
        f"urn:pulumi:{stack}::honeycomb::pulumi:providers:aws::alpha",
        "alpha",
    )
    return ResourceValidationArgs(
        type_,
        unknown_checking_proxy(props),
        f"urn:pulumi:{stack}::honeycomb::{type_}::alpha-x",
        "alpha-x",
        opts,
        provider,
    )


#: Resources whose deciding inputs are all unknown during a preview (they come from other resources' outputs).
UNKNOWN_INPUTS = [
    ("aws:iam/role:Role", {"assumeRolePolicy": UNKNOWN_STRING_VALUE, "managedPolicyArns": UNKNOWN_OBJECT_VALUE}),
    ("aws:iam/rolePolicy:RolePolicy", {"policy": UNKNOWN_STRING_VALUE}),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"policyArn": UNKNOWN_STRING_VALUE}),
    ("aws:s3/bucketPolicy:BucketPolicy", {"policy": UNKNOWN_STRING_VALUE}),
    ("aws:s3/bucketAclV2:BucketAclV2", {"acl": UNKNOWN_STRING_VALUE, "accessControlPolicy": UNKNOWN_OBJECT_VALUE}),
    ("aws:ec2/securityGroup:SecurityGroup", {"ingress": UNKNOWN_OBJECT_VALUE}),
    ("aws:ec2/securityGroupRule:SecurityGroupRule", {"type": "ingress", "cidrBlocks": UNKNOWN_OBJECT_VALUE}),
    ("aws:eks/nodeGroup:NodeGroup", {"remoteAccess": UNKNOWN_OBJECT_VALUE}),
    ("aws:kms/key:Key", {"enableKeyRotation": UNKNOWN_OBJECT_VALUE, "policy": UNKNOWN_STRING_VALUE}),
    ("gcp:kms/cryptoKey:CryptoKey", {"rotationPeriod": UNKNOWN_STRING_VALUE}),
    ("gcp:projects/iAMMember:IAMMember", {"role": UNKNOWN_STRING_VALUE, "member": UNKNOWN_STRING_VALUE}),
    ("gcp:projects/iAMPolicy:IAMPolicy", {"policyData": UNKNOWN_STRING_VALUE}),
    ("gcp:compute/firewall:Firewall", {"sourceRanges": UNKNOWN_OBJECT_VALUE, "allows": UNKNOWN_OBJECT_VALUE}),
    ("pulumi:pulumi:StackReference", {"name": UNKNOWN_STRING_VALUE}),
]


#: Rules that judge what these lone resources lack (tags, telemetry, node capacity) or their provider, not inputs.
ABOUT_OTHER_THINGS = frozenset({"required-tags", "cell-observability", "cell-isolation", "node-capacity"})


@pytest.mark.parametrize(("type_", "props"), UNKNOWN_INPUTS)
def test_every_rule_skips_what_a_preview_does_not_know(registry: Registry, type_: str, props: dict[str, Any]) -> None:
    from pulumi_policy import PolicyResource, StackValidationArgs

    violations: list[str] = []
    report = lambda message, urn=None: violations.append(message)  # noqa: E731
    provider_props = {"region": "us-east-1", "assumeRoles": '[{"roleArn": "arn:aws:iam::210987654321:role/x"}]'}
    for stack in ("cell-alpha", "cell-beta", "management"):
        args = _engine_args(props, provider_props, type_, stack)
        resource = PolicyResource(type_, args.props, args.urn, args.name, args.opts, args.provider, None, [], {})
        with policies.base.using(registry):
            for policy in POLICIES:
                if policy.name in ABOUT_OTHER_THINGS:
                    continue
                if isinstance(policy, pulumi_policy.ResourceValidationPolicy):
                    policy.validate(args, report)
                elif isinstance(policy, pulumi_policy.StackValidationPolicy):
                    policy.validate(StackValidationArgs([resource]), report)
    assert violations == []


def test_unknown_values_during_preview_skip_rather_than_fire(registry: Registry) -> None:
    violations: list[str] = []
    with policies.base.using(registry):
        for policy in POLICIES:
            if isinstance(policy, pulumi_policy.ResourceValidationPolicy):
                policy.validate(
                    _engine_args({"tags": UNKNOWN_OBJECT_VALUE}, {"assumeRoles": UNKNOWN_STRING_VALUE}),
                    lambda message, urn=None: violations.append(message),
                )
    assert violations == []
    # The same resource with known, wrong values fires.
    with policies.base.using(registry):
        required_tags.validate(
            _engine_args({"tags": {}}, {"assumeRoles": '[{"roleArn": "arn:aws:iam::210987654321:role/x"}]'}),
            lambda message, urn=None: violations.append(message),
        )
    assert len(violations) == 1


def test_the_pack_loads_its_registry_lazily(
    monkeypatch: pytest.MonkeyPatch, registry_copy: Path, edit_yaml: Any
) -> None:
    edit_yaml(
        registry_copy / "organization.yaml",
        lambda d: d["aws"].update(allowed_regions=["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"]),
    )
    monkeypatch.setenv("HONEYCOMB_REGISTRY", str(registry_copy))
    monkeypatch.setattr(policies.base, "_current", None)
    assert "ap-south-1" in policies.base.current().registry.organization.aws.allowed_regions


def test_offline_secrets_are_revealed_like_the_engine_does(registry: Registry) -> None:
    from pulumi.runtime import rpc

    stack = Stack("cell-beta")
    secret = {rpc._special_sig_key: rpc._special_secret_sig, "value": "server: https://gamma.cells.acme-corp.net"}
    stack.add("pulumi:providers:kubernetes", "beta-k8s", {"kubeconfig": secret})
    [finding] = [f for f in evaluate(stack.resources, registry=registry) if f.policy == "no-cross-cell-references"]
    assert "input kubeconfig names cell gamma's DNS zone" in finding.message
