"""Place names on the maps and in the GUI (GeoNames via the bundled places.csv; issue #11)."""

from __future__ import annotations

import matplotlib.text
import pytest

from simulator.cache import EnvelopeCache
from simulator.coverage import build_coverage
from simulator.export import render_map_png
from simulator.places import PLACES_CREDIT, load_places, places_to_label
from simulator.scenario import bundled_scenario, load_scenario

EXPECTED = {"kurils-2020": {"Yuzhno-Kurilsk", "Kurilsk", "Nemuro"}, "crimea-2018": {"Sevastopol", "Yevpatoriya"}}


def _coverage(name):
    scenario = load_scenario(bundled_scenario(name))
    return build_coverage(scenario.active_as_of(scenario.as_of), cache=EnvelopeCache())


def test_the_bundled_gazetteer_is_geonames_with_its_credit():
    places = load_places()
    assert len(places) > 1000 and places[0].population >= places[-1].population
    assert "GeoNames" in PLACES_CREDIT and "CC BY 4.0" in PLACES_CREDIT
    by_name = {p.name: p for p in places}
    assert by_name["Yuzhno-Kurilsk"].lat_deg == pytest.approx(44.027, abs=0.01)
    assert by_name["Sevastopol"].country_code == "UA"  # GeoNames' convention, stated in the credit


def test_density_follows_the_map_extent():
    wide = places_to_label((140.0, 40.0, 153.0, 49.0))
    narrow = places_to_label((145.3, 43.0, 146.3, 44.2))
    assert 5 <= len(wide) <= 24 and len(narrow) == 2  # only two towns of 1,000+ there
    assert "Nemuro" in {p.name for p in narrow}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_report_maps_label_the_towns(name, tmp_path, saved_figures):
    coverage = _coverage(name)
    render_map_png(tmp_path / "map.png", coverage, layer="detection", altitude_m=10_000.0, zoom=False)
    texts = {t.get_text().strip() for t in saved_figures[0].findobj(matplotlib.text.Text)}
    assert EXPECTED[name] <= texts, EXPECTED[name] - texts
    assert any(PLACES_CREDIT in t for t in texts)


def test_no_town_label_hides_under_the_scale_bar(tmp_path, saved_figures):
    """The Kuril 100 m comparison map once put Nemuro under the scale bar's white box."""
    from simulator.compare import compare
    from simulator.export import render_map_png
    from simulator.scenario import bundled_scenario, load_scenario

    base = load_scenario(bundled_scenario("kurils-2020"))
    base = base.active_as_of(base.as_of)
    comparison = compare(base, ["iturup-s300v4", "kunashir-s300v4"], altitudes_m=(100.0,), layers=("engagement",))
    change = comparison.change("engagement", 100.0)
    render_map_png(tmp_path / "m.png", comparison.baseline, layer="engagement", altitude_m=100.0,
                   baseline_mask=change.baseline_cells, variant_mask=change.variant_cells,
                   names=("kurils-2020", "kurils-2023"), comparison=comparison)
    fig = saved_figures[0]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    box = next(p for p in ax.patches if p.get_gid() == "scale-bar").get_window_extent(renderer)
    towns = [t for t in ax.texts if t.get_clip_on() and t.get_text().startswith(" ")]
    assert towns
    for text in towns:
        assert not text.get_window_extent(renderer).overlaps(box), text.get_text()
