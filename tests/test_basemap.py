"""Land, sea, coast and country names from Natural Earth (simulator/basemap.py; issue #11), on
the report maps and the GUI map."""

from __future__ import annotations

import matplotlib.colors
import matplotlib.image
import matplotlib.patches
import matplotlib.text
import numpy as np
import pytest
from shapely.geometry import Point

from simulator.basemap import BASEMAP_CREDIT, beyond_dem, country_labels, data_extent_in, land_in, load_basemap
from simulator.cache import EnvelopeCache
from simulator.coverage import build_coverage
from simulator.export import NE_LAND_RGB, SEA_RGB, render_map_png
from simulator.scenario import bundled_scenario, load_scenario

KURILS_VIEW = (140.0, 40.0, 154.0, 49.5)
CRIMEA_VIEW = (27.0, 40.0, 43.0, 50.0)


def _coverage(name):
    scenario = load_scenario(bundled_scenario(name))
    return build_coverage(scenario.active_as_of(scenario.as_of), cache=EnvelopeCache())


@pytest.mark.parametrize("lat, lon, is_land", [
    (43.06, 141.35, True),   # Sapporo, Hokkaido
    (42.0, 150.0, False),    # the Pacific
    (44.95, 34.10, True),    # Simferopol, Crimea
    (43.5, 34.0, False),     # the Black Sea
    (44.03, 145.85, True),   # Yuzhno-Kurilsk, Kunashir
    (45.033, 147.617, True),  # Iturup
])
def test_land_and_sea_where_they_are(lat, lon, is_land):
    land = land_in((lon - 2.0, lat - 2.0, lon + 2.0, lat + 2.0))
    assert land.is_valid and land.contains(Point(lon, lat)) is is_land


def test_the_data_is_natural_earth_with_its_credit_and_convention():
    regions = load_basemap()
    assert len(regions) == 2 and all(r.land.is_valid and not r.land.is_empty for r in regions)
    assert "Natural Earth" in BASEMAP_CREDIT and "public domain" in BASEMAP_CREDIT and "world-atlas 2.0.2" in BASEMAP_CREDIT
    assert "Crimea" in BASEMAP_CREDIT and "Kurils" in BASEMAP_CREDIT
    holder = {}
    for region in regions:
        for name, geometry in region.countries:
            for what, lat, lon in (("Simferopol", 44.95, 34.10), ("Yuzhno-Kurilsk", 44.03, 145.85), ("Kyiv", 50.45, 30.52),
                                   ("Sapporo", 43.06, 141.35)):
                if geometry.contains(Point(lon, lat)):
                    holder[what] = name
    # Natural Earth 4.1.0's own convention (de facto control), as the credit and the docs state it
    assert holder == {"Simferopol": "Russia", "Yuzhno-Kurilsk": "Russia", "Kyiv": "Ukraine", "Sapporo": "Japan"}


def test_no_data_far_from_the_bundled_scenarios():
    far = (0.0, 0.0, 10.0, 10.0)
    assert data_extent_in(far).is_empty and land_in(far).is_empty and country_labels(far) == []
    assert data_extent_in(KURILS_VIEW).area == pytest.approx((154.0 - 140.0) * (49.5 - 40.0))


def test_country_names_suit_the_view():
    kurils = {name for name, _, _ in country_labels(KURILS_VIEW)}
    crimea = {name for name, _, _ in country_labels(CRIMEA_VIEW)}
    assert {"Japan", "Russia"} <= kurils
    assert {"Ukraine", "Turkey", "Russia", "Romania"} <= crimea
    # each inside its visible part
    for bounds in (KURILS_VIEW, CRIMEA_VIEW):
        for name, lon, lat in country_labels(bounds):
            assert bounds[0] <= lon <= bounds[2] and bounds[1] <= lat <= bounds[3]
            assert land_in(bounds).buffer(0.05).contains(Point(lon, lat)), name
    # zoomed onto Iturup, Japan is off the view: no label for it; nor any on the disputed island
    assert country_labels((147.0, 44.6, 148.4, 45.5)) == []
    # zoomed onto Crimea: no country name on the peninsula, Ukraine's on the mainland
    crimea_zoom = country_labels((32.3, 44.2, 36.8, 46.4))
    peninsula = next(piece for region in load_basemap() for name, geometry in region.countries
                     for piece in geometry.geoms if piece.contains(Point(34.10, 44.95)))
    for name, lon, lat in crimea_zoom:
        assert not peninsula.contains(Point(lon, lat)), name
    assert "Ukraine" in [name for name, _, _ in crimea_zoom]
    assert len(country_labels(CRIMEA_VIEW, max_labels=2)) == 2


def _axes_pixel(fig, ax, lon, lat, image):
    """The PNG pixel (row, col) of a lon/lat point on a geographic map."""
    px, py = ax.transData.transform((lon, lat))
    return int(round(image.shape[0] - py)), int(round(px))


