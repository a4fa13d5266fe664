"""Rollout makespan against the lower bound the wave rules allow, and CLI calls per stack update.

100 simulated cells over 4 waves, stack durations drawn from a fixed seed, concurrency 4, run
through the real orchestrator with the in-memory runner on a virtual clock (seconds of real
time). The bound: per wave, max(longest stack, total stack time / concurrency), plus the bake.
The orchestrator orders each wave longest-first by the durations it expects; here those come
from a "previous run" that differs from this one by up to ±15% per stack.
"""

from __future__ import annotations

import collections
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from cellctl.rollout.clock import VirtualClock
from cellctl.rollout.journal import Journal
from cellctl.rollout.memory import Behaviour, InMemoryRunner
from cellctl.rollout.orchestrator import Orchestrator
from cellctl.rollout.plan import RolloutPlan, Target, WavePlan, wave_bound
from cellctl.rollout.retry import RetryPolicy

SEED = 20261122
CONCURRENCY = 4
WAVES = [("preprod", 10, 30), ("prod-canary", 15, 60), ("prod-early", 35, 30), ("prod-main", 40, 30)]


def scenario(seed: int) -> tuple[RolloutPlan, dict[str, float], dict[str, float]]:
    waves, durations, history = simulated_waves(WAVES, seed)
    plan = RolloutPlan("rollout", "up", waves, CONCURRENCY, "b" * 40, "bench")
    return plan, durations, history


def simulated_waves(
    counts: list[tuple[str, int, int]], seed: int
) -> tuple[tuple[WavePlan, ...], dict[str, float], dict[str, float]]:
    """Waves of (name, stacks, bake minutes); each stack's duration, and a "previous run" within ±15%."""
    rng = random.Random(seed)
    waves, durations, history = [], {}, {}
    index = 0
    for name, count, bake_minutes in counts:
        targets = []
        for _ in range(count):
            stack = f"cell-c{index:04d}"
            index += 1
            # Most stacks take 4-12 minutes; a few (new node groups, big diffs) up to ~30.
            seconds = 60 * (rng.uniform(4, 12) if rng.random() < 0.85 else rng.uniform(15, 30))
            durations[stack] = seconds
            history[stack] = seconds * rng.uniform(0.85, 1.15)
            targets.append(Target(stack, name, stack.removeprefix("cell-"), "aws"))
        waves.append(WavePlan(name, bake_minutes * 60.0, tuple(targets), health_gate=False))
    return tuple(waves), durations, history


def lower_bound(plan: RolloutPlan, durations: dict[str, float], *, bake: bool = True) -> float:
    return sum(
        wave_bound([durations[t.stack] for t in w.targets], plan.concurrency) + (w.bake_seconds if bake else 0)
        for w in plan.waves
    )


def makespan(plan: RolloutPlan, durations: dict[str, float], estimates: dict[str, float]) -> tuple[float, float]:
    clock = VirtualClock()
    runner = InMemoryRunner(clock, {s: Behaviour(duration=d) for s, d in durations.items()})
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.create(Path(tmp), plan, "bench")
        outcome = Orchestrator(
            plan, runner, journal, clock=clock, estimates=estimates, retry=RetryPolicy(attempts=1)
        ).run()
    assert outcome.status == "succeeded", outcome.reason
    assert runner.max_running <= plan.concurrency
    deploy = sum(
        max(c.end for c in runner.calls if c.stack in {t.stack for t in w.targets})
        - min(c.start for c in runner.calls if c.stack in {t.stack for t in w.targets})
        for w in plan.waves
    )
    return clock.now(), deploy


def main() -> None:
    plan, durations, history = scenario(SEED)
    cells = sum(len(w.targets) for w in plan.waves)
    bound = lower_bound(plan, durations)
    deploy_bound = lower_bound(plan, durations, bake=False)
    print(f"{cells} cells in {len(plan.waves)} waves, concurrency {plan.concurrency}, seed {SEED}")
    bakes = sum(w.bake_seconds for w in plan.waves)
    print(f"lower bound: {bound / 60:.1f} min ({deploy_bound / 60:.1f} min of stacks, {bakes / 60:.0f} min of bakes)")
    for label, estimates in (
        ("longest-first, estimates from a previous run (±15%)", history),
        ("longest-first, exact durations", durations),
        ("registry order (no estimates)", {}),
    ):
        started = time.perf_counter()
        total, deploy = makespan(plan, durations, estimates)
        wall = time.perf_counter() - started
        print(
            f"{label:55s} makespan {total / 60:7.1f} min  ratio {total / bound:.4f}  "
            f"(stacks only: {deploy / deploy_bound:.4f})  [{wall:.2f}s real]"
        )
    total, _ = makespan(plan, durations, history)
    ratio = total / bound
    print(f"target: within 5% of the bound -> {'met' if ratio <= 1.05 else 'MISSED'} ({ratio:.4f})")
    remote()
    cli_calls()


