"""Loading and resolving scenario files: the ``extends`` chain, catalog systems, terrain.

:func:`load_scenario` reads a file and the chain it ``extends`` (each file read with its lines
by :mod:`simulator.located_yaml`), validates each against :mod:`~simulator.scenario.schema`,
resolves its units (:mod:`~simulator.scenario.units`), checks the terrain, and builds the
:class:`~simulator.scenario.model.Scenario`. Every problem found along the way is collected
and raised as one :class:`~simulator.errors.ScenarioError`.

The rules it follows (paths, the ``extends`` chain, ``withdraw``/``override``/``add``, ``x-``
keys) are stated once, in the :mod:`simulator.scenario` package docstring.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.errors import AdcovError, Problem, ScenarioError, TerrainError
from simulator.located_yaml import LocatedDoc, first_line, format_key_path, parse_document, read_text
from simulator.scenario.model import Scenario
from simulator.scenario.problems import _got, _validation_problems
from simulator.scenario.schema import DEFAULT_K_FACTOR, SCHEMA_VERSION, ScenarioFile, SourceEntry
from simulator.scenario.units import _UnitResolver, _UnitState

_MAX_EXTENDS_DEPTH = 32
#: What an empty file should have held.
_EXPECTED_TOP = "a mapping that starts with 'schema_version: 1'"


def _catalog():
    from simulator.catalog import load_catalog

    return load_catalog()


@dataclass
class _Resolved:
    """State after applying one file of the chain (possibly partial if it had problems)."""

    path: Path
    display: str
    doc: LocatedDoc
    model_name: str | None = None
    name: str = ""
    title: str = ""
    description: str = ""
    as_of: _dt.date | None = None
    terrain_paths: tuple[Path, ...] = ()
    terrain_declared: tuple[str, int | None, str] | None = None  # display, line, key path
    void_policy: str = "fill"
    area: tuple[float, float, float, float] | None = None
    resolution_m: float | str | None = None
    outside_terrain: str = "error"
    k_factor: float = DEFAULT_K_FACTOR
    antenna_height_m: float | None = None
    sources: dict[str, dict] = field(default_factory=dict)
    units: dict[str, _UnitState] = field(default_factory=dict)
    withdrawn: dict[str, _UnitState] = field(default_factory=dict)
    extends: Path | None = None
    complete: bool = True
    terrain_mentioned: bool = False  # some file of the chain has a 'terrain' key (valid or not)


#: The validated value of a top-level key of the file being resolved (see :func:`_part`).
_Part = Callable[[str], Any]


class _Report:
    """Every problem found while loading a chain, and the catalog it is checked against."""

    def __init__(self):
        self.problems: list[Problem] = []
        self._catalog = None
        self.catalog_error: str | None = None

    @property
    def catalog(self):
        """The catalog, loaded once; None if it cannot be loaded (:attr:`catalog_error` says why)."""
        if self._catalog is None and self.catalog_error is None:
            try:
                self._catalog = _catalog()
            except AdcovError as exc:
                self.catalog_error = str(exc)
        return self._catalog

    def add(self, doc_or_display: LocatedDoc | str, line: int | None, path: tuple | str, message: str) -> None:
        display = doc_or_display.display if isinstance(doc_or_display, LocatedDoc) else doc_or_display
        key = path if isinstance(path, str) else format_key_path(path)
        self.problems.append(Problem(display, line, key, message))

    def known_source_ids(self, scenario_sources: Mapping[str, Any]) -> set[str]:
        ids = set(scenario_sources)
        cat = self.catalog
        if cat is not None:
            ids.update(getattr(cat, "sources", {}) or {})
        return ids


# --------------------------------------------------------------------------- the chain, file by file


class _Loader:
    """Resolves a scenario file and the chain it ``extends``, collecting every problem."""

    def __init__(self, *, check_terrain: bool):
        self.check_terrain = check_terrain
        self.report = _Report()
        self.problems = self.report.problems
        self.add = self.report.add

    # -- one file --------------------------------------------------------------------------
    def resolve(self, path: Path, display: str, stack: tuple[Path, ...]) -> _Resolved | None:
        """One file applied over the chain it extends (resolved first); None if unreadable.

        ``display`` is the path problems name; ``stack`` the files that extend this one.
        """
        doc = self._read(path, display, stack)
        if doc is None:
            return None
        try:
            real = Path(os.path.abspath(path))
        except (OSError, ValueError):
            real = path

        # Top-level keys starting with 'x-' are ignored: a place for YAML anchors (&base).
        data = {k: v for k, v in doc.data.items() if not k.startswith("x-")}
        model: ScenarioFile | None
        try:
            model = ScenarioFile.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(_validation_problems(exc, doc))
            model = None
        complete = model is not None
        part = functools.partial(_part, model, data)

        res = _Resolved(path=real, display=display, doc=doc)
        extends = part("extends") if isinstance(data.get("extends"), str) else None
        parent: _Resolved | None = None
        if extends is not None:
            parent, parent_complete = self._extends(doc, res, extends, stack)
            complete = complete and parent_complete
        elif "extends" in data and data.get("extends") is not None and model is None:
            complete = False
        if parent is not None:
            _inherit(res, parent)

        self._settings(doc, data, part, res, parent)
        self._unit_lists(doc, data, res, extends=extends, complete=complete)
        res.complete = complete and not any(p.file == display for p in self.problems)
        return res

    def _read(self, path: Path, display: str, stack: tuple[Path, ...]) -> LocatedDoc | None:
        """The parsed file, a mapping; None (with its problems recorded) if it is not usable."""
        text = read_text(path, display, self.problems)
        if text is None:
            return None
        parse_problems: list[Problem] = []
        doc = parse_document(text, display, parse_problems, kind="scenario", expected=_EXPECTED_TOP)
        data = doc.data if doc is not None else None
        looks_like_scenario = (isinstance(data, dict) and "schema_version" in data) or (
            doc is None and re.search(r"^schema_version\s*:", text, re.MULTILINE) is not None)  # its syntax errors help
        if stack and not looks_like_scenario:
            # a file named by `extends` that is not a scenario: say so, and show none of it
            self.problems.append(Problem(display, None, "", "not an adcov scenario (no 'schema_version' at its top "
                                                            "level); extends names scenario files only, and the "
                                                            "content of other files is not shown"))
            return None
        self.problems.extend(parse_problems)
        if doc is None:
            return None
        if not isinstance(data, dict):
            self.add(doc, doc.line(()), "", f"expected a mapping (key: value) at the top level, got {_got(data)}; "
                     "a scenario starts with 'schema_version: 1'")
            return None
        return doc

    def _extends(self, doc: LocatedDoc, res: _Resolved, extends: str,
                 stack: tuple[Path, ...]) -> tuple[_Resolved | None, bool]:
        """The file ``extends`` names, resolved; and whether it (and its chain) is complete."""
        real, display = res.path, res.display
        line = doc.line(("extends",))
        parent_real = (real.parent / extends) if not os.path.isabs(extends) else Path(extends)
        parent_display = os.path.normpath(os.path.join(os.path.dirname(display), extends))
        try:
            parent_real = Path(os.path.abspath(parent_real))
            exists = parent_real.is_file()
            special = not exists and parent_real.exists()
        except (OSError, ValueError):
            exists = special = False
        chain = stack + (real,)
        parent: _Resolved | None = None
        complete = True
        if parent_real in chain:
            names = [p.name for p in chain[chain.index(parent_real):]] + [parent_real.name]
            self.add(doc, line, "extends", "extends cycle: " + " → ".join(names))
            complete = False
        elif len(chain) > _MAX_EXTENDS_DEPTH:
            self.add(doc, line, "extends", f"extends chain longer than {_MAX_EXTENDS_DEPTH} files")
            complete = False
        elif special:
            self.add(doc, line, "extends", f"extends names {parent_real}, which is not a regular file "
                                           "(a folder, FIFO or device); expected a .yaml scenario file")
            complete = False
        elif not exists:
            self.add(doc, line, "extends", f"extends file not found: {parent_real}")
            complete = False
        elif parent_real.suffix.lower() not in (".yaml", ".yml"):
            self.add(doc, line, "extends", f"extends names {parent_real.name}, not a scenario file "
                                           "(expected a .yaml or .yml adcov scenario)")
            complete = False
        else:
            parent = self.resolve(parent_real, parent_display, chain)
            if parent is None or not parent.complete:
                complete = False
        res.extends = parent_real
        return parent, complete

    def _settings(self, doc: LocatedDoc, data: dict, part: _Part, res: _Resolved, parent: _Resolved | None) -> None:
        """This file's names, date, terrain, area, analysis settings and sources."""
        stem = Path(res.display).stem if res.display else res.path.stem
        name = part("name")
        title = part("title")
        description = part("description")
        res.name = name if name else stem
        res.title = title if title else res.name
        res.description = description or ""
        as_of = part("as_of")
        if as_of is not None:
            res.as_of = as_of

        _resolve_terrain(self.report, doc, data, part, res, parent, check_terrain=self.check_terrain)
        _resolve_area(self.report, doc, part, res)

        resolution = part("resolution_m")
        if resolution is not None:
            res.resolution_m = resolution if resolution == "native" else float(resolution)
        outside = part("outside_terrain")
        if outside is not None:
            res.outside_terrain = outside
        k = part("k_factor")
        if k is not None:
            res.k_factor = float(k)
        assumptions = part("assumptions")
        if assumptions is not None and assumptions.antenna_height_m is not None:
            res.antenna_height_m = float(assumptions.antenna_height_m)
        _resolve_sources(data, part, res)

    def _unit_lists(self, doc: LocatedDoc, data: dict, res: _Resolved, *, extends: str | None,
                    complete: bool) -> None:
        """``units`` of a file on its own; ``withdraw``, ``override`` then ``add`` of one that extends."""
        units = _UnitResolver(self.report)
        if extends is None and "extends" not in data:
            for key in ("withdraw", "add", "override"):
                if key in data:
                    self.add(doc, doc.line((key,)), key,
                             f"'{key}' needs 'extends' (the scenario whose units it changes); "
                             "list this file's units under 'units'")
            units.place(doc, res, "units")
        else:
            if "units" in data:
                self.add(doc, doc.line(("units",)), "units",
                         "a file that extends another lists new units under 'add' "
                         "(and changes inherited ones with 'withdraw' or 'override'), not 'units'")
            units.withdraw(doc, res, parent_complete=complete)
            units.override(doc, res, parent_complete=complete)
            units.place(doc, res, "add")

    # -- whole chain -------------------------------------------------------------------------
    def finish(self, res: _Resolved) -> Scenario | None:
        """The scenario of a resolved chain, after the checks that need all of it."""
        if not res.terrain_paths and not res.terrain_mentioned:
            self.add(res.doc, res.doc.line(()), "terrain",
                     "missing required key; expected a raster path, a list of paths, or "
                     "{paths: [...], void_policy: fill|sea|error} (here or in the file it extends)")
        elif self.check_terrain and res.units and all(_file_or_folder(p) for p in res.terrain_paths):
            _check_inside_terrain(self.report, res)
        return _scenario(res)


