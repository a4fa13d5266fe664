"""`cellctl rollout --runner deployments`: the schedule, bad input, and the sample rolled out through the stand-in."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cloud_server import TOKEN, Script
from typer.testing import CliRunner

from cellctl import rollout_cmds
from cellctl.main import app
from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.health import Health

cli = CliRunner()
Invoke = Callable[..., Any]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git checkout with the committed stack files (the agents deploy a commit, so it must be clean)."""
    path = tmp_path / "project"
    shutil.copytree(
        Path(__file__).resolve().parent.parent / "stacks", path / "stacks", ignore=shutil.ignore_patterns("*.py", "_*")
    )
    (path / "Pulumi.yaml").write_text("name: honeycomb\nruntime: python\nstackConfigDir: stacks\n")
    (path / ".gitignore").write_text(".honeycomb/\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@x", "-c", "user.name=t", "commit", "-qm", "s"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path


@pytest.fixture
def invoke(project: Path) -> Invoke:
    def run(*args: str) -> Any:
        return cli.invoke(app, ["rollout", "--runner", "deployments", *args, "--project-dir", str(project)])

    return run


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch, server: Any, cloud: Any) -> VirtualClock:
    """Pulumi Cloud is the stand-in (its URL as the backend), health is good, time is virtual."""
    clock = VirtualClock()

    class Healthy:
        def check(self, cell: Any) -> Health:
            return Health(cell.name, True, "OK")

    monkeypatch.setenv("PULUMI_BACKEND_URL", server.url)
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", TOKEN)
    monkeypatch.setattr(rollout_cmds, "make_health", lambda registry, runner, clouds: Healthy())
    monkeypatch.setattr(rollout_cmds, "make_clock", lambda: clock)
    return clock


def journals(project: Path) -> list[Path]:
    return sorted((project / ".honeycomb" / "rollouts").glob("*.json"))


def test_dry_run_shows_the_remote_concurrency(invoke: Invoke, project: Path) -> None:
    result = invoke("--dry-run", "--json")
    assert result.exit_code == 0, result.output
    schedule = json.loads(result.output)
    assert schedule["concurrency"] == 25
    assert schedule["runner"] == {"kind": "deployments", "organization": "acme", "concurrency_limit": 25}
    # Five cells fit in one round at 25: each wave takes one stack's 10 minutes, plus its bake.
    assert schedule["expected_seconds"] == 3 * 600 + 1800 + 3600 + 1800
    text = invoke("--dry-run")
    assert "on Pulumi Deployments (acme): concurrency 25" in " ".join(text.output.split())
    assert journals(project) == []


def test_concurrency_above_the_organization_limit(invoke: Invoke) -> None:
    result = invoke("--dry-run", "--concurrency", "26")
    assert result.exit_code == 2
    assert "more than the organization's Pulumi Deployments concurrency (25" in " ".join(result.output.split())
    assert invoke("--dry-run", "--concurrency", "10").exit_code == 0


def test_unknown_runner(invoke: Invoke, project: Path) -> None:
    result = cli.invoke(app, ["rollout", "--runner", "cloud", "--dry-run", "--project-dir", str(project)])
    assert result.exit_code == 2 and "--runner must be one of local, deployments" in result.output


def test_registry_without_pulumi_deployments(
    invoke: Invoke, registry_copy: Path, edit_yaml: Any, project: Path
) -> None:
    edit_yaml(registry_copy / "organization.yaml", lambda d: d.pop("pulumi_deployments"))
    result = invoke("--dry-run", "--registry", str(registry_copy))
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "organization.yaml has no `pulumi_deployments`" in text and "Traceback" not in text


def test_missing_token(invoke: Invoke, remote: VirtualClock, monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    monkeypatch.delenv("PULUMI_ACCESS_TOKEN")
    result = invoke()
    assert result.exit_code == 2
    assert "PULUMI_ACCESS_TOKEN is not set" in " ".join(result.output.split())
    assert journals(project) == []


def test_state_outside_pulumi_cloud(
    invoke: Invoke, remote: VirtualClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cloud: Any
) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}/state")
    result = invoke()
    assert result.exit_code == 2 and "whose state is in Pulumi Cloud" in " ".join(result.output.split())
    assert cloud.created() == []


def test_uncommitted_checkout(invoke: Invoke, remote: VirtualClock, project: Path, cloud: Any) -> None:
    (project / "notes.txt").write_text("not committed")
    result = invoke()
    assert result.exit_code == 2 and "Commit and push" in " ".join(result.output.split())
    assert cloud.created() == []


def test_sample_rolls_out_halts_and_resumes_without_duplicates(
    invoke: Invoke, remote: VirtualClock, project: Path, cloud: Any
) -> None:
    cloud.scripts["cell-alpha"] = Script(final="failed", logs=["Updating (cell-alpha)", "error: quota exceeded"])
    first = invoke("--json")
    assert first.exit_code == 1, first.output
    report = json.loads(first.output.strip().splitlines()[-1])
    states = {c["stack"]: c["state"] for c in report["data"]["cells"]}
    assert states == {
        "cell-dev-jdoe": "succeeded",
        "cell-staging": "succeeded",
        "cell-alpha": "failed",
        "cell-beta": "pending",
        "cell-gamma": "pending",
    }
    assert "error: quota exceeded" in report["detail"]
    [journal] = journals(project)
    recorded = json.loads(journal.read_text())["cells"]["cell-alpha"]["deployments"]
    assert list(recorded.values()) == [cloud.created("cell-alpha")[0].id]

    cloud.scripts["cell-alpha"] = Script()
    second = invoke("--json", "--resume", "latest")
    assert second.exit_code == 0, second.output
    counts = {stack: len(cloud.created(stack)) for stack in ("cell-dev-jdoe", "cell-staging", "cell-beta")}
    assert counts == {"cell-dev-jdoe": 1, "cell-staging": 1, "cell-beta": 1}  # nothing deployed twice
    assert len(cloud.created("cell-alpha")) == 2  # the failed one is not followed again: a new deployment
    assert cloud.invalid == []
    assert all(d.request["sourceContext"]["git"]["commit"] == _head(project) for d in cloud.created())


def _head(project: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, check=True, capture_output=True, text=True
    ).stdout.strip()
