"""The clouds' own rules (`policies.cloud`): clean on the sample, firing on what a real API rejects."""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import stacks.cell_aws
from cellctl.main import app
from cellctl.offline import PlannedResource, StackPlan, run_stack
from cells import AwsCell, Registry, load_registry
from cells.loader import DEFAULT_REGISTRY
from policies import cloud
from policies.base import UNKNOWN
from policies.cloud import botocore_shapes, gcp_names, iam, kubernetes
from policies.cloud.botocore_shapes import CALLS, UNSENT, Call, NoShape, operation
from policies.evaluate import Finding, evaluate

runner = CliRunner()


@functools.cache
def sample_plans() -> dict[str, StackPlan]:
    """Every sample stack, planned once."""
    registry = load_registry(DEFAULT_REGISTRY)
    return {stack: run_stack(stack, registry) for stack in registry.stack_names}


@pytest.fixture
def plans() -> dict[str, StackPlan]:
    return sample_plans()


def resource(plans: dict[str, StackPlan], type_: str, stack: str | None = None) -> PlannedResource:
    for name, plan in plans.items():
        if stack in (None, name):
            found = plan.of_type(type_)
            if found:
                return found[0]
    raise LookupError(type_)


def changed(record: PlannedResource, **inputs: Any) -> PlannedResource:
    """The record with some inputs replaced (None removes one)."""
    values = {k: v for k, v in {**record.inputs, **inputs}.items() if v is not None}
    return dataclasses.replace(record, inputs=values)


def messages(findings: list[Finding], level: str = "error") -> list[str]:
    return [f.message for f in findings if f.level == level]


# --- the sample is clean -----------------------------------------------------------------------


@pytest.mark.parametrize("checker", sorted(cloud.CHECKERS))
def test_no_cloud_error_on_any_sample_stack(plans: dict[str, StackPlan], checker: str) -> None:
    for stack, plan in plans.items():
        found = cloud.CHECKERS[checker](plan.resources)
        assert messages(found) == [], stack
        assert all(f.layer == "cloud" and f.policy == checker for f in found)


def test_policy_findings_are_of_the_policy_layer(plans: dict[str, StackPlan], registry: Registry) -> None:
    finding = Finding(policy="x", level="mandatory", urn=None, message="m")
    assert finding.layer == "policy" and finding.blocking
    assert all(f.layer == "policy" for f in evaluate(plans["management"].resources, registry=registry))


# --- cloud/botocore: the table -------------------------------------------------------------------


def test_every_planned_aws_type_has_an_entry(plans: dict[str, StackPlan]) -> None:
    types = [r.type for plan in plans.values() for r in plan.resources if r.custom]
    assert botocore_shapes.missing_types(types) == []
    assert all((isinstance(e, NoShape) and e.reason) or e for e in CALLS.values())


def test_every_sample_input_reaches_a_request_or_is_explained(plans: dict[str, StackPlan]) -> None:
    unmapped = set()
    for plan in plans.values():
        for record in plan.resources:
            entry = CALLS.get(record.type)
            if entry is None or isinstance(entry, NoShape) or not record.type.startswith("aws:"):
                continue  # a provider's settings are its own, not an API request's
            mapped = {name for call in entry for name in call.fields} | UNSENT.get(record.type, frozenset())
            unmapped |= {(record.type, name) for name in record.inputs if name not in mapped}
    assert unmapped == set()


def _calls() -> list[Call]:
    return [call for entry in CALLS.values() if not isinstance(entry, NoShape) for call in entry]


def _members(shape: Any, path: str) -> None:
    """Walk a dotted member path down a shape; raises KeyError where it leaves the shape."""
    for part in path.split("."):
        shape = shape.member if part.isdigit() else shape.members[part]


@pytest.mark.parametrize("call", _calls(), ids=lambda c: f"{c.service}.{c.operation}")
def test_table_names_real_members_and_covers_required_ones(call: Call) -> None:
    shape = operation(call.service, call.operation).input_shape
    targets = [t if isinstance(t, str) else t.member for t in call.fields.values()] + list(call.sends)
    for target in targets:
        _members(shape, target)
    reachable = {t.split(".")[0] for t in targets} | call.provided
    assert set(shape.required_members) <= reachable


# --- cloud/botocore: firing ------------------------------------------------------------------------


