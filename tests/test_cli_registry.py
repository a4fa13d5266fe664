"""cellctl's registry commands through Typer's runner: exit codes and output."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cellctl.main import app
from cells.loader import load_registry_data

runner = CliRunner()


def test_validate_ok():
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0
    assert "5 cells, 22 tenants, no errors" in result.stdout
    assert "warning" not in result.output


def test_validate_reports_every_error_and_exits_2(registry_copy, edit_yaml):
    edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(wave="nope"))
    edit_yaml(registry_copy / "cells/gamma.yaml", lambda d: d.update(size="huge"))
    result = runner.invoke(app, ["validate", "--registry", str(registry_copy)])
    assert result.exit_code == 2
    assert "2 errors" in result.stderr
    assert "alpha.yaml: wave: wave 'nope' is not defined" in result.stderr
    assert "gamma.yaml: size:" in result.stderr
    assert "Traceback" not in result.output


def test_registry_from_environment(registry_copy, edit_yaml, monkeypatch):
    edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(region="mars-1"))
    monkeypatch.setenv("HONEYCOMB_REGISTRY", str(registry_copy))
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "alpha.yaml: region: unknown aws region 'mars-1'" in result.stderr


def test_list_json():
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["alpha", "beta", "dev-jdoe", "gamma", "staging"]
    beta = rows[1]
    assert beta == {
        "name": "beta",
        "cloud": "gcp",
        "environment": "prod",
        "region": "europe-west1",
        "wave": "prod-main",
        "size": "medium",
        "dns": "beta.cells.acme-corp.net",
        "stack": "cell-beta",
    }


def test_list_table_names_every_cell():
    result = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("alpha", "beta", "dev-jdoe", "gamma", "staging"):
        assert name in result.stdout


def test_show_accepts_stack_name_and_prints_derived_values():
    result = runner.invoke(app, ["show", "cell-gamma", "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["dns_zone"] == "gamma.cells.acme-corp.net"
    assert {"group": "support", "permission": "read-only"} in doc["access"]


def test_show_unknown_cell_lists_known_ones():
    result = runner.invoke(app, ["show", "omega"])
    assert result.exit_code == 2
    assert "no cell named 'omega'" in result.stderr
    assert "alpha, beta, dev-jdoe, gamma, staging" in result.stderr


def test_export_to_file_round_trips(tmp_path, registry):
    out = tmp_path / "registry.json"
    result = runner.invoke(app, ["export", "-o", str(out)])
    assert result.exit_code == 0
    assert load_registry_data(json.loads(out.read_text())) == registry


def test_export_to_stdout():
    result = runner.invoke(app, ["export"])
    assert json.loads(result.stdout)["organization"]["name"] == "acme"


def test_schema_of_a_cell_file():
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert {"aws", "gcp"} == set(schema["discriminator"]["mapping"])


def test_unknown_schema_kind():
    result = runner.invoke(app, ["schema", "planet"])
    assert result.exit_code == 2
    assert "unknown schema 'planet'" in result.stderr
