"""``adcov validate FILE...`` and ``adcov schema``: check scenario files, print their schema.

Thin wrappers over :func:`simulator.scenario.load_scenario` and
:func:`simulator.scenario.scenario_json_schema`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from simulator.errors import Problem, ScenarioError

EXIT_OK = 0
EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="check scenario files and report every problem with file:line",
        description=(
            "Check scenario files (and the files they extend): schema, catalog systems, sources, "
            "dates, extends/withdraw/override/add, terrain files and that every unit lies on the "
            "terrain. Prints 'OK FILE (...)' per valid file; every problem of an invalid file on "
            "stderr, one per line (FILE:LINE: KEY.PATH: what is wrong, what is valid). "
            "Exit status 0 if all files are valid, else 2."
        ),
    )
    validate.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="scenario YAML files; a bundled scenario name (e.g. kurils-2020) also works",
    )
    validate.add_argument(
        "--no-terrain",
        dest="check_terrain",
        action="store_false",
        help="do not open the terrain rasters (skip the file and units-inside-terrain checks)",
    )
    validate.set_defaults(func=_validate)

    schema = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of scenario files (for editors)",
        description="Print the JSON Schema (draft 2020-12) of adcov scenario files, indented by 2.",
    )
    schema.set_defaults(func=_schema)


def _resolve_name(arg: str) -> str:
    """A path as given, or a bundled scenario's path when ``arg`` is only its name."""
    if os.path.exists(arg) or os.sep in arg or arg.endswith((".yaml", ".yml")):
        return arg
    from simulator.scenario import bundled_scenario

    try:
        return str(bundled_scenario(arg))
    except ScenarioError:
        return arg  # reported as "file not found" by the loader


def _validate(args: argparse.Namespace) -> int:
    from simulator.scenario import load_scenario

    status = EXIT_OK
    for arg in args.files:
        path = _resolve_name(arg)
        try:
            scenario = load_scenario(path, check_terrain=args.check_terrain)
        except ScenarioError as exc:
            status = EXIT_INVALID
            for problem in exc.problems:
                print(str(problem), file=sys.stderr)
            continue
        except RecursionError:  # pragma: no cover - guarded by the loader; never a traceback
            status = EXIT_INVALID
            print(str(Problem(path, None, "", "document nested too deeply")), file=sys.stderr)
            continue
        n = len(scenario.units)
        parts = [f"{n} unit{'s' if n != 1 else ''}"]
        if scenario.withdrawn_units:
            parts.append(f"{len(scenario.withdrawn_units)} withdrawn")
        terrain = ", ".join(p.name for p in scenario.terrain_paths)
        parts.append(f"terrain {terrain}" + ("" if args.check_terrain else " (not checked)"))
        print(f"OK {path} ({', '.join(parts)})")
    return status


def _schema(args: argparse.Namespace) -> int:
    from simulator.scenario import scenario_json_schema

    print(json.dumps(scenario_json_schema(), indent=2))
    return EXIT_OK
