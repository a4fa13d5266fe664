"""The project file says what `pulumi up` needs: name, runtime, stack config dir, no default providers."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def test_project_file():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "honeycomb"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert project["stackConfigDir"] == "stacks"
    assert set(project["config"]["pulumi:disable-default-providers"]["value"]) == {"aws", "gcp", "kubernetes"}


def test_entry_point_only_builds_the_stack():
    tree = ast.parse((ROOT / "__main__.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert [ast.unparse(c.func) for c in calls] == ["stacks.build"]


def test_stack_config_dir_holds_the_stack_files():
    assert (ROOT / "stacks" / "Pulumi.management.yaml").is_file()
    assert (ROOT / "stacks" / "Pulumi.cell-alpha.yaml").is_file()