def test_enum_typo_fires(plans: dict[str, StackPlan]) -> None:
    repo = changed(resource(plans, "aws:ecr/repository:Repository"), imageTagMutability="IMUTABLE")
    [message] = messages(botocore_shapes.check([repo]))
    assert "imageTagMutability" in message and "'IMUTABLE', not one of" in message and "IMMUTABLE" in message


def test_pattern_violation_fires(plans: dict[str, StackPlan]) -> None:
    role = changed(resource(plans, "aws:iam/role:Role"), name="ci role")
    [message] = messages(botocore_shapes.check([role]))
    assert message.startswith("iam CreateRole would reject input 'name'") and "pattern" in message


def test_length_and_range_limits_fire(plans: dict[str, StackPlan]) -> None:
    role = changed(resource(plans, "aws:iam/role:Role"), description="x" * 1001, maxSessionDuration=60.0)
    found = messages(botocore_shapes.check([role]))
    assert any("Description has 1001 characters, more than the maximum 1000" in m for m in found)
    assert any("MaxSessionDuration is 60, below the minimum 3600" in m for m in found)


def test_nested_list_enum_and_unknown_member_fire(plans: dict[str, StackPlan]) -> None:
    cluster = resource(plans, "aws:eks/cluster:Cluster")
    broken = changed(
        cluster,
        enabledClusterLogTypes=["api", "Audit"],
        vpcConfig={**cluster.inputs["vpcConfig"], "endpointPublicAccesss": True},
    )
    found = messages(botocore_shapes.check([broken]))
    assert any("logging.clusterLogging[0].types[1] is 'Audit'" in m for m in found)
    assert any("resourcesVpcConfig.endpointPublicAccesss is not a member of VpcConfigRequest" in m for m in found)


def test_required_member_and_type_fire(plans: dict[str, StackPlan]) -> None:
    policy = changed(resource(plans, "aws:iam/rolePolicy:RolePolicy"), role=None)
    assert any("RoleName is required" in m for m in messages(botocore_shapes.check([policy])))
    vpc = changed(resource(plans, "aws:ec2/vpc:Vpc"), enableDnsSupport="yes")
    assert any("must be true or false" in m for m in messages(botocore_shapes.check([vpc])))
    nodes = resource(plans, "aws:eks/nodeGroup:NodeGroup")
    fraction = changed(nodes, scalingConfig={**nodes.inputs["scalingConfig"], "desiredSize": 2.5})
    assert any("desiredSize must be a whole number" in m for m in messages(botocore_shapes.check([fraction])))