def _part(model: ScenarioFile | None, data: dict, key: str) -> Any:
    """The validated value of a top-level key, even if other keys are invalid."""
    if model is not None:
        return getattr(model, key)
    raw = data.get(key)
    if raw is None:
        return None
    try:
        return ScenarioFile.model_validate({"schema_version": SCHEMA_VERSION, key: raw}).__getattribute__(key)
    except ValidationError:
        return None


def _inherit(res: _Resolved, parent: _Resolved) -> None:
    """Start ``res`` from what its parent resolved (names, title and description are not inherited)."""
    res.as_of = parent.as_of
    res.terrain_mentioned = parent.terrain_mentioned
    res.terrain_paths, res.terrain_declared = parent.terrain_paths, parent.terrain_declared
    res.void_policy, res.area = parent.void_policy, parent.area
    res.resolution_m, res.outside_terrain = parent.resolution_m, parent.outside_terrain
    res.k_factor, res.antenna_height_m = parent.k_factor, parent.antenna_height_m
    res.sources = dict(parent.sources)
    res.units = dict(parent.units)
    res.withdrawn = dict(parent.withdrawn)


def _resolve_sources(data: dict, part: _Part, res: _Resolved) -> None:
    """This file's ``sources`` entries, added to the inherited ones."""
    sources = part("sources")
    if sources is not None:
        for sid, entry in sources.items():
            res.sources[sid] = {k: v for k, v in entry.model_dump().items() if v is not None}
    elif isinstance(data.get("sources"), dict):
        # keep the ids of the entries that validate, so units citing them are not flagged twice
        for sid, raw_entry in data["sources"].items():
            try:
                entry = SourceEntry.model_validate(raw_entry)
            except ValidationError:
                res.sources[sid] = {}
                continue
            res.sources[sid] = {k: v for k, v in entry.model_dump().items() if v is not None}