@pytest.mark.slow
def test_report_map_draws_land_sea_and_country_names(tmp_path, saved_figures):
    coverage = _coverage("kurils-2020")
    render_map_png(tmp_path / "map.png", coverage, layer="detection", altitude_m=10_000.0, zoom=False)
    fig = saved_figures[0]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    countries = {t.get_gid(): t for t in ax.texts if (t.get_gid() or "").startswith("country:")}
    assert {"country:Japan", "country:Russia"} <= set(countries)
    assert countries["country:Japan"].get_text().replace("\u2009", "") == "JAPAN"
    gids = {p.get_gid() for p in ax.findobj(matplotlib.patches.PathPatch)}
    assert {"natural-earth-land", "natural-earth-sea", "natural-earth-coast"} <= gids
    axes_box = ax.get_window_extent(renderer)
    width, height = fig.bbox.width, fig.bbox.height
    for text in countries.values():
        box = text.get_window_extent(renderer)
        assert axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 and axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1, text.get_gid()
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    assert any("Natural Earth 4.1.0" in t for t in texts)


@pytest.mark.slow
def test_report_map_shows_natural_earth_land_beyond_the_dem(tmp_path, saved_figures):
    """crimea-2018's grid reaches past its DEM (outside_terrain: sea): west of 28 E the map
    shows Natural Earth's land (Romania), not the sea level the analysis assumes there."""
    coverage = _coverage("crimea-2018")
    beyond = beyond_dem(coverage.grid)
    assert beyond is not None and beyond.any() and not beyond.all()
    path = render_map_png(tmp_path / "map.png", coverage, layer="engagement", altitude_m=100.0, zoom=False)
    fig = saved_figures[0]
    image = matplotlib.image.imread(path)[..., :3]
    land = np.array(matplotlib.colors.to_rgb(NE_LAND_RGB))
    row, col = _axes_pixel(fig, fig.axes[0], 26.7, 46.2, image)  # Romania, beyond the DEM's 28 E
    assert np.abs(image[row, col] - land).max() < 0.03, image[row, col]
    row, col = _axes_pixel(fig, fig.axes[0], 31.0, 43.0, image)  # the Black Sea, inside the DEM, not covered at 100 m
    assert np.abs(image[row, col] - np.array(SEA_RGB)).max() < 0.03, image[row, col]


# ---------------------------------------------------------------------------------- the GUI


@pytest.fixture
def open_window(qtbot, tmp_path):
    pytest.importorskip("PySide6")
    pytest.importorskip("pyqtgraph")
    from PySide6 import QtCore

    from gui.main_window import MainWindow

    def make(name):
        settings = QtCore.QSettings(str(tmp_path / "gui.ini"), QtCore.QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        window.confirm_close = False
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        qtbot.waitExposed(window)
        window.open_scenario(bundled_scenario(name))
        qtbot.waitUntil(window.is_ready, timeout=120_000)
        return window

    return make


@pytest.mark.slow
def test_gui_map_has_land_coast_and_country_names(open_window, qtbot):
    from PySide6 import QtCore

    window = open_window("kurils-2020")
    view = window.map
    for key in ("sea", "land", "coast"):
        item = view.natural_earth[key]
        assert item.scene() is not None and not item.path().isEmpty(), key
        assert item.zValue() < view.context.zValue()
    land = view.natural_earth["land"].path()  # in map coordinates: lon/lat on this geographic grid
    assert land.contains(QtCore.QPointF(141.35, 43.06)) and not land.contains(QtCore.QPointF(150.0, 42.0))
    assert {"Japan", "Russia"} <= set(view.country_items)
    (x0, x1), (y0, y1) = view.plotItem.vb.viewRange()
    for item in view.country_items.values():
        assert x0 <= item.pos().x() <= x1 and y0 <= item.pos().y() <= y1
    # zoomed onto Iturup: Japan is off the view and loses its name; the disputed island gets none
    view.plotItem.vb.setRange(xRange=(147.0, 148.4), yRange=(44.6, 45.5), padding=0)
    qtbot.waitUntil(lambda: "Japan" not in view.country_items and "Russia" not in view.country_items, timeout=5_000)


@pytest.mark.slow
def test_gui_leaves_cells_beyond_the_dem_to_natural_earth(open_window):
    window = open_window("crimea-2018")
    base = window.map.base.image
    beyond = beyond_dem(window.session.coverage.grid)
    assert base.shape[2] == 4 and (base[..., 3][beyond] == 0).all() and (base[..., 3][~beyond] == 255).all()
    assert {"Ukraine", "Russia", "Turkey"} <= set(window.map.country_items)


@pytest.mark.slow
def test_no_footer_line_runs_past_the_figure_on_the_bundled_maps(tmp_path, saved_figures):
    """The Kuril footers hold long source lists of wide letters: wrapped by their rendered width."""
    coverage = _coverage("kurils-2020")
    render_map_png(tmp_path / "map.png", coverage, layer="detection", altitude_m=10_000.0, zoom=False)
    fig = saved_figures[0]
    renderer = fig.canvas.get_renderer()
    footers = [t for t in fig.texts if t.get_text().startswith("Assumptions:")]
    assert footers
    for text in fig.texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= -1 and box.x1 <= fig.bbox.width + 1, text.get_text()[:80]
