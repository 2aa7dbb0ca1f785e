"""adcov simulator core: catalog, scenarios, terrain, line of sight, coverage.

Nothing below this package imports Qt, pyqtgraph or the GUI (enforced by import-linter
and ``tests/test_architecture.py``).
"""

__version__ = "0.1.0"

#: The front door, imported on first use (``import simulator`` stays cheap: no numba, no GDAL):
#: ``load_scenario`` (a file, every unit), ``load_scenario_as_of`` (the date rule),
#: ``run_scenario`` (``adcov run`` as a call), ``compare_scenarios`` (``adcov compare``: named so
#: because ``simulator.compare`` is the module), ``viewshed`` (``adcov viewshed``) and the error
#: root ``AdcovError``; and each command as one call that also writes its outputs:
#: ``run_scenario(..., out=)``, ``run_comparison``, ``run_sweep``, ``run_viewshed``.
_FACADE = {
    "AdcovError": "simulator.errors",
    "load_scenario": "simulator.scenario",
    "load_scenario_as_of": "simulator.api",
    "run_scenario": "simulator.api",
    "RunResult": "simulator.api",
    "compare_scenarios": "simulator.api",
    "run_comparison": "simulator.api",
    "ComparisonRun": "simulator.api",
    "run_sweep": "simulator.api",
    "SweepRun": "simulator.api",
    "viewshed": "simulator.api",
    "run_viewshed": "simulator.api",
}

__all__ = ["__version__", *_FACADE]


def __getattr__(name: str):
    module = _FACADE.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FACADE))
