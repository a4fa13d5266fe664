"""Stack config files (`stacks/Pulumi.<stack>.yaml`) and the registry stay in step."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cellctl import stacks_cmd
from cellctl.main import app
from cells import Registry, load_registry


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    """A copy of the project's stack files to break."""
    dest = tmp_path / "stacks"
    dest.mkdir()
    for path in stacks_cmd.STACKS_DIR.glob("Pulumi.*.yaml"):
        shutil.copy(path, dest / path.name)
    return dest


def reasons(findings: list[stacks_cmd.Finding]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f.file, []).append(f"{f.kind}: {f.reason}")
    return out


def set_config(path: Path, **changes: object) -> None:
    doc = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            doc["config"].pop(key, None)
        else:
            doc["config"][key] = value
    path.write_text(yaml.safe_dump(doc))


def test_the_project_stack_files_match_the_registry(registry: Registry) -> None:
    findings = stacks_cmd.compare(registry)
    assert findings == [], "run `cellctl stacks sync`:\n" + "\n".join(map(str, findings))
    files = sorted(p.name for p in stacks_cmd.STACKS_DIR.glob("Pulumi.*.yaml"))
    assert files == sorted(f"Pulumi.{s}.yaml" for s in registry.stack_names)


def test_rendered_files_hold_provider_settings_only(registry: Registry) -> None:
    for stack in registry.stack_names:
        config = yaml.safe_load(stacks_cmd.render(registry, stack))["config"]
        assert config["pulumi:disable-default-providers"] == ["*"]
        assert set(config) <= {"pulumi:disable-default-providers", "honeycomb:managementStack"}
        # The routing stack reads the registry alone: no management stack to name.
        assert ("honeycomb:managementStack" in config) == (stack not in ("management", "routing"))


def test_a_new_cell_needs_a_file_and_sync_writes_it(registry_copy: Path, edit_yaml, stack_dir: Path) -> None:
    shutil.copy(registry_copy / "cells" / "dev-jdoe.yaml", registry_copy / "cells" / "dev-kim.yaml")
    edit_yaml(
        registry_copy / "cells" / "dev-kim.yaml",
        lambda d: d.update(
            name="dev-kim",
            account_email="aws+cell-dev-kim@acme-corp.net",
            owner="kim@acme-corp.net",
            network={"cidr": "10.201.0.0/20"},
        ),
    )
    reg = load_registry(registry_copy)
    findings = stacks_cmd.compare(reg, stack_dir)
    assert [(f.file, f.kind) for f in findings] == [("Pulumi.cell-dev-kim.yaml", "missing")]
    written = stacks_cmd.write_missing(reg, findings, stack_dir)
    assert [p.name for p in written] == ["Pulumi.cell-dev-kim.yaml"]
    assert stacks_cmd.compare(reg, stack_dir) == []


def test_a_removed_cell_leaves_a_stale_file(registry_copy: Path, stack_dir: Path) -> None:
    (registry_copy / "cells" / "gamma.yaml").unlink()
    (registry_copy / "tenants" / "gamma.yaml").unlink()  # a removed cell takes its tenants along
    findings = stacks_cmd.compare(load_registry(registry_copy), stack_dir)
    assert [(f.file, f.kind) for f in findings] == [("Pulumi.cell-gamma.yaml", "stale")]
    assert "pulumi destroy --stack cell-gamma" in findings[0].reason


def test_registry_data_in_stack_config_is_stale(registry: Registry, stack_dir: Path) -> None:
    set_config(stack_dir / "Pulumi.cell-alpha.yaml", **{"honeycomb:size": "large", "honeycomb:region": "us-east-1"})
    found = reasons(stacks_cmd.compare(registry, stack_dir))
    assert list(found) == ["Pulumi.cell-alpha.yaml"]
    assert len(found["Pulumi.cell-alpha.yaml"]) == 2
    assert all("belongs in the registry" in r for r in found["Pulumi.cell-alpha.yaml"])


def test_secrets_and_provider_settings_are_allowed(registry: Registry, stack_dir: Path) -> None:
    set_config(
        stack_dir / "Pulumi.cell-staging.yaml",
        **{
            "honeycomb:someToken": {"secure": "v1:abc"},
            "aws:maxRetries": "10",
            "honeycomb:eksPublicAccessCidrs": ["203.0.113.0/24"],
        },
    )
    set_config(stack_dir / "Pulumi.management.yaml", **{"honeycomb:identityCenterRegion": "eu-west-1"})
    set_config(stack_dir / "Pulumi.cell-beta.yaml", **{"honeycomb:masterAuthorizedNetworks": ["203.0.113.0/24"]})
    assert stacks_cmd.compare(registry, stack_dir) == []


def test_public_endpoint_cidrs_in_a_prod_cell_are_stale(registry: Registry, stack_dir: Path) -> None:
    set_config(stack_dir / "Pulumi.cell-gamma.yaml", **{"honeycomb:eksPublicAccessCidrs": ["203.0.113.0/24"]})
    assert list(reasons(stacks_cmd.compare(registry, stack_dir))) == ["Pulumi.cell-gamma.yaml"]