def test_metric_query_in_a_list_of_nested_objects_fires(plans: dict[str, StackPlan]) -> None:
    alarms = [r for plan in plans.values() for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")]
    alarm = next(r for r in alarms if "metricQueries" in r.inputs)
    queries = [{**alarm.inputs["metricQueries"][0], "period": 0.0, "returnData": "yes"}]
    found = messages(botocore_shapes.check([changed(alarm, metricQueries=queries)]))
    assert any("Metrics[0].Period is 0, below the minimum 1" in m for m in found)
    assert any("Metrics[0].ReturnData must be true or false" in m for m in found)


def test_record_set_type_in_a_nested_request_fires(plans: dict[str, StackPlan]) -> None:
    record = changed(resource(plans, "aws:route53/record:Record"), type="NSS", ttl=-1.0)
    found = messages(botocore_shapes.check([record]))
    assert any("'type'" in m and "ResourceRecordSet.Type is 'NSS'" in m for m in found)
    assert any("'ttl'" in m and "below the minimum 0" in m for m in found)


def test_documented_limits_the_models_lack_fire(plans: dict[str, StackPlan]) -> None:
    # KMS and CloudWatch Logs state these in their API references; the models allow 1..365 and any number.
    key = resource(plans, "aws:kms/key:Key")
    assert messages(botocore_shapes.check([changed(key, deletionWindowInDays=7.0)])) == []
    [message] = messages(botocore_shapes.check([changed(key, deletionWindowInDays=3.0)]))
    assert "'deletionWindowInDays'" in message and "PendingWindowInDays is 3: " in message
    assert "between 7 and 30" in message
    group = resource(plans, "aws:cloudwatch/logGroup:LogGroup")
    for valid in (30.0, 3653.0, 0.0):  # 0: never expire (the provider deletes the retention policy instead)
        assert messages(botocore_shapes.check([changed(group, retentionInDays=valid)])) == [], valid
    [message] = messages(botocore_shapes.check([changed(group, retentionInDays=42.0)]))
    assert "retentionInDays is 42: " in message and "one of 1, 3, 5" in message
    # A value of another type is the shape's to report (an object is no number, and no crash).
    [message] = messages(botocore_shapes.check([changed(group, retentionInDays={"days": 30})]))
    assert "retentionInDays must be a whole number" in message


def test_versioning_disabled_makes_no_call(plans: dict[str, StackPlan]) -> None:
    # Pulumi's `Disabled` stands for a bucket never versioned: the provider makes no PutBucketVersioning.
    versioning = resource(plans, "aws:s3/bucketVersioning:BucketVersioning")
    disabled = changed(versioning, versioningConfiguration={"status": "Disabled"})
    assert botocore_shapes.check([disabled]) == []
    [message] = messages(botocore_shapes.check([changed(versioning, versioningConfiguration={"status": "Off"})]))
    assert "VersioningConfiguration.Status is 'Off', not one of Enabled, Suspended" in message


def test_a_teams_security_group_and_instance_are_checked(plans: dict[str, StackPlan]) -> None:
    # What the web-server fixture's typed args send (camelCase, nested rule and metadata blocks).
    vpc = resource(plans, "aws:ec2/vpc:Vpc")
    rule = {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"], "description": "web"}
    group = dataclasses.replace(
        vpc,
        type="aws:ec2/securityGroup:SecurityGroup",
        inputs={"description": "web", "ingress": [rule], "egress": [{**rule, "protocol": "-1"}], "tags": {"a": "b"}},
    )
    instance = dataclasses.replace(
        vpc,
        type="aws:ec2/instance:Instance",
        inputs={
            "ami": "ami-0abcdef1234567890",
            "instanceType": "t3.micro",
            "metadataOptions": {"httpTokens": "required"},
        },
    )
    assert botocore_shapes.check([group, instance]) == []
    broken_rule = {**rule, "fromPort": "443", "cidrBlocks": "0.0.0.0/0"}
    found = messages(botocore_shapes.check([changed(group, ingress=[broken_rule])]))
    assert any("'ingress'" in m and "IpPermissions[0].FromPort must be a whole number" in m for m in found)
    assert any("IpPermissions[0].IpRanges must be a list" in m for m in found)
    typo = changed(instance, instanceType="t3.mirco", metadataOptions={"httpTokens": "require"})
    found = messages(botocore_shapes.check([typo]))
    assert any("'instanceType'" in m and "InstanceType is 't3.mirco', not one of" in m for m in found)
    assert any("'metadataOptions'" in m and "MetadataOptions.HttpTokens is 'require'" in m for m in found)


def test_a_type_with_no_entry_is_reported_as_unchecked(plans: dict[str, StackPlan]) -> None:
    # A team's program may create types the table lacks: said once per type, as advisory, not passed silently.
    vpc = resource(plans, "aws:ec2/vpc:Vpc")
    topics = [dataclasses.replace(vpc, type="aws:sns/topic:Topic", name=n, inputs={}) for n in ("a", "b")]
    found = botocore_shapes.check(topics)
    assert messages(found) == []
    [advisory] = messages(found, "advisory")
    assert advisory.startswith("cannot verify the inputs of aws:sns/topic:Topic against AWS's API")


def test_unknown_values_are_skipped(plans: dict[str, StackPlan]) -> None:
    repo = changed(resource(plans, "aws:ecr/repository:Repository"), imageTagMutability=UNKNOWN, name=UNKNOWN)
    assert botocore_shapes.check([repo]) == []


def test_java_unicode_classes_compile(plans: dict[str, StackPlan]) -> None:
    # Tag keys and values are `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`: Java classes, which `re` cannot compile.
    role = resource(plans, "aws:iam/role:Role")
    assert botocore_shapes.check([changed(role, tags={"team": "café core"})]) == []
    [message] = messages(botocore_shapes.check([changed(role, tags={"team": "core;ops"})]))
    assert "Tags[0].Value is 'core;ops', which does not match the pattern" in message
    assert botocore_shapes._pattern("[\\p{L}]+(") is None
    assert "[\\p{L}]+(" in botocore_shapes.SKIPPED_PATTERNS


def test_provider_default_tags_follow_the_tag_rules(plans: dict[str, StackPlan]) -> None:
    provider = resource(plans, "pulumi:providers:aws", "cell-alpha")
    tags = json.dumps({"tags": {"cell": "alpha", "cost center": "x" * 257}})
    [message] = messages(botocore_shapes.check([changed(provider, defaultTags=tags)]))
    assert "Tags[1].Value has 257 characters, more than the maximum 256" in message


# --- cloud/iam -----------------------------------------------------------------------------------


def _statement(i: int) -> dict[str, Any]:
    return {"Sid": f"Deny{i}", "Effect": "Deny", "Action": f"ec2:DeleteVpc{'x' * 40}", "Resource": "*"}


def test_oversized_scp_fires_counting_white_space(plans: dict[str, StackPlan]) -> None:
    scp = resource(plans, "aws:organizations/policy:Policy")
    document = {"Version": "2012-10-17", "Statement": [_statement(i) for i in range(40)]}
    compact = json.dumps(document, separators=(",", ":"))
    indented = json.dumps(document, indent=4)
    assert len(compact) < iam.SCP_QUOTA < len(indented)
    quota = [m for m in messages(iam.check([changed(scp, content=indented)])) if "quota" in m]
    assert quota and f"{len(indented):,} characters, more than AWS's quota of 5,120" in quota[0]
    assert not [m for m in messages(iam.check([changed(scp, content=compact)])) if "quota" in m]


def _policy_like(value: Any) -> bool:
    try:
        document = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return False
    return isinstance(document, dict) and "Statement" in document


def test_every_sample_policy_document_is_in_the_table(plans: dict[str, StackPlan]) -> None:
    found = {
        (r.type, name)
        for plan in plans.values()
        for r in plan.resources
        if r.custom
        for name, value in r.inputs.items()
        if _policy_like(value)
    }
    known = {(type_, doc.field) for type_, docs in iam.DOCUMENTS.items() for doc in docs}
    assert found and found <= known


@pytest.mark.parametrize(
    "type_",
    [
        "aws:sqs/queue:Queue",
        "aws:secretsmanager/secret:Secret",
        "aws:s3/bucket:Bucket",
        "aws:kms/keyPolicy:KeyPolicy",
        "aws:s3/accessPoint:AccessPoint",
    ],
)
def test_inline_and_side_resource_policies_are_linted(plans: dict[str, StackPlan], type_: str) -> None:
    # The same documents the pack's no-public-access reads: a malformed one is an error here too.
    base = resource(plans, "aws:s3/bucketPolicy:BucketPolicy")
    good = dataclasses.replace(base, type=type_, inputs={"policy": base.inputs["policy"]})
    assert messages(iam.check([good])) == []
    duplicate = {"Sid": "Same", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:*"}
    bad = json.dumps({"Version": "2012-10-17", "Statement": [duplicate, duplicate]})
    assert any("policy (resource policy): parliament" in m for m in messages(iam.check([changed(good, policy=bad)])))


def test_iam_quotas_ignore_white_space() -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": [_statement(i) for i in range(40)]}, indent=4)
    assert iam.size(document, spaces_count=False) < iam.size(document, spaces_count=True)


def test_oversized_trust_policy_and_inline_total_fire(plans: dict[str, StackPlan]) -> None:
    role = resource(plans, "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    principals = [f"arn:aws:iam::1000000000{i:02d}:role/ci-runner-{i}" for i in range(60)]
    trust["Statement"][0]["Principal"] = {"AWS": principals}
    found = messages(iam.check([changed(role, assumeRolePolicy=json.dumps(trust))]))
    assert any("the trust policy has" in m and "quota of 2,048" in m for m in found)

    inline = resource(plans, "aws:iam/rolePolicy:RolePolicy")
    big = json.dumps({"Version": "2012-10-17", "Statement": [_statement(i) for i in range(50)]})
    parts = [dataclasses.replace(changed(inline, policy=big), urn=f"{inline.urn}-{i}") for i in range(3)]
    assert len(big) * 3 > iam.ROLE_INLINE_QUOTA
    found = messages(iam.check(parts))
    assert any(f"inline policies of role {inline.inputs['role']!r}" in m and "10,240" in m for m in found)


def test_malformed_documents_are_errors(plans: dict[str, StackPlan]) -> None:
    policy = resource(plans, "aws:iam/rolePolicy:RolePolicy")
    assert any("MALFORMED_JSON" in m for m in messages(iam.check([changed(policy, policy="{not json")])))
    no_effect = json.dumps({"Version": "2012-10-17", "Statement": [{"Action": "s3:GetObject", "Resource": "*"}]})
    assert any("MALFORMED" in m for m in messages(iam.check([changed(policy, policy=no_effect)])))


def test_unknown_action_is_advisory(plans: dict[str, StackPlan]) -> None:
    policy = resource(plans, "aws:iam/rolePolicy:RolePolicy")
    typo = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}]}
    )
    found = iam.check([changed(policy, policy=typo)])
    assert messages(found) == []
    assert any("UNKNOWN_ACTION" in m for m in messages(found, "advisory"))