def _scenario(res: _Resolved) -> Scenario:
    return Scenario(
        path=res.path,
        name=res.name,
        title=res.title,
        description=res.description,
        terrain_paths=res.terrain_paths,
        void_policy=res.void_policy,
        area_bounds_deg=res.area,
        k_factor=res.k_factor,
        default_antenna_height_m=res.antenna_height_m,
        units=tuple(s.spec for s in res.units.values()),
        withdrawn_units=tuple(s.spec for s in res.withdrawn.values()),
        extends=res.extends,
        as_of=res.as_of,
        sources=types.MappingProxyType({k: types.MappingProxyType(dict(v)) for k, v in res.sources.items()}),
        resolution_m=res.resolution_m,
        outside_terrain=res.outside_terrain,
        grid_units=tuple(s.spec for s in res.units.values()) + tuple(s.spec for s in res.withdrawn.values()),
    )


# --------------------------------------------------------------------------- terrain and area


def _resolve_terrain(report: _Report, doc: LocatedDoc, data: dict, part: _Part, res: _Resolved,
                     parent: _Resolved | None, *, check_terrain: bool) -> None:
    """This file's ``terrain``: paths relative to the file, and (``check_terrain``) the files checked."""
    terrain = part("terrain")
    if "terrain" in data or ("extends" in data and parent is None):
        res.terrain_mentioned = True  # invalid or unknown: reported elsewhere, not as missing
    if terrain is not None:
        res.terrain_paths = tuple(Path(os.path.abspath(res.path.parent / p)) for p in terrain.paths)
        res.void_policy = terrain.void_policy
        res.terrain_declared = (res.display, doc.line(("terrain",)), "terrain")
        if check_terrain:
            _check_terrain_files(report, doc, data.get("terrain"), res.terrain_paths, tuple(terrain.paths))


