"""Hostile output paths: user files in report folders, special files, symlinks, inputs, full disks.

Every refusal must be one line on stderr with exit status 2 and must leave every file as it
was; a write that fails (a full disk, simulated with ``RLIMIT_FSIZE``) must fail the command
and leave the previous output intact, with no ``.adcov-tmp-*`` leftovers.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio

from simulator.cli import main
from simulator.errors import AdcovError
from simulator.fileio import check_output_file, check_output_folder
from simulator.terrain import write_geotiff
from synthetic import cell_lonlat, rough_elevation_m, unit_at, utm_terrain, write_scenario

REPO = Path(__file__).resolve().parents[2]
CELL_M = 200.0
SHAPE = (60, 60)
#: A file-size limit [bytes] below any GeoTIFF, CSV, Parquet or report file adcov writes.
TINY_FSIZE = 256
QUICK = ["--altitudes-m", "300", "--layers", "engagement", "--no-cache"]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small synthetic DEM, two scenarios on it (baseline; variant without unit b), an observer."""
    folder = tmp_path_factory.mktemp("inputs")
    elevation = rough_elevation_m(SHAPE, seed=11, relief_m=500.0)
    terrain = utm_terrain(elevation, CELL_M)
    units = [unit_at(terrain, "a", 20, 20, range_km=5, position_precision_km=1.0), unit_at(terrain, "b", 40, 40, range_km=5)]
    baseline = write_scenario(folder, elevation, CELL_M, units, name="baseline")
    variant = write_scenario(folder, elevation, CELL_M, units[:1], name="variant")
    lon, lat = cell_lonlat(terrain, 30, 30)
    return {"folder": folder, "dem": folder / "synthetic.tif", "baseline": baseline, "variant": variant, "lat": lat, "lon": lon}