def test_an_account_identity_provider_is_a_known_federation_source(plans: dict[str, StackPlan]) -> None:
    role = resource(plans, "aws:iam/role:Role")

    def trust(federated: str) -> str:
        statement = {
            "Effect": "Allow",
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": federated},
        }
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    github = "arn:aws:iam::100000000001:oidc-provider/token.actions.githubusercontent.com"
    assert iam.check([changed(role, assumeRolePolicy=trust(github))]) == []
    unknown = messages(iam.check([changed(role, assumeRolePolicy=trust("idp.example"))]), "advisory")
    assert any("UNKNOWN_FEDERATION_SOURCE" in m for m in unknown)


def test_resource_and_trust_policies_need_no_resource(plans: dict[str, StackPlan]) -> None:
    # Trust policies and the ECR repository policy have no Resource element: not a finding there...
    for type_ in ("aws:iam/role:Role", "aws:ecr/repositoryPolicy:RepositoryPolicy"):
        assert iam.check([resource(plans, type_)]) == []
    # ...but it is in an identity policy.
    policy = resource(plans, "aws:iam/rolePolicy:RolePolicy")
    bare = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]})
    assert any("neither Resource nor NotResource" in m for m in messages(iam.check([changed(policy, policy=bare)])))


# --- cloud/kubernetes ------------------------------------------------------------------------------


