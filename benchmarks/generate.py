"""Write a valid registry of N cells across both clouds, all environments and all waves.

Used by the plan and management benchmarks: `write_registry(100, Path("/tmp/org"))`, or from
the shell `python benchmarks/generate.py 100 /tmp/org`.
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
from pathlib import Path

import yaml

from cells.loader import DEFAULT_REGISTRY


def cell_data(i: int, org: dict, capacity: dict | None = None) -> dict:
    """The i-th generated cell: 2 of 3 on AWS, 1 of 10 dev, 2 of 10 preprod, the rest prod."""
    cloud = "gcp" if i % 3 == 2 else "aws"
    environment = "dev" if i % 10 == 0 else "preprod" if i % 10 in (1, 2) else "prod"
    waves = [w["name"] for w in org["waves"]]
    prod_waves = waves[1:] or waves
    wave = waves[0] if environment != "prod" else prod_waves[i % len(prod_waves)]
    regions = org[cloud]["allowed_regions"]
    name = f"c{i:04d}"
    if not 0 <= i < 4096:
        raise ValueError("at most 4096 generated cells fit in 10.0.0.0/8 as /20s")
    cidr = ipaddress.IPv4Network((int(ipaddress.IPv4Address("10.0.0.0")) + i * 4096, 20))
    data: dict = {
        "name": name,
        "cloud": cloud,
        "environment": environment,
        "region": regions[i % len(regions)],
        "wave": wave,
        "size": ("small", "medium", "large")[i % 3],
        "network": {"cidr": str(cidr)},
        "capacity": capacity or {"max_tenants": 100, "max_daily_requests": 10_000_000},
    }
    if cloud == "aws":
        data["account_email"] = f"aws+cell-{name}@{org['domain']}"
    else:
        data["project_id"] = f"{org['name']}-cell-{name}"
    if environment == "dev":
        data["owner"] = f"owner-{name}@{org['domain']}"
    return data


def write_registry(n: int, dest: Path, capacity: dict | None = None) -> Path:
    """Write the sample organization with `n` generated cells under `dest`; returns `dest`.

    `capacity` replaces every cell's limits (the tenants benchmark needs room for 100 tenants a cell).
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "cells").mkdir(parents=True)
    shutil.copy(DEFAULT_REGISTRY / "organization.yaml", dest / "organization.yaml")
    org = yaml.safe_load((dest / "organization.yaml").read_text())
    for i in range(n):
        data = cell_data(i, org, capacity)
        (dest / "cells" / f"{data['name']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cells", type=int)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    write_registry(args.cells, args.dest)
    print(f"wrote {args.cells} cells to {args.dest}")


if __name__ == "__main__":
    main()
