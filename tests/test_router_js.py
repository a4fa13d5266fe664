"""The router's CloudFront Function (`components/aws/router/router.js`), run in Node.

The store fixture is the sample registry's routes through `cells.routes` (one tenant mid-move),
so the function is tested against exactly what the routing stack and the move workflow write.
The JavaScript tests live in `tests/router/router.test.mjs`; this module runs them with
`node --test` so that `make test` does, and checks the function's and the store's quotas.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from cells import routes
from cells.models import Registry
from components.aws import tenant_router

HARNESS = Path(__file__).parent / "router" / "router.test.mjs"
NODE = shutil.which("node")
SOURCE = Path(tenant_router.__file__).parent / "router" / "router.js"


def fixture_for(registry: Registry) -> dict[str, object]:
    """The store the routing stack writes for the sample, its first tenant mid-move to another cell."""
    found = routes.routes(registry)
    first = found[0]
    other = next(c.name for c in registry.cells if c.name != first.cell)
    found[0] = replace(first, moving_to=other)
    return {
        "source": str(SOURCE),
        "host": routes.router_host(registry),
        "store": tenant_router.store_entries(found),
        "routes": [{"tenant": r.tenant, "cell": r.cell, "origin": r.origin, "moving_to": r.moving_to} for r in found],
        "malformed": [
            "not json",
            "null",
            "[]",
            '{"cell":"alpha"}',
            '{"cell":"alpha","origin":7}',
            '{"cell":"alpha","origin":"web alpha"}',
            '{"cell":"alpha","origin":"web.alpha.cells.acme-corp.net","moving_to":3}',
        ],
    }


def test_router_function_in_node(registry: Registry, tmp_path: Path) -> None:
    if NODE is None:
        # A laptop without Node skips; CI (which sets CI) must not silently stop testing the function.
        if os.environ.get("CI"):
            pytest.fail("node is not installed: CI must run the router's JavaScript tests (Node 18+)")
        pytest.skip("node is not installed: the router's JavaScript tests need Node 18+")
    fixture = tmp_path / "store.json"
    fixture.write_text(json.dumps(fixture_for(registry)))
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--test", "--test-reporter=tap", str(HARNESS)],
        env={"ROUTER_FIXTURE": str(fixture), "PATH": str(Path(NODE).parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Every test of the harness ran and passed (a harness that loads nothing must not pass).
    count = len(re.findall(r"^test\(", HARNESS.read_text(), flags=re.MULTILINE))
    assert count >= 10 and f"# pass {count}\n" in done.stdout and "# fail 0\n" in done.stdout, done.stdout


def test_the_sample_fixture_has_a_move_and_every_tenant(registry: Registry) -> None:
    fixture = fixture_for(registry)
    store = fixture["store"]
    assert isinstance(store, dict) and sorted(store) == sorted(t.id for t in registry.tenants)
    moving = [r for r in fixture["routes"] if isinstance(r, dict) and r["moving_to"]]  # type: ignore[attr-defined]
    assert len(moving) == 1 and '"moving_to"' in store[moving[0]["tenant"]]


def test_the_function_fits_cloudfront_functions() -> None:
    code = tenant_router.function_code()
    assert code == SOURCE.read_text()
    assert len(code.encode()) <= tenant_router.FUNCTION_MAX_BYTES
    assert tenant_router.checked_code(code) == code


def test_a_function_over_10_kb_or_without_the_module_is_refused() -> None:
    code = tenant_router.function_code()
    with pytest.raises(ValueError, match=r"router function is \d+ bytes, over CloudFront Functions' 10240"):
        tenant_router.checked_code(code + "//" + "x" * tenant_router.FUNCTION_MAX_BYTES)
    with pytest.raises(ValueError, match="must start with `import cf from 'cloudfront';`"):
        tenant_router.checked_code("function handler(event) { return event.request; }")


@pytest.mark.parametrize(
    ("snippet", "why"),
    [
        ("const c = route?.cell;", "optional chaining"),
        ("const c = route.cell ?? 'none';", "nullish coalescing"),
        ("const f = async (x) => x;", "async closures are not supported"),
        ("await fetch('https://example.com');", "no network access"),
        ("setTimeout(handler, 1);", "no timers"),
        ("eval('1');", "dynamic code evaluation"),
        ("import fs from 'fs';", "the runtime's modules are cloudfront, crypto, querystring, buffer"),
        ("const fs = require('fs');", "the runtime's modules are cloudfront, crypto, querystring, buffer"),
        ("const f = async function (x) { return x; };", "only top-level `async function` declarations"),
        ("function outer() { async function inner() {} }", "only top-level `async function` declarations"),
        ("const m = `${route?.cell}`;", "optional chaining"),
    ],
)
def test_what_the_2_0_runtime_lacks_is_refused_with_its_line(snippet: str, why: str) -> None:
    code = tenant_router.function_code() + snippet + "\n"
    line = code.count("\n")
    with pytest.raises(ValueError, match=rf"router function, line {line}: .*{re.escape(why)}"):
        tenant_router.checked_code(code)


def test_the_sample_store_fits_and_its_size_is_keys_plus_values(registry: Registry) -> None:
    entries = tenant_router.store_entries(routes.routes(registry))
    expected = sum(len(k) + len(v) for k, v in entries.items())
    assert tenant_router.store_bytes(entries) == expected <= tenant_router.STORE_MAX_BYTES


def test_a_store_over_5_mb_or_a_duplicate_tenant_is_refused(registry: Registry) -> None:
    route = routes.routes(registry)[0]
    padded = replace(route, origin="o" * 60 + "." + "x" * 900)
    # About 1 KB an entry: 5,400 tenants pass the store's 5 MB.
    many = [replace(padded, tenant=f"t{i:05d}") for i in range(5400)]
    with pytest.raises(ValueError, match=r"5400 routes take \d+ bytes, over the store's 5 MB"):
        tenant_router.store_entries(many)
    with pytest.raises(ValueError, match=f"tenant {route.tenant!r} has two routes"):
        tenant_router.store_entries([route, route])


@pytest.mark.parametrize(
    "snippet",
    [
        "const R = /^v?.x$/;",
        "// a ?? b, route?.cell, setTimeout, async (x) => x",
        "/* fetch('x') */",
        "const s = 'a ?? b ?. c';",
        "const t = `eval(1) ${'?.'}`;",
        "const crypto = require('crypto');",
        "const half = 3 / 2; const q = half ? .5 : 1;",
        "async function other(event) { return event; }",
    ],
)
def test_what_only_looks_unsupported_is_accepted(snippet: str) -> None:
    code = tenant_router.function_code() + snippet + "\n"
    assert tenant_router.checked_code(code) == code