def test_deployment_with_an_unknown_field_fires(plans: dict[str, StackPlan]) -> None:
    deployment = resource(plans, "kubernetes:apps/v1:Deployment", "cell-alpha")
    spec = json.loads(json.dumps(deployment.inputs["spec"]))
    spec["template"]["spec"]["containers"][0]["resource"] = {"limits": {"cpu": "1"}}
    broken = changed(deployment, spec=spec)
    cluster = resource(plans, "aws:eks/cluster:Cluster", "cell-alpha")
    [message] = messages(kubernetes.check([cluster, broken]))
    assert "Kubernetes 1.33 (the EKS cluster's version 1.33)" in message
    assert "spec.template.spec.containers.0" in message and "'resource' was unexpected" in message


def test_removed_api_version_fires(plans: dict[str, StackPlan]) -> None:
    pdb = resource(plans, "kubernetes:policy/v1:PodDisruptionBudget", "cell-alpha")
    old = dataclasses.replace(pdb, type="kubernetes:policy/v1beta1:PodDisruptionBudget")
    cluster = resource(plans, "aws:eks/cluster:Cluster", "cell-alpha")
    assert any(
        "serves no PodDisruptionBudget in policy/v1beta1" in m for m in messages(kubernetes.check([cluster, old]))
    )


def test_cluster_versions(plans: dict[str, StackPlan]) -> None:
    eks = resource(plans, "aws:eks/cluster:Cluster")
    assert kubernetes.cluster_minors([eks])[0] == ((1, 33),)
    gke = resource(plans, "gcp:container/cluster:Cluster")
    minors, source = kubernetes.cluster_minors([gke])
    assert minors == kubernetes.shipped_minors()[-kubernetes.CHANNEL_MINORS :] and "STABLE channel" in source
    pinned = changed(gke, minMasterVersion="1.30.5-gke.1014001")
    assert kubernetes.cluster_minors([pinned])[0] == ((1, 30),)
    # A version or channel that cannot be read: the newest minors, never a crash nor a silent pick of one.
    assert kubernetes.cluster_minors([changed(gke, releaseChannel="STABLE")])[0] == minors
    unreadable = (minors, "the EKS cluster's unreadable version 1.33")
    assert kubernetes.cluster_minors([changed(eks, version=1.33)]) == unreadable
    assert kubernetes.schema_minor((1, 99)) == kubernetes.shipped_minors()[-1]
    assert kubernetes.schema_minor((1, 2)) == kubernetes.shipped_minors()[0]


