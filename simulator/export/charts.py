"""Charts of a report: covered area against target altitude, one panel per layer."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from simulator import __version__
from simulator.export.maps import _assumptions_footer
from simulator.export.staging import _atomic_write_bytes
from simulator.export.style import BLUE, BLUISH_GREEN, MAP_DPI, VERMILLION


def render_area_chart_png(path, rows_by_layer: Mapping[str, Sequence[Mapping]], *, names: tuple[str, str] | None = None,
                          altitude_ref: str = "msl", title: str = "", subtitle: str = "", footer: Sequence[str] = (),
                          dpi: int = MAP_DPI) -> Path:
    """Covered area vs altitude, one panel per layer.

    ``rows_by_layer[layer]`` rows carry ``altitude_m`` and either ``baseline_km2`` and
    ``variant_km2`` (a comparison: both lines, the area lost shaded) or ``covered_km2``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    layers = list(rows_by_layer)
    fig = Figure(figsize=(6.0 * max(len(layers), 1) + 0.5, 5.8), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, max(len(layers), 1), squeeze=False)[0]
    for ax, layer in zip(axes, layers, strict=False):  # no layers: one empty panel
        rows = sorted(rows_by_layer[layer], key=lambda r: r["altitude_m"])
        alt = np.array([r["altitude_m"] for r in rows], dtype=float)
        positive = alt > 0
        if "baseline_km2" in (rows[0] if rows else {}):
            before = np.array([r["baseline_km2"] for r in rows])
            after = np.array([r["variant_km2"] for r in rows])
            ax.plot(alt, before, color="#444444", marker="o", linewidth=2, label=f"Before: {names[0] if names else 'baseline'}", zorder=3)
            ax.plot(alt, after, color=BLUE, marker="s", linewidth=2, label=f"After: {names[1] if names else 'variant'}", zorder=3)
            if np.any(before > after):
                ax.fill_between(alt, after, before, where=before >= after, color=VERMILLION, alpha=0.25, hatch="////", edgecolor=VERMILLION,
                                linewidth=0, label="Lost (net of any gain)", interpolate=True)
            if np.any(after > before):
                ax.fill_between(alt, before, after, where=after > before, color=BLUISH_GREEN, alpha=0.3, hatch="\\\\", edgecolor=BLUISH_GREEN,
                                linewidth=0, label="Gained (net of any loss)", interpolate=True)
        else:
            ax.plot(alt, [r["covered_km2"] for r in rows], color=BLUE, marker="o", linewidth=2, label="Covered")
        if positive.all() and len(alt) > 1 and alt.max() / alt.min() > 20:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel(f"Target altitude [m {altitude_ref.upper()}]")
        ax.set_ylabel("Covered area [km²]")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_ylim(bottom=0)
        ax.set_title(f"{layer.capitalize()} layer", fontsize=11)
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.legend(fontsize=8.5, loc="best")
    fig.text(0.02, 0.97, title or "Covered area by target altitude", fontsize=13, fontweight="bold", ha="left", va="top")
    if subtitle:
        fig.text(0.02, 0.91, subtitle, fontsize=9.5, ha="left", va="top", color="#333333")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.8, bottom=0.34, wspace=0.22)
    if footer:
        fig.text(0.02, 0.2, _assumptions_footer(["Assumptions: " + footer[0], *footer[1:]], 170), fontsize=6.4, va="top", ha="left",
                 color="#333333", linespacing=1.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Title": title, "Description": "\n".join(footer), "Software": f"adcov {__version__}"})
    return _atomic_write_bytes(Path(path), buffer.getvalue())
