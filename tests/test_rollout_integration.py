"""Rollouts end to end: the real `pulumi.automation` SDK driving the stand-in Pulumi CLI.

The stand-in (`../shared/fake-pulumi/pulumi`, beside the repository) implements the CLI surface
the SDK calls: stack locks, config files, event logs, signals, fault injection and a calls log.
Every test runs on a fresh git repository made from this checkout (no `.venv` in it, like a CI
clone or a rollback worktree) against a file backend in a temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from component_repos import without_lifecycles
from typer.testing import CliRunner

from cellctl import rollout_cmds
from cellctl.lifecycle import LifecycleRunner
from cellctl.main import app
from cellctl.rollout.health import Health
from cellctl.rollout.retry import RetryPolicy

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT.parent / "shared" / "fake-pulumi" / "pulumi"
CELLCTL = Path(sys.executable).parent / "cellctl"
PASSPHRASE = "drill"

pytestmark = pytest.mark.skipif(
    not FAKE.is_file(),
    reason=f"the stand-in Pulumi CLI is not at {FAKE} (these tests need ../shared beside the repository)",
)

cli = CliRunner()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=dev@example.com", "-c", "user.name=dev", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's files (as they are now) committed into a repository of their own."""
    repo = tmp_path_factory.mktemp("template") / "repo"
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, names):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    # Fewer cells keep the runs short: every wave still has a cell, both clouds are still there.
    (repo / "cells" / "registry" / "cells" / "gamma.yaml").unlink()
    (repo / "cells" / "registry" / "tenants" / "gamma.yaml").unlink()  # a removed cell takes its tenants along
    (repo / "stacks" / "Pulumi.cell-gamma.yaml").unlink()
    set_router_key(repo, tmp_path_factory.mktemp("keys"))
    git(repo, "init", "-q")
    commit(repo, "the project")
    return repo


def set_router_key(repo: Path, scratch: Path) -> None:
    """The routing stack's required secret, set as an operator does before the first `up`: `stack init`
    writes the stack's salt into its file, `config set --secret` the ciphertext beside it (the sample's
    placeholder ciphertext decrypts with no passphrase). The salt travels in the file to every backend."""
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{scratch / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_HOME": str(scratch / "home"),
        "FAKE_PULUMI_STATE": str(scratch / "state"),
    }
    for argv in (
        ["stack", "init", "routing"],
        ["config", "set", "--secret", "--stack", "routing", "honeycomb:routerOriginSecret", "k" * 64],
    ):
        subprocess.run([str(FAKE), *argv], cwd=repo, env=env, check=True, capture_output=True)


