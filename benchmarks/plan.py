"""How fast `cellctl plan` is: the CLI alone, one stack cold, the sample organization, generated organizations.

Each case runs `cellctl ...` in a fresh process (so imports count, as they do for a user) and
prints wall seconds, the CPU seconds of the process and its workers, the peak memory of the
largest process (`ru_maxrss` of the tree), and resources planned per second. The machine's cores
are shared, so the short cases run `--repeat` times (default 3) and print the fastest run, which
is the least disturbed by other work. Then what the cloud rules (`policies.cloud`) add (their
`cloud_seconds` against the rest of each stack's time), and the policy pack alone on every sample
stack (best of a few runs), in ms per resource.

Targets: `cellctl --help` and `cellctl validate` <= 0.3 s; one AWS cell stack cold, pack and cloud
rules included, <= 1.6 s; `plan --all` of 100 generated cells <= 15 s and of 1,000 cells <= 150 s
on 2 cores, memory growing linearly; the cloud rules add at most 20 %; the pack under 1 ms per
resource. Timings only: nothing here fails on a slow machine.

`python benchmarks/plan.py [CELLS ...] [--repeat N]` (default cells: 100 1000).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import write_registry  # noqa: E402 - the generator beside this file

TARGETS = {
    "--help": 0.3,
    "validate": 0.3,
    "one stack, cold": 1.6,
    100: 15.0,
    1000: 150.0,
    "cloud rules": 20.0,
    "pack ms per resource": 1.0,
}


def cellctl() -> list[str]:
    script = Path(sys.executable).parent / "cellctl"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from cellctl.main import main; main()"]


@dataclass
class Run:
    seconds: float
    cpu: float
    peak_mib: float
    stdout: str
    code: int


def run_once(args: list[str]) -> Run:
    """`cellctl args` in a fresh process: wall and CPU seconds and peak memory, its workers included."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen([*cellctl(), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
        assert process.stdout is not None
        stdout = process.stdout.read()
        process.stdout.close()
        # wait4's usage covers the process and the children it waited for (the workers); maxrss is the largest.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if process.returncode not in (0, 1):
            stderr.seek(0)
            sys.stderr.write(stderr.read().decode()[-2000:])
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, usage.ru_maxrss / 1024, stdout.decode(), process.returncode)


def best(args: list[str], repeat: int) -> Run:
    """The fastest of `repeat` runs."""
    return min((run_once(args) for _ in range(repeat)), key=lambda r: r.seconds)


def verdict(seconds: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"  (target <= {target:g} s: {'met' if seconds <= target else 'NOT met'})"


def cli(label: str, args: list[str], target: float, repeat: int) -> None:
    run = best(args, repeat)
    figures = f"{run.seconds:6.2f} s  cpu {run.cpu:6.2f} s  peak {run.peak_mib:5.0f} MiB"
    print(f"{label:<34} {figures}{verdict(run.seconds, target)}")


def plan(label: str, args: list[str], target: float | None, repeat: int = 1) -> Run | None:
    run = best(["plan", *args, "--json"], repeat)
    if run.code not in (0, 1):
        print(f"{label:<34} failed (exit {run.code})")
        return None
    stacks = json.loads(run.stdout)["stacks"]
    resources = sum(len(s["resources"]) for s in stacks)
    findings = sum(len(s["findings"]) for s in stacks)
    print(
        f"{label:<34} {run.seconds:6.2f} s  cpu {run.cpu:6.2f} s  peak {run.peak_mib:5.0f} MiB  "
        f"{len(stacks):4d} stacks "
        f"{resources:6d} resources  {resources / run.seconds:6.0f} resources/s  {findings} findings"
        f"{verdict(run.seconds, target)}"
    )
    cloud = sum(s.get("cloud_seconds", 0.0) for s in stacks)
    total = sum(s["seconds"] for s in stacks)
    if total > cloud > 0:
        print(
            f"{'':<34} cloud rules {cloud:6.2f} s of {total:6.2f} s of stack time: they add "
            f"{100 * cloud / (total - cloud):4.1f} %  (target <= {TARGETS['cloud rules']:.0f} %)"
        )
    return run


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
        fastest = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            found = evaluate(resources, registry=registry, account_ids=ids)
            fastest = min(fastest, time.perf_counter() - started)
        total_seconds += fastest
        total_resources += len(resources)
        findings += len(found)
        per = fastest * 1000 / len(resources)
        print(f"  pack on {stack:<26} {len(resources):5d} resources  {per:6.3f} ms/resource")
    per_resource = total_seconds * 1000 / total_resources
    target = TARGETS["pack ms per resource"]
    label = "policy pack, sample organization"
    print(
        f"{label:<34} {per_resource:6.3f} ms per resource  {total_resources:6d} resources  "
        f"{findings} findings  (target < {target:.0f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each short case; the fastest is printed")
    args = parser.parse_args()
    print(f"cellctl on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other work slows every figure)")
    cli("cellctl --help", ["--help"], TARGETS["--help"], args.repeat)
    cli("cellctl validate", ["validate"], TARGETS["validate"], args.repeat)
    plan("cell-alpha, cold", ["cell-alpha"], TARGETS["one stack, cold"], args.repeat)
    plan("--all, sample organization", ["--all"], None)
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cells in args.cells:
            registry = write_registry(cells, Path(tmp) / f"registry-{cells}")
            run = plan(f"--all, {cells} generated cells", ["--all", "--registry", str(registry)], TARGETS.get(cells))
            if run is not None:
                peaks[cells] = run.peak_mib
    if len(peaks) > 1:
        (small, low), (large, high) = min(peaks.items()), max(peaks.items())
        print(
            f"{'peak memory':<34} {low:.0f} MiB at {small} cells, {high:.0f} MiB at {large}: "
            f"{(high - low) / (large - small):.2f} MiB per further cell"
        )
    pack_cost()


if __name__ == "__main__":
    main()