def viewshed_argv(inputs, out, *extra, dem=None) -> list[str]:
    return ["viewshed", str(dem or inputs["dem"]), "--lat", repr(inputs["lat"]), "--lon", repr(inputs["lon"]),
            "--observer-height-m", "20", "--out", str(out), *extra]


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``: file bytes, symlink target, or 'dir' (without following links)."""
    state = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            relative = str(path.relative_to(folder))
            if path.is_symlink():
                state[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                state[relative] = "dir"
            elif path.is_file():
                state[relative] = path.read_bytes()
            else:
                state[relative] = ("special", stat.S_IFMT(path.lstat().st_mode))
    return state


#: What adcov may print on stderr before an error: compare's progress note (stderr is not a terminal).
PROGRESS_NOTES = ("adcov compare: writing the report to ",)


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith(PROGRESS_NOTES)]
    assert len(lines) == 1, err
    assert lines[0].startswith("adcov: error: ") and "Traceback" not in err, err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".adcov-tmp-*"))


def run_limited(argv: list[str], cwd: Path, fsize: int | None) -> subprocess.CompletedProcess:
    """``adcov *argv`` in a subprocess whose files cannot grow past ``fsize`` bytes (EFBIG: a full disk)."""

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead of killing

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    return subprocess.run([sys.executable, "-m", "simulator", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit)


def run_python_limited(code: str, cwd: Path, fsize: int) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit)


# ----------------------------------------------------------------------------- 1. user files in a report folder


def report_argv(command: str, inputs, out: Path) -> list[str]:
    if command == "run":
        return ["run", str(inputs["baseline"]), *QUICK, "--out", str(out)]
    return ["compare", str(inputs["baseline"]), str(inputs["variant"]), *QUICK, "--out", str(out)]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "compare"])
def test_report_folder_with_user_files_is_refused_and_left_alone(command, inputs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(report_argv(command, inputs, out)) == 0, capsys.readouterr().err
    capsys.readouterr()
    (out / "my_analysis_notes.txt").write_text("my notes\n")
    (out / "maps" / "annotated.png").write_bytes(b"my annotated map")
    before = snapshot(tmp_path)

    assert main(report_argv(command, inputs, out)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "my_analysis_notes.txt" in line and "maps/annotated.png" in line
    assert "move them out" in line and "another folder" in line
    assert snapshot(tmp_path) == before

    # a report folder holding exactly the manifest's files is still replaced
    (out / "my_analysis_notes.txt").unlink()
    (out / "maps" / "annotated.png").unlink()
    manifest_before = json.loads((out / "manifest.json").read_text())
    assert main(report_argv(command, inputs, out)) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["written_utc"] >= manifest_before["written_utc"]
    present = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert present == {f["path"] for f in manifest["files"]} | {"manifest.json"}
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_report_folder_refusal_names_at_most_five_paths(inputs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(report_argv("run", inputs, out)) == 0, capsys.readouterr().err
    capsys.readouterr()
    for i in range(6):
        (out / f"note{i}.txt").write_text("mine")
    (out / "drafts").mkdir()  # a folder of the user's, empty: named as a folder
    before = snapshot(tmp_path)
    assert main(report_argv("run", inputs, out)) == 2
    line = one_line_error(capsys.readouterr().err)
    assert sum(f"note{i}.txt" in line for i in range(6)) + ("drafts/" in line) == 5
    assert "2 more" in line
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_report_folder_gaining_user_files_while_written_is_not_replaced(inputs, tmp_path, monkeypatch, capsys):
    """A file the user saves into the old report while the new one is being drawn survives."""
    from simulator import export

    out = tmp_path / "report"
    assert main(report_argv("run", inputs, out)) == 0, capsys.readouterr().err
    capsys.readouterr()
    real = export.render_area_chart_png

    def user_saves_a_note(*args, **kwargs):
        (out / "late_note.txt").write_text("saved while adcov was drawing")
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "render_area_chart_png", user_saves_a_note)
    assert main(report_argv("run", inputs, out)) == 2
    assert "late_note.txt" in one_line_error(capsys.readouterr().err)
    assert (out / "late_note.txt").read_text() == "saved while adcov was drawing"
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- 2. viewshed output paths


@pytest.mark.parametrize("option", ["--out", "--floor-out"])
def test_viewshed_refuses_an_empty_output_name(option, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = viewshed_argv(inputs, "") if option == "--out" else viewshed_argv(inputs, "v.tif", "--floor-out", "")
    assert main(argv) == 2
    line = one_line_error(capsys.readouterr().err)
    assert option in line and "empty" in line
    assert list(tmp_path.iterdir()) == []


def _make_special(kind: str, path: Path):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        return server
    elif kind == "folder":
        path.mkdir()
    elif kind == "char device":
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
        except PermissionError:
            pytest.skip("creating a character device needs root (check_output_file is tested on /dev/null below)")
    return None


@pytest.mark.parametrize("option", ["--out", "--floor-out"])
@pytest.mark.parametrize(("kind", "words"), [("fifo", "FIFO"), ("socket", "socket"), ("folder", "folder"),
                                             ("char device", "character device")])
def test_viewshed_refuses_special_files_and_folders(kind, words, option, inputs, tmp_path, capsys):
    special = tmp_path / "s.tif"
    server = _make_special(kind, special)
    try:
        mode = special.lstat().st_mode
        argv = viewshed_argv(inputs, special) if option == "--out" else viewshed_argv(inputs, tmp_path / "v.tif", "--floor-out", str(special))
        assert main(argv) == 2
        line = one_line_error(capsys.readouterr().err)
        assert option in line and str(special) in line and words in line
        assert special.lstat().st_mode == mode  # still the same kind of file
        assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]
    finally:
        if server is not None:
            server.close()


@pytest.mark.parametrize("name", ["/dev/null", "/dev/stdout", "/dev/stderr", "/dev/zero"])
def test_check_output_file_refuses_devices(name):
    """Checked without running a command: a regression would replace the machine's device node."""
    with pytest.raises(AdcovError, match=f"--out: {name}") as info:
        check_output_file(name, "--out")
    assert "\n" not in str(info.value)