class World:
    """A fresh clone, a file backend and the stand-in's state; `cellctl` runs in-process or as a process."""

    def __init__(self, root: Path, template: Path) -> None:
        self.root = root
        self.repo = root / "clone"
        subprocess.run(["git", "clone", "-q", str(template), str(self.repo)], check=True)
        self.state = root / "fake"
        self.env = {
            "PATH": f"{FAKE.parent}{os.pathsep}{os.environ['PATH']}",
            "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_HOME": str(root / "pulumi-home"),
            "FAKE_PULUMI_STATE": str(self.state),
            "FAKE_PULUMI_SLEEP": "0.05",
            "FAKE_PULUMI_CANCEL_SECONDS": "0.3",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def args(self, *args: str) -> list[str]:
        return [*args, "--project-dir", str(self.repo), "--registry", str(self.repo / "cells" / "registry")]

    def invoke(self, *args: str) -> Any:
        return cli.invoke(app, self.args(*args))

    def spawn(self, *args: str, **extra_env: str) -> subprocess.Popen[str]:
        env = {**os.environ, **self.env, **extra_env}
        return subprocess.Popen(
            [str(CELLCTL), *self.args(*args)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as at a terminal
        )

    def calls(self) -> list[dict[str, Any]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

    def started(self, *argv: str) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["event"] == "start" and all(a in c["argv"] for a in argv)]

    def exits(self, *argv: str) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["event"] == "exit" and all(a in c["argv"] for a in argv)]

    def journals(self) -> list[dict[str, Any]]:
        """Every journal as cellctl reads it (its snapshot and the steps logged since), oldest first."""
        from cellctl.rollout.journal import Journal

        directory = self.repo / ".honeycomb" / "rollouts"
        found = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        return [Journal.load(directory, p.stem).doc.model_dump(mode="json") for p in found]

    def status(self) -> str:
        return git(self.repo, "status", "--porcelain", "--untracked-files=all")


@pytest.fixture
def world(tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    made = World(tmp_path, template)
    for key in [k for k in os.environ if k.startswith(("FAKE_PULUMI_", "PULUMI_"))]:
        monkeypatch.delenv(key)
    for key, value in made.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(rollout_cmds, "ROLLOUT_RETRY", RetryPolicy(attempts=3, initial=0.2, maximum=0.5, jitter=0))
    monkeypatch.setattr(rollout_cmds, "make_health", healthy)
    # The sample's component repositories are not reachable here: its components declare no lifecycle.
    monkeypatch.setattr(rollout_cmds, "make_lifecycle", no_lifecycles)
    rollout_cmds._command.cache_clear()
    yield made
    rollout_cmds._command.cache_clear()


def no_lifecycles(registry: Any, project: Path, clock: Any) -> LifecycleRunner:
    return LifecycleRunner(without_lifecycles(registry), project, clock)


def healthy(registry: Any, runner: Any, clouds: set[str]) -> Any:
    class Gate:
        def check(self, cell: Any) -> Health:
            return Health(cell.name, True, "OK")

    return Gate()


DRILL = ("--bake-minutes", "0", "--shorten-prod-bakes")


def events(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def report(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = events(result)[-1]["data"]
    return data


# --- a happy rollout, and a clean tree ----------------------------------------------------------------


def test_bootstrap_and_rollout_leave_the_tree_clean(world: World) -> None:
    boot = world.invoke("bootstrap", "--all", "--json")
    assert boot.exit_code == 0, boot.output
    # The routing stack, last, runs only when its preview shows changes.
    assert {c["state"] for c in report(boot)["cells"] if c["stack"] != "routing"} == {"succeeded"}
    assert report(boot)["cells"][-1]["stack"] == "routing"
    assert world.status() == ""
    # New stacks got an encryption salt from `stack init`: kept beside the journals, not in stacks/.
    [kept] = (world.repo / ".honeycomb" / "stack-keys").glob("*/Pulumi.cell-alpha.yaml")  # one backend's
    assert "encryptionsalt" in kept.read_text()

    before = len(world.started())
    roll = world.invoke("rollout", *DRILL, "--json")
    assert roll.exit_code == 0, roll.output
    cells = [c for c in report(roll)["cells"] if c["stack"] != "routing"]
    assert {c["state"] for c in cells} == {"succeeded"} and len(cells) == 4
    assert world.status() == ""
    # CLI calls: the stack is selected once and tagged once around its update; no config, no re-reads.
    calls = world.started()[before:]
    updates = len([c for c in calls if c["argv"][1:2] == ["up"]])
    assert updates == 4 and len(calls) / updates <= 4, [" ".join(c["argv"][1:4]) for c in calls]
    assert len([c for c in world.started() if c["argv"] == ["version"]]) == 1  # one check for both runs
    head = git(world.repo, "rev-parse", "HEAD")
    # The revision is clean, so it could be rolled back to; no run set config or wrote a stack file.
    history = json.loads(
        (world.root / "backend" / ".pulumi" / "stacks" / "honeycomb" / "cell-alpha.pulumi-tags").read_text()
    )["tags"]
    assert history["honeycomb:revision"] == head
    assert not world.started("config")
    for call in world.started("up"):
        assert call["cwd"] != str(world.repo)  # every run deploys from a disposable checkout


# --- a failed wave, rolled back from the previous revision ------------------------------------------


def test_bootstrap_creates_the_cell_stacks_before_the_management_stack_names_them(world: World) -> None:
    """The sample uses Pulumi Deployments: management writes each cell stack's deployment settings, which
    the service refuses for a stack that does not exist yet, so bootstrap creates the stacks first."""
    boot = world.invoke("bootstrap", "--all", "--json")
    assert boot.exit_code == 0, boot.output
    argv = [[a for a in c["argv"] if a != "--non-interactive"] for c in world.started()]
    selected = [a[-1] for a in argv if a[:2] == ["stack", "select"]]
    management_runs = [i for i, a in enumerate(argv) if a[:1] in (["preview"], ["up"])]
    cells = {c["stack"] for c in report(boot)["cells"]} - {"management"}
    assert len(cells) >= 4 and sorted(selected) == sorted(cells | {"management"})  # each selected once
    # Every cell stack exists before the first engine run (management's preview) starts.
    last_cell_select = max(i for i, a in enumerate(argv) if a[:2] == ["stack", "select"] and a[-1] in cells)
    assert last_cell_select < management_runs[0], [" ".join(a[:5]) for a in argv]


def test_a_failed_wave_rolls_back_from_the_previous_revision(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.invoke("bootstrap", "--all", "--json").exit_code == 0
    good = git(world.repo, "rev-parse", "HEAD")
    network = world.repo / "components" / "aws" / "network.py"
    network.write_text(network.read_text() + "\n# a change that breaks staging\n")
    bad = commit(world.repo, "a bad change")
    monkeypatch.setenv("FAKE_PULUMI_FAIL", f"cell-staging@{bad[:12]}")

    roll = world.invoke("rollout", *DRILL, "--rollback-on-failure", "--json")
    assert roll.exit_code == 1, roll.output
    cells = {c["stack"]: c for c in report(roll)["cells"]}
    staging = cells["cell-staging"]
    assert staging["state"] == "rolled-back", staging
    assert staging["rollback"] == f"re-deployed {good}" and staging["previous_revision"] == good
    # The engine's own diagnostic, not the SDK's preamble; the full log is named.
    assert "InvalidParameterException: injected failure (FAKE_PULUMI_FAIL) for cell-staging" in staging["error"]
    assert "code:" not in staging["error"] and ".honeycomb/logs/cell-staging.log" in staging["error"]
    assert cells["cell-alpha"]["state"] == "pending"
    rollout = f"(rollout {report(roll)['id']})"
    ups = [(c["code"], c["argv"][c["argv"].index("--message") + 1]) for c in world.exits("up", "cell-staging")]
    # The bad revision failed; the good one, from a fresh worktree with no .venv, ran (no ModuleNotFoundError).
    assert ups[1:] == [(1, f"honeycomb: revision {bad} {rollout}"), (0, f"honeycomb: revision {good} {rollout}")]
    assert world.status() == ""


def test_the_printed_rollback_commands_run(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.invoke("bootstrap", "--all", "--json").exit_code == 0
    good = git(world.repo, "rev-parse", "HEAD")
    (world.repo / "components" / "k8s" / "workloads.py").write_text("# changed\n")
    bad = commit(world.repo, "a bad change")
    monkeypatch.setenv("FAKE_PULUMI_FAIL", f"cell-dev-jdoe@{bad[:12]}")
    roll = world.invoke("rollout", *DRILL, "--json")
    assert roll.exit_code == 1
    [command] = report(roll)["rollback_commands"]
    assert good in command and "ln -s" in command
    done = subprocess.run(["bash", "-c", command], cwd=world.repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ModuleNotFoundError" not in done.stdout
    assert world.status() == ""
    last = world.started("up")[-1]["argv"]
    assert last[last.index("--message") + 1] == f"honeycomb: revision {good}"


# --- retries: throttling, a stale lock --------------------------------------------------------------


def test_throttling_is_retried_and_reads_as_throttling(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PULUMI_TRANSIENT", "cell-staging:1")
    roll = world.invoke("rollout", "--wave", "preprod", *DRILL, "--json")
    assert roll.exit_code == 0, roll.output
    retrying = [e for e in events(roll) if e.get("state") == "retrying"]
    assert [e["stack"] for e in retrying] == ["cell-staging"]
    assert "throttled by the cloud API" in retrying[0]["detail"]
    assert "Throttling: Rate exceeded" in retrying[0]["detail"] and "credentials" not in retrying[0]["detail"]
    staging = next(c for c in report(roll)["cells"] if c["stack"] == "cell-staging")
    assert staging["state"] == "succeeded" and staging["attempts"] == 2


def test_a_stale_lock_is_reported_with_its_holder_and_never_cancelled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PULUMI_LOCKED", "cell-staging:99")
    monkeypatch.setenv("FAKE_PULUMI_LOCKED_STALE", "1")
    roll = world.invoke("rollout", "--wave", "preprod", *DRILL, "--json")
    assert roll.exit_code == 1, roll.output
    retrying = [e for e in events(roll) if e.get("state") == "retrying"]
    assert len(retrying) == 2
    assert all("stack locked by ci@ci-runner-7 (pid 48213)" in e["detail"] for e in retrying)
    staging = next(c for c in report(roll)["cells"] if c["stack"] == "cell-staging")
    assert staging["state"] == "failed" and staging["attempts"] == 3
    assert "created by ci@ci-runner-7 (pid 48213)" in staging["error"] and "pulumi cancel" in staging["error"]
    # On a file backend `pulumi cancel` would only delete another process's lock: never called.
    assert not world.started("cancel")


# --- Ctrl-C, and two rollouts at once ---------------------------------------------------------------


def wait_for(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize(
    ("to_group", "signum"),
    [(False, signal.SIGINT), (True, signal.SIGINT), (True, signal.SIGTERM)],
    ids=["process", "process-group", "sigterm-to-group"],
)
def test_ctrl_c_stops_the_running_updates_and_says_so(world: World, to_group: bool, signum: int) -> None:
    process = world.spawn("rollout", "--wave", "preprod", *DRILL, "--json", FAKE_PULUMI_SLEEP="cell-staging=30")
    # cell-dev-jdoe is done (its update and its tag) before the signal: wait for the journal to say so.
    wait_for(lambda: world.started("up", "cell-staging") and world.exits("up", "cell-dev-jdoe"))
    wait_for(lambda: (j := world.journals()) and j[-1]["cells"]["cell-dev-jdoe"]["state"] == "succeeded")
    time.sleep(0.3)
    if to_group:
        os.killpg(process.pid, signum)  # what a terminal's Ctrl-C does (SIGTERM: a CI job cancelled, `kill`)
    else:
        process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    [up] = world.exits("up", "cell-staging")
    assert up["code"] == 8  # the engine stopped after its in-flight step (one signal, not two: no 255)
    assert not world.started("cancel")
    [journal] = world.journals()
    staging, dev = journal["cells"]["cell-staging"], journal["cells"]["cell-dev-jdoe"]
    assert staging["state"] == "cancelled" and "stopped by Ctrl-C after its in-flight steps" in staging["stopped"]
    assert dev["state"] == "succeeded" and dev["stopped"] is None  # it had finished before the Ctrl-C
    assert journal["status"] == "cancelled" and "cell-staging: cancelled" in journal["halt_reason"]
    locks = world.root / "backend" / ".pulumi" / "locks"
    assert not list(locks.rglob("*.json"))  # the engine released its stack lock
    assert world.status() == ""


def test_two_rollouts_at_once(world: World) -> None:
    first = world.spawn("rollout", "--wave", "preprod", *DRILL, "--json", FAKE_PULUMI_SLEEP="cell-staging=30")
    record = wait_for(lambda: next((world.repo / ".honeycomb" / "locks").glob("*.json"), None))
    holder = wait_for(lambda: (h := json.loads(record.read_text())).get("journal") and h)
    wait_for(lambda: world.started("up", "cell-staging"))
    second = world.invoke("rollout", "--wave", "preprod", *DRILL, "--json")
    assert second.exit_code == 2
    text = " ".join(second.output.split())
    assert f"pid {first.pid} on {holder['host']}, started {holder['started_at']}, journal {holder['journal']}" in text
    assert "Nothing was started" in text
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert [j["id"] for j in world.journals()] == [holder["journal"]]  # the second left no journal
    assert len(world.started("up", "cell-staging")) == 1


def test_a_failed_plugin_install_starts_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PULUMI_PLUGIN_FAIL", "1")
    monkeypatch.setattr(rollout_cmds, "PREPARE_RETRY", RetryPolicy(attempts=2, initial=0.1, maximum=0.1, jitter=0))
    roll = world.invoke("rollout", *DRILL)
    assert roll.exit_code == 2, roll.output
    text = " ".join(roll.output.split())
    assert "could not install the provider plugins" in text and "no such host" in text
    assert "Nothing was started" in text and "Traceback" not in text
    assert len(world.started("plugin", "install")) == 2  # a network error: tried again
    assert not world.started("up") and world.journals() == []
    assert world.invoke("rollout", "--resume", "latest").exit_code == 2


@pytest.mark.parametrize("backend", ["file", "service"])
def test_a_second_ctrl_c_stops_at_once_and_cancel_is_only_for_a_service(world: World, backend: str) -> None:
    extra = {"FAKE_PULUMI_SLEEP": "cell-staging=30", "FAKE_PULUMI_CANCEL_SECONDS": "10"}
    if backend == "service":
        extra["PULUMI_BACKEND_URL"] = "https://pulumi.example.test"
        extra["PULUMI_ACCESS_TOKEN"] = "pul-test"
    process = world.spawn("rollout", "--wave", "preprod", *DRILL, "--json", **extra)
    wait_for(lambda: world.started("up", "cell-staging"))
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    time.sleep(1.0)  # the engine is finishing its in-flight step (10 s here)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    [up] = world.exits("up", "cell-staging")
    assert up["code"] == 255 and up.get("terminated")
    staging = world.journals()[-1]["cells"]["cell-staging"]
    assert staging["state"] == "cancelled" and "stopped at once by a second Ctrl-C" in staging["stopped"]
    cancels = world.started("cancel")
    if backend == "file":
        assert cancels == []  # it would only delete the lock file
    else:
        assert [c["argv"][-1] for c in cancels] == ["cell-staging"]
        assert "pulumi cancel" in staging["stopped"]
