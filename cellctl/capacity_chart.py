"""The capacity chart: each cell's two limits as bars, the headroom line across them.

matplotlib is imported here only, and only when a chart is asked for (the Agg backend: no display).
"""

from __future__ import annotations

from pathlib import Path

from cells.capacity import CHART_FORMATS as FORMATS
from cells.capacity import Report, short

#: Bar colours by status: within the headroom line, past it, over the limit.
COLOURS = {"ok": "#4c72b0", "past headroom": "#dd8452", "over limit": "#c44e52"}


def draw(rep: Report, path: Path) -> None:
    """Write the chart to `path` (.png or .svg); ValueError for another extension."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(
            f"{path}: the chart is written as PNG or SVG (.png, .svg), not {path.suffix or 'no extension'!r}"
        )
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch

    lines = list(reversed(rep.cells))  # the fullest cell on top
    names = [line.capacity.name for line in lines]
    height = 0.38
    line_at = 100 - rep.headroom_percent
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.7 * max(len(lines), 1)), dpi=110)
    for i, line in enumerate(lines):
        cap = line.capacity
        for offset, share, label, hatch in (
            (
                height / 2,
                cap.request_pressure,
                f"{cap.daily_requests / 1e6:,.1f}M / {cap.max_daily_requests / 1e6:,.1f}M req/day",
                "",
            ),
            (-height / 2, cap.tenant_pressure, f"{cap.tenants:,} / {cap.max_tenants:,} tenants", "//"),
        ):
            colour = COLOURS[
                "over limit" if share > 1 else "past headroom" if share > 1 - rep.headroom_percent / 100 else "ok"
            ]
            ax.barh(i + offset, share * 100, height=height, color=colour, hatch=hatch, edgecolor="white", linewidth=0)
            ax.text(min(share * 100, 118) + 1, i + offset, label, va="center", fontsize=8)
    ax.axvline(line_at, color="#555555", linestyle="--", linewidth=1)
    ax.axvline(100, color="#c44e52", linewidth=1.2)
    ax.text(line_at, len(lines) - 0.35, f"headroom line {line_at} %", ha="right", fontsize=8, color="#555555")
    ax.text(100, len(lines) - 0.35, " limit", ha="left", fontsize=8, color="#c44e52")
    ax.set_yticks(
        range(len(lines)),
        [f"{n}\n{line.capacity.environment} · {line.capacity.region}" for n, line in zip(names, lines, strict=True)],
        fontsize=9,
    )
    ax.set_xlim(0, 150)
    ax.set_ylim(-0.7, len(lines) - 0.1)
    ax.set_xlabel("share of the cell's limit (%)")
    totals = rep.totals
    ax.set_title(
        f"Cell capacity: {totals['tenants']:,} tenants, {short(totals['daily_requests'])} requests/day in "
        f"{totals['cells']} cells; {totals['cells_needed']} needed with {rep.headroom_percent} % headroom",
        fontsize=10,
    )
    ax.legend(
        handles=[
            Patch(facecolor="#999999", label="daily requests"),
            Patch(facecolor="#999999", hatch="//", edgecolor="white", label="tenants"),
            *(Patch(facecolor=c, label=s) for s, c in COLOURS.items()),
        ],
        loc="lower right",
        fontsize=8,
        ncols=2,
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No creation date in the file: the committed chart changes only when the figures do.
    metadata = {"Software": None} if path.suffix.lower() == ".png" else {"Date": None, "Creator": None}
    fig.savefig(path, metadata=metadata)
    plt.close(fig)
