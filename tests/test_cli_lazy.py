"""The CLI loads only what a command needs: `--help` and `validate` never import the SDKs or the clouds' rules.

Each case runs in a fresh interpreter (this test process has imported everything already) and
reports which of the heavy modules ended up in `sys.modules`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cellctl import common
from cells import loader

#: Modules that only planning (or a rollout) needs: the SDKs, the clouds' rule sets, plotting.
HEAVY = (
    "pulumi",
    "pulumi_aws",
    "pulumi_gcp",
    "pulumi_kubernetes",
    "pulumi_policy",
    "boto3",
    "botocore",
    "grpc",
    "matplotlib",
    "rich.traceback",
    "rich.progress",
    "parliament",
    "kubernetes_validate",
    "jsonschema",
    "policies",
    "components",
)
#: Typer's rich help renderer (`typer.rich_utils`) imports `rich.traceback`: help only, not ours to change.
HELP_RENDERER = ("rich.traceback",)

PROBE = """
import json, sys
from typer.testing import CliRunner
{setup}
from cellctl.main import app
code = None
if {args!r}:
    code = CliRunner().invoke(app, {args!r}).exit_code
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def loaded(args: list[str], setup: str = "") -> tuple[int | None, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, setup=setup)], capture_output=True, text=True, check=True
    )
    doc = json.loads(done.stdout.splitlines()[-1])
    return doc["code"], set(doc["modules"])


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY[:8])


def test_importing_the_cli_loads_no_engine_and_no_registry_models():
    _, modules = loaded([])
    assert heavy(modules) == []
    # Not even the registry's models: `cellctl --help` lists commands, it reads no registry.
    assert "cells.models" not in modules
    assert "pydantic" not in modules


@pytest.mark.parametrize(
    "args", [["--help"], ["plan", "--help"], ["rollout", "--help"], ["stacks", "--help"], ["tenants", "--help"]]
)
def test_help_loads_no_engine(args):
    code, modules = loaded(args)
    assert code == 0
    assert [m for m in heavy(modules) if m not in HELP_RENDERER] == []


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["list", "--json"],
        ["show", "alpha"],
        ["stacks", "sync", "--check"],
        ["tenants", "list", "--json"],
        ["capacity", "--json"],
    ],
)
def test_registry_commands_load_no_engine(args):
    code, modules = loaded(args)
    assert code == 0
    assert "cells.models" in modules  # they did read the registry
    assert heavy(modules) == []


def test_planning_does_load_the_engine():
    """The probe can see a heavy import: `plan` brings in the SDK (so the cases above can fail)."""
    code, modules = loaded(["plan", "cell-dev-jdoe", "--json"])
    assert code in (0, 1)
    assert {"pulumi", "pulumi_aws", "policies", "botocore"} <= modules


def test_the_registry_variable_is_the_registrys_own():
    assert common.REGISTRY_ENV == loader.REGISTRY_ENV
