"""Unit sites of a report: marker dicts for the maps, and GeoJSON points for KML."""

from __future__ import annotations


def _sites_of(coverage, status: str = "active") -> list[dict]:
    return [
        {
            "unit_id": uid,
            "system_name": env.figures.system_name,
            "lat_deg": env.figures.lat_deg,
            "lon_deg": env.figures.lon_deg,
            "antenna_height_m": env.figures.antenna_height_m,
            "status": status,
        }
        for uid, env in coverage.envelopes.items()
    ]


def comparison_sites(comparison) -> list[dict]:
    """Site markers of a comparison: baseline units (``withdrawn`` when gone in the variant),
    then the variant's added units; dicts for :func:`render_map_png`'s ``sites``."""
    withdrawn = set(comparison.withdrawn_units)
    added = set(comparison.added_units)
    sites = [dict(s, status="withdrawn" if s["unit_id"] in withdrawn else "active") for s in _sites_of(comparison.baseline)]
    known = {s["unit_id"] for s in sites}
    for s in _sites_of(comparison.variant):
        if s["unit_id"] in added or s["unit_id"] not in known:
            sites.append(dict(s, status="added"))
    return sites


def _site_features(sites) -> list[dict]:
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(s["lon_deg"], 6), round(s["lat_deg"], 6)]},
            "properties": {
                "kind": "site",
                "unit_id": s["unit_id"],
                "name": f"{s['unit_id']} ({s['system_name']}{', ' + s['status'] if s['status'] != 'active' else ''})",
                "system": s["system_name"],
                "status": s["status"],
                "antenna_height_m": s.get("antenna_height_m"),
            },
        }
        for s in sites
    ]
