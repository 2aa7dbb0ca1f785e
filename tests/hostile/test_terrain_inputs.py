"""Hostile terrain: what a scenario (or a DEM argument) can make GDAL open.

Every case generates its input here: VRTs whose sources reach a loopback listener (which
records connections), raw VRT bands over a local secret, sources outside the VRT's folder,
inline XML, FIFOs and symlinks to them. Each must end at once with exit status 2 and a named
reason, never a connection, never a byte of the foreign file on screen.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from simulator.cli import main
from simulator.terrain import open_terrain, write_geotiff
from synthetic import cell_lonlat, rough_elevation_m, utm_terrain

SECRET = "root:$6$not-a-real-hash:19000:0:99999:7:::\n" * 40


class LoopbackListener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts (and answers none)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    server = LoopbackListener()
    yield server
    server.close()


@pytest.fixture
def dem(tmp_path) -> Path:
    """A small UTM GeoTIFF in its own folder."""
    folder = tmp_path / "dem"
    folder.mkdir()
    terrain = utm_terrain(rough_elevation_m((40, 40), seed=3), 90.0)
    path = folder / "tile.tif"
    write_geotiff(path, terrain.elevation_m, terrain.transform, terrain.crs, nodata=None)
    return path


def _vrt(path: Path, source: str, *, band_class: str | None = None, relative: bool = False, extra: str = "") -> Path:
    """A one-band 40 x 40 VRT over ``source`` (same georeferencing as the ``dem`` fixture)."""
    terrain = utm_terrain(np.zeros((40, 40), np.float32), 90.0)
    t = terrain.transform
    sub_class = f' subClass="{band_class}"' if band_class else ""
    if band_class == "VRTRawRasterBand":
        body = f'<SourceFilename relativeToVRT="{int(relative)}">{source}</SourceFilename><ImageOffset>0</ImageOffset>' \
               '<PixelOffset>4</PixelOffset><LineOffset>160</LineOffset>'
    else:
        body = (f'<SimpleSource><SourceFilename relativeToVRT="{int(relative)}">{source}</SourceFilename>'
                '<SourceBand>1</SourceBand></SimpleSource>')
    path.write_text(
        f'<VRTDataset rasterXSize="40" rasterYSize="40"><SRS>{terrain.crs.to_wkt()}</SRS>'
        f'<GeoTransform>{t.c}, {t.a}, 0, {t.f}, 0, {t.e}</GeoTransform>'
        f'<VRTRasterBand dataType="Float32" band="1"{sub_class}>{body}</VRTRasterBand>{extra}</VRTDataset>'
    )
    return path


def _centre_lonlat() -> tuple[float, float]:
    return cell_lonlat(utm_terrain(np.zeros((40, 40), np.float32), 90.0), 20, 20)


def _viewshed(dem_path, tmp_path) -> list[str]:
    lon, lat = _centre_lonlat()
    return ["viewshed", str(dem_path), "--lat", f"{lat}", "--lon", f"{lon}", "--observer-height-m", "10",
            "--out", str(tmp_path / "v.tif")]


def _run_cli(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _scenario(tmp_path: Path, terrain: str) -> Path:
    lon, lat = _centre_lonlat()
    doc = {"schema_version": 1, "name": "hostile", "terrain": terrain, "outside_terrain": "clip",
           "units": [{"id": "u1", "system": "tor_m2", "lat_deg": float(lat), "lon_deg": float(lon)}]}
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("scheme", ["/vsicurl/http://127.0.0.1:{port}/x.tif", "http://127.0.0.1:{port}/x.tif",
                                    "/vsicurl_streaming/http://127.0.0.1:{port}/x.tif"])
def test_a_vrt_source_on_the_network_is_refused_without_a_connection(tmp_path, dem, listener, capsys, scheme):
    vrt = _vrt(dem.parent / "net.vrt", scheme.format(port=listener.port))
    for argv in (_viewshed(vrt, tmp_path), ["run", str(_scenario(tmp_path, str(vrt))), "--json"]):
        code, text = _run_cli(argv, capsys)
        assert code == 2, text
        assert "never the network" in text and "Traceback" not in text
    assert listener.connections == 0
    assert not (tmp_path / "v.tif").exists()


def test_a_network_path_as_terrain_is_refused_without_a_connection(tmp_path, listener, capsys):
    url = f"/vsicurl/http://127.0.0.1:{listener.port}/x.tif"
    for argv in (_viewshed(url, tmp_path), ["run", str(_scenario(tmp_path, url)), "--json"],
                 ["validate", str(_scenario(tmp_path, url))]):
        code, text = _run_cli(argv, capsys)
        assert code == 2, text
        assert "never the network" in text
    assert listener.connections == 0


def test_a_raw_vrt_band_over_a_local_file_is_refused_and_echoes_nothing(tmp_path, dem, capsys):
    secret = dem.parent / "shadow.tif"  # even with a raster suffix: a raw band reads any bytes
    secret.write_text(SECRET)
    vrt = _vrt(dem.parent / "raw.vrt", str(secret), band_class="VRTRawRasterBand")
    argv = _viewshed(vrt, tmp_path) + ["--floor-out", str(tmp_path / "floor.tif")]
    code, text = _run_cli(argv, capsys)
    assert code == 2, text
    assert "VRTRawRasterBand" in text and "refused" in text
    assert "not-a-real-hash" not in text and "root:" not in text
    assert not (tmp_path / "floor.tif").exists()


def test_a_vrt_source_outside_its_folder_is_refused_unless_allowed(tmp_path, dem, capsys, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    vrt = _vrt(elsewhere / "outside.vrt", str(dem))
    code, text = _run_cli(_viewshed(vrt, tmp_path), capsys)
    assert code == 2 and "outside the VRT's folder" in text, text
    monkeypatch.setenv("ADCOV_ALLOW_VRT_SOURCES_ANYWHERE", "1")
    code, text = _run_cli(_viewshed(vrt, tmp_path), capsys)
    assert code == 0, text


def test_a_vrt_of_local_tiles_beside_it_gives_the_tiles_answer(tmp_path, dem):
    vrt = _vrt(dem.parent / "local.vrt", dem.name, relative=True)
    np.testing.assert_array_equal(open_terrain(vrt).elevation_m, open_terrain(dem).elevation_m)


@pytest.mark.parametrize("name", ["inline", "self", "nested-remote", "not-a-vrt"])
def test_odd_vrts_are_refused_with_a_reason(tmp_path, dem, capsys, listener, name):
    folder = dem.parent
    if name == "inline":
        target = '<VRTDataset rasterXSize="1" rasterYSize="1"></VRTDataset>'
        expected = "inline XML"
    elif name == "self":
        target = str(_vrt(folder / "self.vrt", "self.vrt", relative=True))
        expected = "nests VRTs"
    elif name == "nested-remote":
        _vrt(folder / "inner.vrt", f"/vsicurl/http://127.0.0.1:{listener.port}/x.tif")
        target = str(_vrt(folder / "outer.vrt", "inner.vrt", relative=True))
        expected = "never the network"
    else:
        path = folder / "junk.vrt"
        path.write_text("<html><body>not a VRT</body></html>")
        target = str(path)
        expected = "expected <VRTDataset>"
    code, text = _run_cli(_viewshed(target, tmp_path), capsys)
    assert code == 2, text
    assert expected in text and "Traceback" not in text
    assert listener.connections == 0


def test_a_terrain_file_of_an_unlisted_format_is_refused(tmp_path, capsys):
    path = tmp_path / "passwd"
    path.write_text(SECRET)
    code, text = _run_cli(_viewshed(path, tmp_path), capsys)
    assert code == 2 and "not a raster format adcov reads" in text
    assert "not-a-real-hash" not in text


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("how", ["fifo", "symlink-to-fifo", "fifo-in-scenario"])
def test_a_fifo_as_terrain_ends_at_once(tmp_path, how):
    fifo = tmp_path / "dem.tif"
    os.mkfifo(fifo)
    target = fifo
    if how == "symlink-to-fifo":
        target = tmp_path / "link.tif"
        target.symlink_to(fifo)
    if how == "fifo-in-scenario":
        argv = ["run", str(_scenario(tmp_path, fifo.name)), "--json"]
    else:
        argv = _viewshed(target, tmp_path)
    # a blocking open would hang: run it as a process with a deadline
    proc = subprocess.run([sys.executable, "-c", "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))", *argv],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "FIFO" in proc.stderr and "Traceback" not in proc.stderr


def _geotiff(path: Path, values: np.ndarray, transform, crs) -> Path:
    import rasterio

    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform) as ds:
        ds.write(values.astype(np.float32), 1)
    return path


def test_a_geographic_dem_across_the_antimeridian_is_refused_clearly(tmp_path, capsys):
    from affine import Affine

    values = rough_elevation_m((120, 240), seed=7, relief_m=600.0)
    dem = _geotiff(tmp_path / "chukotka.tif", values, Affine(1 / 24, 0, 175.0, 0, -1 / 24, 66.0), "EPSG:4326")
    argv = ["viewshed", str(dem), "--lat", "64", "--lon", "-179.5", "--observer-height-m", "30",
            "--out", str(tmp_path / "v.tif")]
    code, text = _run_cli(argv, capsys)
    assert code == 2, text
    assert "across the antimeridian" in text and "projected CRS" in text
    assert not (tmp_path / "v.tif").exists()


def test_a_projected_dem_across_the_antimeridian_sees_what_the_same_relief_sees_elsewhere(tmp_path, capsys):
    """UTM 60N around 181°E (Chukotka/Fiji-like) against UTM 33N around 19°E: same relief, same
    position relative to the zone, same latitude -> the same viewshed, cell for cell."""
    import pyproj
    import rasterio
    from affine import Affine

    values = rough_elevation_m((160, 160), seed=7, relief_m=600.0)
    answers = []
    for epsg, central_meridian in ((32660, 177.0), (32633, 15.0)):
        lon, lat = central_meridian + 4.0, 60.0
        x, y = pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
        dem = _geotiff(tmp_path / f"utm{epsg}.tif", values, Affine(500, 0, x - 40_000, 0, -500, y + 40_000), f"EPSG:{epsg}")
        out = tmp_path / f"v{epsg}.tif"
        site_lon = lon - 360.0 if lon > 180.0 else lon
        code, text = _run_cli(["viewshed", str(dem), "--lat", f"{lat}", "--lon", f"{site_lon}", "--observer-height-m", "30",
                               "--target-height-m", "500", "--max-range-km", "35", "--out", str(out)], capsys)
        assert code == 0, text
        with rasterio.open(out) as ds:
            answers.append(ds.read(1))
    np.testing.assert_array_equal(answers[0], answers[1])
    assert (answers[0] == 1).sum() > 1000 and (answers[0] == 255).sum() > 1000