# --- the remote runner --------------------------------------------------------------------------

REMOTE_CONCURRENCY = 25
#: 1,000 cells' share of each wave (the 4 waves of the local scenario, scaled).
REMOTE_SHARES = [("preprod", 0.05, 30), ("prod-canary", 0.05, 60), ("prod-early", 0.30, 30), ("prod-main", 0.60, 30)]


class _Response:
    def __init__(self, body: Any, status: int = 200) -> None:
        self.status = status
        self._raw = b"" if body is None else json.dumps(body).encode()
        self.headers = {"Content-Type": "application/json"}

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self) -> bytes:
        return self._raw


class SimulatedCloud:
    """Pulumi Deployments on the virtual clock, as the SDK's transport: a deployment runs its stack's
    duration from its creation, then succeeds. Same wire shapes as the test stand-in, no sockets."""

    def __init__(self, clock: VirtualClock, durations: dict[str, float]) -> None:
        self.clock = clock
        self.durations = durations
        self.deployments: dict[str, tuple[str, float]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.created = 0
        self.running_peak = 0
        self.lock = threading.Lock()

    def _status(self, dep: str) -> str:
        stack, start = self.deployments[dep]
        return "succeeded" if self.clock.now() >= start + self.durations[stack] else "running"

    def __call__(self, request: Any, timeout: Any) -> _Response:
        path = request.full_url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
        parts = path.split("/")  # api stacks org project stack [deployments [id [logs|updates]]]
        stack = parts[4]
        method = request.get_method()
        with self.lock:
            if method == "POST" and parts[5:] == ["deployments"]:
                self.created += 1
                dep = f"dep-{self.created}"
                self.deployments[dep] = (stack, self.clock.now())
                running = sum(1 for d in self.deployments if self._status(d) == "running")
                self.running_peak = max(self.running_peak, running)
                return _Response({"id": dep, "consoleUrl": "", "version": 1}, 201)
            if method == "GET" and len(parts) == 7:
                status = self._status(parts[6])
                user = {"name": "ci", "githubLogin": "ci", "avatarUrl": ""}
                body = {"id": parts[6], "created": "", "modified": "", "status": status, "version": 1}
                return _Response({**body, "requestedBy": user, "latestVersion": 1})
            if method == "GET" and parts[7:] == ["logs"]:
                return _Response(
                    {"__type": "DeploymentLogs", "lines": [{"line": "Updating"}]}
                    if "Token" not in request.full_url
                    else {"__type": "DeploymentLogs", "lines": []}
                )
            if method == "GET" and parts[7:] == ["updates"]:
                info = {"kind": "update", "startTime": 1, "message": "", "environment": {}, "config": {}}
                info |= {"result": "succeeded", "endTime": 2, "version": 1, "resourceChanges": {"update": 3}}
                user = {"name": "ci", "githubLogin": "ci", "avatarUrl": ""}
                return _Response(
                    [{"info": info, "updateID": "u", "version": 1, "latestVersion": 1, "requestedBy": user}]
                )
            if method == "GET" and len(parts) == 5:
                tags = self.tags.get(stack, {})
                return _Response(
                    {
                        "id": stack,
                        "orgName": "o",
                        "projectName": "p",
                        "stackName": stack,
                        "activeUpdate": "",
                        "version": 1,
                        "tags": tags,
                    }
                )
            if method == "PATCH":
                self.tags[stack] = json.loads(request.data)
                return _Response(None, 204)
        raise AssertionError(f"unexpected request {method} {path}")


def remote_scenario(cells: int, seed: int) -> tuple[RolloutPlan, dict[str, float], dict[str, float]]:
    counts = [(name, max(1, round(cells * share)), bake) for name, share, bake in REMOTE_SHARES]
    waves, durations, history = simulated_waves(counts, seed)
    return RolloutPlan("rollout", "up", waves, REMOTE_CONCURRENCY, "c" * 40, "bench"), durations, history


def remote_run(cells: int) -> dict[str, float]:
    """One rollout of `cells` on the deployments runner: makespan, bound, the orchestrator's CPU and memory."""
    from cellctl.rollout.deployments import DeploymentsRunner, JournalBook

    plan, durations, history = remote_scenario(cells, SEED)
    clock = VirtualClock()
    cloud = SimulatedCloud(clock, durations)
    runner = DeploymentsRunner(
        organization="acme",
        project="honeycomb",
        home=Path(tempfile.mkdtemp()),
        clock=clock,
        token="t",
        host="http://simulated",
        poll_seconds=10.0,
        transport=cloud,
    )
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.create(Path(tmp), plan, "bench")
        runner.bind(JournalBook(journal))
        orchestrator = Orchestrator(
            plan, runner, journal, clock=clock, estimates=history, retry=RetryPolicy(attempts=1)
        )
        tracemalloc.start()
        cpu = time.process_time()
        wall = time.perf_counter()
        outcome = orchestrator.run()
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        shutil.rmtree(runner.home, ignore_errors=True)
    assert outcome.status == "succeeded", outcome.reason
    assert cloud.created == len(plan.targets)
    assert cloud.running_peak <= REMOTE_CONCURRENCY
    return {
        "cells": len(plan.targets),
        "makespan": clock.now(),
        "bound": lower_bound(plan, durations),
        "cpu": cpu,
        "wall": wall,
        "peak_mib": peak / 2**20,
        "peak_running": cloud.running_peak,
    }


def remote(sizes: tuple[int, ...] = (125, 250, 500, 1000)) -> None:
    print(f"deployments runner (simulated Pulumi Deployments, virtual clock, concurrency {REMOTE_CONCURRENCY}):")
    for size in sizes:
        r = remote_run(size)
        cells = int(r["cells"])
        ratio = r["makespan"] / r["bound"]
        print(
            f"  {cells:5d} cells: makespan {r['makespan'] / 3600:6.2f} h, bound {r['bound'] / 3600:6.2f} h, "
            f"ratio {ratio:.4f} ({'within' if ratio <= 1.05 else 'OVER'} 1.05)  |  orchestrator CPU "
            f"{r['cpu']:6.2f} s ({1000 * r['cpu'] / cells:5.2f} ms/cell), peak Python memory "
            f"{r['peak_mib']:6.1f} MiB ({1024 * r['peak_mib'] / cells:5.1f} KiB/cell), "
            f"{r['peak_running']} deployments at once  [{r['wall']:.1f}s real]"
        )


ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT.parent / "shared" / "fake-pulumi" / "pulumi"


def _copy_checkout(dest: Path) -> None:
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.email=b@x", "-c", "user.name=b", "commit", "-qm", "b"]):
        subprocess.run(["git", *args], cwd=dest, check=True, capture_output=True)


def cli_calls() -> None:
    """CLI calls per stack update of a real-SDK bootstrap and rollout against the stand-in CLI."""
    if not FAKE.is_file():
        print(f"CLI calls per stack update: skipped (no stand-in CLI at {FAKE})")
        return
    from typer.testing import CliRunner

    from cellctl import rollout_cmds
    from cellctl.main import app
    from cellctl.rollout.health import Health

    class Healthy:
        def check(self, cell: Any) -> Health:
            return Health(cell.name, True, "OK")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = root / "repo"
        _copy_checkout(repo)
        os.environ.update(
            PATH=f"{FAKE.parent}{os.pathsep}{os.environ['PATH']}",
            PULUMI_BACKEND_URL=f"file://{root / 'backend'}",
            PULUMI_CONFIG_PASSPHRASE="bench",
            PULUMI_HOME=str(root / "home"),
            FAKE_PULUMI_STATE=str(root / "fake"),
            FAKE_PULUMI_SLEEP="0",
        )
        rollout_cmds.make_health = lambda registry, runner, clouds: Healthy()  # type: ignore[assignment]
        where = ["--project-dir", str(repo), "--registry", str(repo / "cells" / "registry"), "--json"]
        log = root / "fake" / "calls.jsonl"
        for label, args in (
            ("bootstrap --all (new stacks)", ["bootstrap", "--all"]),
            ("rollout (existing stacks)", ["rollout", "--bake-minutes", "0", "--shorten-prod-bakes"]),
        ):
            before = len(log.read_text().splitlines()) if log.is_file() else 0
            started = time.perf_counter()
            result = CliRunner().invoke(app, [*args, *where])
            wall = time.perf_counter() - started
            assert result.exit_code == 0, result.output
            calls = [json.loads(line) for line in log.read_text().splitlines()[before:]]
            argvs = [[a for a in c["argv"] if a != "--non-interactive"] for c in calls if c["event"] == "start"]
            updates = sum(1 for a in argvs if a[:1] == ["up"])
            kinds = collections.Counter(" ".join(a[:2]) if a[0] in {"stack", "plugin"} else a[0] for a in argvs)
            print(
                f"CLI calls, {label:30s} {len(argvs):3d} for {updates} stack updates = "
                f"{len(argvs) / updates:.2f} per update (target <= 4)  [{wall:.1f}s]  "
                + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            )


if __name__ == "__main__":
    main()