def test_custom_resources_have_their_metadata_checked(plans: dict[str, StackPlan]) -> None:
    issuer = resource(plans, "kubernetes:cert-manager.io/v1:ClusterIssuer")
    assert messages(kubernetes.check([issuer])) == []
    # Its spec goes unchecked, and the plan says so rather than passing it in silence.
    [advisory] = messages(kubernetes.check([issuer]), "advisory")
    assert advisory.startswith("ClusterIssuer letsencrypt: cannot verify its spec offline") and "CRD" in advisory
    bad = changed(issuer, metadata={"name": "letsencrypt", "labels": {"tier": 1}, "owner": "x"})
    found = messages(kubernetes.check([bad]))
    assert any("'owner' was unexpected" in m for m in found) and any("labels.tier" in m for m in found)


def test_patch_resources_are_checked_as_partial_objects_of_their_kind(plans: dict[str, StackPlan]) -> None:
    stack = resource(plans, "kubernetes:apps/v1:Deployment", "cell-alpha")
    patch = dataclasses.replace(
        stack,
        type="kubernetes:apps/v1:DeploymentPatch",
        inputs={"metadata": {"name": "coredns", "namespace": "kube-system"}, "spec": {"replicas": 3.0}},
    )
    assert kubernetes.api_object(patch) is not None and kubernetes.api_object(patch)["kind"] == "Deployment"
    assert kubernetes.check([patch]) == []  # no selector, no template: a patch need not repeat them
    typo = changed(patch, spec={"replica": 3.0})
    [message] = messages(kubernetes.check([typo]))
    assert "Deployment kube-system/coredns" in message and "'replica' was unexpected" in message


def test_helm_releases_are_not_api_objects(plans: dict[str, StackPlan]) -> None:
    release = resource(plans, "kubernetes:helm.sh/v3:Release")
    assert kubernetes.api_object(release) is None


def test_unknown_kubernetes_values_are_skipped(plans: dict[str, StackPlan]) -> None:
    service = resource(plans, "kubernetes:core/v1:Service", "cell-alpha")
    assert kubernetes.check([changed(service, spec={**service.inputs["spec"], "type": UNKNOWN})]) == []


# --- cloud/gcp-names ---------------------------------------------------------------------------------


def test_label_with_an_uppercase_letter_fires(plans: dict[str, StackPlan]) -> None:
    project = resource(plans, "gcp:organizations/project:Project")
    broken = changed(project, labels={**project.inputs["labels"], "Team": "core", "tier": "Gold"})
    found = messages(gcp_names.check([broken]))
    assert any("labels key 'Team'" in m and "labels-overview" in m for m in found)
    assert any("labels['tier'] value 'Gold'" in m for m in found)


@pytest.mark.parametrize(
    ("type_", "field", "value", "rule"),
    [
        ("gcp:organizations/project:Project", "projectId", "acme-cell-", "project-id"),
        ("gcp:organizations/project:Project", "projectId", "a" * 31, "project-id"),
        ("gcp:serviceaccount/account:Account", "accountId", "nodes", "service-account-id"),
        ("gcp:compute/network:Network", "name", "Beta-VPC", "rfc1035"),
        ("gcp:compute/subnetwork:Subnetwork", "name", "b" * 64, "rfc1035"),
        ("gcp:container/cluster:Cluster", "name", "c" * 41, "gke-cluster-name"),
        ("gcp:dns/managedZone:ManagedZone", "dnsName", "beta.example.com", "dns-name"),
        ("gcp:kms/keyRing:KeyRing", "name", "ring/one", "kms-name"),
    ],
)
def test_gcp_name_rules_fire(plans: dict[str, StackPlan], type_: str, field: str, value: str, rule: str) -> None:
    record = resource(plans, type_)
    assert gcp_names.check([record]) == []
    [message] = messages(gcp_names.check([changed(record, **{field: value})]))
    assert message.startswith(f"{field} {value!r}") and gcp_names.RULES[rule].doc in message


def test_folder_names_take_letters_and_digits_of_any_script(plans: dict[str, StackPlan]) -> None:
    # The reference's expression is [\p{L}\p{N}]([\p{L}\p{N}_- ]{0,28}[\p{L}\p{N}])?
    project = resource(plans, "gcp:organizations/project:Project")
    folder = dataclasses.replace(project, type="gcp:organizations/folder:Folder", inputs={"parent": "organizations/1"})
    for valid in ("Équipe données", "Cells 2", "販売"):
        assert gcp_names.check([changed(folder, displayName=valid)]) == [], valid
    for invalid in ("cells-", "a" * 31, "team/ops"):
        [message] = messages(gcp_names.check([changed(folder, displayName=invalid)]))
        assert message.startswith(f"displayName {invalid!r}") and "folders#Folder" in message


