"""Sweep results as files: the CSV table, its Parquet twin and the uncertainty companions.

A withdrawal sweep writes its table (:data:`~simulator.sweep.withdrawals.WITHDRAWAL_COLUMNS`)
to ``results.csv`` and, when pyarrow is installed, ``results.parquet``. An ensemble writes its
covered-area distribution there and, in a folder named after the CSV (``results.csv`` ->
``results/``), the probability of coverage per layer and altitude as GeoTIFFs
(``p_<layer>_<alt>m.tif``), polygons at probability levels (``levels.geojson``), per-member
areas (``members.csv``) and the sampled sites (``samples.csv``).

Every file is written under a temporary name and renamed into place with the others at the
end (:class:`AtomicOutputs`): an error or an interrupt leaves the previous files as they were.
Messages name the ``--out`` option, the way ``adcov sweep`` is told where to write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from simulator.errors import AdcovError, OutputError
from simulator.fileio import AtomicFiles, check_output_folder
from simulator.fileio import csv_text as fileio_csv_text
from simulator.sweep.ensemble import (
    DEFAULT_LEVELS,
    MEMBER_COLUMNS,
    SAMPLE_COLUMNS,
    UNCERTAINTY_COLUMNS,
    UncertaintyResult,
)
from simulator.sweep.withdrawals import WITHDRAWAL_COLUMNS, WithdrawalSweep


def write_sweep_outputs(out, result: WithdrawalSweep | UncertaintyResult, levels=DEFAULT_LEVELS) -> tuple[list[Path], bool]:
    """Write a sweep's result to ``out`` (a .csv path) and its companions, all or nothing.

    Parameters
    ----------
    out : path-like
        The results table (CSV); the Parquet table goes next to it, an ensemble's other
        outputs in the folder named after it (see the module docstring).
    result : WithdrawalSweep or UncertaintyResult
    levels : sequence of float
        Probability levels of an ensemble's polygons, in (0, 1].

    Returns
    -------
    written : list of Path
        The files put in place.
    parquet : bool
        False when pyarrow is not installed (no Parquet table was written).
    """
    out = Path(out)
    outputs = AtomicOutputs()
    try:
        if isinstance(result, UncertaintyResult):
            parquet = _write_uncertainty(outputs, out, result, levels)
        else:
            parquet = _write_withdrawals(outputs, out, result)
        written = outputs.commit()
    except BaseException:
        outputs.abort()  # an interrupt too: nothing half written stays
        raise
    return written, parquet


def check_companion_folder(out: Path) -> Path:
    """The folder of the uncertainty outputs (results.csv -> results/), checked like --out."""
    folder = out.with_suffix("")
    if os.path.lexists(folder) and not folder.is_dir():
        raise OutputError(f"--out: the companion folder {str(folder)!r} exists and is not a folder; choose another --out name")
    return check_output_folder(folder, "--out (its companion folder)")


def _altitude_label(altitude_m: float) -> str:
    return str(int(altitude_m)) if float(altitude_m).is_integer() else repr(float(altitude_m)).replace(".", "p")


class AtomicOutputs(AtomicFiles):
    """:class:`~simulator.fileio.AtomicFiles` whose failures are ``--out`` errors (OutputError).

    Each file is flushed to the disk before the commit (a sweep takes long to redo).
    """

    def make_dir(self, folder) -> Path:
        try:
            return super().make_dir(folder)
        except OSError as exc:
            raise OutputError(f"--out: cannot create the folder {folder}: {exc.strerror or exc}") from exc

    def write_text(self, final, text: str, *, fsync: bool = True) -> Path:
        try:
            return super().write_text(final, text, fsync=fsync)
        except OSError as exc:  # a full disk: ENOSPC, EFBIG, EDQUOT
            raise OutputError(f"--out: cannot write {final}: {exc.strerror or exc} (no output was replaced)") from exc

    def commit(self) -> list[Path]:
        try:
            return super().commit()
        except OSError as exc:
            raise OutputError(f"--out: cannot put the outputs in place: {exc.strerror or exc} (the previous files are kept)") from exc


csv_text = fileio_csv_text  # one CSV format for every table (simulator.fileio.csv_text)


def _write_parquet(outputs: AtomicOutputs, final: Path, columns, rows) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})
    try:
        pq.write_table(table, str(outputs.temp_for(final)))
    except OSError as exc:  # pyarrow's IO errors are OSErrors
        raise OutputError(f"--out: cannot write {final}: {exc.strerror or exc} (no output was replaced)") from exc
    return True


def _write_withdrawals(outputs: AtomicOutputs, out: Path, result) -> bool:
    rows = result.rows()
    parquet = _write_parquet(outputs, out.with_suffix(".parquet"), WITHDRAWAL_COLUMNS, rows)
    outputs.write_text(out, csv_text(WITHDRAWAL_COLUMNS, rows))
    return parquet


def _write_uncertainty(outputs: AtomicOutputs, out: Path, result, levels) -> bool:
    import shapely.geometry

    from simulator.terrain import write_geotiff  # at call time: a replacement of it takes effect (tests interrupt writes so)

    folder = check_companion_folder(out)  # results.csv -> results/: one folder, not a dozen files beside the CSV
    outputs.make_dir(folder)
    grid = result.grid
    ref = "" if result.altitude_ref == "msl" else f"_{result.altitude_ref}"
    features = []
    for layer in result.layers:
        for altitude_m in result.altitudes_m:
            probability = result.probability(layer, altitude_m)
            final = folder / f"p_{layer}_{_altitude_label(altitude_m)}m{ref}.tif"
            temp = outputs.temp_for(final)
            try:
                write_geotiff(
                    temp, probability, grid.transform, grid.terrain.crs,
                    tags={"quantity": f"probability of {layer} coverage", "altitude_m": f"{altitude_m:g}",
                          "altitude_ref": result.altitude_ref, "members": str(len(result.members)),
                          "scenario": result.scenario_name, "units": "1 (fraction of members)"},
                )
            except AdcovError as exc:  # its message names the temporary file
                raise OutputError(f"--out: {str(exc).replace(str(temp), str(final))} (no output was replaced)") from exc
            for level in levels:
                geometry = result.polygons_lonlat(layer, altitude_m, level)
                features.append({
                    "type": "Feature",
                    "properties": {"scenario": result.scenario_name, "layer": layer, "altitude_m": float(altitude_m),
                                   "altitude_ref": result.altitude_ref, "probability_min": level,
                                   "members": len(result.members)},
                    "geometry": shapely.geometry.mapping(geometry),
                })
    outputs.write_text(folder / "levels.geojson", json.dumps({"type": "FeatureCollection", "features": features}))
    outputs.write_text(folder / "members.csv", csv_text(MEMBER_COLUMNS, result.member_rows()))
    if result.positions:
        outputs.write_text(folder / "samples.csv", csv_text(SAMPLE_COLUMNS, result.sample_rows()))
    rows = result.rows()
    parquet = _write_parquet(outputs, out.with_suffix(".parquet"), UNCERTAINTY_COLUMNS, rows)
    outputs.write_text(out, csv_text(UNCERTAINTY_COLUMNS, rows))
    return parquet
