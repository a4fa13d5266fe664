"""`cellctl bootstrap` / `cellctl rollout` through the CLI: bad input exits 2 before anything starts."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from component_repos import component_repo, with_lifecycles, without_lifecycles
from typer.testing import CliRunner

from cellctl import rollout_cmds
from cellctl.lifecycle import LifecycleRunner
from cellctl.main import app
from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.gitrev import GitWorktrees, current_revision
from cellctl.rollout.health import Health
from cellctl.rollout.memory import Behaviour, InMemoryRunner

cli = CliRunner()
REAL_MAKE_HEALTH = rollout_cmds.make_health


class Harness:
    """Stands in for the engine: every runner the commands make is an in-memory one on a virtual clock."""

    def __init__(self, behaviours: dict[str, Behaviour] | None = None, unhealthy: set[str] | None = None) -> None:
        self.behaviours = behaviours or {}
        self.unhealthy = unhealthy or set()
        self.runners: list[InMemoryRunner] = []
        self.revisions: dict[str, str] = {}
        self.prepared = 0
        self.prepare_error: Exception | None = None
        #: Per component name, the lifecycle the bootstrap's runner uses (the sample's repositories are not here).
        self.lifecycles: dict[str, Any] = {}
        self.lifecycle_env: dict[str, str] = {}
        self.lifecycle_registry: Any = None

    def make_runner(
        self, run_dir: Path, registry_dir: Path | None, *, home: Path, backend: str | None
    ) -> InMemoryRunner:
        clock = self.runners[0].clock if self.runners else VirtualClock()
        runner = InMemoryRunner(
            clock, self.behaviours, default=Behaviour(duration=30), revisions=self.revisions, project_dir=run_dir
        )
        if self.runners:
            runner.history = self.runners[0].history
        runner.prepare = self.prepare  # type: ignore[method-assign]
        self.runners.append(runner)
        return runner

    def prepare(self) -> None:
        self.prepared += 1
        if self.prepare_error is not None:
            raise self.prepare_error

    def make_health(self, registry: Any, runner: Any, clouds: set[str]) -> Any:
        harness = self

        class Gate:
            def check(self, cell: Any) -> Health:
                bad = cell.name in harness.unhealthy
                return Health(cell.name, not bad, "in ALARM" if bad else "OK")

        return Gate()

    def make_clock(self) -> VirtualClock:
        return self.runners[-1].clock  # type: ignore[return-value]

    def make_lifecycle(self, registry: Any, project: Path, clock: Any) -> LifecycleRunner:
        """The real runner, on the components' repositories a test names in `lifecycles` (none by default)."""
        self.lifecycle_registry = (
            with_lifecycles(registry, self.lifecycles) if self.lifecycles else without_lifecycles(registry)
        )
        return LifecycleRunner(self.lifecycle_registry, project, clock, env=self.lifecycle_env)

    @property
    def calls(self) -> list[Any]:
        return [c for r in self.runners[:1] for c in r.calls]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with the committed stack files a run checks (not a git checkout)."""
    path = tmp_path / "project"
    shutil.copytree(Path(__file__).resolve().parent.parent / "stacks", path / "stacks", ignore=_PY)
    (path / "Pulumi.yaml").write_text("name: honeycomb\nruntime: python\nstackConfigDir: stacks\n")
    return path


_PY = shutil.ignore_patterns("*.py", "__pycache__")


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Harness:
    made = Harness()
    monkeypatch.setattr(rollout_cmds, "make_runner", made.make_runner)
    monkeypatch.setattr(rollout_cmds, "make_health", made.make_health)
    monkeypatch.setattr(rollout_cmds, "make_clock", made.make_clock)
    monkeypatch.setattr(rollout_cmds, "make_lifecycle", made.make_lifecycle)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}/state")
    return made


Invoke = Callable[..., Any]


@pytest.fixture
def invoke(project: Path) -> Invoke:
    def run(*args: str) -> Any:
        return cli.invoke(app, [*args, "--project-dir", str(project)])

    return run


def journals(project: Path) -> list[Path]:
    return sorted((project / ".honeycomb" / "rollouts").glob("*.json"))


# --- bad input: exit 2, nothing started -------------------------------------------------------------


def test_unknown_wave(invoke: Invoke, harness: Harness, project: Path) -> None:
    result = invoke("rollout", "--wave", "prod-moon")
    assert result.exit_code == 2
    assert "unknown wave 'prod-moon'" in result.output and "preprod, prod-canary, prod-main" in result.output
    assert harness.runners == [] and journals(project) == []


def test_unknown_cell(invoke: Invoke, harness: Harness, project: Path) -> None:
    result = invoke("bootstrap", "alpha", "omega")
    assert result.exit_code == 2
    assert "no cell named 'omega'" in result.output and "Traceback" not in result.output
    assert harness.runners == [] and journals(project) == []


def test_nothing_to_bootstrap(invoke: Invoke, harness: Harness) -> None:
    result = invoke("bootstrap")
    assert result.exit_code == 2 and "name the cells to bootstrap, or pass --all" in result.output
    assert invoke("bootstrap", "alpha", "--all").exit_code == 2
    assert harness.runners == []


def test_bad_concurrency(invoke: Invoke, harness: Harness) -> None:
    result = invoke("rollout", "--concurrency", "0")
    assert result.exit_code == 2 and "at least 1" in result.output
    assert harness.runners == []


def test_registry_error(invoke: Invoke, harness: Harness, registry_copy: Path, edit_yaml: Any, project: Path) -> None:
    edit_yaml(registry_copy / "cells" / "alpha.yaml", lambda d: d.update(wave="prod-moon"))
    result = invoke("rollout", "--registry", str(registry_copy))
    assert result.exit_code == 2
    assert "alpha.yaml" in result.output and "Traceback" not in result.output
    assert harness.runners == [] and journals(project) == []


def test_no_backend(invoke: Invoke, harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL")
    monkeypatch.delenv("PULUMI_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "no-pulumi-home"))
    result = invoke("rollout")
    assert result.exit_code == 2
    assert "no Pulumi state backend is configured" in result.output and "PULUMI_BACKEND_URL" in result.output
    assert harness.runners == []


def test_journal_from_another_rollout(invoke: Invoke, harness: Harness, project: Path) -> None:
    harness.behaviours = {"cell-staging": Behaviour("fail", 10)}
    first = invoke("rollout", "--wave", "preprod", "--json")
    assert first.exit_code == 1
    [journal] = journals(project)
    calls = len(harness.calls)
    other = invoke("rollout", "--resume", journal.stem)
    assert other.exit_code == 2
    assert f"journal {journal.stem} is from another rollout" in other.output and "waves" in other.output
    bootstrap = invoke("bootstrap", "staging", "--resume", journal.stem)
    assert bootstrap.exit_code == 2 and "kind: journal has 'rollout'" in bootstrap.output
    missing = invoke("rollout", "--resume", "20260101T000000Z-abcdef")
    assert missing.exit_code == 2 and "no rollout journal" in missing.output
    assert len(harness.runners) == 1 and len(harness.calls) == calls


# --- dry run --------------------------------------------------------------------------------------


def test_dry_run_prints_the_schedule_and_touches_nothing(
    invoke: Invoke, harness: Harness, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL")
    result = invoke("rollout", "--dry-run", "--json", "--concurrency", "2")
    assert result.exit_code == 0, result.output
    schedule = json.loads(result.output)
    assert [w["name"] for w in schedule["waves"]] == ["preprod", "prod-canary", "prod-main", "routing"]
    assert [s["stack"] for s in schedule["waves"][0]["stacks"]] == ["cell-dev-jdoe", "cell-staging"]
    assert [w["bake_seconds"] for w in schedule["waves"]] == [1800, 3600, 1800, 0]
    assert schedule["waves"][-1]["stacks"][0]["only_if_changes"] is True
    # Unknown durations count 10 minutes each: 2 stacks at concurrency 2 take 10 minutes per wave.
    assert schedule["concurrency"] == 2 and schedule["expected_seconds"] == 4 * 600 + 1800 + 3600 + 1800
    text = invoke("rollout", "--dry-run")
    assert text.exit_code == 0 and "nothing was started" in text.output and "prod-canary" in text.output
    assert harness.runners == [] and journals(project) == []


def test_bootstrap_dry_run_puts_management_first(invoke: Invoke, harness: Harness) -> None:
    result = invoke("bootstrap", "--all", "--dry-run", "--json")
    schedule = json.loads(result.output)
    assert schedule["waves"][0]["stacks"] == [
        {"stack": "management", "cell": None, "cloud": None, "estimate_seconds": 600, "only_if_changes": True}
    ]
    assert all(w["bake_seconds"] == 0 for w in schedule["waves"])


# --- runs -----------------------------------------------------------------------------------------


def test_rollout_json_lines_and_report(invoke: Invoke, harness: Harness, project: Path) -> None:
    result = invoke("rollout", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert events[0]["event"] == "rollout_started" and events[-1]["event"] == "report"
    report = events[-1]["data"]
    assert report["status"] == "succeeded" and {c["state"] for c in report["cells"]} == {"succeeded"}
    waves = [e["wave"] for e in events if e["event"] == "wave_started"]
    assert waves == ["preprod", "prod-canary", "prod-main", "routing"]
    assert {e["stack"] for e in events if e["event"] == "health"} == {
        "cell-staging",
        "cell-dev-jdoe",
        "cell-alpha",
        "cell-beta",
        "cell-gamma",
    }
    [journal] = journals(project)
    assert json.loads(journal.read_text())["status"] == "succeeded"


def test_halted_rollout_exits_1_and_names_the_rollback(invoke: Invoke, harness: Harness, project: Path) -> None:
    harness.unhealthy = {"alpha"}
    harness.revisions["cell-alpha"] = "a" * 40
    result = invoke("rollout")
    assert result.exit_code == 1
    assert "halted" in result.output and "alpha: in ALARM" in result.output
    assert "git worktree add --detach .honeycomb/worktrees/aaaaaaaaaaaa" in result.output
    assert "pulumi up --yes --stack cell-alpha" in result.output
    assert "cell-beta" not in {c.stack for c in harness.calls}


def test_resume_continues_where_it_stopped(invoke: Invoke, harness: Harness, project: Path) -> None:
    harness.behaviours = {"cell-beta": Behaviour("fail", 10)}
    assert invoke("rollout", "--json").exit_code == 1
    [journal] = journals(project)
    states = {s: c["state"] for s, c in json.loads(journal.read_text())["cells"].items()}
    assert states["cell-beta"] == "failed" and states["cell-gamma"] == "succeeded"
    harness.behaviours.clear()
    harness.runners.clear()
    result = invoke("rollout", "--resume", journal.stem, "--json")
    assert result.exit_code == 0, result.output
    assert [c.stack for c in harness.calls] == ["cell-beta", "routing", "routing"]  # routing: a preview, then up
    assert journals(project) == [journal]


def test_bootstrap_runs_management_then_cells(invoke: Invoke, harness: Harness) -> None:
    harness.behaviours = {"management": Behaviour(duration=5, changes={"create": 3})}
    result = invoke("bootstrap", "beta", "cell-alpha", "--json")
    assert result.exit_code == 0, result.output
    assert [(c.op, c.stack) for c in harness.calls] == [
        ("preview", "management"),
        ("up", "management"),
        ("up", "cell-alpha"),
        ("up", "cell-beta"),
        ("preview", "routing"),  # last, and only when it has changes
        ("up", "routing"),
    ]


def test_bootstrap_dry_run_lists_the_cell_bootstrap_targets(invoke: Invoke, harness: Harness) -> None:
    schedule = json.loads(invoke("bootstrap", "alpha", "--dry-run", "--json").output)
    calls = {c["component"]: c for c in schedule["cell_bootstrap"]}
    assert calls["api"]["make_target"] == "cell-bootstrap" and calls["api"]["ref"] == "v1.42.0"
    assert calls["web"]["note"] == "no cell-bootstrap target declared (null)"
    text = invoke("bootstrap", "alpha", "--dry-run")
    words = " ".join(text.output.split())
    assert "after each cell's stack is up: cell-bootstrap" in words and "│ api │ https://github.com/acme/api" in words
    assert "cell_bootstrap" not in json.loads(invoke("rollout", "--dry-run", "--json").output)
    assert harness.runners == []


def test_bootstrap_calls_each_cells_bootstrap_targets(
    invoke: Invoke, harness: Harness, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    repo = component_repo(tmp_path / "api-repo", "cell-bootstrap:\n\t@echo $(HONEYCOMB_CELL) >> $(OUT)/cells\n")
    harness.lifecycles = {"api": {"repository": str(repo)}, "web": None}
    harness.lifecycle_env = {"OUT": str(out)}
    result = invoke("bootstrap", "beta", "alpha", "--json")
    assert result.exit_code == 0, result.output
    assert (out / "cells").read_text().split() == ["alpha", "beta"]
    [journal] = journals(project)
    cells = json.loads(journal.read_text())["cells"]
    assert set(cells["cell-alpha"]["lifecycle"]) == {"api"}
    assert (project / ".honeycomb" / "components" / "api" / "main" / "Makefile").is_file()


def test_a_failing_cell_bootstrap_fails_its_cell(invoke: Invoke, harness: Harness, tmp_path: Path) -> None:
    repo = component_repo(tmp_path / "api-repo", "cell-bootstrap:\n\t@echo schema migration 7 failed; exit 2\n")
    harness.lifecycles = {"api": {"repository": str(repo)}}
    result = invoke("bootstrap", "alpha", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output.splitlines()[-1])["data"]
    [alpha] = [c for c in report["cells"] if c["stack"] == "cell-alpha"]
    assert alpha["state"] == "failed" and "api: `make cell-bootstrap` failed (exit 2)" in alpha["error"]
    assert "schema migration 7 failed" in alpha["error"]


def test_a_component_repository_that_cannot_be_cloned_stops_the_bootstrap_before_it_starts(
    invoke: Invoke, harness: Harness, project: Path, tmp_path: Path
) -> None:
    harness.lifecycles = {"api": {"repository": f"file://{tmp_path}/gone.git"}}
    result = invoke("bootstrap", "alpha")
    assert result.exit_code == 2
    assert f"component api: cannot check out 'main' of its repository file://{tmp_path}/gone.git" in result.output
    assert "Nothing was started" in result.output and "Traceback" not in result.output
    assert harness.calls == [] and journals(project) == []


def test_live_view_run(invoke: Invoke, harness: Harness) -> None:
    result = invoke("rollout", "--wave", "prod-main")
    assert result.exit_code == 0, result.output
    assert "cell-beta" in result.output and "succeeded" in result.output and "journal:" in result.output


# --- git revisions and worktrees ------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_revisions_and_rollback_worktrees(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert current_revision(repo) == "unknown"
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "dev")
    (repo / "program.py").write_text("VERSION = 1\n")
    git(repo, "add", "program.py")
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    assert current_revision(repo) == first
    (repo / "program.py").write_text("VERSION = 2\n")
    assert current_revision(repo) == first + "+dirty"
    git(repo, "commit", "-q", "-am", "two")
    # An untracked file is deployed by the run's snapshot, so the revision is not clean (ignored ones are not).
    (repo / ".gitignore").write_text(".honeycomb/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    second = git(repo, "rev-parse", "HEAD")
    (repo / ".honeycomb").mkdir()
    (repo / ".honeycomb" / "journal.json").write_text("{}")
    assert current_revision(repo) == second
    (repo / "new_module.py").write_text("X = 1\n")
    assert current_revision(repo) == second + "+dirty"
    (repo / "new_module.py").unlink()

    with GitWorktrees(repo).checkout(first) as path:
        assert (path / "program.py").read_text() == "VERSION = 1\n"
        checkout = path
    assert not checkout.exists()
    assert "program.py" not in git(repo, "worktree", "list") and len(git(repo, "worktree", "list").splitlines()) == 1
    with pytest.raises(Exception, match="no clean commit"), GitWorktrees(repo).checkout(first + "+dirty"):
        pass


def test_no_pulumi_cli(invoke: Invoke, project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}/state")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = invoke("rollout")
    assert result.exit_code == 2
    assert "Pulumi CLI is not on PATH" in result.output and "Nothing was started" in result.output
    assert journals(project) == []


# --- bad state is bad input: exit 2, one paragraph, nothing started, no new journal -----------------


def _edit_journal(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _halted_journal(invoke: Invoke, harness: Harness, project: Path) -> Path:
    harness.behaviours = {"cell-beta": Behaviour("fail", 10)}
    assert invoke("rollout", "--json").exit_code == 1
    harness.behaviours.clear()
    harness.runners.clear()
    [journal] = journals(project)
    return journal


def _refused(result: Any, harness: Harness, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Nothing was started" in result.output
    for needle in needles:
        assert needle in result.output
    assert harness.calls == []


def test_a_journal_edited_by_hand_is_refused(invoke: Invoke, harness: Harness, project: Path) -> None:
    journal = _halted_journal(invoke, harness, project)
    _edit_journal(journal, lambda d: d["cells"]["cell-beta"].update(state="succeeded"))
    result = invoke("rollout", "--resume", "latest")
    _refused(result, harness, "was changed outside cellctl", "checksum")
    assert journals(project) == [journal]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d["cells"].pop("cell-beta"), "no entry for cell-beta"),
        (lambda d: d.update(waves=[]), "lists no waves"),
    ],
)
def test_a_journal_that_does_not_match_its_plan_is_refused(
    invoke: Invoke, harness: Harness, project: Path, change: Callable[[dict[str, Any]], None], needle: str
) -> None:
    from cellctl.rollout.journal import JournalDoc

    journal = _halted_journal(invoke, harness, project)

    def broken(doc: dict[str, Any]) -> None:
        change(doc)
        doc.pop("checksum")
        doc["checksum"] = JournalDoc.model_validate(doc).digest()  # consistent, only structurally wrong

    _edit_journal(journal, broken)
    result = invoke("rollout", "--resume", journal.stem)
    _refused(result, harness, "does not match its rollout", needle)
    assert journals(project) == [journal]


def test_a_read_only_state_directory_is_refused(
    invoke: Invoke, harness: Harness, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    state = project / ".honeycomb"
    (state / "rollouts").mkdir(parents=True)
    for path in (state / "rollouts", state):
        path.chmod(0o555)
    if os.access(state, os.W_OK):  # root ignores the mode bits: make the file system say it instead
        original = Path.write_text

        def read_only(self: Path, *args: Any, **kwargs: Any) -> int:
            if state in self.parents:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", read_only)
    try:
        result = invoke("rollout")
    finally:
        for path in (state, state / "rollouts"):
            path.chmod(0o755)
    _refused(result, harness, "cannot write to", ".honeycomb")
    assert journals(project) == []


def test_a_failed_plugin_install_is_retried_then_nothing_starts(
    invoke: Invoke, harness: Harness, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi.automation import CommandError, CommandResult

    from cellctl.rollout.retry import RetryPolicy

    monkeypatch.setattr(rollout_cmds, "PREPARE_RETRY", RetryPolicy(attempts=3, initial=0.01, maximum=0.01, jitter=0))
    harness.prepare_error = CommandError(
        CommandResult("", "error: [resource plugin aws-7.51.1] dial tcp: lookup api.github.com: no such host", 1)
    )
    result = invoke("rollout")
    _refused(result, harness, "could not install the provider plugins", "no such host")
    assert harness.prepared == 3  # a network error: retried
    assert journals(project) == []
    assert invoke("rollout", "--resume", "latest").exit_code == 2  # nothing to resume


def test_a_plugin_error_that_is_not_the_network_is_not_retried(
    invoke: Invoke, harness: Harness, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.prepare_error = ValueError("plugin aws 7.51.1 has no release for this platform")
    result = invoke("rollout")
    _refused(result, harness, "no release for this platform")
    assert harness.prepared == 1 and journals(project) == []


def test_stale_stack_files_are_refused_with_the_command_to_run(invoke: Invoke, harness: Harness, project: Path) -> None:
    (project / "stacks" / "Pulumi.cell-beta.yaml").unlink()
    result = invoke("rollout")
    _refused(result, harness, "cellctl stacks sync", "Pulumi.cell-beta.yaml")
    assert journals(project) == []


def test_uncommitted_stack_files_are_refused(invoke: Invoke, harness: Harness, project: Path) -> None:
    git(project, "init", "-q")
    git(project, "add", ".")
    git(project, "-c", "user.email=dev@example.com", "-c", "user.name=dev", "commit", "-qm", "init")
    with (project / "stacks" / "Pulumi.cell-beta.yaml").open("a") as handle:
        handle.write("  gcp:project: somewhere-else\n")
    result = invoke("rollout")
    _refused(result, harness, "not committed", "stacks/Pulumi.cell-beta.yaml")


# --- one rollout at a time --------------------------------------------------------------------------


def test_a_second_rollout_is_refused_naming_the_holder(invoke: Invoke, harness: Harness, project: Path) -> None:
    import os
    import socket

    from cellctl.rollout.runlock import RunLock
    from cellctl.rollout.runner import detect_backend

    lock = RunLock(project, str(detect_backend()))
    lock.acquire()
    lock.note_journal("20260101T000000Z-abcdef")
    try:
        result = invoke("rollout")
    finally:
        lock.release()
    _refused(result, harness, f"pid {os.getpid()} on {socket.gethostname()}", "journal 20260101T000000Z-abcdef")
    assert journals(project) == []
    assert invoke("rollout", "--wave", "preprod", "--json").exit_code == 0  # released: the next run goes ahead


def test_a_lock_left_by_a_dead_run_needs_break_lock(invoke: Invoke, harness: Harness, project: Path) -> None:
    import socket
    import sys

    from cellctl.rollout.runlock import RunLock
    from cellctl.rollout.runner import detect_backend

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = RunLock(project, str(detect_backend()))
    lock.path.parent.mkdir(parents=True)
    record = {
        "host": socket.gethostname(),
        "pid": int(dead.stdout),
        "started_at": "2026-01-01T00:00:00Z",
        "backend": lock.backend,
        "command": "cellctl rollout",
        "journal": "20260101T000000Z-dead00",
    }
    lock.record.write_text(json.dumps(record))
    result = invoke("rollout", "--wave", "preprod")
    _refused(result, harness, "is no longer running", "--break-lock", "20260101T000000Z-dead00")
    broken = invoke("rollout", "--wave", "preprod", "--break-lock", "--json")
    assert broken.exit_code == 0, broken.output
    assert not lock.record.exists()


# --- drills, output ---------------------------------------------------------------------------------


def test_bake_minutes_shortens_non_prod_waves_only_unless_told(invoke: Invoke, harness: Harness) -> None:
    def bakes(*args: str) -> list[float]:
        result = invoke("rollout", "--dry-run", "--json", *args)
        assert result.exit_code == 0, result.output
        return [w["bake_seconds"] for w in json.loads(result.output)["waves"]]

    assert bakes() == [1800, 3600, 1800, 0]  # the routing stack last, without a bake
    assert bakes("--bake-minutes", "1") == [60, 3600, 1800, 0]  # prod-canary and prod-main hold prod cells
    assert bakes("--bake-minutes", "1", "--shorten-prod-bakes") == [60, 60, 60, 0]
    assert bakes("--bake-minutes", "90") == [1800, 3600, 1800, 0]  # never longer than declared
    assert invoke("rollout", "--shorten-prod-bakes", "--dry-run").exit_code == 2
    assert invoke("rollout", "--bake-minutes", "-1", "--dry-run").exit_code == 2


def test_json_lines_carry_one_event_name_key(invoke: Invoke, harness: Harness) -> None:
    result = invoke("rollout", "--wave", "preprod", "--json")
    assert result.exit_code == 0, result.output
    for line in result.output.splitlines():
        event = json.loads(line)
        assert "event" in event and "kind" not in event


def test_output_to_a_pipe_has_no_live_table(invoke: Invoke, harness: Harness) -> None:
    result = invoke("rollout", "--wave", "preprod")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "cell-staging running" in lines and "cell-staging succeeded: 1 update" in lines
    assert not any("━" in line or "waiting" in line for line in lines[: lines.index("cell-staging running")])
    assert "\x1b[" not in result.output


def test_missing_health_gate_credentials_stop_the_rollout_up_front(
    invoke: Invoke, harness: Harness, project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rollout_cmds, "make_health", REAL_MAKE_HEALTH)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = invoke("rollout", "--wave", "preprod")  # AWS cells only: GCP credentials are not asked for
    _refused(result, harness, "no AWS credentials for the bake gate")
    assert "GCP" not in result.output and journals(project) == []
    assert invoke("bootstrap", "staging", "--json").exit_code == 0  # a bootstrap has no bake gate


def test_a_run_deploys_a_snapshot_of_the_checkout_as_it_is(tmp_path: Path) -> None:
    from cellctl.rollout.gitrev import snapshot

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "kept.py").write_text("A = 1\n")
    (repo / "changed.py").write_text("B = 1\n")
    (repo / "deleted.py").write_text("C = 1\n")
    (repo / "old_name.py").write_text("E = 1\n")
    (repo / ".gitignore").write_text(".venv/\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.email=dev@example.com", "-c", "user.name=dev", "commit", "-qm", "one")
    (repo / "changed.py").write_text("B = 2\n")
    (repo / "deleted.py").unlink()
    (repo / "new.py").write_text("D = 1\n")
    git(repo, "mv", "old_name.py", "new_name.py")
    (repo / ".venv").mkdir()
    (repo / ".venv" / "big").write_text("not copied")
    with snapshot(repo) as path:
        assert path != repo and (path / "kept.py").read_text() == "A = 1\n"
        assert (path / "changed.py").read_text() == "B = 2\n" and (path / "new.py").read_text() == "D = 1\n"
        assert (path / "new_name.py").read_text() == "E = 1\n"
        assert not (path / "old_name.py").exists(), "a renamed file must not stay under its old name"
        assert not (path / "deleted.py").exists() and not (path / ".venv").exists()
        (path / "kept.py").write_text("written by a run\n")
        where = path
    assert not where.exists() and (repo / "kept.py").read_text() == "A = 1\n"
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_project_in_a_subdirectory_of_its_repository_runs_from_that_subdirectory(tmp_path: Path) -> None:
    from cellctl.rollout.gitrev import snapshot

    repo = tmp_path / "repo"
    project = repo / "infra"
    project.mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "app.py").write_text("APP = 1\n")
    (project / "Pulumi.yaml").write_text("name: honeycomb\n")
    (project / "program.py").write_text("A = 1\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.email=dev@example.com", "-c", "user.name=dev", "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD")
    (project / "program.py").write_text("A = 2\n")
    (project / "new.py").write_text("N = 1\n")
    (repo / "app.py").write_text("APP = 2\n")  # outside the project: not copied into it
    with snapshot(project) as path:
        assert (path / "Pulumi.yaml").is_file() and (path / "program.py").read_text() == "A = 2\n"
        assert (path / "new.py").read_text() == "N = 1\n" and not (path / "infra").exists()
        assert (path.parent / "app.py").read_text() == "APP = 1\n"
    with GitWorktrees(project).checkout(first) as path:
        assert (path / "program.py").read_text() == "A = 1\n" and path.name == "infra"
