"""`cellctl plan`: the real programs offline, judged by the policy pack; exit codes and `--json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from typer.testing import CliRunner

import stacks.cell_aws
from cellctl.main import app
from cellctl.mocks import CloudMocks
from cellctl.offline import run_program, run_stack
from cellctl.plan import RESOURCE_FIELDS, plan_stacks
from cells import AwsCell, Registry
from policies.evaluate import evaluate

runner = CliRunner()

OTHER_ACCOUNT = "100000000001"  # the management account: never a cell's


def broken_cell(registry: Registry, cell: AwsCell) -> None:
    """A cell with two classic mistakes: an unencrypted bucket, and a resource in another account."""
    tags = aws.ProviderDefaultTagsArgs(tags=cell.tags)
    own = aws.Provider(
        f"{cell.name}-aws",
        region=cell.region,
        assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=f"arn:aws:iam::{cell.account_id}:role/Access")],
        default_tags=tags,
    )
    other = aws.Provider(
        f"{cell.name}-other",
        region=cell.region,
        assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/Access")],
        default_tags=tags,
    )
    bucket = aws.s3.Bucket(f"{cell.name}-data", opts=pulumi.ResourceOptions(provider=own))
    aws.s3.BucketPublicAccessBlock(
        f"{cell.name}-data",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=pulumi.ResourceOptions(provider=own),
    )
    aws.ec2.Vpc(f"{cell.name}-stray", cidr_block="10.99.0.0/16", opts=pulumi.ResourceOptions(provider=other))


def test_broken_cell_findings_name_rule_and_resource(registry: Registry) -> None:
    alpha = registry.cell("alpha")
    plan = run_program(lambda: broken_cell(registry, alpha), stack="cell-alpha", mocks=CloudMocks(registry))
    found = {(f.policy, f.name) for f in evaluate(plan.resources, registry=registry) if f.mandatory}
    assert ("s3-bucket-security", "alpha-data") in found
    assert ("cell-isolation", "alpha-stray") in found
    assert not any(name == "alpha-data" and policy == "cell-isolation" for policy, name in found)


def test_cli_exits_1_naming_rule_and_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacks.cell_aws, "program", broken_cell)
    result = runner.invoke(app, ["plan", "cell-alpha", "--jobs", "1"], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "s3-bucket-security" in result.output
    assert "alpha-data" in result.output
    assert "cell-isolation" in result.output
    assert "alpha-stray" in result.output
    assert "100000000001" in result.output
    assert "cell-alpha: 5 resources, " in result.output


def test_cli_json_holds_every_resource(registry: Registry) -> None:
    result = runner.invoke(app, ["plan", "cell-gamma", "--json"])
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    [stack] = doc["stacks"]
    assert stack["stack"] == "cell-gamma"
    expected = run_stack("cell-gamma", registry)
    urns = [r["urn"] for r in stack["resources"]]
    assert urns == sorted(r.urn for r in expected.resources)  # sorted: the same output on every run
    assert len(set(urns)) == len(urns)
    for resource in stack["resources"]:
        assert set(RESOURCE_FIELDS) <= set(resource)
    vpc = next(r for r in stack["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    assert vpc["inputs"]["cidrBlock"] == "10.64.0.0/16"
    assert vpc["provider"] in urns
    for finding in stack["findings"]:
        assert {"policy", "level", "urn", "message"} <= set(finding)
    assert (result.exit_code == 1) == any(f["level"] == "mandatory" for f in stack["findings"])


def test_sample_organization_plans_clean() -> None:
    result = runner.invoke(app, ["plan", "--all", "--json"])
    doc = json.loads(result.stdout)
    assert [s["stack"] for s in doc["stacks"]] == [
        "management",
        "cell-alpha",
        "cell-beta",
        "cell-dev-jdoe",
        "cell-gamma",
        "cell-staging",
        "routing",
    ]
    errors = {s["stack"]: s["error"] for s in doc["stacks"] if "error" in s}
    assert errors == {}
    mandatory = [
        (s["stack"], f["policy"], f["name"]) for s in doc["stacks"] for f in s["findings"] if f["level"] == "mandatory"
    ]
    assert mandatory == []
    assert all(s["resources"] for s in doc["stacks"])
    assert result.exit_code == 0


def test_unknown_stack_lists_the_valid_ones() -> None:
    result = runner.invoke(app, ["plan", "cell-omega"])
    assert result.exit_code == 2
    assert "unknown stack 'cell-omega'" in result.output
    assert "management, cell-alpha, cell-beta, cell-dev-jdoe, cell-gamma, cell-staging" in result.output
    assert "Traceback" not in result.output


def test_a_cell_name_means_its_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stacks.cell_aws, "program", broken_cell)
    result = runner.invoke(app, ["plan", "alpha", "cell-alpha", "--json", "--jobs", "1"])
    assert [s["stack"] for s in json.loads(result.stdout)["stacks"]] == ["cell-alpha"]


def test_no_stack_is_bad_input() -> None:
    result = runner.invoke(app, ["plan"])
    assert result.exit_code == 2
    assert "--all" in result.output


def test_unwritten_program_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def unwritten(registry: Registry, cell: AwsCell) -> None:
        raise NotImplementedError("the AWS cell program is not written yet")

    monkeypatch.setattr(stacks.cell_aws, "program", unwritten)
    result = runner.invoke(app, ["plan", "cell-staging", "--json", "--jobs", "1"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert "the program of stack cell-staging is not written yet" in doc["stacks"][0]["error"]
    assert "Traceback" not in result.output


def test_policy_config_changes_levels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(stacks.cell_aws, "program", broken_cell)
    config = tmp_path / "levels.json"
    config.write_text(
        json.dumps({"s3-bucket-security": "advisory", "cell-isolation": {"enforcementLevel": "disabled"}})
    )
    result = runner.invoke(app, ["plan", "cell-alpha", "--jobs", "1", "--json", "--policy-config", str(config)])
    doc = json.loads(result.stdout)
    levels = {(f["policy"], f["level"]) for f in doc["stacks"][0]["findings"]}
    assert ("s3-bucket-security", "advisory") in levels
    assert not any(policy == "cell-isolation" for policy, _ in levels)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no-such-rule": "advisory"}))
    result = runner.invoke(app, ["plan", "cell-alpha", "--policy-config", str(bad)])
    assert result.exit_code == 2
    assert "unknown rules no-such-rule" in result.output


def test_a_pool_of_processes_gives_the_same_plans(registry: Registry) -> None:
    names = ["cell-staging", "cell-dev-jdoe", "cell-gamma"]
    pooled = plan_stacks(names, registry, jobs=2)
    alone = plan_stacks(names, registry, jobs=1)
    assert [r.stack for r in pooled] == names

    def comparable(results: list[Any]) -> list[Any]:
        # Registration order may differ between runs (the program is async); the content may not.
        def key(item: dict[str, Any]) -> str:
            return json.dumps(item, sort_keys=True)

        return [(r.stack, sorted(r.resources, key=key), sorted(r.findings, key=key), r.error) for r in results]

    assert comparable(pooled) == comparable(alone)
    assert all(r.resources and r.error is None for r in pooled)
