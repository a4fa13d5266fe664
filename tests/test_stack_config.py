"""The offline plan sees each stack's real config: `stacks/Pulumi.<stack>.yaml` plus `--config` overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cellctl import stack_config
from cellctl.main import app
from cellctl.plan import plan_stack
from cellctl.stack_config import SECRET_PLACEHOLDER, StackConfig, StackConfigError, load, parse_overrides, read_file
from cells import Registry

RUNNER_ARN = "arn:aws:iam::100000000001:role/ci-runner"


@pytest.fixture
def stacks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(stack_config, "STACKS_DIR", tmp_path)
    return tmp_path


def test_the_sample_files_are_read_as_the_engine_passes_them() -> None:
    config = load("cell-alpha")
    assert config.values == {
        "honeycomb:managementStack": "management",
        "pulumi:disable-default-providers": '["*"]',
    }
    assert config.secret_keys == frozenset()


def test_values_are_encoded_and_secure_ones_become_the_placeholder(stacks_dir: Path) -> None:
    (stacks_dir / "Pulumi.cell-x.yaml").write_text(
        "encryptionsalt: v1:abc\n"
        "config:\n"
        "  honeycomb:count: 3\n"
        "  honeycomb:on: true\n"
        "  honeycomb:email: ops@example.com\n"
        "  honeycomb:token:\n"
        "    secure: v1:AAAABBBB\n"
        "  honeycomb:nested:\n"
        "    user: ci\n"
        "    password:\n"
        "      secure: v1:CCCC\n"
    )
    config = load("cell-x")
    assert config.values == {
        "honeycomb:count": "3",
        "honeycomb:on": "true",
        "honeycomb:email": "ops@example.com",
        "honeycomb:token": SECRET_PLACEHOLDER,
        "honeycomb:nested": json.dumps({"user": "ci", "password": SECRET_PLACEHOLDER}, separators=(",", ":")),
    }
    assert config.secret_keys == {"honeycomb:token", "honeycomb:nested"}


def test_overrides_win_and_are_qualified(stacks_dir: Path) -> None:
    (stacks_dir / "Pulumi.cell-x.yaml").write_text("config:\n  honeycomb:token:\n    secure: v1:AAAA\n")
    overrides = parse_overrides(["token=plain", "aws:region=eu-west-1", "honeycomb:list=[1, 2]"])
    assert overrides == {"honeycomb:token": "plain", "aws:region": "eu-west-1", "honeycomb:list": "[1, 2]"}
    config = load("cell-x", overrides)
    assert config.values["honeycomb:token"] == "plain" and config.secret_keys == frozenset()


def test_a_missing_file_is_an_empty_config(stacks_dir: Path) -> None:
    assert load("cell-new") == StackConfig()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("config: [\n", "is not valid YAML (line"),
        ("- a\n", "must be a mapping"),
        ("config: [a, b]\n", "`config:` must be a map"),
        (
            "config:\n  managementStack: x\n",
            "has no namespace; stack files name it in full (honeycomb:managementStack)",
        ),
        ("config:\n  a:b:c: x\n", "is not a config key"),
    ],
)
def test_bad_files_are_errors_naming_the_file(stacks_dir: Path, text: str, reason: str) -> None:
    path = stacks_dir / "Pulumi.cell-x.yaml"
    path.write_text(text)
    with pytest.raises(StackConfigError) as err:
        read_file(path)
    assert str(path) in str(err.value) and reason in str(err.value)


@pytest.mark.parametrize("item", ["novalue", "=x", "a:b:c=1"])
def test_bad_overrides_are_errors(item: str) -> None:
    with pytest.raises(StackConfigError, match="--config"):
        parse_overrides([item])


def test_plan_reads_the_stack_file(stacks_dir: Path) -> None:
    (stacks_dir / "Pulumi.cell-staging.yaml").write_text(
        "config:\n  pulumi:disable-default-providers: ['*']\n  honeycomb:eksPublicAccessCidrs: ['192.0.2.0/24']\n"
    )
    result = CliRunner().invoke(app, ["plan", "cell-staging", "--json", "-j", "1"])
    assert result.exit_code == 0, result.output
    [stack] = json.loads(result.stdout)["stacks"]
    [cluster] = [r for r in stack["resources"] if r["type"] == "aws:eks/cluster:Cluster"]
    assert "192.0.2.0/24" in cluster["inputs"]["vpcConfig"]["publicAccessCidrs"]


def test_a_bad_stack_file_stops_the_plan_with_its_name(stacks_dir: Path) -> None:
    (stacks_dir / "Pulumi.management.yaml").write_text("config: [\n")
    result = CliRunner().invoke(app, ["plan", "management", "-j", "1"])
    assert result.exit_code == 2
    assert "Pulumi.management.yaml is not valid YAML" in result.stderr and "Traceback" not in result.output


def test_a_config_override_reaches_the_management_program(registry: Registry) -> None:
    config = load("management", parse_overrides([f'honeycomb:ciPrincipalArns=["{RUNNER_ARN}"]']))
    result = plan_stack("management", registry, config=config)
    assert result.error is None
    assert any(RUNNER_ARN in json.dumps(r["inputs"]) for r in result.resources)


def test_a_wildcard_ci_principal_reaches_the_management_program() -> None:
    """`["*"]` arrives as the program reads it: trusted as given, or refused with the setting's name."""
    result = CliRunner().invoke(
        app, ["plan", "management", "--json", "-j", "1", "--config", 'honeycomb:ciPrincipalArns=["*"]']
    )
    if result.exit_code == 2:
        assert "ciPrincipalArns" in result.stderr
        return
    [stack] = json.loads(result.stdout)["stacks"]
    trusts = [r["inputs"].get("assumeRolePolicy") for r in stack["resources"] if r["type"] == "aws:iam/role:Role"]
    statements = [s for t in trusts if t for s in json.loads(t)["Statement"]]
    assert any(s["Principal"].get("AWS") in ("*", ["*"]) for s in statements)
