"""Checks of the arguments the sweeps share, and small helpers common to them."""

from __future__ import annotations

from simulator.coverage import check_query
from simulator.errors import AdcovError


def _check_query(altitudes_m, altitude_ref: str, layers) -> tuple[tuple[float, ...], str, tuple[str, ...]]:
    altitudes, altitude_ref, layers = check_query(altitudes_m, altitude_ref, layers, unique=True)
    return tuple(altitudes), altitude_ref, tuple(layers)


def _check_unit_ids(scenario, unit_ids, what: str) -> list[str]:
    valid = list(scenario.unit_ids)
    ids = [unit_ids] if isinstance(unit_ids, str) else [str(u) for u in unit_ids]
    unknown = [u for u in ids if u not in valid]
    if unknown:
        raise AdcovError(
            f"{what}: unknown unit id(s) {', '.join(map(repr, unknown))} in scenario {scenario.name!r}; "
            f"valid: {', '.join(valid) or 'none (no active units)'}"
        )
    dupes = sorted({u for u in ids if ids.count(u) > 1})
    if dupes:
        raise AdcovError(f"{what}: unit id(s) {', '.join(dupes)} listed twice")
    if not ids:
        raise AdcovError(f"{what}: expected at least one unit id; valid: {', '.join(valid)}")
    return ids




def _catalog_or_default(catalog):
    if catalog is not None:
        return catalog
    from simulator.catalog import load_catalog

    return load_catalog()
