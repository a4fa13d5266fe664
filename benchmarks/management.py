"""How the management program scales: run it under the offline mocks for generated organizations
of 100, 500 and 1000 cells, printing resources, seconds and peak memory per size, and whether
time grows linearly in the number of cells.

Target: 1000 cells in under 60 s and under 2 GiB. Each size runs in a fresh interpreter so its
peak memory (max RSS) is its own. `python benchmarks/management.py [SIZES...]`.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (100, 500, 1000)
TARGET_SECONDS = 60.0
TARGET_BYTES = 2 * 1024**3
#: Time per cell may grow by at most this factor from the smallest to the largest size.
LINEAR_SLACK = 1.5


def measure(cells: int) -> dict[str, float]:
    """Generate, load and run the management program once, in this process."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate import write_registry

    from cellctl.offline import run_stack
    from cells import load_registry

    with tempfile.TemporaryDirectory() as tmp:
        registry = load_registry(write_registry(cells, Path(tmp) / "registry"))
    start = time.perf_counter()
    plan = run_stack("management", registry)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return {"cells": cells, "resources": len(plan.resources), "seconds": seconds, "peak_bytes": peak}


def run_isolated(cells: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(cells)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"the {cells}-cell run failed:\n{out.stderr.strip()}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(int(argv[1]))))
        return 0
    sizes = [int(a) for a in argv] or list(SIZES)
    print(f"{'cells':>6} {'resources':>10} {'seconds':>8} {'ms/cell':>8} {'peak MiB':>9}")
    results = []
    for n in sizes:
        r = run_isolated(n)
        results.append(r)
        print(
            f"{n:>6} {int(r['resources']):>10} {r['seconds']:>8.1f} {1000 * r['seconds'] / n:>8.1f} "
            f"{r['peak_bytes'] / 1024**2:>9.0f}",
            flush=True,
        )
    first, last = results[0], results[-1]
    growth = (last["seconds"] / last["cells"]) / (first["seconds"] / first["cells"])
    linear = growth <= LINEAR_SLACK
    print(
        f"time per cell grows x{growth:.2f} from {int(first['cells'])} to {int(last['cells'])} cells: "
        f"{'linear' if linear else 'worse than linear'}"
    )
    ok = True
    for r in results:
        if r["cells"] >= 1000:
            fast, small = r["seconds"] < TARGET_SECONDS, r["peak_bytes"] < TARGET_BYTES
            ok = ok and fast and small
            print(
                f"target at {int(r['cells'])} cells (< {TARGET_SECONDS:.0f} s, < 2 GiB): "
                f"{'met' if fast and small else 'MISSED'}"
            )
    return 0 if ok and linear else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