def test_check_output_file_names_the_kind_and_how_to_proceed(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(AdcovError, match=r"is a folder.*file name"):
        check_output_file(tmp_path / "d", "--out")
    with pytest.raises(AdcovError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "v.tif", "--out")
    with pytest.raises(AdcovError, match="empty"):
        check_output_file("", "--out")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(AdcovError, match="--out"):
        check_output_file(tmp_path / "loop", "--out")
    assert check_output_file(tmp_path / "new.tif", "--out") == (tmp_path / "new.tif").resolve()
    (tmp_path / "new.tif").touch()
    with pytest.raises(AdcovError, match="is a file"):
        check_output_folder(tmp_path / "new.tif", "--out")
    assert check_output_folder(tmp_path / "d", "--out") == (tmp_path / "d").resolve()
    with pytest.raises(AdcovError, match="empty"):
        check_output_folder("", "--out")


def test_viewshed_writes_through_a_symlink_to_its_target(inputs, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "real.tif"
    target.write_bytes(b"previous raster")
    link = tmp_path / "link.tif"
    link.symlink_to(Path("data") / "real.tif")
    floor_target = tmp_path / "data" / "floor.tif"
    floor_link = tmp_path / "floor-link.tif"
    floor_link.symlink_to(floor_target)  # dangling: the target is created
    assert main(viewshed_argv(inputs, link, "--floor-out", str(floor_link))) == 0, capsys.readouterr().err
    assert link.is_symlink() and os.readlink(link) == str(Path("data") / "real.tif")
    assert floor_link.is_symlink() and os.readlink(floor_link) == str(floor_target)
    with rasterio.open(target) as ds, rasterio.open(floor_target) as fl:
        assert ds.read(1).shape == SHAPE and fl.read(1).shape == SHAPE
    assert leftovers(tmp_path) == []


def _dem_copy(inputs, folder: Path) -> Path:
    dem = folder / "dem.tif"
    dem.write_bytes(inputs["dem"].read_bytes())
    return dem


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative"])
def test_viewshed_refuses_to_overwrite_its_dem(how, inputs, tmp_path, capsys, monkeypatch):
    dem = _dem_copy(inputs, tmp_path)
    out = {"same": dem, "symlink": tmp_path / "out.tif", "hardlink": tmp_path / "hard.tif", "relative": Path("sub/../dem.tif")}[how]
    if how == "symlink":
        out.symlink_to(dem)
    elif how == "hardlink":
        os.link(dem, out)
    elif how == "relative":
        (tmp_path / "sub").mkdir()
        monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    for argv in (viewshed_argv(inputs, out, dem=dem), viewshed_argv(inputs, tmp_path / "v.tif", "--floor-out", str(out), dem=dem)):
        assert main(argv) == 2
        line = one_line_error(capsys.readouterr().err)
        assert "input" in line and str(dem.name) in line
        assert snapshot(tmp_path) == before


def test_viewshed_refuses_outputs_inside_a_dem_folder(inputs, tmp_path, capsys):
    tiles = tmp_path / "tiles"
    (tiles / "north").mkdir(parents=True)
    _dem_copy(inputs, tiles / "north")
    before = snapshot(tmp_path)
    for out in (tiles / "v.tif", tiles / "north" / "v.tif"):
        assert main(viewshed_argv(inputs, out, dem=tiles)) == 2
        line = one_line_error(capsys.readouterr().err)
        assert "inside the input folder" in line and str(tiles) in line
        assert snapshot(tmp_path) == before
    assert main(viewshed_argv(inputs, tmp_path / "v.tif", dem=tiles)) == 0, capsys.readouterr().err


def test_viewshed_refuses_the_same_file_for_both_outputs(inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link.tif").symlink_to("v.tif")
    for floor in ("v.tif", "./v.tif", str(tmp_path / "link.tif")):
        assert main(viewshed_argv(inputs, "v.tif", "--floor-out", floor)) == 2
        line = one_line_error(capsys.readouterr().err)
        assert "--out" in line and "--floor-out" in line and "v.tif" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tif"]


def test_sweep_out_is_checked_like_every_output(inputs, tmp_path, capsys):
    special = tmp_path / "r.csv"
    special.mkdir()
    parquet_dir = tmp_path / "p.parquet"
    parquet_dir.mkdir()
    before = snapshot(tmp_path)
    for out, words in ((special, "is a folder"), ("", "empty"), (inputs["baseline"], None), (tmp_path / "p.csv", "p.parquet")):
        argv = ["sweep", str(inputs["baseline"]), "--out", str(out), *QUICK]
        if words is None:  # the scenario itself, renamed .csv
            scenario_csv = tmp_path / "scenario.csv"
            scenario_csv.write_text(inputs["baseline"].read_text().replace("terrain: synthetic.tif", f"terrain: {inputs['dem']}"))
            argv = ["sweep", str(scenario_csv), "--out", str(scenario_csv), *QUICK]
            before = snapshot(tmp_path)
            words = "input"
        assert main(argv) == 2
        line = one_line_error(capsys.readouterr().err)
        assert "--out" in line and words in line
        assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["run", "compare"])
def test_report_out_options_are_checked_before_computing(command, inputs, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = snapshot(tmp_path)
    for out, words in (("", "empty"), (afile, "is a file"), (fifo, "FIFO")):
        argv = report_argv(command, inputs, out)
        assert main(argv) == 2
        line = one_line_error(capsys.readouterr().err)
        assert "--out" in line and words in line
        assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- 3. full disk


def test_rlimit_fsize_makes_gdal_fail(tmp_path):
    """The simulated full disk really fails GDAL's own writes (else the tests below prove nothing)."""
    code = """
        import numpy as np, rasterio
        from affine import Affine
        with rasterio.open("raw.tif", "w", driver="GTiff", width=60, height=60, count=1, dtype="float32",
                           crs="EPSG:32655", transform=Affine(200, 0, 0, 0, -200, 0)) as ds:
            ds.write(np.random.default_rng(0).random((60, 60), dtype=np.float32), 1)
    """
    run_python_limited(code, tmp_path, TINY_FSIZE)
    assert (tmp_path / "raw.tif").stat().st_size <= TINY_FSIZE
    with pytest.raises(rasterio.errors.RasterioError):
        with rasterio.open(tmp_path / "raw.tif") as ds:
            ds.read(1)


def test_write_geotiff_on_a_full_disk_raises_and_keeps_the_old_file(tmp_path):
    (tmp_path / "v.tif").write_bytes(b"previous raster")
    code = """
        import numpy as np
        from affine import Affine
        from simulator.errors import TerrainError
        from simulator.terrain import write_geotiff
        try:
            write_geotiff("v.tif", np.zeros((60, 60), dtype=np.float32), Affine(200, 0, 0, 0, -200, 0), "EPSG:32655")
        except TerrainError as exc:
            print("TerrainError:", exc)
        else:
            print("no error")
    """
    result = run_python_limited(code, tmp_path, TINY_FSIZE)
    assert result.stdout.startswith("TerrainError: cannot write GeoTIFF v.tif"), result.stdout + result.stderr
    assert "File too large" in result.stdout
    assert result.stderr == ""
    assert (tmp_path / "v.tif").read_bytes() == b"previous raster"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.tif"]


def test_write_geotiff_reads_back_what_it_wrote(tmp_path):
    values = np.array([[np.nan, 1.5], [-2.0, np.inf]], dtype=np.float32)
    write_geotiff(tmp_path / "f.tif", values, rasterio.Affine(10, 0, 500_000, 0, -10, 5_000_000), "EPSG:32655", nodata=float("nan"), tags={"units": "m"})
    with rasterio.open(tmp_path / "f.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), values)
        assert ds.tags()["units"] == "m"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.tif"]


@pytest.mark.slow
def test_atomic_write_bytes_on_a_full_disk_raises_and_keeps_the_old_file(tmp_path):
    (tmp_path / "map.png").write_bytes(b"previous map")
    code = """
        from pathlib import Path
        from simulator.errors import AdcovError
        from simulator.export import _atomic_write_bytes
        try:
            _atomic_write_bytes(Path("map.png"), b"x" * 10_000)
        except AdcovError as exc:
            print("AdcovError:", exc)
    """
    result = run_python_limited(code, tmp_path, TINY_FSIZE)
    assert result.stdout.startswith("AdcovError: cannot write map.png") and "File too large" in result.stdout, result.stdout + result.stderr
    assert (tmp_path / "map.png").read_bytes() == b"previous map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]


def _viewshed_sizes(inputs, folder: Path) -> tuple[int, int]:
    """A first, unlimited viewshed (also loads numba's cache); the sizes of its two rasters."""
    result = run_limited(viewshed_argv(inputs, "v.tif", "--floor-out", "floor.tif"), folder, None)
    assert result.returncode == 0, result.stderr
    return (folder / "v.tif").stat().st_size, (folder / "floor.tif").stat().st_size


@pytest.mark.slow
@pytest.mark.parametrize("which", ["both", "floor only"])
def test_viewshed_on_a_full_disk_fails_and_keeps_the_old_rasters(which, inputs, tmp_path):
    visible_bytes, floor_bytes = _viewshed_sizes(inputs, tmp_path)
    assert visible_bytes < floor_bytes
    fsize = TINY_FSIZE if which == "both" else (visible_bytes + floor_bytes) // 2  # the visibility raster would fit
    (tmp_path / "v.tif").write_bytes(b"previous visibility")
    (tmp_path / "floor.tif").write_bytes(b"previous floor")
    result = run_limited(viewshed_argv(inputs, "v.tif", "--floor-out", "floor.tif"), tmp_path, fsize)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line_error(result.stderr)
    # the first raster that failed is named: the visibility when neither fits
    assert ("--out: cannot write GeoTIFF v.tif" if which == "both" else "--floor-out: cannot write GeoTIFF floor.tif") in line
    assert "File too large" in line
    assert (tmp_path / "v.tif").read_bytes() == b"previous visibility"
    assert (tmp_path / "floor.tif").read_bytes() == b"previous floor"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["floor.tif", "v.tif"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["--positions", "2"]], ids=["withdrawals", "positions"])
def test_sweep_on_a_full_disk_fails_and_keeps_the_old_table(mode, inputs, tmp_path):
    argv = ["sweep", str(inputs["baseline"]), "--out", "results.csv", *QUICK, *mode]
    first = run_limited(argv, tmp_path, None)
    assert first.returncode == 0, first.stderr
    (tmp_path / "results.csv").write_text("previous table\n")
    before = snapshot(tmp_path)
    result = run_limited(argv, tmp_path, TINY_FSIZE)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line_error(result.stderr)
    assert "--out" in line and "File too large" in line
    assert snapshot(tmp_path) == before
    assert not [p for p in tmp_path.rglob(".*")]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "compare"])
def test_report_on_a_full_disk_fails_and_keeps_the_old_report(command, inputs, tmp_path):
    argv = report_argv(command, inputs, Path("report"))
    first = run_limited(argv, tmp_path, None)
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path)
    result = run_limited(argv, tmp_path, TINY_FSIZE)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line_error(result.stderr)
    assert "report" in line and "File too large" in line
    assert snapshot(tmp_path) == before
    assert leftovers(tmp_path) == []