@pytest.mark.parametrize(
    ("stack", "key", "value", "reason"),
    [
        ("cell-staging", "eksPublicAccessCidrs", ["10.0.0.0/8"], "is not a public range"),
        ("cell-staging", "eksPublicAccessCidrs", "not json", "must be a list of CIDRs"),
        ("cell-beta", "masterAuthorizedNetworks", ["0.0.0.0/0"], "is every address"),
    ],
)
def test_cidrs_the_cell_stack_refuses_are_stale(
    registry: Registry, stack_dir: Path, stack: str, key: str, value: Any, reason: str
) -> None:
    set_config(stack_dir / f"Pulumi.{stack}.yaml", **{f"honeycomb:{key}": value})
    (found,) = reasons(stacks_cmd.compare(registry, stack_dir))[f"Pulumi.{stack}.yaml"]
    assert reason in found


def test_ci_principals_the_management_stack_refuses_are_stale(registry: Registry, stack_dir: Path) -> None:
    path = stack_dir / "Pulumi.management.yaml"
    set_config(path, **{"honeycomb:ciPrincipalArns": ["arn:aws:iam::100000000001:role/runner"]})
    assert stacks_cmd.compare(registry, stack_dir) == []
    set_config(path, **{"honeycomb:ciPrincipalArns": ["*"]})
    (reason,) = reasons(stacks_cmd.compare(registry, stack_dir))["Pulumi.management.yaml"]
    assert "honeycomb:ciPrincipalArns is refused by the management stack" in reason and "wildcard" in reason


def test_missing_or_wrong_required_settings_are_stale(registry: Registry, stack_dir: Path) -> None:
    set_config(stack_dir / "Pulumi.cell-alpha.yaml", **{"pulumi:disable-default-providers": None})
    set_config(stack_dir / "Pulumi.cell-gamma.yaml", **{"pulumi:disable-default-providers": ["kubernetes"]})
    set_config(stack_dir / "Pulumi.cell-staging.yaml", **{"honeycomb:managementStack": ""})
    (stack_dir / "Pulumi.cell-beta.yaml").write_text("config: [not, a, mapping]\n")
    found = reasons(stacks_cmd.compare(registry, stack_dir))
    assert sorted(found) == [
        "Pulumi.cell-alpha.yaml",
        "Pulumi.cell-beta.yaml",
        "Pulumi.cell-gamma.yaml",
        "Pulumi.cell-staging.yaml",
    ]
    assert "lacks pulumi:disable-default-providers" in found["Pulumi.cell-alpha.yaml"][0]
    assert "must name the management stack" in found["Pulumi.cell-staging.yaml"][0]


def test_cli_check_exits_1_on_any_difference_and_sync_writes_missing(stack_dir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["stacks", "sync", "--check", "--dir", str(stack_dir)]).exit_code == 0
    (stack_dir / "Pulumi.cell-alpha.yaml").unlink()
    checked = runner.invoke(app, ["stacks", "sync", "--check", "--json", "--dir", str(stack_dir)])
    assert checked.exit_code == 1
    assert '"Pulumi.cell-alpha.yaml"' in checked.stdout
    assert not (stack_dir / "Pulumi.cell-alpha.yaml").exists()
    synced = runner.invoke(app, ["stacks", "sync", "--dir", str(stack_dir)])
    assert synced.exit_code == 0
    assert "wrote Pulumi.cell-alpha.yaml" in synced.stdout
    assert runner.invoke(app, ["stacks", "sync", "--check", "--dir", str(stack_dir)]).exit_code == 0


def test_sync_reports_stale_files_but_never_rewrites_them(stack_dir: Path) -> None:
    stale = stack_dir / "Pulumi.cell-old.yaml"
    stale.write_text("config:\n  honeycomb:managementStack: management\n")
    result = CliRunner().invoke(app, ["stacks", "sync", "--dir", str(stack_dir)])
    assert result.exit_code == 0
    assert "Pulumi.cell-old.yaml" in result.stdout
    assert stale.exists()


def test_cli_rejects_a_missing_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["stacks", "sync", "--dir", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "is not a directory" in result.output


def test_a_routing_file_without_its_router_key_or_with_it_in_plain_text_is_stale(
    registry: Registry, stack_dir: Path
) -> None:
    from stacks.routing import ROUTER_SECRET_CONFIG

    key = f"honeycomb:{ROUTER_SECRET_CONFIG}"
    assert stacks_cmd.REQUIRED_SECRETS["routing"] == (ROUTER_SECRET_CONFIG,)
    set_config(stack_dir / "Pulumi.routing.yaml", **{key: None})
    [reason] = reasons(stacks_cmd.compare(registry, stack_dir))["Pulumi.routing.yaml"]
    assert f"lacks the secret {key}: pulumi config set --secret --stack routing {key}" in reason
    set_config(stack_dir / "Pulumi.routing.yaml", **{key: "plain"})
    [reason] = reasons(stacks_cmd.compare(registry, stack_dir))["Pulumi.routing.yaml"]
    assert f"sets {key}, which is neither a provider setting nor a secret" in reason