def _resolve_area(report: _Report, doc: LocatedDoc, part: _Part, res: _Resolved) -> None:
    """This file's ``area``, kept only if its edges are in order."""
    area = part("area")
    if area is None:
        return
    ok = True
    if area.west_deg >= area.east_deg:
        report.add(doc, doc.line(("area",)), "area",
                   f"expected west_deg < east_deg, got west_deg {_got(area.west_deg)} ≥ east_deg {_got(area.east_deg)}")
        ok = False
    if area.south_deg >= area.north_deg:
        report.add(doc, doc.line(("area",)), "area",
                   f"expected south_deg < north_deg, got south_deg {_got(area.south_deg)} ≥ north_deg {_got(area.north_deg)}")
        ok = False
    if ok:
        res.area = (area.west_deg, area.south_deg, area.east_deg, area.north_deg)


def _check_terrain_files(report: _Report, doc: LocatedDoc, raw: Any, paths: tuple[Path, ...],
                         written: tuple = ()) -> None:
    """Each terrain file local, present and a readable raster; problems at the path as written."""
    from simulator.terrain_safety import check_terrain_file, remote_reason

    for i, p in enumerate(paths):
        if isinstance(raw, str):
            kp: tuple = ("terrain",)
        elif isinstance(raw, list):
            kp = ("terrain", i)
        else:
            kp = ("terrain", "paths", i) if isinstance(raw, dict) and isinstance(raw.get("paths"), list) else ("terrain", "paths")
        as_written = str(written[i]) if i < len(written) else str(p)
        reason = remote_reason(as_written)
        if reason:
            report.add(doc, doc.line(kp), kp, f"terrain {as_written!r} is {reason}: adcov reads local raster files "
                                               "only and never the network")
        elif not _exists(p):
            report.add(doc, doc.line(kp), kp, f"terrain file not found: {p}")
        elif not p.is_dir():
            try:
                check_terrain_file(p)  # regular raster files only; a VRT's sources too
            except TerrainError as exc:
                report.add(doc, doc.line(kp), kp, str(exc))