def _vrt_over(tile: Path, vrt: Path) -> None:
    """A one-band VRT whose single simple source is ``tile`` (relative to the VRT)."""
    import rasterio

    with rasterio.open(tile) as ds:
        width, height, gt, crs = ds.width, ds.height, ds.transform.to_gdal(), ds.crs.to_wkt()
        dtype = {"int16": "Int16", "float32": "Float32", "float64": "Float64"}[ds.dtypes[0]]
    source = os.path.relpath(tile, vrt.parent)
    vrt.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{crs}</SRS>'
        f'<GeoTransform>{", ".join(repr(v) for v in gt)}</GeoTransform>'
        f'<VRTRasterBand dataType="{dtype}" band="1"><SimpleSource>'
        f'<SourceFilename relativeToVRT="1">{source}</SourceFilename><SourceBand>1</SourceBand>'
        f'<SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/><DstRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>'
        f'</SimpleSource></VRTRasterBand></VRTDataset>'
    )


def test_viewshed_refuses_to_overwrite_a_tile_its_vrt_reads(inputs, tmp_path, capsys):
    (tmp_path / "tiles").mkdir()
    tile = _dem_copy(inputs, tmp_path / "tiles")
    vrt = tmp_path / "mosaic.vrt"
    _vrt_over(tile, vrt)
    before = snapshot(tmp_path)
    for argv in (viewshed_argv(inputs, tile, dem=vrt), viewshed_argv(inputs, tmp_path / "v.tif", "--floor-out", str(tile), dem=vrt)):
        assert main(argv) == 2
        line = one_line_error(capsys.readouterr().err)
        assert "input" in line and "dem.tif" in line
        assert snapshot(tmp_path) == before
    assert main(viewshed_argv(inputs, tmp_path / "v.tif", dem=vrt)) == 0, capsys.readouterr().err


@pytest.mark.slow
def test_file_manager_bookkeeping_does_not_block_replacing_a_report(inputs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(report_argv("run", inputs, out)) == 0, capsys.readouterr().err
    (out / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (out / "maps" / "Thumbs.db").write_bytes(b"thumbs")
    assert main(report_argv("run", inputs, out)) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    present = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert present == {f["path"] for f in manifest["files"]} | {"manifest.json"}
    # a folder of that name is not bookkeeping: still the user's, still refused
    (out / ".DS_Store").mkdir()
    assert main(report_argv("run", inputs, out)) == 2
    assert ".DS_Store/" in one_line_error(capsys.readouterr().err)
