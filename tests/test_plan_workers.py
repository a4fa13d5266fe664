"""One process plans many stacks exactly as fresh processes plan each: nothing leaks between programs.

A worker imports the SDK once and then plans stack after stack, with Pulumi's runtime state
(settings, monitor, config, stack resource, event loop) reset between programs. These tests run
the worker's own functions in one interpreter (after a program that failed half-way, leaving
registrations and outputs pending) and compare each stack, byte for byte, with a fresh
interpreter planning that stack alone; and the whole sample's `--json` between the sequential
(`-j1`) and the parallel path.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cellctl.main import app

ROOT = Path(__file__).resolve().parent.parent
STACKS = ["cell-alpha", "cell-dev-jdoe", "cell-gamma"]

#: Plans the stacks named in argv in this one process through the pool worker's own entry points,
#: after a program that fails with registrations in flight, and prints each stack's plan as JSON.
WORKER = """
import json, sys
import pulumi
from cellctl import plan
from cellctl.mocks import CloudMocks
from cellctl.offline import run_program
from cells import load_registry

registry = load_registry()
plan._init_worker(registry.model_dump(mode="json"), None, {})
if sys.argv[1] == "after-a-failure":
    def broken():
        bucket = pulumi.ComponentResource("test:index:Half", "half")
        pulumi.export("pending", bucket.urn.apply(lambda urn: urn + "-never"))
        raise RuntimeError("the program fails half-way")
    try:
        run_program(broken, stack="cell-alpha", mocks=CloudMocks(registry))
    except RuntimeError:
        pass
for stack in sys.argv[2:]:
    print(json.dumps(plan._plan_in_worker(stack).to_json() | {"seconds": 0, "cloud_seconds": 0}, sort_keys=True))
"""


def plans(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, *args], capture_output=True, text=True, check=True, cwd=ROOT, timeout=300
    )
    return done.stdout.splitlines()


def test_one_worker_plans_each_stack_as_a_fresh_process_does() -> None:
    together = plans("after-a-failure", *STACKS)
    alone = [line for stack in STACKS for line in plans("fresh", stack)]
    assert len(together) == len(STACKS)
    for stack, shared, fresh in zip(STACKS, together, alone, strict=True):
        doc = json.loads(shared)
        assert doc["stack"] == stack
        assert "error" not in doc and doc["resources"]
        assert shared == fresh, f"{stack} planned after other stacks differs from {stack} planned alone"


def test_the_runtime_is_released_after_a_program(registry) -> None:
    """After a plan the SDK holds no stack, monitor or config of it (the next program starts from nothing)."""
    from pulumi.runtime import settings
    from pulumi.runtime.config import CONFIG

    from cellctl.offline import run_stack

    planned = run_stack("cell-dev-jdoe", registry, config={"aws:region": "us-west-2"})
    assert planned.resources
    assert settings.get_root_resource() is None
    assert settings.SETTINGS.monitor is None
    assert settings.SETTINGS.stack == "stack"
    assert CONFIG.get() == {}


def _without_timings(text: str) -> str:
    return re.sub(r'"(cloud_)?seconds": [0-9.e-]+', r'"\1seconds": 0', text)


def test_sequential_and_parallel_json_are_byte_identical() -> None:
    runner = CliRunner()
    sequential = runner.invoke(app, ["plan", "--all", "--json", "-j1"])
    parallel = runner.invoke(app, ["plan", "--all", "--json", "-j2"])
    assert sequential.exit_code == parallel.exit_code == 0
    assert len(json.loads(sequential.stdout)["stacks"]) == 7
    assert _without_timings(sequential.stdout) == _without_timings(parallel.stdout)
