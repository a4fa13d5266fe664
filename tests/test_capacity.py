"""The capacity report: figures per cell, cells needed per environment and region, growth, the command."""

from __future__ import annotations

import json
import math
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cellctl.main import app
from cells.capacity import build, cells_needed, months_until, parse_growth, report, short, to_document
from cells.tenants import CellCapacity

runner = CliRunner()
TODAY = date(2026, 12, 1)


def cap(name: str, tenants: int, requests: int, *, env: str = "prod", region: str = "us-east-1") -> CellCapacity:
    return CellCapacity(name, env, region, "aws", 100, 1_000_000, 85, 850_000, tenants, requests)


class TestSizing:
    @pytest.mark.parametrize(
        ("load", "limit", "headroom", "needed"),
        [
            (0, 100, 15, 0),
            (1, 100, 15, 1),
            (80, 100, 15, 1),  # 80 * 1.15 = 92: one cell
            (87, 100, 15, 2),  # 100.05: two
            (100, 115, 15, 1),  # exactly one cell's worth after inflation: no float round-up
            (1000, 100, 0, 10),
            (1001, 100, 0, 11),
        ],
    )
    def test_cells_needed(self, load, limit, headroom, needed):
        assert cells_needed(load, limit, headroom) == needed

    def test_groups_by_environment_and_region(self):
        rep = build(
            [
                cap("a", 90, 100_000),
                cap("b", 80, 900_000),
                cap("c", 10, 10_000, region="eu-west-1"),
                cap("d", 5, 5, env="preprod"),
            ],
            15,
            today=TODAY,
        )
        groups = {(g.environment, g.region): g for g in rep.groups}
        us = groups[("prod", "us-east-1")]
        # 170 tenants of 100 per cell, 1.15 x: 1.955 -> 2 cells; 1,000,000 requests x 1.15 of 1,000,000: 2 cells.
        assert (us.cells, us.tenants, us.daily_requests, us.needed, us.to_add) == (2, 170, 1_000_000, 2, 0)
        assert groups[("prod", "eu-west-1")].needed == 1
        assert rep.totals["cells_needed"] == 4 and rep.totals["cells_to_add"] == 0

    def test_cells_to_add_when_the_load_outgrows_the_cells(self):
        rep = build([cap("a", 99, 990_000), cap("b", 99, 990_000)], 15, today=TODAY)
        [group] = rep.groups
        assert (group.needed, group.to_add) == (3, 1)  # 1,980,000 x 1.15 = 2.28 cells
        assert rep.totals["cells_to_add"] == 1

    def test_sorted_by_pressure_fullest_first(self):
        rep = build([cap("low", 1, 1), cap("tenants", 95, 1), cap("requests", 1, 960_000)], 15, today=TODAY)
        assert [line.capacity.name for line in rep.cells] == ["requests", "tenants", "low"]
        assert [line.status for line in rep.cells] == ["past headroom", "past headroom", "ok"]
        over = build([cap("over", 101, 1)], 15, today=TODAY)
        assert over.cells[0].status == "over limit"


class TestGrowth:
    @pytest.mark.parametrize(
        ("text", "monthly"),
        [("5%/month", 0.05), ("5 % per month", 0.05), ("60%/year", 1.6 ** (1 / 12) - 1), ("0%/month", 0.0)],
    )
    def test_parse(self, text, monthly):
        assert parse_growth(text) == pytest.approx(monthly)

    @pytest.mark.parametrize("text", ["5", "5%", "five%/month", "5%/fortnight", "-100%/month"])
    def test_refused(self, text):
        with pytest.raises(ValueError, match="growth"):
            parse_growth(text)

    def test_months_until(self):
        assert months_until(500, 1000, 0.05) == pytest.approx(math.log(2) / math.log(1.05))  # ~14.2
        assert months_until(1001, 1000, 0.05) == 0
        assert months_until(0, 1000, 0.05) is None
        assert months_until(500, 1000, 0) is None

    def test_each_cell_crosses_its_line_then_its_limit(self):
        rep = build([cap("a", 10, 500_000)], 15, monthly_growth=0.05, today=TODAY)
        crossing = rep.cells[0].crossing
        assert crossing is not None
        assert crossing.months_to_headroom == pytest.approx(math.log(1.7) / math.log(1.05))  # ~10.9
        assert crossing.months_to_limit == pytest.approx(math.log(2) / math.log(1.05))  # ~14.2
        doc = to_document(rep)["cells"][0]["crossing"]
        assert doc == {
            "months_to_headroom": 10.9,
            "months_to_limit": 14.2,
            "headroom_on": "2027-10-28",
            "limit_on": "2028-02-06",
        }


class TestSample:
    def test_the_sample_report(self, registry):
        doc = to_document(report(registry, today=TODAY))
        assert [c["name"] for c in doc["cells"]] == ["beta", "alpha", "dev-jdoe", "gamma", "staging"]
        assert doc["totals"]["tenants"] == 22
        assert doc["totals"]["daily_requests"] == 116_770_000
        assert doc["totals"]["cells_needed"] == 5 and doc["totals"]["cells_to_add"] == 0
        assert all(c["status"] == "ok" for c in doc["cells"])

    def test_short_numbers(self):
        assert [short(n) for n in (0, 999, 85_000, 12_500_000, 80_000_000, 2_000_000_000)] == [
            "0",
            "999",
            "85k",
            "12.5M",
            "80M",
            "2G",
        ]


class TestCommand:
    def test_json(self):
        result = runner.invoke(app, ["capacity", "--json", "--growth", "5%/month"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["headroom_percent"] == 15 and doc["monthly_growth"] == pytest.approx(0.05)
        beta = doc["cells"][0]
        assert beta["name"] == "beta" and beta["crossing"]["months_to_headroom"] == pytest.approx(0.3)

    def test_table(self, monkeypatch):
        from cellctl.common import console

        monkeypatch.setattr(console, "_width", 160)  # rows unwrapped, whatever the terminal
        result = runner.invoke(app, ["capacity"])
        assert result.exit_code == 0, result.output
        assert "33.5M/40M ≤34M 84%" in result.stdout
        assert "the load needs 5 with 15 % headroom" in result.stdout

    def test_bad_growth_is_one_clear_error(self):
        result = runner.invoke(app, ["capacity", "--growth", "lots"])
        assert result.exit_code == 2
        assert "--growth: growth 'lots' is not a rate such as 5%/month" in result.stderr
        assert "Traceback" not in result.output

    def test_bad_plot_extension(self, tmp_path):
        result = runner.invoke(app, ["capacity", "--plot", str(tmp_path / "chart.pdf")])
        assert result.exit_code == 2 and "PNG or SVG" in result.stderr
        assert not (tmp_path / "chart.pdf").exists()

    @pytest.mark.parametrize("suffix", [".png", ".svg"])
    def test_plot(self, tmp_path: Path, suffix: str):
        path = tmp_path / "out" / f"capacity{suffix}"
        result = runner.invoke(app, ["capacity", "--plot", str(path)])
        assert result.exit_code == 0, result.output
        data = path.read_bytes()
        if suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
        else:
            assert b"<svg" in data and b"headroom line 85" in data and b"dev-jdoe" in data

    def test_matplotlib_is_imported_only_to_plot(self):
        import subprocess

        code = (
            "import sys; from cellctl.main import app; import cellctl.capacity_cmds; print('matplotlib' in sys.modules)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "False"