def test_bucket_names_follow_cloud_storage_rules(plans: dict[str, StackPlan]) -> None:
    project = resource(plans, "gcp:organizations/project:Project")
    bucket = dataclasses.replace(project, type="gcp:storage/bucket:Bucket", inputs={"location": "EU"})
    for valid in ("beta-site", "beta_logs-1", "www.example.com", "abc"):
        assert gcp_names.check([changed(bucket, name=valid)]) == [], valid
    for invalid in ("Beta-site", "ab", "-beta", "192.168.5.4", "goog-site", "my-google-site", "b" * 64):
        [message] = messages(gcp_names.check([changed(bucket, name=invalid)]))
        assert message.startswith(f"name {invalid!r}") and "storage/docs/buckets#naming" in message, invalid


def test_labels_of_a_type_the_table_does_not_name_are_judged(plans: dict[str, StackPlan]) -> None:
    # A team's program may create any GCP type; the label rules hold for all of them.
    project = resource(plans, "gcp:organizations/project:Project")
    topic = dataclasses.replace(project, type="gcp:pubsub/topic:Topic", inputs={"labels": {"team": "core"}})
    assert gcp_names.check([topic]) == []
    [message] = messages(gcp_names.check([changed(topic, labels={"Team": "core"})]))
    assert "labels key 'Team'" in message


def test_provider_default_labels_are_checked(plans: dict[str, StackPlan]) -> None:
    provider = resource(plans, "pulumi:providers:gcp", "cell-beta")
    assert gcp_names.check([provider]) == []
    [message] = messages(gcp_names.check([changed(provider, defaultLabels='{"Cell": "beta"}')]))
    assert "defaultLabels key 'Cell'" in message


def test_secondary_range_names_are_checked(plans: dict[str, StackPlan]) -> None:
    subnet = resource(plans, "gcp:compute/subnetwork:Subnetwork")
    ranges = [dict(r) for r in subnet.inputs["secondaryIpRanges"]]
    ranges[0]["rangeName"] = "beta_pods"
    [message] = messages(gcp_names.check([changed(subnet, secondaryIpRanges=ranges)]))
    assert "secondaryIpRanges[0].rangeName 'beta_pods'" in message


def test_every_rule_has_documentation() -> None:
    assert all(rule.doc.startswith("https://cloud.google.com/") for rule in gcp_names.RULES.values())
    used = {rule for fields in gcp_names.FIELDS.values() for _, rule in fields}
    assert used <= set(gcp_names.RULES) | {gcp_names.LABELS}


# --- no checker crashes on mutated resources ---------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.just(UNKNOWN),
    st.just("{not json"),
    st.just('{"Version": "2012-10-17", "Statement": {"Effect": "Maybe"}}'),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _set(copy[path[0]], path[1:], new)  # type: ignore[call-overload,index]
    return copy


@given(data=st.data())
@settings(max_examples=100, deadline=None)
def test_no_checker_crashes_on_mutated_resources(data: st.DataObject) -> None:
    plans = sample_plans()
    records = sorted((r for plan in plans.values() for r in plan.resources if r.custom), key=lambda r: (r.type, r.urn))
    record = data.draw(st.sampled_from(records))
    paths = _paths(record.inputs)
    path = data.draw(st.sampled_from(paths)) if paths else ("extra",)
    new = data.draw(_VALUES)
    mutated = dataclasses.replace(record, inputs=_set(record.inputs, path, new))
    context = [r for r in plans[record.urn.split("::")[0].removeprefix("urn:pulumi:")].resources if r.urn != record.urn]
    for name, checker in cloud.CHECKERS.items():
        found = checker([*context, mutated])
        assert all(isinstance(f, Finding) and f.policy == name for f in found)


@functools.cache
def program_records() -> list[PlannedResource]:
    """What the team programs of the fixtures create (security groups, instances, Kubernetes objects...)."""
    from cellctl.programs import load_program, run_program_dir
    from tests.test_programs import PROGRAMS

    registry = load_registry(DEFAULT_REGISTRY)
    records = [
        r
        for name in ("web-server", "static-site", "cluster-app")
        for r in run_program_dir(load_program(PROGRAMS / name), "cell-alpha", registry).resources
        if r.custom
    ]
    return sorted(records, key=lambda r: (r.type, r.urn))


