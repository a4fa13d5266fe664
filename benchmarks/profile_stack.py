"""Where one cold stack's time goes, phase by phase, in this one process.

`python benchmarks/profile_stack.py [STACK]` (default `cell-alpha`) times, in order: the CLI's
imports (`cellctl.main`), loading the registry, the program's first run (the SDK and provider
modules it imports, then its registrations under the mocks), the policy pack, the cloud rules
(first run: parliament's IAM definitions, botocore's models, the Kubernetes schemas), and the
`--json` output. Then the same stack again in the same process, which is what a worker pays per
further stack. As `cellctl plan` does, the cyclic garbage collector is paused while the stack plans;
`--collector` leaves it running, to show what it costs. Add `--cprofile FILE` to also write a
cProfile of the run. Timings only.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def phases(stack: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    mark = time.perf_counter()

    def lap(label: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        out.append((label, now - mark))
        mark = now

    import cellctl.main  # noqa: F401 - the CLI's own imports

    lap("import cellctl.main")
    from cellctl.common import load

    registry = load(None)
    lap("load the registry")
    from cellctl.offline import run_stack
    from cellctl.plan import account_ids
    from cellctl.stack_config import load_configs
    from policies import cloud
    from policies.evaluate import evaluate

    lap("import the engine (pulumi, mocks, pack)")
    config = load_configs([stack], [])[stack]
    for round_ in ("cold", "warm"):
        if round_ == "warm" and not gc.isenabled():
            from cellctl.offline import settle

            settle()  # what `cellctl plan` does between stacks
            lap("between stacks: settle (freeze the heap)")
        planned = run_stack(stack, registry, config=config.values, secret_keys=config.secret_keys)
        lap(f"{round_}: program (imports on first use, registrations, mocks): {len(planned.resources)} resources")
        findings = evaluate(
            planned.resources + planned.reads,
            registry=registry,
            account_ids=account_ids(registry),
            stack_config=planned.config,
        )
        lap(f"{round_}: policy pack ({len(findings)} findings)")
        cloud_findings = cloud.check(planned.resources)
        lap(f"{round_}: cloud rules ({len(cloud_findings)} findings)")
        text = json.dumps([r.to_json() for r in planned.resources], default=str, sort_keys=True, indent=2)
        lap(f"{round_}: JSON output ({len(text):,} characters)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", nargs="?", default="cell-alpha")
    parser.add_argument("--cprofile", type=Path, help="also write a cProfile of the whole run here")
    parser.add_argument("--collector", action="store_true", help="leave the cyclic garbage collector running")
    args = parser.parse_args()
    if not args.collector:
        gc.disable()
    profiler = cProfile.Profile() if args.cprofile else None
    if profiler:
        profiler.enable()
    laps = phases(args.stack)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.cprofile)
    collector = "running" if args.collector else "paused"
    print(f"{args.stack}, phases in one process (interpreter start, about 0.02 s, not included; collector {collector})")
    for label, seconds in laps:
        print(f"  {seconds:6.3f} s  {label}")
    print(f"  {sum(s for _, s in laps):6.3f} s  total")
    if profiler:
        buffer = io.StringIO()
        import pstats

        pstats.Stats(str(args.cprofile), stream=buffer).sort_stats("cumulative").print_stats(40)
        print(buffer.getvalue())


if __name__ == "__main__":
    main()
