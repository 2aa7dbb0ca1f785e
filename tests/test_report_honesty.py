"""Reports an analyst can publish (issue #11): nothing drawn past the figure's edge with the
longest names the bundled scenarios produce, no Python reprs in ASSUMPTIONS.txt, a stated
comparison.csv column order."""

from __future__ import annotations

import csv
import io
import re

import matplotlib.legend
import matplotlib.text
import pytest

from simulator.cache import EnvelopeCache
from simulator.compare import compare
from simulator.export import COMPARISON_CSV_COLUMNS, assumptions_text, comparison_csv, render_map_png
from simulator.scenario import bundled_scenario, load_scenario


@pytest.fixture(scope="module")
def withdrawal():
    """``adcov compare kurils-2020 --withdraw iturup-s300v4``: the longest variant name."""
    scenario = load_scenario(bundled_scenario("kurils-2020"))
    scenario = scenario.active_as_of(scenario.as_of)
    return compare(scenario, ["iturup-s300v4"], altitudes_m=[100.0, 10_000.0], cache=EnvelopeCache())


@pytest.mark.slow
def test_no_text_extends_past_the_figure(withdrawal, tmp_path, saved_figures):
    figures = saved_figures
    change = withdrawal.change("engagement", 100.0)
    render_map_png(tmp_path / "m.png", withdrawal.baseline, layer="engagement", altitude_m=100.0,
                   baseline_mask=change.baseline_cells, variant_mask=change.variant_cells,
                   names=(withdrawal.baseline_name, withdrawal.variant_name), comparison=withdrawal)
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    checked = 0
    for artist in fig.findobj(matplotlib.text.Text):
        if not artist.get_visible() or not artist.get_text().strip():
            continue
        if artist.get_clip_on() and artist.axes is not None and artist.get_transform() is artist.axes.transData:
            continue  # place names, clipped to the map
        box = artist.get_window_extent(renderer)
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, artist.get_text()
        checked += 1
    legends = fig.findobj(matplotlib.legend.Legend)
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert box.x1 <= width + 1 and box.x0 >= -1, "legend past the figure's edge"
    assert checked > 10 and legends
    assert any(withdrawal.variant_name in a.get_text() for a in fig.findobj(matplotlib.text.Text))


def test_assumptions_have_no_python_reprs(withdrawal):
    text = assumptions_text(withdrawal.baseline)
    repr_like = re.compile(r"\{'|\['|'\]|': '|\[-?\d+(\.\d+)?, ")  # dicts, lists of strings or of numbers
    assert not repr_like.search(text), [line for line in text.splitlines() if repr_like.search(line)]
    assert "origin min range default, max range published" in text


def test_comparison_csv_columns_are_in_the_stated_order(withdrawal):
    rows = list(csv.reader(io.StringIO(comparison_csv(withdrawal))))
    header = rows[0]
    assert tuple(header[: len(COMPARISON_CSV_COLUMNS)]) == COMPARISON_CSV_COLUMNS
    depth = header[len(COMPARISON_CSV_COLUMNS):]
    n = len(depth) // 2
    assert depth == [f"depth_km2_before_{i}" for i in range(1, n + 1)] + [f"depth_km2_after_{i}" for i in range(1, n + 1)]
    assert len(rows) == 1 + 2 * 2  # two layers x two altitudes
