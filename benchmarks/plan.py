"""How fast `cellctl plan` is: one stack cold, the sample organization, and 100 generated cells.

Each case runs `cellctl plan ... --json` in a fresh process (so imports count, as they do for a
user) and prints seconds and resources planned per second, and what the cloud rules
(`policies.cloud`) add: their share of each stack's time, which every stack reports as
`cloud_seconds` (each worker's first stack includes loading the service models and schemas).
Then the policy pack alone: every stack of the sample planned once in this process, the pack
evaluated on each (best of a few runs), and its cost per resource. Targets: one AWS cell stack
under 3 s cold; 100 cells under 60 s on 2 cores; the cloud rules add at most 20 % to `--all` of
100 cells; the pack under 1 ms per resource. Timings only: nothing here fails on a slow machine.
`python benchmarks/plan.py [CELLS]` (default 100).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import write_registry  # noqa: E402 - the generator beside this file

TARGETS = {"one stack, cold": 3.0, "generated": 60.0, "cloud rules": 20.0, "pack ms per resource": 1.0}


def cellctl() -> list[str]:
    script = Path(sys.executable).parent / "cellctl"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from cellctl.main import main; main()"]


def run(label: str, args: list[str], target: float | None = None) -> None:
    started = time.perf_counter()
    done = subprocess.run([*cellctl(), "plan", *args, "--json"], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        print(f"{label:<34} failed (exit {done.returncode}): {done.stderr.strip()[:300]}")
        return
    stacks = json.loads(done.stdout)["stacks"]
    resources = sum(len(s["resources"]) for s in stacks)
    findings = sum(len(s["findings"]) for s in stacks)
    goal = f"  (target < {target:.0f} s)" if target else ""
    print(
        f"{label:<34} {seconds:6.2f} s  {len(stacks):4d} stacks  {resources:6d} resources  "
        f"{resources / seconds:7.0f} resources/s  {findings} findings{goal}"
    )
    cloud = sum(s.get("cloud_seconds", 0.0) for s in stacks)
    total = sum(s["seconds"] for s in stacks)
    if total > cloud > 0:
        print(
            f"{'':<34} cloud rules {cloud:6.2f} s of {total:6.2f} s of stack time: they add "
            f"{100 * cloud / (total - cloud):4.1f} %  (target <= {TARGETS['cloud rules']:.0f} %)"
        )


def pack_cost(repeats: int = 5) -> None:
    """The policy pack's own cost: `policies.evaluate` on each planned sample stack, per resource."""
    sys.path.insert(0, str(ROOT))
    from cellctl.offline import run_stack
    from cellctl.plan import account_ids
    from cells import load_registry
    from policies.evaluate import evaluate

    registry = load_registry()
    ids = account_ids(registry)
    total_seconds, total_resources, findings = 0.0, 0, 0
    for stack in registry.stack_names:
        resources = run_stack(stack, registry).resources
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            found = evaluate(resources, registry=registry, account_ids=ids)
            best = min(best, time.perf_counter() - started)
        total_seconds += best
        total_resources += len(resources)
        findings += len(found)
        print(f"  pack on {stack:<26} {len(resources):5d} resources  {best * 1000 / len(resources):6.3f} ms/resource")
    per_resource = total_seconds * 1000 / total_resources
    target = TARGETS["pack ms per resource"]
    label = "policy pack, sample organization"
    print(
        f"{label:<34} {per_resource:6.3f} ms per resource  {total_resources:6d} resources  "
        f"{findings} findings  (target < {target:.0f} ms)"
    )


def main() -> None:
    cells = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(f"cellctl plan on {os.cpu_count()} cores")
    run("cell-alpha, cold", ["cell-alpha"], TARGETS["one stack, cold"])
    run("--all, sample organization", ["--all"])
    with tempfile.TemporaryDirectory() as tmp:
        registry = write_registry(cells, Path(tmp) / "registry")
        run(f"--all, {cells} generated cells", ["--all", "--registry", str(registry)], TARGETS["generated"])
    pack_cost()


if __name__ == "__main__":
    main()