@given(data=st.data())
@settings(max_examples=80, deadline=None)
def test_no_checker_crashes_on_mutated_program_resources(data: st.DataObject) -> None:
    records = program_records()
    record = data.draw(st.sampled_from(records))
    paths = _paths(record.inputs)
    new = data.draw(_VALUES)
    inputs = _set(record.inputs, data.draw(st.sampled_from(paths)), new) if paths else {"extra": new}
    mutated = dataclasses.replace(record, inputs=inputs)
    for name, checker in cloud.CHECKERS.items():
        found = checker([r for r in records if r.urn != record.urn] + [mutated])
        assert all(isinstance(f, Finding) and f.policy == name for f in found)


# --- the command ---------------------------------------------------------------------------------------


def bad_role_cell(registry: Registry, cell: AwsCell) -> None:
    """A cell whose one role has a name IAM rejects (a space)."""
    own = aws.Provider(
        f"{cell.name}-aws",
        region=cell.region,
        assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=f"arn:aws:iam::{cell.account_id}:role/Access")],
        default_tags=aws.ProviderDefaultTagsArgs(tags=cell.tags),
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}],
    }
    aws.iam.Role(
        f"{cell.name}-bad",
        name="my role",
        assume_role_policy=json.dumps(trust),
        opts=pulumi.ResourceOptions(provider=own),
    )


def test_cli_exits_1_on_a_cloud_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacks.cell_aws, "program", bad_role_cell)
    result = runner.invoke(app, ["plan", "cell-alpha", "--json", "--jobs", "1"])
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["stacks"][0]["findings"]
    cloud_errors = [f for f in findings if f["layer"] == "cloud" and f["level"] == "error"]
    assert [(f["policy"], f["name"]) for f in cloud_errors] == [("cloud/botocore", "alpha-bad")]
    assert "RoleName is 'my role'" in cloud_errors[0]["message"]
    assert all(f["layer"] == "policy" for f in findings if not f["policy"].startswith("cloud/"))

    shown = runner.invoke(app, ["plan", "cell-alpha", "--jobs", "1"], terminal_width=200)
    assert shown.exit_code == 1
    assert "cloud/botocore" in shown.stdout and "1 cloud errors" in shown.stdout


@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_a_value_unknown_during_a_preview_never_adds_an_error(data: st.DataObject) -> None:
    plans = sample_plans()
    records = sorted((r for plan in plans.values() for r in plan.resources if r.custom), key=lambda r: (r.type, r.urn))
    record = data.draw(st.sampled_from(records))
    paths = _paths(record.inputs)
    if not paths:
        return
    path = data.draw(st.sampled_from(paths))
    unknown = dataclasses.replace(record, inputs=_set(record.inputs, path, UNKNOWN))
    for checker in cloud.CHECKERS.values():
        assert set(messages(checker([unknown]))) <= set(messages(checker([record])))


PARLIAMENT_PROBE = """
import json, sys
if sys.argv[1] == "real":
    import warnings
    warnings.simplefilter("ignore")
    import pkg_resources
from policies.cloud import iam
doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjectt", "Resource": "*"},
                                               {"Effect": "Allow", "Action": "ec2:*", "Resource": "arn:aws:s3:::b"}]}
print(json.dumps({"findings": iam._lint(json.dumps(doc)), "pkg_resources": "pkg_resources" in sys.modules,
                  "real": hasattr(sys.modules.get("pkg_resources"), "working_set")}))
"""


def test_parliament_lints_alike_without_the_real_pkg_resources() -> None:
    """The stand-in `pkg_resources` serves parliament's import only: same verdicts, and withdrawn after."""
    import subprocess
    import sys

    def probe(mode: str) -> dict[str, Any]:
        command = [sys.executable, "-c", PARLIAMENT_PROBE, mode]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    stand_in, real = probe("stand-in"), probe("real")
    assert stand_in["findings"] == real["findings"]
    assert {issue for issue, _, _ in stand_in["findings"]} >= {"UNKNOWN_ACTION"}
    assert stand_in["pkg_resources"] is False  # withdrawn: a later import gets the real one
    assert real["real"] is True