def _check_inside_terrain(report: _Report, res: _Resolved) -> None:
    """Every present unit on the terrain (read for its bounds only); problems at each unit."""
    import numpy as np

    from simulator.dem import open_dem

    display, line, key_path = res.terrain_declared or (res.display, None, "terrain")
    paths = [str(p) for p in res.terrain_paths]
    try:
        # metadata only: windows are read when envelopes are computed
        terrain = open_dem(paths if len(paths) > 1 else paths[0], void_policy=res.void_policy,
                           outside_terrain="sea" if res.outside_terrain == "sea" else "error")
    except Exception as exc:  # noqa: BLE001 - a bad raster is bad input, whatever rasterio raises
        report.add(display, line, key_path, f"cannot open terrain: {first_line(exc)}")
        return
    states = list(res.units.values())
    lat = np.array([st.spec.lat_deg for st in states], dtype=float)
    lon = np.array([st.spec.lon_deg for st in states], dtype=float)
    inside = np.asarray(terrain.contains(lat, lon), dtype=bool).reshape(-1)
    w, s, e, n = (float(v) for v in terrain.bounds_deg)
    names = ", ".join(p.name for p in res.terrain_paths)
    for state, ok in zip(states, inside, strict=True):
        if not ok:
            u = state.spec
            report.add(state.display, state.line, state.key_path,
                       f"unit {u.id!r} at lat_deg {u.lat_deg:g}, lon_deg {u.lon_deg:g} lies outside the "
                       f"terrain ({names}: west_deg {w:.4f}, south_deg {s:.4f}, east_deg {e:.4f}, "
                       f"north_deg {n:.4f})")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _file_or_folder(path: Path) -> bool:
    """A regular file or a directory (not a device, FIFO or socket that could block a read)."""
    try:
        return path.is_file() or path.is_dir()
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------- loading


def _sorted_problems(problems: list[Problem]) -> list[Problem]:
    order: dict[str, int] = {}
    for p in problems:
        order.setdefault(p.file, len(order))
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (order[p.file], p.line if p.line is not None else -1))


def load_scenario(path: str | os.PathLike, *, check_terrain: bool = True) -> Scenario:
    """Load, validate and resolve a scenario file (and the chain it ``extends``).

    Parameters
    ----------
    path
        The scenario file; problems name it as given.
    check_terrain
        Also check that the terrain files exist and every unit lies inside them (opens the
        rasters). Off, terrain paths are resolved but not touched.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With every problem found, each with file, line, key path, what is wrong and what is
        valid.
    """
    try:
        display = os.fspath(path)
    except TypeError:
        raise ScenarioError(f"expected a path to a scenario file, got {path!r}") from None
    if isinstance(display, bytes):
        display = os.fsdecode(display)
    loader = _Loader(check_terrain=check_terrain)
    res = loader.resolve(Path(display), display, ())
    scenario = loader.finish(res) if res is not None else None
    if loader.problems or scenario is None:
        raise ScenarioError(_sorted_problems(loader.problems) or [Problem(display, None, "", "cannot load scenario")])
    return scenario


def validate_scenario_files(paths: Iterable[str | os.PathLike], *, check_terrain: bool = True) -> list[Problem]:
    """Every problem in these files (empty list: all valid)."""
    problems: list[Problem] = []
    for p in paths:
        try:
            load_scenario(p, check_terrain=check_terrain)
        except ScenarioError as exc:
            problems.extend(exc.problems)
        except AdcovError as exc:
            problems.append(Problem(os.fspath(p), None, "", str(exc)))
    return problems


# --------------------------------------------------------------------------- bundled scenarios


def bundled_scenarios_dir() -> Path:
    """Directory of the bundled scenarios: ``<repo>/scenarios`` or the installed copy."""
    here = Path(__file__).resolve().parents[1]  # simulator/
    candidates = (here.parent / "scenarios", here / "_bundled_scenarios")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def bundled_scenario(name: str) -> Path:
    """Path of a bundled scenario by name (``'kurils-2020'``); unknown names list the valid ones."""
    directory = bundled_scenarios_dir()
    names = sorted(p.stem for p in directory.glob("*.yaml"))
    stem = name[:-5] if name.endswith(".yaml") else name
    if stem in names:
        return directory / f"{stem}.yaml"
    close = difflib.get_close_matches(stem, names, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ScenarioError(
        Problem(str(directory), None, "", f"no bundled scenario {name!r}{hint} (bundled: {', '.join(names) or 'none'})")
    )
