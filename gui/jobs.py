"""What the window runs in its worker thread, and what its exports write: no Qt.

The loaders and builders take the worker's ``progress`` callback and cancel token (see
:class:`gui.worker.Task`); the exports describe the view of a :class:`~gui.state.ViewState`
through :mod:`simulator.export`. The window only asks for a file name, starts the job and
reports the outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

from gui import model
from simulator import export as _export
from simulator.export.tables import json_default
from simulator.fileio import write_bytes_atomically

# ------------------------------------------------------------------------------ worker jobs


def load(path, *, cache, progress, cancel, resolution_m=None):
    """A scenario's session, with its terrain picture, coastline and surrounding terrain."""
    session = model.load_session(path, cache=cache, progress=progress, cancel=cancel, resolution_m=resolution_m)
    grid = session.coverage.grid
    rgb = model.terrain_rgb(grid.elevation_m, grid.cell_size_m)
    coast = model.coastline(grid.elevation_m)
    progress(0.97, "terrain around the analysis area")
    context = model.context_picture(grid)
    return session, rgb, coast, context


def load_comparison(path, reference, *, cache, progress, cancel):
    return model.load_comparison(path, reference, cache=cache, progress=progress, cancel=cancel)


def build_edit(session, unit_id, fields, *, cache, progress, cancel):
    """(unit id, fields, envelope) of one edited unit (stored by the GUI thread afterwards)."""
    progress(0.0, f"line of sight: {unit_id} (edited)")
    env = session.build_edited_envelope(unit_id, fields, cache=cache)
    progress(1.0, "envelope ready")
    return unit_id, dict(fields), env


def render_png(path, kwargs, *, progress, cancel):
    progress(0.1, "drawing the map")
    out = _export.render_map_png(path, **kwargs)
    progress(1.0, "map written")
    return out


# ------------------------------------------------------------------------------ exports


def export_subject(session, state):
    """(coverage, comparison or None) the exports describe: the view's."""
    if state.view == "difference":
        comparison, _ = model.difference_masks(session, state)
        return comparison.baseline, comparison
    return session.current_coverage(state), None


def map_png_arguments(state, coverage, comparison, title: str | None) -> dict:
    """Keyword arguments of ``simulator.export.render_map_png`` for the view."""
    kwargs = {"coverage": coverage, "layer": state.layer, "altitude_m": state.altitude_m,
              "altitude_ref": state.altitude_ref, "title": title}
    if comparison is not None:
        change = comparison.change(state.layer, state.altitude_m)
        kwargs.update(baseline_mask=change.baseline_cells, variant_mask=change.variant_cells,
                      names=(comparison.baseline_name, comparison.variant_name))
    return kwargs


def write_geojson(session, state, path) -> None:
    """The view's areas (or lost / kept / gained areas) as GeoJSON, written atomically."""
    coverage, comparison = export_subject(session, state)
    if comparison is not None:
        collection = _export.comparison_geojson(comparison)
    else:
        collection = _export.coverage_geojson(coverage, state.layer, [state.altitude_m], state.altitude_ref)
    write_bytes_atomically(Path(path), json.dumps(collection, default=json_default).encode("utf-8"))


def write_kml(session, state, path, name: str) -> None:
    """The view's areas as KML (KMZ when ``path`` ends in .kmz), with the assumptions."""
    coverage, comparison = export_subject(session, state)
    if comparison is not None:
        subject, features = comparison, _export.comparison_features(comparison, state.layer, state.altitude_m)
    else:
        subject, features = coverage, _export.coverage_features(coverage, state.layer, state.altitude_m, state.altitude_ref,
                                                                scenario=session.scenario.name)
    folder = (state.layer.capitalize(), f"{state.altitude_m:g} m {state.altitude_ref.upper()}")
    assumptions = _export.assumptions_text(subject.baseline if hasattr(subject, "baseline") else subject)
    _export.write_kml(path, [(folder, features)], kmz=str(path).lower().endswith(".kmz"), name=name, description=assumptions)


