"""Placement: residency and environment first, then the most headroom left on both limits, never over one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cellctl.tenants.model import Cell, Tenant
from cellctl.tenants.placement import Placer, headroom_after, place
from cells.tenants import effective_limit


def cell(name: str, *, tenants: int = 100, requests: int = 1000, **kw: object) -> Cell:
    fields: dict[str, object] = {"environment": "prod", "cloud": "aws", "region": "us-east-1", **kw}
    return Cell(name, max_tenants=tenants, max_daily_requests=requests, **fields)  # type: ignore[arg-type]


def test_effective_limit_is_integer_arithmetic() -> None:
    assert effective_limit(20, 15) == 17
    assert effective_limit(100, 29) == 71  # 100 * 0.71 is 70.99999999999999 in floating point
    assert cell("a", tenants=400, requests=80_000_000).request_limit == 68_000_000


def test_the_cell_with_most_headroom_on_both_limits_wins() -> None:
    # b has far more free requests, but it is nearly full on tenants: a keeps more headroom overall.
    cells = [cell("a", tenants=100, requests=1000), cell("b", tenants=100, requests=1000)]
    result = place(Tenant("new", 10), cells, {"a": (40, 500), "b": (83, 0)})
    assert result.cell == "a"
    assert result.tenants_free == 85 - 40 - 1  # 85 after headroom
    assert result.requests_free == 850 - 500 - 10
    assert "a (prod, aws us-east-1)" in result.explanation and "15% headroom" in result.explanation


def test_never_over_a_limit_after_headroom() -> None:
    cells = [cell("a", tenants=10, requests=1000)]
    assert place(Tenant("n", 351), cells, {"a": (0, 500)}).cell is None  # 851 > 850
    assert place(Tenant("n", 350), cells, {"a": (0, 500)}).cell == "a"
    assert place(Tenant("n", 1), cells, {"a": (8, 0)}).cell is None  # 9 tenants > 8 (85% of 10)


def test_residency_and_environment_filter_first() -> None:
    cells = [
        cell("us", region="us-east-1"),
        cell("eu", region="eu-west-1", cloud="gcp"),
        cell("stage", environment="preprod", region="eu-west-1"),
    ]
    load = {"eu": (50, 800)}  # nearly full, but the only cell that allows the tenant
    gdpr = Tenant("gdpr", 10, regions=frozenset({"eu-west-1"}), environments=frozenset({"prod"}))
    assert place(gdpr, cells, load).cell == "eu"
    sandbox = Tenant("sbx", 10, environments=frozenset({"preprod", "dev"}))
    assert place(sandbox, cells, load).cell == "stage"
    aws_only = Tenant("aws", 10, clouds=frozenset({"aws"}), regions=frozenset({"eu-west-1"}))
    assert place(aws_only, cells).cell == "stage"


def test_no_cell_allows_says_so() -> None:
    result = place(Tenant("x", 1, regions=frozenset({"ap-south-1"})), [cell("a")])
    assert result.cell is None and result.allowed == 0
    assert "no cell allows it" in result.explanation and "regions ap-south-1" in result.explanation


def test_no_cell_fits_names_the_roomiest() -> None:
    cells = [cell("a", requests=1000), cell("b", requests=1000)]
    result = place(Tenant("x", 600), cells, {"a": (1, 500), "b": (1, 300)})
    assert result.cell is None and result.allowed == 2
    assert "no cell fits" in result.explanation and "b, 550 daily requests" in result.explanation


def test_placer_sees_earlier_placements() -> None:
    placer = Placer([cell("a", requests=1000), cell("b", requests=1000)])
    chosen = []
    for i in range(5):
        tenant = Tenant(f"t{i}", 400)
        result = placer.place(tenant)
        if result.cell:
            placer.add(tenant, result.cell)
        chosen.append(result.cell)
    # Alternating (each placement lowers its cell's headroom), until 800 of 850 leaves no room for 400 more.
    assert chosen == ["a", "b", "a", "b", None]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 20), st.integers(1, 500), st.integers(0, 25), st.integers(0, 600)),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 300),
    st.frozensets(st.sampled_from(("us-east-1", "eu-west-1")), min_size=1),
)
def test_placement_is_the_best_allowed_fit(
    specs: list[tuple[int, int, int, int]], requests: int, regions: frozenset[str]
) -> None:
    cells = [
        cell(f"c{i}", tenants=t, requests=r, region=("us-east-1", "eu-west-1")[i % 2], headroom_percent=15)
        for i, (t, r, _, _) in enumerate(specs)
    ]
    load = {f"c{i}": (n, used) for i, (_, _, n, used) in enumerate(specs)}
    tenant = Tenant("new", requests, regions=regions)
    result = place(tenant, cells, load)
    scores = {c.name: headroom_after(c, *load[c.name], requests) for c in cells if c.region in regions}
    fitting = {name: s for name, s in scores.items() if s is not None}
    if not fitting:
        assert result.cell is None
        return
    assert result.cell in fitting
    assert fitting[result.cell] == max(fitting.values())
    chosen = next(c for c in cells if c.name == result.cell)
    assert load[chosen.name][0] + 1 <= chosen.tenant_limit
    assert load[chosen.name][1] + requests <= chosen.request_limit
